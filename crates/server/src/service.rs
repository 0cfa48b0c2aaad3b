//! What a server does with the bytes it reads. The event loop owns sockets, buffers, timers and
//! the order replies leave in; a [`Service`] turns input into output and may ask the loop for
//! more through a [`Ctx`]: answer later (from a worker thread), write to another connection,
//! close a connection, pause reading, hold replies until its once-per-iteration hook ran.
//!
//! ```text
//!            start(StartCtx) ── once, before the first wait: take a Waker for worker threads
//! accept ──▶ open(ConnInfo, Ctx) -> Session
//! bytes  ──▶ serve(Session, unconsumed input, Ctx) -> bytes consumed   (replies: ctx.out())
//! waker  ──▶ wake(Ctx)           completions from other threads: ctx.fulfill(ticket, reply)
//! every loop iteration, after events: tick(Ctx) -> next deadline   (Redis's beforeSleep)
//!            then held replies and everything sent with send_to go out (one write each)
//! close  ──▶ close(Session, ConnId, Ctx)
//! stop()     once, after the drain, before run returns: join worker threads
//! ```
//!
//! Everything a hook asks through its `Ctx` for *other* connections (send_to, close, kill,
//! resume, fulfill) is applied by the loop right after the hook returns, generation-checked: a
//! [`ConnId`] or [`Ticket`] of a connection that has closed meanwhile is dropped (and counted),
//! never delivered to a newer connection that reuses the slot or the descriptor.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use reactor::{Token, Waker};

/// One connection's identity: slot and generation. Stays valid (and unique) only while the
/// connection is open; afterwards every use of it is ignored.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub(crate) Token);

impl ConnId {
    /// An id no connection ever has (its generation is outside the slab's range): for a
    /// service's own internal client, e.g. one that replays a log in `start`. Everything
    /// addressed to it is dropped.
    pub const NONE: ConnId = ConnId(Token(usize::MAX - 15));

    /// A number unique among this loop's connections for as long as the process runs
    /// (generation and slot; for logs, `CLIENT ID`-style listings and maps).
    pub fn as_u64(self) -> u64 {
        self.0 .0 as u64
    }
}

/// What the loop knows of a new connection.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// Its identity, valid until its `close` hook.
    pub id: ConnId,
    /// The client's address (None for an address family the loop cannot express).
    pub peer: Option<SocketAddr>,
    /// The listener's address (the first TCP listener's for a Unix-domain client).
    pub local: SocketAddr,
    /// The socket path, for a client of a Unix-domain listener (`peer` is None then).
    pub unix: Option<std::sync::Arc<str>>,
}

/// A reply owed later (by a worker, a blocked command), in its place among the connection's
/// replies. `Send + Copy`: hand it to a worker with the job, and give it back to
/// [`Ctx::fulfill`] on the loop thread.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    pub(crate) conn: ConnId,
    pub(crate) seq: u64,
}

impl Ticket {
    /// The connection the reply is owed to.
    pub fn conn(&self) -> ConnId {
        self.conn
    }
}

/// A byte-stream service on the loop. Only [`serve`](Service::serve) is required; every other
/// hook has a default that does nothing (and costs nothing on the hot path).
pub trait Service {
    /// Per-connection state (a parser's position, a client's name, its subscriptions).
    type Session;

