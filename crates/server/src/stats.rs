//! Counters the loop keeps; printed with `--stats-interval`, on SIGUSR1 and at shutdown, and
//! returned by [`Server::run`](crate::Server::run).
//!
//! One table ([`counters!`]) defines every counter: the struct field, its key in the stats
//! line, whether two loops' values add up (counters) or describe "now" (gauges, summed too:
//! two loops' open connections add up), and the list a tool iterates over.

use std::fmt;

macro_rules! counters {
    ($( $(#[doc = $doc:literal])* $field:ident => $key:literal, )*) => {
        /// What one event loop did (and, for the gauges, holds now).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $( $(#[doc = $doc])* pub $field: u64, )*
            /// The service's own counters (name, value), from [`Service::counters`](crate::Service::counters).
            pub service: Vec<(&'static str, u64)>,
        }

        impl Stats {
            /// Every loop counter as (stats-line key, value), in stats-line order.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$( ($key, self.$field), )*]
            }

            /// Sum of two loops' counters (service counters are summed by name).
            pub fn merge(&mut self, o: &Stats) {
                $( self.$field += o.$field; )*
                for &(name, v) in &o.service {
                    match self.service.iter_mut().find(|(n, _)| *n == name) {
                        Some(e) => e.1 += v,
                        None => self.service.push((name, v)),
                    }
                }
            }
        }
    };
}

counters! {
    /// Connections accepted (served).
    accepted => "accepted",
    /// Connections closed, for any reason.
    closed => "closed",
    /// Connections accepted and closed at once because `--max-clients` was reached.
    rejected => "rejected",
    /// Connections closed because their pending output passed `max_output`.
    output_overflows => "overflow",
    /// Connections closed because their unconsumed input passed `max_input`.
    input_overflows => "input_overflow",
    /// Connections closed by an I/O error (reset, broken pipe).
    io_errors => "io_errors",
    /// Connections closed because the service misbehaved (consumed more than it was given).
    service_errors => "service_errors",
    /// Connections closed for sending nothing for `idle_timeout`.
    idle_closed => "idle_closed",
    /// Times accepting was paused because the process ran out of descriptors.
    accept_pauses => "accept_pauses",
    /// Events for a connection that had already been closed (dropped by the generation check).
    stale_events => "stale_events",
    /// Deferred replies, messages or requests for a connection that had closed (dropped).
    stale_completions => "stale_completions",
    /// Bytes read from clients.
    bytes_in => "bytes_in",
    /// Bytes written to clients.
    bytes_out => "bytes_out",
    /// Calls to the wait syscall (`ppoll` / `epoll_pwait`).
    waits => "wakeups",
    /// Events returned, summed over all waits.
    events => "events",
    /// Descriptors the kernel examined, summed over all waits (poll: all; epoll: the ready ones).
    examined => "examined",
    /// Registration changes (`epoll_ctl`, or `pollfd` edits).
    ctl => "ctl",
    /// `accept4` calls.
    accepts => "accepts",
    /// `recv` calls.
    reads => "reads",
    /// `send` calls.
    writes => "writes",
    /// Wake-ups through the loop's waker (stop requests, completions from other threads).
    waker_events => "waker_events",
    /// Gauge: connections open now.
    open => "open",
    /// Gauge: armed timers now (loop timers plus connections tracked for the idle timeout).
    timers => "timers",
}

impl Stats {
    /// Syscalls the loop issued (wait + ctl + accept + read + write).
    pub fn syscalls(&self) -> u64 {
        self.waits + self.ctl + self.accepts + self.reads + self.writes
    }
}

fn per(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Every counter as `key=value`, space separated, so tools can parse and diff two snapshots
/// (the service's counters follow the loop's); the ratios at the end are for people.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self
            .fields()
            .into_iter()
            .chain(self.service.iter().copied())
        {
            write!(f, "{name}={value} ")?;
        }
        write!(
            f,
            "syscalls={} events_per_wakeup={:.2} examined_per_wakeup={:.1}",
            self.syscalls(),
            per(self.events, self.waits),
            per(self.examined, self.waits)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_in_the_line_and_merges() {
        let mut a = Stats {
            accepted: 1,
            reads: 7,
            service: vec![("jobs", 2)],
            ..Stats::default()
        };
        let b = Stats {
            accepted: 2,
            timers: 3,
            service: vec![("jobs", 5), ("panics", 1)],
            ..Stats::default()
        };
        a.merge(&b);
        assert_eq!((a.accepted, a.reads, a.timers), (3, 7, 3));
        assert_eq!(a.service, vec![("jobs", 7), ("panics", 1)]);
        let line = a.to_string();
        for (key, value) in a.fields() {
            assert!(
                line.contains(&format!("{key}={value} ")),
                "{key} missing: {line}"
            );
        }
        assert!(line.contains("jobs=7 panics=1 "), "{line}");
        let keys: std::collections::HashSet<_> = a.fields().iter().map(|f| f.0).collect();
        assert_eq!(keys.len(), a.fields().len(), "duplicate key in the table");
    }
}
