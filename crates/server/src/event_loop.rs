//! One thread, one poller, one loop: accept → connection → service → output.
//!
//! ```text
//! listener ─accept4(NONBLOCK|CLOEXEC)─▶ Slab entry (token = generation<<32 | index)
//! event ─▶ generation check (stale → dropped) ─▶ recv into the loop's read buffer
//!       ─▶ Service::serve ─▶ send at once ("write-through"); only what the kernel did not take
//!          is copied into the connection's pending output
//!       ─▶ pending output above the high-water mark: stop reading this client until it drains
//!       ─▶ EOF from the client: flush what is owed, then deregister and close
//! ```
//!
//! Trigger modes differ in exactly two places:
//! - **reading**: level-triggered and poll read once per event (the kernel reports the fd again
//!   while data remains). Edge-triggered must drain — a short read on a stream socket proves the
//!   queue empty, so the loop needs no extra `EAGAIN` read — but stops after `edge_budget` bytes
//!   and requeues the connection so one fast client cannot starve the rest.
//! - **interest**: level-triggered and poll ask for writability only while output is pending
//!   (otherwise every wait would return at once) and drop readability while paused or after EOF.
//!   Edge-triggered registers both once and never calls `epoll_ctl` again: an edge fires only on a
//!   change, so a permanently armed `EPOLLOUT` costs nothing; a connection stopped early (budget,
//!   backpressure) remembers `unread` and is requeued instead of waiting for an edge that will
//!   not come.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use reactor::{Backend, Event, Events, Interest, Poller, ShutdownSignals, Token, Waker};
use rustix::io::Errno;
use rustix::net::{self, RecvFlags, SendFlags, SocketFlags};
use tracing::{debug, info, warn};

use crate::net::{listen, local_addr};
use crate::service::Service;
use crate::slab::Slab;
use crate::stats::Stats;

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// How long accepting stays paused after the process ran out of descriptors (unless a
/// connection closes sooner and frees one). A level-triggered listener would otherwise report
/// the pending connection on every wait and spin the loop at 100% CPU.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Buffer sets kept for reuse; the rest are freed, so idle connections cost no buffer.
const POOL_KEEP: usize = 64;
const POOL_MAX_CAPACITY: usize = 1 << 20;
/// Connection slots reserved up front (address space only, until used).
const MAX_RESERVED_SLOTS: usize = 1 << 20;

/// Everything a loop needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which poller.
    pub backend: Backend,
    /// Where to listen.
    pub addr: SocketAddr,
    /// Set `SO_REUSEPORT` (for several loops on one port).
    pub reuse_port: bool,
    /// Bytes per `recv`.
    pub read_chunk: usize,
    /// Stop reading from a client while this much output is pending for it.
    pub high_water: usize,
    /// Close a client whose pending output (or unconsumed input) exceeds this.
    pub max_output: usize,
    /// Edge-triggered: bytes read per connection per event before it is requeued.
    pub edge_budget: usize,
    /// Connections accepted per listener event before other work gets a turn.
    pub accept_batch: usize,
    /// Accept and close at once beyond this many connections.
    pub max_clients: usize,
    /// Close connections that sent nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// After SIGINT/SIGTERM, how long to keep flushing before closing everything.
    pub shutdown_timeout: Duration,
    /// Log the counters this often.
    pub stats_interval: Option<Duration>,
    /// Events returned per wait at most.
    pub events_capacity: usize,
}

impl Config {
    /// Defaults for `backend` on `addr`.
    pub fn new(backend: Backend, addr: SocketAddr) -> Config {
        Config {
            backend,
            addr,
            reuse_port: false,
            read_chunk: 64 * 1024,
            high_water: 256 * 1024,
            max_output: 16 * 1024 * 1024,
            edge_budget: 256 * 1024,
            accept_batch: 128,
            max_clients: usize::MAX,
            idle_timeout: None,
            shutdown_timeout: Duration::from_secs(5),
            stats_interval: None,
            events_capacity: 1024,
        }
    }
}

/// Why a connection was closed (for counters and debug logs).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum CloseReason {
    Done,
    IoError,
    Overflow,
    Idle,
    Shutdown,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    ResumeAccept,
    Stats,
    Idle(Token),
}

