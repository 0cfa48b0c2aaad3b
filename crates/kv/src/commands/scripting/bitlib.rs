//! `bit` (LuaBitOp 1.0.2, as Redis ships it): 32-bit operations on Lua numbers. Arguments
//! are reduced to 32 bits the way LuaBitOp does (round to nearest, wrap), results are signed.

use mlua::{Lua, MultiValue, Result, Table, Value};

fn barg(args: &MultiValue, i: usize, name: &str) -> std::result::Result<i32, String> {
    match args.get(i) {
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            Ok(tobit(super::reply::lua_number(v).unwrap_or(0.0)))
        }
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| parse_lua_number(s.trim()))
            .map(tobit)
            .ok_or_else(|| {
                format!(
                    "bad argument #{} to '{name}' (number expected, got string)",
                    i + 1
                )
            }),
        Some(v) => Err(format!(
            "bad argument #{} to '{name}' (number expected, got {})",
            i + 1,
            v.type_name()
        )),
        None => Err(format!(
            "bad argument #{} to '{name}' (number expected, got no value)",
            i + 1
        )),
    }
}

/// Lua 5.1's string-to-number coercion (decimal or 0x hex).
pub fn parse_lua_number(s: &str) -> Option<f64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u64::from_str_radix(h, 16).ok().map(|v| v as f64);
    }
    s.parse::<f64>().ok()
}

/// LuaBitOp's normalisation: add 2^52+2^51 and keep the low 32 bits of the mantissa.
fn tobit(n: f64) -> i32 {
    let b = (n + 6_755_399_441_055_744.0).to_bits();
    b as u32 as i32
}

type Out = Result<(Value, Option<String>)>;

fn ok(v: i32) -> Out {
    Ok((Value::Number(v as f64), None))
}

/// A bit function written as "(result, error)": raise the error at the caller.
fn reg(
    lua: &Lua,
    t: &Table,
    name: &str,
    f: impl Fn(&Lua, MultiValue) -> Out + Send + 'static,
) -> Result<()> {
    let func = lua.create_function(move |lua, a: MultiValue| match f(lua, a)? {
        (v, None) => Ok(v),
        (_, Some(e)) => super::engine::raise_str(lua, &e),
    })?;
    t.raw_set(name, func)
}

macro_rules! try_arg {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok((Value::Nil, Some(e))),
        }
    };
}

fn fold(args: &MultiValue, name: &str, f: fn(i32, i32) -> i32) -> Out {
    let mut acc = try_arg!(barg(args, 0, name));
    for i in 1..args.len() {
        acc = f(acc, try_arg!(barg(args, i, name)));
    }
    ok(acc)
}

pub fn register(lua: &Lua, t: &Table) -> Result<()> {
    reg(lua, t, "tobit", |_: &Lua, a: MultiValue| {
        ok(try_arg!(barg(&a, 0, "tobit")))
    })?;
    reg(lua, t, "bnot", |_: &Lua, a: MultiValue| {
        ok(!try_arg!(barg(&a, 0, "bnot")))
    })?;
    reg(lua, t, "band", |_: &Lua, a: MultiValue| {
        fold(&a, "band", |x, y| x & y)
    })?;
    reg(lua, t, "bor", |_: &Lua, a: MultiValue| {
        fold(&a, "bor", |x, y| x | y)
    })?;
    reg(lua, t, "bxor", |_: &Lua, a: MultiValue| {
        fold(&a, "bxor", |x, y| x ^ y)
    })?;
    let shift = |name: &'static str, f: fn(u32, u32) -> u32| {
        move |_: &Lua, a: MultiValue| {
            let x = try_arg!(barg(&a, 0, name)) as u32;
            let n = try_arg!(barg(&a, 1, name)) as u32 & 31;
            ok(f(x, n) as i32)
        }
    };
    reg(lua, t, "lshift", shift("lshift", |x, n| x << n))?;
    reg(lua, t, "rshift", shift("rshift", |x, n| x >> n))?;
    reg(
        lua,
        t,
        "arshift",
        shift("arshift", |x, n| ((x as i32) >> n) as u32),
    )?;
    reg(lua, t, "rol", shift("rol", |x, n| x.rotate_left(n)))?;
    reg(lua, t, "ror", shift("ror", |x, n| x.rotate_right(n)))?;
    reg(lua, t, "bswap", |_: &Lua, a: MultiValue| {
        ok(try_arg!(barg(&a, 0, "bswap")).swap_bytes())
    })?;
    reg(lua, t, "tohex", |lua: &Lua, a: MultiValue| {
        let x = try_arg!(barg(&a, 0, "tohex")) as u32;
        let mut n = if a.len() > 1 {
            try_arg!(barg(&a, 1, "tohex"))
        } else {
            8
        };
        let upper = n < 0;
        if upper {
            n = -n;
        }
        let n = n.min(8) as usize;
        let masked = if n < 8 {
            x & ((1u32 << (4 * n)) - 1)
        } else {
            x
        };
        let s = if upper {
            format!("{masked:08X}")
        } else {
            format!("{masked:08x}")
        };
        Ok((Value::String(lua.create_string(&s[8 - n..])?), None))
    })?;
    Ok(())
}
