//! `readyloop load`: a single-threaded, verifying echo load generator on our own reactor
//! (epoll, level-triggered), in the manner of redis-benchmark.
//!
//! `connections` are opened; the first `active` of them ping-pong `size`-byte messages with
//! `pipeline` in flight each, the rest stay open and idle. Every message is a slice of one
//! shared random pattern, starting at an offset derived from (connection, message number), so
//! sending needs no allocation or copying and every echoed byte can still be checked: a byte
//! from another connection or another message is caught, not only a corrupted one.
//!
//! Latency is from the start of a message's send to the arrival of its last echoed byte,
//! recorded in an HDR histogram in microseconds.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::RngCore;
use reactor::{Backend, Events, Interest, Poller, Token};
use rustix::io::Errno;
use rustix::net::{self, sockopt, RecvFlags, SendFlags};
use serde::Serialize;

use crate::gen;
use crate::report::{self, Table};

/// Distinct message start offsets in the shared pattern. Prime, so that consecutive messages
/// and connections land on unrelated offsets.
const PATTERN_SPAN: usize = 65_521;

/// How long connecting everything may take before the run is abandoned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// After the measured period, how long in-flight messages get to come back (still verified).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A load run's settings.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Echo server.
    pub addr: SocketAddr,
    /// Connections to open.
    pub connections: usize,
    /// How many of them send; the rest stay idle (at most `connections`).
    pub active: usize,
    /// Bytes per message.
    pub size: usize,
    /// Messages in flight per active connection.
    pub pipeline: usize,
    /// Measured period.
    pub duration: Duration,
    /// Seeds the byte pattern.
    pub seed: u64,
}

/// Latency percentiles, microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
}

/// What a load run measured.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// Server address.
    pub addr: String,
    /// Connections opened.
    pub connections: usize,
    /// Connections that sent.
    pub active: usize,
    /// Bytes per message.
    pub size: usize,
    /// Messages in flight per active connection.
    pub pipeline: usize,
    /// Measured period, seconds.
    pub duration_s: f64,
    /// Messages echoed completely (and verified) within the period.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Messages per second.
    pub throughput_msgs_per_s: f64,
    /// Echoed bytes per second.
    pub throughput_bytes_per_s: f64,
    /// Latency per message.
    pub latency_us: Latency,
    /// Connections that failed: connect errors, wrong bytes, early closes, socket errors.
    pub errors: u64,
    /// The first of them.
    pub first_error: Option<String>,
}

impl LoadReport {
    /// A one-row table and, if any, the first error.
    pub fn render(&self) -> String {
        let mut t = Table::new(
            &[
                "conns", "active", "size", "pipeline", "time", "messages", "msgs/s", "MiB/s",
                "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "errors",
            ],
            0,
        );
        let l = &self.latency_us;
        t.row(vec![
            self.connections.to_string(),
            self.active.to_string(),
            self.size.to_string(),
            self.pipeline.to_string(),
            format!("{:.1} s", self.duration_s),
            self.messages.to_string(),
            format!("{:.0}", self.throughput_msgs_per_s),
            format!("{:.1}", self.throughput_bytes_per_s / (1 << 20) as f64),
            l.p50.to_string(),
            l.p90.to_string(),
            l.p99.to_string(),
            l.p999.to_string(),
            l.max.to_string(),
            self.errors.to_string(),
        ]);
        let mut out = t.render();
        if let Some(e) = &self.first_error {
            out.push_str(&format!(
                "FAIL: {} connection(s) failed; first: {e}\n",
                self.errors
            ));
        }
        out
    }
}

/// The bytes every message is cut from.
struct Pattern {
    bytes: Vec<u8>,
    size: usize,
}

impl Pattern {
    fn new(seed: u64, size: usize) -> Pattern {
        let mut bytes = vec![0u8; PATTERN_SPAN + size];
        gen::rng(seed).fill_bytes(&mut bytes);
        Pattern { bytes, size }
    }

