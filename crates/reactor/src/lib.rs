//! A readiness reactor with three interchangeable backends, chosen at run time.
//!
//! | backend            | syscalls                                     | per wake-up cost |
//! |--------------------|----------------------------------------------|------------------|
//! | [`Backend::Poll`]      | `ppoll` over a `pollfd` array               | O(registered)    |
//! | [`Backend::EpollLevel`]| `epoll_create1`, `epoll_ctl`, `epoll_pwait` | O(ready)         |
//! | [`Backend::EpollEdge`] | the same, every registration `EPOLLET`      | O(ready)         |
//!
//! # Contract (the same for every backend)
//! - A file descriptor is registered once with a [`Token`] and an [`Interest`]; [`Poller::reregister`]
//!   changes either; [`Poller::deregister`] must be called **before** the descriptor is closed
//!   (a closed-but-registered fd is a stale registration: epoll keeps watching the open file
//!   description if it is shared, poll reports `POLLNVAL`).
//! - Registering a registered fd fails with `EEXIST`, touching an unregistered one with `ENOENT`,
//!   and [`Token::RESERVED`] is refused with `InvalidInput`.
//! - Hang-up and error are always reported, whatever the interest: a peer that closed is always
//!   seen. `EPOLLRDHUP`/`POLLRDHUP` and `EPOLLPRI`/`POLLPRI` (urgent data, reported as
//!   [`Event::is_priority`]) are requested together with readability.
//! - Level-triggered backends report a descriptor on every wait while it stays ready.
//!   The edge-triggered backend reports it once per readiness *change*: the caller must drain
//!   reads to `EAGAIN` (or remember that it stopped early) or the data is stranded.
//! - [`Poller::wait`] rounds a timeout *up* to whole milliseconds (a 0.3 ms timer must not
//!   become a busy `timeout = 0` loop) and turns `EINTR` into an empty wake-up, once, so the
//!   caller can look at the flags its signal handlers set.
#![deny(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{eventfd, EventfdFlags};
use rustix::io::Errno;

mod sys;

pub use sys::signal::{block_shutdown_signals, ShutdownSignals};

/// Identifies a registration; returned with every event for it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

impl Token {
    /// Never handed out: `register` refuses it, so it can never be confused with a real source.
    pub const RESERVED: Token = Token(usize::MAX);
}

/// What readiness a registration asks for. Hang-up and error are always reported.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Nothing but hang-up and error (a connection that is paused in both directions).
    pub const NONE: Interest = Interest(0);
    /// Readable (and read-closed).
    pub const READABLE: Interest = Interest(1);
    /// Writable.
    pub const WRITABLE: Interest = Interest(2);
    /// Both.
    pub const BOTH: Interest = Interest(3);

    /// Does it include readability?
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// Does it include writability?
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
    /// Build from two booleans.
    pub fn new(readable: bool, writable: bool) -> Interest {
        Interest(u8::from(readable) | (u8::from(writable) << 1))
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

/// Which kernel interface, and which trigger mode.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// poll(2): the kernel examines every registered fd on every call.
    Poll,
    /// epoll, level-triggered: reported while ready.
    EpollLevel,
    /// epoll, edge-triggered (`EPOLLET`): reported when readiness changes.
    EpollEdge,
}

impl Backend {
    /// All backends, in the order reports list them.
    pub const ALL: [Backend; 3] = [Backend::Poll, Backend::EpollLevel, Backend::EpollEdge];

    /// The name used on command lines and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Poll => "poll",
            Backend::EpollLevel => "epoll-lt",
            Backend::EpollEdge => "epoll-et",
        }
    }

    /// True for the backend that reports only readiness changes.
    pub fn is_edge_triggered(self) -> bool {
        self == Backend::EpollEdge
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Error for an unknown backend name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownBackend(pub String);

impl fmt::Display for UnknownBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown backend '{}' (expected poll, epoll, epoll-lt or epoll-et)",
            self.0
        )
    }
}

impl std::error::Error for UnknownBackend {}