struct Conn<S> {
    fd: OwnedFd,
    session: S,
    /// Byte buffers exist only while something is owed in either direction; an idle
    /// connection carries a null pointer instead of two empty `Vec`s (issue: ≤ 64 B per idle
    /// connection at 10,000 connections).
    bufs: Option<Box<Buffers>>,
    last_rx: Instant,
    interest: Interest,
    /// The client sent FIN.
    eof: bool,
    /// Edge-triggered: reading stopped before the socket was drained.
    unread: bool,
    /// Sitting in the ready queue.
    queued: bool,
    /// The last read pass emptied the socket (used while draining at shutdown).
    quiet: bool,
    /// A reset or broken pipe: close at the next opportunity.
    failed: bool,
}

/// Recycled buffer sets. The boxes themselves are what is recycled (a connection holds a
/// `Box<Buffers>`), so handing one out costs no allocation.
#[allow(clippy::vec_box)]
type BufferPool = Vec<Box<Buffers>>;

#[derive(Default)]
struct Buffers {
    /// Received bytes the service has not consumed yet (always empty for echo).
    input: Vec<u8>,
    /// Output the kernel has not taken yet: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
}

impl Buffers {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }
}

impl<S> Conn<S> {
    fn pending(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.pending())
    }

    fn pending_input(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.input.len())
    }
}

/// The loop-wide pieces a connection's I/O needs, borrowed apart from the slab.
struct Io<'a, S: Service> {
    cfg: &'a Config,
    stats: &'a mut Stats,
    service: &'a mut S,
    rbuf: &'a mut [u8],
    wbuf: &'a mut Vec<u8>,
    pool: &'a mut BufferPool,
    now: Instant,
    draining: bool,
}

