//! Introspection of the running server: SLOWLOG, LATENCY, MONITOR, MEMORY, CLIENT PAUSE's
//! state, ROLE, WAIT and LOLWUT, and the per-command record the dispatcher hands over after
//! every executed command ([`after_call`]): latency histogram, slow log, latency events and the
//! MONITOR feed. What it may not touch: the keyspace (MEMORY USAGE only measures a key).
//!
//! Costs on the hot path: [`after_call`] is one histogram increment and two comparisons unless
//! a monitor is attached or the command was slow; the durations come from one clock read per
//! command that the dispatcher already takes.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use readyloop_server::{ConnId, Ctx};

use crate::commands::keys::help;
use crate::commands::table::{check_sub, Command, COMMANDS, F_ADMIN, F_FAST};
use crate::keyspace::Value;
use crate::protocol::{parse_i64, Args, Reply};
use crate::service::{Client, Core, Exec};

/// Histogram buckets: bucket `b` counts calls that took less than 2^b microseconds (the last
/// bucket takes the rest), the powers of two Redis's LATENCY HISTOGRAM reports.
const BUCKETS: usize = 32;

/// Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING.
const SLOW_MAX_ARGC: usize = 32;
const SLOW_MAX_STRING: usize = 128;
/// Redis's LATENCY_TS_LEN: samples kept per event.
const LATENCY_SAMPLES: usize = 160;

struct SlowEntry {
    id: u64,
    time: u64,
    micros: u64,
    args: Vec<Vec<u8>>,
    addr: String,
    name: Vec<u8>,
}

#[derive(Default)]
struct LatencyEvent {
    /// (unix seconds, milliseconds), oldest first; one sample per second (the max).
    samples: VecDeque<(u64, u64)>,
    max: u64,
}

/// What CLIENT PAUSE holds back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PauseKind {
    Write,
    All,
}

/// Server-wide introspection state.
pub struct Intro {
    slowlog: VecDeque<SlowEntry>,
    slow_next_id: u64,
    /// `slowlog-log-slower-than` in microseconds (negative: off), cached from the config.
    pub slow_threshold: i64,
    pub slow_max_len: usize,
    /// `latency-monitor-threshold` in milliseconds (0: off).
    pub latency_threshold: u64,
    latency: std::collections::BTreeMap<&'static str, LatencyEvent>,
    /// Per command: calls by power-of-two microseconds.
    histograms: Vec<[u64; BUCKETS]>,
    /// (client id, connection) of every MONITOR.
    monitors: Vec<(u64, ConnId)>,
    /// CLIENT PAUSE: what, and until when.
    pub pause: Option<(PauseKind, Instant)>,
    /// Connections held back by the pause, resumed when it ends.
    pub paused: Vec<ConnId>,
    /// The largest `used_memory` seen (INFO's used_memory_peak).
    pub peak_memory: usize,
}

impl Default for Intro {
    fn default() -> Intro {
        Intro {
            slowlog: VecDeque::new(),
            slow_next_id: 0,
            slow_threshold: 10_000,
            slow_max_len: 128,
            latency_threshold: 0,
            latency: Default::default(),
            histograms: vec![[0; BUCKETS]; COMMANDS.len()],
            monitors: Vec::new(),
            pause: None,
            paused: Vec::new(),
            peak_memory: 0,
        }
    }
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Re-read the settings this module caches (after CONFIG SET).
pub fn config_changed(core: &mut Core) {
    let get = |name: &str| {
        core.extra
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.parse::<i64>().ok())
    };
    let t = get("slowlog-log-slower-than").unwrap_or(10_000);
    let m = get("slowlog-max-len").unwrap_or(128).max(0) as usize;
    let l = get("latency-monitor-threshold").unwrap_or(0).max(0) as u64;
    core.acl.log_max = get("acllog-max-len").unwrap_or(128).max(0) as usize;
    while core.acl.log.len() > core.acl.log_max {
        core.acl.log.pop_back();
    }
    let i = &mut core.intro;
    i.slow_threshold = t;
    i.slow_max_len = m;
    i.latency_threshold = l;
}

