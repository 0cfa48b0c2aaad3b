//! The digest service: a line protocol ([`protocol`]) whose `HASH` is CPU-bound work (iterated
//! SHA-256, the shape of password hashing) and whose `PING` is not. With workers, `HASH` runs
//! on a [`readyloop_pool::Pool`] and its reply is deferred; `PING` is answered on the loop at
//! once. With `workers == 0`, `HASH` runs inline on the loop: the lesson's "before", where one
//! heavy request freezes every client.
//!
//! Why a crate of its own rather than `readyloop-pool::digest`: the pool is generic (the KV
//! server will run fsync and frees on it) and depends on neither the server nor `sha2`; this
//! crate is one service on top of both.
#![forbid(unsafe_code)]
pub mod bench;
pub mod protocol;

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};

use readyloop_pool::{Completion, Pool, PoolStats};
use readyloop_server::{ConnId, ConnInfo, Ctx, Service, StartCtx, Ticket};

use protocol::{push_err, push_hex_line, Request};

/// How the service runs.
#[derive(Clone, Debug)]
pub struct DigestConfig {
    /// Worker threads for `HASH`; 0 runs it inline on the loop.
    pub workers: usize,
    /// Jobs waiting for a worker at most; when full, clients with a `HASH` to submit are paused.
    pub queue: usize,
    /// Deferred replies one connection may have outstanding; at the cap it is paused until one
    /// is delivered (one client cannot fill the queue).
    pub max_in_flight: usize,
    /// A line longer than this (without its `\n`) gets `ERR line too long` and the connection
    /// is closed: a client that never sends `\n` cannot make the server buffer without end.
    pub max_line: usize,
    /// Largest `<rounds>` accepted.
    pub max_rounds: u32,
    /// Added to the worker threads' nice value (see [`readyloop_pool::Config::nice`]).
    pub worker_nice: i32,
    /// Test hook: a `HASH` whose text is exactly this panics in its job. Set by in-process
    /// tests only; no command-line flag reaches it.
    pub panic_on: Option<Vec<u8>>,
}

impl DigestConfig {
    pub fn new(workers: usize) -> DigestConfig {
        DigestConfig {
            workers,
            queue: 64 * workers.max(1),
            max_in_flight: 16,
            max_line: 64 * 1024,
            max_rounds: 10_000_000,
            worker_nice: 0,
            panic_on: None,
        }
    }
}

/// The service's own counters (the pool's come from [`PoolStats`]).
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    pings: u64,
    hashes: u64,
    inline: u64,
    errors: u64,
    long_lines: u64,
    panics_inline: u64,
    cap_pauses: u64,
    queue_pauses: u64,
    resumes: u64,
}

type Job = Pool<Ticket, [u8; 32]>;

/// The service. Cloning gives an unstarted copy with the same configuration (each loop of
/// `--threads N` starts its own pool in [`Service::start`], woken through its own waker).
pub struct Digest {
    cfg: DigestConfig,
    pool: Option<Job>,
    done: Vec<Completion<Ticket, [u8; 32]>>,
    /// Open connections, to count completions that arrive for a closed one (the loop drops
    /// them by generation; this only counts).
    live: HashSet<ConnId>,
    /// Paused because the queue was full; resumed when completions free room.
    waiting: Vec<ConnId>,
    n: Counters,
}

impl Clone for Digest {
    fn clone(&self) -> Digest {
        Digest::new(self.cfg.clone())
    }
}

impl Digest {
    pub fn new(cfg: DigestConfig) -> Digest {
        Digest {
            cfg,
            pool: None,
            done: Vec::new(),
            live: HashSet::new(),
            waiting: Vec::new(),
            n: Counters::default(),
        }
    }

    pub fn config(&self) -> &DigestConfig {
        &self.cfg
    }

    /// The pool's counters (all zero without workers).
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.as_ref().map(Pool::stats).unwrap_or_default()
    }

    /// Stop the pool once the loop has stopped: replies can no longer be delivered, so jobs
    /// still queued are discarded (counted as dropped) and only running ones are waited for
    /// (at most one job's time, bounded by `max_rounds`); every worker is joined. Also done on
    /// drop.
    pub fn shutdown(&mut self) {
        if let Some(pool) = &mut self.pool {
            let n = pool.workers();
            let discarded = pool.discard_queued();
            if discarded > 0 {
                tracing::info!("digest: {discarded} queued jobs discarded at shutdown");
            }
            pool.shutdown();
            if n > 0 {
                tracing::info!(
                    "digest: {n} workers joined; threads left in the process: {}",
                    threads_in_process()
                );
            }
        }
    }

    fn compute(&mut self, rounds: u32, text: &[u8], out: &mut Vec<u8>) {
        self.n.inline += 1;
        let panic_on = self.cfg.panic_on.as_deref();
        // The same fault containment as a worker's: a panicking job costs its client an error
        // reply, not the loop.
        match panic::catch_unwind(AssertUnwindSafe(|| job(rounds, text, panic_on))) {
            Ok(d) => push_hex_line(out, &d),
            Err(_) => {
                self.n.panics_inline += 1;
                push_err(out, "job panicked");
            }
        }
    }

    /// One `HASH` with workers: defer its reply and queue its job. `false` (nothing consumed):
    /// the connection is at its in-flight cap or the queue is full, and it has been paused.
    fn submit(&mut self, rounds: u32, text: &[u8], ctx: &mut Ctx<'_>) -> bool {
        let Some(pool) = &mut self.pool else {
            unreachable!("submit without a pool")
        };
        if ctx.in_flight() >= self.cfg.max_in_flight {
            // The loop serves this connection again when one of its replies is fulfilled.
            self.n.cap_pauses += 1;
            ctx.pause();
            return false;
        }
        if !pool.has_room() {
            self.n.queue_pauses += 1;
            ctx.pause();
            let id = ctx.current().expect("serve has a current connection");
            if !self.waiting.contains(&id) {
                self.waiting.push(id);
            }
            return false;
        }
        let ticket = ctx.defer();
        let text = text.to_vec();
        let panic_on = self.cfg.panic_on.clone();
        let submitted = pool.try_submit(ticket, move || job(rounds, &text, panic_on.as_deref()));
        if let Err(back) = submitted {
            // Cannot happen (only this thread submits, and there was room), but a reply is
            // owed at this place: compute it here rather than lose it.
            let d = (back.job)();
            let mut reply = Vec::with_capacity(65);
            push_hex_line(&mut reply, &d);
            ctx.fulfill(back.tag, &reply);
        }
        true
    }
}

