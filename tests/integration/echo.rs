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

each_backend!(client_reset_mid_stream_does_not_disturb_others, |b| {
    let server = serve(b, &[]);
    let mut rng = gen::rng(0x5eed_0002);
    let convs: Vec<Conversation> = (0..200)
        .map(|i| {
            let len = 64 * 1024 + rng.gen_range(0..64 * 1024);
            let mut c = Conversation::simple(gen::payload(&mut rng, len));
            c.pieces = gen::pieces(&mut rng, len, 4096);
            if i % 2 == 0 {
                c.end = End::ResetAfter(len / 2);
            }
            c
        })
        .collect();
    let outcomes = client::run(
        server.addr,
        &convs,
        RunOptions {
            concurrency: 200,
            timeout: Duration::from_secs(60),
        },
    )
    .unwrap();
    for o in &outcomes {
        let want = if o.index % 2 == 0 {
            Verdict::ResetAsPlanned
        } else {
            Verdict::Ok
        };
        assert_eq!(o.verdict, want, "conversation {}", o.index);
    }
    let n = server
        .wait_fd_count(baseline_fds(b), Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        n,
        baseline_fds(b),
        "fd leak after resets: {:?}",
        server.fds().unwrap()
    );
    // And the server still serves.
    run_all_ok(
        server.addr,
        &[Conversation::simple(b"still alive".to_vec())],
        RunOptions::default(),
    );
});

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
