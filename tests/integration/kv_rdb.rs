//! RDB snapshots and DUMP/RESTORE against redis-server 7.0: a `dump.rdb` written by Redis
//! (every type, compact and large forms, integers, deadlines) loads in ours and reads back the
//! same; ours SAVEs and Redis loads it; a DUMP payload moves both ways; SAVE/BGSAVE/LASTSAVE,
//! SHUTDOWN SAVE and loading at start behave as Redis's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reactor::Backend;

use super::kv_util::{call, connect, int, kv, Conn, RedisServer, Value};
use super::util::{readyloop_bin, wait_until};

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("readyloop-rdb-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    fn s(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Keys of every type, in both of Redis's forms where it has two (the large forms past the
/// default thresholds), integers of every width, and deadlines.
fn fill(c: &mut Conn) {
    let big: Vec<String> = (0..600).map(|i| format!("member-{i}")).collect();
    let mut cmds: Vec<Vec<String>> = vec![
        vec!["SET".into(), "s:int8".into(), "-7".into()],
        vec!["SET".into(), "s:int16".into(), "12345".into()],
        vec!["SET".into(), "s:int32".into(), "-2000000000".into()],
        vec!["SET".into(), "s:int64".into(), "9223372036854775807".into()],
        vec!["SET".into(), "s:text".into(), "hello world".into()],
        vec!["SET".into(), "s:lzf".into(), "abcdefgh".repeat(40)],
        vec!["SET".into(), "s:empty".into(), "".into()],
        vec![
            "SET".into(),
            "s:ttl".into(),
            "v".into(),
            "PX".into(),
            "86400000".into(),
        ],
        vec![
            "RPUSH".into(),
            "l:small".into(),
            "a".into(),
            "1".into(),
            "-2".into(),
            "300".into(),
            "70000".into(),
            "".into(),
        ],
        vec![
            "HSET".into(),
            "h:small".into(),
            "f".into(),
            "v".into(),
            "n".into(),
            "42".into(),
        ],
        vec![
            "SADD".into(),
            "set:ints".into(),
            "1".into(),
            "-3".into(),
            "100000".into(),
            "9000000000".into(),
        ],
        vec!["SADD".into(), "set:strs".into(), "a".into(), "b".into()],
        vec![
            "ZADD".into(),
            "z:small".into(),
            "1.5".into(),
            "m".into(),
            "-inf".into(),
            "n".into(),
            "3".into(),
            "o".into(),
        ],
        vec!["EXPIRE".into(), "z:small".into(), "100000".into()],
    ];
    let mut l = vec!["RPUSH".to_string(), "l:big".into()];
    l.extend(big.iter().cloned());
    l.push("x".repeat(9000));
    cmds.push(l);
    let mut h = vec!["HSET".to_string(), "h:big".into()];
    for m in &big {
        h.push(m.clone());
        h.push(format!("{m}-value"));
    }
    cmds.push(h);
    let mut s = vec!["SADD".to_string(), "set:big".into()];
    s.extend(big.iter().cloned());
    cmds.push(s);
    let mut z = vec!["ZADD".to_string(), "z:big".into()];
    for (i, m) in big.iter().enumerate() {
        z.push(format!("{}", i as f64 / 7.0));
        z.push(m.clone());
    }
    cmds.push(z);
    for cmd in cmds {
        let args: Vec<Vec<u8>> = cmd.iter().map(|a| a.as_bytes().to_vec()).collect();
        let v = c.call(&args).expect("fill");
        assert!(!matches!(v, Value::Error(_)), "{}: {v}", cmd[0]);
    }
    let args: Vec<Vec<u8>> = vec![b"SELECT".to_vec(), b"3".to_vec()];
    c.call(&args).expect("select");
    call(c, &["SET", "in-db-3", "yes"]);
    call(c, &["SELECT", "0"]);
}

/// A bulk or simple reply as text (Display quotes and escapes).
fn text(v: &Value) -> String {
    match v {
        Value::Bulk(b) | Value::Simple(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// Every key of databases 0 and 3 with its type, contents (sorted where unordered) and
/// whether it has a deadline.
fn contents(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for db in ["0", "3"] {
        call(c, &["SELECT", db]);
        let Value::Array(keys) = call(c, &["KEYS", "*"]) else {
            panic!("KEYS")
        };
        let mut keys: Vec<String> = keys.iter().map(text).collect();
        keys.sort();
        for k in keys {
            let ty = text(&call(c, &["TYPE", &k]));
            let v = match ty.as_str() {
                "string" => call(c, &["GET", &k]).to_string(),
                "list" => call(c, &["LRANGE", &k, "0", "-1"]).to_string(),
                "zset" => call(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"]).to_string(),
                "hash" | "set" => {
                    let v = call(c, &[if ty == "hash" { "HGETALL" } else { "SMEMBERS" }, &k]);
                    let Value::Array(items) = v else {
                        panic!("{ty}")
                    };
                    let mut items: Vec<String> = if ty == "hash" {
                        items
                            .chunks(2)
                            .map(|p| format!("{}={}", p[0], p[1]))
                            .collect()
                    } else {
                        items.iter().map(|i| i.to_string()).collect()
                    };
                    items.sort();
                    items.join(",")
                }
                other => panic!("unexpected type {other} of {k}"),
            };
            let ttl = int(c, &["PTTL", &k]) > 0;
            out.push(format!("db{db} {k} {ty} ttl={ttl} {v}"));
        }
    }
    call(c, &["SELECT", "0"]);
    out
}

fn wait_for_file(p: &Path) {
    assert!(
        wait_until(Duration::from_secs(10), || p.exists()),
        "{} never appeared",
        p.display()
    );
}

each_backend!(
    redis_dump_rdb_loads_in_ours_and_ours_loads_in_redis,
    |backend: Backend| {
        // Redis writes every type and encoding; ours starts on that file.
        let from_redis = TempDir::new(&format!("from-redis-{}", backend.name()));
        let r = RedisServer::start(&["--dir", &from_redis.s()]).expect("redis-server");
        let mut rc = connect(r.addr);
        fill(&mut rc);
        let want = contents(&mut rc);
        assert_eq!(call(&mut rc, &["SAVE"]), Value::Simple(b"OK".to_vec()));
        drop(rc);
        drop(r);
        let ours = kv(backend, &["--dir", &from_redis.s()]);
        let mut oc = connect(ours.addr);
        assert_eq!(contents(&mut oc), want, "redis's dump.rdb read by ours");
        // Ours writes it back over Redis's file; Redis starts on ours.
        std::fs::remove_file(from_redis.0.join("dump.rdb")).unwrap();
        let before = int(&mut oc, &["LASTSAVE"]);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(call(&mut oc, &["SAVE"]), Value::Simple(b"OK".to_vec()));
        assert!(
            int(&mut oc, &["LASTSAVE"]) > before,
            "LASTSAVE moves on SAVE"
        );
        wait_for_file(&from_redis.0.join("dump.rdb"));
        let r2 = RedisServer::start(&["--dir", &from_redis.s()]).expect("redis-server on our file");
        let mut rc2 = connect(r2.addr);
        assert_eq!(
            contents(&mut rc2),
            want,
            "our dump.rdb read by redis-server"
        );
    }
);

/// DUMP every key on `from`, RESTORE it as `KEY:copy` on `to`; BUSYKEY and a bad checksum as
/// Redis answers them.
fn copy_all(from: &mut Conn, to: &mut Conn, what: &str, keys: &[&str]) {
    for k in keys {
        let Value::Bulk(payload) = from
            .call(&[b"DUMP".to_vec(), k.as_bytes().to_vec()])
            .unwrap()
        else {
            panic!("DUMP {k}")
        };
        let copy = format!("{k}:copy");
        let restore = |to: &mut Conn, key: &[u8], p: Vec<u8>| {
            to.call(&[b"RESTORE".to_vec(), key.to_vec(), b"0".to_vec(), p])
                .unwrap()
        };
        let v = restore(to, copy.as_bytes(), payload.clone());
        assert_eq!(v, Value::Simple(b"OK".to_vec()), "{what}: RESTORE {k}");
        let v = restore(to, copy.as_bytes(), payload.clone());
        assert_eq!(
            v,
            Value::Error(b"BUSYKEY Target key name already exists.".to_vec()),
            "{what}"
        );
        let mut bad = payload.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        let v = restore(to, b"x", bad);
        assert_eq!(
            v,
            Value::Error(b"ERR DUMP payload version or checksum are wrong".to_vec()),
            "{what}"
        );
    }
}

each_backend!(dump_payloads_restore_both_ways, |backend: Backend| {
    let r = RedisServer::start(&[]).expect("redis-server");
    let ours = kv(backend, &[]);
    let (mut rc, mut oc) = (connect(r.addr), connect(ours.addr));
    fill(&mut rc);
    fill(&mut oc);
    let keys = [
        "s:int16", "s:int64", "s:lzf", "l:small", "l:big", "h:small", "h:big", "set:ints",
        "set:big", "z:small", "z:big",
    ];
    copy_all(&mut rc, &mut oc, "redis -> ours", &keys);
    copy_all(&mut oc, &mut rc, "ours -> redis", &keys);
    // The copies read back as the originals on both servers.
    for c in [&mut rc, &mut oc] {
        for k in keys {
            let copy = format!("{k}:copy");
            let ty = text(&call(c, &["TYPE", k]));
            assert_eq!(text(&call(c, &["TYPE", &copy])), ty, "{k}");
            if ty == "string" {
                assert_eq!(call(c, &["GET", &copy]), call(c, &["GET", k]));
            }
        }
    }
    assert_eq!(call(&mut oc, &["DUMP", "nosuchkey"]), Value::NilBulk);
    // Options as Redis checks them.
    let Value::Bulk(p) = oc.call(&[b"DUMP".to_vec(), b"s:text".to_vec()]).unwrap() else {
        panic!()
    };
    for (extra, want) in [
        (&["-1"][..], "ERR Invalid TTL value, must be >= 0"),
        (
            &["0", "IDLETIME", "-1"],
            "ERR Invalid IDLETIME value, must be >= 0",
        ),
        (
            &["0", "FREQ", "256"],
            "ERR Invalid FREQ value, must be >= 0 and <= 255",
        ),
        (&["0", "BOGUS"], "ERR syntax error"),
    ] {
        for c in [&mut rc, &mut oc] {
            let mut args = vec![b"RESTORE".to_vec(), b"opt".to_vec()];
            args.push(extra[0].as_bytes().to_vec());
            args.push(p.clone());
            args.extend(extra[1..].iter().map(|s| s.as_bytes().to_vec()));
            assert_eq!(
                c.call(&args).unwrap(),
                Value::Error(want.as_bytes().to_vec()),
                "{extra:?}"
            );
        }
    }
    // A TTL already in the past with ABSTTL: nothing is created.
    let mut args = vec![
        b"RESTORE".to_vec(),
        b"gone".to_vec(),
        b"1".to_vec(),
        p.clone(),
        b"ABSTTL".to_vec(),
    ];
    for c in [&mut rc, &mut oc] {
        assert_eq!(c.call(&args).unwrap(), Value::Simple(b"OK".to_vec()));
        assert_eq!(int(c, &["EXISTS", "gone"]), 0);
    }
    args[2] = b"100000".to_vec();
    args.pop();
    assert_eq!(oc.call(&args).unwrap(), Value::Simple(b"OK".to_vec()));
    let pttl = int(&mut oc, &["PTTL", "gone"]);
    assert!((90_000..=100_000).contains(&pttl), "relative TTL: {pttl}");
});

each_backend!(
    bgsave_and_shutdown_save_persist_and_restart_loads,
    |backend: Backend| {
        let dir = TempDir::new(&format!("bgsave-{}", backend.name()));
        let file = dir.0.join("snap.rdb");
        {
            let ours = kv(backend, &["--dir", &dir.s()]);
            let mut c = connect(ours.addr);
            call(&mut c, &["CONFIG", "SET", "dbfilename", "snap.rdb"]);
            fill(&mut c);
            let info = text(&call(&mut c, &["INFO", "persistence"]));
            assert!(!info.contains("rdb_changes_since_last_save:0\r"), "{info}");
            assert_eq!(
                call(&mut c, &["BGSAVE"]),
                Value::Simple(b"Background saving started".to_vec())
            );
            wait_for_file(&file);
            assert!(wait_until(Duration::from_secs(10), || {
                text(&call(&mut c, &["INFO", "persistence"]))
                    .contains("rdb_changes_since_last_save:0\r")
            }));
            call(&mut c, &["SET", "after-bgsave", "1"]);
            // SHUTDOWN SAVE writes the final snapshot even without save points.
            let _ = c.cmd(&["SHUTDOWN", "SAVE"]);
            assert!(wait_until(Duration::from_secs(10), || !ours.alive()));
        }
        let ours = kv(backend, &["--dir", &dir.s()]);
        let mut c = connect(ours.addr);
        call(&mut c, &["CONFIG", "SET", "dbfilename", "snap.rdb"]);
        // dbfilename was set after start, so the default dump.rdb (absent) was loaded: empty.
        assert_eq!(int(&mut c, &["DBSIZE"]), 0);
        drop(c);
        drop(ours);
        std::fs::rename(&file, dir.0.join("dump.rdb")).unwrap();
        let ours = kv(backend, &["--dir", &dir.s()]);
        let mut c = connect(ours.addr);
        assert_eq!(
            call(&mut c, &["GET", "after-bgsave"]),
            Value::Bulk(b"1".to_vec())
        );
        assert_eq!(
            call(&mut c, &["GET", "s:lzf"]),
            Value::Bulk("abcdefgh".repeat(40).into_bytes())
        );
    }
);

each_backend!(a_corrupt_snapshot_refuses_to_start, |backend: Backend| {
    let dir = TempDir::new(&format!("corrupt-{}", backend.name()));
    std::fs::write(
        dir.0.join("dump.rdb"),
        b"REDIS0010\xfe\x00\x00\x03key\x05va",
    )
    .unwrap();
    let out = std::process::Command::new(readyloop_bin())
        .args([
            "kv",
            "--backend",
            backend.name(),
            "--port",
            "0",
            "--dir",
            &dir.s(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "started on a torn snapshot");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dump.rdb"), "the error names the file: {err}");
    let check = std::process::Command::new(readyloop_bin())
        .args(["kv", "check-rdb"])
        .arg(dir.0.join("dump.rdb"))
        .output()
        .unwrap();
    assert!(!check.status.success());
});