impl<S: Service> Io<'_, S> {
    /// Flush, read, serve. Returns how the connection should continue.
    fn drive(
        &mut self,
        c: &mut Conn<S::Session>,
        read: bool,
        write: bool,
        peer_fin: bool,
    ) -> Option<CloseReason> {
        if write && c.pending() > 0 {
            self.flush(c);
        }
        if read && !c.eof && !c.failed {
            self.read_pass(c, peer_fin);
        }
        if c.failed {
            return Some(CloseReason::IoError);
        }
        if c.pending() > self.cfg.max_output || c.pending_input() > self.cfg.max_output {
            return Some(CloseReason::Overflow);
        }
        if c.pending() == 0 && (c.eof || (self.draining && c.quiet)) {
            return Some(if c.eof {
                CloseReason::Done
            } else {
                CloseReason::Shutdown
            });
        }
        None
    }

    fn read_pass(&mut self, c: &mut Conn<S::Session>, peer_fin: bool) {
        // Level-triggered and poll get another event while data remains; edge-triggered (and a
        // draining server, which must know when a client is quiet) read until the queue is empty.
        let drain = self.cfg.backend.is_edge_triggered() || self.draining;
        let mut total = 0usize;
        c.quiet = false;
        loop {
            if c.pending() >= self.cfg.high_water || (drain && total >= self.cfg.edge_budget) {
                c.unread = true; // backpressure or budget: come back later
                return;
            }
            self.stats.reads += 1;
            match net::recv(&c.fd, &mut *self.rbuf, RecvFlags::empty()) {
                Ok((0, _)) => {
                    c.eof = true;
                    c.unread = false;
                    return;
                }
                Ok((n, _)) => {
                    self.stats.bytes_in += n as u64;
                    c.last_rx = self.now;
                    total += n;
                    self.consume(c, n);
                    if c.failed || !drain {
                        return;
                    }
                    // A short read drained the stream socket; any later arrival fires a new edge.
                    // Not so if the FIN may already be queued (the event carried it, or this is a
                    // requeued pass whose edge is gone): then read on to the 0.
                    if n < self.rbuf.len() && !peer_fin {
                        c.unread = false;
                        c.quiet = true;
                        return;
                    }
                }
                Err(Errno::AGAIN) => {
                    c.unread = false;
                    c.quiet = true;
                    return;
                }
                Err(Errno::INTR) => continue,
                Err(e) => {
                    debug!("recv: {e}");
                    c.failed = true;
                    return;
                }
            }
        }
    }

    /// Hand `rbuf[..n]` to the service and send what it produces.
    fn consume(&mut self, c: &mut Conn<S::Session>, n: usize) {
        self.wbuf.clear();
        let fresh = &self.rbuf[..n];
        match c.bufs.as_mut().filter(|b| !b.input.is_empty()) {
            // A partial request is waiting: complete it with the new bytes.
            Some(b) => {
                b.input.extend_from_slice(fresh);
                let used = self.service.serve(&mut c.session, &b.input, self.wbuf);
                b.input.drain(..used);
            }
            None => {
                let used = self.service.serve(&mut c.session, fresh, self.wbuf);
                if used < n {
                    let b = c
                        .bufs
                        .get_or_insert_with(|| self.pool.pop().unwrap_or_default());
                    b.input.extend_from_slice(&fresh[used..]);
                }
            }
        }
        if !self.wbuf.is_empty() {
            if c.pending() > 0 {
                // Earlier output is still queued: append, never overtake it.
                c.bufs
                    .as_mut()
                    .expect("pending output")
                    .out
                    .extend_from_slice(self.wbuf);
            } else {
                // Write-through: usually the kernel takes it all and nothing is copied or allocated.
                let sent = self.send(c, 0);
                if sent < self.wbuf.len() && !c.failed {
                    let b = c
                        .bufs
                        .get_or_insert_with(|| self.pool.pop().unwrap_or_default());
                    b.out.extend_from_slice(&self.wbuf[sent..]);
                }
            }
        }
        self.release_if_idle(c);
    }

    /// Give an empty buffer set back to the pool (or free it), so idle connections hold none.
    fn release_if_idle(&mut self, c: &mut Conn<S::Session>) {
        let Some(b) = c.bufs.as_mut() else { return };
        if b.pending() > 0 || !b.input.is_empty() {
            return;
        }
        let mut b = c.bufs.take().expect("checked above");
        if self.pool.len() < POOL_KEEP
            && b.out.capacity() <= POOL_MAX_CAPACITY
            && b.input.capacity() <= POOL_MAX_CAPACITY
        {
            b.out.clear();
            b.out_pos = 0;
            self.pool.push(b);
        }
    }

    /// One `send` of `wbuf[from..]` (write-through path); returns bytes taken.
    fn send(&mut self, c: &mut Conn<S::Session>, from: usize) -> usize {
        loop {
            self.stats.writes += 1;
            match net::send(&c.fd, &self.wbuf[from..], SendFlags::NOSIGNAL) {
                Ok(n) => {
                    self.stats.bytes_out += n as u64;
                    return n;
                }
                Err(Errno::AGAIN) => return 0,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    debug!("send: {e}");
                    c.failed = true;
                    return 0;
                }
            }
        }
    }

    /// Write pending output until it is gone or the kernel's buffer is full.
    fn flush(&mut self, c: &mut Conn<S::Session>) {
        let Some(b) = c.bufs.as_mut() else { return };
        while b.pending() > 0 {
            self.stats.writes += 1;
            match net::send(&c.fd, &b.out[b.out_pos..], SendFlags::NOSIGNAL) {
                Ok(n) => {
                    self.stats.bytes_out += n as u64;
                    b.out_pos += n;
                    if b.pending() > 0 {
                        break; // short write: the socket buffer is full, EAGAIN would follow
                    }
                }
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    debug!("send: {e}");
                    c.failed = true;
                    break;
                }
            }
        }
        if b.pending() == 0 {
            b.out.clear();
            b.out_pos = 0;
        } else if b.out_pos > b.out.len() / 2 {
            b.out.drain(..b.out_pos);
            b.out_pos = 0;
        }
        self.release_if_idle(c);
    }
}

/// An event loop serving `S` on one listener.
pub struct Server<S: Service> {
    cfg: Config,
    poller: Poller,
    listener: Option<OwnedFd>,
    addr: SocketAddr,
    accepting: bool,
    conns: Slab<Conn<S::Session>>,
    service: S,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    pool: BufferPool,
    /// Work that needs no new event: edge-triggered connections and listener stopped early.
    ready: VecDeque<Token>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    stats: Stats,
    now: Instant,
    drain_deadline: Option<Instant>,
    /// Only with several loops: lets a sibling that received SIGTERM wake this one.
    waker: Option<Waker>,
    /// Wakers of the sibling loops, woken when this loop starts draining.
    peers: Vec<Waker>,
}

