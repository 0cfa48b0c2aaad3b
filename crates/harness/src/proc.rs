//! A server under test, run as a child process: start it on a free port, read its descriptors,
//! memory and CPU from /proc, signal it, and make sure it never outlives the test.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

/// Close every inherited descriptor above 2, then exec the server: a test runner or shell may
/// leak descriptors into children, and the lesson's proof counts the server's descriptors.
const CLEAN_EXEC: &str = r#"for p in /proc/$$/fd/*; do fd=${p##*/}; if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done; exec "$@""#;

/// A running server child process.
pub struct ServerProcess {
    child: Child,
    /// Drains the child's stderr into `log`; joined once the child exits, so the log is
    /// complete (final stats line included) when `wait_exit` returns.
    reader: Option<std::thread::JoinHandle<()>>,
    /// Where it listens (read from its "listening on" log line).
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Start `program args...` with inherited descriptors closed, and wait (at most 10 s) for
    /// its `listening on ADDR` log line. `prefix` runs before the program (e.g. `prlimit ...`).
    pub fn spawn(program: &Path, args: &[String]) -> io::Result<ServerProcess> {
        Self::spawn_with(&[], program, args)
    }

    /// Like [`spawn`](Self::spawn), with `prefix` words run in front of the program
    /// (e.g. `["prlimit", "--nofile=64"]`).
    pub fn spawn_with(
        prefix: &[&str],
        program: &Path,
        args: &[String],
    ) -> io::Result<ServerProcess> {
        match Self::try_spawn_with(prefix, program, args)? {
            Started::Listening(server) => Ok(server),
            Started::Exited(status, log) => Err(io::Error::other(format!(
                "server did not start ({status}); its log:\n{log}"
            ))),
        }
    }

    /// Like [`spawn_with`](Self::spawn_with), but a server that exits instead of listening is
    /// an answer, not an error: its exit status and everything it wrote to stderr.
    pub fn try_spawn_with(prefix: &[&str], program: &Path, args: &[String]) -> io::Result<Started> {
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(CLEAN_EXEC).arg("bash");
        cmd.args(prefix).arg(program).args(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd.env(
            "RUST_LOG",
            std::env::var("SERVER_LOG").unwrap_or_else(|_| "info".into()),
        );
        let mut child = cmd.spawn()?;
        let stderr = child.stderr.take().expect("piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = Arc::clone(&log);
        // Keep draining stderr for the child's whole life: a full pipe would block its loop.
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    if let Some(addr) = rest.split_whitespace().next().and_then(|a| a.parse().ok())
                    {
                        let _ = tx.send(addr);
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(addr) => Ok(Started::Listening(ServerProcess {
                child,
                reader: Some(reader),
                addr,
                log,
            })),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed without a listening line: the process is exiting.
                let status = child.wait()?;
                let _ = reader.join();
                let log = log.lock().unwrap().join("\n");
                Ok(Started::Exited(status, log))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let status = child.wait()?;
                let _ = reader.join();
                let log = log.lock().unwrap().join("\n");
                Err(io::Error::other(format!(
                    "server neither listened nor exited within 10 s ({status}); its log:\n{log}"
                )))
            }
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Its open descriptors: (number, what it points to).
    pub fn fds(&self) -> io::Result<Vec<(u32, String)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(format!("/proc/{}/fd", self.pid()))? {
            let entry = entry?;
            let n = entry
                .file_name()
                .to_string_lossy()
                .parse()
                .unwrap_or(u32::MAX);
            let target = std::fs::read_link(entry.path())
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            out.push((n, target));
        }
        out.sort();
        Ok(out)
    }

    /// How many descriptors it has open (`ls /proc/PID/fd | wc -l`).
    pub fn fd_count(&self) -> io::Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.pid()))?.count())
    }

    /// Wait until its descriptor count equals `want` (connections close asynchronously).
    /// Returns the last count seen.
    pub fn wait_fd_count(&self, want: usize, within: Duration) -> io::Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            let n = self.fd_count()?;
            if n == want || Instant::now() >= deadline {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident set size in bytes (VmRSS).
    pub fn rss_bytes(&self) -> io::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .ok_or_else(|| io::Error::other("no VmRSS"))
    }

    /// CPU time used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> io::Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the ")" that ends the command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok(num(11) + num(12))
    }

    /// Ask the server for its counters (SIGUSR1) and parse the `stats:` line it logs.
    pub fn stats_snapshot(&self, within: Duration) -> io::Result<Counters> {
        let seen = self
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("stats: "))
            .count();
        self.signal(Signal::USR1)?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains("stats: "))
                .nth(seen)
            {
                return Ok(Counters::parse(line));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other(
                    "server logged no stats line after SIGUSR1",
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The counters of its final `stopped cleanly: ...` line, if it logged one.
    pub fn final_stats(&self) -> Option<Counters> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|l| l.contains("stopped cleanly"))
            .map(|l| Counters::parse(l))
    }

    /// How many lines it logged so far contain `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Wait until at least `n` logged lines contain `needle`; false if `within` passed first.
    pub fn wait_log(&self, needle: &str, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.count_log(needle) >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Its scheduler state from /proc/PID/stat (`R`, `S`, `T` for stopped, ...).
    pub fn state(&self) -> io::Result<char> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        stat.rsplit_once(')')
            .and_then(|(_, r)| r.trim_start().chars().next())
            .ok_or_else(|| io::Error::other("no state in /proc/PID/stat"))
    }

    /// SIGSTOP it and wait until the kernel reports it stopped, so whatever the test does next
    /// queues up for its next wake-up.
    pub fn stop_process(&self) -> io::Result<()> {
        self.signal(Signal::STOP)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.state()? != 'T' {
            if Instant::now() >= deadline {
                return Err(io::Error::other("SIGSTOP did not stop the server"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Send a signal (e.g. `Signal::TERM`).
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        let pid = Pid::from_raw(self.pid() as i32).ok_or_else(|| io::Error::other("pid 0"))?;
        Ok(kill_process(pid, sig)?)
    }

    /// Wait for it to exit, at most `within`; None if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                // The pipe closes with the child, so this returns once the last line is in.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What [`ServerProcess::try_spawn_with`] found.
pub enum Started {
    /// It logged `listening on ADDR`.
    Listening(ServerProcess),
    /// It exited first: its status and its stderr.
    Exited(ExitStatus, String),
}

/// A server's counters, parsed from the `key=value` pairs of its stats line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counters(pub std::collections::BTreeMap<String, f64>);

impl Counters {
    /// Every `key=number` pair in `line`.
    pub fn parse(line: &str) -> Counters {
        Counters(
            line.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .filter_map(|(k, v)| Some((k.to_string(), v.parse::<f64>().ok()?)))
                .collect(),
        )
    }

    /// One counter (0 if absent).
    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// `self - earlier`, counter by counter (for the work done between two snapshots).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v - earlier.get(k)))
                .collect(),
        )
    }
}
