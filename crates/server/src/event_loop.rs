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
//!   behind the data, and urgent data (`recv` stops at the urgent mark; issue 8 bug 3).
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
use rustix::io::Errno;
use rustix::net::{self, RecvFlags, SendFlags, SocketFlags};
use tracing::{debug, error, info, warn};

use crate::net::{listen, local_addr};
use crate::service::{Act, ConnId, ConnInfo, Ctx, Effects, OutputLimit, Service, StartCtx, Ticket};
use crate::slab::Slab;
use crate::stats::Stats;

const LISTENER: Token = Token(usize::MAX - 1);
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

/// Why a connection was closed (for counters and debug logs).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum CloseReason {
    Done,
    IoError,
    Overflow,
    InputOverflow,
    ServiceError,
    Killed,
    Idle,
    Shutdown,
}

struct Conn<S> {
    fd: OwnedFd,
    session: S,
    /// Byte buffers exist only while something is owed in either direction; an idle
    /// connection carries a null pointer instead of two empty `Vec`s (≤ 64 B per idle
    /// connection at 10,000 connections).
    bufs: Option<Box<Buffers>>,
    /// Idle list links (slab indices), ordered by last activity; NIL when not listed.
    idle_prev: u32,
    idle_next: u32,
    /// Milliseconds since the loop's epoch (wrapping) of the last bytes received.
    last_rx: u32,
    interest: Interest,
    /// Set when the connection must close at the next opportunity.
    fail: Option<CloseReason>,
    /// The client sent FIN.
    eof: bool,
    /// Edge-triggered: reading stopped before the socket was drained.
    unread: bool,
    /// Sitting in the ready queue.
    queued: bool,
    /// The last read pass emptied the socket (used while draining at shutdown).
    quiet: bool,
    /// The service asked not to be given more of this connection's input for now.
    paused: bool,
    /// The service asked to close after the replies owed (input is ignored meanwhile).
    closing: bool,
    /// Sitting in the list of connections whose replies wait for `Service::tick`.
    held: bool,
    /// The service set an output limit for this connection (kept in `Server::limits`, so
    /// the many connections without one pay a flag, not a pointer).
    limited: bool,
}

struct LimitState {
    limit: OutputLimit,
    /// Loop milliseconds since when owed output has been above `soft` (None: not above).
    over_soft_since: Option<u32>,
}

/// Owed output past `--max-output`, or past the connection's own limit (see [`OutputLimit`]).
fn over_output_limits<S>(
    c: &Conn<S>,
    token: Token,
    cfg: &Config,
    limits: &mut HashMap<Token, LimitState>,
    now_ms: u32,
) -> bool {
    let owed = c.owed_bytes();
    owed > cfg.max_output
        || (c.limited
            && limits
                .get_mut(&token)
                .is_some_and(|l| l.exceeded(owed, now_ms)))
}

impl LimitState {
    /// Is `owed` past the limit, now or (soft) for long enough? Updates the soft-limit clock.
    fn exceeded(&mut self, owed: usize, now_ms: u32) -> bool {
        let l = self.limit;
        if l.hard > 0 && owed > l.hard {
            return true;
        }
        if l.soft == 0 || owed <= l.soft {
            self.over_soft_since = None;
            return false;
        }
        let since = *self.over_soft_since.get_or_insert(now_ms);
        u128::from(now_ms.wrapping_sub(since)) >= l.soft_for.as_millis()
    }
}

/// Recycled buffer sets. The boxes themselves are what is recycled (a connection holds a
/// `Box<Buffers>`), so handing one out costs no allocation.
#[derive(Default)]
struct BufferPool {
    #[allow(clippy::vec_box)]
    sets: Vec<Box<Buffers>>,
    bytes: usize,
}

impl BufferPool {
    fn take(&mut self) -> Box<Buffers> {
        match self.sets.pop() {
            Some(b) => {
                self.bytes -= b.capacity();
                b
            }
            None => Box::default(),
        }
    }

