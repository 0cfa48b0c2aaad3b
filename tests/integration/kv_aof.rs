//! The append-only log, proved by killing: SIGKILL at seeded random moments under a write load
//! whose acknowledgements are recorded, restart, check nothing acknowledged is missing and
//! nothing never sent appears. Plus the torn tail, real corruption, check-aof, restart
//! equivalence and a file-size limit (RLIMIT_FSIZE) as the failing disk.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reactor::Backend;

use super::kv_util::{call, connect, int, present_seqs, Conn, Rng, Value};
use super::util::{readyloop_bin, run_cmd, wait_until, ServerProcess};

/// A fresh directory for one test's log, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("readyloop-aof-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    fn s(&self) -> String {
        self.0.display().to_string()
    }
    fn incr_file(&self) -> PathBuf {
        self.0.join("appendonlydir/appendonly.aof.1.incr.aof")
    }
    fn manifest(&self) -> PathBuf {
        self.0.join("appendonlydir/appendonly.aof.manifest")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kv_args(backend: Backend, dir: &TempDir, fsync: &str) -> Vec<String> {
    [
        "kv",
        // Small enough that the crash test's load triggers automatic rewrites too.
        "--auto-aof-rewrite-min-size",
        "256kb",
        "--backend",
        backend.name(),
        "--port",
        "0",
        "--appendonly",
        "yes",
        "--dir",
        &dir.s(),
        "--appendfsync",
        fsync,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn start(backend: Backend, dir: &TempDir, fsync: &str) -> ServerProcess {
    let args = kv_args(backend, dir, fsync);
    ServerProcess::spawn(readyloop_bin(), &args)
        .unwrap_or_else(|e| panic!("`readyloop {}` must start: {e}", args.join(" ")))
}

/// What one writer sent and had acknowledged in one life of the server.
#[derive(Default, Clone)]
struct Writer {
    /// SET k:W:SEQ SEQ sent (seqs from `first` on) and acknowledged (a prefix of them).
    first: u64,
    sent: u64,
    acked: u64,
    /// INCR n:W sent and acknowledged.
    incr_sent: u64,
    incr_acked: u64,
}

const DEPTH: usize = 4;

/// Pipelines pairs (SET k:w:seq seq, INCR n:w), DEPTH pairs at a time, until the connection
/// dies or `stop`.
fn write_load(addr: std::net::SocketAddr, w: usize, first: u64, stop: &AtomicBool) -> Writer {
    let mut st = Writer {
        first,
        sent: first,
        acked: first,
        ..Writer::default()
    };
    let Ok(mut c) = Conn::connect(addr) else {
        return st;
    };
    let _ = c.set_read_timeout(Duration::from_secs(5));
    while !stop.load(Ordering::Relaxed) {
        let from = st.sent;
        for k in 0..DEPTH as u64 {
            let seq = from + k;
            let key = format!("k:{w}:{seq}").into_bytes();
            if c.send(&[b"SET".to_vec(), key, seq.to_string().into_bytes()])
                .is_err()
                || c.send(&[b"INCR".to_vec(), format!("n:{w}").into_bytes()])
                    .is_err()
            {
                return st;
            }
            st.sent = seq + 1;
            st.incr_sent += 1;
        }
        for _ in 0..DEPTH {
            match c.read() {
                Ok(Value::Simple(s)) if s == b"OK" => st.acked += 1,
                _ => return st,
            }
            match c.read() {
                Ok(Value::Int(_)) => st.incr_acked += 1,
                _ => return st,
            }
        }
    }
    st
}

/// What survives across restarts: keys that must be there, and the INCR counter's floor.
#[derive(Default)]
struct Truth {
    required: Vec<HashSet<u64>>,
    incr_floor: Vec<i64>,
    next_seq: Vec<u64>,
}

/// Kill `rounds` times under load; returns (kills, acknowledged writes, lost).
fn crash_rounds(backend: Backend, fsync: &str, rounds: usize, seed: u64) -> (usize, u64, u64) {
    const WRITERS: usize = 3;
    let dir = TempDir::new(&format!("crash-{}-{fsync}", backend.name()));
    let mut rng = Rng(seed);
    let mut truth = Truth {
        required: vec![HashSet::new(); WRITERS],
        incr_floor: vec![0; WRITERS],
        next_seq: vec![0; WRITERS],
    };
    let (mut acked_total, mut lost) = (0u64, 0u64);
    // Rewrites started and finished before a kill (the rest were cut by it).
    let mut rewrites = (0usize, 0usize);
    let mut server = start(backend, &dir, fsync);
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let results = Arc::new(Mutex::new(vec![Writer::default(); WRITERS]));
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (stop, results) = (Arc::clone(&stop), Arc::clone(&results));
                let (addr, first) = (server.addr, truth.next_seq[w]);
                std::thread::spawn(move || {
                    let st = write_load(addr, w, first, &stop);
                    results.lock().unwrap()[w] = st;
                })
            })
            .collect();
        let pause = 20 + rng.next() % 180;
        if round % 3 == 1 {
            // Kills before, during and after a rewrite's manifest switch.
            std::thread::sleep(Duration::from_millis(pause / 2));
            let mut c = connect(server.addr);
            let v = call(&mut c, &["BGREWRITEAOF"]);
            assert!(!v.is_error() || format!("{v}").contains("already"), "{v}");
            std::thread::sleep(Duration::from_millis(pause / 2));
        } else {
            std::thread::sleep(Duration::from_millis(pause));
        }
        let log = server.log();
        rewrites.0 += log.matches("rewriting started").count();
        rewrites.1 += log.matches("rewrite finished successfully").count();
        drop(server); // SIGKILL, then reaped
        for t in threads {
            t.join().expect("writer thread");
        }
        stop.store(true, Ordering::Relaxed);
        let writers = results.lock().unwrap().clone();
        // A log that refuses to start fails here.
        server = start(backend, &dir, fsync);
        let log = server.log();
        let mut c = connect(server.addr);
        let mut present_total = 0usize;
        for (w, st) in writers.iter().enumerate() {
            acked_total += (st.acked - st.first) + st.incr_acked;
            let present = present_seqs(&mut c, w, 0, st.sent.max(st.first));
            let missing_req = truth.required[w].difference(&present).count();
            let missing_acked = (st.first..st.acked)
                .filter(|s| !present.contains(s))
                .count();
            lost += (missing_req + missing_acked) as u64;
            assert_eq!(
                (missing_req, missing_acked),
                (0, 0),
                "{fsync} round {round} (seed {seed}) writer {w}: acknowledged SETs missing \
                 after SIGKILL (sent {}..{}, acked to {}); server log:\n{log}",
                st.first,
                st.sent,
                st.acked
            );
            let n = match call(&mut c, &["GET", &format!("n:{w}")]) {
                Value::Bulk(b) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                Value::NilBulk => 0,
                other => panic!("GET n:{w}: {other}"),
            };
            let lo = truth.incr_floor[w] + st.incr_acked as i64;
            let hi = truth.incr_floor[w] + st.incr_sent as i64;
            if n < lo {
                lost += (lo - n) as u64;
            }
            assert!(
                (lo..=hi).contains(&n),
                "{fsync} round {round} (seed {seed}) writer {w}: INCR counter {n}, acknowledged \
                 {lo}, sent {hi}"
            );
            truth.incr_floor[w] = n;
            present_total += present.len() + usize::from(n > 0);
            truth.required[w] = present;
            truth.next_seq[w] = st.sent.max(st.first);
        }
        // Nothing that was never sent: every key is one of those checked.
        assert_eq!(
            int(&mut c, &["DBSIZE"]) as usize,
            present_total,
            "{fsync} round {round}: keys that no client sent appeared"
        );
    }
    assert!(rewrites.0 > 0, "the kills must also hit rewrites");
    eprintln!(
        "aof crash {fsync} {}: rewrites started {}, finished before the kill {}",
        backend.name(),
        rewrites.0,
        rewrites.1
    );
    (rounds, acked_total, lost)
}

