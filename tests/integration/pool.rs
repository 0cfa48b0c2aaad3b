//! The digest service and its worker pool (`serve --service digest`): replies in request order
//! under pipelining, completions for closed clients dropped, backpressure when the queue is
//! full, panicking jobs, SIGTERM mid-job, batched wake-ups, descriptor and thread counts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use reactor::Backend;
use readyloop_digest::protocol::{digest, push_hex_line};
use readyloop_digest::{Digest, DigestConfig};
use readyloop_server::{Config, Server, StopHandle};
use rustix::process::Signal;

use crate::util::*;

/// A line-protocol client with a generous read timeout (a stuck server fails the test, it
/// does not hang it).
struct LineClient {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl LineClient {
    fn connect(addr: SocketAddr) -> LineClient {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        LineClient {
            w: s.try_clone().unwrap(),
            r: BufReader::new(s),
        }
    }

    fn send(&mut self, text: &str) {
        self.w.write_all(text.as_bytes()).expect("send");
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        let n = self.r.read_line(&mut l).expect("reply within 30 s");
        assert!(n > 0, "server closed the connection");
        l
    }

    fn lines(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.line()).collect()
    }

    /// Nothing more arrives within `wait` (and the connection is still open).
    fn assert_nothing_more(&mut self, wait: Duration) {
        assert!(self.r.buffer().is_empty(), "unexpected buffered bytes");
        if wait.is_zero() {
            self.r.get_ref().set_nonblocking(true).unwrap();
        } else {
            self.r.get_ref().set_read_timeout(Some(wait)).unwrap();
        }
        let mut b = [0u8; 256];
        match self.r.read(&mut b) {
            Ok(0) => panic!("connection closed"),
            Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&b[..n])),
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "{e}"
            ),
        }
        self.r.get_ref().set_nonblocking(false).unwrap();
        self.r
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
    }

    /// Close with a reset (SO_LINGER 0), not a FIN: the server sees the error at once and
    /// closes its side while the job still runs (after a FIN it would still owe the reply).
    fn reset(self) {
        rustix::net::sockopt::set_socket_linger(&self.w, Some(Duration::ZERO)).unwrap();
    }
}

fn hex_line(rounds: u32, text: &str) -> String {
    let mut v = Vec::new();
    push_hex_line(&mut v, &digest(rounds, text.as_bytes()));
    String::from_utf8(v).unwrap()
}

fn digest_server(b: Backend, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--service", "digest"];
    args.extend_from_slice(extra);
    serve(b, &args)
}

fn threads(server: &ServerProcess) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .count()
}

