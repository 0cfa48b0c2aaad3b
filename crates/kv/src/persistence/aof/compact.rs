//! Compaction (BGREWRITEAOF) without a stall: the point-in-time view is serialised in
//! slices from the tick and written by a pool worker; the argument for why the result is
//! exactly the dataset at T0 is in this module's parent (`aof`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::keyspace::Db;

use super::*;

// ---------------------------------------------------------------------------------------------
// Rewrite (BGREWRITEAOF): Redis 7's multi-part switch, with an incremental point-in-time view
//
// 1. T0, on the loop: pending records go to the current incremental file; a new incremental
//    file is created and the manifest names old base + old incrementals + new incremental
//    (nothing is lost if we die now: replay reads them all, in order). Every database starts
//    its view (`Db::begin_snapshot`, O(slots / 64) to clear a bitmap).
// 2. Each tick serialises a slice of the view (at most `SLICE` of loop time) and hands the
//    records in 1 MiB chunks to a worker (crates/pool) that appends them to the new base
//    file. A slot about to change before its slice came is serialised by the store first.
// 3. Once every view is complete and written, the worker fsyncs the base file and replaces
//    the manifest (temp, fsync, rename, fsync dir) by new base + new incremental, then deletes
//    the old files. The loop only learns that it happened.
// A kill at any point leaves a manifest whose files hold every acknowledged write.

/// Loop time one tick may spend serialising the view.
pub(super) const SLICE: Duration = Duration::from_micros(250);
/// Slots serialised between two looks at the clock.
pub(super) const SLICE_SLOTS: usize = 256;
/// Records handed to the writer at a time.
pub(super) const CHUNK: usize = 1 << 20;
/// Serialised bytes not yet written beyond which the slices pause (the writer is behind).
pub(super) const MAX_BUFFERED: u64 = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RwJob {
    Chunk,
    Switch,
}

/// A rewrite in progress.
pub(super) struct Rewrite {
    pub(super) started: Instant,
    pub(super) base: Part,
    pub(super) incr: Part,
    /// Files the switch replaces (deleted after it).
    pub(super) old: Vec<Part>,
    pub(super) base_file: Arc<File>,
    pub(super) writer: readyloop_pool::Pool<RwJob, io::Result<Vec<u8>>>,
    /// Chunk buffers the writer gave back, emptied: reused so that no chunk costs the loop an
    /// mmap and page faults, nor the writer a munmap (which takes the address space's lock the
    /// loop's page faults need).
    pub(super) spare: Vec<Vec<u8>>,
    /// Serialised records not yet handed to the writer.
    pub(super) pending: Vec<u8>,
    /// Bytes handed to the writer and not yet written.
    pub(super) in_flight: u64,
    pub(super) written: u64,
    /// Every database's view is complete (and its records in `pending` or beyond).
    pub(super) serialised: bool,
    /// The switch job was submitted.
    pub(super) switching: bool,
    /// No slice before this: slices take at most a quarter of the loop's time.
    pub(super) next_slice: Instant,
    /// [`test_pause`], read once.
    pub(super) pause: Duration,
}

impl Aof {
    pub fn rewrite_in_progress(&self) -> bool {
        self.rewrite.is_some()
    }

