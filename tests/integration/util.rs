//! Shared by every integration test: start servers as child processes, run clients.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reactor::Backend;
pub use readyloop_harness::client::{self, Conversation, End, RunOptions, Verdict};
pub use readyloop_harness::gen;
pub use readyloop_harness::proc::{Counters, ServerProcess};
use rustix::net::{self as rnet, sockopt, AddressFamily, SocketFlags, SocketType};
use rustix::process::Signal;

/// Run `$body(backend)` once per backend, as tests named `poll`, `epoll_lt`, `epoll_et`.
macro_rules! each_backend {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn poll() {
                ($body)(reactor::Backend::Poll)
            }
            #[test]
            fn epoll_lt() {
                ($body)(reactor::Backend::EpollLevel)
            }
            #[test]
            fn epoll_et() {
                ($body)(reactor::Backend::EpollEdge)
            }
        }
    };
}

/// The `readyloop` binary under test: this build's, or `READYLOOP_BIN` if set, so the
/// regression tests can be pointed at an older build to see them fail there
/// (`READYLOOP_BIN=/old/target/debug/readyloop cargo test --test integration regressions::`).
pub fn readyloop_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var_os("READYLOOP_BIN")
            .map(Into::into)
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_readyloop").into())
    })
}

/// `readyloop serve --backend B --port 0 EXTRA...` as a child process.
pub fn serve(backend: Backend, extra: &[&str]) -> ServerProcess {
    let mut args: Vec<String> = ["serve", "--backend", backend.name(), "--port", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ServerProcess::spawn(readyloop_bin(), &args).expect("server starts")
}

/// The descriptors a server holds with no clients: stdio, listener, and the epoll instance
/// (poll(2) needs no descriptor of its own).
pub fn baseline_fds(backend: Backend) -> usize {
    match backend {
        Backend::Poll => 4,
        Backend::EpollLevel | Backend::EpollEdge => 5,
    }
}

/// Run conversations against `addr` and fail the test with the first bad verdict.
pub fn run_all_ok(addr: SocketAddr, convs: &[Conversation], opts: RunOptions) -> client::Summary {
    let outcomes = client::run(addr, convs, opts).expect("client runs");
    let summary = client::summarize(&outcomes);
    if let Some((i, v)) = &summary.first_failure {
        panic!(
            "{} of {} conversations failed; first: #{i} ({} bytes): {v}",
            summary.conversations - summary.passed,
            summary.conversations,
            convs[*i].payload.len()
        );
    }
    summary
}

/// Run a command to completion.
pub fn run_cmd(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .expect("command runs")
}

/// `nc` is needed by the lesson's own proof; say so plainly if it is missing.
pub fn require_nc() {
    let ok = Command::new("sh")
        .args(["-c", "command -v nc"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "these tests run the lesson's nc commands: apt-get install netcat-openbsd"
    );
}

/// A counter from the server's final `stopped cleanly: ...` stats line, e.g. `rejected`.
pub fn final_stat(log: &str, name: &str) -> u64 {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("stopped cleanly"))
        .unwrap_or_else(|| panic!("no final stats in log:\n{log}"));
    let counters = Counters::parse(line);
    assert!(counters.0.contains_key(name), "no {name}= in {line}");
    counters.get(name) as u64
}

/// SIGTERM, expect exit 0 within 10 s, return the log.
pub fn stop(mut server: ServerProcess) -> String {
    server.signal(Signal::TERM).unwrap();
    let status = server
        .wait_exit(Duration::from_secs(10))
        .unwrap()
        .unwrap_or_else(|| panic!("no exit within 10 s after SIGTERM:\n{}", server.log()));
    assert!(status.success(), "{status}; log:\n{}", server.log());
    server.log()
}

/// A blocking client socket with its buffers sized *before* connect (so the window scale is
/// negotiated for them).
pub fn connect_sized(addr: SocketAddr, rcvbuf: Option<usize>, sndbuf: Option<usize>) -> TcpStream {
    let fd = rnet::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    if let Some(n) = rcvbuf {
        sockopt::set_socket_recv_buffer_size(&fd, n).unwrap();
    }
    if let Some(n) = sndbuf {
        sockopt::set_socket_send_buffer_size(&fd, n).unwrap();
    }
    rnet::connect(&fd, &addr).unwrap();
    TcpStream::from(fd)
}

/// Non-blocking: send `chunk` repeatedly until `limit` bytes in total or the socket is full.
/// Returns the bytes sent by this call; an error means the server closed the connection.
pub fn pump(
    s: &mut TcpStream,
    chunk: &[u8],
    sent: &mut usize,
    limit: usize,
) -> std::io::Result<usize> {
    let mut now = 0;
    while *sent < limit {
        let want = chunk.len().min(limit - *sent);
        match s.write(&chunk[..want]) {
            Ok(n) => {
                *sent += n;
                now += n;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(now)
}

/// Send until the server stops taking data (no progress for 200 ms): the server's send buffer,
/// the client's receive buffer and the high-water mark are all full, so the server now owes
/// this client output and has stopped reading it. Returns the bytes sent.
pub fn fill_until_stuck(s: &mut TcpStream) -> usize {
    let chunk = vec![0x3cu8; 1 << 20];
    let mut sent = 0;
    let mut last_progress = Instant::now();
    let give_up = Instant::now() + Duration::from_secs(10);
    while last_progress.elapsed() < Duration::from_millis(200) {
        assert!(Instant::now() < give_up, "server never stopped reading");
        if pump(s, &chunk, &mut sent, usize::MAX).unwrap() > 0 {
            last_progress = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    sent
}

/// Close with `SO_LINGER 0`: the kernel sends RST instead of FIN and discards unsent data.
pub fn reset(s: TcpStream) {
    sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
    drop(s);
}

/// Write `msg` and read exactly its echo back (blocking, bounded by a read timeout).
pub fn echo_once(s: &mut TcpStream, msg: &[u8]) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(msg).unwrap();
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

/// Read until EOF or error, bounded by `within`; Ok(()) when the server closed the connection
/// (EOF or reset), Err with what happened otherwise.
pub fn expect_closed_by_server(s: &mut TcpStream, within: Duration) -> Result<(), String> {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    match s.read(&mut buf) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("got {n} bytes instead of a close")),
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => Ok(()),
        Err(e) => Err(format!("no close: {e}")),
    }
}

/// Blocking: read exactly `n` bytes, bounded by `within` in total; Err says how far it got.
pub fn read_n(s: &mut TcpStream, n: usize, within: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + within;
    let mut got = vec![0u8; n];
    let mut have = 0;
    while have < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("only {have} of {n} bytes within {within:?}"));
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut got[have..]) {
            Ok(0) => return Err(format!("EOF after {have} of {n} bytes")),
            Ok(k) => have += k,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("only {have} of {n} bytes within {within:?}"))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{e} after {have} of {n} bytes")),
        }
    }
    Ok(got)
}

/// Poll `cond` every 10 ms until it holds; false if `within` passed first.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The tests that park hundreds of MiB in kernel socket buffers run one backend at a time:
/// three at once would approach `tcp_mem` and put every socket on the machine under memory
/// pressure, slowing unrelated tests.
pub static HEAVY: Mutex<()> = Mutex::new(());

pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}