impl<S: Service> Server<S> {
    /// Bind the listener and create the poller.
    pub fn bind(cfg: Config, service: S) -> io::Result<Server<S>> {
        let listener = listen(cfg.addr, cfg.reuse_port)?;
        let addr = local_addr(&listener)?;
        let mut poller = Poller::new(cfg.backend)?;
        poller.register(listener.as_fd(), LISTENER, Interest::READABLE)?;
        let now = Instant::now();
        let mut timers = BinaryHeap::new();
        if let Some(every) = cfg.stats_interval {
            timers.push(Reverse((now + every, Timer::Stats)));
        }
        Ok(Server {
            rbuf: vec![0; cfg.read_chunk.max(1)],
            conns: Slab::with_capacity(cfg.max_clients.min(MAX_RESERVED_SLOTS)),
            wbuf: Vec::new(),
            pool: Vec::new(),
            cfg,
            poller,
            listener: Some(listener),
            addr,
            accepting: true,
            service,
            ready: VecDeque::new(),
            timers,
            stats: Stats::default(),
            now,
            drain_deadline: None,
            waker: None,
            peers: Vec::new(),
        })
    }

    /// A handle that wakes this loop from another thread (created on first use; one eventfd).
    pub fn waker(&mut self) -> io::Result<Waker> {
        if self.waker.is_none() {
            self.waker = Some(Waker::new(&mut self.poller, WAKER)?);
        }
        Ok(self.waker.clone().expect("just created"))
    }

    /// Loops to wake when this one sees the shutdown signal: a process-directed signal
    /// interrupts only one thread's wait, and the others must start draining too.
    pub fn set_peers(&mut self, peers: Vec<Waker>) {
        self.peers = peers;
    }

