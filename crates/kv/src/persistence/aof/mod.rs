//! The append-only log, as Redis 7 keeps it: `DIR/appendonlydir/` holds a base file, an
//! incremental file and a manifest naming both (`file NAME seq N type b|i`). Every write that
//! changed data is appended in RESP, a `SELECT` before it when the database differs from the
//! previous record's, and commands whose replay would not reproduce the effect (relative
//! expiry, `INCRBYFLOAT`, `GETDEL`, ...) are logged as the effect they had.
//!
//! ```text
//! command changed data ─▶ feed(): RESP into `buf`, reply held (Ctx::hold); under `always`
//!                        every later reply of the iteration is held too (holds_every_reply)
//! tick (once per loop iteration, before held replies leave) ─▶ write(buf)
//!     always:   fdatasync on the loop, one per iteration for every write of it (group commit)
//!     everysec: fdatasync on a pool worker once a second; the loop never waits for it
//!     no:       the kernel decides
//! write fails ─▶ clients whose writes were in `buf` are disconnected (never acknowledged),
//!                writes get -MISCONF, the buffer is retried until the disk takes it
//! ```
//!
//! everysec's bound: a write(2) here never waits for the running fsync, so a disk that takes
//! seconds to sync would let acknowledged-but-unsynced writes pile up without limit. Once an
//! fsync has run for [`FSYNC_BOUND`] (2 s, Redis's figure), write commands are delayed: their
//! connection is paused with the command unread, reads go on, and they run when the fsync
//! ends. Each delayed command counts in INFO's `aof_delayed_fsync`.
//!
//! # Compaction without a stall
//!
//! A rewrite needs the dataset as it was at one instant T0 (the moment the new incremental
//! file starts receiving records): base(T0) + incr(after T0) must replay to the live dataset.
//! Three ways to get that view were weighed:
//! - **fork** (Redis): the kernel's copy-on-write gives the view for free, but the fork itself
//!   copies the page tables (Redis's measured stall here is 100+ ms for 1M keys) and every
//!   page written afterwards is copied; and threads (our pool) do not mix with fork.
//! - **a copy on the loop** (what this file did before): simple and exact, but O(dataset) on
//!   the loop: 120 ms for 1M keys, p99.9 during a rewrite 4.3x its baseline.
//! - **incremental, copy-on-write per slot** (chosen). Keys live in a slab of slots with
//!   stable numbers (`keyspace::db`); at T0 each database gets a view: a cursor, the slab's length
//!   then (`end`), and a bitmap of slots already written out. Each tick writes out the next
//!   slots from the cursor for at most [`SLICE`] (250 µs) of loop time. And every method of
//!   `Db` that changes a slot (overwrite, in-place change of a collection, deadline, removal,
//!   filling a free slot) first calls `before_change(i)`: if slot `i` is in the view's range,
//!   past the cursor and not yet written, its state is written out *now*, before it changes.
//!
//! Why the base is exactly the dataset at T0: a slot is written out once (the bit is never
//! cleared), either by a slice or by the hook, and in both cases before any change to it since
//! T0 (every change passes the hook first, which writes it out if it was not). A slot free at
//! T0 writes nothing, and one filled after T0 is marked done when it is filled, so post-T0 keys
//! never enter the base; slots past `end` are all post-T0. So for every slot the base holds its
//! T0 state or nothing, and every change after T0 is a record of the new incremental file, in
//! order: replaying base then incr is replaying "T0, then every write since".
//! The hard cases fall out of this: DEL or UNLINK of a key not yet written writes it out first
//! (the incr's DEL then removes it on replay); RENAME across the cursor is a removal of the
//! source slot (written out first if pending) and a write to the target's slot (same); expiry
//! removes through the same hook, and keys already past their deadline at T0 are left out (as
//! Redis does); FLUSHDB/FLUSHALL swap in an empty database and hand the old one to the view
//! (`Db::flush`: it no longer changes, so the rest of the view is read from it, and it is
//! freed when the view is done); SWAPDB moves each view with its database and the view
//! writes under the database number it had at T0. The table that finds keys (hashbrown) may
//! rehash at will: the view walks slots, not buckets, and a live key never moves to another
//! slot (`keyspace::db`: SCAN relies on the same property). `keyspace::view` has the view and a test
//! that drives random changes, a flush and slab trimming through it and compares the output
//! with a dump taken at T0.
//!
//! The heavy part is off the loop: records go in 1 MiB chunks to a pool worker that appends
//! them to the base file; when all are written, the same worker fsyncs it, replaces the
//! manifest (temp file, fsync, rename, fsync of the directory) and deletes the old files. What
//! stays on the loop: the slices (bounded per tick), writing out a slot about to change (the
//! cost of that one key), and at T0 the old incremental file's fsync (only if it has unsynced
//! writes) and the manifest naming the new incremental file, as Redis 7 does on its main
//! thread. One key is written out at once however big: a 10,000,000-member set costs its
//! whole serialisation in one slice (Redis's fork avoids that).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use readyloop_server::{ConnId, Ctx};
use tracing::{info, warn};

