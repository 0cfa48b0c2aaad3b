//! `cjson` as Redis ships it (lua-cjson 2.1 with Redis's defaults): numbers as `%.14g`, an
//! empty table encodes as `{}`, arrays must be dense enough (more than half used, or at most
//! 10 slots), `cjson.null` is a NULL light userdata, `/` is escaped, nesting stops at 1000.
//!
//! Errors are returned as text; the Lua wrapper raises them at the caller's line.

use mlua::{LightUserData, Lua, Result, Table, Value};

use super::reply::fmt_g;

/// lua-cjson's settings (`cjson.encode_max_depth(n)` and friends), global to the
/// interpreter as in Redis.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub encode_max_depth: usize,
    pub decode_max_depth: usize,
    pub encode_invalid_numbers: bool,
    pub decode_invalid_numbers: bool,
    pub precision: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: false,
            decode_invalid_numbers: true,
            precision: 14,
        }
    }
}

fn config(lua: &Lua) -> Config {
    lua.app_data_ref::<super::engine::RunState>()
        .map(|s| s.cjson)
        .unwrap_or_default()
}

/// `cjson.<setting>([value])`: set when given, return the value in force.
pub fn configure(lua: &Lua, (name, v): (String, Value)) -> Result<(Value, Option<String>)> {
    let Some(mut st) = lua.app_data_mut::<super::engine::RunState>() else {
        return Ok((Value::Nil, None));
    };
    let c = &mut st.cjson;
    let num = super::reply::lua_number(&v);
    let flag = match &v {
        Value::Boolean(b) => Some(*b),
        Value::String(s) => Some(matches!(&s.as_bytes()[..], b"on" | b"null")),
        _ => None,
    };
    let out = match name.as_str() {
        "encode_max_depth" | "decode_max_depth" => {
            let slot = if name.starts_with("encode") {
                &mut c.encode_max_depth
            } else {
                &mut c.decode_max_depth
            };
            if let Some(n) = num {
                if n < 1.0 || n > i32::MAX as f64 {
                    return Ok((Value::Nil, Some(format!("bad argument #1 to '{name}' (expected integer between 1 and 2147483647)"))));
                }
                *slot = n as usize;
            }
            Value::Number(*slot as f64)
        }
        "encode_number_precision" => {
            if let Some(n) = num {
                if !(1.0..=14.0).contains(&n) {
                    return Ok((Value::Nil, Some("bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)".into())));
                }
                c.precision = n as usize;
            }
            Value::Number(c.precision as f64)
        }
        _ => {
            let slot = if name.starts_with("encode") {
                &mut c.encode_invalid_numbers
            } else {
                &mut c.decode_invalid_numbers
            };
            if let Some(b) = flag {
                *slot = b;
            }
            Value::Boolean(*slot)
        }
    };
    Ok((out, None))
}

pub fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub fn encode(lua: &Lua, v: Value) -> Result<(Value, Option<String>)> {
    let mut out = Vec::with_capacity(64);
    match enc(&v, &mut out, 0, &config(lua)) {
        Ok(()) => Ok((Value::String(lua.create_string(&out)?), None)),
        Err(e) => Ok((Value::Nil, Some(e))),
    }
}

fn enc_number(n: f64, out: &mut Vec<u8>, cfg: &Config) -> std::result::Result<(), String> {
    if !n.is_finite() && !cfg.encode_invalid_numbers {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
    }
    out.extend_from_slice(fmt_g(n, cfg.precision).as_bytes());
    Ok(())
}

fn enc_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// The length of `t` as an array, or None if it must be an object (lua-cjson's
/// lua_array_length with Redis's defaults: ratio 2, safe 10, no conversion).
fn array_len(t: &Table) -> std::result::Result<Option<usize>, String> {
    let mut max = 0usize;
    let mut items = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let Ok((k, _)) = pair else { return Ok(None) };
        let n = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(f) if f >= 1.0 && f.fract() == 0.0 => f as usize,
            _ => return Ok(None),
        };
        max = max.max(n);
        items += 1;
    }
    if max > 10 && max > items * 2 {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(Some(max))
}

