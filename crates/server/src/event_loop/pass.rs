//! One pass over one connection: flush owed output, read, serve, write through; the one
//! place where the trigger modes differ in how they read and what interest they keep.

use std::collections::HashMap;
use std::time::Instant;

use reactor::Token;
use rustix::io::Errno;
use rustix::net::{self, RecvFlags, SendFlags};
use tracing::{debug, error};

use super::*;
use crate::service::{ConnId, Ctx, Effects, Service};
use crate::stats::Stats;

/// What a pass over one connection should do.
#[derive(Copy, Clone)]
pub(super) struct Pass {
    pub(super) read: bool,
    pub(super) write: bool,
    /// A short read proves nothing (FIN or urgent data may be queued): read to EAGAIN/EOF.
    pub(super) to_eagain: bool,
    /// Offer buffered input to the service again (after a resume or a fulfilled reply).
    pub(super) reserve: bool,
    /// The kernel reported hang-up or a socket error.
    pub(super) hangup: bool,
    /// The write after `Service::tick`: it never reads, not even while draining, or what it
    /// read could be served, held and sent without the next tick (an acknowledgement ahead
    /// of its log's fsync).
    pub(super) tick: bool,
}

/// The loop-wide pieces a connection's I/O needs, borrowed apart from the slab.
pub(super) struct Io<'a, S: Service> {
    pub(super) cfg: &'a Config,
    pub(super) stats: &'a mut Stats,
    pub(super) service: &'a mut S,
    pub(super) rbuf: &'a mut [u8],
    pub(super) wbuf: &'a mut Vec<u8>,
    pub(super) pool: &'a mut BufferPool,
    pub(super) fx: &'a mut Effects,
    pub(super) held: &'a mut Vec<Token>,
    pub(super) limits: &'a mut HashMap<Token, LimitState>,
    pub(super) now: Instant,
    pub(super) now_ms: u32,
    pub(super) draining: bool,
}

impl<S: Service> Io<'_, S> {
    /// Flush, read, serve. Returns why the connection must close, if it must.
    pub(super) fn drive(
        &mut self,
        c: &mut Conn<S::Session>,
        token: Token,
        p: Pass,
    ) -> Option<CloseReason> {
        // Held output waits for the tick's own pass (`held` is cleared for it), whatever
        // else drives the connection first (a requeue, a close, a fulfilled reply, a drain).
        if p.write && c.pending() > 0 && !c.held {
            self.flush(c);
        }
        if p.reserve && c.fail.is_none() {
            self.serve_buffered(c, token);
        }
        // A draining server must learn whether a flushed client is quiet; a write event alone
        // never reads (poll/epoll-lt once waited out the shutdown timeout here; pinned in tests/integration/regressions.rs).
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

    pub(super) fn read_pass(&mut self, c: &mut Conn<S::Session>, token: Token, to_eagain: bool) {
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
    pub(super) fn serve_ctx<'b>(
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
    pub(super) fn consume(&mut self, c: &mut Conn<S::Session>, token: Token, n: usize) {
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
    pub(super) fn serve_buffered(&mut self, c: &mut Conn<S::Session>, token: Token) {
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

    pub(super) fn service_overrun(&mut self, c: &mut Conn<S::Session>, used: usize) {
        error!(
            "service bug: consumed {used} bytes of {}; closing the connection",
            c.pending_input()
        );
        c.fail = Some(CloseReason::ServiceError);
    }

    /// Apply what the service asked for the current connection, then place its replies.
    #[inline]
    pub(super) fn after_serve(&mut self, c: &mut Conn<S::Session>, token: Token) {
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
    pub(super) fn write_through(&mut self, c: &mut Conn<S::Session>) {
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
    pub(super) fn release_if_idle(&mut self, c: &mut Conn<S::Session>) {
        if c.bufs.as_ref().is_some_and(|b| b.is_idle()) {
            self.pool.give(c.bufs.take().expect("checked above"));
        }
    }

    /// One `send` of `wbuf` (write-through path); returns bytes taken.
    pub(super) fn send(&mut self, c: &mut Conn<S::Session>) -> usize {
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
    pub(super) fn flush(&mut self, c: &mut Conn<S::Session>) {
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
