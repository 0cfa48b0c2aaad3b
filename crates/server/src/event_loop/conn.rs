//! A connection's state on the loop: its buffers (from a bounded pool), output limits and
//! why it closed.

use std::collections::{HashMap, VecDeque};
use std::os::fd::OwnedFd;

use reactor::{Interest, Token};

use super::*;
use crate::service::OutputLimit;

/// Why a connection was closed (for counters and debug logs).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum CloseReason {
    Done,
    IoError,
    Overflow,
    InputOverflow,
    ServiceError,
    Killed,
    Idle,
    Shutdown,
}

pub(super) struct Conn<S> {
    pub(super) fd: OwnedFd,
    pub(super) session: S,
    /// Byte buffers exist only while something is owed in either direction; an idle
    /// connection carries a null pointer instead of two empty `Vec`s (≤ 64 B per idle
    /// connection at 10,000 connections).
    pub(super) bufs: Option<Box<Buffers>>,
    /// Idle list links (slab indices), ordered by last activity; NIL when not listed.
    pub(super) idle_prev: u32,
    pub(super) idle_next: u32,
    /// Milliseconds since the loop's epoch (wrapping) of the last bytes received.
    pub(super) last_rx: u32,
    pub(super) interest: Interest,
    /// Set when the connection must close at the next opportunity.
    pub(super) fail: Option<CloseReason>,
    /// The client sent FIN.
    pub(super) eof: bool,
    /// Edge-triggered: reading stopped before the socket was drained.
    pub(super) unread: bool,
    /// Sitting in the ready queue.
    pub(super) queued: bool,
    /// The last read pass emptied the socket (used while draining at shutdown).
    pub(super) quiet: bool,
    /// The service asked not to be given more of this connection's input for now.
    pub(super) paused: bool,
    /// The service asked to close after the replies owed (input is ignored meanwhile).
    pub(super) closing: bool,
    /// Sitting in the list of connections whose replies wait for `Service::tick`.
    pub(super) held: bool,
    /// The service set an output limit for this connection (kept in `Server::limits`, so
    /// the many connections without one pay a flag, not a pointer).
    pub(super) limited: bool,
}

pub(super) struct LimitState {
    pub(super) limit: OutputLimit,
    /// Loop milliseconds since when owed output has been above `soft` (None: not above).
    pub(super) over_soft_since: Option<u32>,
}

/// Owed output past `--max-output`, or past the connection's own limit (see [`OutputLimit`]).
pub(super) fn over_output_limits<S>(
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
    pub(super) fn exceeded(&mut self, owed: usize, now_ms: u32) -> bool {
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
pub(super) struct BufferPool {
    #[allow(clippy::vec_box)]
    pub(super) sets: Vec<Box<Buffers>>,
    pub(super) bytes: usize,
}

impl BufferPool {
    pub(super) fn take(&mut self) -> Box<Buffers> {
        match self.sets.pop() {
            Some(b) => {
                self.bytes -= b.capacity();
                b
            }
            None => Box::default(),
        }
    }

    pub(super) fn give(&mut self, mut b: Box<Buffers>) {
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
pub(super) struct Buffers {
    /// Received bytes the service has not consumed yet (always empty for echo).
    pub(super) input: Vec<u8>,
    /// Do not offer `input` to the service before it holds this many bytes.
    pub(super) need: usize,
    /// Output the kernel has not taken yet: `out[out_pos..]`.
    pub(super) out: Vec<u8>,
    pub(super) out_pos: usize,
    /// Replies owed after `out`, in request order, some still waiting to be fulfilled.
    pub(super) later: VecDeque<Later>,
    /// `Later::Waiting` entries in `later`.
    pub(super) in_flight: usize,
    /// Bytes in `later`'s ready entries: owed too, so they count against the output limits
    /// (a client pipelining behind one slow request must not buffer without bound).
    pub(super) later_bytes: usize,
}

pub(super) enum Later {
    Waiting(u64),
    Ready(Vec<u8>),
}

impl Buffers {
    pub(super) fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Every reply byte owed, sendable now or not.
    pub(super) fn owed_bytes(&self) -> usize {
        self.pending() + self.later_bytes
    }

    pub(super) fn capacity(&self) -> usize {
        self.out.capacity() + self.input.capacity()
    }

    pub(super) fn is_idle(&self) -> bool {
        self.pending() == 0 && self.input.is_empty() && self.later.is_empty()
    }

    /// Append reply bytes behind everything owed before them.
    pub(super) fn append(&mut self, bytes: &[u8]) {
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
    pub(super) fn fulfill(&mut self, seq: u64, reply: &[u8]) -> bool {
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
    pub(super) fn pending(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.pending())
    }

    pub(super) fn owed_bytes(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.owed_bytes())
    }

    pub(super) fn pending_input(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.input.len())
    }

    pub(super) fn in_flight(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.in_flight)
    }

    /// Still owed something: bytes, a deferred reply, or input a paused service will serve.
    pub(super) fn owes(&self) -> bool {
        self.bufs.as_ref().is_some_and(|b| {
            b.pending() > 0 || b.in_flight > 0 || (self.paused && !b.input.is_empty())
        })
    }

    pub(super) fn wants_input(&self) -> bool {
        !self.eof && !self.paused && !self.closing
    }
}
