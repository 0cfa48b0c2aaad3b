//! The loop's counters: SIGUSR1 reports them; they show the lesson's O(n) vs O(ready) claim.

use std::net::TcpStream;
use std::time::Duration;

use reactor::Backend;

use crate::util::*;

const IDLE: usize = 200;
const ROUNDS: usize = 50;

// The lesson: poll() examines every descriptor per wake-up, epoll only the ready ones. With
// 200 idle clients and one client doing 50 sequential round trips, poll's count per wake-up is
// the registered set (listener, 200 idle, the active one: never more, or closed descriptors
// linger in its array), and it shrinks back once the idle clients leave; epoll's events per
// wake-up stay at the handful that were ready (an idle connection reported anyway, e.g. for a
// write interest left armed, would show up here as ~200).
each_backend!(
    descriptors_examined_per_wakeup_is_all_for_poll_and_ready_for_epoll,
    |b| {
        let server = serve(b, &[]);
        let idle: Vec<TcpStream> = (0..IDLE)
            .map(|_| TcpStream::connect(server.addr).unwrap())
            .collect();
        let base = baseline_fds(b) + IDLE;
        assert_eq!(
            server.wait_fd_count(base, Duration::from_secs(5)).unwrap(),
            base
        );
        let during = rounds(&server);
        let per_wakeup = during.get("examined") / during.get("wakeups");
        let events_per_wakeup = during.get("events") / during.get("wakeups");
        if b == Backend::Poll {
            assert!(
                per_wakeup >= (IDLE + 1) as f64 && per_wakeup <= (IDLE + 2) as f64,
                "poll examined {per_wakeup}/wake-up with {} registered: {during:?}",
                IDLE + 2
            );
        } else {
            assert!(
                per_wakeup <= 4.0 && events_per_wakeup <= 4.0,
                "epoll examined {per_wakeup} ({events_per_wakeup} events)/wake-up: {during:?}"
            );
        }
        drop(idle);
        assert_eq!(
            server
                .wait_fd_count(baseline_fds(b), Duration::from_secs(5))
                .unwrap(),
            baseline_fds(b)
        );
        let after = rounds(&server);
        let per_wakeup = after.get("examined") / after.get("wakeups");
        assert!(
            per_wakeup <= 2.0,
            "{b}: still examining {per_wakeup}/wake-up after the idle clients left: {after:?}"
        );
    }
);

/// `ROUNDS` sequential one-message connections; the counters for just that stretch.
fn rounds(server: &ServerProcess) -> Counters {
    let before = server.stats_snapshot(Duration::from_secs(5)).unwrap();
    for i in 0..ROUNDS {
        let c = Conversation {
            end: End::CloseWhenEchoed,
            ..Conversation::simple(format!("round {i}").into_bytes())
        };
        run_all_ok(server.addr, &[c], RunOptions::default());
    }
    let during = server
        .stats_snapshot(Duration::from_secs(5))
        .unwrap()
        .since(&before);
    assert!(during.get("wakeups") >= ROUNDS as f64, "{during:?}");
    assert_eq!(during.get("accepted"), ROUNDS as f64);
    during
}

each_backend!(
    /// README: the counters are "logged as key=value pairs ... every --stats-interval seconds":
    /// without any SIGUSR1, lines keep coming and follow what the server did.
    stats_interval_logs_the_counters_periodically,
    |b| {
        let server = serve(b, &["--stats-interval", "0.2"]);
        let mut s = TcpStream::connect(server.addr).unwrap();
        echo_once(&mut s, b"counted");
        assert!(
            server.wait_log("stats: ", 3, Duration::from_secs(5)),
            "fewer than 3 periodic stats lines in 5 s:\n{}",
            server.log()
        );
        // The latest line reports the one connection and its 7 bytes each way.
        let log = server.log();
        let last = log.lines().rev().find(|l| l.contains("stats: ")).unwrap();
        let c = Counters::parse(last);
        assert_eq!(
            (c.get("accepted"), c.get("bytes_in"), c.get("bytes_out")),
            (1.0, 7.0, 7.0),
            "{last}"
        );
        drop(s);
        let _ = stop(server);
    }
);

/// README: on epoll-et "no `epoll_ctl` is made per message": a connection costs exactly two
/// (register at accept, deregister at close) whatever its traffic: small messages, a
/// megabyte-sized stream, a reader so slow the server pauses it for backpressure.
#[test]
fn epoll_et_makes_two_ctl_calls_per_connection_whatever_the_traffic() {
    let server = serve(Backend::EpollEdge, &[]);
    let before = server.stats_snapshot(Duration::from_secs(5)).unwrap();
    let mut rng = gen::rng(0x5eed_0c71);
    let mut convs: Vec<Conversation> = Vec::new();
    for i in 0..30 {
        let len = match i % 3 {
            0 => 64,
            1 => 1 << 20,
            _ => 2 << 20,
        };
        let mut c = Conversation::simple(gen::payload(&mut rng, len));
        c.pieces = gen::pieces(&mut rng, len, 64 * 1024);
        if i % 3 == 2 {
            c.slow_read = Some((32 * 1024, Duration::from_millis(2)));
        }
        convs.push(c);
    }
    run_all_ok(
        server.addr,
        &convs,
        RunOptions {
            concurrency: 30,
            timeout: Duration::from_secs(60),
        },
    );
    assert_eq!(
        server
            .wait_fd_count(baseline_fds(Backend::EpollEdge), Duration::from_secs(5))
            .unwrap(),
        baseline_fds(Backend::EpollEdge)
    );
    let d = server
        .stats_snapshot(Duration::from_secs(5))
        .unwrap()
        .since(&before);
    assert_eq!(d.get("accepted"), 30.0, "{d:?}");
    assert!(d.get("reads") > 30.0 * 3.0, "little traffic: {d:?}");
    assert_eq!(
        d.get("ctl"),
        2.0 * 30.0,
        "epoll_ctl calls for 30 connections: {d:?}"
    );
}