    /// Once per [`Server::run`](crate::Server::run), before the first wait. A service that gets
    /// work done on other threads takes the loop's waker here.
    fn start(&mut self, _cx: &mut StartCtx<'_>) {}

    /// A connection was accepted. `ctx.out()` may hold a greeting.
    fn open(&mut self, info: &ConnInfo, ctx: &mut Ctx<'_>) -> Self::Session;

    /// `input` holds everything received and not yet consumed. Append replies to `ctx.out()`
    /// and return how many bytes of `input` were consumed; the rest is offered again, with
    /// whatever arrives next (so a request split across reads is no problem).
    ///
    /// The loop calls `serve` again for this connection when new bytes arrive (and, after
    /// [`Ctx::need`], only once at least that many are unconsumed), when one of its deferred
    /// replies is fulfilled, or when it is resumed after [`Ctx::pause`].
    fn serve(&mut self, session: &mut Self::Session, input: &[u8], ctx: &mut Ctx<'_>) -> usize;

    /// The connection is gone (EOF, error, limit, idle, shutdown, or [`Ctx::kill`]); its
    /// deferred replies will be dropped if they ever arrive.
    fn close(&mut self, _session: Self::Session, _id: ConnId, _ctx: &mut Ctx<'_>) {}

    /// The waker taken in [`start`](Service::start) fired: collect completions. One call may
    /// stand for many [`Waker::wake`]s.
    fn wake(&mut self, _ctx: &mut Ctx<'_>) {}

    /// Once per loop iteration, after this iteration's events and before the replies held with
    /// [`Ctx::hold`] are sent (Redis's `beforeSleep`: expire a little, write the log, fsync).
    /// Returns the next instant the service wants this hook to run even if nothing happens.
    fn tick(&mut self, _ctx: &mut Ctx<'_>) -> Option<Instant> {
        None
    }

    /// The loop has drained and closed every connection and is about to return from
    /// [`Server::run`](crate::Server::run): join worker threads here, so what they did is in
    /// the final counters.
    fn stop(&mut self) {}

    /// Extra counters for the stats line and [`Stats`](crate::Stats) (`name`, value).
    fn counters(&self, _out: &mut Vec<(&'static str, u64)>) {}
}

/// Given to [`Service::start`].
pub struct StartCtx<'a> {
    pub(crate) waker: &'a mut dyn FnMut() -> std::io::Result<Waker>,
    pub(crate) scratch: &'a mut Vec<u8>,
    pub(crate) fx: &'a mut Effects,
    pub(crate) now: Instant,
}

impl StartCtx<'_> {
    /// The loop's waker: [`Waker::wake`] from any thread makes the loop call
    /// [`Service::wake`] soon. Created on first request (one eventfd), so services that never
    /// ask keep the lesson's descriptor count.
    pub fn waker(&mut self) -> std::io::Result<Waker> {
        (self.waker)()
    }

    /// A hook context outside any connection, for work done before the first client is
    /// accepted (replaying a log: the listener is bound, but nothing is accepted until `start`
    /// returns). No connection exists yet, so what it asks about connections is dropped.
    pub fn ctx(&mut self) -> Ctx<'_> {
        self.scratch.clear();
        Ctx::outside_conn(self.scratch, self.fx, self.now)
    }
}

/// A request a hook made of the loop about some connection, applied after the hook returns.
#[derive(Clone, Debug)]
pub(crate) enum Act {
    SendTo(ConnId, Range<usize>),
    Fulfill(Ticket, Range<usize>),
    Close(ConnId),
    Kill(ConnId),
    Resume(ConnId),
    Limit(ConnId, Option<OutputLimit>),
}

/// A per-connection cap on owed output bytes, beside the loop's `max_output` (which always
/// applies): Redis's `client-output-buffer-limit` for one class of client. A connection over
/// `hard` is cut off at once; over `soft` continuously for `soft_for`, it is cut off too. Zero
/// disables a bound. Cut-offs count as `output_overflows`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard: usize,
    pub soft: usize,
    pub soft_for: Duration,
}

/// Loop-owned scratch behind every [`Ctx`], reused so hooks allocate nothing per call.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) arena: Vec<u8>,
    pub(crate) acts: Vec<Act>,
    /// `defer` points of the current connection: (offset in `out`, ticket sequence).
    pub(crate) splits: Vec<(usize, u64)>,
    pub(crate) next_seq: u64,
    pub(crate) pause: bool,
    pub(crate) close: bool,
    pub(crate) hold: bool,
    pub(crate) need: usize,
}

impl Effects {
    /// The call asked for nothing beyond its reply bytes.
    #[inline]
    pub(crate) fn is_plain(&self) -> bool {
        self.splits.is_empty() && !self.pause && !self.close && !self.hold && self.need == 0
    }

    #[inline]
    pub(crate) fn reset_current(&mut self) {
        self.splits.clear();
        self.pause = false;
        self.close = false;
        self.hold = false;
        self.need = 0;
    }
}

/// What a hook may ask of the loop.
pub struct Ctx<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) current: Option<ConnId>,
    /// Deferred replies of the current connection still owed, before this call.
    pub(crate) in_flight: usize,
    pub(crate) now: Instant,
    pub(crate) fx: &'a mut Effects,
}