/// Which arguments Redis replaces by `(redacted)` in the slow log and MONITOR (passwords).
fn redacted(name: &str, a: &Args<'_>, j: usize) -> bool {
    match name {
        "auth" => j >= 1,
        "hello" => (3..a.len())
            .find(|&k| a.get(k).eq_ignore_ascii_case(b"auth"))
            .is_some_and(|k| j == k + 1 || j == k + 2),
        "acl" => a.get(1).eq_ignore_ascii_case(b"setuser") && j >= 2,
        "config" => {
            a.get(1).eq_ignore_ascii_case(b"set")
                && j >= 3
                && j % 2 == 1
                && matches!(
                    a.get(j - 1).to_ascii_lowercase().as_slice(),
                    b"masterauth" | b"masteruser" | b"requirepass"
                )
        }
        _ => false,
    }
}

/// Commands Redis leaves out of the slow log: EXEC only wraps others, logged themselves.
fn skip_slowlog(name: &str) -> bool {
    name == "exec"
}

/// The record of one executed command (not one queued by MULTI).
pub fn after_call(
    core: &mut Core,
    client: &Client,
    ci: usize,
    args: &Args<'_>,
    nanos: u64,
    ctx: &mut Ctx<'_>,
) {
    let cmd: &'static Command = &COMMANDS[ci];
    let micros = nanos / 1000;
    let b = (64 - micros.leading_zeros() as usize).min(BUCKETS - 1);
    core.intro.histograms[ci][b] += 1;
    let intro = &mut core.intro;
    if intro.slow_threshold >= 0 && micros >= intro.slow_threshold as u64 && !skip_slowlog(cmd.name)
    {
        slowlog_push(intro, client, cmd, args, micros);
    }
    if intro.latency_threshold > 0 && micros / 1000 >= intro.latency_threshold {
        let event = if cmd.flags & F_FAST != 0 {
            "fast-command"
        } else {
            "command"
        };
        latency_add(intro, event, micros / 1000);
    }
    if !intro.monitors.is_empty() && cmd.flags & F_ADMIN == 0 {
        feed_monitors(core, client, cmd.name, args, ctx);
    }
}

#[cold]
fn slowlog_push(intro: &mut Intro, client: &Client, cmd: &Command, a: &Args<'_>, micros: u64) {
    let argc = a.len().min(SLOW_MAX_ARGC);
    let mut args = Vec::with_capacity(argc);
    for j in 0..argc {
        if argc != a.len() && j == argc - 1 {
            args.push(format!("... ({} more arguments)", a.len() - argc + 1).into_bytes());
            break;
        }
        if redacted(cmd.name, a, j) {
            args.push(b"(redacted)".to_vec());
            continue;
        }
        let v = a.get(j);
        if v.len() > SLOW_MAX_STRING {
            let mut s = v[..SLOW_MAX_STRING].to_vec();
            s.extend_from_slice(
                format!("... ({} more bytes)", v.len() - SLOW_MAX_STRING).as_bytes(),
            );
            args.push(s);
        } else {
            args.push(v.to_vec());
        }
    }
    intro.slowlog.push_front(SlowEntry {
        id: intro.slow_next_id,
        time: unix_now().as_secs(),
        micros,
        args,
        addr: client.addr.clone(),
        name: client.name.clone(),
    });
    intro.slow_next_id += 1;
    while intro.slowlog.len() > intro.slow_max_len {
        intro.slowlog.pop_back();
    }
}

#[cold]
fn latency_add(intro: &mut Intro, event: &'static str, ms: u64) {
    let now = unix_now().as_secs();
    let e = intro.latency.entry(event).or_default();
    e.max = e.max.max(ms);
    match e.samples.back_mut() {
        Some(last) if last.0 == now => last.1 = last.1.max(ms),
        _ => {
            e.samples.push_back((now, ms));
            if e.samples.len() > LATENCY_SAMPLES {
                e.samples.pop_front();
            }
        }
    }
}

