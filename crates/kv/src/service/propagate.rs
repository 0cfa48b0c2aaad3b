//! The one propagation path: whatever changes the dataset reaches the log (and, later,
//! replicas: they read the same records) as a *deterministic effect*, in the order the
//! changes happened. Replay runs without the clock, without blocked clients and without the
//! random generator, so nothing may be logged whose replay depends on them.
//!
//! ```text
//! lazy / active expiry ─▶ Db::take_expired ─┐
//! eviction ────────────────────────────────┤
//! a command that changed data ─────────────┼─▶ emit(db, record) ─▶ Aof::feed_effect / feed
//! a blocked client served after a command ─┘        (SELECT, MULTI/EXEC framing: the log's)
//! ```
//!
//! The interface, for every family (this is all a new command needs to know):
//! - A handler whose verbatim replay reproduces its effect does nothing: it is logged as sent,
//!   if it changed data (`Db::dirty` moved). Commands with relative times are rewritten to
//!   absolute ones by the log itself (`Aof::feed`).
//! - A handler whose replay would differ (a random pick, a pop a blocking command served, a
//!   relative time the log does not know) calls [`Exec::log_as`] with the record(s) it amounts
//!   to; they replace its arguments. Several calls log several records, in order.
//! - Work outside a command (serving a blocked client, a script's effects later) calls
//!   [`effect`] with the database and record.
//! - Expiry needs nothing: the keyspace keeps every expired key and every path here first
//!   logs their deletion ([`expired`]): DEL, or UNLINK with `lazyfree-lazy-expire yes`, as
//!   Redis propagates them. A command that fails after running into an expired key logs the
//!   DEL and nothing else (expiry does not move `dirty`).
//!
//! What it may not touch: command semantics. It only orders records and hands them on.

use readyloop_server::Ctx;

use crate::protocol::Args;
use crate::service::{Core, Exec};

impl Exec<'_, '_> {
    /// The running command is logged as `rec` instead of its arguments (call again for more
    /// records). Only used if the command changed data; free when the log is off.
    pub fn log_as(&mut self, rec: Vec<Vec<u8>>) {
        if self.core.aof.active() {
            self.core.aof.effect.push(rec);
        }
    }
}

/// Log the deletion of every key expired since the last call (any database), in order.
/// Always drains, so the keyspace keeps nothing while the log is off.
pub fn expired(core: &mut Core) {
    let active = core.aof.active();
    let unlink = crate::keyspace::lazyfree::lazy_expire(&core.extra);
    for db in 0..core.dbs.len() {
        if !core.dbs[db].has_expired() {
            continue;
        }
        let keys = core.dbs[db].take_expired();
        if active {
            let name: &[u8] = if unlink { b"UNLINK" } else { b"DEL" };
            for k in keys {
                core.aof.feed_effect(db, &[name.to_vec(), k.into_vec()]);
            }
        }
    }
}

/// A change made outside any command's record (a blocked client served): `rec` for
/// database `db`, after the deletions of keys that expired before it.
pub fn effect(core: &mut Core, db: usize, rec: &[Vec<u8>]) {
    expired(core);
    if core.aof.active() {
        core.aof.feed_effect(db, rec);
    }
}

/// A key evicted at the memory limit: DEL, or UNLINK with `lazyfree-lazy-eviction yes`.
pub fn evicted(core: &mut Core, db: usize, key: &[u8]) {
    let name: &[u8] = if crate::keyspace::lazyfree::lazy_eviction(&core.extra) {
        b"UNLINK"
    } else {
        b"DEL"
    };
    effect(core, db, &[name.to_vec(), key.to_vec()]);
}

/// After a command ran (`write`: it may change data): the deletions of keys it found expired,
/// then its own record if it changed data (FLUSHDB/FLUSHALL/SWAPDB always, as Redis
/// propagates them even on empty databases), and its reply held for the log.
#[allow(clippy::too_many_arguments)]
pub fn after_command(
    core: &mut Core,
    db: usize,
    name: &str,
    a: Args<'_>,
    dirty_before: Option<u64>,
    ctx: &mut Ctx<'_>,
    reply_at: usize,
) {
    expired(core);
    let effect = std::mem::take(&mut core.aof.effect);
    let then = std::mem::take(&mut core.aof.then);
    let Some(dirty_before) = dirty_before else {
        return;
    };
    let failed = ctx.out().get(reply_at) == Some(&b'-');
    let changed = match name {
        "flushdb" | "flushall" | "swapdb" => !failed,
        _ => crate::persistence::aof::dirty(&core.dbs) != dirty_before,
    };
    if !changed || core.aof.muted {
        return;
    }
    if effect.is_empty() {
        core.aof.feed(&core.dbs, db, name, a);
    } else {
        for rec in &effect {
            core.aof.feed_effect(db, rec);
        }
    }
    for (d, rec) in &then {
        core.aof.feed_effect(*d, rec);
    }
    core.aof.wait(ctx);
}