impl<'a> Ctx<'a> {
    /// The context of a hook that serves no connection (`wake`, `tick`, `close`): replies
    /// written to `out` (an empty scratch buffer) are discarded.
    pub(crate) fn outside_conn(out: &'a mut Vec<u8>, fx: &'a mut Effects, now: Instant) -> Ctx<'a> {
        Ctx {
            out,
            current: None,
            in_flight: 0,
            now,
            fx,
        }
    }
    /// Reply bytes for the connection being served (or opened). Outside `open`/`serve` there
    /// is no such connection and whatever is written here is discarded.
    #[inline]
    pub fn out(&mut self) -> &mut Vec<u8> {
        self.out
    }

    /// The connection being served or opened, if any.
    pub fn current(&self) -> Option<ConnId> {
        self.current
    }

    /// The loop's clock, read once per wake-up.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// A reply for the current connection that will come later: it takes its place *here*,
    /// after everything already in `out()` and before anything appended afterwards, so
    /// replies leave in request order even when later requests are answered inline.
    ///
    /// # Panics
    /// Outside `serve`.
    pub fn defer(&mut self) -> Ticket {
        let conn = self.current.expect("Ctx::defer outside serve");
        let seq = self.fx.next_seq;
        self.fx.next_seq += 1;
        self.fx.splits.push((self.out.len(), seq));
        Ticket { conn, seq }
    }

    /// The current connection's deferred replies not yet fulfilled (including this call's).
    pub fn in_flight(&self) -> usize {
        self.in_flight + self.fx.splits.len()
    }

    /// Deliver a deferred reply. Dropped (and counted) if its connection has closed.
    pub fn fulfill(&mut self, ticket: Ticket, reply: &[u8]) {
        let r = self.stash(reply);
        self.fx.acts.push(Act::Fulfill(ticket, r));
    }

    /// Stop reading from and serving the current connection until [`resume`](Self::resume)
    /// or until one of its deferred replies is fulfilled. Its unread bytes wait in the kernel
    /// (backpressure, not loss).
    pub fn pause(&mut self) {
        self.fx.pause = true;
    }

    /// Serve a paused connection again (its unconsumed input first).
    pub fn resume(&mut self, id: ConnId) {
        self.fx.acts.push(Act::Resume(id));
    }

    /// Do not call `serve` for the current connection again until at least `bytes` of
    /// unconsumed input are there (a parser that knows how long the request it waits for is:
    /// a 512 MiB value arriving in 64 KiB reads is then parsed once, not 8,192 times).
    pub fn need(&mut self, bytes: usize) {
        self.fx.need = bytes;
    }

    /// Close the current connection once every reply owed to it has been written (QUIT, a
    /// protocol error). Input after this point is ignored.
    pub fn close_after_reply(&mut self) {
        self.fx.close = true;
    }

    /// Keep this call's replies back until [`Service::tick`] has run in this iteration (an
    /// append-only log written and synced before the acknowledgement leaves).
    pub fn hold(&mut self) {
        self.fx.hold = true;
    }

    /// Append `bytes` to another connection's output, after everything owed to it before.
    /// Ignored if `id` has closed. (For the current connection use [`out`](Self::out).)
    /// The bytes leave after this iteration's [`Service::tick`], so a thousand messages to one
    /// connection in one iteration cost one write, not a thousand (Redis's
    /// handleClientsWithPendingWrites); an [`OutputLimit`] is checked as they are appended.
    pub fn send_to(&mut self, id: ConnId, bytes: &[u8]) {
        let r = self.stash(bytes);
        self.fx.acts.push(Act::SendTo(id, r));
    }

    /// Set (or with `None` remove) `id`'s own output limit; see [`OutputLimit`]. Works for the
    /// current connection too (applied when the hook returns).
    pub fn limit_output(&mut self, id: ConnId, limit: Option<OutputLimit>) {
        self.fx.acts.push(Act::Limit(id, limit));
    }

    /// Close `id` once what it is owed has been written.
    pub fn close(&mut self, id: ConnId) {
        self.fx.acts.push(Act::Close(id));
    }

    /// Close `id` now, discarding what it is owed.
    pub fn kill(&mut self, id: ConnId) {
        self.fx.acts.push(Act::Kill(id));
    }

    fn stash(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.fx.arena.len();
        self.fx.arena.extend_from_slice(bytes);
        start..self.fx.arena.len()
    }
}

/// RFC 862 echo: every byte back, in order.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

impl Service for Echo {
    type Session = ();
    fn open(&mut self, _: &ConnInfo, _: &mut Ctx<'_>) {}
    #[inline]
    fn serve(&mut self, _: &mut (), input: &[u8], ctx: &mut Ctx<'_>) -> usize {
        ctx.out().extend_from_slice(input);
        input.len()
    }
}
