//! `--threads N`: independent loops on one SO_REUSEPORT port.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use rustix::process::Signal;

use crate::util::*;

each_backend!(
    two_loops_serve_every_client_and_all_stop_on_one_sigterm,
    |b| {
        let mut server = serve(b, &["--threads", "2"]);
        // stdio + per loop: listener and poller, plus the eventfd waker that lets the loop which
        // received the signal wake the other.
        let per_loop = if b == reactor::Backend::Poll { 2 } else { 3 };
        assert_eq!(
            server.fd_count().unwrap(),
            3 + 2 * per_loop,
            "{:?}",
            server.fds().unwrap()
        );
        let mut rng = gen::rng(0x5eed_7001);
        let convs: Vec<Conversation> = (0..200)
            .map(|_| Conversation::simple(gen::payload(&mut rng, 10_000)))
            .collect();
        run_all_ok(
            server.addr,
            &convs,
            RunOptions {
                concurrency: 200,
                timeout: Duration::from_secs(60),
            },
        );
        // Idle clients land on both loops (the kernel hashes each connection to one listener);
        // a process-directed SIGTERM interrupts only one loop's wait, so the other must be woken.
        let mut idle: Vec<TcpStream> = (0..16)
            .map(|_| TcpStream::connect(server.addr).unwrap())
            .collect();
        // Every idle client accepted (by whichever loop) before the signal.
        let with_idle = 3 + 2 * per_loop + idle.len();
        assert!(
            wait_until(Duration::from_secs(5), || server.fd_count().unwrap()
                == with_idle),
            "{:?}",
            server.fds().unwrap()
        );
        server.signal(Signal::TERM).unwrap();
        let status = server.wait_exit(Duration::from_secs(5)).unwrap();
        let status = status
            .unwrap_or_else(|| panic!("a loop slept through the shutdown:\n{}", server.log()));
        assert!(status.success(), "{status}");
        for s in &mut idle {
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0, "idle client sees EOF");
        }
        assert!(server.log().contains("accepted=216"), "{}", server.log());
    }
);