fn enc(
    v: &Value,
    out: &mut Vec<u8>,
    depth: usize,
    cfg: &Config,
) -> std::result::Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => enc_number(*i as f64, out, cfg)?,
        Value::Number(n) => enc_number(*n, out, cfg)?,
        Value::String(s) => enc_string(&s.as_bytes(), out),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > cfg.encode_max_depth {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_len(t)? {
                Some(n) if n > 0 => {
                    out.push(b'[');
                    for i in 1..=n {
                        if i > 1 {
                            out.push(b',');
                        }
                        let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                        enc(&v, out, depth, cfg)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, v) = pair.map_err(|e| e.to_string())?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => enc_string(&s.as_bytes(), out),
                            Value::Integer(_) | Value::Number(_) => {
                                out.push(b'"');
                                enc_number(super::reply::lua_number(&k).unwrap_or(0.0), out, cfg)?;
                                out.push(b'"');
                            }
                            other => {
                                return Err(format!(
                                    "Cannot serialise {}: table key must be a number or string",
                                    other.type_name()
                                ))
                            }
                        }
                        out.push(b':');
                        enc(&v, out, depth, cfg)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

struct Dec<'a> {
    s: &'a [u8],
    i: usize,
    max_depth: usize,
}

#[derive(PartialEq, Clone, Copy)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Comma,
    Colon,
    Str,
    Num,
    Bool,
    Null,
    End,
    Invalid,
}

fn tok_name(t: Tok) -> &'static str {
    match t {
        Tok::ObjBegin => "T_OBJ_BEGIN",
        Tok::ObjEnd => "T_OBJ_END",
        Tok::ArrBegin => "T_ARR_BEGIN",
        Tok::ArrEnd => "T_ARR_END",
        Tok::Comma => "T_COMMA",
        Tok::Colon => "T_COLON",
        Tok::Str => "T_STRING",
        Tok::Num => "T_NUMBER",
        Tok::Bool => "T_BOOLEAN",
        Tok::Null => "T_NULL",
        Tok::End => "T_END",
        Tok::Invalid => "invalid token",
    }
}

type DResult<T> = std::result::Result<T, String>;