impl Drop for Digest {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The work of one `HASH`.
fn job(rounds: u32, text: &[u8], panic_on: Option<&[u8]>) -> [u8; 32] {
    if panic_on == Some(text) {
        panic!("test hook: HASH of the panic text");
    }
    protocol::digest(rounds, text)
}

/// Live threads of this process. A joined thread may still be listed in /proc/self/task for a
/// moment (join returns when the kernel clears its tid, before the task is released), so
/// zombie/dead entries are not counted and a count above one is re-read for up to 50 ms.
fn threads_in_process() -> usize {
    let live = || {
        std::fs::read_dir("/proc/self/task").map_or(0, |d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
                .filter(|stat| {
                    // The state follows the ")" that closes the command name.
                    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
                    !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X'))
                })
                .count()
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(50);
    loop {
        let n = live();
        if n <= 1 || std::time::Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

impl Service for Digest {
    type Session = ();

    /// Join the workers before the loop reports its final counters (Drop would be too late).
    fn stop(&mut self) {
        self.shutdown();
    }

    fn start(&mut self, cx: &mut StartCtx<'_>) {
        if self.cfg.workers == 0 || self.pool.is_some() {
            return;
        }
        let mut pool_cfg = readyloop_pool::Config::new(self.cfg.workers, self.cfg.queue.max(1));
        pool_cfg.nice = self.cfg.worker_nice;
        match cx.waker().and_then(|w| Pool::start(&pool_cfg, w)) {
            Ok(p) => self.pool = Some(p),
            Err(e) => tracing::error!("digest: cannot start workers ({e}); HASH runs inline"),
        }
    }

    fn open(&mut self, info: &ConnInfo, _ctx: &mut Ctx<'_>) {
        self.live.insert(info.id);
    }

    fn serve(&mut self, _: &mut (), input: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let mut used = 0;
        while let Some(nl) = input[used..].iter().position(|&b| b == b'\n') {
            let line = &input[used..used + nl];
            if line.len() > self.cfg.max_line {
                return self.too_long(input, ctx);
            }
            match protocol::parse(line, self.cfg.max_rounds) {
                Ok(Request::Ping) => {
                    self.n.pings += 1;
                    ctx.out().extend_from_slice(b"PONG\n");
                }
                Ok(Request::Hash { rounds, text }) => {
                    if self.pool.is_some() {
                        if !self.submit(rounds, text, ctx) {
                            return used;
                        }
                    } else {
                        self.compute(rounds, text, ctx.out());
                    }
                    self.n.hashes += 1;
                }
                Err(reason) => {
                    self.n.errors += 1;
                    push_err(ctx.out(), &reason);
                }
            }
            used += nl + 1;
        }
        if input.len() - used > self.cfg.max_line {
            return self.too_long(input, ctx);
        }
        used
    }

    fn close(&mut self, _: (), id: ConnId, _ctx: &mut Ctx<'_>) {
        self.live.remove(&id);
    }

    fn wake(&mut self, ctx: &mut Ctx<'_>) {
        let Some(pool) = &mut self.pool else { return };
        self.done.clear();
        pool.take_completions(&mut self.done);
        let mut reply = Vec::with_capacity(65);
        let mut dropped = 0;
        for c in self.done.drain(..) {
            if !self.live.contains(&c.tag.conn()) {
                dropped += 1;
            }
            reply.clear();
            match c.result {
                Ok(d) => push_hex_line(&mut reply, &d),
                Err(_) => push_err(&mut reply, "job panicked"),
            }
            // Even for a connection known closed: the loop's generation check is what
            // guarantees a reply never reaches a newer connection on the same slot.
            ctx.fulfill(c.tag, &reply);
        }
        pool.note_dropped(dropped);

        if !self.waiting.is_empty() && pool.has_room() {
            for id in self.waiting.drain(..) {
                if self.live.contains(&id) {
                    self.n.resumes += 1;
                    ctx.resume(id);
                }
            }
        }
    }

    fn counters(&self, out: &mut Vec<(&'static str, u64)>) {
        let n = &self.n;
        out.extend([
            ("digest_pings", n.pings),
            ("digest_hashes", n.hashes),
            ("digest_inline", n.inline),
            ("digest_errors", n.errors),
            ("digest_long_lines", n.long_lines),
            ("digest_inline_panics", n.panics_inline),
            ("digest_cap_pauses", n.cap_pauses),
            ("digest_queue_pauses", n.queue_pauses),
            ("digest_resumes", n.resumes),
        ]);
        self.pool_stats().counters(out);
    }
}

impl Digest {
    fn too_long(&mut self, input: &[u8], ctx: &mut Ctx<'_>) -> usize {
        self.n.long_lines += 1;
        push_err(ctx.out(), "line too long");
        ctx.close_after_reply();
        input.len()
    }
}
