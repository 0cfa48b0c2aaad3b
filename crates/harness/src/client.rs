//! A verifying echo client for many concurrent connections, on our own reactor (epoll).
//!
//! Each [`Conversation`] sends a payload in given pieces and checks what comes back as a
//! *stream*: every received byte is compared with the byte sent at the same offset, however the
//! kernel splits or merges segments (never "one read = one message"). Sending and reading run
//! concurrently, so a server with backpressure cannot deadlock a client that sends a lot.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use reactor::{Backend, Events, Interest, Poller, Token};
use rustix::io::Errno;
use rustix::net::{
    self, sockopt, AddressFamily, RecvFlags, SendFlags, Shutdown, SocketFlags, SocketType,
};

/// How a conversation ends once its payload is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `shutdown(SHUT_WR)` after the last byte; expect every byte back, then EOF.
    HalfClose,
    /// Wait until every byte came back, then close (no half-close).
    CloseWhenEchoed,
    /// After sending this many bytes, close with `SO_LINGER 0` (a reset); nothing is checked
    /// beyond what arrived before.
    ResetAfter(usize),
}

/// One client connection's script.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// Bytes to send.
    pub payload: Vec<u8>,
    /// Sizes of the pieces, each sent with its own `send` (their sum is `payload.len()`).
    pub pieces: Vec<usize>,
    /// How it ends.
    pub end: End,
    /// Slow reader: read at most this many bytes, then pause `read_pause`.
    pub slow_read: Option<(usize, Duration)>,
    /// Receive buffer size to ask for (`SO_RCVBUF`), e.g. to make a small window.
    pub rcvbuf: Option<usize>,
}

impl Conversation {
    /// Send `payload` in one piece, then half-close.
    pub fn simple(payload: Vec<u8>) -> Conversation {
        let pieces = vec![payload.len()];
        Conversation {
            payload,
            pieces,
            end: End::HalfClose,
            slow_read: None,
            rcvbuf: None,
        }
    }
}

/// What happened to one conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every byte came back, in order, and nothing more.
    Ok,
    /// The conversation reset itself as scripted.
    ResetAsPlanned,
    /// A byte differs from the one sent at `offset`.
    Mismatch {
        /// Stream offset of the first wrong byte.
        offset: u64,
        /// What was sent there.
        expected: u8,
        /// What came back.
        got: u8,
    },
    /// The server closed before echoing everything (`got` of `expected` bytes).
    Short {
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// More bytes came back than were sent.
    Extra {
        /// Bytes sent.
        expected: u64,
    },
    /// A socket error (connect refused, reset by the server, ...).
    Error(String),
    /// The run's deadline passed first.
    Timeout {
        /// Bytes received by then.
        got: u64,
    },
}

impl Verdict {
    /// True for the outcomes that mean the server behaved.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Ok | Verdict::ResetAsPlanned)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => write!(f, "ok"),
            Verdict::ResetAsPlanned => write!(f, "reset as planned"),
            Verdict::Mismatch {
                offset,
                expected,
                got,
            } => write!(
                f,
                "first differing byte at offset {offset}: sent 0x{expected:02x}, got 0x{got:02x}"
            ),
            Verdict::Short { expected, got } => {
                write!(f, "connection closed after {got} of {expected} bytes")
            }
            Verdict::Extra { expected } => {
                write!(f, "more than the {expected} bytes sent came back")
            }
            Verdict::Error(e) => write!(f, "socket error: {e}"),
            Verdict::Timeout { got } => write!(f, "timed out after receiving {got} bytes"),
        }
    }
}

/// One conversation's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Index into the conversations given to [`run`].
    pub index: usize,
    /// Bytes sent.
    pub sent: u64,
    /// Bytes received (and verified).
    pub received: u64,
    /// The verdict.
    pub verdict: Verdict,
}

/// Limits for a [`run`].
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// At most this many connections open at once (more conversations wait their turn).
    pub concurrency: usize,
    /// Give up on whatever is unfinished after this long.
    pub timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: usize::MAX,
            timeout: Duration::from_secs(60),
        }
    }
}

struct Live {
    index: usize,
    fd: OwnedFd,
    connected: bool,
    sent: usize,
    piece: usize,
    piece_sent: usize,
    write_done: bool,
    received: usize,
    resume_read_at: Option<Instant>,
    interest: Interest,
}

