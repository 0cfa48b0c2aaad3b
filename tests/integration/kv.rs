//! `readyloop kv`: a real Redis client (the `redis` crate) and raw RESP bytes against the
//! server on every backend — commands, RESP3, pipelines split at any byte, protocol errors,
//! big values, active expiry, maxmemory, AUTH, maxclients, CLIENT KILL.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reactor::Backend;
use readyloop_harness::proc::ServerProcess;

use crate::util::readyloop_bin;

fn kv(backend: Backend, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = ["kv", "--backend", backend.name(), "--port", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::spawn(readyloop_bin(), &args).expect("kv server starts")
}

fn client(addr: SocketAddr) -> redis::Connection {
    redis::Client::open(format!("redis://{addr}/"))
        .expect("url")
        .get_connection_with_timeout(Duration::from_secs(5))
        .expect("connects")
}

fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Read until `want` bytes arrived (or EOF/timeout) and return them.
fn read_n(s: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while got.len() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// True if the server closed the connection (EOF) within the read timeout.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend(format!("${}\r\n", a.len()).bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

each_backend!(strings_and_keys_through_the_redis_crate, |b| {
    let srv = kv(b, &[]);
    let mut c = client(srv.addr);
    let _: () = redis::cmd("SET").arg("k").arg("v1").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v1");
    let n: i64 = redis::cmd("INCRBY").arg("n").arg(41).query(&mut c).unwrap();
    assert_eq!(n, 41);
    let n: i64 = redis::cmd("INCR").arg("n").query(&mut c).unwrap();
    assert_eq!(n, 42);
    let vals: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&["k", "n", "missing"])
        .query(&mut c)
        .unwrap();
    assert_eq!(vals, vec![Some("v1".into()), Some("42".into()), None]);
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.1")
        .query(&mut c)
        .unwrap();
    assert_eq!(f, "0.1");
    let f: String = redis::cmd("INCRBYFLOAT")
        .arg("f")
        .arg("0.2")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        f, "0.3",
        "Redis's long-double digits, not 0.30000000000000004"
    );
    let f: String = redis::cmd("GET").arg("f").query(&mut c).unwrap();
    assert_eq!(f, "0.3");
    let ok: bool = redis::cmd("EXPIRE")
        .arg("k")
        .arg(100)
        .query(&mut c)
        .unwrap();
    assert!(ok);
    let ttl: i64 = redis::cmd("TTL").arg("k").query(&mut c).unwrap();
    assert_eq!(ttl, 100);
    let set: bool = redis::cmd("EXPIRE")
        .arg("k")
        .arg(50)
        .arg("GT")
        .query(&mut c)
        .unwrap();
    assert!(!set, "GT must refuse a shorter TTL");
    let _: () = redis::cmd("RENAME")
        .arg("k")
        .arg("k2")
        .query(&mut c)
        .unwrap();
    let ttl: i64 = redis::cmd("TTL").arg("k2").query(&mut c).unwrap();
    assert_eq!(ttl, 100, "RENAME keeps the TTL");
    let t: String = redis::cmd("TYPE").arg("k2").query(&mut c).unwrap();
    assert_eq!(t, "string");
    let e: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("n")
        .query(&mut c)
        .unwrap();
    assert_eq!(e, "int");
    let err = redis::cmd("INCR")
        .arg("k2")
        .query::<i64>(&mut c)
        .unwrap_err();
    assert_eq!(
        err.detail(),
        Some("value is not an integer or out of range")
    );
    let err = redis::cmd("GET").query::<String>(&mut c).unwrap_err();
    assert_eq!(
        err.detail(),
        Some("wrong number of arguments for 'get' command")
    );
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 3);
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    let size: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(size, 0, "databases are separate");
});

