//! The Rust half of the `redis` API and the libraries' registration. Errors are raised the
//! way Redis raises them: Redis error tables (`raise_table`) for the `redis.*` API, Lua
//! messages with the caller's position (`raise_str`) for the libraries. Texts are Redis 7.0's.

use mlua::{Function, Lua, MultiValue, Result, Table, Value};

use super::engine::{raise_str, raise_table, DISPATCH, REGISTERED};
use super::reply::{error_table, error_text, lua_number};

/// The current run's dispatcher, or Redis's error outside a run.
fn dispatcher(lua: &Lua) -> Result<Function> {
    match lua.named_registry_value::<Value>(DISPATCH)? {
        Value::Function(f) => Ok(f),
        _ => raise_table(b"ERR redis.call/pcall can only be called inside a script invocation"),
    }
}

/// redis.call / redis.pcall: kind 1 raises an error reply, kind 0 returns it.
fn command(lua: &Lua, kind: i64, args: MultiValue) -> Result<Value> {
    let d = dispatcher(lua)?;
    let bad_args = |msg: &[u8]| -> Result<Value> {
        if kind == 1 {
            raise_table(msg)
        } else {
            Ok(Value::Table(error_table(lua, msg)?))
        }
    };
    if args.is_empty() {
        return bad_args(b"ERR Please specify at least one argument for this redis lib call");
    }
    {
        let Some(mut st) = lua.app_data_mut::<super::engine::RunState>() else {
            return bad_args(b"ERR redis.call/pcall can only be called inside a script invocation");
        };
        let argv = &mut st.argv;
        argv.resize_with(args.len(), Vec::new);
        for (slot, v) in argv.iter_mut().zip(args.iter()) {
            slot.clear();
            match v {
                Value::String(s) => slot.extend_from_slice(&s.as_bytes()),
                Value::Integer(_) | Value::Number(_) => slot.extend_from_slice(
                    super::reply::fmt_g17(lua_number(v).unwrap_or(0.0)).as_bytes(),
                ),
                _ => {
                    drop(st);
                    return bad_args(
                        b"ERR Lua redis lib command arguments must be strings or integers",
                    );
                }
            }
        }
    }
    let (v, bad): (Value, bool) = d.call(kind)?;
    if bad {
        let text = match &v {
            Value::Table(t) => t
                .raw_get::<mlua::String>("err")
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        return raise_table(&text);
    }
    Ok(v)
}

/// A library function written as "(result, error text)": raise the text at the caller.
fn lib<F>(lua: &Lua, f: F) -> Result<Function>
where
    F: Fn(&Lua, MultiValue) -> Result<(Value, Option<String>)> + Send + 'static,
{
    lua.create_function(move |lua, a: MultiValue| match f(lua, a)? {
        (v, None) => Ok(v),
        (_, Some(e)) => raise_str(lua, &e),
    })
}

/// A library function returning several values, its first result the error (nil if none).
fn lib_many<F>(lua: &Lua, f: F) -> Result<Function>
where
    F: Fn(&Lua, MultiValue) -> Result<MultiValue> + Send + 'static,
{
    lua.create_function(move |lua, a: MultiValue| {
        let mut r = f(lua, a)?;
        match r.pop_front() {
            Some(Value::String(e)) => raise_str(lua, &e.to_string_lossy()),
            _ => Ok(r),
        }
    })
}

/// Library and function names: letters, digits and underscores, at least one (Redis 7.0
/// reports a bad function name with the library text).
pub fn valid_name(n: &[u8]) -> bool {
    !n.is_empty() && n.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=,
/// callback=, flags=, description=}` while a library loads.
fn register_function(lua: &Lua, a: MultiValue) -> Result<()> {
    let Ok(reg) = lua.named_registry_value::<Table>(REGISTERED) else {
        return raise_table(
            b"ERR redis.register_function can only be called on FUNCTION LOAD command",
        );
    };
    let (name, callback, flags, desc) = match a.len() {
        1 => {
            let Value::Table(t) = &a[0] else {
                return raise_table(b"ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).");
            };
            let (mut name, mut cb, mut flags, mut desc) = (None, None, Value::Nil, None);
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key = match &k {
                    Value::String(s) => s.as_bytes().to_vec(),
                    _ => return raise_table(
                        b"ERR named argument key given to redis.register_function is not a string",
                    ),
                };
                match &key[..] {
                    b"function_name" => match v {
                        Value::String(s) => name = Some(s.as_bytes().to_vec()),
                        _ => return raise_table(b"ERR function_name argument given to redis.register_function must be a string"),
                    },
                    b"description" => match v {
                        Value::String(s) => desc = Some(s),
                        _ => return raise_table(b"ERR description argument given to redis.register_function must be a string"),
                    },
                    b"callback" => match v {
                        Value::Function(f) => cb = Some(f),
                        _ => return raise_table(b"ERR callback argument given to redis.register_function must be a function"),
                    },
                    b"flags" => match v {
                        Value::Table(_) => flags = v,
                        _ => return raise_table(b"ERR flags argument to redis.register_function must be a table representing function flags"),
                    },
                    _ => return raise_table(b"ERR unknown argument given to redis.register_function"),
                }
            }
            let Some(name) = name else {
                return raise_table(
                    b"ERR redis.register_function must get a function name argument",
                );
            };
            let Some(cb) = cb else {
                return raise_table(b"ERR redis.register_function must get a callback argument");
            };
            (name, cb, flags, desc)
        }
        2 => {
            let name = match &a[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                v @ (Value::Integer(_) | Value::Number(_)) => {
                    super::reply::fmt_g(lua_number(v).unwrap_or(0.0), 14).into_bytes()
                }
                _ => {
                    return raise_table(
                        b"ERR first argument to redis.register_function must be a string",
                    )
                }
            };
            let Value::Function(cb) = &a[1] else {
                return raise_table(
                    b"ERR second argument to redis.register_function must be a function",
                );
            };
            (name, cb.clone(), Value::Nil, None)
        }
        _ => return raise_table(b"ERR wrong number of arguments to redis.register_function"),
    };
    let mut bits = 0u32;
    if let Value::Table(t) = &flags {
        for v in t.clone().sequence_values::<Value>() {
            let known = match v? {
                Value::String(s) => super::FLAG_NAMES
                    .iter()
                    .find(|(_, n)| n.as_bytes() == &s.as_bytes()[..])
                    .map(|(b, _)| *b),
                _ => None,
            };
            match known {
                Some(b) => bits |= b,
                None => return raise_table(b"ERR unknown flag given"),
            }
        }
    }
    if !valid_name(&name) {
        return raise_table(b"ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
    for t in reg.clone().sequence_values::<Table>() {
        if t?.raw_get::<mlua::String>("name")?.as_bytes() == &name[..] {
            return raise_table(b"ERR Function already exists in the library");
        }
    }
    let e = lua.create_table()?;
    e.raw_set("name", lua.create_string(&name)?)?;
    e.raw_set("callback", callback)?;
    e.raw_set("flags", bits)?;
    if let Some(d) = desc {
        e.raw_set("description", d)?;
    }
    reg.raw_push(e)
}

pub fn register(lua: &Lua, raw: &Table) -> Result<()> {
    raw.raw_set("register_function", lua.create_function(register_function)?)?;
    raw.raw_set(
        "call",
        lua.create_function(|lua, a: MultiValue| command(lua, 1, a))?,
    )?;
    raw.raw_set(
        "pcall",
        lua.create_function(|lua, a: MultiValue| command(lua, 0, a))?,
    )?;
    raw.raw_set(
        "sha1hex",
        lua.create_function(|lua, a: MultiValue| {
            if a.len() != 1 {
                return raise_table(b"ERR wrong number of arguments");
            }
            let s = match &a[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                v @ (Value::Integer(_) | Value::Number(_)) => {
                    super::reply::fmt_g(lua_number(v).unwrap_or(0.0), 14).into_bytes()
                }
                _ => Vec::new(),
            };
            lua.create_string(super::engine::sha1hex(&s))
        })?,
    )?;
    raw.raw_set(
        "error_reply",
        lua.create_function(|lua, a: MultiValue| {
            let (1, Some(Value::String(s))) = (a.len(), a.front()) else {
                return error_table(lua, b"ERR wrong number or type of arguments");
            };
            let mut raw = s.as_bytes().to_vec();
            if raw.first() != Some(&b'-') {
                raw.insert(0, b'-');
            }
            error_table(lua, &error_text(&raw))
        })?,
    )?;
    raw.raw_set(
        "status_reply",
        lua.create_function(|lua, a: MultiValue| {
            let (1, Some(Value::String(s))) = (a.len(), a.front()) else {
                return error_table(lua, b"ERR wrong number or type of arguments");
            };
            let t = lua.create_table_with_capacity(0, 1)?;
            t.raw_set("ok", s.clone())?;
            Ok(t)
        })?,
    )?;
    raw.raw_set(
        "log",
        lua.create_function(|lua, a: MultiValue| {
            if a.len() < 2 {
                return raise_table(b"ERR redis.log() requires two arguments or more.");
            }
            let Some(level) = lua_number(&a[0]) else {
                return raise_table(b"ERR First argument must be a number (log level).");
            };
            let level = level as i64;
            if !(0..=3).contains(&level) {
                return raise_table(b"ERR Invalid debug level.");
            }
            let mut msg = Vec::new();
            for (j, v) in a.iter().enumerate().skip(1) {
                let s = match v {
                    Value::String(s) => s.as_bytes().to_vec(),
                    Value::Integer(_) | Value::Number(_) => {
                        super::reply::fmt_g(lua_number(v).unwrap_or(0.0), 14).into_bytes()
                    }
                    _ => continue,
                };
                if j != 1 {
                    msg.push(b' ');
                }
                msg.extend_from_slice(&s);
            }
            if let Ok(d) = dispatcher(lua) {
                d.call::<()>((2, level, lua.create_string(&msg)?))?;
            }
            Ok(())
        })?,
    )?;
    raw.raw_set("setresp", lua.create_function(super::engine::setresp)?)?;
    raw.raw_set(
        "set_repl",
        lua.create_function(|lua, a: MultiValue| {
            let d = match dispatcher(lua) {
                Ok(d) => d,
                Err(_) => return raise_table(b"ERR redis.set_repl can only be called inside a script invocation"),
            };
            if a.len() != 1 {
                return raise_table(b"ERR redis.set_repl() requires two arguments.");
            }
            let f = lua_number(&a[0]).unwrap_or(0.0) as i64;
            if f & !3 != 0 {
                return raise_table(b"ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
            }
            d.call::<()>((3, f))
        })?,
    )?;
    raw.raw_set("random", lua.create_function(super::engine::random)?)?;
    raw.raw_set(
        "randomseed",
        lua.create_function(super::engine::randomseed)?,
    )?;
    raw.raw_set(
        "cjson_encode",
        lib(lua, |lua, a| {
            super::cjson::encode(lua, a.front().cloned().unwrap_or(Value::Nil))
        })?,
    )?;
    raw.raw_set(
        "cjson_decode",
        lib(lua, |lua, a| {
            super::cjson::decode(lua, a.front().cloned().unwrap_or(Value::Nil))
        })?,
    )?;
    raw.raw_set("cjson_null", super::cjson::null())?;
    raw.raw_set(
        "cjson_config",
        lua.create_function(
            |lua, a: (String, Value)| match super::cjson::configure(lua, a)? {
                (v, None) => Ok(v),
                (_, Some(e)) => raise_str(lua, &e),
            },
        )?,
    )?;
    raw.raw_set("msgpack_pack", lib(lua, super::msgpack::pack)?)?;
    raw.raw_set("msgpack_unpack", lib_many(lua, super::msgpack::unpack)?)?;
    raw.raw_set(
        "msgpack_unpack_one",
        lib_many(lua, super::msgpack::unpack_one)?,
    )?;
    raw.raw_set(
        "msgpack_unpack_limit",
        lib_many(lua, super::msgpack::unpack_limit)?,
    )?;
    let bit = lua.create_table()?;
    super::bitlib::register(lua, &bit)?;
    raw.raw_set("bit", bit)?;
    raw.raw_set("struct_pack", lib(lua, super::structlib::pack)?)?;
    raw.raw_set("struct_unpack", lib_many(lua, super::structlib::unpack)?)?;
    raw.raw_set("struct_size", lib(lua, super::structlib::size)?)?;
    Ok(())
}