    /// Message `msg` of connection `conn`.
    fn message(&self, conn: usize, msg: u64) -> &[u8] {
        let h = (conn as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(msg.wrapping_mul(0xc2b2_ae3d_27d4_eb4f));
        let start = ((h >> 17) % PATTERN_SPAN as u64) as usize;
        &self.bytes[start..start + self.size]
    }
}

struct Conn {
    fd: OwnedFd,
    active: bool,
    connected: bool,
    /// Messages whose sending began / finished / whose echo fully arrived.
    started: u64,
    sent: u64,
    echoed: u64,
    /// Bytes of message `sent` already sent, and of message `echoed` already received.
    send_off: usize,
    recv_off: usize,
    /// Send start times of messages not yet echoed, oldest first.
    stamps: VecDeque<Instant>,
    interest: Interest,
}

impl Conn {
    fn in_flight(&self) -> u64 {
        self.started - self.echoed
    }

    fn idle_after_drain(&self) -> bool {
        self.in_flight() == 0
    }
}

/// Counters of the measured period.
struct Tally {
    histogram: Histogram<u64>,
    messages: u64,
    /// Completed messages count only until the period ends; the drain afterwards is verified
    /// but not measured.
    counting: bool,
}

/// Run the load and report what it measured. Errors only for a failure of the client itself
/// (no poller); a misbehaving server shows up as `errors` in the report.
pub fn run(config: &LoadConfig) -> io::Result<LoadReport> {
    let size = config.size.max(1);
    let pipeline = config.pipeline.max(1);
    let active = config.active.min(config.connections);
    let pattern = Pattern::new(config.seed, size);
    let mut poller = Poller::new(Backend::EpollLevel)?;
    let mut events = Events::with_capacity(1024);
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut errors = Errors::default();

    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(config.connections);
    for i in 0..config.connections {
        match crate::client::connect(config.addr, None) {
            Ok(fd) => {
                poller.register(fd.as_fd(), Token(i), Interest::WRITABLE)?;
                conns.push(Some(Conn {
                    fd,
                    active: i < active,
                    connected: false,
                    started: 0,
                    sent: 0,
                    echoed: 0,
                    send_off: 0,
                    recv_off: 0,
                    stamps: VecDeque::with_capacity(pipeline),
                    interest: Interest::WRITABLE,
                }));
            }
            Err(e) => {
                errors.add(format!("connection {i}: connect: {e}"));
                conns.push(None);
            }
        }
    }
    wait_connected(&mut poller, &mut events, &mut conns, &mut errors)?;

    let mut tally = Tally {
        histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(io::Error::other)?,
        messages: 0,
        counting: true,
    };
    let bar = report::progress(
        config.duration.as_millis() as u64,
        "{elapsed_precise} [{bar:30}] {msg}",
    );
    let start = Instant::now();
    let deadline = start + config.duration;
    for i in 0..conns.len() {
        pump(
            &mut poller,
            &mut conns,
            i,
            &pattern,
            pipeline,
            false,
            &mut errors,
        );
    }
    let mut next_tick = start + Duration::from_secs(1);
    let mut last_tick = (start, 0u64);
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if now >= next_tick {
            let rate = (tally.messages - last_tick.1) as f64
                / now.duration_since(last_tick.0).as_secs_f64();
            bar.set_position(now.duration_since(start).as_millis() as u64);
            bar.set_message(format!("{rate:.0} msgs/s, {} errors", errors.count));
            last_tick = (now, tally.messages);
            next_tick += Duration::from_secs(1);
        }
        poller.wait(&mut events, Some(next_tick.min(deadline) - now))?;
        for ev in events.iter() {
            let i = ev.token().0;
            on_event(
                &mut poller,
                &mut conns,
                i,
                ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                &pattern,
                pipeline,
                false,
                &mut rbuf,
                &mut tally,
                &mut errors,
            );
        }
    }
    let elapsed = start.elapsed();
    tally.counting = false;
    bar.finish_and_clear();
    drain(
        &mut poller,
        &mut events,
        &mut conns,
        &pattern,
        pipeline,
        &mut rbuf,
        &mut tally,
        &mut errors,
    )?;
    // Every echo is in, so closing sends a plain FIN, not a reset for unread data.
    drop(conns);