/// Run every conversation against `addr`; returns one [`Outcome`] per conversation, in order.
pub fn run(addr: SocketAddr, convs: &[Conversation], opts: RunOptions) -> io::Result<Vec<Outcome>> {
    let mut poller = Poller::new(Backend::EpollLevel)?;
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Option<Live>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; convs.len()];
    let mut waiting: VecDeque<usize> = (0..convs.len()).collect();
    let mut open = 0usize;
    let mut rbuf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + opts.timeout;
    let mut done = 0usize;

    let finish = |slots: &mut Vec<Option<Live>>,
                  free: &mut Vec<usize>,
                  poller: &mut Poller,
                  outcomes: &mut Vec<Option<Outcome>>,
                  slot: usize,
                  verdict: Verdict| {
        let live = slots[slot].take().expect("live slot");
        let _ = poller.deregister(live.fd.as_fd());
        if let Verdict::ResetAsPlanned = verdict {
            let _ = sockopt::set_socket_linger(&live.fd, Some(Duration::ZERO));
        }
        outcomes[live.index] = Some(Outcome {
            index: live.index,
            sent: live.sent as u64,
            received: live.received as u64,
            verdict,
        });
        free.push(slot);
    };

    while done < convs.len() {
        // Start conversations up to the concurrency limit.
        while open < opts.concurrency {
            let Some(index) = waiting.pop_front() else {
                break;
            };
            match connect(addr, convs[index].rcvbuf) {
                Ok(fd) => {
                    let slot = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    poller.register(fd.as_fd(), Token(slot), Interest::BOTH)?;
                    slots[slot] = Some(Live {
                        index,
                        fd,
                        connected: false,
                        sent: 0,
                        piece: 0,
                        piece_sent: 0,
                        write_done: false,
                        received: 0,
                        resume_read_at: None,
                        interest: Interest::BOTH,
                    });
                    open += 1;
                }
                Err(e) => {
                    outcomes[index] = Some(Outcome {
                        index,
                        sent: 0,
                        received: 0,
                        verdict: Verdict::Error(format!("connect: {e}")),
                    });
                    done += 1;
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // Slow readers whose pause is over read again.
        let mut next_wake = deadline;
        for (slot, live) in slots.iter_mut().enumerate() {
            let Some(live) = live else { continue };
            if let Some(at) = live.resume_read_at {
                if at <= now {
                    live.resume_read_at = None;
                    set_interest(&mut poller, slot, live)?;
                } else {
                    next_wake = next_wake.min(at);
                }
            }
        }
        poller.wait(&mut events, Some(next_wake.saturating_duration_since(now)))?;
        for ev in events.iter() {
            let slot = ev.token().0;
            let Some(live) = slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let conv = &convs[live.index];
            let verdict = step(live, conv, ev.is_writable() || ev.is_error(), &mut rbuf);
            let verdict = match verdict {
                Some(v) => Some(v),
                None => set_interest(&mut poller, slot, live)
                    .err()
                    .map(|e| Verdict::Error(e.to_string())),
            };
            if let Some(v) = verdict {
                finish(&mut slots, &mut free, &mut poller, &mut outcomes, slot, v);
                open -= 1;
                done += 1;
            }
        }
    }
    // Whatever is left timed out.
    for slot in 0..slots.len() {
        if let Some(live) = &slots[slot] {
            let got = live.received as u64;
            finish(
                &mut slots,
                &mut free,
                &mut poller,
                &mut outcomes,
                slot,
                Verdict::Timeout { got },
            );
        }
    }
    for index in waiting {
        outcomes[index] = Some(Outcome {
            index,
            sent: 0,
            received: 0,
            verdict: Verdict::Timeout { got: 0 },
        });
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.expect("every conversation has an outcome"))
        .collect())
}

/// A non-blocking, close-on-exec TCP socket with `TCP_NODELAY`, connecting to `addr`
/// (the connect completes when the socket turns writable; check `SO_ERROR` then).
pub(crate) fn connect(addr: SocketAddr, rcvbuf: Option<usize>) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = net::socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_tcp_nodelay(&fd, true)?;
    if let Some(size) = rcvbuf {
        // Before connect, so the window scale is negotiated for the small buffer.
        sockopt::set_socket_recv_buffer_size(&fd, size)?;
    }
    match net::connect(&fd, &addr) {
        Ok(()) | Err(Errno::INPROGRESS) => Ok(fd),
        Err(e) => Err(e.into()),
    }
}

fn set_interest(poller: &mut Poller, slot: usize, live: &mut Live) -> io::Result<()> {
    let want = Interest::new(live.resume_read_at.is_none(), !live.write_done);
    if want != live.interest {
        live.interest = want;
        poller.reregister(live.fd.as_fd(), Token(slot), want)?;
    }
    Ok(())
}