    /// Start a rewrite of `dbs` as they are now (`now_ms`: the clock, for expiry). Err is the
    /// reply text.
    pub fn start_rewrite(&mut self, dbs: &mut [Db], now_ms: u64) -> Result<(), String> {
        let t0 = Instant::now();
        if self.rewrite.is_some() {
            return Err("ERR Background append only file rewriting already in progress".into());
        }
        let Some(file) = &self.file else {
            return Err("ERR Background AOF rewriting is only possible when AOF is enabled".into());
        };
        let io = |e: io::Error| format!("ERR Background AOF rewrite failed: {}", strerror(&e));
        write_some(file, &self.buf).map_err(|(n, e)| {
            self.buf.drain(..n);
            io(e)
        })?;
        self.size += self.buf.len() as u64;
        // Records written just now are as unsynced as any other: under `always` their replies
        // are held for the tick, whose fsync covers only the new file (a power cut on lazyfs
        // left a torn record in the old incremental file and lost acknowledged writes).
        self.unsynced |= !self.buf.is_empty();
        self.buf.clear();
        // everysec: the fsyncs of T0 (the old file's unsynced tail, the new manifest and its
        // directory) go to the fsync worker, ahead of any fsync of the new file (one worker,
        // in order), so a power cut still never keeps new records while losing older ones.
        // always (and a busy worker): on the loop, as every write of `always` is synced.
        let defer = self.cfg.fsync == Fsync::EverySec
            && self.syncer.as_ref().is_some_and(|s| s.busy.is_none());
        let old_file = file.try_clone().map_err(io)?;
        if self.unsynced && !defer {
            file.sync_data().map_err(io)?;
        }
        let dir = self.cfg.dir.join(DIRNAME);
        let seq = self.parts.iter().map(|p| p.seq).max().unwrap_or(0) + 1;
        let incr = Part {
            name: format!("{}.{seq}.incr.aof", self.cfg.filename),
            seq,
            base: false,
        };
        let base = Part {
            name: format!("{}.{seq}.base.aof", self.cfg.filename),
            seq,
            base: true,
        };
        let mut wcfg = readyloop_pool::Config::new(1, 2);
        wcfg.name = "readyloop-aof-rewrite".into();
        // Not niced, for the reason the lazy-free worker is not (a worker preempted while
        // holding a lock the loop needs, e.g. in the kernel, must get a CPU back soon).
        let writer = readyloop_pool::Pool::start(&wcfg, NoWake).map_err(io)?;
        let base_file = Arc::new(File::create(dir.join(&base.name)).map_err(io)?);
        // Empty: the directory's fsync (with the manifest's) makes its name durable.
        let new_file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join(&incr.name))
            .map_err(io)?;
        let old = self.parts.clone();
        let mut during = self.parts.clone();
        during.push(incr.clone());
        if defer {
            rename_manifest(&dir, &self.cfg.filename, &during).map_err(io)?;
            let (d, name, tail) = (dir.clone(), self.cfg.filename.clone(), self.unsynced);
            let job = move || {
                let r = (if tail { old_file.sync_data() } else { Ok(()) })
                    .and_then(|()| sync_manifest(&d, &name));
                r.err().map_or(0, |e| e.raw_os_error().unwrap_or(5))
            };
            let now = Instant::now();
            if let Some(s) = self.syncer.as_mut() {
                s.submit(job, now);
            }
            self.fsyncs += 1;
            self.last_sync_request = Some(now);
        } else {
            write_manifest(&dir, &self.cfg.filename, &during).map_err(io)?;
        }
        self.unsynced = false;
        self.parts = during;
        self.file = Some(new_file);
        self.incr_path = dir.join(&incr.name);
        self.base_size += self.size;
        self.size = 0;
        self.selected = None;
        for (dbi, db) in dbs.iter_mut().enumerate() {
            db.begin_snapshot(dbi, now_ms);
        }
        self.rewrite = Some(Rewrite {
            started: Instant::now(),
            base,
            incr,
            old,
            base_file,
            writer,
            pending: {
                // The function libraries first: a restart loads them before any data, as
                // Redis's rewrite puts them at the head of the base.
                let mut p = Vec::with_capacity(2 * CHUNK);
                for code in &self.functions {
                    crate::protocol::put_record(&mut p, &[b"FUNCTION", b"LOAD", code]);
                }
                p
            },
            spare: Vec::new(),
            in_flight: 0,
            written: 0,
            serialised: false,
            switching: false,
            next_slice: Instant::now(),
            pause: test_pause(),
        });
        self.rewrite_start_us = t0.elapsed().as_micros() as u64;
        self.rewrite_tick_max_us = 0;
        info!("Background append only file rewriting started");
        Ok(())
    }

    /// Advance a rewrite (a slice of the view, chunks to the writer, the switch); start an
    /// automatic one when due.
    pub(super) fn rewrite_tick(&mut self, dbs: &mut [Db], now_ms: u64) -> Option<Instant> {
        let t0 = Instant::now();
        let next = self.rewrite_step(dbs, now_ms);
        if self.rewrite.is_some() {
            let us = t0.elapsed().as_micros() as u64;
            self.rewrite_tick_max_us = self.rewrite_tick_max_us.max(us);
        }
        next
    }

    fn rewrite_step(&mut self, dbs: &mut [Db], now_ms: u64) -> Option<Instant> {
        let Some(r) = &mut self.rewrite else {
            let total = self.size + self.base_size;
            let pct = self.cfg.auto_rewrite_percentage;
            if pct > 0
                && total >= self.cfg.auto_rewrite_min_size
                && total * 100 >= self.size_after_rewrite.max(1) * (100 + pct)
            {
                info!(
                    "Starting automatic rewriting of AOF on {}% growth",
                    (total * 100 / self.size_after_rewrite.max(1)).saturating_sub(100)
                );
                if let Err(e) = self.start_rewrite(dbs, now_ms) {
                    warn!("automatic AOF rewrite: {e}");
                }
                return Some(Instant::now());
            }
            return None;
        };
        let mut done = Vec::new();
        r.writer.take_completions(&mut done);
        let mut failed = None;
        let mut switched = false;
        for c in done {
            match (c.tag, c.result) {
                (RwJob::Chunk, Ok(Ok(mut chunk))) => {
                    let n = chunk.len() as u64;
                    r.in_flight -= n;
                    r.written += n;
                    chunk.clear();
                    r.spare.push(chunk);
                }
                (RwJob::Switch, Ok(Ok(_))) => switched = true,
                (_, Ok(Err(e))) => failed = Some(strerror(&e)),
                (_, Err(p)) => failed = Some(p.to_string()),
            }
        }
        if let Some(e) = failed {
            self.abandon_rewrite(dbs, &e);
            return None;
        }
        if switched {
            self.rewrite_switched();
            return None;
        }
        if !r.serialised {
            let now = Instant::now();
            if now >= r.next_slice && (r.pending.len() as u64) + r.in_flight < MAX_BUFFERED {
                r.serialised = slice(dbs, now + SLICE);
                // Paced, not back to back: a busy loop gives a rewrite a quarter of its time
                // (clients see at most SLICE added to a reply, and not at every iteration).
                r.next_slice = Instant::now() + 3 * SLICE;
            }
            for db in dbs.iter_mut() {
                if let Some(s) = db.snapshot() {
                    if !s.out.is_empty() {
                        let mut n = itoa::Buffer::new();
                        crate::protocol::put_record(
                            &mut r.pending,
                            &[b"SELECT", n.format(s.dbi).as_bytes()],
                        );
                        r.pending.append(&mut s.out);
                    }
                }
            }
            if r.serialised {
                // Every slot's T0 state is out: later changes are the new incremental
                // file's alone, and a flushed database the views kept can go.
                for db in dbs.iter_mut() {
                    if let Some(old) = db.end_snapshot() {
                        crate::keyspace::lazyfree::free_later(old.len() as u64, old);
                    }
                }
            }
        }
        // A full queue keeps the bytes here for a later tick (checked first: a refused job
        // would take the chunk down with it).
        let chunk_size = if r.pause.is_zero() { CHUNK } else { 64 << 10 };
        if (r.pending.len() >= chunk_size || (r.serialised && !r.pending.is_empty()))
            && r.writer.has_room()
        {
            let next = r
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(2 * CHUNK));
            let chunk = std::mem::replace(&mut r.pending, next);
            let n = chunk.len() as u64;
            let f = Arc::clone(&r.base_file);
            let slow = r.pause / 6;
            let job = move || {
                std::thread::sleep(slow);
                (&*f).write_all(&chunk).map(|()| chunk)
            };
            if r.writer.try_submit(RwJob::Chunk, job).is_err() {
                unreachable!("the writer had room and only the loop submits");
            }
            r.in_flight += n;
        }
        if r.serialised && r.pending.is_empty() && r.in_flight == 0 && !r.switching {
            let dir = self.cfg.dir.join(DIRNAME);
            let name = self.cfg.filename.clone();
            let parts = vec![r.base.clone(), r.incr.clone()];
            let old: Vec<Part> = r
                .old
                .iter()
                .filter(|p| !parts.contains(p))
                .cloned()
                .collect();
            let f = Arc::clone(&r.base_file);
            let pause = r.pause;
            let job = move || -> io::Result<Vec<u8>> {
                f.sync_all()?;
                std::thread::sleep(pause);
                write_manifest(&dir, &name, &parts)?;
                std::thread::sleep(pause);
                for p in old {
                    let _ = fs::remove_file(dir.join(&p.name));
                }
                Ok(Vec::new())
            };
            r.switching = r.writer.try_submit(RwJob::Switch, job).is_ok();
        }
        let now = Instant::now();
        Some(if r.serialised {
            now + Duration::from_millis(5)
        } else {
            r.next_slice.max(now)
        })
    }

    /// The worker replaced the manifest: the new base and incremental files are the log.
    fn rewrite_switched(&mut self) {
        let Some(r) = self.rewrite.take() else {
            return;
        };
        self.rewrites += 1;
        self.last_rewrite_secs = r.started.elapsed().as_secs() as i64;
        self.parts = vec![r.base, r.incr];
        self.base_size = r.written;
        self.size_after_rewrite = r.written + self.size;
        self.last_rewrite_ok = true;
        info!(
            "Background AOF rewrite finished successfully ({} bytes base)",
            r.written
        );
    }

    /// Give a rewrite up (a write of its base file failed): the log goes on as it was.
    fn abandon_rewrite(&mut self, dbs: &mut [Db], why: &str) {
        for db in dbs.iter_mut() {
            if let Some(old) = db.end_snapshot() {
                crate::keyspace::lazyfree::free_later(old.len() as u64, old);
            }
        }
        let Some(r) = self.rewrite.take() else {
            return;
        };
        let _ = fs::remove_file(self.cfg.dir.join(DIRNAME).join(&r.base.name));
        self.rewrites += 1;
        self.last_rewrite_secs = r.started.elapsed().as_secs() as i64;
        self.last_rewrite_ok = false;
        warn!("Background AOF rewrite failed: {why}");
    }
}

