//! Shared by every integration test: start servers as child processes, run clients.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use reactor::Backend;
pub use readyloop_harness::client::{self, Conversation, End, RunOptions, Verdict};
pub use readyloop_harness::gen;
pub use readyloop_harness::proc::{Counters, ServerProcess};

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

pub fn readyloop_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_readyloop"))
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
