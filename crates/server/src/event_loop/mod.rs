//! One thread, one poller, one loop: accept → connection → service → output.
//!
//! ```text
//! wait ─▶ events of the batch (listener last: a close in this batch frees a --max-clients slot first)
//!   connection event ─▶ generation check (stale → dropped) ─▶ flush owed output
//!        ─▶ recv into the loop's read buffer ─▶ Service::serve ─▶ send at once ("write-through");
//!           only what the kernel did not take is copied into the connection's pending output;
//!           a deferred reply (Ctx::defer) holds later replies back until it is fulfilled
//!        ─▶ pending output above the high-water mark, or paused by the service: stop reading
//!        ─▶ EOF / close_after_reply: close once nothing is owed (bytes or deferred replies)
//!   waker event ─▶ stop request? ─▶ Service::wake (completions from other threads)
//! ─▶ ready queue (edge-triggered work stopped early, resumed connections)
//! ─▶ timers: resume accepting, stats, idle connections (an LRU list: O(1), nothing stale)
//! ─▶ Service::tick (once per iteration) ─▶ send the replies held for it and what send_to
//!    queued for other connections (one write per connection per iteration)
//! ```
//!
//! Trigger modes differ in exactly two places:
//! - **reading**: level-triggered and poll read once per event (the kernel reports the fd again
//!   while data remains). Edge-triggered must drain — a short read on a stream socket proves the
//!   queue empty, so the loop needs no extra `EAGAIN` read — but stops after `edge_budget` bytes
//!   and requeues the connection so one fast client cannot starve the rest. Two things make a
//!   short read prove nothing, and then it reads on to `EAGAIN`/EOF: a FIN that may be queued
//!   behind the data, and urgent data (`recv` stops at the urgent mark).
//! - **interest**: level-triggered and poll ask for writability only while output is pending
//!   (otherwise every wait would return at once) and drop readability while paused or after EOF.
//!   Edge-triggered registers both once and never calls `epoll_ctl` again: an edge fires only on a
//!   change, so a permanently armed `EPOLLOUT` costs nothing; a connection stopped early (budget,
//!   backpressure, paused by the service) remembers `unread` and is requeued instead of waiting
//!   for an edge that will not come.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactor::{Backend, Event, Events, Interest, Poller, ShutdownSignals, Token, Waker};
use tracing::{info, warn};

use crate::net::{listen, local_addr};
use crate::service::{Act, Ctx, Effects, Service, StartCtx, Ticket};
use crate::slab::Slab;
use crate::stats::Stats;

const LISTENER: Token = Token(usize::MAX - 1);
/// Listeners added after `bind` (more addresses, a Unix socket) take tokens from here down.
/// Slab tokens never come this close to `usize::MAX` (their index half stays far below).
const MORE_LISTENERS: usize = usize::MAX - 3;
const MAX_LISTENERS: usize = 64;

/// Is `t` one of the listeners' tokens? Any listener's event runs one accept pass over all
/// of them (an `accept` on a listener with nothing queued is one EAGAIN).
fn is_listener(t: Token) -> bool {
    t == LISTENER || (t.0 <= MORE_LISTENERS && t.0 > MORE_LISTENERS - MAX_LISTENERS)
}