/// Wait (at most 5 s) for `n` threads: the pool starts when the loop starts running, just
/// after the "listening on" line the test waited for.
fn wait_threads(server: &ServerProcess, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = threads(server);
        if now == n || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Poll the server's counters (SIGUSR1) until `done` holds, at most 20 s.
fn wait_stats(server: &ServerProcess, what: &str, done: impl Fn(&Counters) -> bool) -> Counters {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = server.stats_snapshot(Duration::from_secs(5)).unwrap();
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not reached; last stats: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Rounds that keep one core busy for a good while (the job the other clients must not wait
/// for): 5M SHA-256 rounds are ~0.25 s with SHA extensions, seconds without.
const SLOW: u32 = 5_000_000;

each_backend!(
    pipelined_light_and_heavy_replies_keep_request_order_while_others_are_served,
    |b| {
        let server = digest_server(
            b,
            &[
                "--workers",
                "2",
                "--max-in-flight",
                "64",
                "--max-rounds",
                "100000000",
            ],
        );
        let mut a = LineClient::connect(server.addr);
        // Heavy first and slowest, so later heavy requests finish earlier on the other worker:
        // only the loop's ordering puts their replies back in place.
        let slowest = 4 * SLOW;
        let mut req = format!("HASH {slowest} first\n");
        let mut want = vec![hex_line(slowest, "first")];
        for i in 0..30u32 {
            if i % 2 == 0 {
                req.push_str("PING\n");
                want.push("PONG\n".into());
            } else {
                let rounds = 1 + (30 - i) * 500;
                req.push_str(&format!("HASH {rounds} t {i}\n"));
                want.push(hex_line(rounds, &format!("t {i}")));
            }
        }
        a.send(&req);
        // Another client is answered inline while the first job runs.
        let mut other = LineClient::connect(server.addr);
        for _ in 0..20 {
            other.send("PING\n");
            assert_eq!(other.line(), "PONG\n");
        }
        // ... while the first job still runs: nothing can have reached `a` yet (its first
        // reply is that job's). An inline HASH would have answered `a` first.
        a.assert_nothing_more(Duration::ZERO);
        assert_eq!(a.lines(want.len()), want, "replies out of request order");
        a.assert_nothing_more(Duration::from_millis(50));
    }
);

each_backend!(
    a_client_that_closes_mid_job_is_dropped_counted_and_never_answers_its_successor,
    |b| {
        let server = digest_server(b, &["--workers", "1"]);
        // Listener, poller, stdio, and the waker's eventfd.
        let base = baseline_fds(b) + 1;
        assert_eq!(
            server.wait_fd_count(base, Duration::from_secs(5)).unwrap(),
            base
        );
        let mut gone = LineClient::connect(server.addr);
        gone.send(&format!("HASH {SLOW} gone\n"));
        wait_stats(&server, "job submitted", |s| s.get("pool_submitted") == 1.0);
        gone.reset();
        // Likely the same descriptor and slot as the closed client, while its job still runs.
        let mut next = LineClient::connect(server.addr);
        let s = wait_stats(&server, "job completed", |s| s.get("pool_completed") == 1.0);
        assert_eq!(s.get("pool_dropped"), 1.0, "{s:?}");
        assert_eq!(s.get("stale_completions"), 1.0, "{s:?}");
        next.send("PING\n");
        assert_eq!(next.line(), "PONG\n");
        next.assert_nothing_more(Duration::from_millis(50));
        drop(next);
        assert_eq!(
            server.wait_fd_count(base, Duration::from_secs(5)).unwrap(),
            base
        );
    }
);

each_backend!(
    a_client_that_sends_fin_mid_job_costs_nothing_and_its_descriptor_returns,
    |b| {
        let server = digest_server(b, &["--workers", "1"]);
        let base = baseline_fds(b) + 1;
        assert_eq!(
            server.wait_fd_count(base, Duration::from_secs(5)).unwrap(),
            base
        );
        for i in 0..5 {
            let mut c = LineClient::connect(server.addr);
            c.send(&format!("HASH {} fin {i}\nPING\n", SLOW / 10));
            // A full close: the server still owes both replies (half-close semantics) and
            // writes them into a socket the client no longer reads.
        }
        wait_stats(&server, "jobs completed", |s| {
            s.get("pool_completed") == 5.0
        });
        assert_eq!(
            server.wait_fd_count(base, Duration::from_secs(10)).unwrap(),
            base
        );
        let mut c = LineClient::connect(server.addr);
        c.send("PING\n");
        assert_eq!(c.line(), "PONG\n");
    }
);

each_backend!(
    a_full_queue_pauses_heavy_clients_serves_light_ones_and_loses_nothing,
    |b| {
        let server = digest_server(
            b,
            &["--workers", "1", "--queue", "2", "--max-in-flight", "4"],
        );
        let addr = server.addr;
        let heavy: Vec<_> = (0..6)
            .map(|c| {
                std::thread::spawn(move || {
                    let mut cl = LineClient::connect(addr);
                    let mut req = String::new();
                    let mut want = Vec::new();
                    for i in 0..25 {
                        let text = format!("c{c} r{i}");
                        req.push_str(&format!("HASH 20000 {text}\nPING\n"));
                        want.push(hex_line(20_000, &text));
                        want.push("PONG\n".to_string());
                    }
                    cl.send(&req);
                    assert_eq!(cl.lines(want.len()), want, "heavy client {c}");
                })
            })
            .collect();
        let mut light = LineClient::connect(addr);
        for _ in 0..100 {
            light.send("PING\n");
            assert_eq!(light.line(), "PONG\n");
        }
        for h in heavy {
            h.join().expect("heavy client");
        }
        let s = server.stats_snapshot(Duration::from_secs(5)).unwrap();
        assert!(
            s.get("digest_queue_pauses") > 0.0,
            "queue never filled: {s:?}"
        );
        assert!(s.get("digest_resumes") > 0.0, "{s:?}");
        assert!(s.get("pool_queue_high_water") <= 2.0, "{s:?}");
        assert_eq!(s.get("pool_completed"), 150.0, "{s:?}");
        assert_eq!(s.get("pool_rejected"), 0.0, "{s:?}");
        assert_eq!(s.get("digest_hashes"), 150.0, "{s:?}");
        assert_eq!(s.get("digest_pings"), 250.0, "{s:?}");
    }
);

/// The digest service run in-process on a thread (the test hook `panic_on` is a library
/// setting, not a command-line flag of the product); returns the loop's final counters.
fn in_process(
    b: Backend,
    cfg: DigestConfig,
) -> (
    SocketAddr,
    StopHandle,
    std::thread::JoinHandle<readyloop_server::Stats>,
) {
    let mut server = Server::bind(
        Config::new(b, "127.0.0.1:0".parse().unwrap()),
        Digest::new(cfg),
    )
    .unwrap();
    let addr = server.local_addr();
    let stop = server.stop_handle().unwrap();
    let h = std::thread::spawn(move || server.run().expect("loop runs"));
    (addr, stop, h)
}

fn counter(stats: &readyloop_server::Stats, name: &str) -> u64 {
    stats
        .service
        .iter()
        .find(|(n, _)| *n == name)
        .map_or_else(|| panic!("no counter {name}: {stats}"), |&(_, v)| v)
}

each_backend!(
    a_panicking_job_gets_an_error_reply_and_the_pool_keeps_its_workers,
    |b| {
        for workers in [2, 0] {
            let mut cfg = DigestConfig::new(workers);
            cfg.panic_on = Some(b"boom".to_vec());
            let (addr, stop, loop_thread) = in_process(b, cfg);
            let mut c = LineClient::connect(addr);
            // Three panics on two workers: had a panic killed its worker, the third round
            // would find none left and time out.
            for _ in 0..3 {
                c.send("HASH 1 boom\nHASH 2 abc\nPING\n");
                assert_eq!(
                    c.lines(3),
                    [
                        "ERR job panicked\n".to_string(),
                        hex_line(2, "abc"),
                        "PONG\n".into()
                    ]
                );
            }
            stop.stop();
            let stats = loop_thread.join().expect("loop thread");
            if workers == 2 {
                assert_eq!(counter(&stats, "pool_panicked"), 3, "{stats}");
                assert_eq!(counter(&stats, "pool_completed"), 6, "{stats}");
            } else {
                assert_eq!(counter(&stats, "digest_inline_panics"), 3, "{stats}");
                assert_eq!(counter(&stats, "pool_submitted"), 0, "{stats}");
            }
        }
    }
);

/// A worker of `server` has used CPU time (it is running a job).
fn a_worker_is_busy(server: &ServerProcess) -> bool {
    std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|st| st.contains("(readyloop-worke"))
        .any(|st| {
            let rest = st.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            ticks(11) + ticks(12) > 0
        })
}

each_backend!(
    sigterm_mid_job_delivers_the_reply_exits_zero_and_joins_the_workers,
    |b| {
        let mut server = digest_server(
            b,
            &[
                "--workers",
                "2",
                "--max-rounds",
                "100000000",
                "--shutdown-timeout",
                "60",
            ],
        );
        assert_eq!(wait_threads(&server, 3), 3, "loop + 2 workers");
        let rounds = 4 * SLOW;
        let mut c = LineClient::connect(server.addr);
        c.send(&format!("HASH {rounds} last words\nPING\n"));
        wait_stats(&server, "job submitted", |s| s.get("pool_submitted") == 1.0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !a_worker_is_busy(&server) {
            assert!(Instant::now() < deadline, "no worker picked up the job");
            std::thread::sleep(Duration::from_millis(2));
        }
        server.signal(Signal::TERM).unwrap();
        assert_eq!(
            c.lines(2),
            [hex_line(rounds, "last words"), "PONG\n".to_string()]
        );
        let status = server
            .wait_exit(Duration::from_secs(60))
            .unwrap()
            .expect("server exits");
        let log = server.log();
        assert!(status.success(), "exit status {status}; log:\n{log}");
        assert!(
            log.contains("digest: 2 workers joined; threads left in the process: 1"),
            "workers not joined before exit; log:\n{log}"
        );
        let s = server.final_stats().expect("final stats");
        assert_eq!(s.get("pool_completed"), 1.0, "{s:?}");
        assert_eq!(s.get("pool_dropped"), 0.0, "{s:?}");
    }
);

each_backend!(
    completions_are_batched_fewer_wakeups_than_completions,
    |b| {
        let server = digest_server(b, &["--workers", "2", "--max-in-flight", "64"]);
        let addr = server.addr;
        let clients: Vec<_> = (0..4)
            .map(|c| {
                std::thread::spawn(move || {
                    let mut cl = LineClient::connect(addr);
                    let req: String = (0..500).map(|i| format!("HASH 1 {c}.{i}\n")).collect();
                    cl.send(&req);
                    let want: Vec<String> =
                        (0..500).map(|i| hex_line(1, &format!("{c}.{i}"))).collect();
                    assert_eq!(cl.lines(500), want);
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client");
        }
        let s = server.stats_snapshot(Duration::from_secs(5)).unwrap();
        assert_eq!(s.get("pool_completed"), 2000.0, "{s:?}");
        let wakes = s.get("pool_wakes");
        assert!(
            (1.0..2000.0).contains(&wakes),
            "one wake per completion: {s:?}"
        );
        // The loop saw no more waker events than workers wrote wake-ups.
        assert!(s.get("waker_events") <= wakes, "{s:?}");
    }
);

each_backend!(
    bad_lines_get_errors_and_an_overlong_line_closes_after_its_reply,
    |b| {
        let server = digest_server(b, &["--workers", "1", "--max-line", "100"]);
        let mut c = LineClient::connect(server.addr);
        c.send("NOPE\nHASH 0 x\nHASH\n\nPING\n");
        let got = c.lines(5);
        assert!(got[..4].iter().all(|l| l.starts_with("ERR ")), "{got:?}");
        assert_eq!(got[4], "PONG\n");
        c.send(&format!("HASH 1 {}\n", "x".repeat(200)));
        assert_eq!(c.line(), "ERR line too long\n");
        let mut rest = Vec::new();
        c.r.read_to_end(&mut rest).expect("EOF after the error");
        assert!(rest.is_empty(), "{rest:?}");
        // Without a newline at all: closed once past the limit.
        let mut d = LineClient::connect(server.addr);
        d.send(&"y".repeat(150));
        assert_eq!(d.line(), "ERR line too long\n");
        let s = server.stats_snapshot(Duration::from_secs(5)).unwrap();
        assert_eq!(s.get("digest_long_lines"), 2.0, "{s:?}");
        assert_eq!(s.get("digest_errors"), 4.0, "{s:?}");
    }
);

each_backend!(descriptors_and_threads_only_when_a_pool_is_asked_for, |b| {
    let base = baseline_fds(b);
    let echo = serve(b, &[]);
    assert_eq!(
        echo.wait_fd_count(base, Duration::from_secs(5)).unwrap(),
        base
    );
    assert_eq!(threads(&echo), 1);
    let inline = digest_server(b, &["--workers", "0"]);
    assert_eq!(
        inline.wait_fd_count(base, Duration::from_secs(5)).unwrap(),
        base
    );
    assert_eq!(threads(&inline), 1);
    let pooled = digest_server(b, &["--workers", "3"]);
    // One eventfd for the waker; workers own no descriptor.
    assert_eq!(
        pooled
            .wait_fd_count(base + 1, Duration::from_secs(5))
            .unwrap(),
        base + 1,
        "{:?}",
        pooled.fds()
    );
    assert_eq!(wait_threads(&pooled, 4), 4);
});

#[test]
fn serve_help_shows_the_digest_options() {
    let out = run_cmd(readyloop_bin(), &["serve", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--service",
        "--workers",
        "--queue",
        "--max-in-flight",
        "--max-line",
    ] {
        assert!(text.contains(flag), "serve --help lacks {flag}: {text}");
    }
    let out = run_cmd(
        readyloop_bin(),
        &["serve", "--service", "digest", "--panic-on", "x"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "the test hook is not a product flag"
    );
}

#[test]
fn digest_options_without_the_digest_service_are_a_clear_error() {
    let out = run_cmd(readyloop_bin(), &["serve", "--port", "0", "--workers", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("need --service digest"), "{err}");
}

each_backend!(
    past_the_shutdown_timeout_queued_jobs_are_discarded_and_the_exit_is_clean,
    |b| {
        let mut server = digest_server(
            b,
            &[
                "--workers",
                "1",
                "--max-rounds",
                "100000000",
                "--shutdown-timeout",
                "0.3",
            ],
        );
        let mut c = LineClient::connect(server.addr);
        // Four long jobs on one worker: when the timeout closes the client, one runs and
        // three wait; nobody can receive their replies any more.
        c.send(&format!("HASH {} x\n", 4 * SLOW).repeat(4));
        wait_stats(&server, "jobs submitted", |s| {
            s.get("pool_submitted") == 4.0
        });
        server.signal(Signal::TERM).unwrap();
        let status = server
            .wait_exit(Duration::from_secs(60))
            .unwrap()
            .expect("server exits");
        let log = server.log();
        assert!(status.success(), "exit status {status}; log:\n{log}");
        assert!(
            log.contains("queued jobs discarded at shutdown"),
            "queued jobs ran after shutdown; log:\n{log}"
        );
        assert!(
            log.contains("digest: 1 workers joined; threads left in the process: 1"),
            "{log}"
        );
    }
);
