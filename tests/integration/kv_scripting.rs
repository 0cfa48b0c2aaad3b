//! Lua scripting and functions (EVAL, EVALSHA, EVAL_RO, SCRIPT, FUNCTION, FCALL) on every
//! backend: the RESP <-> Lua conversions, Redis's error texts, the sandbox, the libraries
//! (cjson, cmsgpack, bit, struct), script flags and read-only commands, the `redis` crate's
//! `Script` helper (EVALSHA, then EVAL on NOSCRIPT) with a lock release, and the log: a
//! script's writes reach it as a MULTI block of the commands it ran, never as EVAL, and
//! function libraries survive a restart and a rewrite.
//!
//! `KV_UNDER_TEST=redis` runs the non-log tests against redis-server itself.

use std::path::PathBuf;
use std::time::Duration;

use reactor::Backend;

use super::kv_util::{bulk, call, connect, int, kv, Conn, Value};
use super::util::{readyloop_bin, ServerProcess};

fn ok() -> Value {
    Value::Simple(b"OK".to_vec())
}

fn err_text(v: &Value) -> String {
    match v {
        Value::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("expected an error, got {other}"),
    }
}

fn eval(c: &mut Conn, script: &str, keys: &[&str], args: &[&str]) -> Value {
    let n = keys.len().to_string();
    let mut a = vec!["EVAL", script, &n];
    a.extend_from_slice(keys);
    a.extend_from_slice(args);
    call(c, &a)
}

fn redis_client(addr: std::net::SocketAddr) -> redis::Connection {
    redis::Client::open(format!("redis://{addr}/"))
        .expect("url")
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("connects")
}

