//! `struct` (Roberto Ierusalimschy's struct 0.2, as Redis ships it): `pack(fmt, ...)`,
//! `unpack(fmt, data [, pos])` (values then the next position), `size(fmt)`.
//! Options: `<` `>` `=` endianness, `!n` alignment (default none), `x` pad, `b B h H l L T
//! iN IN` integers, `f d` floats, `s` zero-terminated string, `cN` fixed string (`c0`: size
//! from the previous value).

use mlua::{Lua, MultiValue, Result, Value};

use super::reply::lua_number;

struct Hdr {
    little: bool,
    align: usize,
}

/// Reads one option: (char, size); None at the end.
fn next_opt(
    fmt: &[u8],
    i: &mut usize,
    h: &mut Hdr,
) -> std::result::Result<Option<(u8, usize)>, String> {
    while *i < fmt.len() {
        let c = fmt[*i];
        *i += 1;
        let num = |i: &mut usize, default: usize| -> usize {
            let start = *i;
            let mut n = 0usize;
            while *i < fmt.len() && fmt[*i].is_ascii_digit() {
                n = n
                    .saturating_mul(10)
                    .saturating_add((fmt[*i] - b'0') as usize);
                *i += 1;
            }
            if *i == start {
                default
            } else {
                n
            }
        };
        match c {
            b' ' => {}
            b'>' => h.little = false,
            b'<' | b'=' => h.little = true,
            b'!' => h.align = num(i, 8),
            b'x' | b'b' | b'B' => return Ok(Some((c, 1))),
            b'h' | b'H' => return Ok(Some((c, 2))),
            b'l' | b'L' | b'T' | b'd' => return Ok(Some((c, 8))),
            b'f' => return Ok(Some((c, 4))),
            b's' => return Ok(Some((c, 0))),
            b'c' => return Ok(Some((c, num(i, 1)))),
            b'i' | b'I' => {
                let n = num(i, 4);
                if n > 32 {
                    return Err(format!("integral size {n} is larger than limit of 32"));
                }
                return Ok(Some((c, n)));
            }
            other => return Err(format!("invalid format option '{}'", other as char)),
        }
    }
    Ok(None)
}

fn pad(len: usize, size: usize, opt: u8, h: &Hdr) -> usize {
    let mut a = size;
    if a <= 1 || opt == b'c' || opt == b's' {
        return 0;
    }
    if a > h.align {
        a = h.align;
    }
    if a <= 1 || !a.is_power_of_two() {
        return 0;
    }
    (a - (len & (a - 1))) & (a - 1)
}

type Out = Result<(Value, Option<String>)>;

fn fail(e: String) -> Out {
    Ok((Value::Nil, Some(e)))
}

pub fn pack(lua: &Lua, args: MultiValue) -> Out {
    let Some(Value::String(f)) = args.front() else {
        return fail("bad argument #1 to 'pack' (string expected)".into());
    };
    let fmt = f.as_bytes().to_vec();
    let mut h = Hdr {
        little: true,
        align: 1,
    };
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    let mut arg = 1;
    loop {
        let (opt, size) = match next_opt(&fmt, &mut i, &mut h) {
            Ok(Some(o)) => o,
            Ok(None) => break,
            Err(e) => return fail(e),
        };
        let n = pad(out.len(), size, opt, &h);
        out.resize(out.len() + n, 0);
        let v = args.get(arg).cloned().unwrap_or(Value::Nil);
        let argn = arg + 1;
        match opt {
            b'x' => out.push(0),
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                arg += 1;
                let Some(n) = lua_number(&v).or_else(|| match &v {
                    Value::String(s) => s.to_str().ok().and_then(|s| s.trim().parse().ok()),
                    _ => None,
                }) else {
                    return fail(format!(
                        "bad argument #{argn} to 'pack' (number expected, got {})",
                        v.type_name()
                    ));
                };
                let val: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                let mut bytes = Vec::with_capacity(size);
                for k in 0..size {
                    bytes.push(if k < 8 {
                        (val >> (8 * k)) as u8
                    } else if n < 0.0 {
                        0xff
                    } else {
                        0
                    });
                }
                if !h.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'f' | b'd' => {
                arg += 1;
                let Some(n) = lua_number(&v) else {
                    return fail(format!(
                        "bad argument #{argn} to 'pack' (number expected, got {})",
                        v.type_name()
                    ));
                };
                let mut b = if opt == b'f' {
                    (n as f32).to_le_bytes().to_vec()
                } else {
                    n.to_le_bytes().to_vec()
                };
                if !h.little {
                    b.reverse();
                }
                out.extend_from_slice(&b);
            }
            b'c' | b's' => {
                arg += 1;
                let s: Vec<u8> = match &v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(_) | Value::Number(_) => {
                        super::reply::fmt_g(lua_number(&v).unwrap_or(0.0), 14).into_bytes()
                    }
                    other => {
                        return fail(format!(
                            "bad argument #{argn} to 'pack' (string expected, got {})",
                            other.type_name()
                        ))
                    }
                };
                if opt == b'c' {
                    let size = if size == 0 { s.len() } else { size };
                    if s.len() < size {
                        return fail(format!("bad argument #{argn} to 'pack' (string too short)"));
                    }
                    out.extend_from_slice(&s[..size]);
                } else {
                    out.extend_from_slice(&s);
                    out.push(0);
                }
            }
            _ => {}
        }
    }
    Ok((Value::String(lua.create_string(&out)?), None))
}

