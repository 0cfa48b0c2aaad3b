//! Shared by the KV tests: start `readyloop kv`, reach it and `redis-server` over RESP.
//!
//! `KV_UNDER_TEST=redis` makes [`kv`] start `redis-server` instead of ours, which checks the
//! tests themselves: every KV test must pass against the real Redis.

use std::net::SocketAddr;

use reactor::Backend;
pub use readyloop_harness::kvdiff::peer::{free_port, require, RedisServer};
pub use readyloop_harness::kvdiff::resp::{Conn, Value};
pub use readyloop_harness::kvdiff::{self, Pair, Runner};

use super::util::{readyloop_bin, ServerProcess};

/// The server a KV test talks to; killed on drop.
pub struct UnderTest {
    pub addr: SocketAddr,
    inner: Inner,
}

enum Inner {
    Ours(ServerProcess),
    Redis(RedisServer),
}

impl UnderTest {
    pub fn pid(&self) -> u32 {
        match &self.inner {
            Inner::Ours(p) => p.pid(),
            Inner::Redis(r) => r.pid(),
        }
    }

    /// Its log so far (ours only: redis-server's output is discarded).
    pub fn log(&self) -> String {
        match &self.inner {
            Inner::Ours(p) => p.log(),
            Inner::Redis(_) => String::new(),
        }
    }

    /// True while the process is alive (not exited, not a zombie).
    pub fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .map(|s| {
                let state = s
                    .rsplit_once(')')
                    .map(|(_, r)| r.trim_start().chars().next());
                !matches!(state, Some(Some('Z')) | Some(Some('X')))
            })
            .unwrap_or(false)
    }
}

pub fn testing_redis_itself() -> bool {
    std::env::var("KV_UNDER_TEST").as_deref() == Ok("redis")
}

/// `readyloop kv --backend B --port 0 EXTRA...` as a child process (or redis-server, see above).
pub fn kv(backend: Backend, extra: &[&str]) -> UnderTest {
    if testing_redis_itself() {
        let r = RedisServer::start(extra)
            .unwrap_or_else(|e| panic!("{}\n({e})", kvdiff::peer::MISSING));
        return UnderTest {
            addr: r.addr,
            inner: Inner::Redis(r),
        };
    }
    let mut args: Vec<String> = ["kv", "--backend", backend.name(), "--port", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let p = ServerProcess::spawn(readyloop_bin(), &args)
        .unwrap_or_else(|e| panic!("`readyloop {}` did not start: {e}", args.join(" ")));
    UnderTest {
        addr: p.addr,
        inner: Inner::Ours(p),
    }
}

pub fn redis() -> RedisServer {
    RedisServer::start(&[]).unwrap_or_else(|e| panic!("{}\n({e})", kvdiff::peer::MISSING))
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

/// A fresh connection, PING answered (PONG, or MISCONF from a server whose log cannot be
/// written: Redis 7.0 refuses PING then, and the server is still up).
pub fn connect(addr: SocketAddr) -> Conn {
    let mut c = Conn::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let v = call(&mut c, &["PING"]);
    let misconf = matches!(&v, Value::Error(e) if e.starts_with(b"MISCONF "));
    assert!(
        v == Value::Simple(b"PONG".to_vec()) || misconf,
        "PING to {addr}: {v}"
    );
    c
}

/// xorshift64: kill and cut moments, reproducible from the seed a test prints on failure.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Which of the keys `k:W:from..k:W:to` a crash test's writer `w` set still exist (each must
/// hold its own sequence number).
pub fn present_seqs(c: &mut Conn, w: usize, from: u64, to: u64) -> std::collections::HashSet<u64> {
    let mut out = std::collections::HashSet::new();
    let mut at = from;
    while at < to {
        let end = (at + 500).min(to);
        let mut args = vec!["MGET".to_string()];
        args.extend((at..end).map(|s| format!("k:{w}:{s}")));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let items = call(c, &refs).items().expect("MGET array").to_vec();
        for (s, item) in (at..end).zip(items) {
            match item {
                Value::Bulk(b) => {
                    assert_eq!(b, s.to_string().into_bytes(), "k:{w}:{s} holds its seq");
                    out.insert(s);
                }
                Value::NilBulk => {}
                other => panic!("MGET k:{w}:{s}: {other}"),
            }
        }
        at = end;
    }
    out
}

/// A differential runner: seeded sequences from a generator set to `cfg`, sent to `redis` and
/// to `ours`.
pub fn diff_runner(
    ours: SocketAddr,
    redis: SocketAddr,
    cfg: readyloop_harness::kvdiff::gen::GenConfig,
) -> Runner {
    let mut r = Runner::new(Pair { redis, ours });
    r.cfg = cfg;
    r
}

/// Seeds `1..=KVDIFF_SEEDS` (`default_seeds` when unset) of 400 commands each must agree.
pub fn assert_seeds_agree(r: &Runner, what: &str, default_seeds: u64) {
    let seeds: u64 = std::env::var("KVDIFF_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seeds);
    let bad = r.run_seeds(1..=seeds, 400);
    assert!(
        bad.is_empty(),
        "{what}: {} seeds disagree:\n{}",
        bad.len(),
        kvdiff::report(&bad)
    );
}