/// One listening socket: the TCP one `bind` made, or one added later.
struct Listener {
    fd: OwnedFd,
    token: Token,
    /// The path of a Unix-domain listener (its clients have no IP address).
    unix: Option<std::sync::Arc<str>>,
    /// The address a TCP listener is bound to.
    addr: Option<SocketAddr>,
}
/// A draining server closes a connection as quiet once nothing has arrived for this long. One
/// empty read is not enough: bytes the client already wrote may still sit in its own send
/// queue, released only when our window update reaches its kernel, and closing on top of them
/// resets the connection and loses their echo (seen under load: EOF 131 KB short of 8 MB).
const DRAIN_QUIET_MS: u32 = 50;
const WAKER: Token = Token(usize::MAX - 2);
/// How long accepting stays paused after the process ran out of descriptors (unless a
/// connection closes sooner and frees one). A level-triggered listener would otherwise report
/// the pending connection on every wait and spin the loop at 100% CPU.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Buffer sets kept for reuse, and the bytes they may hold in total: the rest are freed, so
/// idle connections cost no buffer and slow readers that left give their memory back.
const POOL_KEEP: usize = 64;
const POOL_BYTES: usize = 4 << 20;
const POOL_MAX_CAPACITY: usize = 1 << 20;
/// Connection slots reserved up front (address space only, until used).
const MAX_RESERVED_SLOTS: usize = 1 << 20;
/// The longest duration a [`Config`] accepts (about 24.8 days): the idle clock is 32-bit
/// milliseconds, and `Instant + Duration` panics on overflow.
pub const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);
const NIL: u32 = u32::MAX;

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
    /// Close a client whose pending output exceeds this.
    pub max_output: usize,
    /// Close a client whose unconsumed input (a request not complete yet) exceeds this.
    pub max_input: usize,
    /// Edge-triggered: bytes read per connection per event before it is requeued.
    pub edge_budget: usize,
    /// Connections accepted per listener event before other work gets a turn.
    pub accept_batch: usize,
    /// Accept and close at once beyond this many connections (shared by every loop given the
    /// same count with [`Server::share_client_count`]).
    pub max_clients: usize,
    /// Close connections that sent nothing (and are owed no deferred reply) for this long.
    pub idle_timeout: Option<Duration>,
    /// After a stop request, how long to keep flushing before closing everything.
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
            max_input: 16 * 1024 * 1024,
            edge_budget: 256 * 1024,
            accept_batch: 128,
            max_clients: usize::MAX,
            idle_timeout: None,
            shutdown_timeout: Duration::from_secs(5),
            stats_interval: None,
            events_capacity: 1024,
        }
    }

    /// Refuse settings the loop cannot run with: a zero high-water mark would never read, a
    /// zero edge budget would requeue forever at 100% CPU, huge durations overflow the clock.
    pub fn validate(&self) -> io::Result<()> {
        let positive = [
            ("read_chunk", self.read_chunk),
            ("high_water", self.high_water),
            ("max_output", self.max_output),
            ("max_input", self.max_input),
            ("edge_budget", self.edge_budget),
            ("accept_batch", self.accept_batch),
            ("max_clients", self.max_clients),
            ("events_capacity", self.events_capacity),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(invalid(format!("config: {name} must be at least 1")));
            }
        }
        let durations = [
            ("idle_timeout", self.idle_timeout),
            ("shutdown_timeout", Some(self.shutdown_timeout)),
            ("stats_interval", self.stats_interval),
        ];
        for (name, d) in durations {
            if d.is_some_and(|d| d > MAX_DURATION) {
                return Err(invalid(format!(
                    "config: {name} must be at most {} s",
                    MAX_DURATION.as_secs()
                )));
            }
            if name != "shutdown_timeout" && d == Some(Duration::ZERO) {
                return Err(invalid(format!(
                    "config: {name} must be positive (or None)"
                )));
            }
        }
        Ok(())
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

mod conn;
mod lifecycle;
mod pass;

use conn::*;
use pass::*;

/// Stops a running [`Server`] from any thread, without signals: the loop drains (bounded by
/// `shutdown_timeout`) and [`Server::run`] returns.
#[derive(Clone, Debug)]
pub struct StopHandle {
    flag: Arc<AtomicBool>,
    waker: Waker,
}

