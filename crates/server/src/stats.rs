//! Counters the loop keeps; printed with `--stats-interval` and at shutdown.

use std::fmt;

use reactor::PollerStats;

/// What one event loop did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted (served).
    pub accepted: u64,
    /// Connections closed, for any reason.
    pub closed: u64,
    /// Connections accepted and closed at once because `--max-clients` was reached.
    pub rejected: u64,
    /// Connections closed because their pending output passed `--max-output`.
    pub output_overflows: u64,
    /// Connections closed by an I/O error (reset, broken pipe).
    pub io_errors: u64,
    /// Times accepting was paused because the process ran out of descriptors.
    pub accept_pauses: u64,
    /// Events for a connection that had already been closed (dropped by the generation check).
    pub stale_events: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// `recv` calls.
    pub reads: u64,
    /// `send` calls.
    pub writes: u64,
    /// `accept4` calls.
    pub accepts: u64,
    /// The poller's own counters (waits, events, descriptors examined, ctl calls).
    pub poller: PollerStats,
}

impl Stats {
    /// Sum of two loops' counters.
    pub fn merge(&mut self, o: &Stats) {
        self.accepted += o.accepted;
        self.closed += o.closed;
        self.rejected += o.rejected;
        self.output_overflows += o.output_overflows;
        self.io_errors += o.io_errors;
        self.accept_pauses += o.accept_pauses;
        self.stale_events += o.stale_events;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.reads += o.reads;
        self.writes += o.writes;
        self.accepts += o.accepts;
        self.poller.waits += o.poller.waits;
        self.poller.events += o.poller.events;
        self.poller.examined += o.poller.examined;
        self.poller.ctl += o.poller.ctl;
    }

    /// Syscalls the loop issued (wait + ctl + accept + read + write).
    pub fn syscalls(&self) -> u64 {
        self.poller.waits + self.poller.ctl + self.accepts + self.reads + self.writes
    }
}

fn per(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Every counter as `key=value`, space separated, so tools can parse and diff two snapshots;
/// the two ratios at the end are for people.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.poller;
        let fields = [
            ("accepted", self.accepted),
            ("closed", self.closed),
            ("rejected", self.rejected),
            ("overflow", self.output_overflows),
            ("io_errors", self.io_errors),
            ("accept_pauses", self.accept_pauses),
            ("stale_events", self.stale_events),
            ("bytes_in", self.bytes_in),
            ("bytes_out", self.bytes_out),
            ("wakeups", p.waits),
            ("events", p.events),
            ("examined", p.examined),
            ("ctl", p.ctl),
            ("accepts", self.accepts),
            ("reads", self.reads),
            ("writes", self.writes),
        ];
        for (name, value) in fields {
            write!(f, "{name}={value} ")?;
        }
        write!(
            f,
            "events_per_wakeup={:.2} examined_per_wakeup={:.1}",
            per(p.events, p.waits),
            per(p.examined, p.waits)
        )
    }
}