/// Redis's sdscatrepr: a quoted string with C escapes.
fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cold]
fn feed_monitors(core: &mut Core, client: &Client, name: &str, a: &Args<'_>, ctx: &mut Ctx<'_>) {
    let t = unix_now();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        t.as_secs(),
        t.subsec_micros(),
        client.db,
        client.addr
    )
    .into_bytes();
    for j in 0..a.len() {
        line.push(b' ');
        if redacted(name, a, j) {
            line.extend_from_slice(b"\"(redacted)\"");
        } else {
            repr(&mut line, a.get(j));
        }
    }
    line.extend_from_slice(b"\r\n");
    for &(id, conn) in &core.intro.monitors {
        if id == client.id {
            ctx.out().extend_from_slice(&line);
        } else {
            ctx.send_to(conn, &line);
        }
    }
}

/// A client left (or RESET): it no longer monitors.
pub fn closed(core: &mut Core, client: u64) {
    core.intro.monitors.retain(|&(id, _)| id != client);
}

pub fn is_monitor(core: &Core, client: u64) -> bool {
    core.intro.monitors.iter().any(|&(id, _)| id == client)
}

pub fn monitor(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    if x.core.multi.in_multi(x.client.id) {
        return x.err("ERR MONITOR isn't allowed in MULTI");
    }
    if !is_monitor(x.core, x.client.id) {
        x.core.intro.monitors.push((x.client.id, x.client.conn));
    }
    x.r().ok();
}

// ---------------------------------------------------------------------------------------------
// SLOWLOG

pub fn slowlog(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match check_sub(x, &a, "slowlog") {
        Some("get") => {
            let mut count = 10usize;
            if a.len() == 3 {
                match parse_i64(a.get(2)) {
                    Some(-1) => count = usize::MAX,
                    Some(n) if n >= 0 => count = n as usize,
                    _ => return x.err("ERR count should be greater than or equal to -1"),
                }
            }
            let n = count.min(x.core.intro.slowlog.len());
            let resp3 = x.client.resp3;
            let Exec { core, ctx, .. } = x;
            let mut r = Reply {
                buf: ctx.out(),
                resp3,
            };
            r.array(n);
            for e in core.intro.slowlog.iter().take(n) {
                r.array(6);
                r.int(e.id as i64);
                r.int(e.time as i64);
                r.int(e.micros as i64);
                r.array(e.args.len());
                for arg in &e.args {
                    r.bulk(arg);
                }
                r.bulk(e.addr.as_bytes());
                r.bulk(&e.name);
            }
        }
        Some("len") => {
            let n = x.core.intro.slowlog.len();
            x.r().int(n as i64);
        }
        Some("reset") => {
            x.core.intro.slowlog.clear();
            x.r().ok();
        }
        Some(_) => help(
            x,
            &[
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Print this help.",
            ],
        ),
        None => {}
    }
}

// ---------------------------------------------------------------------------------------------
// LATENCY

/// The cumulative histogram of one command, as LATENCY HISTOGRAM's `histogram_usec`.
fn histogram_reply(r: &mut Reply<'_>, name: &str, h: &[u64; BUCKETS]) {
    let calls: u64 = h.iter().sum();
    r.bulk(name.as_bytes());
    r.map(2);
    r.bulk(b"calls");
    r.int(calls as i64);
    r.bulk(b"histogram_usec");
    let used: Vec<usize> = (0..BUCKETS).filter(|&b| h[b] > 0).collect();
    let (lo, hi) = match (used.first(), used.last()) {
        (Some(&l), Some(&h)) => (l, h),
        _ => (0, 0),
    };
    let n = if calls == 0 { 0 } else { hi - lo + 1 };
    r.map(n);
    let mut acc = 0u64;
    for (b, &c) in h.iter().enumerate() {
        acc += c;
        if calls > 0 && (lo..=hi).contains(&b) {
            r.int(1i64 << b);
            r.int(acc as i64);
        }
    }
}