impl FromStr for Backend {
    type Err = UnknownBackend;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "poll" => Ok(Backend::Poll),
            "epoll" | "epoll-lt" => Ok(Backend::EpollLevel),
            "epoll-et" => Ok(Backend::EpollEdge),
            other => Err(UnknownBackend(other.to_string())),
        }
    }
}

/// One readiness report.
#[derive(Copy, Clone, PartialEq, Eq)]
pub struct Event {
    token: Token,
    flags: u8,
}

const EV_READABLE: u8 = 1;
const EV_WRITABLE: u8 = 2;
const EV_READ_CLOSED: u8 = 4;
const EV_WRITE_CLOSED: u8 = 8;
const EV_ERROR: u8 = 16;
const EV_PRIORITY: u8 = 32;

impl Event {
    /// Translate kernel bits. `POLLIN == EPOLLIN` etc. on Linux, so one mapping serves both
    /// backends and their reports cannot drift apart.
    pub(crate) fn from_kernel(token: Token, bits: u32) -> Event {
        let has = |b: libc::c_short| bits & (b as u16 as u32) != 0;
        let mut flags = 0;
        if has(libc::POLLIN) {
            flags |= EV_READABLE;
        }
        // Urgent (TCP out-of-band) data is pending. Reported apart from readability because a
        // `recv` stops at the urgent mark: a short read no longer proves the queue empty.
        if has(libc::POLLPRI) {
            flags |= EV_PRIORITY;
        }
        if has(libc::POLLOUT) {
            flags |= EV_WRITABLE;
        }
        // HUP: both directions are shut. RDHUP: the peer sent FIN (half-close).
        if has(libc::POLLHUP) || has(libc::POLLRDHUP) {
            flags |= EV_READ_CLOSED;
        }
        if has(libc::POLLHUP) {
            flags |= EV_WRITE_CLOSED;
        }
        // POLLNVAL means an fd was closed while still registered: a caller bug, surfaced as error.
        if has(libc::POLLERR) || has(libc::POLLNVAL) {
            flags |= EV_ERROR;
        }
        Event { token, flags }
    }

    /// Build an event by hand (tests, requeued work).
    pub fn new(token: Token, readable: bool, writable: bool) -> Event {
        let mut flags = 0;
        if readable {
            flags |= EV_READABLE;
        }
        if writable {
            flags |= EV_WRITABLE;
        }
        Event { token, flags }
    }

    /// The registration's token.
    pub fn token(&self) -> Token {
        self.token
    }
    /// Data (or EOF) can be read.
    pub fn is_readable(&self) -> bool {
        self.flags & EV_READABLE != 0
    }
    /// Data can be written.
    pub fn is_writable(&self) -> bool {
        self.flags & EV_WRITABLE != 0
    }
    /// The peer will send nothing more (FIN, hang-up).
    pub fn is_read_closed(&self) -> bool {
        self.flags & EV_READ_CLOSED != 0
    }
    /// Writing is no longer possible (hang-up).
    pub fn is_write_closed(&self) -> bool {
        self.flags & EV_WRITE_CLOSED != 0
    }
    /// An error is pending on the descriptor (e.g. a reset).
    pub fn is_error(&self) -> bool {
        self.flags & EV_ERROR != 0
    }
    /// Urgent data is pending (`POLLPRI`/`EPOLLPRI`): reads stop short at the urgent mark, so a
    /// reader that trusts "short read means drained" must read on to `EAGAIN`.
    pub fn is_priority(&self) -> bool {
        self.flags & EV_PRIORITY != 0
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Event");
        s.field("token", &self.token.0);
        for (bit, name) in [
            (EV_READABLE, "readable"),
            (EV_WRITABLE, "writable"),
            (EV_READ_CLOSED, "read_closed"),
            (EV_WRITE_CLOSED, "write_closed"),
            (EV_ERROR, "error"),
            (EV_PRIORITY, "priority"),
        ] {
            if self.flags & bit != 0 {
                s.field(name, &true);
            }
        }
        s.finish()
    }
}

/// A reusable list of events filled by [`Poller::wait`].
#[derive(Debug)]
pub struct Events {
    list: Vec<Event>,
    capacity: usize,
}

