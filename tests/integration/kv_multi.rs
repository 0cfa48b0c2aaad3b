//! Transactions (MULTI/EXEC/DISCARD/WATCH/UNWATCH) and RESET on every backend: optimistic
//! locking raced by two clients, what aborts a watched EXEC (expiry, FLUSHALL, SWAPDB, a
//! write by anyone), EXECABORT, blocking commands inside EXEC, RESET leaving pub/sub; and the
//! log: a transaction is logged as a MULTI block, a torn block is reverted at start and by
//! check-aof, and pops of clients a push served survive a restart.
//!
//! `KV_UNDER_TEST=redis` runs the non-log tests against redis-server itself.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reactor::Backend;

use super::kv_util::{bulk, call, connect, int, kv, Conn, Value};
use super::util::{readyloop_bin, run_cmd, ServerProcess};

fn ok() -> Value {
    Value::Simple(b"OK".to_vec())
}

fn queued() -> Value {
    Value::Simple(b"QUEUED".to_vec())
}

fn redis_client(addr: std::net::SocketAddr) -> redis::Connection {
    redis::Client::open(format!("redis://{addr}/"))
        .expect("url")
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("connects")
}

/// Two clients increment one counter with WATCH/GET/MULTI/SET/EXEC. Every EXEC that answers
/// an array applied its SET; every one that answers nil lost a race and changed nothing; so
/// the counter ends at exactly the number of successful EXECs, and with two racers some
/// EXECs must have been aborted or run strictly in turn. Bounded by rounds and by time.
fn optimistic_increments(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = redis_client(srv.addr);
    let _: () = redis::cmd("SET")
        .arg("counter")
        .arg(0)
        .query(&mut c)
        .unwrap();
    const ROUNDS: usize = 300;
    let deadline = Instant::now() + Duration::from_secs(20);
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let addr = srv.addr;
            std::thread::spawn(move || {
                let mut c = redis_client(addr);
                let (mut done, mut aborted) = (0u64, 0u64);
                for _ in 0..ROUNDS {
                    assert!(Instant::now() < deadline, "the race did not finish in time");
                    let _: () = redis::cmd("WATCH").arg("counter").query(&mut c).unwrap();
                    let v: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
                    let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
                    let q: String = redis::cmd("SET")
                        .arg("counter")
                        .arg(v + 1)
                        .query(&mut c)
                        .unwrap();
                    assert_eq!(q, "QUEUED");
                    match redis::cmd("EXEC").query::<redis::Value>(&mut c).unwrap() {
                        redis::Value::Nil => aborted += 1,
                        redis::Value::Array(r) => {
                            assert_eq!(r, vec![redis::Value::Okay]);
                            done += 1;
                        }
                        other => panic!("EXEC answered {other:?}"),
                    }
                }
                (done, aborted)
            })
        })
        .collect();
    let (mut done, mut aborted) = (0, 0);
    for w in workers {
        let (d, a) = w.join().expect("worker");
        done += d;
        aborted += a;
    }
    assert_eq!(done + aborted, 2 * ROUNDS as u64);
    assert!(
        done >= ROUNDS as u64 / 10,
        "hardly any EXEC succeeded: {done}"
    );
    let v: i64 = redis::cmd("GET").arg("counter").query(&mut c).unwrap();
    assert_eq!(
        v as u64, done,
        "the counter must equal the successful EXECs ({aborted} aborted)"
    );
}
each_backend!(watch_multi_races_between_clients, optimistic_increments);

/// WATCH k; `touch` runs on another connection; MULTI; INCR x; EXEC: nil expected iff
/// `aborts`.
fn watch_then(c: &mut Conn, other: &mut Conn, key: &str, touch: &[&str], aborts: bool) {
    assert_eq!(call(c, &["WATCH", key]), ok());
    call(other, touch);
    assert_eq!(call(c, &["MULTI"]), ok());
    assert_eq!(call(c, &["INCR", "x"]), queued());
    let r = call(c, &["EXEC"]);
    if aborts {
        assert_eq!(r, Value::NilArray, "{touch:?} must abort EXEC");
    } else {
        assert!(
            matches!(&r, Value::Array(v) if v.len() == 1),
            "{touch:?} must not abort EXEC: {r}"
        );
    }
}

