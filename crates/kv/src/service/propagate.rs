//! The one propagation path: after a write command (or each command EXEC runs), what it
//! changed reaches the log as commands. A handler whose verbatim replay would not reproduce
//! its effect (a relative TTL, a random pick, a pop served to a blocked client) leaves effect
//! records in `Aof::effect` (replacing the command) or `Aof::then` (after it); everything else
//! is logged as it was sent. The log never learns which command family produced a record,
//! and later consumers (replicas) read the same stream.

use readyloop_server::Ctx;

use crate::protocol::Args;
use crate::service::Core;

/// After a write command ran: log it if it changed data (FLUSHDB/FLUSHALL/SWAPDB always,
/// as Redis propagates them even on empty databases), and hold the reply for the log.
#[allow(clippy::too_many_arguments)]
pub fn after_command(
    core: &mut Core,
    db: usize,
    name: &str,
    a: Args<'_>,
    dirty_before: u64,
    ctx: &mut Ctx<'_>,
    reply_at: usize,
) {
    let failed = ctx.out().get(reply_at) == Some(&b'-');
    let changed = match name {
        "flushdb" | "flushall" | "swapdb" => !failed,
        _ => crate::persistence::aof::dirty(&core.dbs) != dirty_before,
    };
    let effect = std::mem::take(&mut core.aof.effect);
    let then = std::mem::take(&mut core.aof.then);
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
