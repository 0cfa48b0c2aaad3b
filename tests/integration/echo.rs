//! RFC 862 under load: every byte back, in order, on every backend.

use std::time::Duration;

use rand::Rng;

use crate::util::*;

each_backend!(
    thousand_clients_random_payloads_random_pieces_all_echoed,
    |b| {
        let server = serve(b, &[]);
        let mut rng = gen::rng(0x5eed_0001);
        let convs: Vec<Conversation> = (0..1000)
            .map(|_| {
                let len = gen::log_uniform(&mut rng, 1, 256 * 1024);
                let max_piece = rng.gen_range(1..=len.max(1));
                let mut c = Conversation::simple(gen::payload(&mut rng, len));
                c.pieces = gen::pieces(&mut rng, len, max_piece);
                c
            })
            .collect();
        let total: usize = convs.iter().map(|c| c.payload.len()).sum();
        let s = run_all_ok(
            server.addr,
            &convs,
            RunOptions {
                concurrency: 1000,
                timeout: Duration::from_secs(120),
            },
        );
        assert_eq!(s.passed, 1000);
        assert_eq!(s.bytes_verified, total as u64);
        let n = server
            .wait_fd_count(baseline_fds(b), Duration::from_secs(5))
            .unwrap();
        assert_eq!(n, baseline_fds(b), "fd leak: {:?}", server.fds().unwrap());
    }
);

each_backend!(pipelined_megabytes_with_a_slow_reader_arrive_intact, |b| {
    // 4 MiB sent at once to a client that reads 16 KiB every 2 ms: the server must stop reading
    // (backpressure) rather than buffer it all, and lose nothing.
    let server = serve(b, &[]);
    let mut rng = gen::rng(0x5eed_0003);
    let len = 4 << 20;
    let mut c = Conversation::simple(gen::payload(&mut rng, len));
    c.pieces = gen::pieces(&mut rng, len, 256 * 1024);
    c.slow_read = Some((16 * 1024, Duration::from_millis(2)));
    let s = run_all_ok(
        server.addr,
        &[c],
        RunOptions {
            concurrency: 1,
            timeout: Duration::from_secs(60),
        },
    );
    assert_eq!(s.bytes_verified, len as u64);
});

each_backend!(
    /// README: `--bind ADDR` takes IPv6 too; `::1` serves over IPv6 loopback.
    bind_ipv6_loopback_serves_echo,
    |b| {
        let server = serve(b, &["--bind", "::1"]);
        assert_eq!(
            server.addr.ip(),
            "::1".parse::<std::net::IpAddr>().unwrap(),
            "{}",
            server.log()
        );
        let mut rng = gen::rng(0x5eed_0006);
        let convs: Vec<Conversation> = (0..20)
            .map(|_| Conversation::simple(gen::payload(&mut rng, 64 * 1024)))
            .collect();
        let s = run_all_ok(
            server.addr,
            &convs,
            RunOptions {
                concurrency: 20,
                timeout: Duration::from_secs(30),
            },
        );
        assert_eq!(s.passed, 20);
    }
);
