//! Lazy free: UNLINK (and DEL with `lazyfree-lazy-user-del yes`) of a big value, FLUSHDB ASYNC /
//! FLUSHALL ASYNC (and `lazyfree-lazy-user-flush yes`) take the value or keyspace off the
//! database at once (O(1) on the loop) and hand it to a worker of a thread pool (crates/pool)
//! that drops it, so freeing 10,000,000 elements does not stall the loop.
//!
//! As Redis: a value is freed on the worker only when freeing it is worth a hand-off, i.e. its
//! free effort (allocations to walk, [`free_effort`](kvtypes::free_effort)) is above 64;
//! smaller ones are freed inline, which is cheaper than the queue.
//!
//! One pool for the process, started on first use, shared by every database: it is only ever
//! used from the loop thread (the lock is uncontended); completions are counters only, so they
//! are taken and discarded at the next submission and no wake-up is needed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use readyloop_pool::{Config, Pool, Wake};

use crate::keyspace::{Db, Idx};

/// Objects (keys or values) handed to the worker and not yet freed (INFO's
/// lazyfree_pending_objects).
pub static PENDING: AtomicU64 = AtomicU64::new(0);
/// Objects freed by the worker (INFO's lazyfreed_objects).
pub static FREED: AtomicU64 = AtomicU64::new(0);

/// Redis's LAZYFREE_THRESHOLD.
pub const THRESHOLD: usize = 64;

struct NoWake;
impl Wake for NoWake {
    fn wake(&self) {}
}

static POOL: OnceLock<Mutex<Option<Pool<(), ()>>>> = OnceLock::new();

fn pool() -> &'static Mutex<Option<Pool<(), ()>>> {
    POOL.get_or_init(|| {
        let mut cfg = Config::new(1, 1024);
        cfg.name = "readyloop-lazyfree".into();
        // Not niced: free(3) of memory the loop allocated takes glibc's main-arena lock, and a
        // worker preempted while holding it (at nice 19 it may then wait long for a CPU
        // shared with other work) would hold the loop up at its next malloc.
        match Pool::start(&cfg, NoWake) {
            Ok(p) => Mutex::new(Some(p)),
            Err(e) => {
                tracing::warn!("lazy free worker: {e}; freeing inline");
                Mutex::new(None)
            }
        }
    })
}

/// Drop `thing` (`n` objects) on the lazy-free worker; inline if it cannot take it.
pub fn free_later<T: Send + 'static>(n: u64, thing: T) {
    let mut guard = pool().lock().unwrap_or_else(|e| e.into_inner());
    let Some(p) = guard.as_mut() else {
        drop(guard);
        drop(thing);
        return;
    };
    let mut done = Vec::new();
    p.take_completions(&mut done);
    PENDING.fetch_add(n, Ordering::Relaxed);
    let job = move || {
        drop(thing);
        FREED.fetch_add(n, Ordering::Relaxed);
        PENDING.fetch_sub(n, Ordering::Relaxed);
    };
    if let Err(back) = p.try_submit((), job) {
        drop(guard);
        // 1024 frees queued: this one is done here rather than queued without bound.
        (back.job)();
    }
}

/// Remove the key in slot `i` of `db`, freeing its value on the worker when it is big;
/// true if it went to the worker.
pub fn unlink(db: &mut Db, i: Idx) -> bool {
    let big = db
        .obj(i)
        .is_some_and(|o| kvtypes::free_effort(o) > THRESHOLD);
    match big.then(|| db.unlink(i)).flatten() {
        Some(obj) => {
            free_later(1, obj);
            true
        }
        None => {
            if !big {
                db.remove(i);
            }
            false
        }
    }
}

/// Empty `db` now; free its keys on the worker.
pub fn clear_async(db: &mut Db) {
    if let Some(old) = db.flush() {
        let n = old.len() as u64;
        if n > 0 {
            free_later(n, old);
        }
    }
}

/// FLUSHDB/FLUSHALL with `ASYNC`, or with no option and `lazyfree-lazy-user-flush yes`.
pub fn wants_async(args: &crate::protocol::Args<'_>, extra: &[crate::config::Extra]) -> bool {
    match args.len() {
        2 => args.get(1).eq_ignore_ascii_case(b"async"),
        _ => yes(extra, "lazyfree-lazy-user-flush"),
    }
}

/// DEL behaves as UNLINK (`lazyfree-lazy-user-del yes`).
pub fn user_del(extra: &[crate::config::Extra]) -> bool {
    yes(extra, "lazyfree-lazy-user-del")
}

/// Expired keys are logged as UNLINK (`lazyfree-lazy-expire yes`), else DEL.
pub fn lazy_expire(extra: &[crate::config::Extra]) -> bool {
    yes(extra, "lazyfree-lazy-expire")
}

/// Evicted keys are logged as UNLINK (`lazyfree-lazy-eviction yes`), else DEL.
pub fn lazy_eviction(extra: &[crate::config::Extra]) -> bool {
    yes(extra, "lazyfree-lazy-eviction")
}

fn yes(extra: &[crate::config::Extra], name: &str) -> bool {
    extra.iter().any(|e| e.name == name && e.value == "yes")
}

/// INFO memory's lazy-free lines.
pub fn info() -> String {
    format!(
        "lazyfree_pending_objects:{}\r\nlazyfreed_objects:{}\r\n",
        PENDING.load(Ordering::Relaxed),
        FREED.load(Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::NewValue;
    use kvtypes::{Object, Set};

    fn wait_freed(at_least: u64) {
        let t0 = std::time::Instant::now();
        while FREED.load(Ordering::Relaxed) < at_least {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "never freed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn flush_async_empties_now_and_frees_on_the_worker() {
        let mut db = Db::default();
        for i in 0..10_000u32 {
            db.insert_new(format!("k{i}").as_bytes(), NewValue::Str(&[b'x'; 100]));
        }
        let (dirty, freed) = (db.dirty, FREED.load(Ordering::Relaxed));
        clear_async(&mut db);
        assert_eq!(db.len(), 0);
        assert!(db.dirty > dirty, "a flush is a change the log must see");
        wait_freed(freed + 10_000);
    }

    #[test]
    fn unlink_frees_a_big_set_on_the_worker_and_a_small_one_inline() {
        let mut db = Db::default();
        let mut big = Set::default();
        for m in 0..1000u32 {
            big.add(format!("m{m}").as_bytes(), 512);
        }
        let i = db.insert_obj(b"big", Object::Set(big));
        let small = db.insert_obj(b"small", Object::Set(Set::Ints(vec![1, 2, 3])));
        let freed = FREED.load(Ordering::Relaxed);
        assert!(unlink(&mut db, i), "1000 members: freed on the worker");
        assert!(db.find(b"big").is_none());
        wait_freed(freed + 1);
        assert!(
            !unlink(&mut db, small),
            "an intset is one allocation: freed inline"
        );
        assert!(db.find(b"small").is_none());
        assert_eq!(db.len(), 0);
    }
}
