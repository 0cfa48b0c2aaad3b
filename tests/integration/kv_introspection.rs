//! Introspection against redis-server: MEMORY USAGE of strings, COMMAND GETKEYS /
//! GETKEYSANDFLAGS / INFO / LIST FILTERBY, SLOWLOG entries, CLIENT REPLY, ROLE, WAIT, sharded
//! pub/sub and the errors of each give the same replies; MONITOR's line format; CLIENT PAUSE
//! holds writes (not reads) until UNPAUSE or its timeout; and every command COMMAND lists is
//! one Redis has, with Redis's arity and key positions.

use std::time::{Duration, Instant};

use reactor::Backend;

use super::kv_util::{call, connect, kv, redis, Conn, Value};

/// COMMAND LIST's order is Redis's hash-table order: compared as a set.
fn run(c: &mut Conn, script: &[&[&str]]) -> Vec<String> {
    script
        .iter()
        .map(|cmd| {
            let mut v = call(c, cmd);
            if let (["COMMAND", "LIST", ..], Value::Array(items)) = (cmd, &mut v) {
                items.sort_by_key(|i| i.as_bytes().map(<[u8]>::to_vec));
            }
            format!("{} -> {v}", cmd.join(" "))
        })
        .collect()
}

const SCRIPT: &[&[&str]] = &[
    &["SET", "short", "abc"],
    &["SET", "int", "12345"],
    &[
        "SET",
        "medium",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ],
    &["MEMORY", "USAGE", "short"],
    &["MEMORY", "USAGE", "int"],
    &["MEMORY", "USAGE", "medium"],
    &["MEMORY", "USAGE", "nosuchkey"],
    &["MEMORY", "USAGE", "short", "SAMPLES", "0"],
    &["MEMORY", "USAGE", "short", "SAMPLES"],
    &["MEMORY", "USAGE", "short", "SAMPLES", "x"],
    &["MEMORY", "NOSUCH"],
    &["MEMORY", "MALLOC-STATS", "x"],
    &["COMMAND", "GETKEYS", "get", "k"],
    &["COMMAND", "GETKEYS", "mset", "a", "1", "b", "2"],
    &[
        "COMMAND",
        "GETKEYS",
        "zunionstore",
        "d",
        "2",
        "a",
        "b",
        "WEIGHTS",
        "1",
        "2",
    ],
    &["COMMAND", "GETKEYS", "zunionstore", "d", "5", "a", "b"],
    &["COMMAND", "GETKEYS", "memory", "usage", "k"],
    &["COMMAND", "GETKEYS", "ping"],
    &["COMMAND", "GETKEYS", "nosuch", "x"],
    &["COMMAND", "GETKEYS", "get"],
    &["COMMAND", "GETKEYS", "lmpop", "2", "a", "b", "LEFT"],
    &["COMMAND", "GETKEYSANDFLAGS", "set", "k", "v"],
    &["COMMAND", "GETKEYSANDFLAGS", "mset", "k1", "v1", "k2", "v2"],
    &[
        "COMMAND",
        "GETKEYSANDFLAGS",
        "lmove",
        "k1",
        "k2",
        "left",
        "right",
    ],
    &["COMMAND", "GETKEYSANDFLAGS", "get", "k"],
    &["COMMAND", "GETKEYSANDFLAGS", "del", "k"],
    &["COMMAND", "INFO", "config|get", "get|key", "nosuch"],
    &["COMMAND", "LIST", "FILTERBY", "PATTERN", "set"],
    &["COMMAND", "LIST", "FILTERBY", "PATTERN", "config|*re*"],
    &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"],
    &["COMMAND", "LIST", "FILTERBY", "MODULE", "nosuch"],
    &["COMMAND", "LIST", "bad"],
    &["COMMAND", "LIST", "FILTERBY", "bad", "x"],
    &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
    &["SLOWLOG", "RESET"],
    &["SET", "k", "v"],
    &[
        "SADD", "s", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
        "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29",
        "30", "31", "32", "33",
    ],
    &["AUTH", "nobody", "secret"],
    &["CONFIG", "SET", "slowlog-log-slower-than", "-1"],
    &["SLOWLOG", "LEN"],
    &["SLOWLOG", "GET", "-2"],
    &["SLOWLOG", "GET", "x"],
    &["CONFIG", "SET", "slowlog-max-len", "1"],
    &["SLOWLOG", "LEN"],
    &["ROLE"],
    &["WAIT", "0", "0"],
    &["WAIT", "0", "-1"],
    &["WAIT", "x", "0"],
    &["SPUBLISH", "ch", "m"],
    &["PUBSUB", "SHARDCHANNELS"],
    &["PUBSUB", "SHARDNUMSUB", "ch", "other"],
    &["CLIENT", "PAUSE", "x"],
    &["CLIENT", "PAUSE", "-1"],
    &["CLIENT", "PAUSE", "10", "SOME"],
    &["CLIENT", "REPLY", "MAYBE"],
    &["LATENCY", "LATEST"],
    &["LATENCY", "HISTORY", "command"],
    &["LATENCY", "RESET"],
    &["LOLWUT", "VERSION", "x"],
];