/// The latency of the `p`-th percentile of a histogram, in microseconds (its bucket's bound).
fn percentile(h: &[u64; BUCKETS], p: f64) -> u64 {
    let calls: u64 = h.iter().sum();
    let want = ((calls as f64) * p / 100.0).ceil() as u64;
    let mut acc = 0;
    for (b, &c) in h.iter().enumerate() {
        acc += c;
        if acc >= want.max(1) {
            return 1u64 << b;
        }
    }
    0
}

/// INFO latencystats.
pub fn latency_info(core: &Core) -> String {
    let mut s = String::new();
    for (c, h) in COMMANDS.iter().zip(&core.intro.histograms) {
        if h.iter().all(|&n| n == 0) {
            continue;
        }
        let _ = write!(
            s,
            "latency_percentiles_usec_{}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
            c.name,
            percentile(h, 50.0) as f64,
            percentile(h, 99.0) as f64,
            percentile(h, 99.9) as f64
        );
    }
    s
}

/// CONFIG RESETSTAT: the histograms start again.
pub fn reset_stats(core: &mut Core) {
    for h in &mut core.intro.histograms {
        *h = [0; BUCKETS];
    }
}

pub fn latency(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match check_sub(x, &a, "latency") {
        Some("latest") => {
            let rows: Vec<(&str, u64, u64, u64)> = x
                .core
                .intro
                .latency
                .iter()
                .filter_map(|(n, e)| e.samples.back().map(|&(t, ms)| (*n, t, ms, e.max)))
                .collect();
            let mut r = x.r();
            r.array(rows.len());
            for (n, t, ms, max) in rows {
                r.array(4);
                r.bulk(n.as_bytes());
                r.int(t as i64);
                r.int(ms as i64);
                r.int(max as i64);
            }
        }
        Some("history") => {
            let name = String::from_utf8_lossy(a.get(2)).to_ascii_lowercase();
            let samples: Vec<(u64, u64)> = x
                .core
                .intro
                .latency
                .get(name.as_str())
                .map(|e| e.samples.iter().copied().collect())
                .unwrap_or_default();
            let mut r = x.r();
            r.array(samples.len());
            for (t, ms) in samples {
                r.array(2);
                r.int(t as i64);
                r.int(ms as i64);
            }
        }
        Some("reset") => {
            let lat = &mut x.core.intro.latency;
            let n = if a.len() == 2 {
                let n = lat.len();
                lat.clear();
                n
            } else {
                a.iter()
                    .skip(2)
                    .filter(|e| {
                        let e = String::from_utf8_lossy(e).to_ascii_lowercase();
                        lat.remove(e.as_str()).is_some()
                    })
                    .count()
            };
            x.r().int(n as i64);
        }
        Some("doctor") => {
            let text = doctor_text(x.core);
            x.r().verbatim(text.as_bytes());
        }
        Some("histogram") => {
            let names: Vec<usize> = if a.len() == 2 {
                (0..COMMANDS.len()).collect()
            } else {
                a.iter()
                    .skip(2)
                    .filter_map(|n| {
                        let n = String::from_utf8_lossy(n).to_ascii_lowercase();
                        COMMANDS.iter().position(|c| c.name == n)
                    })
                    .collect()
            };
            let rows: Vec<usize> = names
                .into_iter()
                .filter(|&ci| x.core.intro.histograms[ci].iter().any(|&n| n > 0))
                .collect();
            let resp3 = x.client.resp3;
            let Exec { core, ctx, .. } = x;
            let mut r = Reply {
                buf: ctx.out(),
                resp3,
            };
            r.map(rows.len());
            for ci in rows {
                histogram_reply(&mut r, COMMANDS[ci].name, &core.intro.histograms[ci]);
            }
        }
        Some(_) => help(
            x,
            &[
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HISTOGRAM [COMMAND ...]",
                "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
                "    If no commands are specified then all histograms are replied.",
                "HELP",
                "    Print this help.",
            ],
        ),
        None => {}
    }
}