use crate::keyspace::{Db, Value};
use crate::protocol::Args;

mod compact;
mod files;

pub use compact::dirty;
use compact::*;
pub use files::*;

/// `appendfsync`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }
}

impl std::str::FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::EverySec),
            "no" => Ok(Fsync::No),
            _ => Err("must be one of: always, everysec, no".into()),
        }
    }
}

/// `appendonly`, `dir`, `appendfilename`, `appendfsync`.
#[derive(Clone, Debug)]
pub struct AofConfig {
    pub enabled: bool,
    pub dir: PathBuf,
    pub filename: String,
    pub fsync: Fsync,
    /// auto-aof-rewrite-percentage (0: never automatically).
    pub auto_rewrite_percentage: u64,
    /// auto-aof-rewrite-min-size in bytes.
    pub auto_rewrite_min_size: u64,
}

impl Default for AofConfig {
    fn default() -> Self {
        AofConfig {
            enabled: false,
            dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            filename: "appendonly.aof".into(),
            fsync: Fsync::EverySec,
            auto_rewrite_percentage: 100,
            auto_rewrite_min_size: 64 << 20,
        }
    }
}

/// Redis 7's `appenddirname`.
pub const DIRNAME: &str = "appendonlydir";

/// The log's state on the loop.
#[derive(Default)]
pub struct Aof {
    pub cfg: AofConfig,
    /// A script turned propagation off (`redis.set_repl`): its writes are not logged.
    pub muted: bool,
    /// The code of every function library loaded, kept by FUNCTION's commands: a rewrite
    /// writes them at the head of the new base.
    pub functions: Vec<Vec<u8>>,
    /// The incremental file being appended to (None: log off).
    file: Option<File>,
    incr_path: PathBuf,
    /// Records not yet handed to the kernel.
    buf: Vec<u8>,
    /// Database of the last SELECT written to the current file.
    selected: Option<usize>,
    /// Connections whose replies wait for `buf` to be written (and synced, `always`).
    waiting: Vec<ConnId>,
    /// A record was fed in this loop iteration (cleared by the tick that writes it).
    fed: bool,
    /// The log read at start, not yet replayed: validated records, cut at these offsets.
    pending_load: Option<Loaded>,
    /// True while the log is replayed: nothing is fed back into it.
    pub loading: bool,
    /// Last write error (strerror text); writes are refused while set.
    write_error: Option<String>,
    retry_at: Option<Instant>,
    /// An fsync failed: the kernel may have dropped the dirty pages, so no later fsync can
    /// vouch for them. Writes stay refused until a restart replays what is really on disk.
    fsync_failed: Option<String>,
    syncer: Option<Syncer>,
    /// Bytes written since the last fsync was requested.
    unsynced: bool,
    last_sync_request: Option<Instant>,
    /// The everysec fsync has run past [`FSYNC_BOUND`]: write commands wait (their
    /// connections paused, input unread) until it ends.
    delaying: bool,
    /// Connections paused by that delay.
    delayed: Vec<ConnId>,
    /// Write commands delayed so (INFO's aof_delayed_fsync).
    pub delayed_fsync: u64,
    pub size: u64,
    pub base_size: u64,
    pub writes: u64,
    pub fsyncs: u64,
    pub write_errors: u64,
    pub killed_unacked: u64,
    pub loaded_commands: u64,
    pub loaded_truncated: u64,
    /// The files the manifest names now (base first, incrementals in order).
    parts: Vec<Part>,
    rewrite: Option<Rewrite>,
    pub rewrites: u64,
    /// Loop time of the last rewrite's start (the T0 step: Redis's fork is its counterpart)
    /// and its longest tick (a slice plus handing chunks over), in µs.
    rewrite_start_us: u64,
    rewrite_tick_max_us: u64,
    last_rewrite_ok: bool,
    last_rewrite_secs: i64,
    /// Log size after the last rewrite (auto-aof-rewrite-percentage grows from it).
    size_after_rewrite: u64,
    /// EXEC is running its queue: the first write opens a MULTI block in the log.
    in_exec: bool,
    /// The MULTI of the running EXEC is written: EXEC closes the block.
    multi_written: bool,
    /// The current command's effect, logged instead of its arguments (SPOP's SREM, a
    /// served BLPOP's LPOP): replay must not draw other random members or block.
    pub effect: Vec<Vec<Vec<u8>>>,
    /// Records that follow the current command's (database, arguments): pops of blocked
    /// clients it served, which Redis also logs by their effect right after the push.
    pub then: Vec<(usize, Vec<Vec<u8>>)>,
}