/// Test hook (`READYLOOP_TEST_REWRITE_PAUSE_MS`): the rewrite's writer pauses this long before
/// and after replacing the manifest, and a sixth of it before each chunk (chunks of 64 KiB
/// then), so that kill tests hit each side of the switch and a writer that falls behind the
/// slices (its queue full) is exercised.
pub(super) fn test_pause() -> Duration {
    std::env::var("READYLOOP_TEST_REWRITE_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
}

/// One slice over every database's view until `until`; true when all are complete.
pub(super) fn slice(dbs: &mut [Db], until: Instant) -> bool {
    for db in dbs.iter_mut() {
        while !db.snapshot_step(SLICE_SLOTS) {
            if Instant::now() >= until {
                return false;
            }
        }
    }
    true
}

/// Views left behind by a rewrite that ended without reaching them (CONFIG SET appendonly
/// no, a failure): dropped so the store stops serialising for nobody.
pub(super) fn drop_stale_views(dbs: &mut [Db]) {
    for db in dbs.iter_mut() {
        if let Some(old) = db.end_snapshot() {
            crate::keyspace::lazyfree::free_later(old.len() as u64, old);
        }
    }
}

/// write(2) until all of `b` is written or an error; the error carries how much was written.
pub(super) fn write_some(mut f: &File, b: &[u8]) -> Result<usize, (usize, io::Error)> {
    let mut done = 0;
    while done < b.len() {
        match f.write(&b[done..]) {
            Ok(0) => return Err((done, io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((done, e)),
        }
    }
    Ok(done)
}

/// Sum of every database's change counter (a command changed data if it moved).
pub fn dirty(dbs: &[Db]) -> u64 {
    dbs.iter().map(|d| d.dirty).sum()
}