fn what_aborts(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    let mut o = connect(srv.addr);
    call(&mut o, &["SET", "k", "1"]);
    // Any write by anyone, even one that leaves the value as it was.
    watch_then(&mut c, &mut o, "k", &["SET", "k", "1"], true);
    watch_then(&mut c, &mut o, "k", &["EXPIRE", "k", "100"], true);
    watch_then(&mut c, &mut o, "k", &["PERSIST", "k"], true);
    watch_then(&mut c, &mut o, "k", &["RENAME", "k", "k2"], true);
    watch_then(&mut c, &mut o, "k2", &["DEL", "k2"], true);
    // No change: a read, a DEL of a missing key, writes to other keys, a no-op SREM.
    call(&mut o, &["SADD", "s", "a"]);
    watch_then(&mut c, &mut o, "s", &["SMEMBERS", "s"], false);
    watch_then(&mut c, &mut o, "s", &["SREM", "s", "zz"], false);
    watch_then(&mut c, &mut o, "s", &["SADD", "s", "a"], false);
    watch_then(&mut c, &mut o, "nokey", &["DEL", "nokey"], false);
    watch_then(&mut c, &mut o, "s", &["SET", "other", "1"], false);
    watch_then(&mut c, &mut o, "s", &["SADD", "s", "b"], true);
    watch_then(&mut c, &mut o, "s", &["LPUSH", "s", "b"], false);
    // Writes that leave the value as it was still count when Redis signals them (HSET,
    // LTRIM, APPEND of nothing, INCRBY 0), not when it returns early (RENAME to itself,
    // SETRANGE of nothing, EXPIRE NX on a key with a deadline).
    call(&mut o, &["HSET", "h", "f", "v"]);
    watch_then(&mut c, &mut o, "h", &["HSET", "h", "f", "v"], true);
    call(&mut o, &["RPUSH", "l", "a"]);
    watch_then(&mut c, &mut o, "l", &["LTRIM", "l", "0", "-1"], true);
    call(&mut o, &["SET", "n", "5", "EX", "100"]);
    watch_then(&mut c, &mut o, "n", &["APPEND", "n", ""], true);
    watch_then(&mut c, &mut o, "n", &["INCRBY", "n", "0"], true);
    watch_then(&mut c, &mut o, "n", &["RENAME", "n", "n"], false);
    watch_then(&mut c, &mut o, "n", &["SETRANGE", "n", "0", ""], false);
    watch_then(&mut c, &mut o, "n", &["EXPIRE", "n", "100", "NX"], false);
    // Flushes abort for a key that existed, not for one that stays absent.
    watch_then(&mut c, &mut o, "s", &["FLUSHALL"], true);
    watch_then(&mut c, &mut o, "s", &["FLUSHDB"], false);
    call(&mut o, &["SET", "a", "1"]);
    watch_then(&mut c, &mut o, "a", &["FLUSHDB", "ASYNC"], true);
    // SWAPDB: the watched key of database 0 now reads database 1's (absent → present).
    call(&mut o, &["SELECT", "1"]);
    call(&mut o, &["SET", "w", "1"]);
    watch_then(&mut c, &mut o, "w", &["SWAPDB", "0", "1"], true);
    // The watcher's own writes count too; UNWATCH and an EXEC or DISCARD forget the watch.
    call(&mut c, &["WATCH", "w"]);
    call(&mut c, &["SET", "w", "2"]);
    call(&mut c, &["MULTI"]);
    assert_eq!(call(&mut c, &["EXEC"]), Value::NilArray);
    call(&mut c, &["WATCH", "w"]);
    call(&mut c, &["SET", "w", "2"]);
    call(&mut c, &["UNWATCH"]);
    call(&mut c, &["MULTI"]);
    assert_eq!(call(&mut c, &["EXEC"]), Value::Array(vec![]));
    // A watched key whose deadline passes aborts EXEC (Redis 7.0), whether expiry removed it
    // already or not.
    call(&mut c, &["SET", "t", "1", "PX", "40"]);
    call(&mut c, &["WATCH", "t"]);
    std::thread::sleep(Duration::from_millis(80));
    call(&mut c, &["MULTI"]);
    call(&mut c, &["PING"]);
    assert_eq!(call(&mut c, &["EXEC"]), Value::NilArray);
    // RESP3 writes the aborted EXEC as null.
    call(&mut c, &["HELLO", "3"]);
    watch_then(&mut c, &mut o, "w", &["SET", "w", "3"], false);
    call(&mut c, &["SELECT", "0"]);
    call(&mut c, &["WATCH", "w"]);
    call(&mut o, &["SELECT", "0"]);
    call(&mut o, &["SET", "w", "3"]);
    call(&mut c, &["MULTI"]);
    assert_eq!(call(&mut c, &["EXEC"]), Value::Null);
}
each_backend!(watched_keys_abort_exec_on_any_change, what_aborts);

