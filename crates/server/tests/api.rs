//! The Service API end to end, in-process, on every backend: deferred replies in request
//! order, completions through the waker (batched), writes to another connection, close after
//! reply, pause/resume, held replies, a misbehaving service, and the stop handle.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reactor::{Backend, Waker};
use readyloop_server::{
    Config, ConnId, ConnInfo, Ctx, OutputLimit, Server, Service, StartCtx, Stats, Ticket,
};

/// A line protocol exercising every hook:
/// `I text` inline reply; `D ms text` reply from a worker after `ms`; `Q` "bye" then close;
/// `ID` this connection's id; `TO id text` write to another connection; `H text` held reply;
/// `BAD` consume more than given (a service bug); `FAN id n text` n writes to another
/// connection; `LIMIT hard soft soft_ms` an output limit on this connection; `CLOSED` how many
/// connections the service saw close.
#[derive(Default)]
struct Lines {
    jobs: Option<mpsc::Sender<(Ticket, u64, Vec<u8>)>>,
    done: Completions,
    /// Pause a connection while it has this many replies in flight.
    cap: usize,
    ticks: u64,
    held_seen_by_tick: u64,
    opened: u64,
    closed: u64,
    /// When set, every tick logs (held replies served so far, connections opened) and then
    /// waits for a permit: the test sees what left the loop while no tick had run.
    gate: Option<(mpsc::Receiver<()>, TickLog)>,
    served_held: u64,
}

type TickLog = Arc<Mutex<Vec<(u64, u64)>>>;

impl Service for Lines {
    type Session = ConnId;

    fn start(&mut self, cx: &mut StartCtx<'_>) {
        let waker: Waker = cx.waker().expect("waker");
        let (tx, rx) = mpsc::channel::<(Ticket, u64, Vec<u8>)>();
        let done = Arc::clone(&self.done);
        thread::spawn(move || {
            for (ticket, ms, reply) in rx {
                thread::sleep(Duration::from_millis(ms));
                done.lock().unwrap().push((ticket, reply));
                waker.wake().unwrap();
            }
        });
        self.jobs = Some(tx);
    }

    fn open(&mut self, info: &ConnInfo, _ctx: &mut Ctx<'_>) -> ConnId {
        self.opened += 1;
        assert!(info.peer.is_some());
        info.id
    }

    fn serve(&mut self, id: &mut ConnId, input: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let mut used = 0;
        while let Some(nl) = input[used..].iter().position(|&b| b == b'\n') {
            if self.cap > 0 && ctx.in_flight() >= self.cap {
                ctx.pause();
                break;
            }
            let line = std::str::from_utf8(&input[used..used + nl])
                .unwrap()
                .to_string();
            used += nl + 1;
            let mut words = line.splitn(3, ' ');
            match words.next().unwrap() {
                "I" => writeln!(ctx.out(), "{}", words.next().unwrap()).unwrap(),
                "D" => {
                    let ms = words.next().unwrap().parse().unwrap();
                    let text = format!("{}\n", words.next().unwrap());
                    let t = ctx.defer();
                    self.jobs
                        .as_ref()
                        .unwrap()
                        .send((t, ms, text.into()))
                        .unwrap();
                }
                "Q" => {
                    ctx.out().extend_from_slice(b"bye\n");
                    ctx.close_after_reply();
                    return input.len();
                }
                "ID" => writeln!(ctx.out(), "{}", id.as_u64()).unwrap(),
                "TO" => {
                    let to: u64 = words.next().unwrap().parse().unwrap();
                    let text = format!("{}\n", words.next().unwrap());
                    // ConnId is opaque: find it by number among what the service was shown.
                    let target = KNOWN
                        .lock()
                        .unwrap()
                        .iter()
                        .copied()
                        .find(|c| c.as_u64() == to);
                    ctx.send_to(target.expect("known id"), text.as_bytes());
                }
                "H" => {
                    writeln!(ctx.out(), "{}", words.next().unwrap()).unwrap();
                    ctx.hold();
                    self.held_seen_by_tick = 0;
                    self.served_held += 1;
                }
                "FAN" => {
                    let to: u64 = words.next().unwrap().parse().unwrap();
                    let rest = words.next().unwrap();
                    let (n, text) = rest.split_once(' ').unwrap();
                    let text = format!("{text}\n");
                    let target = KNOWN
                        .lock()
                        .unwrap()
                        .iter()
                        .copied()
                        .find(|c| c.as_u64() == to);
                    for _ in 0..n.parse::<usize>().unwrap() {
                        ctx.send_to(target.expect("known id"), text.as_bytes());
                    }
                }
                "LIMIT" => {
                    let rest = format!("{} {}", words.next().unwrap(), words.next().unwrap());
                    let n: Vec<usize> = rest.split(' ').map(|w| w.parse().unwrap()).collect();
                    let limit = OutputLimit {
                        hard: n[0],
                        soft: n[1],
                        soft_for: Duration::from_millis(n[2] as u64),
                    };
                    ctx.limit_output(*id, Some(limit));
                    writeln!(ctx.out(), "limited").unwrap();
                }
                "CLOSED" => writeln!(ctx.out(), "{}", self.closed).unwrap(),
                "BAD" => return input.len() + 1,
                other => panic!("unknown line {other}"),
            }
        }
        KNOWN.lock().unwrap().push(*id);
        used
    }

