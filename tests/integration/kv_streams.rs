//! Streams on `readyloop kv`: replies compared with redis-server 7.0 command by command,
//! XREAD/XREADGROUP BLOCK parked on the loop on every backend, and the log: after SIGKILL
//! and restart (and after a rewrite) every acknowledged XADD and XACK is there and the
//! groups' state (XINFO STREAM FULL, idle times aside) is what it was.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reactor::Backend;

use super::kv_util::{call, connect, int, kv, redis, Conn, Value};
use super::util::{readyloop_bin, ServerProcess};

fn b(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

/// The reply with the parts that legitimately differ from Redis masked: the B-tree's
/// node count (Redis reports radix-tree internals) and anything time-valued.
fn masked(v: &Value) -> Value {
    const MASK_NEXT: &[&[u8]] = &[b"radix-tree-nodes", b"seen-time", b"idle"];
    match v {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut mask = false;
            for it in items {
                if mask {
                    out.push(Value::Simple(b"<masked>".to_vec()));
                    mask = false;
                    continue;
                }
                mask = matches!(it, Value::Bulk(k) if MASK_NEXT.contains(&k.as_slice()));
                out.push(masked(it));
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}

/// A scripted session with explicit IDs (so replies are deterministic), every reply
/// compared with redis-server's: errors, edge IDs, trimming, groups, PEL moves, lag.
const SCRIPT: &[&[&str]] = &[
    &["XADD", "s", "1-1", "a", "1", "b", "2"],
    &["XADD", "s", "1-1", "a", "1"],
    &["XADD", "s", "0-0", "a", "1"],
    &["XADD", "fresh", "0-0", "a", "1"],
    &["XADD", "s", "1-*", "c", "3"],
    &["XADD", "s", "5", "d", "4"],
    &["XADD", "s", "MAXLEN", "=", "10", "6-0", "e", "5"],
    &["XADD", "s", "NOMKSTREAM", "7-0", "f", "6", "g", "7"],
    &["XADD", "nos", "NOMKSTREAM", "1-0", "f", "6"],
    &["EXISTS", "nos"],
    &["XADD", "s", "LIMIT", "10", "8-0", "a", "1"],
    &["XADD", "s", "MAXLEN", "1", "LIMIT", "10", "8-0", "a", "1"],
    &["XADD", "s", "MAXLEN", "abc", "8-0", "a", "1"],
    &["XADD", "s", "MAXLEN", "-1", "8-0", "a", "1"],
    &["XADD", "s", "MAXLEN", "1", "MINID", "1", "8-0", "a", "1"],
    &["XADD", "s", "8-0", "a"],
    &["XADD", "s", "bad-id", "a", "1"],
    &["XADD", "s", "8-0", "a", "1", "b", "2", "c", "3"],
    &["XADD", "s", "9-0", "x", "1"],
    &["XLEN", "s"],
    &["XRANGE", "s", "-", "+"],
    &["XRANGE", "s", "(1-1", "+", "COUNT", "2"],
    &["XREVRANGE", "s", "+", "-", "COUNT", "3"],
    &["XREVRANGE", "s", "(5-0", "-"],
    &["XRANGE", "s", "-", "+", "COUNT", "0"],
    &["XRANGE", "s", "-", "+", "COUNT", "-3"],
    &["XRANGE", "s", "-", "(0-0"],
    &[
        "XRANGE",
        "s",
        "(18446744073709551615-18446744073709551615",
        "+",
    ],
    &["XRANGE", "s", "abc", "+"],
    &["XRANGE", "s", "5", "5"],
    &["XRANGE", "s", "-", "+", "LIMIT", "1"],
    &["XRANGE", "nokey", "-", "+"],
    &["XDEL", "s", "1-2", "99-0"],
    &["XDEL", "s", "bad"],
    &["XDEL", "nokey", "1-1"],
    &["XLEN", "s"],
    &["XINFO", "STREAM", "s"],
    &["XTRIM", "s", "MAXLEN", "6"],
    &["XTRIM", "s", "MINID", "6"],
    &["XTRIM", "s"],
    &["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "0"],
    &["XTRIM", "s", "FOO", "1"],
    &["XINFO", "STREAM", "s"],
    &["XADD", "s", "10-0", "a", "1"],
    &["XADD", "s", "11-0", "a", "2"],
    &["XADD", "s", "12-0", "a", "3"],
    &["XGROUP", "CREATE", "s", "g", "0"],
    &["XGROUP", "CREATE", "s", "g", "0"],
    &["XGROUP", "CREATE", "nokey", "g", "$"],
    &["XGROUP", "CREATE", "mk", "g", "$", "MKSTREAM"],
    &["XGROUP", "CREATE", "s", "late", "$", "ENTRIESREAD", "3"],
    &["XGROUP", "CREATE", "s", "bad", "$", "ENTRIESREAD", "-5"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "alice"],
    &["XGROUP", "CREATECONSUMER", "s", "g", "alice"],
    &["XGROUP", "CREATECONSUMER", "s", "nog", "alice"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ],
    &["XINFO", "GROUPS", "s"],
    &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        "10-0",
    ],
    &["XREADGROUP", "GROUP", "nog", "bob", "STREAMS", "s", ">"],
    &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", "$"],
    &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s"],
    &["XREAD", "STREAMS", "s", ">"],
    &["XREAD", "GROUP", "g", "c", "STREAMS", "s", "0"],
    &["XINFO", "GROUPS", "s"],
    &["XACK", "s", "g", "10-0"],
    &["XACK", "s", "g", "10-0", "11-0"],
    &["XACK", "s", "g", "bad"],
    &["XACK", "s", "nog", "10-0"],
    &["XPENDING", "s", "g"],
    &["XPENDING", "s", "nog"],
    &["XPENDING", "s", "g", "-", "+"],
    &["XPENDING", "s", "g", "-", "+", "0"],
    &["XPENDING", "s", "g", "IDLE", "x", "-", "+", "10"],
    &["XCLAIM", "s", "g", "alice", "0", "12-0", "JUSTID"],
    &["XPENDING", "s", "g"],
    &["XCLAIM", "s", "g", "alice", "0", "12-0", "BAD"],
    &["XCLAIM", "s", "g", "alice", "x", "12-0"],
    &["XCLAIM", "s", "g", "alice", "0", "12-0", "RETRYCOUNT", "x"],
    &["XCLAIM", "s", "nog", "alice", "0", "12-0"],
    &[
        "XCLAIM",
        "s",
        "g",
        "carol",
        "0",
        "11-0",
        "FORCE",
        "RETRYCOUNT",
        "7",
        "JUSTID",
    ],
    &[
        "XAUTOCLAIM",
        "s",
        "g",
        "dave",
        "0",
        "0",
        "COUNT",
        "1",
        "JUSTID",
    ],
    &["XAUTOCLAIM", "s", "g", "dave", "0", "0", "JUSTID"],
    &["XAUTOCLAIM", "s", "g", "dave", "0", "0", "COUNT", "0"],
    &["XAUTOCLAIM", "s", "g", "dave", "0", "(0-0", "COUNT", "5"],
    &["XDEL", "s", "11-0"],
    &["XAUTOCLAIM", "s", "g", "erin", "0", "-", "COUNT", "10"],
    &["XINFO", "GROUPS", "s"],
    &["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "frank",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ],
    &["XINFO", "GROUPS", "s"],
    &["XGROUP", "SETID", "s", "g", "$"],
    &["XGROUP", "SETID", "s", "nog", "$"],
    &["XGROUP", "DELCONSUMER", "s", "g", "dave"],
    &["XGROUP", "DELCONSUMER", "s", "g", "nobody"],
    &["XGROUP", "DESTROY", "s", "late"],
    &["XGROUP", "DESTROY", "s", "late"],
    &["XGROUP", "FOO", "s", "g"],
    &["XGROUP", "CREATE", "s"],
    &["XGROUP", "HELP"],
    &["XINFO", "HELP"],
    &["XINFO", "STREAM", "nokey"],
    &["XINFO", "CONSUMERS", "s", "nog"],
    &["XINFO", "STREAM", "s", "FOO"],
    &["XSETID", "s", "1-0"],
    &["XSETID", "s", "100-0", "ENTRIESADDED", "1"],
    &[
        "XSETID",
        "s",
        "100-0",
        "ENTRIESADDED",
        "50",
        "MAXDELETEDID",
        "10-0",
    ],
    &["XSETID", "s", "5-0", "MAXDELETEDID", "10-0"],
    &["XSETID", "nokey", "1-0"],
    &["XINFO", "STREAM", "s"],
    &["XREAD", "COUNT", "2", "STREAMS", "s", "mk", "0", "0"],
    &["XREAD", "STREAMS", "s", "$"],
    &["XREAD", "STREAMS", "s", "+"],
    &["XREAD", "BLOCK", "-1", "STREAMS", "s", "0"],
    &["XREAD", "BLOCK", "1.5", "STREAMS", "s", "0"],
    &["XREAD", "COUNT", "1", "STREAMS", "s", "mk"],
    &["TYPE", "s"],
    &["OBJECT", "ENCODING", "s"],
    &["SET", "str", "x"],
    &["XADD", "str", "1-0", "a", "1"],
    &["XRANGE", "str", "-", "+"],
    &["XREAD", "STREAMS", "str", "0"],
    &["XADD", "e", "1-0", "a", "1"],
    &["XDEL", "e", "1-0"],
    &["EXISTS", "e"],
    &["XINFO", "STREAM", "e"],
    &["XADD", "e", "1-0", "a", "1"],
    &["XADD", "e", "1-*", "a", "1"],
    &["COPY", "s", "s2"],
    &["XRANGE", "s2", "-", "+"],
    &["RENAME", "s2", "s3"],
    &["XINFO", "GROUPS", "s3"],
];

#[test]
fn replies_match_redis() {
    let theirs = redis();
    let ours = kv(Backend::EpollLevel, &[]);
    let mut t = connect(theirs.addr);
    let mut o = connect(ours.addr);
    for cmd in SCRIPT {
        let want = masked(&call(&mut t, cmd));
        let got = masked(&call(&mut o, cmd));
        assert_eq!(got, want, "{}", cmd.join(" "));
    }
    // SCAN TYPE finds the streams (compared as sets: the order is each server's own).
    let scan = |c: &mut Conn| {
        let v = call(c, &["SCAN", "0", "TYPE", "stream", "COUNT", "1000"]);
        let mut keys: Vec<Value> = v.items().unwrap()[1].items().unwrap().to_vec();
        keys.sort_by_key(|k| format!("{k}"));
        keys
    };
    let want = scan(&mut t);
    assert!(want.len() >= 3, "{want:?}");
    assert_eq!(scan(&mut o), want);
}

/// A connection with a command sent and its reply not yet read.
fn send(c: &mut Conn, args: &[&str]) {
    let v: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    c.send(&v).expect("send");
}

fn wait_blocked(c: &mut Conn, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = call(c, &["INFO", "clients"]);
        let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).into_owned();
        if text.contains(&format!("blocked_clients:{n}\r")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{n} blocked clients expected: {text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn entry_reply(key: &str, id: &str, f: &str, v: &str) -> Value {
    Value::Array(vec![Value::Array(vec![
        b(key),
        Value::Array(vec![Value::Array(vec![
            b(id),
            Value::Array(vec![b(f), b(v)]),
        ])]),
    ])])
}

fn blocking(backend: Backend) {
    let s = kv(backend, &[]);
    let mut c = connect(s.addr);
    // Two XREAD readers on `$` are both served by one XADD.
    let mut r1 = connect(s.addr);
    let mut r2 = connect(s.addr);
    call(&mut c, &["XADD", "s", "1-0", "old", "x"]);
    send(&mut r1, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    send(
        &mut r2,
        &["XREAD", "BLOCK", "0", "STREAMS", "nokey", "s", "$", "$"],
    );
    wait_blocked(&mut c, 2);
    call(&mut c, &["XADD", "s", "2-0", "f", "v"]);
    assert_eq!(r1.read().unwrap(), entry_reply("s", "2-0", "f", "v"));
    assert_eq!(r2.read().unwrap(), entry_reply("s", "2-0", "f", "v"));
    // A timeout answers nil after the time, not before.
    let t0 = Instant::now();
    assert_eq!(
        call(&mut r1, &["XREAD", "BLOCK", "150", "STREAMS", "s", "$"]),
        Value::NilArray
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(140),
        "{:?}",
        t0.elapsed()
    );
    // XREADGROUP BLOCK: served with `>`, the entry becomes pending for the consumer.
    call(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]);
    send(
        &mut r1,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut c, 1);
    call(&mut c, &["XADD", "s", "3-0", "k", "1"]);
    assert_eq!(r1.read().unwrap(), entry_reply("s", "3-0", "k", "1"));
    let p = call(&mut c, &["XPENDING", "s", "g"]);
    assert_eq!(p.items().unwrap()[0], Value::Int(1), "{p}");
    // The group destroyed while a reader waits: -NOGROUP.
    send(
        &mut r1,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["XGROUP", "DESTROY", "s", "g"]), 1);
    let e = r1.read().unwrap();
    assert!(format!("{e}").contains("NOGROUP"), "{e}");
    // The stream deleted (or overwritten) while a group reader waits: the Redis error.
    for kill in [&["DEL", "s"][..], &["SET", "s", "x"][..]] {
        call(&mut c, &["DEL", "s"]);
        call(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        send(
            &mut r1,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "bob",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        );
        wait_blocked(&mut c, 1);
        call(&mut c, kill);
        let e = r1.read().unwrap();
        assert!(format!("{e}").contains("no longer exists"), "{kill:?}: {e}");
    }
    // XREAD keeps waiting through a delete and is served by the stream made again.
    call(&mut c, &["DEL", "s"]);
    call(&mut c, &["XADD", "s", "5-0", "f", "v"]);
    send(&mut r1, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    call(&mut c, &["DEL", "s"]);
    call(&mut c, &["XADD", "s", "6-0", "f", "w"]);
    assert_eq!(r1.read().unwrap(), entry_reply("s", "6-0", "f", "w"));
    // CLIENT UNBLOCK answers a parked reader with nil; inside MULTI BLOCK does not park.
    let id = int(&mut r1, &["CLIENT", "ID"]);
    send(&mut r1, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    assert_eq!(int(&mut c, &["CLIENT", "UNBLOCK", &id.to_string()]), 1);
    assert_eq!(r1.read().unwrap(), Value::NilArray);
    call(&mut r1, &["MULTI"]);
    call(&mut r1, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(
        call(&mut r1, &["EXEC"]),
        Value::Array(vec![Value::NilArray])
    );
    // A reader that hangs up is forgotten.
    send(&mut r2, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    drop(r2);
    wait_blocked(&mut c, 0);
}
each_backend!(xread_and_xreadgroup_block_on_the_loop, blocking);

/// Stream readers are served from the keyspace's ready keys after the whole transaction: an
/// XADD undone by a DEL in the same EXEC wakes nobody, and a reader sees every entry the
/// transaction added, not just the first.
fn served_after_exec(backend: Backend) {
    let s = kv(backend, &[]);
    let mut c = connect(s.addr);
    let mut r = connect(s.addr);
    call(&mut c, &["XADD", "s", "1-0", "a", "1"]);
    send(&mut r, &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    call(&mut c, &["MULTI"]);
    call(&mut c, &["XADD", "s", "2-0", "b", "2"]);
    call(&mut c, &["DEL", "s"]);
    call(&mut c, &["EXEC"]);
    // Still parked: the stream was gone when the transaction ended.
    wait_blocked(&mut c, 1);
    call(&mut c, &["MULTI"]);
    call(&mut c, &["XADD", "s", "3-0", "c", "3"]);
    call(&mut c, &["XADD", "s", "4-0", "d", "4"]);
    call(&mut c, &["EXEC"]);
    let entry =
        |id: &str, f: &str, v: &str| Value::Array(vec![b(id), Value::Array(vec![b(f), b(v)])]);
    assert_eq!(
        r.read().unwrap(),
        Value::Array(vec![Value::Array(vec![
            b("s"),
            Value::Array(vec![entry("3-0", "c", "3"), entry("4-0", "d", "4")]),
        ])])
    );
    wait_blocked(&mut c, 0);
}
each_backend!(
    stream_readers_are_served_after_the_whole_transaction,
    served_after_exec
);

// ------------------------------------------------------------------------------------------
// the log

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("readyloop-streams-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(backend: Backend, dir: &TempDir) -> ServerProcess {
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
        &dir.0.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ServerProcess::spawn(readyloop_bin(), &args).expect("kv server starts")
}

fn full(c: &mut Conn) -> Value {
    masked(&call(c, &["XINFO", "STREAM", "s", "FULL", "COUNT", "20"]))
}

/// What the producer and the consumer had acknowledged when the server was killed.
#[derive(Default)]
struct Acked {
    added: Vec<u64>,
    acked: Vec<u64>,
}

fn kill_keeps_acknowledged(backend: Backend) {
    let dir = TempDir::new(&format!("kill-{}", backend.name()));
    let server = start(backend, &dir);
    let mut c = connect(server.addr);
    call(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Acked::default()));
    let addr = server.addr;
    let producer = {
        let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
        std::thread::spawn(move || {
            let mut p = connect(addr);
            let mut n = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("{n}-0");
                match p.cmd(&["XADD", "s", &id, "n", &n.to_string()]) {
                    Ok(Value::Bulk(got)) if got == id.as_bytes() => {
                        seen.lock().unwrap().added.push(n)
                    }
                    _ => return,
                }
                n += 1;
            }
        })
    };
    let consumer = {
        let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
        std::thread::spawn(move || {
            let mut q = connect(addr);
            while !stop.load(Ordering::Relaxed) {
                let Ok(v) = q.cmd(&[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "worker",
                    "COUNT",
                    "5",
                    "STREAMS",
                    "s",
                    ">",
                ]) else {
                    return;
                };
                let Some(streams) = v.items() else {
                    continue;
                };
                for e in streams[0].items().unwrap()[1].items().unwrap() {
                    let id = String::from_utf8(e.items().unwrap()[0].as_bytes().unwrap().to_vec())
                        .unwrap();
                    match q.cmd(&["XACK", "s", "g", &id]) {
                        Ok(Value::Int(1)) => {
                            let n = id.trim_end_matches("-0").parse().unwrap();
                            seen.lock().unwrap().acked.push(n);
                        }
                        _ => return,
                    }
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    drop(server); // SIGKILL
    producer.join().unwrap();
    consumer.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.added.len() > 10 && !seen.acked.is_empty(),
        "too little load: {}",
        seen.added.len()
    );
    let server = start(backend, &dir);
    let mut c = connect(server.addr);
    let ids: std::collections::HashSet<u64> = call(&mut c, &["XRANGE", "s", "-", "+"])
        .items()
        .unwrap()
        .iter()
        .map(|e| {
            let id = e.items().unwrap()[0].as_bytes().unwrap();
            String::from_utf8_lossy(id)
                .trim_end_matches("-0")
                .parse()
                .unwrap()
        })
        .collect();
    let missing: Vec<_> = seen.added.iter().filter(|n| !ids.contains(n)).collect();
    assert!(missing.is_empty(), "acknowledged XADDs lost: {missing:?}");
    for n in &seen.acked {
        let p = call(
            &mut c,
            &[
                "XPENDING",
                "s",
                "g",
                &format!("{n}-0"),
                &format!("{n}-0"),
                "1",
            ],
        );
        assert_eq!(p, Value::Array(vec![]), "acknowledged XACK of {n} lost");
    }
    // Quiescent now: the state after a restart equals the state before it, through the
    // log and through a rewrite.
    call(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "late",
            "COUNT",
            "3",
            "STREAMS",
            "s",
            "0",
        ],
    );
    call(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "idle-one"]);
    call(&mut c, &["XADD", "s", "*", "tail", "1"]);
    call(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "late",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ],
    );
    call(
        &mut c,
        &["XGROUP", "CREATE", "s", "other", "0", "ENTRIESREAD", "1"],
    );
    call(&mut c, &["XDEL", "s", "1-0"]);
    let before = full(&mut c);
    drop(server);
    let server = start(backend, &dir);
    let mut c = connect(server.addr);
    let after = full(&mut c);
    assert!(
        after == before,
        "after SIGKILL + replay:\n{after}\n!=\n{before}"
    );
    call(&mut c, &["BGREWRITEAOF"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = call(&mut c, &["INFO", "persistence"]);
        let text = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
        if text.contains("aof_rewrite_in_progress:0") && text.contains("aof_rewrites:1") {
            break;
        }
        assert!(Instant::now() < deadline, "rewrite did not finish: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(server);
    let server = start(backend, &dir);
    let mut c = connect(server.addr);
    let after = full(&mut c);
    assert!(
        after == before,
        "after a rewrite + SIGKILL + reload:\n{after}\n!=\n{before}"
    );
}
each_backend!(
    sigkill_keeps_acknowledged_xadd_and_xack,
    kill_keeps_acknowledged
);

// ------------------------------------------------------------------------------------------
// a work queue

/// Job IDs (`p:n`) in the entries of an XREADGROUP/XAUTOCLAIM entries array, with their
/// stream IDs.
fn jobs_of(entries: &Value) -> Vec<(String, String)> {
    entries
        .items()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let it = e.items().unwrap();
            let id = String::from_utf8_lossy(it[0].as_bytes().unwrap()).into_owned();
            let f = it[1].items().unwrap();
            let job = String::from_utf8_lossy(f[1].as_bytes().unwrap()).into_owned();
            (id, job)
        })
        .collect()
}

/// N producers, M consumers reading with XREADGROUP BLOCK and acknowledging with XACK; one
/// consumer dies holding unacknowledged jobs, which XAUTOCLAIM hands to a janitor. Every job
/// is processed at least once and nothing stays pending.
fn work_queue(backend: Backend) {
    const PRODUCERS: usize = 3;
    const JOBS: usize = 150;
    const CONSUMERS: usize = 3;
    let s = kv(backend, &[]);
    let addr = s.addr;
    let mut c = connect(addr);
    call(&mut c, &["XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM"]);
    let done = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    let producing = Arc::new(AtomicBool::new(true));
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|k| {
            let (done, producing) = (Arc::clone(&done), Arc::clone(&producing));
            std::thread::spawn(move || {
                let mut q = connect(addr);
                let name = format!("c{k}");
                let mut handled = 0;
                let mut idle_rounds = 0;
                loop {
                    let v = call(
                        &mut q,
                        &[
                            "XREADGROUP",
                            "GROUP",
                            "g",
                            &name,
                            "COUNT",
                            "10",
                            "BLOCK",
                            "100",
                            "STREAMS",
                            "jobs",
                            ">",
                        ],
                    );
                    let Some(streams) = v.items() else {
                        idle_rounds += 1;
                        if !producing.load(Ordering::Relaxed) && idle_rounds > 3 {
                            return;
                        }
                        continue;
                    };
                    idle_rounds = 0;
                    let batch = jobs_of(&streams[0].items().unwrap()[1]);
                    if k == 0 && handled >= 20 {
                        // This consumer dies with the batch it just read unacknowledged.
                        return;
                    }
                    for (id, job) in batch {
                        done.lock().unwrap().insert(job);
                        assert_eq!(int(&mut q, &["XACK", "jobs", "g", &id]), 1);
                        handled += 1;
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            std::thread::spawn(move || {
                let mut w = connect(addr);
                for n in 0..JOBS {
                    let v = call(&mut w, &["XADD", "jobs", "*", "job", &format!("{p}:{n}")]);
                    assert!(matches!(v, Value::Bulk(_)), "{v}");
                }
            })
        })
        .collect();
    for t in producers {
        t.join().unwrap();
    }
    producing.store(false, Ordering::Relaxed);
    for t in consumers {
        t.join().unwrap();
    }
    // The janitor claims what the dead consumer left.
    let mut j = connect(addr);
    let mut cursor = "0-0".to_string();
    loop {
        let v = call(
            &mut j,
            &[
                "XAUTOCLAIM",
                "jobs",
                "g",
                "janitor",
                "0",
                &cursor,
                "COUNT",
                "25",
            ],
        );
        let it = v.items().unwrap();
        for (id, job) in jobs_of(&it[1]) {
            done.lock().unwrap().insert(job);
            assert_eq!(int(&mut j, &["XACK", "jobs", "g", &id]), 1);
        }
        cursor = String::from_utf8_lossy(it[0].as_bytes().unwrap()).into_owned();
        if cursor == "0-0" {
            break;
        }
    }
    let done = done.lock().unwrap();
    let missing: Vec<String> = (0..PRODUCERS)
        .flat_map(|p| (0..JOBS).map(move |n| format!("{p}:{n}")))
        .filter(|job| !done.contains(job))
        .collect();
    assert!(missing.is_empty(), "jobs never processed: {missing:?}");
    let p = call(&mut j, &["XPENDING", "jobs", "g"]);
    assert_eq!(p.items().unwrap()[0], Value::Int(0), "{p}");
    assert_eq!(int(&mut j, &["XLEN", "jobs"]), (PRODUCERS * JOBS) as i64);
}
each_backend!(work_queue_with_a_dead_consumer_and_xautoclaim, work_queue);