/// Replies to Lua and back (RESP2), KEYS/ARGV, redis.call / redis.pcall and the error texts.
fn conversions_and_errors(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    assert_eq!(eval(&mut c, "return 1", &[], &[]), Value::Int(1));
    assert_eq!(
        eval(&mut c, "return 3.99", &[], &[]),
        Value::Int(3),
        "numbers truncate"
    );
    assert_eq!(eval(&mut c, "return 'x'", &[], &[]), bulk("x"));
    assert_eq!(
        eval(&mut c, "return {1,2,3.5,'x',nil,4}", &[], &[]),
        Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3), bulk("x")]),
        "an array stops at the first nil"
    );
    assert_eq!(
        eval(
            &mut c,
            "return {1, {ok='fine'}, {err='ERR bad'}, true, false}",
            &[],
            &[]
        ),
        Value::Array(vec![
            Value::Int(1),
            Value::Simple(b"fine".to_vec()),
            Value::Error(b"ERR bad".to_vec()),
            Value::Int(1),
            Value::NilBulk,
        ])
    );
    assert_eq!(
        eval(
            &mut c,
            "return KEYS[1] .. ARGV[1] .. #KEYS .. #ARGV",
            &["k"],
            &["a", "b"]
        ),
        bulk("ka12")
    );
    call(&mut c, &["SET", "s", "abc"]);
    assert_eq!(
        eval(&mut c, "return redis.call('get', KEYS[1])", &["s"], &[]),
        bulk("abc")
    );
    assert_eq!(
        eval(&mut c, "return redis.call('get', 'nokey')", &[], &[]),
        Value::NilBulk
    );
    assert_eq!(
        eval(&mut c, "return type(redis.call('get', 'nokey'))", &[], &[]),
        bulk("boolean"),
        "a null bulk reply is false in Lua"
    );
    assert_eq!(
        eval(&mut c, "return redis.call('incrby', 'n', 5)", &[], &[]),
        Value::Int(5)
    );
    assert_eq!(
        eval(&mut c, "return redis.call('ping')", &[], &[]),
        Value::Simple(b"PONG".to_vec())
    );
    assert_eq!(
        eval(&mut c, "return redis.call('set', 'k', 3.5)", &[], &[]),
        ok(),
        "numbers are sent as %.17g"
    );
    assert_eq!(call(&mut c, &["GET", "k"]), bulk("3.5"));
    // Errors: raised by redis.call (with where), returned by redis.pcall.
    let e = err_text(&eval(&mut c, "return redis.call('incr','s')", &[], &[]));
    assert!(
        e.starts_with("ERR value is not an integer or out of range script: ")
            && e.ends_with(", on @user_script:1."),
        "{e}"
    );
    assert_eq!(
        eval(&mut c, "return redis.pcall('incr','s')", &[], &[]),
        Value::Error(b"ERR value is not an integer or out of range".to_vec())
    );
    assert_eq!(
        eval(
            &mut c,
            "local ok, e = pcall(function() redis.call('incr','s') end) return e",
            &[],
            &[]
        ),
        bulk("ERR value is not an integer or out of range"),
        "pcall sees the error table's message"
    );
    let sha = "3636b3c71d6a755d5b3f0a4d22850f935598f38d";
    assert_eq!(
        err_text(&eval(&mut c, "error('foo')", &[], &[])),
        format!("ERR user_script:1: foo script: {sha}, on @user_script:1.")
    );
    let e = err_text(&eval(&mut c, "\n\nreturn redis.call('nosuch')", &[], &[]));
    assert!(
        e.starts_with("ERR Unknown Redis command called from script script: "),
        "{e}"
    );
    assert!(e.ends_with(", on @user_script:3."), "{e}");
    for (script, text) in [
        (
            "return redis.call('set','x')",
            "ERR Wrong number of args calling Redis command from script",
        ),
        (
            "return redis.call('multi')",
            "ERR This Redis command is not allowed from script",
        ),
        (
            "return redis.call('blpop','l',0)",
            "ERR This Redis command is not allowed from script",
        ),
        (
            "return redis.call()",
            "ERR Please specify at least one argument for this redis lib call",
        ),
        (
            "return redis.call({})",
            "ERR Lua redis lib command arguments must be strings or integers",
        ),
        (
            "return redis.setresp(4)",
            "ERR RESP version must be 2 or 3.",
        ),
    ] {
        let e = err_text(&eval(&mut c, script, &[], &[]));
        assert!(e.starts_with(&format!("{text} script: ")), "{script}: {e}");
    }
    assert_eq!(
        eval(&mut c, "return redis.error_reply('My Error')", &[], &[]),
        Value::Error(b"My Error".to_vec())
    );
    assert_eq!(
        eval(&mut c, "return redis.error_reply('x')", &[], &[]),
        Value::Error(b"ERR x".to_vec())
    );
    assert_eq!(
        eval(&mut c, "return redis.status_reply('FINE')", &[], &[]),
        Value::Simple(b"FINE".to_vec())
    );
    assert_eq!(
        err_text(&eval(&mut c, "return 'x' ..", &[], &[])),
        "ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'"
    );
    assert_eq!(
        err_text(&call(&mut c, &["EVAL", "return 1", "2", "a"])),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        err_text(&call(&mut c, &["EVAL", "return 1", "-1"])),
        "ERR Number of keys can't be negative"
    );
    // SELECT inside a script does not move the caller.
    call(&mut c, &["SET", "here", "0"]);
    eval(
        &mut c,
        "redis.call('select', 1) redis.call('set', 'there', 1)",
        &[],
        &[],
    );
    assert_eq!(call(&mut c, &["GET", "here"]), bulk("0"));
    assert_eq!(int(&mut c, &["EXISTS", "there"]), 0);
}
each_backend!(conversions_and_errors_as_redis, conversions_and_errors);