fn doctor_text(core: &Core) -> String {
    let lat = &core.intro.latency;
    if lat.is_empty() {
        if core.intro.latency_threshold == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string();
        }
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep peacefully! Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n".to_string();
    }
    let mut s = String::from(
        "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
    );
    for (i, (name, e)) in lat.iter().enumerate() {
        let n = e.samples.len().max(1) as u64;
        let avg = e.samples.iter().map(|s| s.1).sum::<u64>() / n;
        let _ = writeln!(
            s,
            "{}. {name}: {} latency spikes (average {avg}ms, mean deviation 0ms, period 0 sec). Worst all time event {}ms.",
            i + 1,
            e.samples.len(),
            e.max
        );
    }
    s.push_str("\nI have a few advices for you:\n\n- Check your commands: slow commands are the usual cause; SLOWLOG GET shows them.\n");
    s
}

// ---------------------------------------------------------------------------------------------
// MEMORY

/// jemalloc's size class of an `n`-byte allocation (8, 16, 32, 48 ... 128, then four classes
/// per doubling): what Redis's MEMORY USAGE counts for each piece.
fn size_class(n: usize) -> usize {
    if n <= 8 {
        8
    } else if n <= 128 {
        n.div_ceil(16) * 16
    } else {
        let step = n.next_power_of_two() / 8;
        n.div_ceil(step) * step
    }
}

/// Redis's sds header for a string of `len` bytes, plus the terminator.
fn sds_overhead(len: usize) -> usize {
    match len {
        0..=255 => 4,
        256..=65_535 => 6,
        _ => 10,
    }
}

/// Bytes a key costs as Redis's MEMORY USAGE counts them: the table entry, the key's sds, the
/// value object and what it owns (collections: the same estimate `used_memory` sums).
fn key_usage(x: &mut Exec<'_, '_>, i: crate::keyspace::Idx) -> usize {
    const ENTRY: usize = 24;
    const ROBJ: usize = 16;
    let db = x.db();
    let klen = db.key(i).len();
    // Keys shorter than 32 bytes get Redis's smallest sds header (one byte).
    let key = size_class(klen + if klen < 32 { 2 } else { sds_overhead(klen) });
    let value = match db.obj(i) {
        Some(o) => ROBJ + o.mem_bytes(),
        None => match db.value(i) {
            Value::Int(_) => ROBJ,
            // Redis embeds strings up to 44 bytes in the object (one allocation).
            Value::Str(s) if s.len() <= 44 => size_class(ROBJ + s.len() + 4),
            Value::Str(s) => ROBJ + size_class(s.len() + sds_overhead(s.len())),
        },
    };
    ENTRY + key + value
}

pub fn memory(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match check_sub(x, &a, "memory") {
        Some("usage") => {
            let mut j = 3;
            while j < a.len() {
                if a.get(j).eq_ignore_ascii_case(b"samples") && j + 1 < a.len() {
                    match parse_i64(a.get(j + 1)) {
                        Some(n) if n >= 0 => {}
                        Some(_) => return x.err("ERR value is out of range, must be positive"),
                        None => return x.err(crate::commands::strings::NOT_INT),
                    }
                    j += 2;
                } else {
                    return x.err(crate::commands::strings::SYNTAX);
                }
            }
            match x.peek(a.get(2)) {
                None => x.r().null(),
                Some(i) => {
                    let n = key_usage(x, i);
                    x.r().int(n as i64);
                }
            }
        }
        Some("stats") => memory_stats(x),
        Some("doctor") => {
            let used = x.core.used_memory();
            let text = if used < 5 << 20 {
                "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
            } else {
                "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
            };
            x.r().verbatim(text.as_bytes());
        }
        Some("malloc-stats") => x
            .r()
            .verbatim(b"Stats not supported for the current allocator"),
        Some("purge") => x.r().ok(),
        Some(_) => help(
            x,
            &[
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Print this help.",
            ],
        ),
        None => {}
    }
}

/// The largest used_memory seen, updated when asked and on the tick.
pub fn note_peak(core: &mut Core) -> usize {
    let used = core.used_memory();
    core.intro.peak_memory = core.intro.peak_memory.max(used);
    core.intro.peak_memory
}