/// What start-up read from disk.
pub struct Loaded {
    pub bytes: Vec<u8>,
    /// Record boundaries at which replay may pause (for progress lines).
    pub cuts: Vec<usize>,
    pub records: u64,
    /// Each file read, with the offset in `bytes` its records start at (for errors that name
    /// a record's file and offset).
    pub files: Vec<(PathBuf, usize)>,
}

impl Loaded {
    /// The file and the offset in it of `bytes[at]`.
    pub fn locate(&self, at: usize) -> (&std::path::Path, usize) {
        match self.files.iter().rev().find(|(_, start)| *start <= at) {
            Some((p, start)) => (p.as_path(), at - start),
            None => (std::path::Path::new("?"), at),
        }
    }

    pub fn take_chunks(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.cuts
            .iter()
            .copied()
            .chain(std::iter::once(self.bytes.len()))
            .filter_map(move |end| {
                let s = start;
                start = end;
                (end > s).then(|| &self.bytes[s..end])
            })
    }
}

/// The fsync of `everysec`, on a worker of the thread pool (crates/pool), so a slow disk
/// delays only that worker. Completions are collected in `tick`, which runs at least every
/// 100 ms while an fsync is owed, so the pool's wake-up is not needed (a no-op waker: the
/// loop's eventfd stays the lesson's, created only for services that ask for one).
struct Syncer {
    pool: readyloop_pool::Pool<(), i32>,
    /// When the running fsync was requested (None: none running).
    busy: Option<Instant>,
    /// Test hook: every fsync first sleeps this long (`READYLOOP_TEST_FSYNC_DELAY_MS`), the
    /// slow disk that the write delay below exists for.
    delay: Duration,
}

/// Test hook: every fsync first sleeps this long (`READYLOOP_TEST_FSYNC_DELAY_MS`), the slow
/// disk the everysec write delay exists for, and under `always` the window in which no reply
/// of the iteration may leave.
fn test_fsync_delay() -> Duration {
    static DELAY: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *DELAY.get_or_init(|| {
        std::env::var("READYLOOP_TEST_FSYNC_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::ZERO, Duration::from_millis)
    })
}

/// An everysec fsync running longer than this delays writes until it ends (Redis's 2 s).
pub const FSYNC_BOUND: Duration = Duration::from_secs(2);

struct NoWake;
impl readyloop_pool::Wake for NoWake {
    fn wake(&self) {}
}

impl Syncer {
    fn start() -> io::Result<Syncer> {
        let mut cfg = readyloop_pool::Config::new(1, 2);
        cfg.name = "readyloop-aof-fsync".into();
        let delay = test_fsync_delay();
        Ok(Syncer {
            pool: readyloop_pool::Pool::start(&cfg, NoWake)?,
            busy: None,
            delay,
        })
    }

    /// Run `job` (an fsync of some kind, returning an errno or 0) on the worker; false if the
    /// previous one is still running.
    fn submit(&mut self, job: impl FnOnce() -> i32 + Send + 'static, now: Instant) -> bool {
        if self.busy.is_some() {
            return false;
        }
        let delay = self.delay;
        let job = move || {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            job()
        };
        if self.pool.try_submit((), job).is_ok() {
            self.busy = Some(now);
        }
        self.busy.is_some()
    }

    /// Ask for an fsync of `file`; false if the previous one is still running.
    fn request(&mut self, file: &File, now: Instant) -> bool {
        if self.busy.is_some() {
            return false;
        }
        let Ok(dup) = file.try_clone() else {
            return false;
        };
        let delay = self.delay;
        let job = move || {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            match dup.sync_data() {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(5),
            }
        };
        if self.pool.try_submit((), job).is_ok() {
            self.busy = Some(now);
        }
        self.busy.is_some()
    }

    /// errno of a finished fsync that failed (0 if none failed).
    fn poll(&mut self) -> i32 {
        let mut done = Vec::new();
        self.pool.take_completions(&mut done);
        let mut errno = 0;
        for c in done {
            self.busy = None;
            match c.result {
                Ok(0) => {}
                Ok(e) => errno = e,
                Err(_) => errno = 5,
            }
        }
        errno
    }
}

/// strerror-style text of an I/O error (Redis's MISCONF quotes strerror).
fn strerror(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(p) => s[..p].to_string(),
        None => s,
    }
}