    fn close(&mut self, _id: ConnId, _gone: ConnId, _ctx: &mut Ctx<'_>) {
        self.closed += 1;
    }

    fn wake(&mut self, ctx: &mut Ctx<'_>) {
        for (t, reply) in std::mem::take(&mut *self.done.lock().unwrap()) {
            ctx.fulfill(t, &reply);
        }
    }

    fn tick(&mut self, _ctx: &mut Ctx<'_>) -> Option<Instant> {
        self.ticks += 1;
        self.held_seen_by_tick += 1;
        if let Some((permits, log)) = &self.gate {
            log.lock().unwrap().push((self.served_held, self.opened));
            if permits.recv_timeout(Duration::from_secs(10)).is_err() {
                self.gate = None;
            }
        }
        None
    }

    fn counters(&self, out: &mut Vec<(&'static str, u64)>) {
        out.push(("opened", self.opened));
        out.push(("service_closed", self.closed));
    }
}

type Completions = Arc<Mutex<Vec<(Ticket, Vec<u8>)>>>;

static KNOWN: Mutex<Vec<ConnId>> = Mutex::new(Vec::new());

struct Running {
    addr: SocketAddr,
    stop: readyloop_server::StopHandle,
    handle: thread::JoinHandle<(Stats, Lines)>,
}

fn start(backend: Backend, service: Lines, tweak: impl FnOnce(&mut Config)) -> Running {
    let mut cfg = Config::new(backend, "127.0.0.1:0".parse().unwrap());
    cfg.shutdown_timeout = Duration::from_secs(5);
    tweak(&mut cfg);
    let mut server = Server::bind(cfg, service).expect("bind");
    let addr = server.local_addr();
    let stop = server.stop_handle().unwrap();
    let handle = thread::spawn(move || {
        let stats = server.run().expect("run");
        (stats, std::mem::take(server.service_mut()))
    });
    Running { addr, stop, handle }
}

impl Running {
    fn finish(self) -> (Stats, Lines) {
        self.stop.stop();
        self.handle.join().expect("loop thread")
    }
}

fn connect(addr: SocketAddr) -> (TcpStream, BufReader<TcpStream>) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    (s, r)
}

fn lines(r: &mut BufReader<TcpStream>, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            l.trim_end().to_string()
        })
        .collect()
}