    fn give(&mut self, mut b: Box<Buffers>) {
        let cap = b.capacity();
        if self.sets.len() < POOL_KEEP
            && b.out.capacity() <= POOL_MAX_CAPACITY
            && b.input.capacity() <= POOL_MAX_CAPACITY
            && self.bytes + cap <= POOL_BYTES
        {
            // A connection closed with replies still owed leaves them here: forget them.
            b.out.clear();
            b.out_pos = 0;
            b.input.clear();
            b.need = 0;
            b.later.clear();
            b.in_flight = 0;
            b.later_bytes = 0;
            self.bytes += cap;
            self.sets.push(b);
        }
    }
}

#[derive(Default)]
struct Buffers {
    /// Received bytes the service has not consumed yet (always empty for echo).
    input: Vec<u8>,
    /// Do not offer `input` to the service before it holds this many bytes.
    need: usize,
    /// Output the kernel has not taken yet: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// Replies owed after `out`, in request order, some still waiting to be fulfilled.
    later: VecDeque<Later>,
    /// `Later::Waiting` entries in `later`.
    in_flight: usize,
    /// Bytes in `later`'s ready entries: owed too, so they count against the output limits
    /// (a client pipelining behind one slow request must not buffer without bound).
    later_bytes: usize,
}

enum Later {
    Waiting(u64),
    Ready(Vec<u8>),
}

impl Buffers {
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Every reply byte owed, sendable now or not.
    fn owed_bytes(&self) -> usize {
        self.pending() + self.later_bytes
    }

    fn capacity(&self) -> usize {
        self.out.capacity() + self.input.capacity()
    }

    fn is_idle(&self) -> bool {
        self.pending() == 0 && self.input.is_empty() && self.later.is_empty()
    }

    /// Append reply bytes behind everything owed before them.
    fn append(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match self.later.back_mut() {
            None => return self.out.extend_from_slice(bytes),
            Some(Later::Ready(v)) => v.extend_from_slice(bytes),
            Some(Later::Waiting(_)) => self.later.push_back(Later::Ready(bytes.to_vec())),
        }
        self.later_bytes += bytes.len();
    }

    /// Put a deferred reply in its place; false if it is not owed here (stale).
    fn fulfill(&mut self, seq: u64, reply: &[u8]) -> bool {
        let Some(pos) = self
            .later
            .iter()
            .position(|l| matches!(l, Later::Waiting(s) if *s == seq))
        else {
            return false;
        };
        self.in_flight -= 1;
        if pos == 0 {
            self.later.pop_front();
            self.out.extend_from_slice(reply);
        } else {
            self.later[pos] = Later::Ready(reply.to_vec());
            self.later_bytes += reply.len();
        }
        while let Some(Later::Ready(_)) = self.later.front() {
            if let Some(Later::Ready(v)) = self.later.pop_front() {
                self.later_bytes -= v.len();
                self.out.extend_from_slice(&v);
            }
        }
        true
    }
}

impl<S> Conn<S> {
    fn pending(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.pending())
    }

    fn owed_bytes(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.owed_bytes())
    }

    fn pending_input(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.input.len())
    }

    fn in_flight(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.in_flight)
    }

    /// Still owed something: bytes, a deferred reply, or input a paused service will serve.
    fn owes(&self) -> bool {
        self.bufs.as_ref().is_some_and(|b| {
            b.pending() > 0 || b.in_flight > 0 || (self.paused && !b.input.is_empty())
        })
    }

    fn wants_input(&self) -> bool {
        !self.eof && !self.paused && !self.closing
    }
}

/// What a pass over one connection should do.
#[derive(Copy, Clone)]
struct Pass {
    read: bool,
    write: bool,
    /// A short read proves nothing (FIN or urgent data may be queued): read to EAGAIN/EOF.
    to_eagain: bool,
    /// Offer buffered input to the service again (after a resume or a fulfilled reply).
    reserve: bool,
    /// The kernel reported hang-up or a socket error.
    hangup: bool,
    /// The write after `Service::tick`: it never reads, not even while draining, or what it
    /// read could be served, held and sent without the next tick (an acknowledgement ahead
    /// of its log's fsync).
    tick: bool,
}