fn errors(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    let err = |s: &str| Value::Error(s.as_bytes().to_vec());
    assert_eq!(call(&mut c, &["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(call(&mut c, &["DISCARD"]), err("ERR DISCARD without MULTI"));
    assert_eq!(call(&mut c, &["MULTI"]), ok());
    assert_eq!(
        call(&mut c, &["MULTI"]),
        err("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        call(&mut c, &["WATCH", "a"]),
        err("ERR WATCH inside MULTI is not allowed")
    );
    // Neither of those spoils the transaction; runtime errors stay per command.
    assert_eq!(call(&mut c, &["SET", "l", "v"]), queued());
    assert_eq!(call(&mut c, &["LPUSH", "l", "x"]), queued());
    assert_eq!(call(&mut c, &["GET", "l"]), queued());
    let r = call(&mut c, &["EXEC"]);
    let Value::Array(v) = r else { panic!("{r}") };
    assert_eq!(v[0], ok());
    assert!(v[1].is_error(), "{}", v[1]);
    assert_eq!(v[2], bulk("v"));
    // A refused command (arity, unknown name) discards the whole transaction at EXEC.
    call(&mut c, &["MULTI"]);
    assert_eq!(call(&mut c, &["SET", "n", "1"]), queued());
    assert!(call(&mut c, &["GET"]).is_error());
    assert!(call(&mut c, &["NOSUCHCOMMAND", "x"]).is_error());
    assert_eq!(
        call(&mut c, &["EXEC"]),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(int(&mut c, &["EXISTS", "n"]), 0);
    // DISCARD drops the queue.
    call(&mut c, &["MULTI"]);
    call(&mut c, &["SET", "n", "1"]);
    assert_eq!(call(&mut c, &["DISCARD"]), ok());
    assert_eq!(int(&mut c, &["EXISTS", "n"]), 0);
    // Blocking commands inside EXEC answer at once as if timed out.
    call(&mut c, &["MULTI"]);
    call(&mut c, &["BLPOP", "empty", "0"]);
    call(&mut c, &["BLMOVE", "empty", "d", "LEFT", "LEFT", "0"]);
    call(&mut c, &["BZPOPMIN", "emptyz", "0"]);
    call(&mut c, &["RPUSH", "q", "a"]);
    call(&mut c, &["BRPOP", "q", "0"]);
    let r = call(&mut c, &["EXEC"]);
    assert_eq!(
        r,
        Value::Array(vec![
            Value::NilArray,
            Value::NilBulk,
            Value::NilArray,
            Value::Int(1),
            Value::Array(vec![bulk("q"), bulk("a")]),
        ])
    );
}
each_backend!(transaction_errors_as_redis, errors);

/// At the memory limit EXEC is refused if it queued a memory-hungry command (the
/// transaction is discarded: EXECABORT ... because of: OOM), and inside MULTI every command
/// but EXEC/DISCARD/QUIT/RESET is refused, as Redis's processCommand does.
fn oom(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    let mut admin = connect(srv.addr);
    let oom = Value::Error(b"OOM command not allowed when used memory > 'maxmemory'.".to_vec());
    call(&mut c, &["MULTI"]);
    assert_eq!(call(&mut c, &["SET", "a", "1"]), queued());
    assert_eq!(call(&mut c, &["GET", "a"]), queued());
    assert_eq!(call(&mut admin, &["CONFIG", "SET", "maxmemory", "1"]), ok());
    assert_eq!(
        call(&mut c, &["EXEC"]),
        Value::Error(
            b"EXECABORT Transaction discarded because of: OOM command not allowed when used \
              memory > 'maxmemory'."
                .to_vec()
        )
    );
    assert_eq!(
        call(&mut c, &["EXEC"]),
        Value::Error(b"ERR EXEC without MULTI".to_vec())
    );
    assert_eq!(int(&mut c, &["EXISTS", "a"]), 0);
    call(&mut c, &["MULTI"]);
    assert_eq!(
        call(&mut c, &["GET", "a"]),
        oom,
        "a read queued at the limit"
    );
    assert_eq!(call(&mut c, &["DISCARD"]), ok());
    // Outside MULTI a read still runs.
    assert_eq!(call(&mut c, &["GET", "a"]), Value::NilBulk);
    assert_eq!(call(&mut admin, &["CONFIG", "SET", "maxmemory", "0"]), ok());
}
each_backend!(exec_at_the_memory_limit_as_redis, oom);

/// RESET discards the transaction, forgets the watches and leaves every channel and
/// pattern: a publish afterwards reaches nobody.
fn reset(backend: Backend) {
    let srv = kv(backend, &[]);
    let mut c = connect(srv.addr);
    let mut o = connect(srv.addr);
    call(&mut c, &["WATCH", "k"]);
    call(&mut c, &["MULTI"]);
    call(&mut c, &["SET", "k", "1"]);
    assert_eq!(call(&mut c, &["RESET"]), Value::Simple(b"RESET".to_vec()));
    assert_eq!(int(&mut c, &["EXISTS", "k"]), 0, "the queue was discarded");
    assert_eq!(
        call(&mut c, &["EXEC"]),
        Value::Error(b"ERR EXEC without MULTI".to_vec())
    );
    call(&mut o, &["SET", "k", "2"]);
    call(&mut c, &["MULTI"]);
    assert!(
        matches!(call(&mut c, &["EXEC"]), Value::Array(_)),
        "RESET forgot the watch"
    );
    // SUBSCRIBE queued in MULTI subscribes at EXEC; the GET after it in the same block
    // still runs (the subscribed context is checked when commands are queued, as Redis).
    call(&mut c, &["MULTI"]);
    assert_eq!(call(&mut c, &["SUBSCRIBE", "ch"]), queued());
    assert_eq!(call(&mut c, &["GET", "k"]), queued());
    assert_eq!(
        call(&mut c, &["EXEC"]),
        Value::Array(vec![
            Value::Array(vec![bulk("subscribe"), bulk("ch"), Value::Int(1)]),
            bulk("2"),
        ])
    );
    assert!(call(&mut c, &["GET", "k"]).is_error(), "subscribed context");
    call(&mut c, &["PSUBSCRIBE", "p*"]);
    assert_eq!(call(&mut c, &["RESET"]), Value::Simple(b"RESET".to_vec()));
    // Out of the subscribed context: any command runs again.
    assert_eq!(call(&mut c, &["GET", "k"]), bulk("2"));
    assert_eq!(int(&mut o, &["PUBLISH", "ch", "m"]), 0);
    assert_eq!(int(&mut o, &["PUBLISH", "pq", "m"]), 0);
    assert_eq!(int(&mut o, &["PUBSUB", "NUMPAT"]), 0);
    assert_eq!(
        call(&mut o, &["PUBSUB", "NUMSUB", "ch"]),
        Value::Array(vec![bulk("ch"), Value::Int(0)])
    );
    assert_eq!(call(&mut c, &["PING"]), Value::Simple(b"PONG".to_vec()));
}
each_backend!(reset_discards_unwatches_and_leaves_pubsub, reset);

// ------------------------------------------------------------------------------------------
// The log

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("readyloop-multi-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    fn incr_file(&self) -> PathBuf {
        self.0.join("appendonlydir/appendonly.aof.1.incr.aof")
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

/// Every key of database 0 with its type and contents, sorted (to compare across a restart).
fn keyspace(c: &mut Conn) -> Vec<String> {
    let keys = call(c, &["KEYS", "*"]);
    let mut out = Vec::new();
    for k in keys.items().expect("KEYS array") {
        let k = String::from_utf8(k.as_bytes().unwrap().to_vec()).unwrap();
        let t = call(c, &["TYPE", &k]);
        let v = match t.as_bytes().unwrap() {
            b"string" => call(c, &["GET", &k]),
            b"list" => call(c, &["LRANGE", &k, "0", "-1"]),
            b"zset" => call(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"]),
            b"set" => {
                let mut m: Vec<Value> = call(c, &["SMEMBERS", &k]).items().unwrap().to_vec();
                m.sort_by(|a, b| a.as_bytes().cmp(&b.as_bytes()));
                Value::Array(m)
            }
            b"hash" => call(c, &["HGETALL", &k]),
            other => panic!("type {other:?}"),
        };
        out.push(format!("{k} {t} {v}"));
    }
    out.sort();
    out
}

/// A transaction is logged as MULTI ... EXEC, a read-only one not at all; clients parked in
/// BLPOP/BLMOVE/BZPOPMIN that a later push served have their pops logged, SPOP its members,
/// and every collection write itself: after a restart the keyspace is what it was.
fn log_and_restart(backend: Backend) {
    let dir = TempDir::new(&format!("log-{}", backend.name()));
    let before = {
        let s = start(backend, &dir);
        let mut c = connect(s.addr);
        call(&mut c, &["MULTI"]);
        call(&mut c, &["GET", "nothing"]);
        call(&mut c, &["EXEC"]);
        let empty = std::fs::read(dir.incr_file()).unwrap();
        assert!(
            !String::from_utf8_lossy(&empty).contains("MULTI"),
            "a transaction that wrote nothing is not logged"
        );
        call(&mut c, &["MULTI"]);
        call(&mut c, &["SET", "a", "1"]);
        call(&mut c, &["RPUSH", "l", "x", "y", "z"]);
        call(&mut c, &["SELECT", "0"]);
        call(&mut c, &["EXEC"]);
        let log = String::from_utf8_lossy(&std::fs::read(dir.incr_file()).unwrap()).into_owned();
        let m = log.find("MULTI").expect("a MULTI record");
        let e = log.find("EXEC").expect("an EXEC record");
        assert!(m < log.find("RPUSH").unwrap() && log.find("RPUSH").unwrap() < e);
        // Parked clients, then the pushes that serve them.
        let mut parked: Vec<Conn> = Vec::new();
        for cmd in [
            &["BLPOP", "bl", "0"][..],
            &["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"],
            &["BZPOPMIN", "bz", "0"],
            &["BLMPOP", "0", "1", "bm", "RIGHT", "COUNT", "2"],
        ] {
            let mut p = connect(s.addr);
            p.send(
                &cmd.iter()
                    .map(|a| a.as_bytes().to_vec())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            parked.push(p);
        }
        // CLIENT LIST counts them blocked before the pushes (flags=b).
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let list = call(&mut c, &["CLIENT", "LIST"]);
            let text = String::from_utf8_lossy(list.as_bytes().unwrap()).into_owned();
            if text.lines().filter(|l| l.contains("cmd=b")).count() == 4 {
                break;
            }
            assert!(Instant::now() < deadline, "clients not parked: {text}");
            std::thread::sleep(Duration::from_millis(5));
        }
        call(&mut c, &["RPUSH", "bl", "1", "2"]);
        call(&mut c, &["RPUSH", "src", "s1", "s2"]);
        call(&mut c, &["ZADD", "bz", "1", "a", "2", "b"]);
        call(&mut c, &["RPUSH", "bm", "1", "2", "3"]);
        for p in &mut parked {
            let v = p.read().unwrap();
            assert!(!v.is_error() && v != Value::NilArray, "{v}");
        }
        // Every kind of collection write, on new and existing keys (the log once missed
        // them all: collection changes did not count as changes).
        for cmd in [
            &["HSET", "h", "a", "1", "b", "2", "c", "3"][..],
            &["HSET", "h", "a", "9"],
            &["HDEL", "h", "b"],
            &["HINCRBY", "h", "c", "4"],
            &["HINCRBYFLOAT", "h", "f", "1.5"],
            &["HSETNX", "h", "n", "1"],
            &["RPUSH", "li", "a", "b", "c", "b", "d"],
            &["LSET", "li", "0", "z"],
            &["LREM", "li", "1", "b"],
            &["LINSERT", "li", "BEFORE", "c", "y"],
            &["LTRIM", "li", "0", "3"],
            &["LPOP", "li"],
            &["ZADD", "zs", "1", "a", "2", "b", "3", "c", "4", "d"],
            &["ZINCRBY", "zs", "10", "a"],
            &["ZREM", "zs", "b"],
            &["ZREMRANGEBYSCORE", "zs", "3", "3"],
            &["ZPOPMAX", "zs"],
            &["SADD", "s1", "a", "b", "c"],
            &["SADD", "s2", "b", "c", "d"],
            &["SREM", "s1", "a"],
            &["SMOVE", "s2", "s1", "d"],
            &["SINTERSTORE", "si", "s1", "s2"],
            &["SUNIONSTORE", "su", "s1", "s2"],
            &["LMOVE", "li", "lj", "LEFT", "RIGHT"],
        ] {
            assert!(!call(&mut c, cmd).is_error(), "{cmd:?}");
        }
        call(&mut c, &["SADD", "st", "1", "2", "3", "4", "5", "6"]);
        call(&mut c, &["SPOP", "st", "3"]);
        call(&mut c, &["SPOP", "st"]);
        keyspace(&mut c)
    };
    let s = start(backend, &dir);
    let mut c = connect(s.addr);
    assert_eq!(keyspace(&mut c), before, "the keyspace after a restart");
    assert!(before.iter().any(|k| k.starts_with("bl ")), "{before:?}");
}
each_backend!(
    transactions_and_served_pops_survive_restart,
    log_and_restart
);

/// A log that ends inside a MULTI block (the crash hit between its records) is reverted to
/// before the MULTI at start, as Redis does, and check-aof --fix does the same.
fn torn_block(backend: Backend) {
    let dir = TempDir::new(&format!("torn-{}", backend.name()));
    {
        let s = start(backend, &dir);
        let mut c = connect(s.addr);
        call(&mut c, &["SET", "before", "1"]);
        call(&mut c, &["MULTI"]);
        call(&mut c, &["SET", "in1", "1"]);
        call(&mut c, &["SET", "in2", "1"]);
        call(&mut c, &["EXEC"]);
    }
    let log = std::fs::read(dir.incr_file()).unwrap();
    let exec = b"*1\r\n$4\r\nEXEC\r\n";
    assert!(log.ends_with(exec), "{}", String::from_utf8_lossy(&log));
    let multi_at = log
        .windows(15)
        .position(|w| w == b"*1\r\n$5\r\nMULTI\r\n")
        .expect("MULTI");
    // Lose the EXEC (a crash between the block's records): check-aof reports, --fix cuts.
    std::fs::write(dir.incr_file(), &log[..log.len() - exec.len()]).unwrap();
    let f = dir.incr_file().display().to_string();
    let check = run_cmd(readyloop_bin(), &["kv", "check-aof", &f]);
    let out = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(!check.status.success(), "{out}");
    assert!(out.contains(&format!("ok_up_to={multi_at}")), "{out}");
    assert!(out.contains("MULTI without EXEC"), "{out}");
    // Start-up reverts it by itself.
    {
        let s = start(backend, &dir);
        let mut c = connect(s.addr);
        assert_eq!(int(&mut c, &["EXISTS", "before", "in1", "in2"]), 1);
        assert_eq!(
            std::fs::metadata(dir.incr_file()).unwrap().len(),
            multi_at as u64
        );
        call(&mut c, &["SET", "after", "1"]);
    }
    let s = start(backend, &dir);
    let mut c = connect(s.addr);
    assert_eq!(int(&mut c, &["EXISTS", "before", "in1", "in2", "after"]), 2);
    drop(c);
    drop(s);
    // check-aof --fix on a block cut in its middle record.
    let mut log = std::fs::read(dir.incr_file()).unwrap();
    let len = log.len();
    log.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nz\r\n$1");
    std::fs::write(dir.incr_file(), &log).unwrap();
    let fix = run_cmd(readyloop_bin(), &["kv", "check-aof", "--fix", &f]);
    assert!(fix.status.success(), "{fix:?}");
    assert_eq!(
        std::fs::metadata(dir.incr_file()).unwrap().len(),
        len as u64
    );
}
each_backend!(torn_multi_block_is_reverted, torn_block);