/// SLOWLOG GET entries without their id, time, duration and client address.
fn slowlog_args(c: &mut Conn) -> Vec<Value> {
    let v = call(c, &["SLOWLOG", "GET", "-1"]);
    v.items()
        .unwrap()
        .iter()
        .map(|e| {
            let e = e.items().unwrap();
            assert_eq!(e.len(), 6);
            Value::Array(vec![e[3].clone(), e[5].clone()])
        })
        .collect()
}

fn replies_match_redis(backend: Backend) {
    let theirs = redis();
    let ours = kv(backend, &[]);
    let mut a = connect(theirs.addr);
    let mut b = connect(ours.addr);
    let expected = run(&mut a, SCRIPT);
    let got = run(&mut b, SCRIPT);
    let wrong: Vec<String> = expected
        .iter()
        .zip(&got)
        .filter(|(e, g)| e != g)
        .map(|(e, g)| format!("redis: {e}\nours:  {g}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "ours vs redis-server:\n{}",
        wrong.join("\n")
    );
    // The slow log's content (one entry left after slowlog-max-len 1).
    for c in [&mut a, &mut b] {
        call(c, &["CONFIG", "SET", "slowlog-max-len", "128"]);
        call(c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        call(c, &["SLOWLOG", "RESET"]);
        call(c, &["CLIENT", "SETNAME", "me"]);
        call(c, &["SET", "k", "x".repeat(200).as_str()]);
        call(c, &["AUTH", "nobody", "pw"]);
        call(c, &["CONFIG", "SET", "requirepass", ""]);
        let args: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let mut cmd = vec!["RPUSH", "l"];
        cmd.extend(args.iter().map(String::as_str));
        call(c, &cmd);
        call(c, &["MULTI"]);
        call(c, &["INCR", "n"]);
        call(c, &["EXEC"]);
        call(c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    }
    assert_eq!(
        slowlog_args(&mut b),
        slowlog_args(&mut a),
        "slow log entries"
    );
}

#[test]
fn introspection_replies_match_redis_epoll_level() {
    replies_match_redis(Backend::EpollLevel);
}

#[test]
fn introspection_replies_match_redis_poll() {
    replies_match_redis(Backend::Poll);
}

/// CLIENT REPLY OFF drops replies until ON; SKIP drops the next one only.
#[test]
fn client_reply_modes() {
    let srv = kv(Backend::EpollLevel, &[]);
    let mut c = connect(srv.addr);
    c.send(&[b"CLIENT".to_vec(), b"REPLY".to_vec(), b"OFF".to_vec()])
        .unwrap();
    c.send(&[b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()])
        .unwrap();
    c.send(&[b"GET".to_vec(), b"a".to_vec()]).unwrap();
    assert_eq!(
        call(&mut c, &["CLIENT", "REPLY", "ON"]),
        Value::Simple(b"OK".to_vec())
    );
    c.send(&[b"CLIENT".to_vec(), b"REPLY".to_vec(), b"SKIP".to_vec()])
        .unwrap();
    c.send(&[b"INCR".to_vec(), b"a".to_vec()]).unwrap();
    assert_eq!(call(&mut c, &["GET", "a"]), Value::Bulk(b"2".to_vec()));
}

/// MONITOR: one `+secs.micros [db addr] "arg" ...` line per executed command, passwords
/// redacted, quotes and control bytes escaped; MULTI, the queued command, EXEC in order.
#[test]
fn monitor_streams_executed_commands() {
    let srv = kv(Backend::EpollLevel, &[]);
    let mut m = connect(srv.addr);
    assert_eq!(call(&mut m, &["MONITOR"]), Value::Simple(b"OK".to_vec()));
    let mut c = connect(srv.addr);
    call(&mut c, &["SET", "k", "a\"b\n"]);
    call(&mut c, &["AUTH", "user", "secret"]);
    call(&mut c, &["MULTI"]);
    call(&mut c, &["INCR", "n"]);
    call(&mut c, &["EXEC"]);
    m.set_read_timeout(Duration::from_secs(5)).unwrap();
    let mut lines = Vec::new();
    for _ in 0..6 {
        match m.read().unwrap() {
            Value::Simple(s) => lines.push(String::from_utf8(s).unwrap()),
            v => panic!("monitor line: {v}"),
        }
    }
    // The PING connect() sends first.
    assert!(lines[0].ends_with("\"PING\""), "{lines:?}");
    let set = &lines[1];
    let (stamp, rest) = set.split_once(' ').unwrap();
    let (secs, micros) = stamp.split_once('.').unwrap();
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{set}");
    assert!(rest.starts_with("[0 127.0.0.1:"), "{set}");
    assert!(rest.ends_with(r#"] "SET" "k" "a\"b\n""#), "{set}");
    assert!(
        lines[2].ends_with(r#""AUTH" "(redacted)" "(redacted)""#),
        "{lines:?}"
    );
    assert!(lines[3].ends_with("\"MULTI\""));
    assert!(lines[4].ends_with(r#""INCR" "n""#));
    assert!(lines[5].ends_with("\"EXEC\""));
}

/// CLIENT PAUSE WRITE holds writes and answers reads; UNPAUSE releases the writes in order;
/// a pause ends by itself at its timeout; PAUSE ALL holds reads too.
#[test]
fn client_pause_holds_writes_until_unpause() {
    let srv = kv(Backend::EpollLevel, &[]);
    let mut admin = connect(srv.addr);
    let mut w = connect(srv.addr);
    call(&mut admin, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    w.send(&[b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()])
        .unwrap();
    assert_eq!(call(&mut admin, &["GET", "k"]), Value::NilBulk);
    let info = call(&mut admin, &["INFO", "clients"]);
    let info = String::from_utf8_lossy(info.as_bytes().unwrap()).into_owned();
    assert!(info.contains("blocked_clients:1"), "{info}");
    call(&mut admin, &["CLIENT", "UNPAUSE"]);
    w.set_read_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(w.read().unwrap(), Value::Simple(b"OK".to_vec()));
    assert_eq!(call(&mut admin, &["GET", "k"]), Value::Bulk(b"v".to_vec()));
    // A short pause ends by itself.
    call(&mut admin, &["CLIENT", "PAUSE", "300"]);
    let t0 = Instant::now();
    let mut r = connect_raw(srv.addr);
    assert_eq!(call(&mut r, &["GET", "k"]), Value::Bulk(b"v".to_vec()));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(5),
        "PAUSE ALL held a read for {waited:?}"
    );
}

fn connect_raw(addr: std::net::SocketAddr) -> Conn {
    let c = Conn::connect(addr).unwrap();
    c.set_read_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// Every command COMMAND lists works: Redis knows it with the same arity and key positions
/// (so no command of ours is an invention or a stub of a different shape), COMMAND COUNT
/// agrees with the list, and every listed subcommand is one Redis has.
#[test]
fn command_lists_only_real_commands() {
    let theirs = redis();
    let ours = kv(Backend::EpollLevel, &[]);
    let mut a = connect(theirs.addr);
    let mut b = connect(ours.addr);
    let list = call(&mut b, &["COMMAND", "LIST"]);
    let names: Vec<String> = list
        .items()
        .unwrap()
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes().unwrap()).into_owned())
        .collect();
    let top = names.iter().filter(|n| !n.contains('|')).count() as i64;
    assert_eq!(call(&mut b, &["COMMAND", "COUNT"]), Value::Int(top));
    // Redis 7.2's CLIENT SETINFO, which clients send at connect and 7.0 refuses: kept.
    const NEWER: &[&str] = &["client|setinfo"];
    let mut wrong = Vec::new();
    for n in names.iter().filter(|n| !NEWER.contains(&n.as_str())) {
        let mine = call(&mut b, &["COMMAND", "INFO", n]);
        let redis = call(&mut a, &["COMMAND", "INFO", n]);
        let (mine, redis) = (&mine.items().unwrap()[0], &redis.items().unwrap()[0]);
        let (Some(m), Some(r)) = (mine.items(), redis.items()) else {
            wrong.push(format!("{n}: ours {mine}, redis {redis}"));
            continue;
        };
        if m[1] != r[1] {
            wrong.push(format!("{n}: arity {} vs redis {}", m[1], r[1]));
        }
        if !n.contains('|') && m[3..6] != r[3..6] {
            wrong.push(format!(
                "{n}: key positions {:?} vs redis {:?}",
                &m[3..6],
                &r[3..6]
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Sharded pub/sub: SSUBSCRIBE counts its own channels, SPUBLISH reaches shard subscribers
/// only (`smessage`), PUBLISH does not reach them, SUNSUBSCRIBE without arguments leaves all.
#[test]
fn sharded_pubsub() {
    let srv = kv(Backend::EpollLevel, &[]);
    let mut s = connect(srv.addr);
    let mut p = connect(srv.addr);
    let ack = |kind: &str, ch: &str, n: i64| {
        Value::Array(vec![
            Value::Bulk(kind.as_bytes().to_vec()),
            Value::Bulk(ch.as_bytes().to_vec()),
            Value::Int(n),
        ])
    };
    assert_eq!(
        call(&mut s, &["SSUBSCRIBE", "a"]),
        ack("ssubscribe", "a", 1)
    );
    s.set_read_timeout(Duration::from_secs(5)).unwrap();
    s.send(&[b"SSUBSCRIBE".to_vec(), b"b".to_vec()]).unwrap();
    assert_eq!(s.read().unwrap(), ack("ssubscribe", "b", 2));
    assert_eq!(call(&mut p, &["PUBLISH", "a", "x"]), Value::Int(0));
    assert_eq!(call(&mut p, &["SPUBLISH", "a", "hello"]), Value::Int(1));
    assert_eq!(
        s.read().unwrap(),
        ack("smessage", "a", 0)
            .items()
            .map(|i| {
                Value::Array(vec![
                    i[0].clone(),
                    i[1].clone(),
                    Value::Bulk(b"hello".to_vec()),
                ])
            })
            .unwrap()
    );
    assert_eq!(
        call(&mut p, &["PUBSUB", "SHARDNUMSUB", "a", "b", "c"]),
        Value::Array(vec![
            Value::Bulk(b"a".to_vec()),
            Value::Int(1),
            Value::Bulk(b"b".to_vec()),
            Value::Int(1),
            Value::Bulk(b"c".to_vec()),
            Value::Int(0)
        ])
    );
    s.send(&[b"SUNSUBSCRIBE".to_vec()]).unwrap();
    let mut left = [s.read().unwrap(), s.read().unwrap()];
    left.sort_by_key(|v| v.items().unwrap()[2].as_int());
    assert_eq!(left[0].items().unwrap()[2], Value::Int(0));
    assert_eq!(call(&mut p, &["SPUBLISH", "a", "x"]), Value::Int(0));
}
