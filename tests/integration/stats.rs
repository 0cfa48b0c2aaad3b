//! The loop's counters: SIGUSR1 reports them; they show the lesson's O(n) vs O(ready) claim.

use std::net::TcpStream;
use std::time::Duration;

use reactor::Backend;

use crate::util::*;

const IDLE: usize = 200;
const ROUNDS: usize = 50;

// The lesson: poll() examines every descriptor per wake-up, epoll only the ready ones. With
// 200 idle clients and one client doing 50 sequential round trips, poll's count per wake-up is
// at least the 201 registered sockets, epoll's stays at the handful that were ready.
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
        let per_wakeup = during.get("examined") / during.get("wakeups");
        assert!(during.get("wakeups") >= ROUNDS as f64, "{during:?}");
        assert_eq!(during.get("accepted"), ROUNDS as f64);
        if b == Backend::Poll {
            assert!(
                per_wakeup >= (IDLE + 1) as f64,
                "poll examined {per_wakeup}/wake-up: {during:?}"
            );
        } else {
            assert!(
                per_wakeup <= 4.0,
                "epoll examined {per_wakeup}/wake-up: {during:?}"
            );
            assert_eq!(during.get("examined"), during.get("events"));
        }
        drop(idle);
    }
);