/// What a script sees and may not do: protected globals, no os/io/loadfile/require/print.
fn sandbox(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    for (script, text) in [
        (
            "a=1",
            "ERR user_script:1: Attempt to modify a readonly table",
        ),
        (
            "return b",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'b'",
        ),
        (
            "os.exit()",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'os'",
        ),
        (
            "return io",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'io'",
        ),
        (
            "return loadfile",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile'",
        ),
        (
            "return require",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'require'",
        ),
        (
            "return print",
            "ERR user_script:1: Script attempted to access nonexistent global variable 'print'",
        ),
        (
            "redis.call = nil",
            "ERR user_script:1: Attempt to modify a readonly table",
        ),
        (
            "cjson.encode = 1",
            "ERR user_script:1: Attempt to modify a readonly table",
        ),
        (
            "rawset(_G, 'x', 1)",
            "ERR Attempt to modify a readonly table",
        ),
        (
            "setmetatable(_G, nil)",
            "ERR Attempt to modify a readonly table",
        ),
    ] {
        let e = err_text(&eval(&mut c, script, &[], &[]));
        assert!(e.starts_with(&format!("{text} script: ")), "{script}: {e}");
    }
    assert_eq!(
        eval(&mut c, "return string.rep('x', 3)", &[], &[]),
        bulk("xxx")
    );
    assert_eq!(
        eval(&mut c, "return _G.redis.REDIS_VERSION ~= nil", &[], &[]),
        Value::Int(1)
    );
    assert_eq!(
        eval(&mut c, "return loadstring('return 7')()", &[], &[]),
        Value::Int(7)
    );
    assert_eq!(
        eval(
            &mut c,
            "return tostring(loadstring(string.dump(function() end)))",
            &[],
            &[]
        ),
        bulk("nil"),
        "bytecode is refused"
    );
    // math.random runs on across scripts (Redis 7.0 does not reseed it per script).
    let a = eval(&mut c, "return tostring(math.random())", &[], &[]);
    let b = eval(&mut c, "return tostring(math.random())", &[], &[]);
    assert_ne!(a, b);
    let e = err_text(&eval(&mut c, "return math.random(0)", &[], &[]));
    assert!(
        e.starts_with("ERR user_script:1: bad argument #1 to 'random' (interval is empty)"),
        "{e}"
    );
}
each_backend!(sandbox_as_redis, sandbox);

