//! Snapshot commands: DUMP and RESTORE (Redis's payload: RDB value, version, CRC-64, so a
//! payload moves between redis-server 7.0 and ours both ways), SAVE, BGSAVE, LASTSAVE.
//!
//! May use: the keyspace, `persistence::rdb` (the format and the file), the protocol's reply
//! encoder; may not touch other clients' connections. RESTORE reaches the log as the effect
//! Redis propagates: a relative TTL becomes absolute (`ABSTTL`), so replay restores the same
//! deadline.

use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::persistence::rdb::{self, save};
use crate::protocol::{parse_i64, Args};
use crate::service::{Core, Exec};

/// `dbfilename` as configured.
fn dbfilename(core: &Core) -> String {
    extra(core, "dbfilename").unwrap_or_else(|| "dump.rdb".into())
}

fn extra(core: &Core, name: &str) -> Option<String> {
    core.extra
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.value.clone())
}

fn compress(core: &Core) -> bool {
    extra(core, "rdbcompression").is_none_or(|v| v == "yes")
}

/// Where SAVE writes: `dir/dbfilename`.
pub fn target(core: &Core) -> std::path::PathBuf {
    save::path(&core.aof.cfg.dir, &dbfilename(core))
}

pub fn dirty(core: &Core) -> u64 {
    crate::persistence::aof::dirty(&core.dbs)
}

pub fn dump(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.read(a.get(1)) else {
        return x.r().null();
    };
    if matches!(x.db().obj(i), Some(kvtypes::Object::Stream(_))) {
        return x.err("ERR DUMP of a stream is not supported yet");
    }
    let payload = rdb::dump_payload(x.db(), i);
    x.r().bulk(&payload);
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
pub fn restore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let key = a.get(1);
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < a.len() {
        let more = a.len() - j - 1;
        match a.get(j).to_ascii_lowercase().as_slice() {
            b"replace" => replace = true,
            b"absttl" => absttl = true,
            b"idletime" if more >= 1 && freq.is_none() => {
                j += 1;
                match parse_i64(a.get(j)) {
                    None => return x.err(NOT_INT),
                    Some(v) if v < 0 => return x.err("ERR Invalid IDLETIME value, must be >= 0"),
                    Some(v) => idle = Some(v),
                }
            }
            b"freq" if more >= 1 && idle.is_none() => {
                j += 1;
                match parse_i64(a.get(j)) {
                    None => return x.err(NOT_INT),
                    Some(v) if !(0..=255).contains(&v) => {
                        return x.err("ERR Invalid FREQ value, must be >= 0 and <= 255")
                    }
                    Some(v) => freq = Some(v),
                }
            }
            _ => return x.err(SYNTAX),
        }
        j += 1;
    }
    let Some(ttl) = parse_i64(a.get(2)) else {
        return x.err(NOT_INT);
    };
    if ttl < 0 {
        return x.err("ERR Invalid TTL value, must be >= 0");
    }
    let existing = x.write(key);
    if existing.is_some() && !replace {
        return x.err("BUSYKEY Target key name already exists.");
    }
    let Some(value) = rdb::verify_payload(a.get(3)) else {
        return x.err("ERR DUMP payload version or checksum are wrong");
    };
    let lim = crate::commands::typed::limits(x.core);
    let Ok(loaded) = rdb::read_payload(value, &lim) else {
        return x.err("ERR Bad data format");
    };
    let now = x.core.now_ms;
    let at = match (ttl, absttl) {
        (0, _) => None,
        (t, true) => Some(t as u64),
        (t, false) => Some(now.saturating_add(t as u64)),
    };
    if let Some(i) = existing {
        x.db().remove(i);
    }
    if at.is_some_and(|at| at <= now) {
        // Already expired: the key is only deleted (if it was replaced), as Redis does.
        if existing.is_some() && x.core.aof.active() {
            x.core.aof.effect.push(vec![b"DEL".to_vec(), key.to_vec()]);
        }
        return x.r().ok();
    }
    let db = x.client.db;
    let i = loaded.insert(x.db(), key);
    if let Some(at) = at {
        x.db().set_deadline(i, at);
    }
    let clock = x.core.clock;
    match (idle, freq) {
        (Some(s), _) => x.db().touch(
            i,
            clock.wrapping_sub(s.min(i64::from(u32::MAX)) as u32),
            None,
        ),
        (_, Some(f)) => {
            let ldt = x.core.minutes();
            x.db().touch(i, clock, Some((ldt, f as u8)));
        }
        _ => x.core.init_access(db, i),
    }
    crate::commands::typed::signal_key(x, key);
    if x.core.aof.active() {
        let mut rec: Vec<Vec<u8>> = vec![b"RESTORE".to_vec(), key.to_vec()];
        rec.push(at.map_or(b"0".to_vec(), |t| t.to_string().into_bytes()));
        rec.push(a.get(3).to_vec());
        rec.push(b"REPLACE".to_vec());
        if at.is_some() {
            rec.push(b"ABSTTL".to_vec());
        }
        x.core.aof.effect.push(rec);
    }
    x.r().ok();
}