impl StopHandle {
    /// Ask the loop to stop; returns at once.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

/// An event loop serving `S` on one listener.
pub struct Server<S: Service> {
    cfg: Config,
    poller: Poller,
    /// Every listener; empty once draining.
    listeners: Vec<Listener>,
    addr: SocketAddr,
    accepting: bool,
    /// True from the first failed accept of an out-of-descriptors episode until an accept
    /// pass drains the queue again: one warning per episode, not one per freed descriptor.
    starved: bool,
    conns: Slab<Conn<S::Session>>,
    /// Open connections of every loop sharing this count (`--max-clients` is per process).
    clients: Arc<AtomicUsize>,
    service: S,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    fx: Effects,
    pool: BufferPool,
    /// Work that needs no new event: edge-triggered connections and listener stopped early,
    /// connections resumed or fulfilled by the service.
    ready: VecDeque<Token>,
    /// Connections whose replies wait for `Service::tick`.
    held: Vec<Token>,
    /// Output limits the service set, by connection (see `Conn::limited`).
    limits: HashMap<Token, LimitState>,
    /// Idle list, least recently active first (only with an idle timeout).
    idle_head: u32,
    idle_tail: u32,
    epoch: Instant,
    resume_accept_at: Option<Instant>,
    stats_at: Option<Instant>,
    service_at: Option<Instant>,
    stats: Stats,
    now: Instant,
    /// `now` in the idle clock's units (milliseconds since `epoch`, wrapping).
    now_ms: u32,
    drain_deadline: Option<Instant>,
    /// While draining: when to look again at connections that went quiet only just now.
    drain_recheck_at: Option<Instant>,
    stop: Arc<AtomicBool>,
    signals: Option<ShutdownSignals>,
    /// Created on demand (stop handle, sibling loops, a service's worker threads).
    waker: Option<Waker>,
    /// Wakers of the sibling loops, woken when this loop starts draining.
    peers: Vec<Waker>,
}

impl<S: Service> Server<S> {
    /// Check the configuration, bind the listener and create the poller.
    pub fn bind(cfg: Config, service: S) -> io::Result<Server<S>> {
        cfg.validate()?;
        let listener = listen(cfg.addr, cfg.reuse_port)?;
        let addr = local_addr(&listener)?;
        let mut poller = Poller::new(cfg.backend)?;
        poller.register(listener.as_fd(), LISTENER, Interest::READABLE)?;
        let now = Instant::now();
        Ok(Server {
            rbuf: vec![0; cfg.read_chunk],
            conns: Slab::with_capacity(cfg.max_clients.min(MAX_RESERVED_SLOTS)),
            clients: Arc::new(AtomicUsize::new(0)),
            wbuf: Vec::new(),
            fx: Effects::default(),
            pool: BufferPool::default(),
            stats_at: cfg.stats_interval.map(|every| now + every),
            cfg,
            poller,
            listeners: vec![Listener {
                fd: listener,
                token: LISTENER,
                unix: None,
                addr: Some(addr),
            }],
            addr,
            accepting: true,
            starved: false,
            service,
            ready: VecDeque::new(),
            held: Vec::new(),
            limits: HashMap::new(),
            idle_head: NIL,
            idle_tail: NIL,
            epoch: now,
            resume_accept_at: None,
            service_at: None,
            stats: Stats::default(),
            now,
            now_ms: 0,
            drain_deadline: None,
            drain_recheck_at: None,
            stop: Arc::new(AtomicBool::new(false)),
            signals: None,
            waker: None,
            peers: Vec::new(),
        })
    }

    /// A handle that wakes this loop from another thread (created on first use; one eventfd).
    pub fn waker(&mut self) -> io::Result<Waker> {
        make_waker(&mut self.poller, &mut self.waker)
    }

    /// A handle that stops this loop from any thread.
    pub fn stop_handle(&mut self) -> io::Result<StopHandle> {
        Ok(StopHandle {
            flag: Arc::clone(&self.stop),
            waker: self.waker()?,
        })
    }

    /// Also stop on SIGINT/SIGTERM (and log the counters on SIGUSR1). The thread that calls
    /// [`run`](Self::run) must block them ([`ShutdownSignals::install`] does, for the thread
    /// that calls it and every thread it starts afterwards).
    pub fn watch_signals(&mut self, signals: &ShutdownSignals) {
        self.poller.unblock_during_wait(signals);
        self.signals = Some(signals.clone());
    }

