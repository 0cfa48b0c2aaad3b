//! A fixed set of worker threads behind an event loop: CPU-heavy (or blocking) jobs leave the
//! loop, their results come back to it in batches.
//!
//! ```text
//! loop thread                         worker threads (readyloop-worker-N)
//! try_submit(tag, job) ──▶ bounded queue ──▶ run job (panics caught)
//!   (never blocks: full → job back)              │
//!                                                ▼
//! take_completions() ◀── completion list ◀── push; wake the loop only if no wake is pending
//!   clears "wake pending", swaps the list          (one eventfd write per batch)
//! ```
//!
//! The loop owns the [`Pool`]; only it submits and only it takes completions. The queue and the
//! completion list are each behind a mutex held for a push or a pop, never while a job runs, so
//! the loop waits at most for another thread's push. Timing histograms live on the loop side
//! (each completion carries its own wait and run time), so workers share no histogram lock.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// How a worker tells the loop that completions are waiting. The loop's
/// [`reactor::Waker`] (an eventfd) in a server; anything else in tests.
pub trait Wake: Send + Sync + 'static {
    fn wake(&self);
}

impl Wake for reactor::Waker {
    fn wake(&self) {
        // EAGAIN (counter saturated) already means "a wake-up is pending"; any other error
        // would leave the loop asleep, so say so loudly.
        if let Err(e) = reactor::Waker::wake(self) {
            tracing::error!("worker could not wake the event loop: {e}");
        }
    }
}

/// Sizes of a pool.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Jobs waiting (not yet picked up by a worker) at most; [`Pool::try_submit`] refuses more.
    pub queue: usize,
    /// Thread names are `{name}-{index}`.
    pub name: String,
    /// Added to each worker's nice value (workers start with their creator's, the loop's). A
    /// positive value lets the loop thread preempt a worker that shares its CPU as soon as a
    /// client's bytes arrive, instead of waiting out the worker's time slice (Linux nice values
    /// are per thread). Relative, so a server started with `nice -n -5` keeps its workers
    /// below its loop rather than below everything else.
    pub nice: i32,
}

impl Config {
    pub fn new(workers: usize, queue: usize) -> Config {
        Config {
            workers,
            queue,
            name: "readyloop-worker".into(),
            nice: 0,
        }
    }
}

type Job<T> = Box<dyn FnOnce() -> T + Send + 'static>;

struct Queued<K, T> {
    tag: K,
    job: Job<T>,
    queued_at: Instant,
}

/// A job's result, handed back to the loop with the tag it was submitted with.
pub struct Completion<K, T> {
    pub tag: K,
    /// `Err` if the job panicked: the panic's message.
    pub result: Result<T, Panicked>,
    /// Time in the queue before a worker picked it up.
    pub waited: Duration,
    /// Time the job ran.
    pub ran: Duration,
}

/// A job panicked; the worker caught it and lives on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panicked(pub String);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job panicked: {}", self.0)
    }
}

/// [`Pool::try_submit`] refused: the queue is full or the pool is shutting down. The job is
/// given back untouched.
pub struct Rejected<K, F> {
    pub tag: K,
    pub job: F,
}

impl<K, F> fmt::Debug for Rejected<K, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rejected")
    }
}

struct QueueState<K, T> {
    jobs: VecDeque<Queued<K, T>>,
    closing: bool,
}

struct Shared<K, T> {
    queue: Mutex<QueueState<K, T>>,
    ready: Condvar,
    done: Mutex<Vec<Completion<K, T>>>,
    /// Set by the worker that wakes the loop, cleared by the loop before it takes the list:
    /// while set, more completions join the batch without another eventfd write.
    wake_pending: AtomicBool,
    waker: Box<dyn Wake>,
    wakes: AtomicU64,
    panicked: AtomicU64,
    busy: AtomicU64,
}