/// cjson, cmsgpack, bit, struct: outputs byte for byte as Redis's.
fn libraries(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    for (script, want) in [
        ("return cjson.encode({})", "{}"),
        (
            "return cjson.encode({1,2.5,'a',{x=1}, 1e20, 0.1, 3.14159265358979})",
            "[1,2.5,\"a\",{\"x\":1},1e+20,0.1,3.1415926535898]",
        ),
        ("return cjson.encode({[1]=1,[3]=3})", "[1,null,3]"),
        ("return cjson.encode({a='x\"/\\n', b=cjson.null})", "{\"a\":\"x\\\"\\/\\n\",\"b\":null}"),
        ("return cjson.encode(cjson.decode('[1,2,{\"a\":null}]'))", "[1,2,{\"a\":null}]"),
        ("return tostring(cjson.decode('{\"a\":1.5e3}').a)", "1500"),
        ("return redis.sha1hex('')", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        (
            "return bit.band(0xff, 0x0f) .. ' ' .. bit.tohex(255) .. ' ' .. bit.tohex(-1, -4) .. ' ' .. bit.lshift(1, 31) .. ' ' .. bit.tobit(2^32+5)",
            "15 000000ff FFFF -2147483648 5",
        ),
        ("return struct.pack('>I2', 258)", "\u{1}\u{2}"),
    ] {
        assert_eq!(eval(&mut c, script, &[], &[]), bulk(want), "{script}");
    }
    assert_eq!(
        eval(
            &mut c,
            "return cmsgpack.pack({1,2,'a',{x=1},1.5,-1,300,true})",
            &[],
            &[]
        ),
        Value::Bulk(b"\x98\x01\x02\xa1a\x81\xa1x\x01\xca?\xc0\x00\x00\xff\xcd\x01,\xc3".to_vec())
    );
    assert_eq!(
        eval(
            &mut c,
            "return {cmsgpack.unpack(cmsgpack.pack({1,2,3}, 'abc', -100000, 2^40))}",
            &[],
            &[]
        ),
        Value::Array(vec![
            Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
            bulk("abc"),
            Value::Int(-100000),
            Value::Int(1 << 40),
        ])
    );
    assert_eq!(
        eval(
            &mut c,
            "return {struct.unpack('>I2i4', struct.pack('>I2i4', 258, -5))}",
            &[],
            &[]
        ),
        Value::Array(vec![Value::Int(258), Value::Int(-5), Value::Int(7)])
    );
    for (script, text) in [
        (
            "return cjson.encode({[1]=1,[2]=2,[100]=3})",
            "ERR user_script:1: Cannot serialise table: excessively sparse array",
        ),
        (
            "return cjson.encode(1/0)",
            "ERR user_script:1: Cannot serialise number: must not be NaN or Inf",
        ),
        (
            "return cjson.decode('[1,2')",
            "ERR user_script:1: Expected comma or array end but found T_END at character 5",
        ),
        (
            "return cjson.decode('x')",
            "ERR user_script:1: Expected value but found invalid token at character 1",
        ),
    ] {
        let e = err_text(&eval(&mut c, script, &[], &[]));
        assert!(e.starts_with(&format!("{text} script: ")), "{script}: {e}");
    }
    assert_eq!(
        eval(&mut c, "return {pcall(cjson.encode, 1/0)}", &[], &[]),
        Value::Array(vec![
            Value::NilBulk,
            bulk("Cannot serialise number: must not be NaN or Inf")
        ]),
        "called by pcall directly, a library error has no position"
    );
}
each_backend!(libraries_as_redis, libraries);

/// RESP3: a script under redis.setresp(3) sees maps, sets, doubles, booleans, nulls; what it
/// returns is written in the caller's protocol.
fn resp3(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    call(&mut c, &["HSET", "h", "f", "v"]);
    call(&mut c, &["SADD", "st", "m"]);
    call(&mut c, &["ZADD", "z", "1.5", "a"]);
    let script = "redis.setresp(3)
        local m = redis.call('hgetall', 'h')
        local s = redis.call('smembers', 'st')
        local d = redis.call('zscore', 'z', 'a')
        local n = redis.call('get', 'nokey')
        return {m.map.f, tostring(s.set.m), tostring(d.double), type(n), redis.call('exists', 'h')}";
    assert_eq!(
        eval(&mut c, script, &[], &[]),
        Value::Array(vec![
            bulk("v"),
            bulk("true"),
            bulk("1.5"),
            bulk("nil"),
            Value::Int(1)
        ])
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3) return redis.call('hgetall', 'h')",
            &[],
            &[]
        ),
        Value::Array(vec![bulk("f"), bulk("v")]),
        "a map reaches a RESP2 caller flattened"
    );
    assert_eq!(
        eval(&mut c, "return {double=1.5}", &[], &[]),
        bulk("1.5"),
        "a double reaches a RESP2 caller as a bulk string"
    );
    assert_eq!(
        eval(&mut c, "redis.setresp(3) return false", &[], &[]),
        Value::Int(0),
        "a RESP3 script's false reaches a RESP2 caller as 0"
    );
    assert_eq!(eval(&mut c, "return false", &[], &[]), Value::NilBulk);
    // A RESP3 caller gets the RESP3 types.
    let mut r = redis::Client::open(format!("redis://{}/?protocol=resp3", srv.addr))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    let v: redis::Value = redis::cmd("EVAL")
        .arg("redis.setresp(3) return {redis.call('hgetall', 'h'), true, {double=2.5}}")
        .arg(0)
        .query(&mut r)
        .unwrap();
    assert_eq!(
        v,
        redis::Value::Array(vec![
            redis::Value::Map(vec![(
                redis::Value::BulkString(b"f".to_vec()),
                redis::Value::BulkString(b"v".to_vec())
            )]),
            redis::Value::Boolean(true),
            redis::Value::Double(2.5),
        ])
    );
}
each_backend!(resp3_conversions_as_redis, resp3);