// ---------------------------------------------------------------------------------------------
// Feeding

impl Aof {
    /// Logging writes now.
    #[inline]
    pub fn active(&self) -> bool {
        self.file.is_some() && !self.loading
    }

    pub fn take_load(&mut self) -> Option<Loaded> {
        self.pending_load.take()
    }

    /// Why writes are refused, as Redis's MISCONF reply.
    pub fn deny_write(&self) -> Option<String> {
        if !self.active() {
            return None;
        }
        self.write_error
            .as_ref()
            .or(self.fsync_failed.as_ref())
            .map(|e| format!("MISCONF Errors writing to the AOF file: {e}"))
    }

    /// Where a record for database `db` starts: a MULTI first if EXEC is running and this is
    /// its first write, then SELECT if needed.
    fn select(&mut self, db: usize) {
        if self.in_exec && !self.multi_written {
            self.multi_written = true;
            self.record(&[b"MULTI"]);
        }
        if self.selected != Some(db) {
            let mut b = itoa::Buffer::new();
            self.record(&[b"SELECT", b.format(db).as_bytes()]);
            self.selected = Some(db);
        }
    }

    /// A log that is off (`appendonly no`), keeping `cfg` for CONFIG SET appendonly yes.
    pub fn off(cfg: AofConfig) -> Aof {
        Aof {
            cfg,
            ..Aof::default()
        }
    }

    fn record(&mut self, args: &[&[u8]]) {
        self.fed = true;
        crate::protocol::put_record(&mut self.buf, args);
    }

    /// `appendfsync always` and this iteration wrote: every reply served from now until the
    /// tick may show that write (a reader on another connection too), so none may leave
    /// before the write and its fsync (Redis sends no reply before the iteration's log write
    /// and fsync). Their connections wait as the writer's do, and are cut off with it if the
    /// write fails.
    #[inline]
    pub fn holds_every_reply(&self) -> bool {
        self.fed && self.cfg.fsync == Fsync::Always && self.active()
    }

    /// Append one effect record for database `db` (inside the transaction's block if EXEC is
    /// running).
    pub fn feed_effect(&mut self, db: usize, rec: &[Vec<u8>]) {
        self.select(db);
        self.record(&rec.iter().map(Vec::as_slice).collect::<Vec<_>>());
    }

    /// Inside EXEC (or a script): writes go into one MULTI/EXEC block.
    pub fn in_exec(&self) -> bool {
        self.in_exec
    }

    /// EXEC starts running its queue.
    pub fn begin_exec(&mut self) {
        self.in_exec = true;
        self.multi_written = false;
    }

    /// EXEC finished: close the block if it wrote anything (nothing at all is logged for a
    /// transaction of reads, as Redis 7).
    pub fn end_exec(&mut self) {
        if self.multi_written {
            self.record(&[b"EXEC"]);
        }
        self.in_exec = false;
        self.multi_written = false;
    }

