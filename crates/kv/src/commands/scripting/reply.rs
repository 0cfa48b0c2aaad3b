//! Replies between the server and Lua, as Redis 7.0 converts them (script_lua.c's rules):
//! a command's RESP2/RESP3 reply becomes a Lua value for `redis.call`, and the value a script
//! returns becomes the reply its caller reads.
//!
//! RESP -> Lua: integer -> number, bulk -> string, null bulk/null array -> false, status ->
//! `{ok=s}`, error -> `{err="CODE msg"}`, array -> table; under `redis.setresp(3)` also map ->
//! `{map={..}}`, set -> `{set={m=true}}`, null -> nil, boolean -> boolean, double ->
//! `{double=n}`, big number -> `{big_number=s}`, verbatim -> `{verbatim_string={format,string}}`,
//! attributes skipped.
//!
//! Lua -> RESP: string -> bulk, number -> integer (truncated), boolean -> `:1`/null under RESP2
//! scripts, a boolean reply under RESP3 ones; tables: `err` -> error, `ok` -> status, `double`,
//! `big_number`, `verbatim_string`, `map`, `set`, else an array up to the first nil; anything
//! else -> null. Maps, sets, doubles and nulls are written in the *caller's* protocol.
//!
//! This module owns only the conversion; it never runs commands.

use mlua::{Lua, Result, Table, Value};

/// Append a RESP header (`kind` then a number).
fn header(out: &mut Vec<u8>, kind: u8, n: i64) {
    let mut b = itoa::Buffer::new();
    out.push(kind);
    out.extend_from_slice(b.format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, s: &[u8]) {
    header(out, b'$', s.len() as i64);
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// An error or status line: CR and LF would end it early, so they become spaces (Redis).
fn line(out: &mut Vec<u8>, kind: u8, s: &[u8]) {
    out.push(kind);
    out.extend(
        s.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

fn null(out: &mut Vec<u8>, resp3: bool) {
    out.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" });
}

/// The `err` text of a Lua error table as Redis's luaPushErrorBuff makes it: `-CODE msg`
/// keeps its code, a bare message gets `ERR`; trailing CR/LF trimmed.
pub fn error_text(raw: &[u8]) -> Vec<u8> {
    let (code, msg): (&[u8], &[u8]) = match raw.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&b| b == b' ') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", raw),
    };
    let mut end = msg.len();
    while end > 0 && (msg[end - 1] == b'\r' || msg[end - 1] == b'\n') {
        end -= 1;
    }
    let mut start = 0;
    while start < end && (msg[start] == b'\r' || msg[start] == b'\n') {
        start += 1;
    }
    let mut v = Vec::with_capacity(code.len() + 1 + end - start);
    v.extend_from_slice(code);
    v.push(b' ');
    v.extend_from_slice(&msg[start..end]);
    v
}

/// A `{err=...}` table.
pub fn error_table(lua: &Lua, text: &[u8]) -> Result<Table> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set("err", lua.create_string(text)?)?;
    Ok(t)
}

/// Parse one RESP reply (as the dispatcher wrote it) from `buf[*pos..]` into a Lua value.
/// The bytes come from our own reply writer, so malformed input only yields nil.
pub fn resp_to_lua(lua: &Lua, buf: &[u8], pos: &mut usize) -> Result<Value> {
    let Some(&kind) = buf.get(*pos) else {
        return Ok(Value::Nil);
    };
    let start = *pos + 1;
    let end = match buf[start..].windows(2).position(|w| w == b"\r\n") {
        Some(p) => start + p,
        None => {
            *pos = buf.len();
            return Ok(Value::Nil);
        }
    };
    let text = &buf[start..end];
    *pos = end + 2;
    let num = || {
        std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let single = |k: &str, v: Value| -> Result<Value> {
        let t = lua.create_table_with_capacity(0, 1)?;
        t.raw_set(k, v)?;
        Ok(Value::Table(t))
    };
    Ok(match kind {
        b':' => Value::Number(num() as f64),
        b'$' | b'=' => {
            let n = num();
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let s = &buf[*pos..(*pos + n as usize).min(buf.len())];
            *pos += n as usize + 2;
            if kind == b'=' {
                let (fmt, body) = if s.len() >= 4 {
                    s.split_at(4)
                } else {
                    (s, &b""[..])
                };
                let inner = lua.create_table_with_capacity(0, 2)?;
                inner.raw_set("string", lua.create_string(body)?)?;
                inner.raw_set("format", lua.create_string(&fmt[..fmt.len().min(3)])?)?;
                return single("verbatim_string", Value::Table(inner));
            }
            Value::String(lua.create_string(s)?)
        }
        b'+' => single("ok", Value::String(lua.create_string(text)?))?,
        b'-' => {
            let mut raw = Vec::with_capacity(text.len() + 1);
            raw.push(b'-');
            raw.extend_from_slice(text);
            Value::Table(error_table(lua, &error_text(&raw))?)
        }
        b'*' | b'>' => {
            let n = num();
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table_with_capacity(n as usize, 0)?;
            for i in 0..n {
                let v = resp_to_lua(lua, buf, pos)?;
                t.raw_set(i + 1, v)?;
            }
            Value::Table(t)
        }
        b'%' => {
            let n = num();
            let t = lua.create_table_with_capacity(0, n.max(0) as usize)?;
            for _ in 0..n {
                let k = resp_to_lua(lua, buf, pos)?;
                let v = resp_to_lua(lua, buf, pos)?;
                if k != Value::Nil {
                    t.raw_set(k, v)?;
                }
            }
            single("map", Value::Table(t))?
        }
        b'~' => {
            let n = num();
            let t = lua.create_table_with_capacity(0, n.max(0) as usize)?;
            for _ in 0..n {
                let k = resp_to_lua(lua, buf, pos)?;
                if k != Value::Nil {
                    t.raw_set(k, true)?;
                }
            }
            single("set", Value::Table(t))?
        }
        b'|' => {
            // Attributes are not shown to scripts: skip them, keep the reply after them.
            for _ in 0..num() * 2 {
                resp_to_lua(lua, buf, pos)?;
            }
            resp_to_lua(lua, buf, pos)?
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(text == b"t"),
        b',' => {
            let d = match text {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                b"nan" => f64::NAN,
                _ => std::str::from_utf8(text)
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0.0),
            };
            single("double", Value::Number(d))?
        }
        b'(' => single("big_number", Value::String(lua.create_string(text)?))?,
        _ => Value::Nil,
    })
}

/// A Lua number as Redis turns it into an integer reply (C's `(long long)` cast: truncation,
/// saturating where C is undefined).
pub fn lua_number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        _ => None,
    }
}