/// Locks survive a panicking holder: no job runs under a lock, so the data is consistent.
fn lock<X>(m: &Mutex<X>) -> MutexGuard<'_, X> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Percentiles of one histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Micros {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Micros {
    fn of(h: &Histogram<u64>) -> Micros {
        if h.is_empty() {
            return Micros::default();
        }
        Micros {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// What a pool did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub workers: u64,
    /// Jobs accepted by [`Pool::try_submit`].
    pub submitted: u64,
    /// Submissions refused because the queue was full (the caller kept the job).
    pub rejected: u64,
    /// Completions handed to the loop (panicked jobs included).
    pub completed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Completions the owner threw away (their connection had closed), see [`Pool::note_dropped`].
    pub dropped: u64,
    /// Times a worker woke the loop (one per batch of completions).
    pub wakes: u64,
    /// Most jobs ever waiting in the queue at once.
    pub queue_high_water: u64,
    /// Time jobs waited in the queue.
    pub wait_us: Micros,
    /// Time jobs ran.
    pub run_us: Micros,
}

impl PoolStats {
    /// As `(name, value)` pairs with a `pool_` prefix, for a service's stats line.
    pub fn counters(&self, out: &mut Vec<(&'static str, u64)>) {
        out.extend([
            ("pool_workers", self.workers),
            ("pool_submitted", self.submitted),
            ("pool_rejected", self.rejected),
            ("pool_completed", self.completed),
            ("pool_panicked", self.panicked),
            ("pool_dropped", self.dropped),
            ("pool_wakes", self.wakes),
            ("pool_queue_high_water", self.queue_high_water),
            ("pool_wait_p50_us", self.wait_us.p50),
            ("pool_wait_p99_us", self.wait_us.p99),
            ("pool_wait_max_us", self.wait_us.max),
            ("pool_run_p50_us", self.run_us.p50),
            ("pool_run_p99_us", self.run_us.p99),
            ("pool_run_max_us", self.run_us.max),
        ]);
    }
}

/// Workers, their queue and their completions; owned by the loop thread.
/// Dropping it is [`Pool::shutdown`].
pub struct Pool<K: Send + 'static, T: Send + 'static> {
    shared: Arc<Shared<K, T>>,
    workers: Vec<JoinHandle<()>>,
    capacity: usize,
    submitted: u64,
    rejected: u64,
    completed: u64,
    dropped: u64,
    high_water: u64,
    wait: Histogram<u64>,
    run: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // 3 significant digits, auto-resizing: a job that runs for minutes is still recorded.
    let mut h = Histogram::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl<K: Send + 'static, T: Send + 'static> Pool<K, T> {
    /// Start `cfg.workers` threads. Each blocks SIGINT/SIGTERM/SIGUSR1 before anything else, so
    /// a shutdown signal always reaches the event loop (which unblocks them only inside its
    /// wait), never a worker.
    pub fn start(cfg: &Config, waker: impl Wake) -> io::Result<Pool<K, T>> {
        if cfg.workers == 0 || cfg.queue == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pool needs at least one worker and room for one job",
            ));
        }
        let shared = Arc::new(Shared {
            queue: Mutex::new(QueueState {
                jobs: VecDeque::with_capacity(cfg.queue),
                closing: false,
            }),
            ready: Condvar::new(),
            done: Mutex::new(Vec::new()),
            wake_pending: AtomicBool::new(false),
            waker: Box::new(waker),
            wakes: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            busy: AtomicU64::new(0),
        });
        let mut pool = Pool {
            shared,
            workers: Vec::with_capacity(cfg.workers),
            capacity: cfg.queue,
            submitted: 0,
            rejected: 0,
            completed: 0,
            dropped: 0,
            high_water: 0,
            wait: histogram(),
            run: histogram(),
        };
        for i in 0..cfg.workers {
            let shared = Arc::clone(&pool.shared);
            let nice = cfg.nice;
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{i}", cfg.name))
                .spawn(move || worker(&shared, nice));
            match spawned {
                Ok(h) => pool.workers.push(h),
                // Dropping `pool` joins the workers already started.
                Err(e) => return Err(e),
            }
        }
        Ok(pool)
    }

    /// Queue `job`; a worker runs it and its result comes back tagged `tag`. Never blocks on a
    /// full queue: gives the job back instead (the caller stops reading from whoever sent it).
    pub fn try_submit<F>(&mut self, tag: K, job: F) -> Result<(), Rejected<K, F>>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let mut q = lock(&self.shared.queue);
        if q.closing || q.jobs.len() >= self.capacity {
            drop(q);
            self.rejected += 1;
            return Err(Rejected { tag, job });
        }
        q.jobs.push_back(Queued {
            tag,
            job: Box::new(job),
            queued_at: Instant::now(),
        });
        let depth = q.jobs.len() as u64;
        drop(q);
        self.shared.ready.notify_one();
        self.submitted += 1;
        self.high_water = self.high_water.max(depth);
        Ok(())
    }

    /// Would a submission be accepted now? (Only the loop submits, so a yes stays true until
    /// its next submission.)
    pub fn has_room(&self) -> bool {
        let q = lock(&self.shared.queue);
        !q.closing && q.jobs.len() < self.capacity
    }

    /// Jobs waiting in the queue now.
    pub fn queued(&self) -> usize {
        lock(&self.shared.queue).jobs.len()
    }

    /// Jobs submitted whose completion has not been taken yet (queued, running, or done and
    /// waiting in the list).
    pub fn outstanding(&self) -> u64 {
        self.submitted - self.completed
    }

    /// Move every completion into `out` (appended). Call it when the waker fires; one call
    /// takes the whole batch, however many wake-ups it stood for.
    pub fn take_completions(&mut self, out: &mut Vec<Completion<K, T>>) {
        // Cleared *before* the swap: a worker that pushes after the swap sees it clear and
        // wakes the loop again; one that pushed before is in this batch. Clearing after the
        // swap could lose the wake of a completion pushed in between.
        self.shared.wake_pending.store(false, Ordering::SeqCst);
        let start = out.len();
        {
            let mut done = lock(&self.shared.done);
            if out.is_empty() {
                std::mem::swap(&mut *done, out);
            } else {
                out.append(&mut done);
            }
        }
        for c in &out[start..] {
            // Recording into an auto-resizing histogram cannot fail.
            let _ = self.wait.record(micros(c.waited).max(1));
            let _ = self.run.record(micros(c.ran).max(1));
        }
        self.completed += (out.len() - start) as u64;
    }

    /// The owner threw away `n` completions (their connection had closed).
    pub fn note_dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    /// Jobs a worker is running now.
    pub fn running(&self) -> u64 {
        self.shared.busy.load(Ordering::Relaxed)
    }

    /// Worker threads running (0 after shutdown).
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            workers: self.workers.len() as u64,
            submitted: self.submitted,
            rejected: self.rejected,
            completed: self.completed,
            panicked: self.shared.panicked.load(Ordering::Relaxed),
            dropped: self.dropped,
            wakes: self.shared.wakes.load(Ordering::Relaxed),
            queue_high_water: self.high_water,
            wait_us: Micros::of(&self.wait),
            run_us: Micros::of(&self.run),
        }
    }

    /// Throw away the jobs still waiting for a worker (counted as dropped) and return how
    /// many: for an owner whose results can no longer be delivered (its loop has stopped), so
    /// that [`shutdown`](Self::shutdown) waits only for the jobs already running.
    pub fn discard_queued(&mut self) -> usize {
        let gone = std::mem::take(&mut lock(&self.shared.queue).jobs);
        self.dropped += gone.len() as u64;
        // The jobs (and whatever they captured) are freed here, outside the lock.
        gone.len()
    }

    /// Stop accepting jobs, let every queued and running job finish, join every worker.
    /// Completions of those last jobs stay in the list for [`take_completions`](Self::take_completions).
    /// Idempotent.
    pub fn shutdown(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        lock(&self.shared.queue).closing = true;
        self.shared.ready.notify_all();
        let n = self.workers.len();
        for h in self.workers.drain(..) {
            // A worker never unwinds (jobs run under catch_unwind), so this is always Ok.
            if h.join().is_err() {
                tracing::error!("a pool worker died");
            }
        }
        tracing::debug!("pool: {n} workers joined");
    }
}