/// Advance one connection: send what it can, read and verify what arrived.
fn step(live: &mut Live, conv: &Conversation, writable: bool, rbuf: &mut [u8]) -> Option<Verdict> {
    if !live.connected {
        if !writable {
            return None;
        }
        match sockopt::socket_error(&live.fd) {
            Ok(Ok(())) => live.connected = true,
            Ok(Err(e)) => return Some(Verdict::Error(format!("connect: {e}"))),
            Err(e) => return Some(Verdict::Error(format!("connect: {e}"))),
        }
    }
    if !live.write_done {
        if let Some(v) = send_pieces(live, conv) {
            return Some(v);
        }
    }
    if live.resume_read_at.is_none() {
        return read_and_verify(live, conv, rbuf);
    }
    None
}

fn send_pieces(live: &mut Live, conv: &Conversation) -> Option<Verdict> {
    while live.sent < conv.payload.len() {
        if let End::ResetAfter(n) = conv.end {
            if live.sent >= n {
                return Some(Verdict::ResetAsPlanned);
            }
        }
        let piece_len = conv.pieces.get(live.piece).copied().unwrap_or(usize::MAX);
        let mut want = piece_len
            .saturating_sub(live.piece_sent)
            .min(conv.payload.len() - live.sent);
        if let End::ResetAfter(n) = conv.end {
            want = want.min(n - live.sent);
        }
        match net::send(
            &live.fd,
            &conv.payload[live.sent..live.sent + want],
            SendFlags::NOSIGNAL,
        ) {
            Ok(n) => {
                live.sent += n;
                live.piece_sent += n;
                if live.piece_sent >= piece_len {
                    live.piece += 1;
                    live.piece_sent = 0;
                }
                if n < want {
                    return None; // socket buffer full
                }
            }
            Err(Errno::AGAIN) => return None,
            Err(Errno::INTR) => {}
            Err(e) => return Some(Verdict::Error(format!("send: {e}"))),
        }
    }
    if let End::ResetAfter(_) = conv.end {
        return Some(Verdict::ResetAsPlanned);
    }
    live.write_done = true;
    if conv.end == End::HalfClose {
        if let Err(e) = net::shutdown(&live.fd, Shutdown::Write) {
            return Some(Verdict::Error(format!("shutdown: {e}")));
        }
    }
    None
}

fn read_and_verify(live: &mut Live, conv: &Conversation, rbuf: &mut [u8]) -> Option<Verdict> {
    let limit = conv
        .slow_read
        .map_or(rbuf.len(), |(n, _)| n.clamp(1, rbuf.len()));
    match net::recv(&live.fd, &mut rbuf[..limit], RecvFlags::empty()) {
        Ok((0, _)) => {
            let expected = conv.payload.len() as u64;
            let got = live.received as u64;
            Some(if got == expected && live.write_done {
                Verdict::Ok
            } else {
                Verdict::Short { expected, got }
            })
        }
        Ok((n, _)) => {
            let start = live.received;
            let expect = conv.payload.get(start..start + n);
            let Some(expect) = expect else {
                return Some(Verdict::Extra {
                    expected: conv.payload.len() as u64,
                });
            };
            if let Some(i) = expect.iter().zip(&rbuf[..n]).position(|(a, b)| a != b) {
                return Some(Verdict::Mismatch {
                    offset: (start + i) as u64,
                    expected: expect[i],
                    got: rbuf[i],
                });
            }
            live.received += n;
            if let Some((_, pause)) = conv.slow_read {
                live.resume_read_at = Some(Instant::now() + pause);
            }
            if conv.end == End::CloseWhenEchoed && live.received == conv.payload.len() {
                return Some(Verdict::Ok);
            }
            None
        }
        Err(Errno::AGAIN) | Err(Errno::INTR) => None,
        Err(e) => Some(Verdict::Error(format!("recv: {e}"))),
    }
}

/// Totals over a set of outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Conversations.
    pub conversations: usize,
    /// Those that passed.
    pub passed: usize,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received and verified.
    pub bytes_verified: u64,
    /// The first failure: (conversation index, verdict).
    pub first_failure: Option<(usize, Verdict)>,
}

/// Add up outcomes.
pub fn summarize(outcomes: &[Outcome]) -> Summary {
    let mut s = Summary {
        conversations: outcomes.len(),
        ..Summary::default()
    };
    for o in outcomes {
        s.bytes_sent += o.sent;
        s.bytes_verified += o.received;
        if o.verdict.passed() {
            s.passed += 1;
        } else if s.first_failure.is_none() {
            s.first_failure = Some((o.index, o.verdict.clone()));
        }
    }
    s
}
