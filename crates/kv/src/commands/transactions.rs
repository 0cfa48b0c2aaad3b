//! Transactions (Redis 7.0): MULTI queues commands (name, arity, OOM and MISCONF checked as
//! they come; a refusal makes EXEC answer EXECABORT), EXEC runs them back to back (nothing
//! else runs on the loop meanwhile), DISCARD drops them; WATCH makes EXEC answer nil if a
//! watched key changed in between.
//!
//! How "changed" is seen: every `Db` method that changes a key bumps a per-key counter while
//! someone watches that key (`keyspace::db`), which covers writes by anyone (the watcher's own
//! included, as in Redis), expiry, FLUSHALL/FLUSHDB, SWAPDB, RENAME and MOVE without a hook
//! in each command; WATCH records the counter, EXEC compares. A key whose deadline passed but
//! that expiry has not removed yet also aborts EXEC (Redis 7.0's isWatchedKeyExpired).
//!
//! The log: an EXEC that wrote anything is logged as MULTI ... EXEC (the log opens the block
//! at the first write), so replay applies all of it or, if the tail was torn, none of it.

use hashbrown::HashMap;

use crate::protocol::{Args, Parse, Parser};
use crate::service::{Core, Exec};

#[derive(Default)]
struct Tx {
    in_multi: bool,
    /// Queued requests, each RESP-encoded (parsed again at EXEC).
    queued: Vec<Vec<u8>>,
    /// A command was refused while queuing: EXEC aborts.
    refused: bool,
    /// The queued commands' flags together: EXEC is checked as a write (MISCONF) and as
    /// memory-hungry (OOM) if any of them is, as Redis does.
    flags: u32,
    /// (database, key, the key's change count at WATCH).
    watched: Vec<(usize, Box<[u8]>, u64)>,
}

/// Every client's transaction state.
#[derive(Default)]
pub struct Multi {
    txs: HashMap<u64, Tx>,
    /// How many clients watch each key (the database's counter lives while one does).
    watchers: HashMap<(usize, Box<[u8]>), u32>,
    /// EXEC is running queued commands (blocking commands must not block).
    pub executing: bool,
}

impl Multi {
    /// Asked for every command: no hash lookup while nobody uses transactions.
    #[inline]
    pub fn in_multi(&self, client: u64) -> bool {
        !self.txs.is_empty() && self.txs.get(&client).is_some_and(|t| t.in_multi)
    }
}

/// Forget `client`'s watched keys.
fn unwatch_all(core: &mut Core, client: u64) {
    let Some(tx) = core.multi.txs.get_mut(&client) else {
        return;
    };
    let watched = std::mem::take(&mut tx.watched);
    for (db, key) in watched.into_iter().map(|(d, k, _)| (d, k)) {
        let Some(n) = core.multi.watchers.get_mut(&(db, key.clone())) else {
            continue;
        };
        *n -= 1;
        if *n == 0 {
            core.multi.watchers.remove(&(db, key.clone()));
            if let Some(d) = core.dbs.get_mut(db) {
                d.unwatch(&key);
            }
        }
    }
}

/// Drop `client`'s transaction and watches (DISCARD, RESET, disconnect).
pub fn discard_all(core: &mut Core, client: u64) {
    unwatch_all(core, client);
    core.multi.txs.remove(&client);
}

/// A connection closed.
pub fn closed(core: &mut Core, client: u64) {
    discard_all(core, client);
}

/// Inside MULTI every command but these few is queued: true when it was (+QUEUED replied).
pub fn precheck(x: &mut Exec<'_, '_>, cmd: &crate::commands::table::Command, a: &Args<'_>) -> bool {
    let id = x.client.id;
    let m = &x.core.multi;
    if m.executing || !m.in_multi(id) {
        return false;
    }
    if matches!(
        cmd.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    ) {
        return false;
    }
    // Redis looks subcommands up before queuing: an unknown one or a wrong arity is refused
    // now (and spoils the transaction), not answered inside EXEC.
    if !cmd.subs.is_empty()
        && a.len() >= 2
        && crate::commands::table::check_sub(x, a, cmd.name).is_none()
    {
        queue_error(x.core, id);
        return true;
    }
    let mut enc = Vec::with_capacity(16 + a.iter().map(|s| s.len() + 16).sum::<usize>());
    let mut n = itoa::Buffer::new();
    enc.push(b'*');
    enc.extend_from_slice(n.format(a.len()).as_bytes());
    enc.extend_from_slice(b"\r\n");
    for arg in a.iter() {
        enc.push(b'$');
        enc.extend_from_slice(n.format(arg.len()).as_bytes());
        enc.extend_from_slice(b"\r\n");
        enc.extend_from_slice(arg);
        enc.extend_from_slice(b"\r\n");
    }
    if let Some(t) = x.core.multi.txs.get_mut(&id) {
        t.queued.push(enc);
        t.flags |= cmd.flags;
    }
    x.r().simple("QUEUED");
    true
}