/// 17 kills per backend: 51 per policy over the three backends.
const KILLS: usize = 17;

fn crash(backend: Backend, fsync: &str) {
    let seed = 0x5eed_0000 ^ (backend as u64 * 7919) ^ fsync.len() as u64;
    let t0 = Instant::now();
    let (kills, acked, lost) = crash_rounds(backend, fsync, KILLS, seed | 1);
    eprintln!(
        "aof crash {fsync} {}: {kills} kills, {acked} acknowledged writes, {lost} lost, {:.1} s",
        backend.name(),
        t0.elapsed().as_secs_f64()
    );
    assert!(acked > 0, "the load must have had writes acknowledged");
}

each_backend!(crash_always, |b| crash(b, "always"));
each_backend!(crash_everysec, |b| crash(b, "everysec"));

/// A record cut by a crash is truncated with a warning; everything before it loads.
fn torn_tail(backend: Backend) {
    let dir = TempDir::new(&format!("torn-{}", backend.name()));
    {
        let s = start(backend, &dir, "always");
        let mut c = connect(s.addr);
        for i in 0..50 {
            call(&mut c, &["SET", &format!("t{i}"), "v"]);
        }
    }
    let len = std::fs::metadata(dir.incr_file()).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.incr_file())
        .unwrap();
    std::io::Write::write_all(&mut f, b"*3\r\n$3\r\nSET\r\n$2\r\nzz\r\n$5\r\nab").unwrap();
    drop(f);
    let s = start(backend, &dir, "always");
    let mut c = connect(s.addr);
    assert_eq!(int(&mut c, &["DBSIZE"]), 50);
    assert!(s.log().contains("truncating it"), "log: {}", s.log());
    assert_eq!(std::fs::metadata(dir.incr_file()).unwrap().len(), len);
    call(&mut c, &["SET", "after", "1"]);
    drop(c);
    drop(s);
    let s = start(backend, &dir, "always");
    let mut c = connect(s.addr);
    assert_eq!(
        int(&mut c, &["DBSIZE"]),
        51,
        "a write after the truncation survives"
    );
}
each_backend!(torn_tail_is_truncated, torn_tail);

/// Corruption before the tail refuses to start, naming file and offset; check-aof --fix
/// repairs it by truncation; then the server starts with what preceded the damage.
fn corruption(backend: Backend) {
    let dir = TempDir::new(&format!("corrupt-{}", backend.name()));
    {
        let s = start(backend, &dir, "always");
        let mut c = connect(s.addr);
        for i in 0..20 {
            call(&mut c, &["SET", &format!("c{i}"), "value"]);
        }
    }
    let mut bytes = std::fs::read(dir.incr_file()).unwrap();
    // Damage the 11th SET record's first byte.
    let sets: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(b"*3\r\n$3\r\nSET"))
        .collect();
    assert_eq!(sets.len(), 20);
    let at = sets[10];
    bytes[at] = b'#';
    std::fs::write(dir.incr_file(), &bytes).unwrap();
    let args = kv_args(backend, &dir, "always");
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_cmd(readyloop_bin(), &refs);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must refuse to start: {err}");
    assert!(
        err.contains("appendonly.aof.1.incr.aof")
            && err.contains(&format!("offset {at}"))
            && err.contains("check-aof --fix"),
        "the refusal names file, offset and the fix: {err}"
    );
    let m = dir.manifest().display().to_string();
    let check = run_cmd(readyloop_bin(), &["kv", "check-aof", &m]);
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains(&format!("ok_up_to={at}")));
    let fix = run_cmd(readyloop_bin(), &["kv", "check-aof", "--fix", &m]);
    assert!(fix.status.success(), "{:?}", fix);
    let s = start(backend, &dir, "always");
    let mut c = connect(s.addr);
    assert_eq!(int(&mut c, &["DBSIZE"]), 10);
}
each_backend!(corruption_refuses_start, corruption);

