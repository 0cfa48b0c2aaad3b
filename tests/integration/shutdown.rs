//! SIGINT/SIGTERM: stop accepting, deliver everything owed, exit 0.

use std::io::Write;
use std::time::Duration;

use rustix::process::Signal;

use crate::util::*;

/// `bytes_in` and `bytes_out` from the server's final stats line.
fn bytes_in_out(server: &ServerProcess) -> (u64, u64) {
    let stats = server
        .final_stats()
        .unwrap_or_else(|| panic!("no final stats in log:\n{}", server.log()));
    (stats.get("bytes_in") as u64, stats.get("bytes_out") as u64)
}

each_backend!(
    sigterm_mid_transfer_exits_zero_after_delivering_every_owed_byte,
    |b| {
        let mut server = serve(b, &["--shutdown-timeout", "20"]);
        let mut rng = gen::rng(0x5eed_0004);
        // Slow readers: when SIGTERM lands the server still owes each of them most of its echo.
        let convs: Vec<Conversation> = (0..20)
            .map(|_| {
                let len = 512 * 1024;
                let mut c = Conversation::simple(gen::payload(&mut rng, len));
                c.slow_read = Some((32 * 1024, Duration::from_millis(5)));
                c
            })
            .collect();
        let addr = server.addr;
        let clients = std::thread::spawn(move || {
            client::run(
                addr,
                &convs,
                RunOptions {
                    concurrency: 20,
                    timeout: Duration::from_secs(60),
                },
            )
            .unwrap()
        });
        // SIGTERM once every client is connected and the server has echoed part of each
        // stream: then it certainly owes each of them most of its echo.
        assert!(
            wait_until(Duration::from_secs(10), || {
                let st = server.stats_snapshot(Duration::from_secs(5)).unwrap();
                st.get("accepted") == 20.0 && st.get("bytes_out") >= (20 * 64 * 1024) as f64
            }),
            "clients never got going:\n{}",
            server.log()
        );
        server.signal(Signal::TERM).unwrap();
        let outcomes = clients.join().unwrap();
        let status = server
            .wait_exit(Duration::from_secs(30))
            .unwrap()
            .expect("server exits");
        assert!(
            status.success(),
            "exit status {status}; log:\n{}",
            server.log()
        );
        for o in &outcomes {
            assert_eq!(
                o.verdict,
                Verdict::Ok,
                "conversation {}: {}",
                o.index,
                server.log()
            );
        }
        let (bytes_in, bytes_out) = bytes_in_out(&server);
        assert_eq!(bytes_in, bytes_out, "every byte read was echoed");
        assert_eq!(bytes_in, 20 * 512 * 1024);
    }
);

each_backend!(sigint_with_no_clients_exits_zero_promptly, |b| {
    let mut server = serve(b, &[]);
    server.signal(Signal::INT).unwrap();
    let status = server
        .wait_exit(Duration::from_secs(5))
        .unwrap()
        .expect("exits within 5 s");
    assert!(status.success(), "{status}");
    let log = server.log();
    assert!(log.contains("stopped cleanly"), "{log}");
});

each_backend!(after_sigterm_new_connections_are_refused, |b| {
    let mut server = serve(b, &["--shutdown-timeout", "10"]);
    // A client owed output it does not read holds the server in its drain phase. (A
    // half-closed conversation would not: its echo fits in the kernel's buffers, so the server
    // closes its side long before the client has read it.)
    let addr = server.addr;
    let mut holder = connect_sized(addr, Some(64 * 1024), Some(128 * 1024));
    holder.set_nonblocking(true).unwrap();
    let sent = fill_until_stuck(&mut holder);
    let with_holder = baseline_fds(b) + 1;
    assert_eq!(server.fd_count().unwrap(), with_holder);
    server.signal(Signal::TERM).unwrap();
    // The listener is gone (one descriptor fewer) while the holder is still being served.
    assert!(
        wait_until(Duration::from_secs(5), || server.fd_count().unwrap()
            == with_holder - 1),
        "listener still open after SIGTERM: {:?}",
        server.fds().unwrap()
    );
    let refused = std::net::TcpStream::connect(addr);
    assert!(refused.is_err(), "listener must be closed during drain");
    holder.set_nonblocking(false).unwrap();
    let echoed = read_n(&mut holder, sent, Duration::from_secs(10)).expect("owed echo");
    assert!(echoed.iter().all(|&x| x == 0x3c));
    assert_eq!(
        expect_closed_by_server(&mut holder, Duration::from_secs(3)),
        Ok(())
    );
    assert!(server
        .wait_exit(Duration::from_secs(10))
        .unwrap()
        .expect("exits")
        .success());
});

each_backend!(
    /// README: on SIGTERM "each connection gets the echo it is owed and is closed once it has
    /// been quiet, for at most --shutdown-timeout": quiet clients owed nothing are closed at
    /// once, not when the timeout runs out.
    quiet_clients_are_closed_at_once_when_the_drain_starts,
    |b| {
        let mut server = serve(b, &["--shutdown-timeout", "10"]);
        let mut quiet: Vec<std::net::TcpStream> = (0..10)
            .map(|i| {
                let mut s = std::net::TcpStream::connect(server.addr).unwrap();
                echo_once(&mut s, format!("hello {i}").as_bytes());
                s
            })
            .collect();
        let t0 = std::time::Instant::now();
        server.signal(Signal::TERM).unwrap();
        let status = server
            .wait_exit(Duration::from_secs(15))
            .unwrap()
            .expect("exits");
        let took = t0.elapsed();
        eprintln!("{b}: drain with 10 quiet clients took {took:?}");
        assert!(status.success(), "{status}");
        assert!(
            took < Duration::from_secs(3),
            "quiet clients held the drain for {took:?}:\n{}",
            server.log()
        );
        for s in &mut quiet {
            assert_eq!(expect_closed_by_server(s, Duration::from_secs(1)), Ok(()));
        }
    }
);

each_backend!(
    /// One empty read during the drain does not make a client quiet: bytes it already wrote
    /// may still be on their way (in its own send queue, or between two of its writes). A
    /// client writing every 2 ms through the drain gets every byte echoed; before the fix the
    /// server closed it at the first gap and the next write was reset.
    draining_client_writing_in_small_bursts_gets_all_its_echo,
    |b| {
        let mut server = serve(b, &["--shutdown-timeout", "10"]);
        let mut s = std::net::TcpStream::connect(server.addr).unwrap();
        echo_once(&mut s, b"hello");
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let mut sent = 0usize;
            for _ in 0..100 {
                if w.write_all(&[0x5a; 1000]).is_err() {
                    break;
                }
                sent += 1000;
                std::thread::sleep(Duration::from_millis(2));
            }
            sent
        });
        std::thread::sleep(Duration::from_millis(40));
        server.signal(Signal::TERM).unwrap();
        let sent = writer.join().unwrap();
        assert_eq!(sent, 100_000, "a write failed: the server closed mid-stream");
        let echoed = read_n(&mut s, sent, Duration::from_secs(10)).expect("owed echo");
        assert!(echoed.iter().all(|&x| x == 0x5a));
        assert_eq!(
            expect_closed_by_server(&mut s, Duration::from_secs(3)),
            Ok(())
        );
        assert!(server
            .wait_exit(Duration::from_secs(10))
            .unwrap()
            .expect("exits")
            .success());
    }
);
