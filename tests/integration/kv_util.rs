//! Shared by the KV tests: start `readyloop kv`, reach it and `redis-server` over RESP.

use reactor::Backend;
pub use readyloop_harness::kvdiff::peer::{free_port, require, RedisServer};
pub use readyloop_harness::kvdiff::resp::{Conn, Value};
pub use readyloop_harness::kvdiff::{self, Pair, Runner};

use super::util::{readyloop_bin, ServerProcess};

/// `readyloop kv --backend B --port 0 EXTRA...` as a child process.
pub fn kv(backend: Backend, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = ["kv", "--backend", backend.name(), "--port", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::spawn(readyloop_bin(), &args)
        .unwrap_or_else(|e| panic!("`readyloop {}` did not start: {e}", args.join(" ")))
}

pub fn redis() -> RedisServer {
    RedisServer::start(&[]).unwrap_or_else(|e| panic!("{}\n({e})", kvdiff::peer::MISSING))
}

/// `Value` for a simple-string reply.
pub fn simple(s: &str) -> Value {
    Value::Simple(s.as_bytes().to_vec())
}

pub fn bulk(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

/// Send one command, expect a reply (any I/O error fails the test with the command named).
pub fn call(c: &mut Conn, args: &[&str]) -> Value {
    c.cmd(args)
        .unwrap_or_else(|e| panic!("{} to {}: {e}", args.join(" "), c.addr))
}

/// Integer reply of a command.
pub fn int(c: &mut Conn, args: &[&str]) -> i64 {
    let v = call(c, args);
    v.as_int()
        .unwrap_or_else(|| panic!("{}: expected an integer, got {v}", args.join(" ")))
}
