//! Lazy free: FLUSHDB ASYNC / FLUSHALL ASYNC (and `lazyfree-lazy-user-flush yes`) hand the old
//! keyspace to a thread that drops it, so freeing millions of keys does not stall the loop.
//! The loop only swaps in an empty database (O(1)).
//!
//! A dedicated thread, started on first use (the thread pool of issue 9 can take this job once
//! it is merged here). UNLINK of a string frees one allocation, no more than DEL, so it stays
//! inline; values big enough to matter (large sets, lists) arrive with the data-type issue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

use crate::store::Db;

/// Keys handed to the thread and not yet freed (INFO's lazyfree_pending_objects).
pub static PENDING: AtomicU64 = AtomicU64::new(0);
/// Keys freed by the thread (INFO's lazyfreed_objects).
pub static FREED: AtomicU64 = AtomicU64::new(0);

static TX: OnceLock<Mutex<Option<Sender<Db>>>> = OnceLock::new();

fn sender() -> Option<Sender<Db>> {
    let cell = TX.get_or_init(|| {
        let (tx, rx) = channel::<Db>();
        let spawned = std::thread::Builder::new()
            .name("readyloop-lazyfree".into())
            .spawn(move || {
                for db in rx {
                    let n = db.len() as u64;
                    drop(db);
                    FREED.fetch_add(n, Ordering::Relaxed);
                    PENDING.fetch_sub(n, Ordering::Relaxed);
                }
            });
        Mutex::new(spawned.ok().map(|_| tx))
    });
    cell.lock().ok()?.clone()
}

/// Empty `db` now; free its keys on the lazy-free thread (inline if it cannot start).
pub fn clear_async(db: &mut Db) {
    db.touch_watched_present(None);
    let watched = db.take_watched();
    let old = std::mem::take(db);
    db.expired = old.expired;
    db.dirty = old.dirty + 1;
    db.put_watched(watched);
    let n = old.len() as u64;
    match sender() {
        Some(tx) => {
            PENDING.fetch_add(n, Ordering::Relaxed);
            if let Err(e) = tx.send(old) {
                PENDING.fetch_sub(n, Ordering::Relaxed);
                drop(e.0);
            }
        }
        None => drop(old),
    }
}

/// FLUSHDB/FLUSHALL with `ASYNC`, or with no option and `lazyfree-lazy-user-flush yes`.
pub fn wants_async(args: &crate::resp::Args<'_>, extra: &[crate::admin::Extra]) -> bool {
    match args.len() {
        2 => args.get(1).eq_ignore_ascii_case(b"async"),
        _ => extra
            .iter()
            .any(|e| e.name == "lazyfree-lazy-user-flush" && e.value == "yes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewValue;

    #[test]
    fn flush_async_empties_now_and_frees_on_the_thread() {
        let mut db = Db::default();
        for i in 0..10_000u32 {
            db.insert_new(format!("k{i}").as_bytes(), NewValue::Str(&[b'x'; 100]));
        }
        let (dirty, freed) = (db.dirty, FREED.load(Ordering::Relaxed));
        clear_async(&mut db);
        assert_eq!(db.len(), 0);
        assert!(db.dirty > dirty, "a flush is a change the log must see");
        let t0 = std::time::Instant::now();
        while FREED.load(Ordering::Relaxed) < freed + 10_000 {
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(10),
                "never freed"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}