impl<K: Send + 'static, T: Send + 'static> Drop for Pool<K, T> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker<K: Send + 'static, T: Send + 'static>(shared: &Shared<K, T>, nice: i32) {
    if let Err(e) = reactor::block_shutdown_signals() {
        // Without the block, SIGTERM could land here while the loop sleeps on; the loop also
        // refuses to install its handlers in that case, so this is only ever logged.
        tracing::error!("worker cannot block shutdown signals: {e}");
    }
    if nice != 0 {
        // `None` is "the calling thread" on Linux, where each thread has its own nice value.
        // Lowering priority needs no privilege; raising it may fail, which costs only speed.
        let set = rustix::process::getpriority_process(None).and_then(|now| {
            rustix::process::setpriority_process(None, (now + nice).clamp(-20, 19))
        });
        if let Err(e) = set {
            tracing::warn!("worker cannot add {nice} to its nice value: {e}");
        }
    }
    while let Some(q) = next_job(shared) {
        shared.busy.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(q.job)).map_err(|p| {
            shared.panicked.fetch_add(1, Ordering::Relaxed);
            Panicked(panic_message(p.as_ref()))
        });
        let ran = started.elapsed();
        shared.busy.fetch_sub(1, Ordering::Relaxed);
        lock(&shared.done).push(Completion {
            tag: q.tag,
            result,
            waited: started.saturating_duration_since(q.queued_at),
            ran,
        });
        if !shared.wake_pending.swap(true, Ordering::SeqCst) {
            shared.wakes.fetch_add(1, Ordering::Relaxed);
            shared.waker.wake();
        }
    }
}

/// The next job, waiting for one; `None` once the pool is closing and the queue is empty
/// (queued jobs run to the end even during shutdown).
fn next_job<K, T>(shared: &Shared<K, T>) -> Option<Queued<K, T>> {
    let mut q = lock(&shared.queue);
    loop {
        if let Some(job) = q.jobs.pop_front() {
            return Some(job);
        }
        if q.closing {
            return None;
        }
        q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests;
