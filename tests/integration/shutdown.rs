//! SIGINT/SIGTERM: stop accepting, deliver everything owed, exit 0.

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
        std::thread::sleep(Duration::from_millis(150));
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
    // Hold one slow conversation open so the server stays in its drain phase.
    let addr = server.addr;
    let mut c = Conversation::simple(vec![7u8; 256 * 1024]);
    c.slow_read = Some((4096, Duration::from_millis(5)));
    let holder =
        std::thread::spawn(move || client::run(addr, &[c], RunOptions::default()).unwrap());
    std::thread::sleep(Duration::from_millis(100));
    server.signal(Signal::TERM).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let refused = std::net::TcpStream::connect(addr);
    assert!(refused.is_err(), "listener must be closed during drain");
    assert_eq!(holder.join().unwrap()[0].verdict, Verdict::Ok);
    assert!(server
        .wait_exit(Duration::from_secs(10))
        .unwrap()
        .expect("exits")
        .success());
});