each_backend!(scan_returns_every_key, |b| {
    let srv = kv(b, &[]);
    let mut c = client(srv.addr);
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0u64;
    for _ in 0..10_000 {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("key:1*")
            .arg("COUNT")
            .arg(100)
            .query(&mut c)
            .unwrap();
        seen.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let want = (0..2000).filter(|i| i.to_string().starts_with('1')).count();
    assert_eq!(seen.len(), want);
    let keys: Vec<String> = redis::cmd("KEYS").arg("key:19?").query(&mut c).unwrap();
    assert_eq!(keys.len(), 10);
});

each_backend!(resp3_hello_and_nulls, |b| {
    let srv = kv(b, &[]);
    let mut s = raw(srv.addr);
    s.write_all(b"HELLO 4\r\n").unwrap();
    let want = b"-NOPROTO unsupported protocol version\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
    s.write_all(&cmd(&[b"HELLO", b"3"])).unwrap();
    let reply = read_n(&mut s, 1);
    let mut rest = reply.clone();
    // The map header, then 7 pairs; read until the last field (modules, an empty array).
    while !rest.ends_with(b"$7\r\nmodules\r\n*0\r\n") {
        let more = read_n(&mut s, 1);
        assert!(
            !more.is_empty(),
            "HELLO reply incomplete: {:?}",
            String::from_utf8_lossy(&rest)
        );
        rest.extend(more);
    }
    assert!(
        rest.starts_with(b"%7\r\n"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
    s.write_all(&cmd(&[b"GET", b"nothing"])).unwrap();
    assert_eq!(read_n(&mut s, 3), b"_\r\n");
});

each_backend!(inline_pipeline_split_at_every_byte, |b| {
    let srv = kv(b, &[]);
    let mut s = raw(srv.addr);
    s.set_nodelay(true).unwrap();
    let mut wire = b"PING\r\n".to_vec();
    let mut want = b"+PONG\r\n".to_vec();
    for i in 0..50 {
        let k = format!("k{i}");
        let v = format!("value-{i}");
        wire.extend(cmd(&[b"SET", k.as_bytes(), v.as_bytes()]));
        want.extend(b"+OK\r\n");
        wire.extend(cmd(&[b"GET", k.as_bytes()]));
        want.extend(format!("${}\r\n{v}\r\n", v.len()).bytes());
    }
    wire.extend(b"set \"quoted key\" 'a b'\r\nget \"quoted key\"\r\n");
    want.extend(b"+OK\r\n$3\r\na b\r\n");
    for byte in &wire {
        s.write_all(std::slice::from_ref(byte)).unwrap();
    }
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut s, want.len())),
        String::from_utf8_lossy(&want)
    );
    // A deep pipeline in one write.
    let mut big = Vec::new();
    for _ in 0..10_000 {
        big.extend(cmd(&[b"INCR", b"ctr"]));
    }
    s.write_all(&big).unwrap();
    let mut expect = Vec::new();
    for i in 1..=10_000 {
        expect.extend(format!(":{i}\r\n").bytes());
    }
    assert_eq!(read_n(&mut s, expect.len()), expect);
});

each_backend!(protocol_error_gets_one_reply_then_close, |b| {
    let srv = kv(b, &[]);
    for (input, want) in [
        (
            &b"*1\r\n$x\r\n"[..],
            &b"-ERR Protocol error: invalid bulk length\r\n"[..],
        ),
        (
            b"*1\r\n:5\r\n",
            b"-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*abc\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"get \"x\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ] {
        let mut s = raw(srv.addr);
        s.write_all(input).unwrap();
        s.write_all(b"PING\r\n").unwrap();
        assert_eq!(read_n(&mut s, want.len()), want);
        assert!(closed(&mut s), "connection must close after {want:?}");
    }
    // Nothing else was affected.
    let mut c = client(srv.addr);
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
});

each_backend!(big_values_and_bulk_limit, |b| {
    let srv = kv(b, &["--proto-max-bulk-len", "16mb"]);
    let mut c = client(srv.addr);
    let big: Vec<u8> = (0..12 << 20).map(|i: u32| (i % 251) as u8).collect();
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut c)
        .unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("big").query(&mut c).unwrap();
    assert!(back == big, "12 MiB value round trip");
    let n: i64 = redis::cmd("STRLEN").arg("big").query(&mut c).unwrap();
    assert_eq!(n, 12 << 20);
    let mut s = raw(srv.addr);
    s.write_all(b"*2\r\n$3\r\nGET\r\n$16777217\r\n").unwrap();
    let want = b"-ERR Protocol error: invalid bulk length\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
});

