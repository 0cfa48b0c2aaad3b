//! Behaviour every backend must share. Each test body runs once per backend.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use reactor::{Backend, Events, Interest, Poller, Token};

/// Run `$body(backend)` as three tests: `poll`, `epoll_lt`, `epoll_et`.
macro_rules! each_backend {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        mod $name {
            use super::*;
            #[test]
            fn poll() {
                ($body)(Backend::Poll)
            }
            #[test]
            fn epoll_lt() {
                ($body)(Backend::EpollLevel)
            }
            #[test]
            fn epoll_et() {
                ($body)(Backend::EpollEdge)
            }
        }
    };
}

/// A connected pair: (client, server side), the server side non-blocking.
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    s.set_nonblocking(true).unwrap();
    (c, s)
}

fn wait_short(p: &mut Poller, ev: &mut Events) -> Vec<reactor::Event> {
    p.wait(ev, Some(Duration::from_millis(100))).unwrap();
    ev.iter().copied().collect()
}

/// Wait until an event for `token` shows up (bounded), return it.
fn wait_for(p: &mut Poller, ev: &mut Events, token: Token) -> reactor::Event {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(e) = wait_short(p, ev).into_iter().find(|e| e.token() == token) {
            return e;
        }
    }
    panic!("no event for {token:?} within 5 s");
}

each_backend!(
    write_5_read_3_level_fires_again_edge_does_not,
    |b: Backend| {
        let (mut c, mut s) = pair();
        let mut p = Poller::new(b).unwrap();
        let mut ev = Events::with_capacity(8);
        p.register(s.as_fd(), Token(1), Interest::READABLE).unwrap();
        c.write_all(b"hello").unwrap();
        assert!(wait_for(&mut p, &mut ev, Token(1)).is_readable());
        let mut buf = [0u8; 3];
        s.read_exact(&mut buf).unwrap();
        let again = wait_short(&mut p, &mut ev);
        if b.is_edge_triggered() {
            assert!(again.is_empty(), "edge fired without new data: {again:?}");
            c.write_all(b"!").unwrap();
            assert!(
                wait_for(&mut p, &mut ev, Token(1)).is_readable(),
                "new data must fire an edge"
            );
        } else {
            assert_eq!(again.len(), 1, "level must fire while 2 bytes remain");
            assert!(again[0].is_readable());
        }
    }
);

each_backend!(peer_close_is_reported_as_read_closed, |b: Backend| {
    let (c, s) = pair();
    let mut p = Poller::new(b).unwrap();
    let mut ev = Events::with_capacity(8);
    p.register(s.as_fd(), Token(3), Interest::READABLE).unwrap();
    drop(c);
    let e = wait_for(&mut p, &mut ev, Token(3));
    assert!(e.is_read_closed() && e.is_readable(), "{e:?}");
});

each_backend!(
    half_close_is_read_closed_but_still_writable,
    |b: Backend| {
        let (mut c, mut s) = pair();
        let mut p = Poller::new(b).unwrap();
        let mut ev = Events::with_capacity(8);
        p.register(s.as_fd(), Token(4), Interest::BOTH).unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let e = loop {
            let e = wait_for(&mut p, &mut ev, Token(4));
            if e.is_read_closed() || Instant::now() > deadline {
                break e;
            }
        };
        assert!(
            e.is_read_closed() && e.is_writable() && !e.is_write_closed(),
            "{e:?}"
        );
        s.write_all(b"still here").unwrap();
        let mut got = [0u8; 10];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"still here");
    }
);

each_backend!(
    reset_is_reported_as_error_even_without_interest,
    |b: Backend| {
        let (c, mut s) = pair();
        let mut p = Poller::new(b).unwrap();
        let mut ev = Events::with_capacity(8);
        // No interest at all: hang-up and error must still come through.
        p.register(s.as_fd(), Token(5), Interest::NONE).unwrap();
        let c = socket_with_linger_zero(c);
        drop(c); // SO_LINGER 0: close sends RST
        let e = wait_for(&mut p, &mut ev, Token(5));
        assert!(e.is_error() || e.is_write_closed(), "{e:?}");
        let mut buf = [0u8; 8];
        let err = s.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    }
);

fn socket_with_linger_zero(c: TcpStream) -> TcpStream {
    rustix_linger(&c);
    c
}

fn rustix_linger(c: &TcpStream) {
    // std's set_linger is unstable; SO_LINGER {on, 0} makes close() send RST.
    c.set_nodelay(true).unwrap();
    let fd = c.as_fd();
    rustix::net::sockopt::set_socket_linger(fd, Some(Duration::ZERO)).unwrap();
}