/// Restart equivalence: a mixed workload, then every key's value and deadline compared.
fn equivalence(backend: Backend) {
    let dir = TempDir::new(&format!("equiv-{}", backend.name()));
    let script: &[&[&str]] = &[
        &["SET", "s", "hello"],
        &["SET", "ex", "1", "EX", "1000"],
        &["SETEX", "sx", "500", "v"],
        &["PSETEX", "px", "900000", "v"],
        &["SET", "gone", "x", "PX", "1"],
        &["INCRBYFLOAT", "f", "1.25"],
        &["INCRBYFLOAT", "f", "0.5"],
        &["INCR", "i"],
        &["INCRBY", "i", "41"],
        &["APPEND", "s", " world"],
        &["SETRANGE", "s", "0", "J"],
        &["EXPIRE", "s", "3000"],
        &["RENAME", "s", "s2"],
        &["SET", "del", "1"],
        &["GETDEL", "del"],
        &["SET", "ge", "1"],
        &["GETEX", "ge", "PX", "700000"],
        &["SET", "p", "1", "EX", "100"],
        &["PERSIST", "p"],
        &["MSET", "m1", "1", "m2", "2"],
        &["SELECT", "2"],
        &["SET", "db2", "x"],
        &["COPY", "db2", "db2copy"],
        &["MOVE", "db2copy", "3"],
        &["SELECT", "0"],
        &["SWAPDB", "0", "5"],
        &["SWAPDB", "0", "5"],
        &["DEL", "m2"],
        &["UNLINK", "nothere"],
    ];
    let dump = |c: &mut Conn| -> Vec<String> {
        let mut out = Vec::new();
        for db in 0..16 {
            call(c, &["SELECT", &db.to_string()]);
            let keys = call(c, &["KEYS", "*"]);
            for k in keys.items().unwrap() {
                let k = String::from_utf8(k.as_bytes().unwrap().to_vec()).unwrap();
                let v = call(c, &["GET", &k]);
                let at = int(c, &["PEXPIRETIME", &k]);
                out.push(format!("{db} {k} {v} {at}"));
            }
        }
        call(c, &["SELECT", "0"]);
        out.sort();
        out
    };
    let before = {
        let s = start(backend, &dir, "everysec");
        let mut c = connect(s.addr);
        for cmd in script {
            let v = call(&mut c, cmd);
            assert!(!v.is_error(), "{cmd:?}: {v}");
        }
        // everysec: the fsync runs on a pool worker thread, not on the loop.
        let info = call(&mut c, &["INFO", "persistence"]);
        let info = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
        assert!(!info.contains("aof_fsyncs:0\r"), "{info}");
        // A new thread names itself once it first runs, which on a loaded machine can be
        // after the loop has answered all of the above: wait for the name, do not sample once.
        let threads = || -> Vec<String> {
            std::fs::read_dir(format!("/proc/{}/task", s.pid()))
                .unwrap()
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .collect()
        };
        let named = wait_until(Duration::from_secs(5), || {
            threads().iter().any(|t| t.starts_with("readyloop-aof"))
        });
        assert!(named, "{:?}", threads());
        std::thread::sleep(Duration::from_millis(5));
        dump(&mut c)
        // The server is SIGKILLed here (dropped), not stopped.
    };
    assert!(before.len() >= 10, "{before:?}");
    let s = start(backend, &dir, "everysec");
    let mut c = connect(s.addr);
    assert_eq!(dump(&mut c), before);
}
each_backend!(restart_equivalence, equivalence);

/// BGREWRITEAOF while writes continue: the manifest switches to the new base and incremental
/// files, the old ones are deleted, and a restart (by SIGKILL) sees every write.
fn rewrite(backend: Backend) {
    let dir = TempDir::new(&format!("rewrite-{}", backend.name()));
    let before;
    {
        let s = start(backend, &dir, "always");
        let mut c = connect(s.addr);
        for i in 0..2000 {
            call(&mut c, &["SET", &format!("r{}", i % 500), &i.to_string()]);
        }
        call(&mut c, &["EXPIRE", "r1", "1000"]);
        let v = call(&mut c, &["BGREWRITEAOF"]);
        assert!(!v.is_error(), "{v}");
        for i in 0..100 {
            call(&mut c, &["INCR", &format!("during{}", i % 7)]);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let info = call(&mut c, &["INFO", "persistence"]);
            let info = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
            if info.contains("aof_rewrite_in_progress:0") {
                assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
                assert!(info.contains("aof_rewrites:1"), "{info}");
                break;
            }
            assert!(Instant::now() < deadline, "rewrite did not finish: {info}");
            std::thread::sleep(Duration::from_millis(20));
        }
        call(&mut c, &["SET", "after", "1"]);
        before = (
            int(&mut c, &["DBSIZE"]),
            call(&mut c, &["GET", "r499"]),
            int(&mut c, &["PEXPIRETIME", "r1"]),
            call(&mut c, &["GET", "during3"]),
        );
    }
    let manifest = std::fs::read_to_string(dir.manifest()).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let files: Vec<String> = std::fs::read_dir(dir.0.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !files.iter().any(|f| f.contains(".1.")),
        "old files deleted: {files:?}"
    );
    let s = start(backend, &dir, "always");
    let mut c = connect(s.addr);
    let after = (
        int(&mut c, &["DBSIZE"]),
        call(&mut c, &["GET", "r499"]),
        int(&mut c, &["PEXPIRETIME", "r1"]),
        call(&mut c, &["GET", "during3"]),
    );
    assert_eq!(after, before);
    assert_eq!(before.0, 500 + 7 + 1);
}
each_backend!(bgrewriteaof_switches_manifest, rewrite);