    /// Count this loop's connections in `count`, shared with other loops, against
    /// `max_clients`: `--threads N` keeps one per-process limit however SO_REUSEPORT spreads
    /// connections.
    pub fn share_client_count(&mut self, count: Arc<AtomicUsize>) {
        self.clients = count;
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

    /// Also accept on another TCP address (Redis's `bind` with several addresses). Its
    /// clients are served like the first listener's; returns the bound address.
    pub fn listen_tcp(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let fd = listen(addr, self.cfg.reuse_port)?;
        let bound = local_addr(&fd)?;
        self.add_listener(fd, None, Some(bound))?;
        Ok(bound)
    }

    /// Also accept on a Unix-domain stream socket at `path` (Redis's `unixsocket`), with
    /// permissions `perm` if given (`unixsocketperm`). A file left at `path` by an earlier
    /// run is removed first, as Redis does; the socket file is removed when the loop stops.
    pub fn listen_unix(&mut self, path: &std::path::Path, perm: Option<u32>) -> io::Result<()> {
        let fd = crate::net::listen_unix(path, perm)?;
        let shown: std::sync::Arc<str> = path.to_string_lossy().into();
        self.add_listener(fd, Some(shown), None)
    }

    fn add_listener(
        &mut self,
        fd: OwnedFd,
        unix: Option<std::sync::Arc<str>>,
        addr: Option<SocketAddr>,
    ) -> io::Result<()> {
        if self.listeners.is_empty() {
            return Err(invalid("the loop is shutting down".into()));
        }
        if self.listeners.len() >= MAX_LISTENERS {
            return Err(invalid(format!("at most {MAX_LISTENERS} listeners")));
        }
        let token = Token(MORE_LISTENERS - (self.listeners.len() - 1));
        if self.accepting {
            self.poller
                .register(fd.as_fd(), token, Interest::READABLE)?;
        }
        self.listeners.push(Listener {
            fd,
            token,
            unix,
            addr,
        });
        Ok(())
    }

    /// The service.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// The service, mutably.
    pub fn service_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        let p = self.poller.stats();
        (s.waits, s.events, s.examined, s.ctl) = (p.waits, p.events, p.examined, p.ctl);
        s.open = self.conns.len() as u64;
        let idle_tracked = if self.cfg.idle_timeout.is_some() {
            self.conns.len()
        } else {
            0
        };
        let armed = [self.resume_accept_at, self.stats_at, self.service_at];
        s.timers = (idle_tracked + armed.iter().flatten().count()) as u64;
        s.service.clear();
        self.service.counters(&mut s.service);
        s
    }

    /// Serve until stopped ([`StopHandle`], or a signal with [`watch_signals`](Self::watch_signals));
    /// then stop accepting, flush what is owed (for at most `shutdown_timeout`), close
    /// everything and return the counters.
    pub fn run(&mut self) -> io::Result<Stats> {
        if self.signals.is_some() && !ShutdownSignals::blocked_in_this_thread()? {
            return Err(io::Error::other(
                "the loop thread must block SIGINT/SIGTERM (call ShutdownSignals::install before \
                 starting it), or a signal could land between checking the flag and waiting",
            ));
        }
        self.set_now();
        let (poller, waker) = (&mut self.poller, &mut self.waker);
        let mut make = || make_waker(poller, waker);
        let mut scratch = Vec::new();
        self.service.start(&mut StartCtx {
            waker: &mut make,
            scratch: &mut scratch,
            fx: &mut self.fx,
            now: self.now,
        });
        self.apply_acts();
        let mut events = Events::with_capacity(self.cfg.events_capacity);
        loop {
            self.set_now();
            if self.stop_requested() && self.drain_deadline.is_none() {
                self.begin_drain();
            }
            if let Some(deadline) = self.drain_deadline {
                self.recheck_quiet();
                if self.conns.is_empty() || self.now >= deadline {
                    break;
                }
            }
            let timeout = self.next_timeout();
            self.poller.wait(&mut events, timeout)?;
            self.set_now();
            if self
                .signals
                .as_ref()
                .is_some_and(ShutdownSignals::take_report_request)
            {
                info!("stats: {}", self.stats());
            }
            let mut listener_ready = false;
            for ev in events.iter() {
                match ev.token() {
                    // Accept after the rest of the batch: its closes free --max-clients slots
                    // (poll lists the listener first).
                    t if is_listener(t) => listener_ready = true,
                    WAKER => self.on_waker(),
                    _ => self.dispatch(ev),
                }
            }
            if listener_ready {
                self.accept_pass();
            }
            self.run_ready_queue();
            self.fire_timers();
            self.tick();
        }
        let left = self.conns.len();
        if left > 0 {
            info!("shutdown timeout: closing {left} connections that still had work");
        }
        for token in self.conns.tokens() {
            self.close(token, CloseReason::Shutdown);
        }
        self.apply_acts();
        self.service.stop();
        Ok(self.stats())
    }

    fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
            || self
                .signals
                .as_ref()
                .is_some_and(ShutdownSignals::requested)
    }

    fn next_timeout(&self) -> Option<Duration> {
        // Held output (from a drain's reads, or what their close hooks sent) leaves after
        // the next tick: do not sleep on it.
        if !self.ready.is_empty() || !self.held.is_empty() {
            return Some(Duration::ZERO);
        }
        let idle = self.idle_deadline();
        [
            self.resume_accept_at,
            self.stats_at,
            self.service_at,
            self.drain_deadline,
            self.drain_recheck_at,
            idle,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(self.now))
    }

    fn now_ms(&self) -> u32 {
        self.now_ms
    }

    /// Read the clock (once per wake-up: everything in one batch shares the reading).
    fn set_now(&mut self) {
        self.now = Instant::now();
        self.now_ms = self.now.saturating_duration_since(self.epoch).as_millis() as u32;
    }

    fn on_waker(&mut self) {
        self.stats.waker_events += 1;
        if let Some(w) = &self.waker {
            let _ = w.reset(); // the stop flag itself is checked at the top of the loop
        }
        let mut scratch = Vec::new();
        let mut ctx = Ctx::outside_conn(&mut scratch, &mut self.fx, self.now);
        self.service.wake(&mut ctx);
        self.apply_acts();
    }

    /// Once per iteration: the service's hook, then the replies it held back.
    fn tick(&mut self) {
        let mut scratch = Vec::new();
        let mut ctx = Ctx::outside_conn(&mut scratch, &mut self.fx, self.now);
        self.service_at = self.service.tick(&mut ctx);
        // A connection the hook resumed would be served *after* the hook: a reply it holds
        // must wait for the next tick (its write to a log comes then), so it is resumed only
        // once this tick's held replies are out, and what it holds stays held.
        let mut resumed = Vec::new();
        self.fx.acts.retain(|a| match a {
            Act::Resume(id) => {
                resumed.push(*id);
                false
            }
            _ => true,
        });
        self.apply_acts();
        // Writing may run hooks (a close) that send_to others: go round until none is left,
        // or their bytes would wait for the next event.
        while !self.held.is_empty() {
            for token in std::mem::take(&mut self.held) {
                if let Some(c) = self.conns.get_mut(token) {
                    c.held = false;
                    self.drive(token, Pass::TICK);
                }
            }
        }
        // Served now; what they hold leaves after the next tick (the loop does not sleep while
        // replies are held: see next_timeout).
        for id in resumed {
            if let Some(c) = self.conns.get_mut(id.0) {
                c.paused = false;
                self.kick(id.0);
            }
        }
    }

    fn dispatch(&mut self, ev: &Event) {
        let hangup = ev.is_error() || ev.is_write_closed();
        let pass = Pass {
            read: ev.is_readable() || ev.is_read_closed() || ev.is_priority() || hangup,
            write: ev.is_writable() || hangup,
            to_eagain: ev.is_read_closed() || ev.is_priority(),
            reserve: false,
            hangup,
            tick: false,
        };
        if !self.conns.contains(ev.token()) {
            self.stats.stale_events += 1;
            return;
        }
        self.drive(ev.token(), pass);
    }

    fn io(&mut self) -> (Io<'_, S>, &mut Slab<Conn<S::Session>>) {
        let now_ms = self.now_ms();
        (
            Io {
                cfg: &self.cfg,
                stats: &mut self.stats,
                service: &mut self.service,
                rbuf: &mut self.rbuf,
                wbuf: &mut self.wbuf,
                pool: &mut self.pool,
                fx: &mut self.fx,
                held: &mut self.held,
                limits: &mut self.limits,
                now: self.now,
                now_ms,
                draining: self.drain_deadline.is_some(),
            },
            &mut self.conns,
        )
    }