    let secs = elapsed.as_secs_f64();
    let h = &tally.histogram;
    let latency = if h.is_empty() {
        Latency::default()
    } else {
        Latency {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            min: h.min(),
            mean: h.mean(),
        }
    };
    Ok(LoadReport {
        addr: config.addr.to_string(),
        connections: config.connections,
        active,
        size,
        pipeline,
        duration_s: secs,
        messages: tally.messages,
        bytes: tally.messages * size as u64,
        throughput_msgs_per_s: tally.messages as f64 / secs,
        throughput_bytes_per_s: (tally.messages * size as u64) as f64 / secs,
        latency_us: latency,
        errors: errors.count,
        first_error: errors.first,
    })
}

#[derive(Default)]
struct Errors {
    count: u64,
    first: Option<String>,
}

impl Errors {
    fn add(&mut self, what: String) {
        self.count += 1;
        self.first.get_or_insert(what);
    }
}

/// Wait until every connection is established (writable with no pending error), so the
/// measured period starts with all of them open.
fn wait_connected(
    poller: &mut Poller,
    events: &mut Events,
    conns: &mut [Option<Conn>],
    errors: &mut Errors,
) -> io::Result<()> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let mut pending = conns.iter().flatten().count();
    while pending > 0 {
        let now = Instant::now();
        if now >= deadline {
            for (i, slot) in conns.iter_mut().enumerate() {
                if slot.as_ref().is_some_and(|c| !c.connected) {
                    errors.add(format!("connection {i}: connect timed out"));
                    close(poller, slot);
                }
            }
            return Ok(());
        }
        poller.wait(events, Some(deadline - now))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(c) = conns[i].as_mut() else { continue };
            if c.connected {
                continue;
            }
            pending -= 1;
            match sockopt::socket_error(&c.fd) {
                Ok(Ok(())) => {
                    c.connected = true;
                    // Idle connections still listen, so an early close by the server is seen.
                    c.interest = Interest::READABLE;
                    poller.reregister(c.fd.as_fd(), Token(i), Interest::READABLE)?;
                }
                Ok(Err(e)) | Err(e) => {
                    errors.add(format!("connection {i}: connect: {e}"));
                    close(poller, &mut conns[i]);
                }
            }
        }
    }
    Ok(())
}

fn close(poller: &mut Poller, slot: &mut Option<Conn>) {
    if let Some(c) = slot.take() {
        let _ = poller.deregister(c.fd.as_fd());
    }
}