macro_rules! each_backend {
    ($name:ident, $body:expr) => {
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

each_backend!(deferred_replies_leave_in_request_order, |b| {
    let srv = start(b, Lines::default(), |_| {});
    let (mut s, mut r) = connect(srv.addr);
    // The first deferred reply is the slowest; inline answers after it must not overtake it.
    s.write_all(b"D 80 a\nI b\nD 10 c\nI d\nD 1 e\n").unwrap();
    assert_eq!(lines(&mut r, 5), ["a", "b", "c", "d", "e"]);
    // Another client is answered inline meanwhile.
    s.write_all(b"D 300 slow\n").unwrap();
    let (mut s2, mut r2) = connect(srv.addr);
    let t = Instant::now();
    s2.write_all(b"I quick\n").unwrap();
    assert_eq!(lines(&mut r2, 1), ["quick"]);
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "light client waited for heavy one"
    );
    assert_eq!(lines(&mut r, 1), ["slow"]);
    drop((s, s2));
    let (stats, svc) = srv.finish();
    assert_eq!(stats.stale_completions, 0);
    assert_eq!((svc.opened, svc.closed), (2, 2));
    assert!(stats.service.contains(&("opened", 2)), "{stats}");
});

each_backend!(completions_for_a_closed_connection_are_dropped, |b| {
    let srv = start(b, Lines::default(), |_| {});
    let (mut s, mut r) = connect(srv.addr);
    s.write_all(b"D 200 late\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    // EOF with a reply in flight: the connection stays until the reply is written.
    assert_eq!(lines(&mut r, 1), ["late"]);
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // Now one that resets before its reply comes: the reply is dropped and counted.
    let (mut s, r) = connect(srv.addr);
    s.write_all(b"D 150 never\n").unwrap();
    thread::sleep(Duration::from_millis(30));
    drop(r); // a dup of the socket: the reset happens when the last descriptor closes
    rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
    drop(s);
    thread::sleep(Duration::from_millis(300));
    let (stats, _) = srv.finish();
    assert_eq!(stats.stale_completions, 1, "{stats}");
    assert_eq!(stats.open, 0);
});

each_backend!(
    reset_after_eof_with_a_reply_in_flight_closes_without_spinning,
    |b| {
        let srv = start(b, Lines::default(), |_| {});
        let (mut s, r) = connect(srv.addr);
        s.write_all(b"D 400 never\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        thread::sleep(Duration::from_millis(50));
        drop(r);
        rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
        drop(s);
        thread::sleep(Duration::from_millis(550));
        let (stats, _) = srv.finish();
        // Level-triggered backends would report HUP/ERR on every wait until the reply came.
        assert!(stats.waits < 40, "busy loop: {stats}");
        assert_eq!(
            (stats.io_errors, stats.stale_completions),
            (1, 1),
            "{stats}"
        );
    }
);

each_backend!(close_after_reply_flushes_then_closes, |b| {
    let srv = start(b, Lines::default(), |_| {});
    let (mut s, mut r) = connect(srv.addr);
    s.write_all(b"D 50 first\nI x\nQ\nI never\n").unwrap();
    let mut all = String::new();
    r.read_to_string(&mut all).unwrap();
    assert_eq!(all, "first\nx\nbye\n");
    srv.finish();
});

each_backend!(
    send_to_reaches_the_other_connection_only_while_it_lives,
    |b| {
        let srv = start(b, Lines::default(), |_| {});
        let (mut a, mut ra) = connect(srv.addr);
        a.write_all(b"ID\n").unwrap();
        let id = lines(&mut ra, 1).remove(0);
        let (mut c, mut rc) = connect(srv.addr);
        c.write_all(format!("TO {id} hello\nI sent\n").as_bytes())
            .unwrap();
        assert_eq!(lines(&mut rc, 1), ["sent"]);
        assert_eq!(lines(&mut ra, 1), ["hello"]);
        drop((a, ra));
        thread::sleep(Duration::from_millis(100));
        c.write_all(format!("TO {id} gone\nI sent\n").as_bytes())
            .unwrap();
        assert_eq!(lines(&mut rc, 1), ["sent"]);
        let (stats, _) = srv.finish();
        assert_eq!(
            stats.stale_completions, 1,
            "a write to a closed id is dropped: {stats}"
        );
    }
);

each_backend!(
    paused_connection_is_served_again_when_its_reply_arrives,
    |b| {
        let svc = Lines {
            cap: 1,
            ..Lines::default()
        };
        let srv = start(b, svc, |_| {});
        let (mut s, mut r) = connect(srv.addr);
        // With one reply in flight at most, the loop must re-serve the buffered rest each time a
        // reply is fulfilled, and never reorder.
        let mut req = String::new();
        for i in 0..20 {
            req.push_str(&format!("D 2 r{i}\nI i{i}\n"));
        }
        s.write_all(req.as_bytes()).unwrap();
        let want: Vec<String> = (0..20)
            .flat_map(|i| [format!("r{i}"), format!("i{i}")])
            .collect();
        assert_eq!(lines(&mut r, 40), want);
        let (stats, _) = srv.finish();
        // 20 completions, each its own wake-up at most: batching is checked under load elsewhere.
        assert!(stats.waker_events <= 21, "{stats}");
    }
);

each_backend!(held_replies_wait_for_the_tick, |b| {
    let srv = start(b, Lines::default(), |_| {});
    let (mut s, mut r) = connect(srv.addr);
    s.write_all(b"H one\nI two\n").unwrap();
    assert_eq!(lines(&mut r, 2), ["one", "two"]);
    let (_, svc) = srv.finish();
    assert!(svc.ticks > 0);
});

each_backend!(
    a_service_that_overruns_its_input_loses_that_connection_only,
    |b| {
        let srv = start(b, Lines::default(), |_| {});
        let (mut bad, mut rbad) = connect(srv.addr);
        bad.write_all(b"BAD\n").unwrap();
        let mut rest = Vec::new();
        let _ = rbad.read_to_end(&mut rest);
        let (mut ok, mut rok) = connect(srv.addr);
        ok.write_all(b"I fine\n").unwrap();
        assert_eq!(lines(&mut rok, 1), ["fine"]);
        let (stats, _) = srv.finish();
        assert_eq!(stats.service_errors, 1, "{stats}");
    }
);

each_backend!(stop_handle_drains_and_returns_without_signals, |b| {
    let srv = start(b, Lines::default(), |c| {
        c.shutdown_timeout = Duration::from_secs(10)
    });
    let (mut s, mut r) = connect(srv.addr);
    s.write_all(b"D 100 owed\n").unwrap();
    thread::sleep(Duration::from_millis(20));
    let t = Instant::now();
    srv.stop.stop();
    // The reply in flight is still delivered, then the loop closes the quiet client.
    assert_eq!(lines(&mut r, 1), ["owed"]);
    let (stats, _) = srv.handle.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert_eq!(stats.open, 0);
});

#[test]
fn config_that_cannot_run_is_refused_with_the_field_named() {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    for (field, set) in [
        (
            "high_water",
            (|c: &mut Config| c.high_water = 0) as fn(&mut Config),
        ),
        ("edge_budget", |c| c.edge_budget = 0),
        ("read_chunk", |c| c.read_chunk = 0),
        ("max_input", |c| c.max_input = 0),
        ("idle_timeout", |c| {
            c.idle_timeout = Some(Duration::from_secs(u64::MAX / 2))
        }),
        ("stats_interval", |c| {
            c.stats_interval = Some(Duration::from_secs(1 << 40))
        }),
        ("shutdown_timeout", |c| {
            c.shutdown_timeout = Duration::from_secs(1 << 40)
        }),
    ] {
        let mut cfg = Config::new(Backend::EpollEdge, addr);
        set(&mut cfg);
        let err = Server::bind(cfg, Lines::default()).err().expect("refused");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

each_backend!(
    send_to_fan_out_costs_one_write_per_connection_per_iteration,
    |b| {
        let srv = start(b, Lines::default(), |_| {});
        let (mut a, mut ra) = connect(srv.addr);
        a.write_all(b"ID\n").unwrap();
        let id = lines(&mut ra, 1).remove(0);
        let (mut c, mut rc) = connect(srv.addr);
        c.write_all(format!("FAN {id} 1000 m\nI sent\n").as_bytes())
            .unwrap();
        assert_eq!(lines(&mut rc, 1), ["sent"]);
        assert!(lines(&mut ra, 1000).iter().all(|l| l == "m"));
        let (stats, _) = srv.finish();
        // One send() per message would be over 1,000; queued until the tick, they leave in one.
        assert!(stats.writes < 20, "{stats}");
    }
);

/// Read `CLOSED` from `c` until it reaches `n` (at most 5 s).
fn wait_closed(c: &mut TcpStream, rc: &mut BufReader<TcpStream>, n: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        c.write_all(b"CLOSED\n").unwrap();
        let now: u64 = lines(rc, 1)[0].parse().unwrap();
        if now >= n || Instant::now() >= deadline {
            return now;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

each_backend!(own_hard_limit_cuts_off_only_that_connection, |b| {
    let srv = start(b, Lines::default(), |_| {});
    let (mut a, mut ra) = connect(srv.addr);
    a.write_all(b"ID\nLIMIT 65536 0 0\n").unwrap();
    let id = lines(&mut ra, 2).remove(0);
    let (mut c, mut rc) = connect(srv.addr);
    // 100 x 1 KiB in one iteration: over 64 KiB before any write, so cut off at append time.
    let text = "x".repeat(1023);
    c.write_all(format!("FAN {id} 100 {text}\nI sent\n").as_bytes())
        .unwrap();
    assert_eq!(lines(&mut rc, 1), ["sent"]);
    assert_eq!(wait_closed(&mut c, &mut rc, 1), 1);
    // The same burst to a connection without its own limit is delivered.
    let (mut d, mut rd) = connect(srv.addr);
    d.write_all(b"ID\n").unwrap();
    let id = lines(&mut rd, 1).remove(0);
    c.write_all(format!("FAN {id} 100 {text}\nI sent\n").as_bytes())
        .unwrap();
    assert_eq!(lines(&mut rc, 1), ["sent"]);
    assert_eq!(lines(&mut rd, 100).len(), 100);
    let (stats, _) = srv.finish();
    assert_eq!(stats.output_overflows, 1, "{stats}");
});

each_backend!(own_soft_limit_cuts_off_after_its_grace_period, |b| {
    let srv = start(b, Lines::default(), |_| {});
    // Soft 64 KiB for 300 ms, no hard limit; a reader under the same limit survives.
    let (mut a, mut ra) = connect(srv.addr);
    a.write_all(b"ID\nLIMIT 0 65536 300\n").unwrap();
    let stalled = lines(&mut ra, 2).remove(0);
    let (mut d, mut rd) = connect(srv.addr);
    d.write_all(b"ID\nLIMIT 0 65536 300\n").unwrap();
    let reader = lines(&mut rd, 2).remove(0);
    let got = thread::spawn(move || {
        let mut n = 0usize;
        let mut l = String::new();
        while rd.read_line(&mut l).is_ok_and(|k| k > 0) {
            n += 1;
            l.clear();
        }
        n
    });
    let (mut c, mut rc) = connect(srv.addr);
    let text = "y".repeat(1023);
    // 32 KiB per request: under the soft limit in one go; only a backlog goes over it.
    let started = Instant::now();
    let mut sent = 0;
    let mut cut = None;
    while started.elapsed() < Duration::from_secs(8) {
        c.write_all(
            format!("FAN {stalled} 32 {text}\nFAN {reader} 32 {text}\nCLOSED\n").as_bytes(),
        )
        .unwrap();
        sent += 32;
        if lines(&mut rc, 1)[0] == "1" {
            cut = Some(started.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let cut = cut.expect("the stalled connection was never cut off");
    // Never before the grace period: its backlog could only start after the kernel filled.
    assert!(cut >= Duration::from_millis(300), "cut after {cut:?}");
    drop((a, ra));
    drop(d);
    let (stats, _) = srv.finish();
    assert_eq!(stats.output_overflows, 1, "{stats}");
    assert_eq!(got.join().unwrap(), sent, "the reader lost messages");
});

each_backend!(
    own_limit_does_not_outlive_its_connection_in_a_reused_slot,
    |b| {
        let srv = start(b, Lines::default(), |_| {});
        let (mut c, mut rc) = connect(srv.addr);
        let (mut a, mut ra) = connect(srv.addr);
        a.write_all(b"ID\nLIMIT 65536 0 0\n").unwrap();
        let limited = lines(&mut ra, 2).remove(0);
        drop((a, ra));
        assert_eq!(wait_closed(&mut c, &mut rc, 1), 1);
        // The freed slot goes to the next connection (a new generation): the old limit's entry
        // must be gone, not applied to it.
        let (mut d, mut rd) = connect(srv.addr);
        d.write_all(b"ID\n").unwrap();
        let id = lines(&mut rd, 1).remove(0);
        assert_ne!(id, limited, "a new connection has a new id");
        let slot = |id: &str| id.parse::<u64>().unwrap() & 0xffff_ffff;
        assert_eq!(
            slot(&id),
            slot(&limited),
            "the slot was not reused: test nothing"
        );
        let text = "x".repeat(1023);
        c.write_all(format!("FAN {id} 100 {text}\nI sent\n").as_bytes())
            .unwrap();
        assert_eq!(lines(&mut rc, 1), ["sent"]);
        assert_eq!(lines(&mut rd, 100).len(), 100);
        let (stats, _) = srv.finish();
        assert_eq!(stats.output_overflows, 0, "{stats}");
    }
);

each_backend!(
    held_replies_read_while_draining_still_wait_for_a_tick,
    |b| {
        let (permit, permits) = mpsc::channel();
        let log = TickLog::default();
        let service = Lines {
            gate: Some((permits, Arc::clone(&log))),
            ..Lines::default()
        };
        let srv = start(b, service, |_| {});
        let (mut s, mut r) = connect(srv.addr);
        let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let reader = thread::spawn(move || {
            let mut l = String::new();
            while r.read_line(&mut l).is_ok_and(|k| k > 0) {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                l.clear();
            }
        });
        // Far more held requests than the loop reads in one go (its read budget, and the
        // high-water mark its held replies reach first).
        let n = 200_000u64;
        let writer = thread::spawn(move || {
            let mut all = Vec::new();
            for i in 0..n {
                writeln!(all, "H {i}").unwrap();
            }
            let _ = s.write_all(&all);
            s
        });
        // Wait for the next tick to start (the loop is then parked in it), let what left
        // before it arrive, and return (replies received, held replies served before it).
        let next_tick = |seen: usize| -> Option<(u64, u64)> {
            let deadline = Instant::now() + Duration::from_secs(10);
            while log.lock().unwrap().len() <= seen {
                if Instant::now() >= deadline {
                    return None;
                }
                thread::sleep(Duration::from_millis(1));
            }
            let mut got = received.load(std::sync::atomic::Ordering::SeqCst);
            loop {
                thread::sleep(Duration::from_millis(30));
                let now = received.load(std::sync::atomic::Ordering::SeqCst);
                if now == got {
                    break;
                }
                got = now;
            }
            Some((got, log.lock().unwrap()[seen].0))
        };
        // Serve normally until the connection is open and some held replies were served.
        let mut seen = 0;
        loop {
            next_tick(seen).expect("the loop ticks");
            let (served, opened) = log.lock().unwrap()[seen];
            seen += 1;
            if opened == 1 && served > 0 {
                break;
            }
            permit.send(()).unwrap();
        }
        // Now drain: a reply served after tick k must not leave before tick k+1 has run.
        srv.stop.stop();
        let mut rounds = 0;
        while rounds < 200 {
            let before = log.lock().unwrap()[seen - 1].0;
            permit.send(()).unwrap();
            let Some((got, _)) = next_tick(seen) else {
                break;
            };
            assert!(
                got <= before,
                "{got} replies left, but only {before} were served before the last tick"
            );
            seen += 1;
            rounds += 1;
            if got == n {
                break;
            }
        }
        drop(permit);
        let _ = srv.handle.join();
        let _ = writer.join();
        reader.join().unwrap();
        assert!(rounds > 1, "the drain ended before anything was checked");
    }
);