each_backend!(keys_nobody_reads_expire_on_their_own, |b| {
    let srv = kv(b, &[]);
    let mut c = client(srv.addr);
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("SET")
            .arg(format!("t{i}"))
            .arg("x")
            .arg("PX")
            .arg(50 + i % 200)
            .ignore();
    }
    pipe.cmd("SET").arg("forever").arg("x").ignore();
    let _: () = pipe.query(&mut c).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // DBSIZE does not expire anything itself: only active expiry can empty the database.
        let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{n} keys left 5 s after their deadlines"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let expired: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(expired.contains("expired_keys:5000"), "{expired}");
});

each_backend!(maxmemory_noeviction_and_lru, |b| {
    let srv = kv(b, &["--maxmemory", "3mb"]);
    let mut c = client(srv.addr);
    let value = vec![b'x'; 1000];
    let mut oom = None;
    for i in 0..10_000 {
        match redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&value)
            .query::<()>(&mut c)
        {
            Ok(()) => {}
            Err(e) => {
                oom = Some((i, e));
                break;
            }
        }
    }
    let (at, err) = oom.expect("writes must be refused at the limit");
    assert!(at > 100, "refused after only {at} keys");
    assert_eq!(err.code(), Some("OOM"));
    assert_eq!(
        err.detail(),
        Some("command not allowed when used memory > 'maxmemory'.")
    );
    // Reads still work; switching the policy makes room by evicting.
    let v: Vec<u8> = redis::cmd("GET").arg("k1").query(&mut c).unwrap();
    assert_eq!(v, value);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-lru")
        .query(&mut c)
        .unwrap();
    for i in 0..10_000 {
        let _: () = redis::cmd("SET")
            .arg(format!("n{i}"))
            .arg(&value)
            .query(&mut c)
            .unwrap();
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert!(n < 4000, "{n} keys of 1 KB under a 3 MB limit");
    let info: String = redis::cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(!info.contains("evicted_keys:0\r"), "{info}");
});

each_backend!(auth_and_maxclients, |b| {
    let srv = kv(b, &["--requirepass", "s3cret", "--maxclients", "2"]);
    let mut s = raw(srv.addr);
    s.write_all(&cmd(&[b"GET", b"x"])).unwrap();
    let want = b"-NOAUTH Authentication required.\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
    s.write_all(&cmd(&[b"AUTH", b"wrong"])).unwrap();
    let want = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    assert_eq!(read_n(&mut s, want.len()), want);
    s.write_all(&cmd(&[b"AUTH", b"s3cret"])).unwrap();
    assert_eq!(read_n(&mut s, 5), b"+OK\r\n");
    s.write_all(&cmd(&[b"GET", b"x"])).unwrap();
    assert_eq!(read_n(&mut s, 5), b"$-1\r\n");
    let _second = raw(srv.addr);
    let mut third = raw(srv.addr);
    let want = b"-ERR max number of clients reached\r\n";
    assert_eq!(read_n(&mut third, want.len()), want);
    assert!(closed(&mut third));
});

each_backend!(client_kill_closes_the_victim, |b| {
    let srv = kv(b, &[]);
    let mut victim = raw(srv.addr);
    victim.write_all(&cmd(&[b"CLIENT", b"ID"])).unwrap();
    let reply = String::from_utf8(read_n(&mut victim, 3)).unwrap();
    let id: u64 = reply.trim_start_matches(':').trim().parse().unwrap();
    let mut c = client(srv.addr);
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert!(list.contains(&format!("id={id} ")), "{list}");
    let n: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 1);
    assert!(closed(&mut victim));
});

#[test]
fn in_process_service_stops_cleanly() {
    use readyloop_kv::{KvConfig, KvService};
    use readyloop_server::Server;
    let cfg = KvConfig::default();
    let loop_cfg = cfg.loop_config(Backend::EpollEdge, "127.0.0.1:0".parse().unwrap());
    let mut server = Server::bind(loop_cfg, KvService::new(cfg)).unwrap();
    let addr = server.local_addr();
    let stop = server.stop_handle().unwrap();
    let t = std::thread::spawn(move || {
        server.run().unwrap();
        server.service().dbsize(0)
    });
    let mut c = client(addr);
    let _: () = redis::cmd("MSET")
        .arg(&["a", "1", "b", "2"])
        .query(&mut c)
        .unwrap();
    drop(c);
    stop.stop();
    assert_eq!(t.join().unwrap(), 2);
}