/// A disk that refuses writes (RLIMIT_FSIZE, SIGXFSZ ignored): writes get MISCONF, reads keep
/// working, INFO says so, nothing acknowledged is lost, writes resume once the limit goes.
fn disk_full(backend: Backend) {
    if run_cmd(Path::new("prlimit"), &["--version"]).status.code() != Some(0) {
        panic!("prlimit (util-linux) is needed");
    }
    let dir = TempDir::new(&format!("fsize-{}", backend.name()));
    let args = kv_args(backend, &dir, "always");
    let limit = 64 * 1024;
    let server = ServerProcess::spawn_with(
        &[
            "bash",
            "-c",
            "trap '' XFSZ; exec \"$@\"",
            "ignore-xfsz",
            "prlimit",
            // Soft limit only, so it can be lifted again without privileges.
            &format!("--fsize={limit}:unlimited"),
        ],
        readyloop_bin(),
        &args,
    )
    .expect("server starts under prlimit");
    let mut acked = Vec::new();
    let mut refused = None;
    let mut c = connect(server.addr);
    for i in 0..5000 {
        let key = format!("d{i:05}");
        match c.cmd(&["SET", &key, &"x".repeat(40)]) {
            Ok(Value::Simple(_)) => acked.push(key),
            Ok(Value::Error(e)) => {
                refused = Some(String::from_utf8_lossy(&e).into_owned());
                break;
            }
            // The write whose bytes did not fit: its client is dropped, never acknowledged.
            Ok(other) => panic!("SET: {other}"),
            Err(_) => c = connect(server.addr),
        }
    }
    let refused = refused.expect("writes are refused once the file hits the limit");
    assert!(
        refused.starts_with("MISCONF Errors writing to the AOF file: File too large"),
        "{refused}"
    );
    assert!(acked.len() > 100, "{} acknowledged", acked.len());
    // Reads keep working and INFO tells.
    let v = call(&mut c, &["GET", &acked[0]]);
    assert_eq!(v.as_bytes(), Some("x".repeat(40).as_bytes()));
    let info = call(&mut c, &["INFO", "persistence"]);
    let info = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
    assert!(info.contains("aof_enabled:1"), "{info}");
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    let e = call(&mut c, &["SET", "more", "1"]);
    assert!(e.is_error(), "{e}");
    // Redis 7.0 refuses PING too while the log cannot be written (processCommand checks
    // "is_write_command || proc == pingCommand"): a health check must not say all is well.
    let ping = call(&mut c, &["PING"]);
    assert!(
        ping.to_string()
            .contains("MISCONF Errors writing to the AOF file"),
        "PING: {ping}"
    );
    // The disk takes writes again: the buffered bytes go out, writes are accepted.
    let pid = server.pid().to_string();
    let out = run_cmd(Path::new("prlimit"), &["--pid", &pid, "--fsize=unlimited"]);
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match call(&mut c, &["SET", "resumed", "1"]) {
            Value::Simple(_) => break,
            v if Instant::now() < deadline => {
                assert!(v.is_error());
                std::thread::sleep(Duration::from_millis(50));
            }
            v => panic!("writes did not resume: {v}"),
        }
    }
    let info = call(&mut c, &["INFO", "persistence"]);
    let info = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
    assert!(info.contains("aof_last_write_status:ok"), "{info}");
    drop(c);
    drop(server); // SIGKILL
    let s = start(backend, &dir, "always");
    let mut c = connect(s.addr);
    for k in acked.iter().chain(std::iter::once(&"resumed".to_string())) {
        assert_eq!(
            int(&mut c, &["EXISTS", k]),
            1,
            "acknowledged {k} lost after the disk fault"
        );
    }
}
each_backend!(disk_full_misconf_then_resume, disk_full);