    /// Log the command that just ran in database `dbi` of `dbs` (its effect where replay would
    /// differ); `conn` waits for the log. Returns true if something was logged.
    pub fn feed(&mut self, dbs: &[Db], dbi: usize, name: &str, a: Args<'_>) -> bool {
        let db = &dbs[dbi];
        let mut num = itoa::Buffer::new();
        let key = if a.len() > 1 { a.get(1) } else { b"" };
        let state = || db.find(key).map(|i| (i, db.deadline(i)));
        self.select(dbi);
        match name {
            "set" | "setex" | "psetex" => {
                let value = if name == "set" { a.get(2) } else { a.get(3) };
                match state() {
                    Some((_, Some(d))) => {
                        self.record(&[b"SET", key, value, b"PXAT", num.format(d).as_bytes()])
                    }
                    Some((_, None)) => self.record(&[b"SET", key, value]),
                    None => self.record(&[b"DEL", key]),
                }
            }
            "expire" | "pexpire" | "expireat" | "pexpireat" | "getex" => match state() {
                Some((_, Some(d))) => self.record(&[b"PEXPIREAT", key, num.format(d).as_bytes()]),
                Some((_, None)) => self.record(&[b"PERSIST", key]),
                None => self.record(&[b"DEL", key]),
            },
            "getdel" => self.record(&[b"DEL", key]),
            "incrbyfloat" => match state() {
                Some((i, _)) => {
                    let v = match db.value(i) {
                        Value::Int(n) => num.format(n).as_bytes().to_vec(),
                        Value::Str(s) => s.to_vec(),
                    };
                    self.record(&[b"SET", key, &v, b"KEEPTTL"]);
                }
                None => self.record(&[b"DEL", key]),
            },
            _ => {
                let args: Vec<&[u8]> = a.iter().collect();
                self.record(&args);
            }
        }
        true
    }

