//! Shared bits of the peer echo servers: a minimal command line and the start-up line.
//!
//! Both servers listen on 127.0.0.1 only, print exactly one line
//! `listening on 127.0.0.1:PORT` to stderr once the listener is bound (with the real port when
//! `--port 0` was given) and run until SIGINT/SIGTERM, which take their default action.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::exit;

/// Parsed command line.
#[derive(Debug, Default)]
pub struct Args {
    pub port: u16,
    /// tokio-echo only: use the current-thread runtime.
    pub current_thread: bool,
    /// tokio-echo only: worker threads for the multi-thread runtime (default: tokio's, one per CPU).
    pub workers: Option<usize>,
}

impl Args {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

/// Parse `--port P` plus the flags listed in `extra` (`"--current-thread"`, `"--workers"`).
pub fn parse_args(usage: &str, extra: &[&str]) -> Args {
    let mut args = Args::default();
    let mut port = None;
    let mut it = std::env::args().skip(1);
    let fail = |msg: String| -> ! {
        eprintln!("error: {msg}\nusage: {usage}");
        exit(2)
    };
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |name: &str| -> String {
            inline
                .clone()
                .or_else(|| it.next())
                .unwrap_or_else(|| fail(format!("{name} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("usage: {usage}");
                exit(0)
            }
            "--port" | "-p" => {
                let v = value("--port");
                port = Some(v.parse().unwrap_or_else(|_| fail(format!("bad port {v:?}"))));
            }
            "--current-thread" if extra.contains(&"--current-thread") => args.current_thread = true,
            "--workers" if extra.contains(&"--workers") => {
                let v = value("--workers");
                let n: usize = v.parse().unwrap_or_else(|_| fail(format!("bad worker count {v:?}")));
                if n == 0 {
                    fail("--workers must be at least 1".into());
                }
                args.workers = Some(n);
            }
            _ => fail(format!("unexpected argument {a:?}")),
        }
    }
    args.port = port.unwrap_or_else(|| fail("--port is required".into()));
    args
}

/// The one start-up line the bench driver waits for. Also puts SIGINT and SIGTERM back to their
/// default action (terminate): a process started in the background by a non-interactive shell
/// inherits SIGINT *ignored*, and then `kill -INT` would not stop it.
pub fn announce(addr: SocketAddr) {
    default_signals();
    eprintln!("listening on {addr}");
}

fn default_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installing SIG_DFL registers no handler code; it only undoes an inherited
        // SIG_IGN. Called before any other thread could rely on the old disposition.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}