fn memory_stats(x: &mut Exec<'_, '_>) {
    let peak = note_peak(x.core) as i64;
    let core = &*x.core;
    let used = core.used_memory() as i64;
    let dataset: i64 = core.dbs.iter().map(|d| d.used_bytes() as i64).sum();
    let clients = (core.live_clients * 1024) as i64;
    let startup = (1i64) << 20;
    let overhead = used - dataset;
    let keys: i64 = core.dbs.iter().map(|d| d.len() as i64).sum();
    let rss = crate::commands::server::rss_bytes() as i64;
    let dbs: Vec<(usize, i64, i64)> = core
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, d)| !d.is_empty())
        .map(|(i, d)| {
            let table = ((d.len() * 8 / 7).next_power_of_two() * 5) as i64;
            let exp = (d.expires_len() * (12 * 8 / 7 + 1 + 24)) as i64;
            (i, table, exp)
        })
        .collect();
    let pct = |a: i64, b: i64| {
        if b > 0 {
            a as f64 * 100.0 / b as f64
        } else {
            0.0
        }
    };
    let mut r = x.r();
    r.map(27 + dbs.len());
    let int = |r: &mut Reply<'_>, k: &str, v: i64| {
        r.bulk(k.as_bytes());
        r.int(v);
    };
    int(&mut r, "peak.allocated", peak);
    int(&mut r, "total.allocated", used);
    int(&mut r, "startup.allocated", startup);
    int(&mut r, "replication.backlog", 0);
    int(&mut r, "clients.slaves", 0);
    int(&mut r, "clients.normal", clients);
    int(&mut r, "cluster.links", 0);
    int(&mut r, "aof.buffer", 0);
    int(&mut r, "lua.caches", 0);
    int(&mut r, "functions.caches", 0);
    for (i, table, exp) in &dbs {
        r.bulk(format!("db.{i}").as_bytes());
        r.map(2);
        int(&mut r, "overhead.hashtable.main", *table);
        int(&mut r, "overhead.hashtable.expires", *exp);
    }
    int(&mut r, "overhead.total", overhead);
    int(&mut r, "keys.count", keys);
    int(
        &mut r,
        "keys.bytes-per-key",
        if keys > 0 { dataset / keys } else { 0 },
    );
    int(&mut r, "dataset.bytes", dataset);
    r.bulk(b"dataset.percentage");
    r.double(pct(dataset, used));
    r.bulk(b"peak.percentage");
    r.double(pct(used, peak));
    int(&mut r, "allocator.allocated", used);
    int(&mut r, "allocator.active", used);
    int(&mut r, "allocator.resident", rss);
    r.bulk(b"allocator-fragmentation.ratio");
    r.double(1.0);
    int(&mut r, "allocator-fragmentation.bytes", 0);
    r.bulk(b"allocator.rss-ratio");
    r.double(if used > 0 {
        rss as f64 / used as f64
    } else {
        0.0
    });
    int(&mut r, "allocator.rss-bytes", rss - used);
    r.bulk(b"rss-overhead.ratio");
    r.double(1.0);
    int(&mut r, "rss-overhead.bytes", 0);
    r.bulk(b"fragmentation");
    r.double(if used > 0 {
        rss as f64 / used as f64
    } else {
        0.0
    });
    int(&mut r, "fragmentation.bytes", rss - used);
}

// ---------------------------------------------------------------------------------------------
// ROLE, WAIT, LOLWUT

pub fn role(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let mut r = x.r();
    r.array(3);
    r.bulk(b"master");
    r.int(0);
    r.array(0);
}

/// WAIT numreplicas timeout: a server without replicas has none to acknowledge anything, so
/// the answer is 0. Redis would first wait out the timeout when numreplicas > 0; answering at
/// once gives the same count without holding the client (a timeout of 0 would hold it forever).
pub fn wait(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(_) = parse_i64(a.get(1)) else {
        return x.err(crate::commands::strings::NOT_INT);
    };
    match parse_i64(a.get(2)) {
        Some(t) if t < 0 => x.err("ERR timeout is negative"),
        Some(_) => x.r().int(0),
        None => x.err("ERR timeout is not an integer or out of range"),
    }
}

