//! `readyloop kv` started as redis-server is, on every backend: a redis.conf with comments,
//! quoting, rename-command and a Unix socket; command-line directives over the file; DEBUG
//! behind enable-debug-command; CONFIG REWRITE keeping the file's comments; SHUTDOWN refused
//! inside MULTI; a bad directive refused with Redis's report.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reactor::Backend;
use readyloop_harness::proc::{ServerProcess, Started};

use crate::util::readyloop_bin;

fn tmpdir(tag: &str, backend: Backend) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "kv-dropin-{tag}-{}-{}",
        backend.name(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn start(conf: &Path, backend: Backend, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = vec!["kv".into(), conf.display().to_string()];
    for a in ["--backend", backend.name(), "--port", "0"]
        .iter()
        .chain(extra)
    {
        args.push(a.to_string());
    }
    ServerProcess::spawn(readyloop_bin(), &args).expect("kv server starts")
}

/// One request over any stream, one reply line (the replies used here are one line).
fn line_reply(s: &mut (impl std::io::Read + Write), req: &str) -> String {
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut l = String::new();
    r.read_line(&mut l).unwrap();
    l.trim_end().to_string()
}

fn cmd(addr: std::net::SocketAddr, args: &[&str]) -> redis::Value {
    let mut c = redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    let mut q = redis::cmd(args[0]);
    for a in &args[1..] {
        q.arg(*a);
    }
    q.query(&mut c)
        .unwrap_or_else(|e| redis::Value::SimpleString(format!("ERR: {e}")))
}

fn text(v: redis::Value) -> String {
    match v {
        redis::Value::SimpleString(s) => s,
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        redis::Value::Okay => "OK".into(),
        redis::Value::Int(n) => n.to_string(),
        redis::Value::Array(a) => a.into_iter().map(text).collect::<Vec<_>>().join(" "),
        other => format!("{other:?}"),
    }
}

fn config_file_unix_socket_debug_and_rewrite(backend: Backend) {
    let dir = tmpdir("conf", backend);
    let sock = dir.join("redis.sock");
    let conf = dir.join("redis.conf");
    std::fs::write(
        &conf,
        format!(
            "# keep this comment\nmaxmemory 100mb\nunixsocket \"{}\"\nunixsocketperm 700\n\
             enable-debug-command yes\nrename-command flushdb badger\nsave \"\"\n\
             maxmemory-policy noeviction\n",
            sock.display()
        ),
    )
    .unwrap();
    let mut p = start(&conf, backend, &["--maxmemory-policy", "allkeys-lru"]);
    let addr = p.addr;
    // The Unix socket serves the same dataset, with the permissions asked for.
    let mut u = UnixStream::connect(&sock).expect("unix socket listens");
    assert_eq!(line_reply(&mut u, "SET k v\r\n"), "+OK");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(text(cmd(addr, &["GET", "k"])), "v");
    // File, then command line: the command line's policy wins.
    assert_eq!(
        text(cmd(addr, &["CONFIG", "GET", "maxmemory"])),
        "maxmemory 104857600"
    );
    assert_eq!(
        text(cmd(addr, &["CONFIG", "GET", "maxmemory-policy"])),
        "maxmemory-policy allkeys-lru"
    );
    // rename-command: the old name is gone, the new one works.
    assert!(text(cmd(addr, &["FLUSHDB"])).contains("unknown command"));
    // DEBUG (enabled): the digest changes with the data, and DIGEST-VALUE of a missing key
    // is zeros.
    let d1 = text(cmd(addr, &["DEBUG", "DIGEST"]));
    assert_eq!(d1.len(), 40);
    assert_ne!(d1, "0".repeat(40));
    assert_eq!(
        text(cmd(addr, &["DEBUG", "DIGEST-VALUE", "nokey"])),
        "0".repeat(40)
    );
    assert_eq!(text(cmd(addr, &["BADGER"])), "OK");
    assert_eq!(text(cmd(addr, &["DEBUG", "DIGEST"])), "0".repeat(40));
    // SHUTDOWN inside MULTI is refused and aborts the transaction; the server stays up.
    let mut t = std::net::TcpStream::connect(addr).unwrap();
    t.write_all(b"MULTI\r\nSHUTDOWN\r\nEXEC\r\nPING\r\n")
        .unwrap();
    let mut r = BufReader::new(t);
    let mut got = Vec::new();
    for _ in 0..4 {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        got.push(l.trim_end().to_string());
    }
    assert_eq!(got[1], "-ERR Command not allowed inside a transaction");
    assert!(got[2].starts_with("-EXECABORT"), "{got:?}");
    assert_eq!(got[3], "+PONG");
    // CONFIG REWRITE: the comment stays, maxmemory is replaced in place.
    assert_eq!(
        text(cmd(addr, &["CONFIG", "SET", "maxmemory", "200mb"])),
        "OK"
    );
    assert_eq!(text(cmd(addr, &["CONFIG", "REWRITE"])), "OK");
    let after = std::fs::read_to_string(&conf).unwrap();
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines[0], "# keep this comment");
    assert_eq!(lines[1], "maxmemory 209715200");
    assert!(after.contains("rename-command flushdb badger"), "{after}");
    assert!(after.contains("maxmemory-policy allkeys-lru"), "{after}");
    p.signal(rustix::process::Signal::TERM).unwrap();
    assert!(p.wait_exit(Duration::from_secs(10)).unwrap().is_some());
    assert!(!sock.exists(), "the socket file goes with the server");
    assert!(
        p.log().contains("Ready to accept connections"),
        "{}",
        p.log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_file_unix_socket_debug_and_rewrite_poll() {
    config_file_unix_socket_debug_and_rewrite(Backend::Poll);
}

#[test]
fn config_file_unix_socket_debug_and_rewrite_epoll_lt() {
    config_file_unix_socket_debug_and_rewrite(Backend::EpollLevel);
}

#[test]
fn config_file_unix_socket_debug_and_rewrite_epoll_et() {
    config_file_unix_socket_debug_and_rewrite(Backend::EpollEdge);
}

#[test]
fn debug_is_refused_unless_enabled() {
    let dir = tmpdir("nodebug", Backend::EpollLevel);
    let conf = dir.join("redis.conf");
    std::fs::write(&conf, "save \"\"\n").unwrap();
    let p = start(&conf, Backend::EpollLevel, &[]);
    let v = text(cmd(p.addr, &["DEBUG", "DIGEST"]));
    assert!(v.contains("DEBUG command not allowed"), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_directive_is_refused_with_redis_report() {
    let args: Vec<String> = ["kv", "--port", "--bla"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    match ServerProcess::try_spawn_with(&[], readyloop_bin(), &args).unwrap() {
        Started::Exited(status, log) => {
            assert!(!status.success());
            assert!(log.contains("FATAL CONFIG FILE ERROR"), "{log}");
            assert!(
                log.contains(">>> 'port \"--bla\"'\nargument couldn't be parsed into an integer"),
                "{log}"
            );
        }
        Started::Listening(_) => panic!("started with port --bla"),
    }
}