/// SCRIPT LOAD/EXISTS/FLUSH, EVALSHA (any case) and NOSCRIPT.
fn script_cache(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
    assert_eq!(call(&mut c, &["SCRIPT", "LOAD", "return 42"]), bulk(sha));
    assert_eq!(call(&mut c, &["EVALSHA", sha, "0"]), Value::Int(42));
    assert_eq!(
        call(&mut c, &["EVALSHA", &sha.to_uppercase(), "0"]),
        Value::Int(42)
    );
    assert_eq!(
        call(
            &mut c,
            &[
                "SCRIPT",
                "EXISTS",
                sha,
                "ffffffffffffffffffffffffffffffffffffffff"
            ]
        ),
        Value::Array(vec![Value::Int(1), Value::Int(0)])
    );
    assert_eq!(call(&mut c, &["SCRIPT", "FLUSH"]), ok());
    assert_eq!(
        err_text(&call(&mut c, &["EVALSHA", sha, "0"])),
        "NOSCRIPT No matching script. Please use EVAL."
    );
    assert_eq!(
        err_text(&call(&mut c, &["SCRIPT", "FLUSH", "bad"])),
        "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
    );
    assert_eq!(
        err_text(&call(&mut c, &["SCRIPT", "KILL"])),
        "NOTBUSY No scripts in execution right now."
    );
    // EVAL caches what it ran.
    eval(&mut c, "return 42", &[], &[]);
    assert_eq!(call(&mut c, &["EVALSHA", sha, "0"]), Value::Int(42));
    assert_eq!(
        err_text(&call(&mut c, &["SCRIPT", "LOAD", "return +"])),
        "ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'"
    );
}
each_backend!(script_cache_as_redis, script_cache);

/// Read-only commands and script flags.
fn flags_and_read_only(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    let e = err_text(&call(
        &mut c,
        &["EVAL_RO", "return redis.call('set','x','1')", "0"],
    ));
    assert!(
        e.starts_with("ERR Write commands are not allowed from read-only scripts. script: "),
        "{e}"
    );
    assert_eq!(
        call(&mut c, &["EVAL_RO", "return redis.call('get','x')", "0"]),
        Value::NilBulk
    );
    assert_eq!(
        err_text(&call(&mut c, &["EVAL_RO", "#!lua\nreturn 1", "0"])),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    assert_eq!(
        call(&mut c, &["EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0"]),
        Value::Int(1)
    );
    let e = err_text(&eval(
        &mut c,
        "#!lua flags=no-writes\nreturn redis.call('set','x','1')",
        &[],
        &[],
    ));
    assert!(e.ends_with(", on @user_script:2."), "{e}");
    for (script, text) in [
        (
            "#!lua flags=bad\nreturn 1",
            "ERR Unexpected flag in script shebang: bad",
        ),
        (
            "#!foo\nreturn 1",
            "ERR Unexpected engine in script shebang: #!foo",
        ),
        (
            "#!lua foo=bar\nreturn 1",
            "ERR Unknown lua shebang option: foo=bar",
        ),
    ] {
        assert_eq!(err_text(&eval(&mut c, script, &[], &[])), text);
    }
    assert_eq!(int(&mut c, &["EXISTS", "x"]), 0, "nothing was written");
    let sha: String = String::from_utf8(
        call(
            &mut c,
            &["SCRIPT", "LOAD", "return redis.call('get', KEYS[1])"],
        )
        .as_bytes()
        .unwrap()
        .to_vec(),
    )
    .unwrap();
    call(&mut c, &["SET", "x", "y"]);
    assert_eq!(call(&mut c, &["EVALSHA_RO", &sha, "1", "x"]), bulk("y"));
}
each_backend!(flags_and_read_only_as_redis, flags_and_read_only);

/// The `redis` crate's `Script` (EVALSHA first, EVAL on NOSCRIPT) as a lock library uses it.
fn redis_crate_script(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut r = redis_client(srv.addr);
    let release = redis::Script::new(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
    );
    let acquired: Option<String> = redis::cmd("SET")
        .arg("lock")
        .arg("token-1")
        .arg("NX")
        .arg("PX")
        .arg(30000)
        .query(&mut r)
        .unwrap();
    assert_eq!(acquired.as_deref(), Some("OK"));
    let wrong: i64 = release.key("lock").arg("token-2").invoke(&mut r).unwrap();
    assert_eq!(wrong, 0, "another owner's token does not release");
    let released: i64 = release.key("lock").arg("token-1").invoke(&mut r).unwrap();
    assert_eq!(released, 1);
    let exists: bool = redis::cmd("EXISTS").arg("lock").query(&mut r).unwrap();
    assert!(!exists);
    // After SCRIPT FLUSH the helper falls back to EVAL and loads it again.
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut r).unwrap();
    let incr = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
    let v: i64 = incr.key("counter").arg(5).invoke(&mut r).unwrap();
    assert_eq!(v, 5);
    let v: i64 = incr.key("counter").arg(2).invoke(&mut r).unwrap();
    assert_eq!(v, 7);
}
each_backend!(redis_crate_script_helper_as_redis, redis_crate_script);