/// LOLWUT [VERSION v]: a small generated picture (Schotter-like squares) and the version line.
pub fn lolwut(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut j = 1;
    while j < a.len() {
        if a.get(j).eq_ignore_ascii_case(b"version") && j + 1 < a.len() {
            if parse_i64(a.get(j + 1)).is_none() {
                return x.err(crate::commands::strings::NOT_INT);
            }
            j += 2;
        } else {
            j += 1;
        }
    }
    let mut s = String::new();
    let mut seed = x.core.random();
    for row in 0..8 {
        for _ in 0..32 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let chaos = row as u64 * 2;
            s.push(if (seed >> 60) < chaos {
                '\u{2592}'
            } else {
                '\u{2588}'
            });
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. {}",
        crate::commands::server::VERSION
    );
    x.r().verbatim(s.as_bytes());
}

// ---------------------------------------------------------------------------------------------
// CLIENT PAUSE

/// Is a command with these flags held back by the current pause? Redis's "may replicate"
/// commands count as writes (PUBLISH, PFCOUNT, EVAL...).
pub fn pause_holds(core: &Core, cmd: &Command, flags: u32) -> bool {
    match core.intro.pause {
        None => false,
        Some((PauseKind::All, _)) => true,
        Some((PauseKind::Write, _)) => {
            flags & crate::commands::table::F_WRITE != 0
                || matches!(
                    cmd.name,
                    "publish" | "spublish" | "pfcount" | "eval" | "evalsha" | "fcall" | "wait"
                )
        }
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL].
pub fn client_pause(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let ms = match parse_i64(a.get(2)) {
        Some(n) if n >= 0 => n as u64,
        Some(_) => return x.err("ERR timeout is negative"),
        None => return x.err("ERR timeout is not an integer or out of range"),
    };
    let kind = match a.len() {
        3 => PauseKind::All,
        4 if a.get(3).eq_ignore_ascii_case(b"write") => PauseKind::Write,
        4 if a.get(3).eq_ignore_ascii_case(b"all") => PauseKind::All,
        4 => return x.err("ERR CLIENT PAUSE mode must be WRITE or ALL"),
        _ => return x.err(crate::commands::strings::SYNTAX),
    };
    let until = x.ctx.now() + std::time::Duration::from_millis(ms);
    // A second pause extends the first and can only widen what it holds (as Redis).
    let (kind, until) = match x.core.intro.pause {
        Some((k, u)) => (
            if k == PauseKind::All || kind == PauseKind::All {
                PauseKind::All
            } else {
                PauseKind::Write
            },
            u.max(until),
        ),
        None => (kind, until),
    };
    x.core.intro.pause = Some((kind, until));
    x.r().ok();
}

pub fn client_unpause(x: &mut Exec<'_, '_>) {
    unpause(x.core, x.ctx);
    x.r().ok();
}

fn unpause(core: &mut Core, ctx: &mut Ctx<'_>) {
    core.intro.pause = None;
    for id in core.intro.paused.drain(..) {
        ctx.resume(id);
    }
}

/// The tick: end a pause whose time is up; the next moment to look again.
pub fn tick(core: &mut Core, ctx: &mut Ctx<'_>) -> Option<Instant> {
    note_peak(core);
    match core.intro.pause {
        Some((_, until)) if ctx.now() >= until => {
            unpause(core, ctx);
            None
        }
        Some((_, until)) => Some(until),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_bounds() {
        let mut h = [0u64; BUCKETS];
        h[3] = 98; // < 8 us
        h[10] = 2; // < 1024 us
        assert_eq!(percentile(&h, 50.0), 8);
        assert_eq!(percentile(&h, 99.0), 1024);
        assert_eq!(percentile(&[0; BUCKETS], 50.0), 0);
    }

    #[test]
    fn repr_escapes_as_redis() {
        let mut v = Vec::new();
        repr(&mut v, b"a\"b\\\n\x01 z");
        assert_eq!(v, b"\"a\\\"b\\\\\\n\\x01 z\"".to_vec());
    }
}