    fn drive(&mut self, token: Token, pass: Pass) {
        let idle = self.cfg.idle_timeout.is_some();
        let (mut io, conns) = self.io();
        let Some(c) = conns.get_mut(token) else {
            return;
        };
        let before = c.last_rx;
        let verdict = io.drive(c, token, pass);
        let touched = c.last_rx != before;
        if let Some(reason) = verdict {
            self.close(token, reason);
            self.apply_acts();
            return;
        }
        if idle && touched {
            self.idle_touch(Slab::<()>::index_of(token));
        }
        self.apply_acts();
        self.update_interest(token);
    }

    /// Level-triggered: ask for exactly what the connection can use now. Edge-triggered:
    /// requeue a connection that stopped reading early and may read again.
    fn update_interest(&mut self, token: Token) {
        let high_water = self.cfg.high_water;
        let Some(c) = self.conns.get_mut(token) else {
            return;
        };
        let can_read = c.wants_input() && c.owed_bytes() < high_water;
        if self.cfg.backend.is_edge_triggered() {
            if c.unread && can_read && !c.queued {
                c.queued = true;
                self.ready.push_back(token);
            }
            return;
        }
        let want = Interest::new(can_read, c.pending() > 0);
        if want != c.interest {
            c.interest = want;
            if let Err(e) = self.poller.reregister(c.fd.as_fd(), token, want) {
                warn!("reregister: {e}");
                self.close(token, CloseReason::IoError);
            }
        }
    }

    /// Edge-triggered connections that stopped early, a listener that hit its batch cap,
    /// connections the service resumed. Only what was queued before this pass runs, so
    /// requeued work waits for the next wait.
    fn run_ready_queue(&mut self) {
        for _ in 0..self.ready.len() {
            let Some(token) = self.ready.pop_front() else {
                break;
            };
            if is_listener(token) {
                self.accept_pass();
                continue;
            }
            if let Some(c) = self.conns.get_mut(token) {
                c.queued = false;
                // The pass that stopped early may have consumed the FIN's edge; a short read
                // here does not prove the FIN is not queued behind the data, so read on to the
                // 0 or EAGAIN (one extra recv per requeue, never per event).
                self.drive(token, Pass::REQUEUED);
            }
        }
    }

    /// Apply what hooks asked about other connections (and let hooks run by closes add more).
    #[inline]
    fn apply_acts(&mut self) {
        if !self.fx.acts.is_empty() {
            self.apply_pending_acts();
        }
    }

    #[inline(never)]
    fn apply_pending_acts(&mut self) {
        while !self.fx.acts.is_empty() {
            let acts = std::mem::take(&mut self.fx.acts);
            let arena = std::mem::take(&mut self.fx.arena);
            for act in &acts {
                match act {
                    Act::SendTo(id, r) => self.send_to(id.0, &arena[r.clone()]),
                    Act::Fulfill(t, r) => self.fulfill(*t, &arena[r.clone()]),
                    Act::Close(id) => {
                        if let Some(c) = self.conns.get_mut(id.0) {
                            c.closing = true;
                            self.drive(id.0, Pass::WRITE);
                        }
                    }
                    Act::Kill(id) => self.close(id.0, CloseReason::Killed),
                    Act::Resume(id) => {
                        if let Some(c) = self.conns.get_mut(id.0) {
                            c.paused = false;
                            self.kick(id.0);
                        }
                    }
                    Act::Limit(id, limit) => {
                        if let Some(c) = self.conns.get_mut(id.0) {
                            c.limited = limit.is_some();
                            match limit {
                                Some(limit) => {
                                    let state = LimitState {
                                        limit: *limit,
                                        over_soft_since: None,
                                    };
                                    self.limits.insert(id.0, state);
                                }
                                None => {
                                    self.limits.remove(&id.0);
                                }
                            }
                        }
                    }
                }
            }
            // Give the scratch space back for the next hook (no allocation in steady state).
            if self.fx.acts.is_empty() {
                let mut acts = acts;
                acts.clear();
                self.fx.acts = acts;
            }
            if self.fx.arena.is_empty() {
                let mut arena = arena;
                arena.clear();
                self.fx.arena = arena;
            }
        }
    }