/// FLUSHALL ASYNC empties at once (the keys are freed on the lazy-free thread), is logged, and
/// the server keeps answering; a restart replays it.
fn flush_async(backend: Backend) {
    let dir = TempDir::new(&format!("lazy-{}", backend.name()));
    {
        let s = start(backend, &dir, "everysec");
        let mut c = connect(s.addr);
        for batch in 0..100 {
            let mut args = vec!["MSET".to_string()];
            for i in 0..1000 {
                args.push(format!("z{batch}:{i}"));
                args.push("v".repeat(64));
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            call(&mut c, &refs);
        }
        call(&mut c, &["SELECT", "1"]);
        call(&mut c, &["SET", "other", "1"]);
        assert_eq!(int(&mut c, &["DBSIZE"]), 1);
        call(&mut c, &["SELECT", "0"]);
        assert_eq!(int(&mut c, &["DBSIZE"]), 100_000);
        let v = call(&mut c, &["FLUSHALL", "ASYNC"]);
        assert_eq!(v, Value::Simple(b"OK".to_vec()));
        assert_eq!(int(&mut c, &["DBSIZE"]), 0);
        call(&mut c, &["SET", "after", "1"]);
        let v = call(&mut c, &["FLUSHDB", "SYNC"]);
        assert_eq!(v, Value::Simple(b"OK".to_vec()));
        call(&mut c, &["SET", "kept", "1"]);
    }
    let s = start(backend, &dir, "everysec");
    let mut c = connect(s.addr);
    assert_eq!(int(&mut c, &["DBSIZE"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "kept"]), 1);
    call(&mut c, &["SELECT", "1"]);
    assert_eq!(int(&mut c, &["DBSIZE"]), 0);
}
each_backend!(flushall_async_lazy_free, flush_async);

/// CONFIG SET appendonly yes on a running server writes the dataset as a base file and logs
/// from then on; CONFIG GET reports the log's settings.
fn enable_at_run_time(backend: Backend) {
    let dir = TempDir::new(&format!("enable-{}", backend.name()));
    {
        let args: Vec<String> = [
            "kv",
            "--backend",
            backend.name(),
            "--port",
            "0",
            "--dir",
            &dir.s(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = ServerProcess::spawn(readyloop_bin(), &args).expect("starts");
        let mut c = connect(s.addr);
        call(&mut c, &["SET", "before", "1", "PX", "900000"]);
        call(&mut c, &["SET", "n", "41"]);
        let pair =
            |k: &str, v: &str| Value::Array(vec![Value::Bulk(k.into()), Value::Bulk(v.into())]);
        assert_eq!(
            call(&mut c, &["CONFIG", "GET", "appendonly"]),
            pair("appendonly", "no")
        );
        assert_eq!(
            call(
                &mut c,
                &[
                    "CONFIG",
                    "SET",
                    "appendonly",
                    "yes",
                    "appendfsync",
                    "always"
                ]
            ),
            Value::Simple(b"OK".to_vec())
        );
        assert_eq!(
            call(&mut c, &["CONFIG", "GET", "appendfsync"]),
            pair("appendfsync", "always")
        );
        assert_eq!(
            call(&mut c, &["CONFIG", "GET", "appendonly"]),
            pair("appendonly", "yes")
        );
        call(&mut c, &["INCR", "n"]);
        let v = call(&mut c, &["CONFIG", "SET", "appendfsync", "sometimes"]);
        assert!(v.is_error(), "{v}");
    }
    let s = start(backend, &dir, "always");
    let mut c = connect(s.addr);
    assert_eq!(call(&mut c, &["GET", "n"]), Value::Bulk(b"42".to_vec()));
    assert!(int(&mut c, &["PTTL", "before"]) > 800_000);
}
each_backend!(config_set_appendonly_yes, enable_at_run_time);

// ---------------------------------------------------------------------------------------------
// Rewrite without a stall: the incremental view, kills around the manifest switch, lazy free,
// the everysec fsync bound.

/// kv_args without automatic rewrites (the test starts the one it means).
fn args_manual(backend: Backend, dir: &TempDir, fsync: &str) -> Vec<String> {
    kv_args(backend, dir, fsync)
        .into_iter()
        .map(|a| if a == "256kb" { "1gb".into() } else { a })
        .collect()
}

fn start_with(backend: Backend, dir: &TempDir, fsync: &str, env: &[&str]) -> ServerProcess {
    let args = args_manual(backend, dir, fsync);
    let mut prefix = vec!["env"];
    prefix.extend_from_slice(env);
    ServerProcess::spawn_with(&prefix, readyloop_bin(), &args)
        .unwrap_or_else(|e| panic!("`readyloop {}` must start: {e}", args.join(" ")))
}

/// Send every command, then read every reply.
fn pipeline(c: &mut Conn, cmds: &[Vec<String>]) -> Vec<Value> {
    for cmd in cmds {
        let args: Vec<Vec<u8>> = cmd.iter().map(|a| a.clone().into_bytes()).collect();
        c.send(&args).expect("send");
    }
    cmds.iter().map(|_| c.read().expect("reply")).collect()
}

fn cmd(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn info_field(c: &mut Conn, section: &str, field: &str) -> String {
    let info = call(c, &["INFO", section]);
    let info = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.items()
        .unwrap_or_else(|| panic!("array expected: {v}"))
        .iter()
        .map(|i| String::from_utf8_lossy(i.as_bytes().unwrap()).into_owned())
        .collect()
}

/// Every key of every database with its type, value (members sorted where order is not
/// part of the value) and deadline.
fn full_dump(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..16 {
        call(c, &["SELECT", &db.to_string()]);
        let keys = strings(&call(c, &["KEYS", "*"]));
        for chunk in keys.chunks(500) {
            let types = pipeline(
                c,
                &chunk.iter().map(|k| cmd(&["TYPE", k])).collect::<Vec<_>>(),
            );
            let types: Vec<String> = types.iter().map(|t| format!("{t}")).collect();
            let reads: Vec<Vec<String>> = chunk
                .iter()
                .zip(&types)
                .flat_map(|(k, t)| {
                    let read = match t.as_str() {
                        "+string" | "string" => cmd(&["GET", k]),
                        "+list" | "list" => cmd(&["LRANGE", k, "0", "-1"]),
                        "+set" | "set" => cmd(&["SMEMBERS", k]),
                        "+hash" | "hash" => cmd(&["HGETALL", k]),
                        _ => cmd(&["ZRANGE", k, "0", "-1", "WITHSCORES"]),
                    };
                    [read, cmd(&["PEXPIRETIME", k])]
                })
                .collect();
            let replies = pipeline(c, &reads);
            for (i, k) in chunk.iter().enumerate() {
                let (v, at) = (&replies[2 * i], &replies[2 * i + 1]);
                let v = match types[i].trim_start_matches('+') {
                    "set" => {
                        let mut m = strings(v);
                        m.sort();
                        m.join(",")
                    }
                    "hash" => {
                        let f = strings(v);
                        let mut pairs: Vec<String> =
                            f.chunks(2).map(|p| format!("{}={}", p[0], p[1])).collect();
                        pairs.sort();
                        pairs.join(",")
                    }
                    _ => format!("{v}"),
                };
                out.push(format!("{db} {k} {} {v} {at}", types[i]));
            }
        }
    }
    call(c, &["SELECT", "0"]);
    out.sort();
    out
}

fn wait_rewrite_done(c: &mut Conn, rewrites: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if info_field(c, "persistence", "aof_rewrite_in_progress") == "0"
            && info_field(c, "persistence", "aof_rewrites") == rewrites.to_string()
        {
            assert_eq!(
                info_field(c, "persistence", "aof_last_bgrewrite_status"),
                "ok"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rewrite {rewrites} did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every type, several databases, deadlines; writes of every kind (overwrites, DEL, UNLINK,
/// RENAME, MOVE, EXPIRE/PERSIST, pushes and pops, FLUSHDB, SWAPDB) land while the rewrite's
/// view is being serialised. After it, a SIGKILL and a restart from the new base + incremental
/// file give back exactly the same dataset.
fn rewrite_under_writes(backend: Backend) {
    let dir = TempDir::new(&format!("rwview-{}", backend.name()));
    let before;
    {
        // A slow writer (60 ms per 1 MiB chunk) falls behind the slices: its queue fills and
        // the records must wait, not vanish (they once did).
        let s = start_with(
            backend,
            &dir,
            "everysec",
            &["READYLOOP_TEST_REWRITE_PAUSE_MS=360"],
        );
        let mut c = connect(s.addr);
        let mut load = Vec::new();
        for b in 0..30 {
            let mut m = cmd(&["MSET"]);
            for i in 0..1000 {
                m.push(format!("s{}", b * 1000 + i));
                m.push(format!("value-{b}-{i}"));
            }
            load.push(m);
        }
        for k in 0..300 {
            let members: Vec<String> = (0..(k % 150)).map(|m| format!("m{m}")).collect();
            let mut l = cmd(&["RPUSH", &format!("l{k}")]);
            l.extend(members.iter().cloned());
            let mut st = cmd(&["SADD", &format!("set{k}")]);
            st.extend((0..(k % 700)).map(|m| m.to_string()));
            st.push(format!("x{k}"));
            let mut h = cmd(&["HSET", &format!("h{k}")]);
            h.extend(members.iter().flat_map(|m| [m.clone(), format!("v{k}")]));
            h.extend(["f".to_string(), "v".to_string()]);
            let mut z = cmd(&["ZADD", &format!("z{k}")]);
            z.extend(
                members
                    .iter()
                    .enumerate()
                    .flat_map(|(i, m)| [format!("{}", i as f64 / 3.0), m.clone()]),
            );
            z.extend(["inf".to_string(), "top".to_string()]);
            for c in [l, st, h, z] {
                if c.len() > 2 {
                    load.push(c);
                }
            }
            load.push(cmd(&["EXPIRE", &format!("s{k}"), &(5000 + k).to_string()]));
            load.push(cmd(&["EXPIRE", &format!("h{k}"), "7000"]));
        }
        load.push(cmd(&["SADD", "bigset"]));
        load.last_mut()
            .unwrap()
            .extend((0..5000).map(|m| format!("big{m}")));
        for db in [2, 3, 4] {
            load.push(cmd(&["SELECT", &db.to_string()]));
            for i in 0..300 {
                load.push(cmd(&["SET", &format!("d{db}:{i}"), &i.to_string()]));
            }
        }
        load.push(cmd(&["SELECT", "0"]));
        for chunk in load.chunks(200) {
            for v in pipeline(&mut c, chunk) {
                assert!(!v.is_error(), "{v}");
            }
        }
        let v = call(&mut c, &["BGREWRITEAOF"]);
        assert!(!v.is_error(), "{v}");
        let mut rng = Rng(0x7e57_0001 ^ backend as u64);
        let mut during = 0;
        for b in 0..60u64 {
            let mut r = || rng.next() % 30_000;
            let mut batch = vec![
                cmd(&["SET", &format!("s{}", r()), &format!("new{b}")]),
                cmd(&["DEL", &format!("s{}", r())]),
                cmd(&["UNLINK", &format!("s{}", r())]),
                cmd(&["INCR", "counter"]),
                cmd(&["APPEND", &format!("s{}", r()), "+"]),
                cmd(&["RENAME", &format!("s{}", r()), &format!("renamed{b}")]),
                cmd(&["RENAME", &format!("renamed{}", b / 2), &format!("s{}", r())]),
                cmd(&["EXPIRE", &format!("s{}", r()), "9000"]),
                cmd(&["PERSIST", &format!("s{}", r() % 300)]),
                cmd(&["MOVE", &format!("s{}", r()), "5"]),
                cmd(&["SET", &format!("fresh{b}"), "1", "PX", "8000000"]),
            ];
            let k = r() % 300;
            batch.extend([
                cmd(&["LPUSH", &format!("l{k}"), &format!("p{b}")]),
                cmd(&["RPOP", &format!("l{}", (k + 1) % 300)]),
                cmd(&["SADD", &format!("set{k}"), &format!("added{b}")]),
                cmd(&["SREM", &format!("set{}", (k + 2) % 300), "1", "2", "3"]),
                cmd(&["HSET", &format!("h{k}"), "f", &format!("changed{b}")]),
                cmd(&["HDEL", &format!("h{}", (k + 3) % 300), "m0", "m1"]),
                cmd(&["ZADD", &format!("z{k}"), &b.to_string(), "m0"]),
                cmd(&["ZINCRBY", &format!("z{}", (k + 4) % 300), "2.5", "m1"]),
                cmd(&["DEL", &format!("l{}", (k + 5) % 300)]),
                cmd(&[
                    "RENAME",
                    &format!("set{}", (k + 6) % 300),
                    &format!("set-moved{b}"),
                ]),
            ]);
            match b {
                7 => batch.push(cmd(&["UNLINK", "bigset"])),
                11 | 31 => batch.push(cmd(&["SWAPDB", "3", "4"])),
                17 => batch.extend([
                    cmd(&["SELECT", "2"]),
                    cmd(&["FLUSHDB"]),
                    cmd(&["SET", "after-flush", "1"]),
                    cmd(&["SELECT", "0"]),
                ]),
                _ => {}
            }
            batch.push(cmd(&["INFO", "persistence"]));
            let replies = pipeline(&mut c, &batch);
            let info = format!("{}", replies.last().unwrap());
            if info.contains("aof_rewrite_in_progress:1") {
                during += 1;
            }
        }
        assert!(during > 0, "the writes must land while the rewrite runs");
        wait_rewrite_done(&mut c, 1);
        call(&mut c, &["SET", "after-rewrite", "1"]);
        before = full_dump(&mut c);
        eprintln!(
            "rewrite under writes {}: {} batches during the rewrite, {} keys",
            backend.name(),
            during,
            before.len()
        );
        // SIGKILLed here.
    }
    let manifest = std::fs::read_to_string(dir.manifest()).unwrap();
    assert_eq!(
        manifest,
        "file appendonly.aof.2.base.aof seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let s = start_with(backend, &dir, "everysec", &[]);
    let mut c = connect(s.addr);
    let after = full_dump(&mut c);
    let extra: Vec<_> = after
        .iter()
        .filter(|a| !before.contains(a))
        .take(8)
        .collect();
    let gone: Vec<_> = before
        .iter()
        .filter(|b| !after.contains(b))
        .take(8)
        .collect();
    assert_eq!(
        after.len(),
        before.len(),
        "after restart, new: {extra:?}, missing: {gone:?}"
    );
    let differ: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a != b)
        .take(5)
        .collect();
    assert!(differ.is_empty(), "{differ:?}");
}
each_backend!(
    rewrite_view_survives_writes_of_every_kind,
    rewrite_under_writes
);

/// The state of the log directory around a rewrite's manifest switch.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Phase {
    /// The manifest names the old files and the new incremental file; the base is being built.
    Before,
    /// The manifest names only the new files; the old ones are not deleted yet.
    During,
    /// The rewrite is over.
    After,
}

fn phase_of(dir: &TempDir) -> Option<Phase> {
    let manifest = std::fs::read_to_string(dir.manifest()).ok()?;
    let lines: Vec<&str> = manifest.lines().collect();
    let files = std::fs::read_dir(dir.0.join("appendonlydir"))
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| !f.ends_with(".manifest"))
        .count();
    match (lines.len(), files) {
        (n, _) if n > 2 => Some(Phase::Before),
        // Named: base + incr. More files: the old ones, not deleted yet.
        (2, f) if f > 2 => Some(Phase::During),
        _ => None,
    }
}

/// SIGKILL before, during and after the manifest switch of a rewrite, under a write load
/// whose acknowledgements are recorded: the restart has every acknowledged write, the
/// preloaded data, and a log that starts. (READYLOOP_TEST_REWRITE_PAUSE_MS holds the writer
/// 300 ms before and after the manifest's rename, so each side is hit on purpose.)
fn kill_around_switch(backend: Backend) {
    const WRITERS: usize = 2;
    let dir = TempDir::new(&format!("rwkill-{}", backend.name()));
    let env = ["READYLOOP_TEST_REWRITE_PAUSE_MS=300"];
    let mut server = start_with(backend, &dir, "always", &env);
    {
        let mut c = connect(server.addr);
        let load: Vec<Vec<String>> = (0..50)
            .map(|b| {
                let mut m = cmd(&["MSET"]);
                for i in 0..1000 {
                    m.push(format!("pre{}", b * 1000 + i));
                    m.push("p".repeat(20));
                }
                m
            })
            .collect();
        pipeline(&mut c, &load);
    }
    let mut next_seq = [0u64; WRITERS];
    let mut incr_floor = [0i64; WRITERS];
    for phase in [Phase::Before, Phase::During, Phase::After] {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (stop, addr, first) = (Arc::clone(&stop), server.addr, next_seq[w]);
                std::thread::spawn(move || write_load(addr, w, first, &stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        let mut c = connect(server.addr);
        let v = call(&mut c, &["BGREWRITEAOF"]);
        assert!(!v.is_error(), "{v}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = if phase == Phase::After {
                // Each round's server is a new process: its first rewrite.
                (info_field(&mut c, "persistence", "aof_rewrites") == "1").then_some(Phase::After)
            } else {
                phase_of(&dir)
            };
            if now == Some(phase) {
                break;
            }
            assert!(Instant::now() < deadline, "{phase:?} never came: {now:?}");
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(server); // SIGKILL
        let writers: Vec<Writer> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        server = start_with(backend, &dir, "always", &env);
        let mut c = connect(server.addr);
        for (w, st) in writers.iter().enumerate() {
            let present = present_seqs(&mut c, w, st.first, st.sent.max(st.first));
            let missing = (st.first..st.acked)
                .filter(|s| !present.contains(s))
                .count();
            assert_eq!(
                missing, 0,
                "{phase:?}: writer {w} lost {missing} acknowledged SETs (acked to {})",
                st.acked
            );
            let n = match call(&mut c, &["GET", &format!("n:{w}")]) {
                Value::Bulk(b) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                // The kill came before this writer's first INCR (a loaded machine).
                Value::NilBulk => 0,
                other => panic!("GET n:{w}: {other}"),
            };
            assert!(
                n >= incr_floor[w] + st.incr_acked as i64,
                "{phase:?}: INCR counter {n} below the acknowledged"
            );
            incr_floor[w] = n;
            next_seq[w] = st.sent.max(st.first);
        }
        assert_eq!(
            call(&mut c, &["GET", "pre49999"]),
            Value::Bulk("p".repeat(20).into_bytes()),
            "{phase:?}: the preloaded data"
        );
        eprintln!(
            "kill {phase:?} {}: acked {:?}",
            backend.name(),
            writers
                .iter()
                .map(|w| w.acked - w.first)
                .collect::<Vec<_>>()
        );
    }
}
each_backend!(rewrite_kill_before_during_after_switch, kill_around_switch);

/// UNLINK of a big set, and DEL of one with lazyfree-lazy-user-del yes, free it on the
/// lazy-free worker (INFO lazyfreed_objects counts it); a plain DEL and a small value do not.
fn unlink_lazy_free(backend: Backend) {
    let dir = TempDir::new(&format!("unlink-{}", backend.name()));
    let s = start_with(backend, &dir, "everysec", &[]);
    let mut c = connect(s.addr);
    let freed = |c: &mut Conn| -> u64 {
        info_field(c, "memory", "lazyfreed_objects")
            .parse()
            .unwrap()
    };
    let big = |c: &mut Conn, k: &str| {
        let mut a = cmd(&["SADD", k]);
        a.extend((0..1000).map(|m| format!("member{m}")));
        pipeline(c, &[a]);
    };
    let settle = |c: &mut Conn, want: u64| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while freed(c) < want {
            assert!(
                Instant::now() < deadline,
                "lazyfreed_objects stays below {want}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(freed(c), want);
        assert_eq!(info_field(c, "memory", "lazyfree_pending_objects"), "0");
    };
    assert_eq!(freed(&mut c), 0);
    big(&mut c, "a");
    assert_eq!(int(&mut c, &["UNLINK", "a", "missing"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "a"]), 0);
    settle(&mut c, 1);
    big(&mut c, "b");
    assert_eq!(int(&mut c, &["DEL", "b"]), 1);
    call(&mut c, &["SADD", "small", "1", "2"]);
    assert_eq!(int(&mut c, &["UNLINK", "small"]), 1);
    settle(&mut c, 1);
    let v = call(&mut c, &["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]);
    assert_eq!(v, Value::Simple(b"OK".to_vec()));
    big(&mut c, "d");
    assert_eq!(int(&mut c, &["DEL", "d"]), 1);
    settle(&mut c, 2);
    // FLUSHALL ASYNC counts the keys it hands over.
    call(&mut c, &["MSET", "x", "1", "y", "2", "z", "3"]);
    call(&mut c, &["FLUSHALL", "ASYNC"]);
    settle(&mut c, 5);
}
each_backend!(unlink_frees_big_values_on_the_worker, unlink_lazy_free);

/// everysec with an fsync that takes 4 s (READYLOOP_TEST_FSYNC_DELAY_MS): once it has run
/// for 2 s, a write waits for it (its reply comes after the fsync) while reads are answered
/// at once; INFO counts the delay in aof_delayed_fsync; the write is in the log.
fn slow_fsync_delays_writes(backend: Backend) {
    let dir = TempDir::new(&format!("slowsync-{}", backend.name()));
    let delayed;
    {
        let s = start_with(
            backend,
            &dir,
            "everysec",
            &["READYLOOP_TEST_FSYNC_DELAY_MS=4000"],
        );
        let mut w = connect(s.addr);
        let mut r = connect(s.addr);
        call(&mut w, &["SET", "a", "1"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while info_field(&mut r, "persistence", "aof_pending_bio_fsync") != "1" {
            assert!(Instant::now() < deadline, "no fsync started");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Past the 2 s bound, well before the fsync's 4 s.
        std::thread::sleep(Duration::from_millis(2300));
        assert_eq!(info_field(&mut r, "persistence", "aof_delayed_fsync"), "0");
        w.send(&[b"SET".to_vec(), b"b".to_vec(), b"2".to_vec()])
            .unwrap();
        assert_eq!(call(&mut r, &["GET", "a"]), Value::Bulk(b"1".to_vec()));
        w.set_read_timeout(Duration::from_millis(200)).unwrap();
        let early = w.read();
        assert!(
            early.is_err(),
            "the write was answered during the slow fsync: {early:?}"
        );
        assert_eq!(info_field(&mut r, "persistence", "aof_delayed_fsync"), "1");
        w.set_read_timeout(Duration::from_secs(10)).unwrap();
        // Still the same SET's reply: the 200 ms read timed out before a byte arrived. Its
        // reply waits for its own record's write in the next tick, which (the last fsync
        // request being over a second old) may start the next fsync at once: the pending
        // fsync is not checked here.
        assert_eq!(w.read().unwrap(), Value::Simple(b"OK".to_vec()));
        delayed = call(&mut w, &["GET", "b"]);
    }
    assert_eq!(delayed, Value::Bulk(b"2".to_vec()));
    let s = start_with(backend, &dir, "everysec", &[]);
    let mut c = connect(s.addr);
    assert_eq!(call(&mut c, &["GET", "b"]), Value::Bulk(b"2".to_vec()));
}
each_backend!(
    everysec_fsync_past_2s_delays_writes,
    slow_fsync_delays_writes
);