each_backend!(deregister_stops_events, |b: Backend| {
    let (mut c, s) = pair();
    let mut p = Poller::new(b).unwrap();
    let mut ev = Events::with_capacity(8);
    p.register(s.as_fd(), Token(6), Interest::READABLE).unwrap();
    p.deregister(s.as_fd()).unwrap();
    assert!(p.is_empty());
    c.write_all(b"x").unwrap();
    assert!(wait_short(&mut p, &mut ev).is_empty());
});

each_backend!(reregister_changes_interest_and_token, |b: Backend| {
    let (_c, s) = pair();
    let mut p = Poller::new(b).unwrap();
    let mut ev = Events::with_capacity(8);
    p.register(s.as_fd(), Token(7), Interest::READABLE).unwrap();
    assert!(
        wait_short(&mut p, &mut ev).is_empty(),
        "nothing to read yet"
    );
    p.reregister(s.as_fd(), Token(8), Interest::WRITABLE)
        .unwrap();
    let e = wait_for(&mut p, &mut ev, Token(8));
    assert!(e.is_writable());
});

each_backend!(reserved_token_and_unknown_fd_are_errors, |b: Backend| {
    let (_c, s) = pair();
    let (_c2, s2) = pair();
    let mut p = Poller::new(b).unwrap();
    let err = p
        .register(s.as_fd(), Token::RESERVED, Interest::READABLE)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        p.deregister(s.as_fd()).unwrap_err().raw_os_error(),
        Some(libc_enoent())
    );
    assert_eq!(
        p.reregister(s.as_fd(), Token(1), Interest::READABLE)
            .unwrap_err()
            .raw_os_error(),
        Some(libc_enoent())
    );
    p.register(s.as_fd(), Token(1), Interest::READABLE).unwrap();
    assert_eq!(
        p.register(s.as_fd(), Token(2), Interest::READABLE)
            .unwrap_err()
            .raw_os_error(),
        Some(17) // EEXIST
    );
    p.register(s2.as_fd(), Token(2), Interest::READABLE)
        .unwrap();
    assert_eq!(p.len(), 2);
});

fn libc_enoent() -> i32 {
    2
}

each_backend!(
    /// What a wait costs: poll hands the kernel every registered descriptor (and the count
    /// shrinks when some are deregistered), epoll only returns and costs the ready ones. The
    /// ready set is known here (three sockets written to), so every count is checked against
    /// it, not against the counter's own definition.
    examined_is_every_registered_fd_for_poll_and_the_ready_ones_for_epoll,
    |b: Backend| {
        let mut pairs: Vec<_> = (0..10).map(|_| pair()).collect();
        let mut p = Poller::new(b).unwrap();
        let mut ev = Events::with_capacity(64);
        for (i, (_, s)) in pairs.iter().enumerate() {
            p.register(s.as_fd(), Token(i), Interest::READABLE).unwrap();
        }
        let t0 = Instant::now();
        assert_eq!(p.wait(&mut ev, Some(Duration::from_millis(30))).unwrap(), 0);
        assert!(
            t0.elapsed() >= Duration::from_millis(29),
            "{:?}",
            t0.elapsed()
        );
        let ready = [2usize, 5, 7];
        for &i in &ready {
            pairs[i].0.write_all(b"x").unwrap();
        }
        // Loopback delivers before write returns; the pause only guards against a slow softirq.
        std::thread::sleep(Duration::from_millis(20));
        let before = p.stats();
        assert_eq!(p.wait(&mut ev, Some(Duration::from_secs(1))).unwrap(), 3);
        let mut got: Vec<usize> = ev.iter().map(|e| e.token().0).collect();
        got.sort_unstable();
        assert_eq!(got, ready);
        let d = p.stats();
        assert_eq!((d.waits - before.waits, d.events - before.events), (1, 3));
        let want = if b == Backend::Poll { 10 } else { 3 };
        assert_eq!(d.examined - before.examined, want, "{b}: {d:?}");

        for i in [0usize, 1, 3, 4] {
            p.deregister(pairs[i].1.as_fd()).unwrap();
        }
        let before = p.stats();
        let n = p.wait(&mut ev, Some(Duration::from_millis(30))).unwrap();
        let d = p.stats();
        // The three unread sockets are still readable: level-triggered says so again, an edge
        // does not repeat.
        let (events, examined) = match b {
            Backend::Poll => (3, 6),
            Backend::EpollLevel => (3, 3),
            Backend::EpollEdge => (0, 0),
        };
        assert_eq!(n, events, "{b}");
        assert_eq!(d.examined - before.examined, examined, "{b}: {d:?}");
    }
);
