//! Debian's `redis-server` as a test peer: started on a free loopback port in its own temporary
//! directory with persistence off, and killed when dropped.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::resp::{Conn, Value};

/// A running `redis-server` child process.
pub struct RedisServer {
    child: Child,
    pub addr: SocketAddr,
    dir: PathBuf,
}

/// The message a test fails with when the peer is not installed: CI installs it, so a missing
/// binary is a broken setup, never a reason to skip.
pub const MISSING: &str =
    "redis-server is not installed: `apt-get install redis-server redis-tools` \
     (.ci/run installs it); the KV tests compare against it and cannot run without it";

/// Fail with a clear message if `program` is not on PATH.
pub fn require(program: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed: `apt-get install {package}` (.ci/run installs it); \
         this test cannot run without it"
    );
}

/// A loopback port that was free a moment ago. Programs that cannot bind port 0 and report the
/// result (redis-server, nutcracker) need one; a lost race shows as a failed start and is retried.
pub fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl RedisServer {
    /// Start `redis-server` with `extra` arguments (e.g. `["--maxmemory", "10mb"]`).
    pub fn start(extra: &[&str]) -> io::Result<RedisServer> {
        require("redis-server", "redis-server");
        let mut last = None;
        for _ in 0..5 {
            match Self::try_start(extra) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("tried"))
    }

    fn try_start(extra: &[&str]) -> io::Result<RedisServer> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "readyloop-redis-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut s = RedisServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        s.wait_ready(Duration::from_secs(10))?;
        Ok(s)
    }

    fn wait_ready(&mut self, within: Duration) -> io::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "redis-server exited at start ({status})"
                )));
            }
            if let Ok(mut c) = Conn::connect(self.addr) {
                if let Ok(Value::Simple(p)) = c.cmd(&["PING"]) {
                    if p == b"PONG" {
                        return Ok(());
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other("redis-server did not answer PING"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
