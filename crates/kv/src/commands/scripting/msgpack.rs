//! `cmsgpack` as Redis ships it (lua-cmsgpack 0.4): `pack(...)` concatenates the encodings
//! of its arguments; integral numbers take the smallest integer form, other numbers a float
//! when exact in 32 bits else a double; a table whose keys are exactly 1..n is an array,
//! otherwise a map; nesting deeper than 16 encodes nil. `unpack` returns every value,
//! `unpack_one(s, offset)` / `unpack_limit(s, n, offset)` return the next offset first.

use mlua::{Lua, MultiValue, Result, Table, Value};

const MAX_NESTING: usize = 16;

pub fn pack(lua: &Lua, args: MultiValue) -> Result<(Value, Option<String>)> {
    if args.is_empty() {
        return Ok((Value::Nil, Some("MessagePack pack needs input.".into())));
    }
    let mut out = Vec::new();
    for v in args.iter() {
        enc(v, &mut out, 0);
    }
    Ok((Value::String(lua.create_string(&out)?), None))
}

fn enc_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2147483648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn enc_len(n: usize, small: u8, small_max: usize, b16: u8, b32: u8, out: &mut Vec<u8>) {
    if n <= small_max {
        out.push(small | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Keys exactly 1..n (lua-cmsgpack's table_is_an_array); None for a map.
fn array_len(t: &Table) -> Option<usize> {
    let mut count = 0usize;
    let mut max = 0usize;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.ok()?;
        match k {
            Value::Integer(i) if i >= 1 => max = max.max(i as usize),
            Value::Number(f) if f >= 1.0 && f.fract() == 0.0 => max = max.max(f as usize),
            _ => return None,
        }
        count += 1;
    }
    (max == count).then_some(count)
}

fn enc(v: &Value, out: &mut Vec<u8>, depth: usize) {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => enc_int(*i, out),
        Value::Number(n) => {
            let n = *n;
            if n.is_finite() && n.fract() == 0.0 && (-9.2e18..=1.8e19).contains(&n) {
                if n >= 9.2e18 {
                    out.push(0xcf);
                    out.extend_from_slice(&(n as u64).to_be_bytes());
                } else {
                    enc_int(n as i64, out);
                }
            } else if (n as f32) as f64 == n || n.is_nan() {
                out.push(0xca);
                out.extend_from_slice(&(n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => {
            let b = s.as_bytes();
            let n = b.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else if n <= 0xff {
                out.extend_from_slice(&[0xd9, n as u8]);
            } else if n <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MAX_NESTING => match array_len(t) {
            Some(n) => {
                enc_len(n, 0x90, 15, 0xdc, 0xdd, out);
                for i in 1..=n {
                    let v: Value = t.raw_get(i).unwrap_or(Value::Nil);
                    enc(&v, out, depth + 1);
                }
            }
            None => {
                // Counted first, then streamed: holding every pair at once would take one
                // Lua reference each, and Lua 5.1 caps those near 8000.
                let n = t.clone().pairs::<Value, Value>().count();
                enc_len(n, 0x80, 15, 0xde, 0xdf, out);
                for (k, v) in t.clone().pairs::<Value, Value>().flatten() {
                    enc(&k, out, depth + 1);
                    enc(&v, out, depth + 1);
                }
            }
        },
        _ => out.push(0xc0),
    }
}

struct Dec<'a> {
    s: &'a [u8],
    i: usize,
}

enum DecErr {
    Missing,
    Bad,
}

impl Dec<'_> {
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], DecErr> {
        if self.s.len() - self.i < n {
            return Err(DecErr::Missing);
        }
        let r = &self.s[self.i..self.i + n];
        self.i += n;
        Ok(r)
    }

    fn be(&mut self, n: usize) -> std::result::Result<u64, DecErr> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    fn value(&mut self, lua: &Lua) -> std::result::Result<Value, DecErr> {
        let c = self.take(1)?[0];
        let lerr = |_| DecErr::Bad;
        Ok(match c {
            0x00..=0x7f => Value::Number(c as f64),
            0xe0..=0xff => Value::Number(c as i8 as f64),
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xcc => Value::Number(self.be(1)? as f64),
            0xcd => Value::Number(self.be(2)? as f64),
            0xce => Value::Number(self.be(4)? as f64),
            0xcf => Value::Number(self.be(8)? as f64),
            0xd0 => Value::Number(self.be(1)? as u8 as i8 as f64),
            0xd1 => Value::Number(self.be(2)? as u16 as i16 as f64),
            0xd2 => Value::Number(self.be(4)? as u32 as i32 as f64),
            0xd3 => Value::Number(self.be(8)? as i64 as f64),
            0xca => Value::Number(f32::from_bits(self.be(4)? as u32) as f64),
            0xcb => Value::Number(f64::from_bits(self.be(8)?)),
            0xa0..=0xbf | 0xd9 | 0xda | 0xdb => {
                let n = match c {
                    0xa0..=0xbf => (c & 31) as usize,
                    0xd9 => self.be(1)? as usize,
                    0xda => self.be(2)? as usize,
                    _ => self.be(4)? as usize,
                };
                let b = self.take(n)?;
                Value::String(lua.create_string(b).map_err(lerr)?)
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let n = match c {
                    0x90..=0x9f => (c & 15) as usize,
                    0xdc => self.be(2)? as usize,
                    _ => self.be(4)? as usize,
                };
                let t = lua.create_table().map_err(lerr)?;
                for i in 1..=n {
                    let v = self.value(lua)?;
                    t.raw_set(i, v).map_err(lerr)?;
                }
                Value::Table(t)
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let n = match c {
                    0x80..=0x8f => (c & 15) as usize,
                    0xde => self.be(2)? as usize,
                    _ => self.be(4)? as usize,
                };
                let t = lua.create_table().map_err(lerr)?;
                for _ in 0..n {
                    let k = self.value(lua)?;
                    let v = self.value(lua)?;
                    if k != Value::Nil {
                        t.raw_set(k, v).map_err(lerr)?;
                    }
                }
                Value::Table(t)
            }
            _ => return Err(DecErr::Bad),
        })
    }
}

/// Decode up to `limit` values (0: all) from `offset`; the first result is the error (nil
/// when none), then, if `with_offset`, the next offset (-1 at the end), then the values.
fn unpack_full(
    lua: &Lua,
    args: MultiValue,
    limit_arg: bool,
    offset_at: usize,
    with_offset: bool,
) -> Result<MultiValue> {
    let mut res = MultiValue::new();
    let Some(Value::String(s)) = args.front() else {
        res.push_back(Value::String(
            lua.create_string("MessagePack decoding needs a string as input.")?,
        ));
        return Ok(res);
    };
    let bytes = s.as_bytes().to_vec();
    let num = |i: usize| {
        args.get(i)
            .and_then(super::reply::lua_number)
            .unwrap_or(0.0) as i64
    };
    let limit = if limit_arg {
        num(1)
    } else if with_offset {
        1
    } else {
        0
    };
    let offset = num(offset_at).max(0) as usize;
    if offset > bytes.len() {
        res.push_back(Value::String(
            lua.create_string("Start offset greater than input length.")?,
        ));
        return Ok(res);
    }
    let mut d = Dec {
        s: &bytes,
        i: offset,
    };
    let mut vals = Vec::new();
    let mut count = 0;
    while d.i < bytes.len() && (limit <= 0 || count < limit) {
        match d.value(lua) {
            Ok(v) => vals.push(v),
            Err(DecErr::Missing) => {
                res.push_back(Value::String(lua.create_string("Missing bytes in input.")?));
                return Ok(res);
            }
            Err(DecErr::Bad) => {
                res.push_back(Value::String(
                    lua.create_string("Bad data format in input.")?,
                ));
                return Ok(res);
            }
        }
        count += 1;
    }
    res.push_back(Value::Nil);
    if with_offset {
        let next = if d.i >= bytes.len() { -1 } else { d.i as i64 };
        res.push_back(Value::Number(next as f64));
    }
    res.extend(vals);
    Ok(res)
}

pub fn unpack(lua: &Lua, args: MultiValue) -> Result<MultiValue> {
    unpack_full(lua, args, false, 99, false)
}

pub fn unpack_one(lua: &Lua, args: MultiValue) -> Result<MultiValue> {
    unpack_full(lua, args, false, 1, true)
}

pub fn unpack_limit(lua: &Lua, args: MultiValue) -> Result<MultiValue> {
    unpack_full(lua, args, true, 2, true)
}
