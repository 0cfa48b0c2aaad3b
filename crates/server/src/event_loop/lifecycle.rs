//! Connections coming and going: accepting (and pausing accept when out of descriptors),
//! admitting under --max-clients, closing, the shutdown drain, timers and the idle list.

use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reactor::{Interest, Token};
use rustix::io::Errno;
use rustix::net::{self, SocketFlags};
use tracing::{debug, info, warn};

use super::*;
use crate::service::{ConnId, ConnInfo, Ctx, Service};
use crate::slab::Slab;

impl<S: Service> Server<S> {
    /// Accept what is queued on every listener, at most `accept_batch` each.
    pub(super) fn accept_pass(&mut self) {
        let mut more = false;
        for i in 0..self.listeners.len() {
            if !self.accepting {
                return;
            }
            more |= self.accept_from(i);
        }
        if more && self.cfg.backend.is_edge_triggered() {
            self.ready.push_back(LISTENER); // more may be queued, and no new edge will say so
        }
    }

    /// Accept from listener `i`; true if it hit the batch cap (more may be queued).
    fn accept_from(&mut self, i: usize) -> bool {
        for _ in 0..self.cfg.accept_batch {
            let Some(listener) = self.listeners.get(i) else {
                return false;
            };
            if !self.accepting {
                return false;
            }
            self.stats.accepts += 1;
            match net::acceptfrom_with(&listener.fd, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok((fd, peer)) => {
                    let peer = peer.and_then(|a| SocketAddr::try_from(a).ok());
                    let (local, unix) = (listener.addr.unwrap_or(self.addr), listener.unix.clone());
                    self.admit(fd, peer, local, unix);
                }
                Err(Errno::AGAIN) => {
                    if self.starved {
                        self.starved = false;
                        info!(
                            "accept: descriptors available again ({} pauses so far)",
                            self.stats.accept_pauses
                        );
                    }
                    return false;
                }
                // The client gave up while queued, or a signal: the next one may be fine.
                Err(Errno::CONNABORTED) | Err(Errno::INTR) => continue,
                Err(e @ (Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM)) => {
                    self.pause_accept(e);
                    return false;
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
                    return false;
                }
            }
        }
        true
    }

    pub(super) fn admit(
        &mut self,
        fd: OwnedFd,
        peer: Option<SocketAddr>,
        local: SocketAddr,
        unix: Option<std::sync::Arc<str>>,
    ) {
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
            local,
            unix,
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

    pub(super) fn pause_accept(&mut self, err: Errno) {
        for l in &self.listeners {
            let _ = self.poller.deregister(l.fd.as_fd());
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

    pub(super) fn resume_accept(&mut self) {
        self.resume_accept_at = None;
        if self.accepting || self.drain_deadline.is_some() {
            return;
        }
        for l in &self.listeners {
            if let Err(e) = self
                .poller
                .register(l.fd.as_fd(), l.token, Interest::READABLE)
            {
                warn!("re-registering listener: {e}");
                // Leave none half-registered: the next resume registers them all again.
                for l in &self.listeners {
                    let _ = self.poller.deregister(l.fd.as_fd());
                }
                self.resume_accept_at = Some(self.now + ACCEPT_PAUSE);
                return;
            }
        }
        self.accepting = true;
        // Connections may have queued meanwhile; an edge-triggered listener will not say so.
        self.ready.push_back(LISTENER);
    }

    pub(super) fn close(&mut self, token: Token, reason: CloseReason) {
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

    pub(super) fn begin_drain(&mut self) {
        info!(
            "shutdown requested: no new connections; flushing {} connections (at most {:?})",
            self.conns.len(),
            self.cfg.shutdown_timeout
        );
        for l in std::mem::take(&mut self.listeners) {
            if self.accepting {
                let _ = self.poller.deregister(l.fd.as_fd());
            }
            if let Some(path) = &l.unix {
                // As Redis at shutdown: the socket file goes with the listener.
                let _ = std::fs::remove_file(&**path);
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
    pub(super) fn recheck_quiet(&mut self) {
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

    pub(super) fn fire_timers(&mut self) {
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
    pub(super) fn idle_deadline(&self) -> Option<Instant> {
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
    pub(super) fn close_idle(&mut self) {
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

    pub(super) fn conns_at(&self, index: u32) -> Option<&Conn<S::Session>> {
        self.conns.at(index)
    }

    pub(super) fn idle_link(&mut self, index: u32) -> Option<(&mut u32, &mut u32)> {
        self.conns
            .at_mut(index)
            .map(|(_, c)| (&mut c.idle_prev, &mut c.idle_next))
    }

    pub(super) fn idle_push_back(&mut self, index: u32) {
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

    pub(super) fn idle_unlink(&mut self, index: u32) {
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
    pub(super) fn idle_touch(&mut self, index: u32) {
        if self.idle_tail != index {
            self.idle_unlink(index);
            self.idle_push_back(index);
        }
    }
}