impl Events {
    /// Room for `capacity` events per wait (epoll's `maxevents`; poll reports all ready fds).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            list: Vec::with_capacity(capacity),
            capacity,
        }
    }
    /// The events of the last wait.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }
    /// How many.
    pub fn len(&self) -> usize {
        self.list.len()
    }
    /// None?
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// Forget the last wait's events.
    pub fn clear(&mut self) {
        self.list.clear();
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// Counters a poller keeps about itself (for `--stats` and the scaling sweep).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PollerStats {
    /// Calls to the wait syscall (`ppoll` / `epoll_pwait`), including ones that returned nothing.
    pub waits: u64,
    /// Events returned, summed over all waits.
    pub events: u64,
    /// Descriptors examined, summed over all waits: for poll the whole array on every call
    /// (the kernel checks each one, then we scan each `revents`), for epoll only what was returned.
    pub examined: u64,
    /// Registration changes: `epoll_ctl` calls, or `pollfd` array edits for poll.
    pub ctl: u64,
}

enum Selector {
    Poll(sys::poll::PollSelector),
    Epoll(sys::epoll::EpollSelector),
}

/// The reactor: a set of registrations and a way to wait on them.
pub struct Poller {
    backend: Backend,
    selector: Selector,
    stats: PollerStats,
    wait_mask: Option<sys::signal::SigMask>,
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("backend", &self.backend)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Poller {
    /// Create a poller. For epoll this is `epoll_create1(EPOLL_CLOEXEC)` (one descriptor);
    /// poll needs none.
    pub fn new(backend: Backend) -> io::Result<Poller> {
        let selector = match backend {
            Backend::Poll => Selector::Poll(sys::poll::PollSelector::new()),
            Backend::EpollLevel => Selector::Epoll(sys::epoll::EpollSelector::new(false)?),
            Backend::EpollEdge => Selector::Epoll(sys::epoll::EpollSelector::new(true)?),
        };
        Ok(Poller {
            backend,
            selector,
            stats: PollerStats::default(),
            wait_mask: None,
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Counters so far.
    pub fn stats(&self) -> PollerStats {
        self.stats
    }

    /// Number of registered descriptors.
    pub fn len(&self) -> usize {
        match &self.selector {
            Selector::Poll(p) => p.len(),
            Selector::Epoll(e) => e.len(),
        }
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// While waiting (and only then), unblock the signals that `signals` blocked, so that a
    /// signal arriving between "check the flag" and "go to sleep" still interrupts the sleep.
    pub fn unblock_during_wait(&mut self, signals: &ShutdownSignals) {
        self.wait_mask = Some(signals.wait_mask());
    }

    /// Start watching `fd`.
    pub fn register(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        check_token(token)?;
        self.stats.ctl += 1;
        match &mut self.selector {
            Selector::Poll(p) => p.register(fd.as_raw_fd(), token, interest),
            Selector::Epoll(e) => e.register(fd, token, interest),
        }
    }

    /// Change the token or interest of a registered `fd`.
    pub fn reregister(
        &mut self,
        fd: BorrowedFd<'_>,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        check_token(token)?;
        self.stats.ctl += 1;
        match &mut self.selector {
            Selector::Poll(p) => p.reregister(fd.as_raw_fd(), token, interest),
            Selector::Epoll(e) => e.reregister(fd, token, interest),
        }
    }

    /// Stop watching `fd`. Call before closing it.
    pub fn deregister(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.stats.ctl += 1;
        match &mut self.selector {
            Selector::Poll(p) => p.deregister(fd.as_raw_fd()),
            Selector::Epoll(e) => e.deregister(fd),
        }
    }

    /// Wait for readiness, at most `timeout` (None = forever), rounded up to whole milliseconds.
    /// Returns the number of events (0 on timeout or on a signal).
    pub fn wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.list.clear();
        let timeout_ms = timeout_to_ms(timeout);
        self.stats.waits += 1;
        let mask = self.wait_mask.as_ref();
        let examined = match &mut self.selector {
            Selector::Poll(p) => p.wait(&mut events.list, timeout_ms, mask),
            Selector::Epoll(e) => e.wait(&mut events.list, events.capacity, timeout_ms, mask),
        };
        // The selectors turn EINTR (a signal handler ran) into an empty wake-up, so the caller
        // gets to look at the flags its handlers set.
        let examined = examined?;
        self.stats.examined += examined as u64;
        self.stats.events += events.list.len() as u64;
        Ok(events.list.len())
    }
}

/// Wakes a [`Poller`] from another thread: an `eventfd` registered for readability.
/// Costs one descriptor, so it is created only where something needs waking (several loops
/// that must all hear about a signal only one of them received).
#[derive(Clone, Debug)]
pub struct Waker {
    fd: Arc<OwnedFd>,
}

impl Waker {
    /// Create the eventfd and register it with `poller` under `token`.
    pub fn new(poller: &mut Poller, token: Token) -> io::Result<Waker> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        poller.register(fd.as_fd(), token, Interest::READABLE)?;
        Ok(Waker { fd: Arc::new(fd) })
    }

    /// Make the poller's next (or current) wait return an event for the waker's token.
    pub fn wake(&self) -> io::Result<()> {
        match rustix::io::write(&*self.fd, &1u64.to_ne_bytes()) {
            // The counter is saturated: a wake-up is already pending, which is all we want.
            Ok(_) | Err(Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Consume pending wake-ups, so a level-triggered poller stops reporting them.
    pub fn reset(&self) -> io::Result<()> {
        let mut buf = [0u8; 8];
        match rustix::io::read(&*self.fd, &mut buf) {
            Ok(_) | Err(Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn check_token(token: Token) -> io::Result<()> {
    if token == Token::RESERVED {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Token::RESERVED (usize::MAX) cannot be registered",
        ));
    }
    Ok(())
}

/// Milliseconds for the kernel, rounded up so that a pending sub-millisecond timer sleeps
/// 1 ms instead of spinning with `timeout = 0`.
fn timeout_to_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_rounds_up_to_whole_milliseconds() {
        assert_eq!(timeout_to_ms(None), -1);
        assert_eq!(timeout_to_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_to_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_to_ms(Some(Duration::from_micros(300))), 1);
        assert_eq!(timeout_to_ms(Some(Duration::from_millis(5))), 5);
        assert_eq!(timeout_to_ms(Some(Duration::from_micros(5001))), 6);
        assert_eq!(timeout_to_ms(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }

    #[test]
    fn backend_names_round_trip() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
        }
        assert_eq!("epoll".parse::<Backend>().unwrap(), Backend::EpollLevel);
        let err = "kqueue".parse::<Backend>().unwrap_err();
        assert!(err.to_string().contains("kqueue"), "{err}");
    }

    #[test]
    fn kernel_bits_map_the_same_for_poll_and_epoll() {
        // The backends share one mapping only because the constants agree; pin that.
        assert_eq!(libc::POLLIN as u32, libc::EPOLLIN as u32);
        assert_eq!(libc::POLLOUT as u32, libc::EPOLLOUT as u32);
        assert_eq!(libc::POLLERR as u32, libc::EPOLLERR as u32);
        assert_eq!(libc::POLLHUP as u32, libc::EPOLLHUP as u32);
        assert_eq!(libc::POLLRDHUP as u32, libc::EPOLLRDHUP as u32);
        let e = Event::from_kernel(Token(7), libc::EPOLLRDHUP as u32 | libc::EPOLLIN as u32);
        assert!(e.is_readable() && e.is_read_closed() && !e.is_write_closed() && !e.is_error());
        let e = Event::from_kernel(Token(7), libc::EPOLLHUP as u32 | libc::EPOLLERR as u32);
        assert!(e.is_read_closed() && e.is_write_closed() && e.is_error());
        assert_eq!(libc::POLLPRI as u32, libc::EPOLLPRI as u32);
        let e = Event::from_kernel(Token(7), libc::EPOLLPRI as u32 | libc::EPOLLIN as u32);
        assert!(e.is_priority() && e.is_readable());
        let e = Event::from_kernel(Token(7), libc::EPOLLIN as u32);
        assert!(!e.is_priority());
    }
}