/// Write the value a script returned as the reply to its caller. `script_resp3` is the
/// protocol the script chose with `redis.setresp` (it decides how booleans read),
/// `client_resp3` the caller's (it decides how maps, sets, doubles and nulls are written).
pub fn lua_to_resp(
    v: &Value,
    script_resp3: bool,
    client_resp3: bool,
    out: &mut Vec<u8>,
    depth: usize,
) {
    if depth > 1000 {
        // Redis fails here when the Lua stack cannot grow ("reached lua stack limit").
        line(out, b'-', b"ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => bulk(out, &s.as_bytes()),
        Value::Boolean(b) => {
            if !script_resp3 {
                if *b {
                    out.extend_from_slice(b":1\r\n");
                } else {
                    null(out, client_resp3);
                }
            } else if client_resp3 {
                out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
            } else {
                out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" });
            }
        }
        Value::Integer(_) | Value::Number(_) => {
            let n = lua_number(v).unwrap_or(0.0);
            let i = if n.is_nan() { i64::MIN } else { n as i64 };
            header(out, b':', i);
        }
        Value::Table(t) => table_to_resp(t, script_resp3, client_resp3, out, depth),
        _ => null(out, client_resp3),
    }
}

fn table_to_resp(t: &Table, s3: bool, c3: bool, out: &mut Vec<u8>, depth: usize) {
    let field = |k: &str| t.raw_get::<Value>(k).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        let mut msg = Vec::with_capacity(e.as_bytes().len());
        msg.extend_from_slice(&e.as_bytes());
        line(out, b'-', &msg);
        return;
    }
    if let Value::String(s) = field("ok") {
        line(out, b'+', &s.as_bytes());
        return;
    }
    if let Some(d) = match field("double") {
        v @ (Value::Number(_) | Value::Integer(_)) => lua_number(&v),
        _ => None,
    } {
        let s = fmt_g17(d);
        if c3 {
            line(out, b',', s.as_bytes());
        } else {
            bulk(out, s.as_bytes());
        }
        return;
    }
    if let Value::String(s) = field("big_number") {
        if c3 {
            line(out, b'(', &s.as_bytes());
        } else {
            let b: Vec<u8> = s
                .as_bytes()
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            bulk(out, &b);
        }
        return;
    }
    if let Value::Table(vt) = field("verbatim_string") {
        if let (Ok(Value::String(f)), Ok(Value::String(s))) =
            (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"))
        {
            if c3 {
                let f = f.as_bytes();
                let s = s.as_bytes();
                header(out, b'=', s.len() as i64 + 4);
                out.extend_from_slice(&f[..f.len().min(3)]);
                out.resize(out.len() + 3 - f.len().min(3), b' ');
                out.push(b':');
                out.extend_from_slice(&s);
                out.extend_from_slice(b"\r\n");
            } else {
                bulk(out, &s.as_bytes());
            }
            return;
        }
    }
    if let Value::Table(m) = field("map") {
        let mut body = Vec::new();
        let mut n = 0;
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            lua_to_resp(&k, s3, c3, &mut body, depth + 1);
            lua_to_resp(&v, s3, c3, &mut body, depth + 1);
            n += 1;
        }
        if c3 {
            header(out, b'%', n);
        } else {
            header(out, b'*', n * 2);
        }
        out.extend_from_slice(&body);
        return;
    }
    if let Value::Table(m) = field("set") {
        let mut body = Vec::new();
        let mut n = 0;
        for (k, _) in m.pairs::<Value, Value>().flatten() {
            lua_to_resp(&k, s3, c3, &mut body, depth + 1);
            n += 1;
        }
        header(out, if c3 { b'~' } else { b'*' }, n);
        out.extend_from_slice(&body);
        return;
    }
    // An array: elements 1.. up to the first nil (what Redis's loop of rawget does).
    let mut body = Vec::new();
    let mut n = 0i64;
    loop {
        let v: Value = t.raw_get(n + 1).unwrap_or(Value::Nil);
        if v == Value::Nil {
            break;
        }
        lua_to_resp(&v, s3, c3, &mut body, depth + 1);
        n += 1;
    }
    header(out, b'*', n);
    out.extend_from_slice(&body);
}

/// C's `%.17g` (Redis's double replies and numeric command arguments from scripts).
pub fn fmt_g17(v: f64) -> String {
    fmt_g(v, 17)
}

/// C's `%.<prec>g` for finite and non-finite doubles.
pub fn fmt_g(v: f64, prec: usize) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        };
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{v:.*e}", prec - 1);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