/// Send until `pipeline` messages are in flight or the socket is full; ask for writability
/// only while a message is stuck half-sent. With `stopping`, only finish a message already
/// begun.
fn pump(
    poller: &mut Poller,
    conns: &mut [Option<Conn>],
    i: usize,
    pattern: &Pattern,
    pipeline: usize,
    stopping: bool,
    errors: &mut Errors,
) {
    let Some(c) = conns[i].as_mut() else { return };
    if !c.active {
        return;
    }
    let mut blocked = false;
    loop {
        if c.started == c.sent {
            if stopping || c.in_flight() >= pipeline as u64 {
                break;
            }
            c.stamps.push_back(Instant::now());
            c.started += 1;
        }
        let msg = &pattern.message(i, c.sent)[c.send_off..];
        match net::send(&c.fd, msg, SendFlags::NOSIGNAL) {
            Ok(n) if n == msg.len() => {
                c.sent += 1;
                c.send_off = 0;
            }
            Ok(n) => {
                c.send_off += n;
                blocked = true;
                break;
            }
            Err(Errno::AGAIN) => {
                blocked = true;
                break;
            }
            Err(Errno::INTR) => {}
            Err(e) => {
                errors.add(format!("connection {i}: send: {e}"));
                close(poller, &mut conns[i]);
                return;
            }
        }
    }
    let want = Interest::new(true, blocked);
    if want != c.interest {
        c.interest = want;
        if let Err(e) = poller.reregister(c.fd.as_fd(), Token(i), want) {
            errors.add(format!("connection {i}: reregister: {e}"));
            close(poller, &mut conns[i]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn on_event(
    poller: &mut Poller,
    conns: &mut [Option<Conn>],
    i: usize,
    readable: bool,
    pattern: &Pattern,
    pipeline: usize,
    stopping: bool,
    rbuf: &mut [u8],
    tally: &mut Tally,
    errors: &mut Errors,
) {
    if readable {
        if let Err(e) = receive(conns, i, pattern, rbuf, tally) {
            errors.add(format!("connection {i}: {e}"));
            close(poller, &mut conns[i]);
            return;
        }
    }
    pump(poller, conns, i, pattern, pipeline, stopping, errors);
}

/// One `recv`, checked byte for byte against what was sent; completes messages.
fn receive(
    conns: &mut [Option<Conn>],
    i: usize,
    pattern: &Pattern,
    rbuf: &mut [u8],
    tally: &mut Tally,
) -> Result<(), String> {
    let Some(c) = conns[i].as_mut() else {
        return Ok(());
    };
    let n = match net::recv(&c.fd, &mut *rbuf, RecvFlags::empty()) {
        Ok((0, _)) => {
            return Err(format!(
                "server closed the connection with {} message(s) in flight",
                c.in_flight()
            ))
        }
        Ok((n, _)) => n,
        Err(Errno::AGAIN) | Err(Errno::INTR) => return Ok(()),
        Err(e) => return Err(format!("recv: {e}")),
    };
    let size = pattern.size;
    let mut data = &rbuf[..n];
    while !data.is_empty() {
        let stream_off = c.echoed * size as u64 + c.recv_off as u64;
        if c.echoed >= c.sent && c.recv_off + data.len() > c.send_off {
            return Err(format!(
                "more bytes came back than were sent (stream offset {})",
                stream_off + (c.send_off - c.recv_off) as u64
            ));
        }
        let take = (size - c.recv_off).min(data.len());
        let want = &pattern.message(i, c.echoed)[c.recv_off..c.recv_off + take];
        if want != &data[..take] {
            let k = want.iter().zip(data).position(|(a, b)| a != b).unwrap_or(0);
            return Err(format!(
                "first differing byte at stream offset {}: sent 0x{:02x}, got 0x{:02x}",
                stream_off + k as u64,
                want[k],
                data[k]
            ));
        }
        c.recv_off += take;
        data = &data[take..];
        if c.recv_off == size {
            c.recv_off = 0;
            c.echoed += 1;
            let sent_at = c.stamps.pop_front().expect("a stamp per message in flight");
            if tally.counting {
                let us = sent_at.elapsed().as_micros() as u64;
                tally.histogram.saturating_record(us.max(1));
                tally.messages += 1;
            }
        }
    }
    Ok(())
}

/// Finish messages begun in the period and receive their echoes, so connections close clean.
#[allow(clippy::too_many_arguments)]
fn drain(
    poller: &mut Poller,
    events: &mut Events,
    conns: &mut [Option<Conn>],
    pattern: &Pattern,
    pipeline: usize,
    rbuf: &mut [u8],
    tally: &mut Tally,
    errors: &mut Errors,
) -> io::Result<()> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        if conns.iter().flatten().all(Conn::idle_after_drain) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            for (i, slot) in conns.iter_mut().enumerate() {
                if let Some(c) = slot.as_ref().filter(|c| !c.idle_after_drain()) {
                    errors.add(format!(
                        "connection {i}: {} message(s) not echoed within {DRAIN_TIMEOUT:?} after the run",
                        c.in_flight()
                    ));
                    close(poller, slot);
                }
            }
            return Ok(());
        }
        poller.wait(events, Some(deadline - now))?;
        for ev in events.iter() {
            on_event(
                poller,
                conns,
                ev.token().0,
                ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                pattern,
                pipeline,
                true,
                rbuf,
                tally,
                errors,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_differ_between_connections_and_message_numbers() {
        let p = Pattern::new(1, 512);
        assert_eq!(p.message(0, 0).len(), 512);
        assert_ne!(p.message(0, 0), p.message(1, 0));
        assert_ne!(p.message(0, 0), p.message(0, 1));
        assert_eq!(p.message(3, 7), Pattern::new(1, 512).message(3, 7));
    }
}