pub fn save(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    if x.core.rdb.in_progress() {
        return x.err("ERR Background save already in progress");
    }
    let (target, compress, dirty) = (target(x.core), compress(x.core), dirty(x.core));
    let core = &mut *x.core;
    match core
        .rdb
        .save(&core.dbs, core.now_ms, dirty, &target, compress)
    {
        Ok(()) => x.r().ok(),
        Err(e) => {
            tracing::warn!("Failed opening the RDB file {}: {e}", target.display());
            x.err("ERR")
        }
    }
}

/// BGSAVE [SCHEDULE]
pub fn bgsave(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() > 2 || (a.len() == 2 && !a.get(1).eq_ignore_ascii_case(b"schedule")) {
        return x.err(SYNTAX);
    }
    if x.core.rdb.in_progress() {
        return x.err("ERR Background save already in progress");
    }
    match start_bgsave(x.core) {
        Ok(()) => x.r().simple("Background saving started"),
        Err(e) => x.err(&format!("ERR {e}")),
    }
}

/// Start a BGSAVE (the command, and save points from the tick).
pub fn start_bgsave(core: &mut Core) -> std::io::Result<()> {
    let (target, compress, dirty) = (target(core), compress(core), dirty(core));
    core.rdb.last_try = save::unix_now();
    core.rdb
        .start_bgsave(&core.dbs, core.now_ms, dirty, target, compress)
}

pub fn lastsave(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let t = x.core.rdb.last_save as i64;
    x.r().int(t);
}

/// From the tick: collect a finished BGSAVE and start one when a save point is due.
pub fn tick(core: &mut Core) {
    core.rdb.poll();
    // Cheap when no save points are set (the common case): no allocation per tick.
    let set = core
        .extra
        .iter()
        .any(|e| e.name == "save" && !e.value.is_empty());
    if !set {
        return;
    }
    let Some(points) = extra(core, "save").and_then(|v| save::parse_points(&v)) else {
        return;
    };
    if !points.is_empty() && core.rdb.point_due(&points, dirty(core)) {
        if let Err(e) = start_bgsave(core) {
            core.rdb.last_bgsave_ok = false;
            tracing::warn!("Can't save in background: {e}");
        }
    }
}

/// At shutdown: SAVE when save points are configured (or `force`), unless `nosave`.
pub fn on_shutdown(core: &mut Core, mode: Shutdown) -> std::io::Result<()> {
    core.rdb.wait();
    let points = extra(core, "save")
        .and_then(|v| save::parse_points(&v))
        .unwrap_or_default();
    let wanted = match mode {
        Shutdown::Save => true,
        Shutdown::NoSave => false,
        Shutdown::Default => !points.is_empty(),
    };
    if !wanted {
        return Ok(());
    }
    tracing::info!("Saving the final RDB snapshot before exiting.");
    let (target, compress, dirty) = (target(core), compress(core), dirty(core));
    core.rdb
        .save(&core.dbs, core.now_ms, dirty, &target, compress)
}

/// What SHUTDOWN (or a signal) asked for the snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Shutdown {
    #[default]
    Default,
    Save,
    NoSave,
}