const LIB: &str = "#!lua name=mylib
redis.register_function('incr_by', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)
redis.register_function{function_name='peek', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}";

/// FUNCTION LOAD/LIST/DELETE/DUMP/RESTORE/STATS and FCALL/FCALL_RO.
fn functions(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    assert_eq!(call(&mut c, &["FUNCTION", "LOAD", LIB]), bulk("mylib"));
    assert_eq!(
        err_text(&call(&mut c, &["FUNCTION", "LOAD", LIB])),
        "ERR Library 'mylib' already exists"
    );
    assert_eq!(
        call(&mut c, &["FUNCTION", "LOAD", "REPLACE", LIB]),
        bulk("mylib")
    );
    assert_eq!(
        call(&mut c, &["FCALL", "incr_by", "1", "n", "3"]),
        Value::Int(3)
    );
    assert_eq!(call(&mut c, &["FCALL_RO", "peek", "1", "n"]), bulk("3"));
    assert_eq!(
        err_text(&call(&mut c, &["FCALL_RO", "incr_by", "1", "n", "3"])),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    assert_eq!(
        err_text(&call(&mut c, &["FCALL", "nope", "0"])),
        "ERR Function not found"
    );
    for (code, text) in [
        ("return 1", "ERR Missing library metadata"),
        ("#!lua\nreturn 1", "ERR Library name was not given"),
        ("#!lua name=a-b\nreturn 1", "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
        ("#!foo name=x\nreturn 1", "ERR Engine 'foo' not found"),
        ("#!lua name=x\nreturn 1", "ERR No functions registered"),
        ("#!lua name=y\nredis.register_function('peek', function() end)", "ERR Function peek already exists"),
        ("#!lua name=y\nredis.call('ping')", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"),
        ("#!lua name=y\nreturn 1 +", "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'"),
        ("#!lua name=y\nredis.register_function{function_name='z', callback=function() end, flags={'bad'}}", "ERR Error registering functions: ERR unknown flag given"),
    ] {
        assert_eq!(err_text(&call(&mut c, &["FUNCTION", "LOAD", code])), text, "{code}");
    }
    let list = call(&mut c, &["FUNCTION", "LIST", "WITHCODE"]);
    let text = format!("{list}");
    assert!(
        text.contains("mylib") && text.contains("reads") && text.contains("no-writes"),
        "{text}"
    );
    let dump = call(&mut c, &["FUNCTION", "DUMP"]);
    let payload = dump.as_bytes().expect("a payload").to_vec();
    assert_eq!(call(&mut c, &["FUNCTION", "FLUSH"]), ok());
    assert_eq!(
        err_text(&call(&mut c, &["FCALL", "peek", "1", "n"])),
        "ERR Function not found"
    );
    let mut restore = Conn::connect(srv.addr).unwrap();
    let v = restore
        .call(&[b"FUNCTION".to_vec(), b"RESTORE".to_vec(), payload.clone()])
        .unwrap();
    assert_eq!(v, ok());
    assert_eq!(call(&mut c, &["FCALL", "peek", "1", "n"]), bulk("3"));
    let v = restore
        .call(&[b"FUNCTION".to_vec(), b"RESTORE".to_vec(), payload])
        .unwrap();
    assert_eq!(err_text(&v), "ERR Library 'mylib' already exists");
    let mut bad = b"garbage-payload".to_vec();
    bad.push(0);
    let v = restore
        .call(&[b"FUNCTION".to_vec(), b"RESTORE".to_vec(), bad])
        .unwrap();
    assert_eq!(err_text(&v), "ERR payload version or checksum are wrong");
    let stats = format!("{}", call(&mut c, &["FUNCTION", "STATS"]));
    assert!(
        stats.contains("libraries_count") && stats.contains("functions_count"),
        "{stats}"
    );
    assert_eq!(call(&mut c, &["FUNCTION", "DELETE", "mylib"]), ok());
    assert_eq!(
        err_text(&call(&mut c, &["FUNCTION", "DELETE", "mylib"])),
        "ERR Library not found"
    );
}
each_backend!(functions_as_redis, functions);

// ------------------------------------------------------------------------------------------
// The log

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("readyloop-script-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    /// Every file of the log, concatenated in name order (base before increments).
    fn log_text(&self) -> String {
        let dir = self.0.join("appendonlydir");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "aof"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
            .collect()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(backend: Backend, dir: &TempDir) -> ServerProcess {
    let d = dir.0.display().to_string();
    let args: Vec<String> = [
        "kv",
        "--backend",
        backend.name(),
        "--port",
        "0",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &d,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ServerProcess::spawn(readyloop_bin(), &args).expect("kv with a log starts")
}

/// A script's writes are logged as one MULTI block of the commands it ran (never EVAL); a
/// read-only script and REPL_NONE writes are not logged; functions survive a restart and a
/// rewrite.
fn logged_as_effects(backend: Backend) {
    if super::kv_util::testing_redis_itself() {
        return;
    }
    let dir = TempDir::new(&format!("log-{}", backend.name()));
    {
        let s = start(backend, &dir);
        let mut c = connect(s.addr);
        eval(&mut c, "redis.call('set', KEYS[1], 'v') redis.call('rpush', 'l', 'a', 'b') return redis.call('incr', 'n')", &["k"], &[]);
        eval(&mut c, "return redis.call('get', 'k')", &[], &[]);
        eval(
            &mut c,
            "redis.set_repl(redis.REPL_NONE) redis.call('set', 'unlogged', 1)",
            &[],
            &[],
        );
        assert_eq!(call(&mut c, &["FUNCTION", "LOAD", LIB]), bulk("mylib"));
        assert_eq!(
            call(&mut c, &["FCALL", "incr_by", "1", "fn", "4"]),
            Value::Int(4)
        );
        let log = dir.log_text();
        assert!(!log.contains("EVAL") && !log.contains("FCALL"), "{log}");
        let m = log.find("MULTI").expect("a MULTI record");
        let set = log.find("\r\nSET\r\n").expect("the SET");
        let incr = log.find("\r\nINCR\r\n").expect("the INCR");
        let e = log.find("EXEC").expect("an EXEC record");
        assert!(m < set && set < incr && incr < e, "{log}");
        assert_eq!(
            log.matches("MULTI").count(),
            2,
            "one block per writing script: {log}"
        );
        assert!(
            !log.contains("unlogged"),
            "REPL_NONE writes stay out of the log: {log}"
        );
        assert!(log.contains("FUNCTION") && log.contains("mylib"), "{log}");
    }
    {
        let s = start(backend, &dir);
        let mut c = connect(s.addr);
        assert_eq!(call(&mut c, &["GET", "k"]), bulk("v"));
        assert_eq!(call(&mut c, &["GET", "n"]), bulk("1"));
        assert_eq!(int(&mut c, &["LLEN", "l"]), 2);
        assert_eq!(
            call(&mut c, &["FCALL", "incr_by", "1", "fn", "1"]),
            Value::Int(5)
        );
        assert!(!call(&mut c, &["BGREWRITEAOF"]).is_error());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let info = call(&mut c, &["INFO", "persistence"]);
            let t = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
            if t.contains("aof_rewrite_in_progress:0") && t.contains("aof_rewrite_scheduled:0") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "rewrite did not finish"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let s = start(backend, &dir);
    let mut c = connect(s.addr);
    assert_eq!(
        call(&mut c, &["FCALL_RO", "peek", "1", "fn"]),
        bulk("5"),
        "functions survive a rewrite"
    );
    assert_eq!(call(&mut c, &["GET", "k"]), bulk("v"));
}
each_backend!(script_effects_logged_as_multi_blocks, logged_as_effects);