    /// The bound address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.poller = self.poller.stats();
        s
    }

    /// Serve until `signals` asks for shutdown; then stop accepting, flush what is owed (for at
    /// most `shutdown_timeout`), close everything and return the counters.
    pub fn run(&mut self, signals: &ShutdownSignals) -> io::Result<Stats> {
        self.poller.unblock_during_wait(signals);
        let mut events = Events::with_capacity(self.cfg.events_capacity);
        loop {
            self.now = Instant::now();
            if signals.requested() && self.drain_deadline.is_none() {
                self.begin_drain();
            }
            if let Some(deadline) = self.drain_deadline {
                if self.conns.is_empty() || self.now >= deadline {
                    break;
                }
            }
            let timeout = self.next_timeout();
            self.poller.wait(&mut events, timeout)?;
            self.now = Instant::now();
            if signals.take_report_request() {
                info!("stats: {}", self.stats());
            }
            for ev in events.iter() {
                self.dispatch(ev);
            }
            self.run_ready_queue();
            self.fire_timers();
        }
        let left = self.conns.len();
        if left > 0 {
            info!("shutdown timeout: closing {left} connections that still had work");
        }
        for token in self.conns.tokens() {
            self.close(token, CloseReason::Shutdown);
        }
        Ok(self.stats())
    }

    fn next_timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        let next = match (timer, self.drain_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.map(|at| at.saturating_duration_since(self.now))
    }

    fn dispatch(&mut self, ev: &Event) {
        if ev.token() == LISTENER {
            self.accept_pass();
            return;
        }
        if ev.token() == WAKER {
            if let Some(w) = &self.waker {
                let _ = w.reset(); // the signal flag itself is checked at the top of the loop
            }
            return;
        }
        let hangup = ev.is_error() || ev.is_write_closed();
        let read = ev.is_readable() || ev.is_read_closed() || hangup;
        let write = ev.is_writable() || hangup;
        self.drive(ev.token(), read, write, ev.is_read_closed());
    }

    fn drive(&mut self, token: Token, read: bool, write: bool, peer_fin: bool) {
        let Some(c) = self.conns.get_mut(token) else {
            self.stats.stale_events += 1;
            return;
        };
        let mut io = Io {
            cfg: &self.cfg,
            stats: &mut self.stats,
            service: &mut self.service,
            rbuf: &mut self.rbuf,
            wbuf: &mut self.wbuf,
            pool: &mut self.pool,
            now: self.now,
            draining: self.drain_deadline.is_some(),
        };
        if let Some(reason) = io.drive(c, read, write, peer_fin) {
            self.close(token, reason);
            return;
        }
        if self.cfg.backend.is_edge_triggered() {
            if c.unread && !c.queued && c.pending() < self.cfg.high_water {
                c.queued = true;
                self.ready.push_back(token);
            }
            return;
        }
        let want = Interest::new(!c.eof && c.pending() < self.cfg.high_water, c.pending() > 0);
        if want != c.interest {
            c.interest = want;
            if let Err(e) = self.poller.reregister(c.fd.as_fd(), token, want) {
                warn!("reregister: {e}");
                self.close(token, CloseReason::IoError);
            }
        }
    }

    /// Edge-triggered connections that stopped early, and a listener that hit its batch cap.
    /// Only what was queued before this pass runs, so requeued work waits for the next wait.
    fn run_ready_queue(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(token) = self.ready.pop_front() else {
                break;
            };
            if token == LISTENER {
                self.accept_pass();
                continue;
            }
            if let Some(c) = self.conns.get_mut(token) {
                c.queued = false;
                // `peer_fin = true`: the pass that stopped early may have consumed the FIN's
                // edge; a short read here does not prove the FIN is not queued behind the data,
                // so read on to the 0 or EAGAIN (one extra recv per requeue, never per event).
                self.drive(token, true, true, true);
            }
        }
    }

    fn accept_pass(&mut self) {
        for _ in 0..self.cfg.accept_batch {
            let Some(listener) = &self.listener else {
                return;
            };
            if !self.accepting {
                return;
            }
            self.stats.accepts += 1;
            match net::accept_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok(fd) => self.admit(fd),
                Err(Errno::AGAIN) => return,
                // The client gave up while queued, or a signal: the next one may be fine.
                Err(Errno::CONNABORTED) | Err(Errno::INTR) => continue,
                Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) => {
                    self.pause_accept(e);
                    return;
                }
                // accept(2): pending network errors on the new socket are reported by accept
                // itself and are to be treated like EAGAIN by retrying.
                Err(
                    Errno::PROTO
                    | Errno::NOPROTOOPT
                    | Errno::NETDOWN
                    | Errno::NONET
                    | Errno::NETUNREACH
                    | Errno::HOSTDOWN
                    | Errno::HOSTUNREACH
                    | Errno::OPNOTSUPP
                    | Errno::PERM,
                ) => continue,
                // Anything else is unexpected. Pausing (rather than returning) keeps an
                // edge-triggered listener from being stranded and a level-triggered one from
                // spinning on the same error.
                Err(e) => {
                    self.pause_accept(e);
                    return;
                }
            }
        }
        if self.cfg.backend.is_edge_triggered() {
            self.ready.push_back(LISTENER); // more may be queued, and no new edge will say so
        }
    }

    fn admit(&mut self, fd: OwnedFd) {
        if self.conns.len() >= self.cfg.max_clients {
            self.stats.rejected += 1;
            debug!(
                "max clients ({}) reached: closing new connection",
                self.cfg.max_clients
            );
            return; // dropping `fd` closes it: the client sees EOF at once instead of hanging
        }
        // Echo replies are small and latency-bound: do not let Nagle hold them back.
        let _ = net::sockopt::set_tcp_nodelay(&fd, true);
        let edge = self.cfg.backend.is_edge_triggered();
        let interest = if edge {
            Interest::BOTH
        } else {
            Interest::READABLE
        };
        let conn = Conn {
            fd,
            session: S::Session::default(),
            bufs: None,
            last_rx: self.now,
            interest,
            eof: false,
            unread: false,
            queued: false,
            quiet: false,
            failed: false,
        };
        let token = self.conns.insert(conn);
        let c = self.conns.get_mut(token).expect("just inserted");
        if let Err(e) = self.poller.register(c.fd.as_fd(), token, interest) {
            warn!("register: {e}");
            self.conns.remove(token);
            return;
        }
        self.stats.accepted += 1;
        if let Some(t) = self.cfg.idle_timeout {
            self.timers
                .push(Reverse((self.now + t, Timer::Idle(token))));
        }
    }

    fn pause_accept(&mut self, err: Errno) {
        if let Some(l) = &self.listener {
            let _ = self.poller.deregister(l.as_fd());
        }
        self.accepting = false;
        self.stats.accept_pauses += 1;
        warn!(
            "accept: {err}; pausing accepts for {ACCEPT_PAUSE:?} or until a connection closes ({} open)",
            self.conns.len()
        );
        self.timers
            .push(Reverse((self.now + ACCEPT_PAUSE, Timer::ResumeAccept)));
    }

    fn resume_accept(&mut self) {
        if self.accepting || self.drain_deadline.is_some() {
            return;
        }
        let Some(l) = &self.listener else { return };
        if let Err(e) = self
            .poller
            .register(l.as_fd(), LISTENER, Interest::READABLE)
        {
            warn!("re-registering listener: {e}");
            return;
        }
        self.accepting = true;
        // Connections may have queued meanwhile; an edge-triggered listener will not say so.
        self.ready.push_back(LISTENER);
    }

    fn close(&mut self, token: Token, reason: CloseReason) {
        let Some(c) = self.conns.remove(token) else {
            return;
        };
        // Deregister before close: the kernel would drop the registration on close only if no
        // other descriptor shared the open file; be explicit so nothing stale remains.
        if let Err(e) = self.poller.deregister(c.fd.as_fd()) {
            warn!("deregister: {e}");
        }
        drop(c); // closes the socket
        self.stats.closed += 1;
        match reason {
            CloseReason::IoError => self.stats.io_errors += 1,
            CloseReason::Overflow => self.stats.output_overflows += 1,
            _ => {}
        }
        debug!("closed {token:?}: {reason:?}");
        if !self.accepting {
            self.resume_accept(); // a descriptor just came free
        }
    }

    fn begin_drain(&mut self) {
        info!(
            "shutdown requested: no new connections; flushing {} connections (at most {:?})",
            self.conns.len(),
            self.cfg.shutdown_timeout
        );
        if let Some(l) = self.listener.take() {
            if self.accepting {
                let _ = self.poller.deregister(l.as_fd());
            }
        }
        self.accepting = false;
        self.drain_deadline = Some(self.now + self.cfg.shutdown_timeout);
        for peer in &self.peers {
            let _ = peer.wake();
        }
        for token in self.conns.tokens() {
            self.drive(token, true, true, false);
        }
    }

    fn fire_timers(&mut self) {
        while let Some(Reverse((at, timer))) = self.timers.peek().copied() {
            if at > self.now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::ResumeAccept => self.resume_accept(),
                Timer::Stats => {
                    info!("stats: {}", self.stats());
                    if let Some(every) = self.cfg.stats_interval {
                        self.timers.push(Reverse((self.now + every, Timer::Stats)));
                    }
                }
                Timer::Idle(token) => self.check_idle(token),
            }
        }
    }

    /// Lazy idle deadlines: a read only updates `last_rx`; when the timer fires it either
    /// closes the connection or re-arms itself for `last_rx + timeout`. No heap work per read.
    fn check_idle(&mut self, token: Token) {
        let (Some(t), Some(c)) = (self.cfg.idle_timeout, self.conns.get_mut(token)) else {
            return;
        };
        let due = c.last_rx + t;
        if due <= self.now {
            debug!("closing idle connection {token:?}");
            self.close(token, CloseReason::Idle);
        } else {
            self.timers.push(Reverse((due, Timer::Idle(token))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle echo connection's whole footprint is its slab slot: pin it under the 64-byte
    /// per-connection budget (buffers are boxed and only exist while bytes are owed).
    #[test]
    fn idle_connection_fits_the_64_byte_budget() {
        let slot = std::mem::size_of::<Option<Conn<()>>>() + std::mem::size_of::<u32>();
        assert!(slot <= 48, "idle connection slot is {slot} bytes");
    }
}
