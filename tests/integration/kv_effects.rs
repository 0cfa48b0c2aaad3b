//! The append-only log holds every change as a deterministic effect: expiry as DEL/UNLINK,
//! blocking pops as the pops they amount to, and replay neither blocks nor skips a record
//! that fails. Under `appendfsync always` no reply of an iteration that wrote leaves before
//! the log's fsync, a reader's on another connection included. Each is proved by a SIGKILL
//! and a restart (or a hand-made log), on every backend.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reactor::Backend;
use readyloop_harness::proc::Started;
use rustix::process::Signal;

use super::kv_util::{bulk, call, connect, int, Conn, Value};
use super::util::{readyloop_bin, wait_until, ServerProcess};

/// A fresh directory for one test's log, removed on drop.
pub struct LogDir(pub PathBuf);

impl LogDir {
    pub fn new(name: &str) -> LogDir {
        let p = std::env::temp_dir().join(format!("readyloop-fx-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        LogDir(p)
    }

    pub fn incr_file(&self) -> PathBuf {
        self.0.join("appendonlydir/appendonly.aof.1.incr.aof")
    }

    /// Every file of the log, concatenated.
    pub fn text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.0.join("appendonlydir"))
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        names.sort();
        for n in names {
            if n.extension().is_some_and(|e| e == "aof") {
                out.extend(std::fs::read(n).unwrap_or_default());
            }
        }
        out
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn log_args(backend: Backend, dir: &LogDir, fsync: &str) -> Vec<String> {
    [
        "kv",
        "--backend",
        backend.name(),
        "--port",
        "0",
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
        "--dir",
        &dir.0.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

pub fn start_log(backend: Backend, dir: &LogDir, fsync: &str, env: &[&str]) -> ServerProcess {
    let args = log_args(backend, dir, fsync);
    let mut prefix = vec!["env"];
    prefix.extend_from_slice(env);
    ServerProcess::spawn_with(&prefix, readyloop_bin(), &args)
        .unwrap_or_else(|e| panic!("`readyloop {}` must start: {e}", args.join(" ")))
}

/// One record in RESP, as the log writes it.
pub fn rec(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend(format!("${}\r\n{a}\r\n", a.len()).bytes());
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every key of every database: type, contents (set members and hash fields sorted) and
/// deadline.
pub fn dump(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..16 {
        call(c, &["SELECT", &db.to_string()]);
        let keys = call(c, &["KEYS", "*"]);
        for k in keys.items().expect("KEYS array") {
            let k = String::from_utf8_lossy(k.as_bytes().unwrap()).into_owned();
            let t = call(c, &["TYPE", &k]);
            let v = match t.as_bytes().unwrap() {
                b"string" => format!("{}", call(c, &["GET", &k])),
                b"list" => format!("{}", call(c, &["LRANGE", &k, "0", "-1"])),
                b"zset" => format!("{}", call(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                b"set" | b"hash" => {
                    let cmd = if t.as_bytes() == Some(b"set") {
                        "SMEMBERS"
                    } else {
                        "HGETALL"
                    };
                    let mut m: Vec<String> = call(c, &[cmd, &k])
                        .items()
                        .unwrap()
                        .iter()
                        .map(|v| format!("{v}"))
                        .collect();
                    m.sort();
                    m.join(",")
                }
                other => format!("{other:?}"),
            };
            let at = int(c, &["PEXPIRETIME", &k]);
            out.push(format!("{db} {k} {t} {v} {at}"));
        }
    }
    call(c, &["SELECT", "0"]);
    out.sort();
    out
}

/// Wait until `n` clients are blocked.
pub fn wait_blocked(c: &mut Conn, n: usize) {
    let ok = wait_until(Duration::from_secs(5), || {
        let info = call(c, &["INFO", "clients"]);
        let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).into_owned();
        text.contains(&format!("blocked_clients:{n}\r"))
    });
    assert!(ok, "{n} clients never blocked");
}

fn ok(v: Value) {
    assert!(!v.is_error(), "{v}");
}

/// Lazy and active expiry are logged as DEL (UNLINK with lazyfree-lazy-expire yes): an INCR
/// or SETNX on an expired key replays on the absent key, a set that expired does not come
/// back through SUNIONSTORE, and a command that fails after running into an expired key
/// logs the DEL and not itself (its replay would fail).
fn expiry_logged(backend: Backend) {
    let dir = LogDir::new(&format!("expiry-{}", backend.name()));
    let before = {
        let s = start_log(backend, &dir, "always", &[]);
        let mut c = connect(s.addr);
        ok(call(&mut c, &["SET", "counter", "5", "PX", "40"]));
        ok(call(&mut c, &["SET", "lock", "old", "PX", "40"]));
        ok(call(&mut c, &["SADD", "members", "a", "b"]));
        ok(call(&mut c, &["PEXPIRE", "members", "40"]));
        ok(call(&mut c, &["SADD", "kset", "x"]));
        ok(call(&mut c, &["PEXPIRE", "kset", "40"]));
        ok(call(&mut c, &["SET", "str", "1"]));
        ok(call(&mut c, &["SET", "untouched", "x", "PX", "40"]));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(int(&mut c, &["INCR", "counter"]), 1);
        assert_eq!(int(&mut c, &["SETNX", "lock", "new"]), 1);
        assert_eq!(int(&mut c, &["SUNIONSTORE", "dst", "members"]), 0);
        let v = call(&mut c, &["SUNIONSTORE", "dst2", "kset", "str"]);
        assert!(v.is_error(), "{v}");
        ok(call(
            &mut c,
            &["CONFIG", "SET", "lazyfree-lazy-expire", "yes"],
        ));
        ok(call(&mut c, &["SET", "u", "1", "PX", "10"]));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(call(&mut c, &["GET", "u"]), Value::NilBulk);
        // Active expiry of `untouched` is logged by the tick: wait for it to reach the file.
        let text_has = |r: &[&str]| contains(&dir.text(), &rec(r));
        assert!(
            wait_until(Duration::from_secs(3), || text_has(&["DEL", "untouched"])),
            "active expiry never logged"
        );
        for k in ["counter", "lock", "members", "kset"] {
            assert!(text_has(&["DEL", k]), "no DEL {k}");
        }
        assert!(text_has(&["UNLINK", "u"]), "no UNLINK u");
        assert!(
            !contains(&dir.text(), b"dst2"),
            "a failed command was logged"
        );
        dump(&mut c)
    };
    assert!(
        before.contains(&"0 counter +string \"1\" -1".to_string()),
        "{before:?}"
    );
    assert!(
        before.contains(&"0 lock +string \"new\" -1".to_string()),
        "{before:?}"
    );
    let s = start_log(backend, &dir, "always", &[]);
    let mut c = connect(s.addr);
    assert_eq!(dump(&mut c), before);
    assert!(!s.log().contains("fails on replay"), "{}", s.log());
}
each_backend!(expiry_reaches_the_log_as_del, expiry_logged);

/// Blocking pops served at once and served later are logged as the pops they are: the log
/// holds no blocking command, and the restart gives back the same dataset.
fn blocking_effects(backend: Backend) {
    let dir = LogDir::new(&format!("bpop-{}", backend.name()));
    let before = {
        let s = start_log(backend, &dir, "always", &[]);
        let mut c = connect(s.addr);
        ok(call(&mut c, &["RPUSH", "q", "a", "b", "c", "d"]));
        ok(call(&mut c, &["ZADD", "z", "1", "m1", "2", "m2"]));
        assert_eq!(
            call(&mut c, &["BLPOP", "q", "0"]),
            Value::Array(vec![bulk("q"), bulk("a")])
        );
        assert_eq!(
            call(&mut c, &["BRPOP", "q", "0"]),
            Value::Array(vec![bulk("q"), bulk("d")])
        );
        assert_eq!(
            call(&mut c, &["BLMOVE", "q", "q2", "LEFT", "RIGHT", "0"]),
            bulk("b")
        );
        assert_eq!(call(&mut c, &["BRPOPLPUSH", "q", "q2", "0"]), bulk("c"));
        ok(call(&mut c, &["BZPOPMIN", "z", "0"]));
        ok(call(
            &mut c,
            &["BLMPOP", "0", "1", "q2", "LEFT", "COUNT", "1"],
        ));
        // Served later, by another client's push.
        let mut w = connect(s.addr);
        let served: &[(&[&str], &[&str])] = &[
            (&["BLPOP", "later", "0"], &["RPUSH", "later", "x", "y"]),
            (
                &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"],
                &["RPUSH", "src", "s1"],
            ),
            (
                &["BZPOPMAX", "zz", "0"],
                &["ZADD", "zz", "5", "top", "1", "low"],
            ),
            (
                &["BLMPOP", "0", "1", "ml", "RIGHT", "COUNT", "2"],
                &["RPUSH", "ml", "1", "2", "3"],
            ),
        ];
        for (wait, push) in served {
            let a: Vec<Vec<u8>> = wait.iter().map(|s| s.as_bytes().to_vec()).collect();
            w.send(&a).unwrap();
            wait_blocked(&mut c, 1);
            ok(call(&mut c, push));
            ok(w.read().expect("served"));
        }
        let text = dir.text();
        for b in [
            "BLPOP",
            "BRPOP",
            "BLMOVE",
            "BRPOPLPUSH",
            "BZPOPMIN",
            "BZPOPMAX",
            "BLMPOP",
        ] {
            assert!(!contains(&text, &rec(&[b])[4..]), "{b} logged verbatim");
        }
        for r in [
            &["LPOP", "q"][..],
            &["RPOP", "q"],
            &["LMOVE", "q", "q2", "LEFT", "RIGHT"],
            &["ZPOPMIN", "z"],
            &["LPOP", "q2", "1"],
            &["LPOP", "later"],
            &["LMOVE", "src", "dst", "RIGHT", "LEFT"],
            &["ZPOPMAX", "zz"],
            &["RPOP", "ml", "2"],
        ] {
            assert!(contains(&text, &rec(r)), "{r:?} not logged");
        }
        dump(&mut c)
    };
    assert!(before.len() >= 5, "{before:?}");
    let s = start_log(backend, &dir, "always", &[]);
    let mut c = connect(s.addr);
    assert_eq!(dump(&mut c), before);
}
each_backend!(blocking_pops_are_logged_by_their_effect, blocking_effects);

/// A log written before blocking pops were logged by their effect may hold `BLPOP q 0`: its
/// replay answers as if timed out (never parks, never eats a later push), and every record
/// after it is applied.
fn replay_no_block(backend: Backend) {
    let dir = LogDir::new(&format!("noblock-{}", backend.name()));
    drop(start_log(backend, &dir, "always", &[]));
    let mut log = Vec::new();
    for r in [
        &["SELECT", "0"][..],
        &["BLPOP", "q", "0"],
        &["BZPOPMIN", "z", "0"],
        &["SET", "after", "1"],
        &["RPUSH", "q", "job"],
    ] {
        log.extend(rec(r));
    }
    std::fs::write(dir.incr_file(), &log).unwrap();
    let s = start_log(backend, &dir, "always", &[]);
    let mut c = connect(s.addr);
    assert_eq!(call(&mut c, &["GET", "after"]), bulk("1"));
    assert_eq!(
        call(&mut c, &["LRANGE", "q", "0", "-1"]),
        Value::Array(vec![bulk("job")])
    );
}
each_backend!(replay_never_blocks, replay_no_block);

/// A record that fails on replay stops the start with an error naming the file and the
/// offset; nothing is skipped silently.
fn failing_record(backend: Backend) {
    let dir = LogDir::new(&format!("failrec-{}", backend.name()));
    {
        let s = start_log(backend, &dir, "always", &[]);
        let mut c = connect(s.addr);
        ok(call(&mut c, &["SET", "k", "v"]));
    }
    let at = std::fs::metadata(dir.incr_file()).unwrap().len();
    let mut log = std::fs::read(dir.incr_file()).unwrap();
    log.extend(rec(&["LPUSH", "k", "x"]));
    log.extend(rec(&["SET", "after", "1"]));
    std::fs::write(dir.incr_file(), &log).unwrap();
    let args = log_args(backend, &dir, "always");
    let started = ServerProcess::try_spawn_with(&[], readyloop_bin(), &args).unwrap();
    let (status, text) = match started {
        Started::Exited(status, log) => (status, log),
        Started::Listening(mut s) => {
            let st = s.wait_exit(Duration::from_secs(10)).unwrap();
            (st.expect("the server must exit"), s.log())
        }
    };
    assert!(!status.success(), "{text}");
    let name = dir.incr_file().display().to_string();
    assert!(
        text.contains(&format!("{name} fails on replay at offset {at}")),
        "{text}"
    );
    assert!(text.contains("WRONGTYPE"), "{text}");
}
each_backend!(a_record_failing_on_replay_stops_the_start, failing_record);

/// appendfsync always: a SET on one connection and a GET of the same key on another arrive
/// in the same loop iteration (the server is stopped while both are sent). The GET's reply,
/// if it shows the new value, must not leave before the fsync (slowed to 300 ms here).
fn readers_wait(backend: Backend) {
    let dir = LogDir::new(&format!("hold-{}", backend.name()));
    let s = start_log(
        backend,
        &dir,
        "always",
        &["READYLOOP_TEST_FSYNC_DELAY_MS=300"],
    );
    let mut conns = [connect(s.addr), connect(s.addr)];
    let mut saw_new = 0;
    // Which of two ready connections the loop serves first is the poller's business: the
    // roles alternate, so in some rounds the reader runs after the writer.
    for round in 0..10 {
        let key = format!("k{round}");
        let (w, r) = (round % 2, 1 - round % 2);
        s.stop_process().unwrap();
        // Let the stop land before the bytes do.
        std::thread::sleep(Duration::from_millis(20));
        conns[w]
            .send(&[b"SET".to_vec(), key.clone().into_bytes(), b"v".to_vec()])
            .unwrap();
        std::thread::sleep(Duration::from_millis(5));
        conns[r].send(&[b"GET".to_vec(), key.into_bytes()]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let t0 = Instant::now();
        s.signal(Signal::CONT).unwrap();
        let got = conns[r].read().unwrap();
        let waited = t0.elapsed();
        assert_eq!(conns[w].read().unwrap(), Value::Simple(b"OK".to_vec()));
        if got == bulk("v") {
            saw_new += 1;
            assert!(
                waited >= Duration::from_millis(250),
                "round {round}: a reader saw the write {waited:?} after it was sent, before \
                 its fsync"
            );
        }
    }
    assert!(
        saw_new > 0,
        "the reader never ran after the writer in one iteration"
    );
}
each_backend!(
    under_always_no_reader_sees_a_write_before_its_fsync,
    readers_wait
);