    /// Serve a connection's buffered input again and flush; on edge-triggered, it also reads
    /// what it left unread (through the ready queue).
    fn kick(&mut self, token: Token) {
        let pass = Pass {
            reserve: true,
            ..Pass::WRITE
        };
        self.drive(token, pass);
        if let Some(c) = self.conns.get_mut(token) {
            if c.unread && c.wants_input() && !c.queued {
                c.queued = true;
                self.ready.push_back(token);
            }
        }
    }

    /// Queue bytes for another connection; they are written after `Service::tick`, with
    /// whatever else that connection gets in this iteration (pub/sub fan-out: one write per
    /// subscriber per iteration, not one per message). Limits are checked now, so a
    /// subscriber that never reads is cut off as its backlog crosses the line.
    fn send_to(&mut self, token: Token, bytes: &[u8]) {
        let now_ms = self.now_ms();
        let Some(c) = self.conns.get_mut(token) else {
            self.stats.stale_completions += 1;
            return;
        };
        let b = c.bufs.get_or_insert_with(|| self.pool.take());
        b.append(bytes);
        if over_output_limits(c, token, &self.cfg, &mut self.limits, now_ms) {
            self.close(token, CloseReason::Overflow);
            return;
        }
        if !c.held {
            c.held = true;
            self.held.push(token);
        }
    }

    fn fulfill(&mut self, t: Ticket, reply: &[u8]) {
        let token = t.conn.0;
        let Some(c) = self.conns.get_mut(token) else {
            self.stats.stale_completions += 1;
            return;
        };
        if !c.bufs.as_mut().is_some_and(|b| b.fulfill(t.seq, reply)) {
            self.stats.stale_completions += 1;
            return;
        }
        // A fulfilled reply resumes a connection the service paused (its in-flight cap).
        c.paused = false;
        self.kick(token);
    }
}

impl Pass {
    const TICK: Pass = Pass {
        tick: true,
        ..Pass::WRITE
    };
    const WRITE: Pass = Pass {
        read: false,
        write: true,
        to_eagain: false,
        reserve: false,
        hangup: false,
        tick: false,
    };
    const REQUEUED: Pass = Pass {
        read: true,
        write: true,
        to_eagain: true,
        reserve: false,
        hangup: false,
        tick: false,
    };
}

fn make_waker(poller: &mut Poller, slot: &mut Option<Waker>) -> io::Result<Waker> {
    if slot.is_none() {
        *slot = Some(Waker::new(poller, WAKER)?);
    }
    Ok(slot.clone().expect("just created"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle echo connection's whole footprint is its slab slot: pin it under the 64-byte
    /// per-connection budget (buffers are boxed and only exist while bytes are owed).
    #[test]
    fn replies_waiting_behind_a_deferred_one_count_as_owed() {
        let mut b = Buffers::default();
        b.append(b"first ");
        b.later.push_back(Later::Waiting(7));
        b.in_flight += 1;
        b.append(b"after ");
        b.append(b"more ");
        assert_eq!((b.pending(), b.owed_bytes()), (6, 17));
        assert!(!b.fulfill(8, b"stale"), "unknown sequence is refused");
        assert!(b.fulfill(7, b"late "));
        assert_eq!(&b.out[..], b"first late after more ");
        assert_eq!((b.owed_bytes(), b.in_flight, b.later.len()), (22, 0, 0));
    }

    #[test]
    fn buffer_pool_keeps_a_bounded_number_of_bytes() {
        let mut pool = BufferPool::default();
        for _ in 0..POOL_KEEP {
            let mut b = Box::<Buffers>::default();
            b.out.reserve_exact(POOL_MAX_CAPACITY);
            pool.give(b);
        }
        assert!(pool.bytes <= POOL_BYTES, "{} bytes kept", pool.bytes);
        assert_eq!(
            pool.bytes,
            pool.sets.iter().map(|b| b.capacity()).sum::<usize>()
        );
        while !pool.sets.is_empty() {
            pool.take();
        }
        assert_eq!(pool.bytes, 0);
    }

    #[test]
    fn idle_connection_fits_the_64_byte_budget() {
        let slot = std::mem::size_of::<Option<Conn<()>>>() + std::mem::size_of::<u32>();
        assert!(slot <= 48, "idle connection slot is {slot} bytes");
    }
}