each_backend!(
    query_and_output_buffer_limits_close_only_the_offender,
    |b| {
        let srv = kv(
            b,
            &[
                "--client-query-buffer-limit",
                "1mb",
                "--client-output-buffer-limit",
                "2mb",
            ],
        );
        // A request that would need more than the query buffer limit: closed, no reply.
        let mut s = raw(srv.addr);
        s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n")
            .unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < 2_000_000 {
            if s.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        assert!(
            closed(&mut s),
            "a client over the query buffer limit is closed"
        );
        // A client that pipelines GETs of a 512 KiB value and reads nothing: closed at the limit.
        let mut c = client(srv.addr);
        let _: () = redis::cmd("SET")
            .arg("big")
            .arg(vec![b'v'; 512 * 1024])
            .query(&mut c)
            .unwrap();
        let mut greedy = raw(srv.addr);
        let mut reqs = Vec::new();
        for _ in 0..200 {
            reqs.extend(cmd(&[b"GET", b"big"]));
        }
        greedy.write_all(&reqs).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let got = read_n(&mut greedy, 200 * 512 * 1024);
        assert!(
            got.len() < 200 * 512 * 1024,
            "all {} bytes arrived",
            got.len()
        );
        assert!(closed(&mut greedy));
        // Everyone else is unaffected.
        let n: i64 = redis::cmd("STRLEN").arg("big").query(&mut c).unwrap();
        assert_eq!(n, 512 * 1024);
    }
);

/// The lesson's shape: `kv_server PORT`, then `printf 'PING\r\n' | nc -q1 localhost PORT`.
#[test]
fn kv_server_binary_answers_an_inline_ping() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kv_server"));
    let srv = ServerProcess::spawn(bin, &["0".to_string()]).expect("kv_server starts");
    let mut s = raw(srv.addr);
    s.write_all(b"PING\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_n(&mut s, 7), b"+PONG\r\n");
    assert!(
        closed(&mut s),
        "EOF after the reply once the client finished"
    );
}

each_backend!(volatile_policies_evict_only_keys_with_a_ttl, |b| {
    let srv = kv(
        b,
        &["--maxmemory", "3mb", "--maxmemory-policy", "volatile-ttl"],
    );
    let mut c = client(srv.addr);
    let value = vec![b'x'; 1000];
    for i in 0..500 {
        let _: () = redis::cmd("SET")
            .arg(format!("keep{i}"))
            .arg(&value)
            .query(&mut c)
            .unwrap();
    }
    // Keys with TTLs, the shortest first in line for eviction.
    for i in 0..5000 {
        let _: () = redis::cmd("SET")
            .arg(format!("tmp{i}"))
            .arg(&value)
            .arg("EX")
            .arg(1000 + i)
            .query(&mut c)
            .unwrap();
    }
    for i in 0..500 {
        let v: Option<Vec<u8>> = redis::cmd("GET")
            .arg(format!("keep{i}"))
            .query(&mut c)
            .unwrap();
        assert!(v.is_some(), "keep{i} has no TTL and must not be evicted");
    }
    let newest: Option<Vec<u8>> = redis::cmd("GET").arg("tmp4999").query(&mut c).unwrap();
    assert!(newest.is_some(), "the longest TTL survives volatile-ttl");
    let oldest: Option<Vec<u8>> = redis::cmd("GET").arg("tmp0").query(&mut c).unwrap();
    assert!(oldest.is_none(), "the shortest TTL goes first");
    // With nothing volatile left to evict, writes are refused.
    let _: () = redis::cmd("PERSIST").arg("tmp4999").query(&mut c).unwrap();
    let mut refused = false;
    for i in 0..5000 {
        if redis::cmd("SET")
            .arg(format!("more{i}"))
            .arg(&value)
            .query::<()>(&mut c)
            .is_err()
        {
            refused = true;
            break;
        }
    }
    assert!(refused, "no volatile keys left: OOM");
});