pub fn unpack(lua: &Lua, args: MultiValue) -> Result<MultiValue> {
    let mut res = MultiValue::new();
    let err = |res: &mut MultiValue, e: String| -> Result<()> {
        res.clear();
        res.push_back(Value::String(lua.create_string(&e)?));
        Ok(())
    };
    let (Some(Value::String(f)), Some(Value::String(d))) = (args.front(), args.get(1)) else {
        err(
            &mut res,
            "bad argument #2 to 'unpack' (string expected)".into(),
        )?;
        return Ok(res);
    };
    let fmt = f.as_bytes().to_vec();
    let data = d.as_bytes().to_vec();
    let mut pos = args
        .get(2)
        .and_then(lua_number)
        .map_or(0, |p| (p as i64 - 1).max(0) as usize);
    if pos > data.len() {
        err(
            &mut res,
            "bad argument #3 to 'unpack' (offset must be 1 or greater)".into(),
        )?;
        return Ok(res);
    }
    let mut h = Hdr {
        little: true,
        align: 1,
    };
    let mut vals: Vec<Value> = Vec::new();
    let mut i = 0;
    loop {
        let (opt, mut size) = match next_opt(&fmt, &mut i, &mut h) {
            Ok(Some(o)) => o,
            Ok(None) => break,
            Err(e) => {
                err(&mut res, e)?;
                return Ok(res);
            }
        };
        pos += pad(pos, size, opt, &h);
        if opt == b'c' && size == 0 {
            match vals.pop().as_ref().and_then(lua_number) {
                Some(n) => size = n.max(0.0) as usize,
                None => {
                    err(&mut res, "format 'c0' needs a previous size".into())?;
                    return Ok(res);
                }
            }
        }
        if opt != b's' && pos + size > data.len() {
            err(
                &mut res,
                "bad argument #2 to 'unpack' (data string too short)".into(),
            )?;
            return Ok(res);
        }
        match opt {
            b'x' => pos += 1,
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut bytes = data[pos..pos + size].to_vec();
                if !h.little {
                    bytes.reverse();
                }
                let mut v: u64 = 0;
                for (k, b) in bytes.iter().enumerate().take(8) {
                    v |= (*b as u64) << (8 * k);
                }
                let signed = opt.is_ascii_lowercase();
                let n = if signed && size < 8 && size > 0 {
                    let shift = 64 - 8 * size as u32;
                    (((v << shift) as i64) >> shift) as f64
                } else if signed {
                    v as i64 as f64
                } else {
                    v as f64
                };
                vals.push(Value::Number(n));
                pos += size;
            }
            b'f' | b'd' => {
                let mut b = data[pos..pos + size].to_vec();
                if !h.little {
                    b.reverse();
                }
                let n = if opt == b'f' {
                    f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
                } else {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                };
                vals.push(Value::Number(n));
                pos += size;
            }
            b'c' => {
                vals.push(Value::String(lua.create_string(&data[pos..pos + size])?));
                pos += size;
            }
            b's' => {
                let Some(z) = data[pos..].iter().position(|&b| b == 0) else {
                    err(&mut res, "unfinished string in data".into())?;
                    return Ok(res);
                };
                vals.push(Value::String(lua.create_string(&data[pos..pos + z])?));
                pos += z + 1;
            }
            _ => {}
        }
    }
    res.push_back(Value::Nil);
    res.extend(vals);
    res.push_back(Value::Number((pos + 1) as f64));
    Ok(res)
}

pub fn size(_lua: &Lua, args: MultiValue) -> Out {
    let Some(Value::String(f)) = args.front() else {
        return fail("bad argument #1 to 'size' (string expected)".into());
    };
    let fmt = f.as_bytes().to_vec();
    let mut h = Hdr {
        little: true,
        align: 1,
    };
    let mut i = 0;
    let mut total = 0usize;
    loop {
        match next_opt(&fmt, &mut i, &mut h) {
            Ok(Some((opt, size))) => {
                if opt == b's' || (opt == b'c' && size == 0) {
                    return fail(
                        "bad argument #1 to 'size' (options 'c0' - 's' have undefined sizes)"
                            .into(),
                    );
                }
                total += pad(total, size, opt, &h) + size;
            }
            Ok(None) => break,
            Err(e) => return fail(e),
        }
    }
    Ok((Value::Number(total as f64), None))
}