    /// The current connection's replies wait for this iteration's write.
    pub fn wait(&mut self, ctx: &mut Ctx<'_>) {
        ctx.hold();
        if let Some(id) = ctx.current() {
            if self.waiting.last() != Some(&id) {
                self.waiting.push(id);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // The tick: write, sync

    /// Once per loop iteration, before held replies leave. Returns when it wants to run again.
    pub fn tick(&mut self, dbs: &mut [Db], now_ms: u64, ctx: &mut Ctx<'_>) -> Option<Instant> {
        if self.rewrite.is_none() {
            drop_stale_views(dbs);
        }
        if self.file.is_none() && !self.delayed.is_empty() {
            // The log was turned off while writes waited for its fsync.
            self.delaying = false;
            for id in self.delayed.drain(..) {
                ctx.resume(id);
            }
        }
        self.file.as_ref()?;
        let now = ctx.now();
        let rewrite_next = self.rewrite_tick(dbs, now_ms);
        if let Some(s) = &mut self.syncer {
            let errno = s.poll();
            if errno != 0 && self.fsync_failed.is_none() {
                let e = strerror(&io::Error::from_raw_os_error(errno));
                warn!("fsync of the append-only log failed: {e}; writes refused until restart");
                self.fsync_failed = Some(e);
            }
        }
        let fsync_since = self.syncer.as_ref().and_then(|s| s.busy);
        self.bound_fsync(fsync_since, now, ctx);
        let file = self.file.as_ref()?;
        let mut wrote = false;
        if !self.buf.is_empty() && self.retry_at.is_none_or(|t| now >= t) {
            match write_some(file, &self.buf) {
                Ok(n) => {
                    self.size += n as u64;
                    self.writes += 1;
                    self.buf.clear();
                    wrote = true;
                    self.retry_at = None;
                    if let Some(e) = self.write_error.take() {
                        info!("AOF write error looks solved ({e} before), writes accepted again");
                    }
                }
                Err((n, e)) => {
                    // What reached the file stays (it is a prefix of the records); the rest is
                    // retried. Until then the file ends in a partial record, which a crash
                    // would leave as a torn tail: truncated at start, and never acknowledged.
                    self.buf.drain(..n);
                    self.size += n as u64;
                    self.write_errors += 1;
                    let text = strerror(&e);
                    if self.write_error.is_none() {
                        warn!("error writing to the append-only log: {text}; refusing writes");
                    }
                    self.write_error = Some(text);
                    self.retry_at = Some(now + Duration::from_millis(100));
                }
            }
        }
        if wrote {
            self.unsynced = true;
            if self.cfg.fsync == Fsync::Always {
                let delay = test_fsync_delay();
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                match file.sync_data() {
                    Ok(()) => {
                        self.fsyncs += 1;
                        self.unsynced = false;
                    }
                    Err(e) => {
                        let e = strerror(&e);
                        warn!("fsync of the append-only log failed: {e}; writes refused until restart");
                        self.fsync_failed = Some(e);
                    }
                }
            }
        }
        self.fed = false;
        let acked = self.buf.is_empty() && (self.cfg.fsync != Fsync::Always || !self.unsynced);
        if acked {
            self.waiting.clear();
        } else {
            // Their replies must not claim a write the disk did not take.
            self.killed_unacked += self.waiting.len() as u64;
            for id in self.waiting.drain(..) {
                ctx.kill(id);
            }
        }
        let mut next = match (self.retry_at, rewrite_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.cfg.fsync == Fsync::EverySec && self.unsynced {
            let due = self
                .last_sync_request
                .map_or(now, |t| t + Duration::from_secs(1));
            if now >= due {
                if self.syncer.as_mut().is_some_and(|s| s.request(file, now)) {
                    self.fsyncs += 1;
                    self.unsynced = false;
                    self.last_sync_request = Some(now);
                } else {
                    // Still syncing the previous second: the loop goes on, as Redis's does
                    // (our writes do not wait on that fsync, unless it passes FSYNC_BOUND).
                    next = Some(now + Duration::from_millis(100));
                }
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        if fsync_since.is_some() {
            // Its end (or its passing the bound) must be seen without other traffic.
            let soon = now + Duration::from_millis(50);
            next = Some(next.map_or(soon, |n| n.min(soon)));
        }
        next
    }

    /// everysec promises that at most about 2 s of acknowledged writes wait for the disk. A
    /// write(2) does not wait for a running fsync here, so a slow disk would let that grow
    /// without bound: once the fsync has run for [`FSYNC_BOUND`], write commands are delayed
    /// (reads go on) until it completes. Redis counts the same moment in aof_delayed_fsync
    /// (it then writes without waiting; its replies never waited for the write).
    fn bound_fsync(&mut self, since: Option<Instant>, now: Instant, ctx: &mut Ctx<'_>) {
        let slow = self.cfg.fsync == Fsync::EverySec
            && since.is_some_and(|t| now.saturating_duration_since(t) >= FSYNC_BOUND);
        if slow && !self.delaying {
            warn!(
                "Asynchronous AOF fsync is taking too long (disk is busy?). Delaying writes                  until it completes"
            );
        }
        self.delaying = slow;
        if !slow {
            for id in self.delayed.drain(..) {
                ctx.resume(id);
            }
        }
    }

    /// Are write commands being delayed behind a slow fsync?
    #[inline]
    pub fn delaying_writes(&self) -> bool {
        self.delaying && !self.loading
    }

    /// Delay the current connection's write command: it stays unread until the fsync ends.
    pub fn delay_write(&mut self, ctx: &mut Ctx<'_>) {
        ctx.pause();
        if let Some(id) = ctx.current() {
            self.delayed_fsync += 1;
            if !self.delayed.contains(&id) {
                self.delayed.push(id);
            }
        }
    }

    /// INFO persistence lines of the log.
    pub fn info(&self) -> String {
        let status = |e: &Option<String>| if e.is_some() { "err" } else { "ok" };
        let sync_age = self
            .last_sync_request
            .map_or(-1, |t| t.elapsed().as_secs() as i64);
        format!(
            "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\n\
             aof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\n\
             aof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_last_write_status:{}\r\n\
             aof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n\
             aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\n\
             aof_buffer_length:{}\r\naof_pending_bio_fsync:{}\r\naof_delayed_fsync:{}\r\n\
             aof_last_fsync_status:{}\r\naof_seconds_since_last_fsync:{sync_age}\r\n\
             aof_writes:{}\r\naof_fsyncs:{}\r\naof_write_errors:{}\r\n\
             aof_unacknowledged_disconnects:{}\r\naof_rewrite_start_usec:{}\r\n\
             aof_rewrite_tick_max_usec:{}\r\n",
            u8::from(self.file.is_some()),
            u8::from(self.rewrite.is_some()),
            self.last_rewrite_secs,
            self.rewrite
                .as_ref()
                .map_or(-1, |r| r.started.elapsed().as_secs() as i64),
            if self.last_rewrite_ok || self.rewrites == 0 && self.file.is_none() {
                "ok"
            } else {
                "err"
            },
            self.rewrites,
            status(&self.write_error),
            self.size + self.base_size,
            self.base_size,
            self.buf.len(),
            u8::from(self.syncer.as_ref().is_some_and(|s| s.busy.is_some())),
            self.delayed_fsync,
            status(&self.fsync_failed),
            self.writes,
            self.fsyncs,
            self.write_errors,
            self.killed_unacked,
            self.rewrite_start_us,
            self.rewrite_tick_max_us,
        )
    }

    /// `appendfsync` changed at run time.
    pub fn set_fsync(&mut self, f: Fsync) -> io::Result<()> {
        self.cfg.fsync = f;
        if f == Fsync::EverySec && self.syncer.is_none() && self.file.is_some() {
            self.syncer = Some(Syncer::start()?);
        }
        Ok(())
    }

    /// Start logging at run time (`CONFIG SET appendonly yes`): a new base file holding the
    /// dataset now (written on the loop: the background rewrite comes later), a new empty
    /// incremental file, then the manifest.
    pub fn enable(&mut self, dbs: &[Db]) -> Result<(), String> {
        if self.file.is_some() {
            return Ok(());
        }
        let mut cfg = self.cfg.clone();
        cfg.enabled = true;
        let dir = create_log_dir(&cfg).map_err(|e| strerror(&e))?;
        let seq = match fs::read_to_string(manifest_path(&cfg)) {
            Ok(t) => parse_manifest(&t)?.iter().map(|p| p.seq).max().unwrap_or(0) + 1,
            Err(_) => 1,
        };
        let base = format!("{}.{seq}.base.aof", cfg.filename);
        let incr = format!("{}.{seq}.incr.aof", cfg.filename);
        let mut snapshot = Aof::default();
        snapshot.dump(dbs);
        let io = |e: io::Error| strerror(&e);
        let mut f = File::create(dir.join(&base)).map_err(io)?;
        f.write_all(&snapshot.buf).map_err(io)?;
        f.sync_all().map_err(io)?;
        File::create(dir.join(&incr))
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        let parts = [
            Part {
                name: base,
                seq,
                base: true,
            },
            Part {
                name: incr.clone(),
                seq,
                base: false,
            },
        ];
        write_manifest(&dir, &cfg.filename, &parts).map_err(io)?;
        let file = OpenOptions::new()
            .append(true)
            .open(dir.join(&incr))
            .map_err(io)?;
        let fsync = cfg.fsync;
        *self = Aof {
            cfg,
            file: Some(file),
            incr_path: dir.join(incr),
            base_size: snapshot.buf.len() as u64,
            size_after_rewrite: snapshot.buf.len() as u64,
            parts: parts.to_vec(),
            last_rewrite_ok: true,
            last_rewrite_secs: -1,
            ..Aof::default()
        };
        self.set_fsync(fsync).map_err(io)
    }

    /// Stop logging (`CONFIG SET appendonly no`): what is buffered is written and synced first.
    pub fn disable(&mut self) {
        if let Some(f) = &self.file {
            let _ = write_some(f, &self.buf);
            let _ = f.sync_data();
        }
        let cfg = self.cfg.clone();
        let delayed = std::mem::take(&mut self.delayed);
        *self = Aof {
            cfg,
            delayed,
            ..Aof::default()
        };
        self.cfg.enabled = false;
    }

    /// A clean stop (SIGTERM, SHUTDOWN): write what is buffered and fsync, as Redis does on
    /// shutdown; wait for a rewrite's thread (its base file is then complete, or unused).
    pub fn shutdown(&mut self) {
        if let Some(f) = &self.file {
            if let Err((_, e)) = write_some(f, &self.buf) {
                warn!("writing the append-only log at shutdown: {}", strerror(&e));
            }
            self.buf.clear();
            if let Err(e) = f.sync_data() {
                warn!("fsync of the append-only log at shutdown: {}", strerror(&e));
            }
        }
        // A rewrite not finished is abandoned: the manifest still names the old files and
        // the new incremental one, which hold everything.
        if let Some(r) = self.rewrite.take() {
            drop(r.writer);
            if !r.switching {
                let _ = fs::remove_file(self.cfg.dir.join(DIRNAME).join(&r.base.name));
            }
        }
    }

    /// Every live key as commands (SET with PXAT for a string; RPUSH, HSET, SADD, ZADD and
    /// PEXPIREAT for a collection), into `buf`.
    pub fn dump(&mut self, dbs: &[Db]) {
        for (dbi, db) in dbs.iter().enumerate() {
            if db.is_empty() {
                continue;
            }
            self.selected = None;
            self.select(dbi);
            let mut cursor = 0;
            loop {
                let buf = &mut self.buf;
                cursor = db.scan(cursor, 1024, |i| {
                    crate::keyspace::view::write_slot(buf, db, i, 0);
                });
                if cursor == 0 {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_torn_and_corrupt() {
        let good = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        assert_eq!(
            check_bytes(good, usize::MAX, &mut Vec::new()),
            Check::Valid { records: 2 }
        );
        for cut in 1..good.len() {
            let c = check_bytes(&good[..cut], usize::MAX, &mut Vec::new());
            match c {
                Check::Torn { ok_up_to, .. } => assert!(ok_up_to == 0 || ok_up_to == 23),
                Check::Valid { records } => assert_eq!((cut, records), (23, 1)),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        let mut zeros = good.to_vec();
        zeros.extend_from_slice(&[0; 100]);
        assert!(matches!(
            check_bytes(&zeros, usize::MAX, &mut Vec::new()),
            Check::Torn { ok_up_to, .. } if ok_up_to == good.len()
        ));
        let mut bad = good.to_vec();
        bad[25] = b'x';
        assert!(matches!(
            check_bytes(&bad, usize::MAX, &mut Vec::new()),
            Check::Corrupt { offset: 23, .. }
        ));
    }

    #[test]
    fn a_record_cut_by_zeros_is_a_torn_tail() {
        let good = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        for cut in 24..good.len() {
            for zeros in [1, 7, 4096] {
                let mut b = good[..cut].to_vec();
                b.resize(cut + zeros, 0);
                assert_eq!(
                    check_bytes(&b, usize::MAX, &mut Vec::new()),
                    Check::Torn {
                        records: 1,
                        ok_up_to: 23
                    },
                    "cut at {cut}, {zeros} zeros"
                );
            }
        }
        // Zeros followed by data again are not a tail: corruption.
        let mut b = good[..30].to_vec();
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(b"*1\r\n");
        assert!(matches!(
            check_bytes(&b, usize::MAX, &mut Vec::new()),
            Check::Corrupt { offset: 23, .. }
        ));
        // A complete record's own bytes wrong, then zeros: corruption too.
        let mut b = good.to_vec();
        b[good.len() - 2] = b'x';
        b.extend_from_slice(&[0; 10]);
        assert!(matches!(
            check_bytes(&b, usize::MAX, &mut Vec::new()),
            Check::Corrupt { offset: 23, .. }
        ));
    }

    #[test]
    fn an_unfinished_multi_block_is_torn_from_its_multi() {
        let set = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        let multi = b"*1\r\n$5\r\nMULTI\r\n";
        let exec = b"*1\r\n$4\r\nEXEC\r\n";
        let mut log = set.to_vec();
        log.extend_from_slice(multi);
        log.extend_from_slice(set);
        log.extend_from_slice(set);
        let whole = [&log[..], exec].concat();
        assert_eq!(
            check_bytes(&whole, usize::MAX, &mut Vec::new()),
            Check::Valid { records: 5 }
        );
        // Every cut inside the block (the EXEC missing or cut short) reverts to before MULTI.
        for cut in set.len() + 1..whole.len() {
            assert_eq!(
                check_bytes(&whole[..cut], usize::MAX, &mut Vec::new()),
                Check::Torn {
                    records: 1,
                    ok_up_to: set.len()
                },
                "cut at {cut}"
            );
        }
        // Chunks for replay never split a block.
        let mut cuts = Vec::new();
        check_bytes(&whole, 1, &mut cuts);
        assert_eq!(cuts, vec![set.len(), whole.len()]);
    }

    #[test]
    fn manifest_round_trip() {
        let parts = vec![
            Part {
                name: "appendonly.aof.3.base.aof".into(),
                seq: 3,
                base: true,
            },
            Part {
                name: "appendonly.aof.5.incr.aof".into(),
                seq: 5,
                base: false,
            },
        ];
        let text = manifest_text(&parts);
        assert_eq!(parse_manifest(&text).unwrap(), parts);
        assert!(parse_manifest("file x seq 1 type z\n").is_err());
        assert!(parse_manifest("file ../x seq 1 type i\n").is_err());
    }
}