impl Dec<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek_tok(&mut self) -> Tok {
        self.skip_ws();
        match self.s.get(self.i) {
            None => Tok::End,
            Some(b'{') => Tok::ObjBegin,
            Some(b'}') => Tok::ObjEnd,
            Some(b'[') => Tok::ArrBegin,
            Some(b']') => Tok::ArrEnd,
            Some(b',') => Tok::Comma,
            Some(b':') => Tok::Colon,
            Some(b'"') => Tok::Str,
            Some(b'-' | b'0'..=b'9') => Tok::Num,
            Some(b't' | b'f') => Tok::Bool,
            Some(b'n') => Tok::Null,
            _ => Tok::Invalid,
        }
    }

    fn expected(&self, what: &str, found: Tok) -> String {
        format!(
            "Expected {what} but found {} at character {}",
            tok_name(found),
            self.i + 1
        )
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> DResult<Value> {
        let t = self.peek_tok();
        let start = self.i;
        match t {
            Tok::ObjBegin | Tok::ArrBegin => {
                let depth = depth + 1;
                if depth > self.max_depth {
                    return Err(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        self.i + 1
                    ));
                }
                self.i += 1;
                let table = lua.create_table().map_err(|e| e.to_string())?;
                if t == Tok::ArrBegin {
                    if self.peek_tok() == Tok::ArrEnd {
                        self.i += 1;
                        return Ok(Value::Table(table));
                    }
                    let mut n = 1;
                    loop {
                        let v = self.value(lua, depth)?;
                        table.raw_set(n, v).map_err(|e| e.to_string())?;
                        n += 1;
                        match self.peek_tok() {
                            Tok::Comma => self.i += 1,
                            Tok::ArrEnd => {
                                self.i += 1;
                                return Ok(Value::Table(table));
                            }
                            other => return Err(self.expected("comma or array end", other)),
                        }
                    }
                }
                if self.peek_tok() == Tok::ObjEnd {
                    self.i += 1;
                    return Ok(Value::Table(table));
                }
                loop {
                    let kt = self.peek_tok();
                    if kt != Tok::Str {
                        return Err(self.expected("object key string", kt));
                    }
                    let k = self.string(lua)?;
                    let ct = self.peek_tok();
                    if ct != Tok::Colon {
                        return Err(self.expected("colon", ct));
                    }
                    self.i += 1;
                    let v = self.value(lua, depth)?;
                    table.raw_set(k, v).map_err(|e| e.to_string())?;
                    match self.peek_tok() {
                        Tok::Comma => self.i += 1,
                        Tok::ObjEnd => {
                            self.i += 1;
                            return Ok(Value::Table(table));
                        }
                        other => return Err(self.expected("comma or object end", other)),
                    }
                }
            }
            Tok::Str => self.string(lua),
            Tok::Num => {
                let mut j = self.i;
                while j < self.s.len()
                    && matches!(self.s[j], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    j += 1;
                }
                let txt = std::str::from_utf8(&self.s[self.i..j]).unwrap_or("");
                match txt.parse::<f64>() {
                    Ok(n) => {
                        self.i = j;
                        Ok(Value::Number(n))
                    }
                    Err(_) => Err(format!(
                        "Expected value but found invalid number at character {}",
                        self.i + 1
                    )),
                }
            }
            Tok::Bool | Tok::Null => {
                let rest = &self.s[self.i..];
                for (word, v) in [
                    (&b"true"[..], Value::Boolean(true)),
                    (b"false", Value::Boolean(false)),
                    (b"null", null()),
                ] {
                    if rest.starts_with(word) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                self.i = start;
                Err(self.expected("value", Tok::Invalid))
            }
            other => Err(self.expected("value", other)),
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn string(&mut self, lua: &Lua) -> DResult<Value> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err(format!(
                    "Expected value but found unexpected end of string at character {}",
                    self.s.len() + 1
                ));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(format!(
                            "Expected value but found invalid escape code at character {}",
                            start + 1
                        ));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let bad = || {
                                format!("Expected value but found invalid unicode escape code at character {}", start + 1)
                            };
                            let mut cp = self.hex4(self.i).ok_or_else(bad)?;
                            self.i += 4;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(bad());
                                }
                                let lo = self.hex4(self.i + 2).ok_or_else(bad)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(bad());
                                }
                                self.i += 6;
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            } else if (0xDC00..0xE000).contains(&cp) {
                                return Err(bad());
                            }
                            let ch = char::from_u32(cp).ok_or_else(bad)?;
                            let mut b = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                        }
                        _ => {
                            return Err(format!(
                                "Expected value but found invalid escape code at character {}",
                                start + 1
                            ))
                        }
                    }
                }
                c => out.push(c),
            }
        }
        Ok(Value::String(
            lua.create_string(&out).map_err(|e| e.to_string())?,
        ))
    }
}

pub fn decode(lua: &Lua, v: Value) -> Result<(Value, Option<String>)> {
    let s = match &v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Integer(_) | Value::Number(_) => {
            super::reply::fmt_g(super::reply::lua_number(&v).unwrap_or(0.0), 14).into_bytes()
        }
        other => {
            return Ok((
                Value::Nil,
                Some(format!(
                    "bad argument #1 to 'decode' (string expected, got {})",
                    other.type_name()
                )),
            ))
        }
    };
    let mut d = Dec {
        s: &s,
        i: 0,
        max_depth: config(lua).decode_max_depth,
    };
    let r = d.value(lua, 0).and_then(|v| {
        let t = d.peek_tok();
        if t != Tok::End {
            return Err(d.expected("the end", t));
        }
        Ok(v)
    });
    match r {
        Ok(v) => Ok((v, None)),
        Err(e) => Ok((Value::Nil, Some(e))),
    }
}