/// The flags of the commands `client` has queued (0 outside MULTI).
pub fn queued_flags(core: &Core, client: u64) -> u32 {
    core.multi
        .txs
        .get(&client)
        .filter(|t| t.in_multi)
        .map_or(0, |t| t.flags)
}

/// A command was refused (unknown, arity, OOM, MISCONF) while queuing: EXEC will abort.
pub fn queue_error(core: &mut Core, client: u64) {
    if let Some(t) = core.multi.txs.get_mut(&client) {
        if t.in_multi {
            t.refused = true;
        }
    }
}

pub fn multi(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let tx = x.core.multi.txs.entry(x.client.id).or_default();
    if tx.in_multi {
        return x.err("ERR MULTI calls can not be nested");
    }
    tx.in_multi = true;
    x.r().ok();
}

pub fn discard(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    if !x.core.multi.in_multi(x.client.id) {
        return x.err("ERR DISCARD without MULTI");
    }
    discard_all(x.core, x.client.id);
    x.r().ok();
}

pub fn watch(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let id = x.client.id;
    if x.core.multi.in_multi(id) {
        return x.err("ERR WATCH inside MULTI is not allowed");
    }
    let db = x.client.db;
    let now = x.core.now_ms;
    for k in a.iter().skip(1) {
        let tx = x.core.multi.txs.entry(id).or_default();
        if tx.watched.iter().any(|(d, key, _)| *d == db && **key == *k) {
            continue;
        }
        // An already expired key is removed first: its removal is no change to see later
        // (Redis 7.0 marks such a watch `expired` for the same effect).
        x.core.dbs[db].lookup(k, now);
        let count = x.core.dbs[db].watch(k);
        let key: Box<[u8]> = k.into();
        tx.watched.push((db, key.clone(), count));
        *x.core.multi.watchers.entry((db, key)).or_default() += 1;
    }
    x.r().ok();
}

pub fn unwatch(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    unwatch_all(x.core, x.client.id);
    x.r().ok();
}

/// A watched key changed, or its deadline passed, since WATCH.
fn watch_broken(core: &Core, client: u64) -> bool {
    let now = core.now_ms;
    core.multi.txs.get(&client).is_some_and(|t| {
        t.watched.iter().any(|(db, key, count)| {
            let d = &core.dbs[*db];
            d.watch_count(key) != *count || d.is_expired_key(key, now)
        })
    })
}

pub fn exec(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let id = x.client.id;
    if !x.core.multi.in_multi(id) {
        return x.err("ERR EXEC without MULTI");
    }
    let broken = watch_broken(x.core, id);
    let tx = x.core.multi.txs.get_mut(&id).map(std::mem::take);
    let tx = tx.unwrap_or_default();
    x.core.multi.txs.insert(
        id,
        Tx {
            watched: tx.watched,
            ..Tx::default()
        },
    );
    discard_all(x.core, id);
    if tx.refused {
        return x.err("EXECABORT Transaction discarded because of previous errors.");
    }
    if broken {
        return x.r().null_array();
    }
    x.r().array(tx.queued.len());
    x.core.multi.executing = true;
    x.core.aof.begin_exec();
    let mut p = Parser::default();
    for req in &tx.queued {
        if !matches!(p.parse(req, true, u64::MAX), Parse::Request { .. }) {
            continue;
        }
        let args = p.args(req);
        crate::service::call_queued(x, args);
    }
    x.core.aof.end_exec();
    x.core.multi.executing = false;
}

#[cfg(test)]
mod tests {
    use crate::keyspace::{Db, NewValue};

    #[test]
    fn a_watched_key_counts_every_kind_of_change() {
        let mut db = Db::default();
        let w = db.watch(b"k");
        db.set(b"k", NewValue::Str(b"v"), false);
        let after_insert = db.watch_count(b"k");
        assert!(after_insert > w, "insert");
        // Same value again: Redis's WATCH still sees a write.
        db.set(b"k", NewValue::Str(b"v"), false);
        assert!(
            db.watch_count(b"k") > after_insert,
            "overwrite with the same value"
        );
        let c = db.watch_count(b"k");
        let i = db.find(b"k").unwrap();
        db.set_deadline(i, 1);
        assert!(db.watch_count(b"k") > c, "deadline");
        let c = db.watch_count(b"k");
        assert_eq!(db.expire_due(2, 10), 1);
        assert!(db.watch_count(b"k") > c, "active expiry");
        // A flush changes a watched key only if it existed.
        let c = db.watch_count(b"k");
        db.clear();
        assert_eq!(db.watch_count(b"k"), c, "flush of an absent key");
        db.set(b"k", NewValue::Int(1), false);
        let c = db.watch_count(b"k");
        db.clear();
        assert!(db.watch_count(b"k") > c, "flush of a present key");
        // Other keys do not count; an unwatched key keeps no counter.
        let c = db.watch_count(b"k");
        db.set(b"other", NewValue::Int(1), false);
        assert_eq!(db.watch_count(b"k"), c);
        db.unwatch(b"k");
        db.set(b"k", NewValue::Int(2), false);
        assert_eq!(db.watch_count(b"k"), 0);
    }
}