/// The loop-wide pieces a connection's I/O needs, borrowed apart from the slab.
struct Io<'a, S: Service> {
    cfg: &'a Config,
    stats: &'a mut Stats,
    service: &'a mut S,
    rbuf: &'a mut [u8],
    wbuf: &'a mut Vec<u8>,
    pool: &'a mut BufferPool,
    fx: &'a mut Effects,
    held: &'a mut Vec<Token>,
    limits: &'a mut HashMap<Token, LimitState>,
    now: Instant,
    now_ms: u32,
    draining: bool,
}

impl<S: Service> Io<'_, S> {
    /// Flush, read, serve. Returns why the connection must close, if it must.
    fn drive(&mut self, c: &mut Conn<S::Session>, token: Token, p: Pass) -> Option<CloseReason> {
        // Held output waits for the tick's own pass (`held` is cleared for it), whatever
        // else drives the connection first (a requeue, a close, a fulfilled reply, a drain).
        if p.write && c.pending() > 0 && !c.held {
            self.flush(c);
        }
        if p.reserve && c.fail.is_none() {
            self.serve_buffered(c, token);
        }
        // A draining server must learn whether a flushed client is quiet; a write event alone
        // never reads (issue 8 bug 1: poll/epoll-lt waited out the shutdown timeout).
        let read = p.read || (self.draining && !p.tick && !c.quiet && c.pending() == 0);
        if read && c.wants_input() && c.fail.is_none() {
            self.read_pass(c, token, p.to_eagain || self.draining);
        }
        // After EOF nothing reads the socket again, so a reset that arrives while a deferred
        // reply is still being computed would go unseen: level-triggered backends would report
        // HUP/ERR on every wait (a busy loop) until the reply came. Nothing can be delivered.
        if p.hangup && c.eof && c.owes() && c.fail.is_none() {
            c.fail = Some(CloseReason::IoError);
        }
        if let Some(reason) = c.fail {
            return Some(reason);
        }
        if over_output_limits(c, token, self.cfg, self.limits, self.now_ms) {
            return Some(CloseReason::Overflow);
        }
        if c.pending_input() > self.cfg.max_input {
            return Some(CloseReason::InputOverflow);
        }
        let quiet_enough =
            self.draining && c.quiet && self.now_ms.wrapping_sub(c.last_rx) >= DRAIN_QUIET_MS;
        if !c.owes() && (c.eof || c.closing || quiet_enough) {
            return Some(if c.eof || c.closing {
                CloseReason::Done
            } else {
                CloseReason::Shutdown
            });
        }
        None
    }

    fn read_pass(&mut self, c: &mut Conn<S::Session>, token: Token, to_eagain: bool) {
        // Level-triggered and poll get another event while data remains; edge-triggered (and a
        // draining server, which must know when a client is quiet) read until the queue is empty.
        let drain = self.cfg.backend.is_edge_triggered() || self.draining;
        let mut total = 0usize;
        c.quiet = false;
        loop {
            if !c.wants_input()
                || c.owed_bytes() >= self.cfg.high_water
                || (drain && total >= self.cfg.edge_budget)
            {
                c.unread = !c.eof; // backpressure, budget or paused: come back later
                return;
            }
            self.stats.reads += 1;
            match net::recv(&c.fd, &mut *self.rbuf, RecvFlags::empty()) {
                Ok((0, _)) => {
                    c.eof = true;
                    c.unread = false;
                    // A request cut off by the EOF can never complete.
                    if !c.paused {
                        if let Some(b) = c.bufs.as_mut() {
                            b.input.clear();
                        }
                    }
                    return;
                }
                Ok((n, _)) => {
                    self.stats.bytes_in += n as u64;
                    c.last_rx = self.now_ms;
                    total += n;
                    self.consume(c, token, n);
                    if c.fail.is_some() || !drain {
                        return;
                    }
                    // A short read drained the stream socket; any later arrival fires a new edge.
                    // Not so if a FIN or urgent data may be queued: then read on to EAGAIN or 0.
                    if n < self.rbuf.len() && !to_eagain {
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
                    c.fail = Some(CloseReason::IoError);
                    return;
                }
            }
        }
    }

    /// The context for serving connection `token` (its replies go to `wbuf`).
    fn serve_ctx<'b>(
        fx: &'b mut Effects,
        wbuf: &'b mut Vec<u8>,
        now: Instant,
        token: Token,
        in_flight: usize,
    ) -> Ctx<'b> {
        fx.reset_current();
        Ctx {
            out: wbuf,
            current: Some(ConnId(token)),
            in_flight,
            now,
            fx,
        }
    }

    /// Hand `rbuf[..n]` to the service and send what it produces.
    fn consume(&mut self, c: &mut Conn<S::Session>, token: Token, n: usize) {
        self.wbuf.clear();
        let fresh = &self.rbuf[..n];
        let in_flight = c.in_flight();
        let Conn { session, bufs, .. } = c;
        match bufs.as_mut().filter(|b| !b.input.is_empty()) {
            // A partial request is waiting: complete it with the new bytes.
            Some(b) => {
                b.input.extend_from_slice(fresh);
                if b.input.len() < b.need {
                    return;
                }
                let used = {
                    let mut ctx = Self::serve_ctx(self.fx, self.wbuf, self.now, token, in_flight);
                    self.service.serve(session, &b.input, &mut ctx)
                };
                if used > b.input.len() {
                    return self.service_overrun(c, used);
                }
                b.input.drain(..used);
            }
            None => {
                let used = {
                    let mut ctx = Self::serve_ctx(self.fx, self.wbuf, self.now, token, in_flight);
                    self.service.serve(session, fresh, &mut ctx)
                };
                if used > n {
                    return self.service_overrun(c, used);
                }
                if used < n {
                    let b = c.bufs.get_or_insert_with(|| self.pool.take());
                    b.input.extend_from_slice(&self.rbuf[used..n]);
                }
            }
        }
        self.after_serve(c, token);
    }

    /// Offer input that is already buffered (after a resume or a fulfilled reply).
    fn serve_buffered(&mut self, c: &mut Conn<S::Session>, token: Token) {
        if c.paused || c.closing {
            return;
        }
        let in_flight = c.in_flight();
        let Conn { session, bufs, .. } = c;
        let Some(b) = bufs
            .as_mut()
            .filter(|b| !b.input.is_empty() && b.input.len() >= b.need)
        else {
            return;
        };
        self.wbuf.clear();
        let used = {
            let mut ctx = Self::serve_ctx(self.fx, self.wbuf, self.now, token, in_flight);
            self.service.serve(session, &b.input, &mut ctx)
        };
        if used > b.input.len() {
            return self.service_overrun(c, used);
        }
        b.input.drain(..used);
        self.after_serve(c, token);
    }

    fn service_overrun(&mut self, c: &mut Conn<S::Session>, used: usize) {
        error!(
            "service bug: consumed {used} bytes of {}; closing the connection",
            c.pending_input()
        );
        c.fail = Some(CloseReason::ServiceError);
    }

    /// Apply what the service asked for the current connection, then place its replies.
    #[inline]
    fn after_serve(&mut self, c: &mut Conn<S::Session>, token: Token) {
        let fx = &mut *self.fx;
        // Echo's path: nothing asked, nothing owed before: send at once.
        if c.bufs.is_none() && fx.is_plain() {
            return self.write_through(c);
        }
        c.paused |= fx.pause;
        if fx.close {
            c.closing = true;
        }
        if let Some(b) = c.bufs.as_mut() {
            b.need = if b.input.is_empty() { 0 } else { fx.need };
            if c.closing {
                b.input.clear();
            }
        }
        let ordered = !fx.splits.is_empty() || c.bufs.as_ref().is_some_and(|b| !b.later.is_empty());
        if !ordered && !fx.hold {
            self.write_through(c);
        } else {
            let was_pending = c.pending() > 0;
            let b = c.bufs.get_or_insert_with(|| self.pool.take());
            let mut from = 0;
            for &(at, seq) in &fx.splits {
                b.append(&self.wbuf[from..at]);
                b.later.push_back(Later::Waiting(seq));
                b.in_flight += 1;
                from = at;
            }
            b.append(&self.wbuf[from..]);
            if fx.hold {
                if !c.held {
                    c.held = true;
                    self.held.push(token);
                }
            } else if !was_pending && c.pending() > 0 {
                self.flush(c);
            }
        }
        self.release_if_idle(c);
    }

    /// Send `wbuf` now; only what the kernel does not take is copied into pending output.
    fn write_through(&mut self, c: &mut Conn<S::Session>) {
        if self.wbuf.is_empty() {
            return;
        }
        if c.pending() > 0 {
            // Earlier output is still queued: append, never overtake it.
            let b = c.bufs.as_mut().expect("pending output");
            b.out.extend_from_slice(self.wbuf);
            return;
        }
        // Usually the kernel takes it all and nothing is copied or allocated.
        let sent = self.send(c);
        if sent < self.wbuf.len() && c.fail.is_none() {
            let b = c.bufs.get_or_insert_with(|| self.pool.take());
            b.out.extend_from_slice(&self.wbuf[sent..]);
        }
    }

    /// Give an empty buffer set back to the pool (or free it), so idle connections hold none.
    fn release_if_idle(&mut self, c: &mut Conn<S::Session>) {
        if c.bufs.as_ref().is_some_and(|b| b.is_idle()) {
            self.pool.give(c.bufs.take().expect("checked above"));
        }
    }

    /// One `send` of `wbuf` (write-through path); returns bytes taken.
    fn send(&mut self, c: &mut Conn<S::Session>) -> usize {
        loop {
            self.stats.writes += 1;
            match net::send(&c.fd, self.wbuf, SendFlags::NOSIGNAL) {
                Ok(n) => {
                    self.stats.bytes_out += n as u64;
                    return n;
                }
                Err(Errno::AGAIN) => return 0,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    debug!("send: {e}");
                    c.fail = Some(CloseReason::IoError);
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
                    c.fail = Some(CloseReason::IoError);
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
    listener: Option<OwnedFd>,
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
            listener: Some(listener),
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
                    // (poll lists the listener first; issue 8 bug 2).
                    LISTENER => listener_ready = true,
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
            if token == LISTENER {
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

    fn accept_pass(&mut self) {
        for _ in 0..self.cfg.accept_batch {
            let Some(listener) = &self.listener else {
                return;
            };
            if !self.accepting {
                return;
            }
            self.stats.accepts += 1;
            match net::acceptfrom_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok((fd, peer)) => {
                    let peer = peer.and_then(|a| SocketAddr::try_from(a).ok());
                    self.admit(fd, peer);
                }
                Err(Errno::AGAIN) => {
                    if self.starved {
                        self.starved = false;
                        info!(
                            "accept: descriptors available again ({} pauses so far)",
                            self.stats.accept_pauses
                        );
                    }
                    return;
                }
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

    fn admit(&mut self, fd: OwnedFd, peer: Option<SocketAddr>) {
        let max = self.cfg.max_clients;
        if self
            .clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            self.stats.rejected += 1;
            debug!("max clients ({max}) reached: closing new connection");
            return; // dropping `fd` closes it: the client sees EOF at once instead of hanging
        }
        // Replies are small and latency-bound: do not let Nagle hold them back.
        let _ = net::sockopt::set_tcp_nodelay(&fd, true);
        let interest = if self.cfg.backend.is_edge_triggered() {
            Interest::BOTH
        } else {
            Interest::READABLE
        };
        let token = self.conns.vacant_key();
        if let Err(e) = self.poller.register(fd.as_fd(), token, interest) {
            warn!("register: {e}");
            self.clients.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let info = ConnInfo {
            id: ConnId(token),
            peer,
            local: self.addr,
        };
        self.wbuf.clear();
        self.fx.reset_current();
        let mut ctx = Ctx {
            out: &mut self.wbuf,
            current: Some(info.id),
            in_flight: 0,
            now: self.now,
            fx: &mut self.fx,
        };
        let session = self.service.open(&info, &mut ctx);
        let conn = Conn {
            fd,
            session,
            bufs: None,
            idle_prev: NIL,
            idle_next: NIL,
            last_rx: self.now_ms(),
            interest,
            fail: None,
            eof: false,
            unread: false,
            queued: false,
            quiet: false,
            paused: false,
            closing: false,
            held: false,
            limited: false,
        };
        let inserted = self.conns.insert(conn);
        debug_assert_eq!(inserted, token);
        self.stats.accepted += 1;
        if self.cfg.idle_timeout.is_some() {
            self.idle_push_back(Slab::<()>::index_of(token));
        }
        let (mut io, conns) = self.io();
        let c = conns.get_mut(token).expect("just inserted");
        io.after_serve(c, token); // a greeting, a pause or a close asked for in `open`
        self.apply_acts();
        if self.conns.contains(token) {
            self.drive(token, Pass::WRITE);
        }
    }

    fn pause_accept(&mut self, err: Errno) {
        if let Some(l) = &self.listener {
            let _ = self.poller.deregister(l.as_fd());
        }
        self.accepting = false;
        self.stats.accept_pauses += 1;
        if !self.starved {
            self.starved = true;
            warn!(
                "accept: {err}; pausing accepts for {ACCEPT_PAUSE:?} or until a connection closes \
                 ({} open); logged once until accepting drains the queue again",
                self.conns.len()
            );
        }
        self.resume_accept_at = Some(self.now + ACCEPT_PAUSE);
    }

    fn resume_accept(&mut self) {
        self.resume_accept_at = None;
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
        if !self.conns.contains(token) {
            return;
        }
        if self.cfg.idle_timeout.is_some() {
            self.idle_unlink(Slab::<()>::index_of(token));
        }
        let c = self.conns.remove(token).expect("checked above");
        if c.limited {
            self.limits.remove(&token);
        }
        self.clients.fetch_sub(1, Ordering::AcqRel);
        // Deregister before close: the kernel would drop the registration on close only if no
        // other descriptor shared the open file; be explicit so nothing stale remains.
        if let Err(e) = self.poller.deregister(c.fd.as_fd()) {
            warn!("deregister: {e}");
        }
        let Conn {
            fd, session, bufs, ..
        } = c;
        drop(fd); // closes the socket
        if let Some(b) = bufs {
            self.pool.give(b);
        }
        self.stats.closed += 1;
        match reason {
            CloseReason::IoError => self.stats.io_errors += 1,
            CloseReason::Overflow => self.stats.output_overflows += 1,
            CloseReason::InputOverflow => self.stats.input_overflows += 1,
            CloseReason::ServiceError => self.stats.service_errors += 1,
            CloseReason::Idle => self.stats.idle_closed += 1,
            _ => {}
        }
        debug!("closed {token:?}: {reason:?}");
        let mut scratch = Vec::new();
        let mut ctx = Ctx::outside_conn(&mut scratch, &mut self.fx, self.now);
        self.service.close(session, ConnId(token), &mut ctx);
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
        self.resume_accept_at = None;
        self.drain_deadline = Some(self.now + self.cfg.shutdown_timeout);
        for peer in &self.peers {
            let _ = peer.wake();
        }
        for token in self.conns.tokens() {
            self.drive(token, Pass::REQUEUED);
        }
    }

    /// While draining, close the connections that owe nothing and have now been quiet for
    /// `DRAIN_QUIET_MS` (one `recv` each, every `DRAIN_QUIET_MS`). Not only those already
    /// known quiet: a read that stopped at the high-water mark, answered by the tick's pass
    /// (which does not read), may have left nothing to read and no event to come.
    fn recheck_quiet(&mut self) {
        if self.drain_recheck_at.is_some_and(|at| at > self.now) {
            return;
        }
        for token in self.conns.tokens() {
            if self.conns.get_mut(token).is_some_and(|c| !c.owes()) {
                self.drive(token, Pass::REQUEUED);
            }
        }
        // Periodic while anything is left: a connection may go quiet at any moment.
        self.drain_recheck_at = (!self.conns.is_empty())
            .then(|| self.now + Duration::from_millis(DRAIN_QUIET_MS.into()));
    }

    fn fire_timers(&mut self) {
        if self.resume_accept_at.is_some_and(|at| at <= self.now) {
            self.resume_accept();
        }
        if self.stats_at.is_some_and(|at| at <= self.now) {
            info!("stats: {}", self.stats());
            self.stats_at = self.cfg.stats_interval.map(|every| self.now + every);
        }
        self.close_idle();
    }

    /// When the least recently active connection goes idle.
    fn idle_deadline(&self) -> Option<Instant> {
        let t = self.cfg.idle_timeout?;
        let head = self.idle_head;
        if head == NIL {
            return None;
        }
        let last = self.conns_at(head)?.last_rx;
        let elapsed = self.now_ms().wrapping_sub(last) as u64;
        // +1 ms: `last_rx` is rounded down, so the real silence is at least the timeout.
        let left = (t.as_millis() as u64 + 1).saturating_sub(elapsed);
        Some(self.now + Duration::from_millis(left))
    }

    /// Close connections silent for the idle timeout, oldest first; stop at the first that is
    /// not (the list is ordered by last activity, so the rest are younger).
    fn close_idle(&mut self) {
        let Some(t) = self.cfg.idle_timeout else {
            return;
        };
        let limit = t.as_millis() as u64;
        let now_ms = self.now_ms();
        let mut budget = self.conns.len();
        while self.idle_head != NIL && budget > 0 {
            budget -= 1;
            let head = self.idle_head;
            let Some((token, c)) = self.conns.at_mut(head) else {
                break;
            };
            if (now_ms.wrapping_sub(c.last_rx) as u64) <= limit {
                break;
            }
            if c.in_flight() > 0 {
                // Waiting for its own deferred reply is not idleness.
                c.last_rx = now_ms;
                self.idle_touch(head);
                continue;
            }
            debug!("closing idle connection {token:?}");
            self.close(token, CloseReason::Idle);
            self.apply_acts();
        }
    }

    fn conns_at(&self, index: u32) -> Option<&Conn<S::Session>> {
        self.conns.at(index)
    }

    fn idle_link(&mut self, index: u32) -> Option<(&mut u32, &mut u32)> {
        self.conns
            .at_mut(index)
            .map(|(_, c)| (&mut c.idle_prev, &mut c.idle_next))
    }

    fn idle_push_back(&mut self, index: u32) {
        let tail = self.idle_tail;
        if let Some((prev, next)) = self.idle_link(index) {
            *prev = tail;
            *next = NIL;
        }
        match self.idle_link(tail) {
            Some((_, next)) => *next = index,
            None => self.idle_head = index,
        }
        self.idle_tail = index;
    }

    fn idle_unlink(&mut self, index: u32) {
        let Some((&mut prev, &mut next)) = self.idle_link(index) else {
            return;
        };
        match self.idle_link(prev) {
            Some((_, n)) => *n = next,
            None => self.idle_head = next,
        }
        match self.idle_link(next) {
            Some((p, _)) => *p = prev,
            None => self.idle_tail = prev,
        }
        if let Some((p, n)) = self.idle_link(index) {
            (*p, *n) = (NIL, NIL);
        }
    }

    /// Move a connection that just received bytes to the young end: O(1), no timer entry.
    fn idle_touch(&mut self, index: u32) {
        if self.idle_tail != index {
            self.idle_unlink(index);
            self.idle_push_back(index);
        }
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
