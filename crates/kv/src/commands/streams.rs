//! Stream commands without consumer-group bookkeeping of their own: XADD, XRANGE,
//! XREVRANGE, XLEN, XDEL, XTRIM, XSETID, XREAD (and the shared reading core that XREADGROUP
//! and the blocked-client path use). Redis 7.0 `t_stream.c` semantics; replies and error
//! texts checked against redis-server 7.0.15.
//!
//! Owns: argument parsing of IDs and trimming options, entry replies, the log records of
//! stream writes (XADD with its generated ID, approximate trims made exact, XREADGROUP as
//! XCLAIM + XGROUP SETID) and serving a client parked on streams. Does not touch the
//! packed layout (kvtypes::stream) or the parking machinery (blocking.rs).

use kvtypes::stream::{Flow, NodeLimits, Stream, StreamId, Trim};
use kvtypes::{Kind, Object};

use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::keyspace::{Db, Idx};
use crate::protocol::{parse_i64, Args, Reply};
use crate::service::{Core, Exec};

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const XADD_SMALLER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
const NO_KEY: &str = "ERR no such key";
/// XREAD's reply count when blocked without COUNT (Redis's XREAD_BLOCKED_DEFAULT_COUNT):
/// a client that blocks with a low ID is not sent the whole stream at once.
const BLOCKED_DEFAULT_COUNT: usize = 1000;

// ------------------------------------------------------------------------------------------
// IDs

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// An ID as Redis's `streamGenericParseIDOrReply` reads it: `ms[-seq]`, `-`/`+` unless
/// `strict`; a missing sequence is `missing_seq`; with `star`, `ms-*` returns seq None.
pub fn parse_id_opt(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    star: bool,
) -> Option<(u64, Option<u64>)> {
    if b.len() > 127 {
        return None;
    }
    match b {
        b"-" if !strict => return Some((0, Some(0))),
        b"+" if !strict => return Some((u64::MAX, Some(u64::MAX))),
        _ => {}
    }
    match b.iter().position(|&c| c == b'-') {
        None => Some((parse_u64(b)?, Some(missing_seq))),
        Some(p) => {
            let ms = parse_u64(&b[..p])?;
            let rest = &b[p + 1..];
            if star && rest == b"*" {
                return Some((ms, None));
            }
            Some((ms, Some(parse_u64(rest)?)))
        }
    }
}

/// A full ID argument (no `-`/`+`, no `*`), or the invalid-ID error replied.
pub fn strict_id(x: &mut Exec<'_, '_>, b: &[u8]) -> Option<StreamId> {
    match parse_id_opt(b, 0, true, false) {
        Some((ms, Some(seq))) => Some(StreamId::new(ms, seq)),
        _ => {
            x.err(INVALID_ID);
            None
        }
    }
}

/// An interval bound (`-`, `+`, `(id` exclusive) for XRANGE/XPENDING/XAUTOCLAIM, made
/// inclusive; errors replied.
pub fn bound_id(x: &mut Exec<'_, '_>, b: &[u8], start: bool) -> Option<StreamId> {
    let (excl, body) = match b {
        [b'(', rest @ ..] if b.len() > 1 => (true, rest),
        _ => (false, b),
    };
    let missing = if start { 0 } else { u64::MAX };
    // An exclusive bound must be a real ID: `(-` and `(+` are refused.
    let Some((ms, Some(seq))) = parse_id_opt(body, missing, excl, false) else {
        x.err(INVALID_ID);
        return None;
    };
    let id = StreamId::new(ms, seq);
    if !excl {
        return Some(id);
    }
    let moved = if start { id.next() } else { id.prev() };
    if moved.is_none() {
        x.err(if start {
            "ERR invalid start ID for the interval"
        } else {
            "ERR invalid end ID for the interval"
        });
    }
    moved
}

pub fn id_bytes(id: StreamId) -> Vec<u8> {
    id.to_bytes()
}

// ------------------------------------------------------------------------------------------
// replies and lookups

/// `[id, [field, value, ...]]`.
pub fn reply_entry(r: &mut Reply<'_>, id: StreamId, pairs: &[&[u8]]) {
    r.array(2);
    r.bulk(&id.to_bytes());
    r.array(pairs.len());
    for p in pairs {
        r.bulk(p);
    }
}

/// Entries of `start..=end` (up to `count`, 0 for all) as an array; the number written.
pub fn reply_range(
    r: &mut Reply<'_>,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
) -> usize {
    // The array header comes first, so the entries are gathered once (bounded by count).
    let mut items: Vec<(StreamId, Vec<&[u8]>)> = Vec::new();
    s.range(start, end, rev, |id, p| {
        items.push((id, p.to_vec()));
        if count != 0 && items.len() >= count {
            Flow::Break(())
        } else {
            Flow::Continue(())
        }
    });
    r.array(items.len());
    for (id, p) in &items {
        reply_entry(r, *id, p);
    }
    items.len()
}

/// The stream in slot `i` of `db`; the caller checked the type.
pub fn stream_of(db: &Db, i: Idx) -> &Stream {
    match db.obj(i) {
        Some(Object::Stream(s)) => s,
        _ => unreachable!("type checked by the caller"),
    }
}

/// Change the stream in slot `i` (memory accounting kept; `changed` judges whether it
/// was a change for the log and watchers). Streams are kept when empty, as in Redis.
pub fn stream_mut<R>(
    db: &mut Db,
    i: Idx,
    f: impl FnOnce(&mut Stream) -> R,
    changed: impl FnOnce(&R) -> bool,
) -> R {
    db.with_obj_if(
        i,
        |o| match o {
            Object::Stream(s) => f(s),
            _ => unreachable!("type checked by the caller"),
        },
        changed,
    )
}

/// The reply writer and the current database, borrowed apart.
pub fn split<'x>(x: &'x mut Exec<'_, '_>) -> (&'x mut Db, Reply<'x>) {
    let resp3 = x.client.resp3;
    let db = &mut x.core.dbs[x.client.db];
    (
        db,
        Reply {
            buf: x.ctx.out(),
            resp3,
        },
    )
}

/// Unix milliseconds for stream times (IDs, delivery and seen times): the loop's clock, or
/// the wall clock while the log is replayed (the loop's clock reads 0 then so that nothing
/// expires; a replayed XCLAIM's TIME must still be kept as it was, not clamped to 0).
pub fn clock(core: &Core) -> u64 {
    if core.now_ms != 0 {
        return core.now_ms;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// XREAD's top level: a map of key -> entries in RESP3, an array of `[key, entries]` in RESP2.
fn map_or_array(r: &mut Reply<'_>, n: usize) {
    if r.resp3 {
        r.map(n);
    } else {
        r.array(n);
    }
}

pub fn node_limits(core: &Core) -> NodeLimits {
    let mut l = NodeLimits::default();
    for e in &core.extra {
        match e.name {
            "stream-node-max-bytes" => l.max_bytes = e.value.parse().unwrap_or(l.max_bytes),
            "stream-node-max-entries" => l.max_entries = e.value.parse().unwrap_or(l.max_entries),
            _ => {}
        }
    }
    l
}

/// Log `rec` in place of the command (or in addition, after it, for a later record).
pub fn log_effect(core: &mut Core, rec: Vec<Vec<u8>>) {
    if core.aof.active() {
        core.aof.effect.push(rec);
    }
}

// ------------------------------------------------------------------------------------------
// XADD / XTRIM

struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: u64,
    /// Position of the MAXLEN/MINID value (the `~`/`=` is just before it, if given).
    value_at: usize,
}

/// XADD's and XTRIM's options from `from`; for XADD stops at the ID, returning its
/// position. Errors replied.
fn parse_trim(
    x: &mut Exec<'_, '_>,
    a: &Args<'_>,
    from: usize,
    xadd: bool,
) -> Option<(TrimArgs, usize, bool)> {
    let mut t = TrimArgs {
        how: None,
        approx: false,
        limit: 0,
        value_at: 0,
    };
    let mut limit_given = false;
    let mut nomk = false;
    let mut i = from;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = a.get(i);
        let lower = opt.to_ascii_lowercase();
        if xadd && opt == b"*" {
            break;
        } else if (lower == b"maxlen" || lower == b"minid") && more > 0 {
            if t.how.is_some() {
                x.err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
                return None;
            }
            t.approx = false;
            let next = a.get(i + 1);
            if more >= 2 && (next == b"~" || next == b"=") {
                t.approx = next == b"~";
                i += 1;
            }
            let v = a.get(i + 1);
            if lower == b"maxlen" {
                let Some(n) = parse_i64(v) else {
                    x.err(NOT_INT);
                    return None;
                };
                if n < 0 {
                    x.err("ERR The MAXLEN argument must be >= 0.");
                    return None;
                }
                t.how = Some(Trim::MaxLen(n as u64));
            } else {
                t.how = Some(Trim::MinId(strict_id(x, v)?));
            }
            i += 1;
            t.value_at = i;
        } else if lower == b"limit" && more > 0 {
            let Some(n) = parse_i64(a.get(i + 1)) else {
                x.err(NOT_INT);
                return None;
            };
            if n < 0 {
                x.err("ERR The LIMIT argument must be >= 0.");
                return None;
            }
            t.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && lower == b"nomkstream" {
            nomk = true;
        } else if xadd {
            // The ID (checked by the caller, after the options).
            break;
        } else {
            x.err(SYNTAX);
            return None;
        }
        i += 1;
    }
    if t.limit != 0 && t.how.is_none() {
        x.err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && t.how.is_none() {
        x.err("ERR syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    if limit_given {
        if !t.approx {
            x.err("ERR syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
    } else if t.approx {
        // Redis bounds an approximate trim's work to 100 nodes' worth by default.
        let per = node_limits(x.core).max_entries as u64;
        t.limit = (100 * per).clamp(1, 10_000);
        if per == 0 || 100 * per > 10_000 {
            t.limit = 10_000;
        }
    }
    Some((t, i, nomk))
}

/// Apply a trim; the records for the log rewrite an approximate trim as the exact one it
/// turned out to be (Redis rewrites `~` to `=` and the value to what was kept).
fn apply_trim(s: &mut Stream, t: &TrimArgs) -> u64 {
    match t.how {
        None => 0,
        Some(how) => s.trim(how, t.approx, t.limit),
    }
}

fn exact_trim_args(s: &Stream, t: &TrimArgs) -> Vec<Vec<u8>> {
    match t.how {
        Some(Trim::MaxLen(_)) => vec![
            b"MAXLEN".to_vec(),
            b"=".to_vec(),
            s.len().to_string().into_bytes(),
        ],
        Some(Trim::MinId(_)) => vec![b"MINID".to_vec(), b"=".to_vec(), s.first_id().to_bytes()],
        None => Vec::new(),
    }
}

pub fn xadd(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some((t, idpos, nomk)) = parse_trim(x, &a, 2, true) else {
        return;
    };
    let fields = idpos + 1;
    if a.len() < fields + 2 || (a.len() - fields) & 1 == 1 {
        return x.err("ERR wrong number of arguments for 'xadd' command");
    }
    let idarg = a.get(idpos);
    let given = if idarg == b"*" {
        None
    } else {
        match parse_id_opt(idarg, 0, true, true) {
            Some(v) => Some(v),
            None => return x.err(INVALID_ID),
        }
    };
    if given == Some((0, Some(0))) {
        return x.err("ERR The ID specified in XADD must be greater than 0-0");
    }
    let key = a.get(1);
    let i = match x.typed(key, Kind::Stream, true) {
        Err(_) => return,
        Ok(Some(i)) => i,
        Ok(None) if nomk => return x.r().null(),
        Ok(None) => x.new_obj(key, Object::Stream(Box::new(Stream::new()))),
    };
    let now = super::streams::clock(x.core);
    let limits = node_limits(x.core);
    let pairs: Vec<&[u8]> = a.iter().skip(fields).collect();
    let (db, mut r) = split(x);
    let last = stream_of(db, i).last_id();
    if last == StreamId::MAX {
        return r
            .error("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id = match given {
        None => stream_of(db, i).next_auto_id(now),
        Some((ms, Some(seq))) => Some(StreamId::new(ms, seq)).filter(|id| *id > last),
        Some((ms, None)) => {
            if ms > last.ms {
                Some(StreamId::new(ms, 0))
            } else if ms == last.ms && last.seq < u64::MAX {
                Some(StreamId::new(ms, last.seq + 1))
            } else {
                None
            }
        }
    };
    let Some(id) = id else {
        // A stream XADD just created stays (Redis creates it before the check too, but an
        // explicit ID below an empty new stream's 0-0 cannot happen: 0-0 was refused).
        return r.error(XADD_SMALLER);
    };
    let trim_args = stream_mut(
        db,
        i,
        |s| {
            s.add(id, &pairs, limits);
            apply_trim(s, &t);
            t.approx.then(|| exact_trim_args(s, &t))
        },
        |_| true,
    );
    r.bulk(&id.to_bytes());
    // The log gets the ID that was generated and the trim that was made.
    let mut rec = vec![b"XADD".to_vec(), key.to_vec()];
    if nomk {
        rec.push(b"NOMKSTREAM".to_vec());
    }
    match (trim_args, t.how) {
        (Some(exact), _) => rec.extend(exact),
        (None, Some(how)) => {
            let name: &[u8] = if matches!(how, Trim::MaxLen(_)) {
                b"MAXLEN"
            } else {
                b"MINID"
            };
            rec.extend([name.to_vec(), b"=".to_vec(), a.get(t.value_at).to_vec()]);
        }
        (None, None) => {}
    }
    rec.push(id.to_bytes());
    rec.extend(pairs.iter().map(|p| p.to_vec()));
    log_effect(x.core, rec);
    crate::commands::blocking::signal(x, key);
}

pub fn xtrim(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let key = a.get(1);
    let i = match x.typed(key, Kind::Stream, true) {
        Err(_) => return,
        Ok(None) => return x.r().int(0),
        Ok(Some(i)) => i,
    };
    let Some((t, _, _)) = parse_trim(x, &a, 2, false) else {
        return;
    };
    let (db, mut r) = split(x);
    let (n, exact) = stream_mut(
        db,
        i,
        |s| {
            let n = apply_trim(s, &t);
            (n, exact_trim_args(s, &t))
        },
        |(n, _)| *n > 0,
    );
    r.int(n as i64);
    if n > 0 && t.approx {
        let mut rec = vec![b"XTRIM".to_vec(), key.to_vec()];
        rec.extend(exact);
        log_effect(x.core, rec);
    }
}

// ------------------------------------------------------------------------------------------
// XRANGE XREVRANGE XLEN XDEL XSETID

fn range_generic(x: &mut Exec<'_, '_>, a: Args<'_>, rev: bool) {
    let (sa, ea) = if rev {
        (a.get(3), a.get(2))
    } else {
        (a.get(2), a.get(3))
    };
    let Some(start) = bound_id(x, sa, true) else {
        return;
    };
    let Some(end) = bound_id(x, ea, false) else {
        return;
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < a.len() {
        if a.get(j).eq_ignore_ascii_case(b"count") && j + 1 < a.len() {
            let Some(n) = parse_i64(a.get(j + 1)) else {
                return x.err(NOT_INT);
            };
            count = n.max(0);
            j += 2;
        } else {
            return x.err(SYNTAX);
        }
    }
    let Some(i) = x.typed_or(a.get(1), Kind::Stream, false, |r| r.array(0)) else {
        return;
    };
    let (db, mut r) = split(x);
    if count == 0 {
        return r.null_array();
    }
    let count = if count < 0 { 0 } else { count as usize };
    reply_range(&mut r, stream_of(db, i), start, end, rev, count);
}

pub fn xrange(x: &mut Exec<'_, '_>, a: Args<'_>) {
    range_generic(x, a, false);
}

pub fn xrevrange(x: &mut Exec<'_, '_>, a: Args<'_>) {
    range_generic(x, a, true);
}

pub fn xlen(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.typed_or(a.get(1), Kind::Stream, false, |r| r.int(0)) else {
        return;
    };
    let (db, mut r) = split(x);
    r.int(stream_of(db, i).len() as i64);
}

pub fn xdel(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.typed_or(a.get(1), Kind::Stream, true, |r| r.int(0)) else {
        return;
    };
    // Every ID is checked first: the command is all or nothing.
    let mut ids = Vec::with_capacity(a.len() - 2);
    for k in 2..a.len() {
        let Some(id) = strict_id(x, a.get(k)) else {
            return;
        };
        ids.push(id);
    }
    let (db, mut r) = split(x);
    let n = stream_mut(
        db,
        i,
        |s| ids.iter().filter(|id| s.delete(**id)).count(),
        |n| *n > 0,
    );
    r.int(n as i64);
}

pub fn xsetid(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(id) = strict_id(x, a.get(2)) else {
        return;
    };
    let mut added: Option<u64> = None;
    let mut max_del = StreamId::MIN;
    let mut j = 3;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = a.get(j);
        if opt.eq_ignore_ascii_case(b"entriesadded") && more > 0 {
            let Some(n) = parse_i64(a.get(j + 1)) else {
                return x.err(NOT_INT);
            };
            if n < 0 {
                return x.err("ERR entries_added must be positive");
            }
            added = Some(n as u64);
        } else if opt.eq_ignore_ascii_case(b"maxdeletedid") && more > 0 {
            let Some(m) = strict_id(x, a.get(j + 1)) else {
                return;
            };
            if id < m {
                return x.err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
            }
            max_del = m;
        } else {
            return x.err(SYNTAX);
        }
        j += 2;
    }
    let i = match x.typed(a.get(1), Kind::Stream, true) {
        Err(_) => return,
        Ok(None) => return x.err(NO_KEY),
        Ok(Some(i)) => i,
    };
    let (db, mut r) = split(x);
    let s = stream_of(db, i);
    if !s.is_empty() {
        if id < s.last_live_id() {
            return r.error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if added.is_some_and(|n| n < s.len()) {
            return r.error("ERR The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    stream_mut(
        db,
        i,
        |s| {
            s.set_last_id(id);
            if let Some(n) = added {
                s.set_entries_added(n);
            }
            if !max_del.is_zero() {
                s.set_max_deleted_id(max_del);
            }
        },
        |_| true,
    );
    r.ok();
}

// ------------------------------------------------------------------------------------------
// XREAD / XREADGROUP

/// What an XREADGROUP reads for: its group, consumer and NOACK.
#[derive(Clone, Debug)]
pub struct GroupRead {
    pub group: Vec<u8>,
    pub consumer: Vec<u8>,
    pub noack: bool,
}

/// One stream's part of an XREAD(GROUP) reply: `key` then its entries after `after`
/// (or, for a group's history, its consumer's pending entries after `after`). Appends the
/// log records a group read implies to `log`. Returns the number of entries written.
#[allow(clippy::too_many_arguments)]
pub fn serve_stream(
    db: &mut Db,
    i: Idx,
    key: &[u8],
    after: StreamId,
    count: usize,
    g: Option<&GroupRead>,
    history: bool,
    now: u64,
    r: &mut Reply<'_>,
    log: &mut Vec<Vec<Vec<u8>>>,
) {
    let Some(start) = after.next() else {
        r.array(0);
        return;
    };
    let Some(g) = g else {
        reply_range(r, stream_of(db, i), start, StreamId::MAX, false, count);
        return;
    };
    stream_mut(
        db,
        i,
        |s| super::stream_groups::group_read(s, key, g, start, count, history, now, r, log),
        |_| true,
    );
}

/// The parsed XREAD / XREADGROUP request.
struct ReadReq {
    count: usize,
    block: Option<u64>,
    group: Option<GroupRead>,
    keys_at: usize,
    n: usize,
}

fn parse_read(x: &mut Exec<'_, '_>, a: &Args<'_>, xgroup: bool) -> Option<ReadReq> {
    let mut req = ReadReq {
        count: 0,
        block: None,
        group: None,
        keys_at: 0,
        n: 0,
    };
    let mut noack = false;
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let o = a.get(i).to_ascii_lowercase();
        match o.as_slice() {
            b"block" if more > 0 => {
                i += 1;
                let Some(ms) = parse_i64(a.get(i)) else {
                    x.err("ERR timeout is not an integer or out of range");
                    return None;
                };
                if ms < 0 {
                    x.err("ERR timeout is negative");
                    return None;
                }
                req.block = Some(ms as u64);
            }
            b"count" if more > 0 => {
                i += 1;
                let Some(n) = parse_i64(a.get(i)) else {
                    x.err(NOT_INT);
                    return None;
                };
                req.count = n.max(0) as usize;
            }
            b"streams" if more > 0 => {
                req.keys_at = i + 1;
                let rest = a.len() - req.keys_at;
                if rest & 1 != 0 {
                    let (name, sym) = if xgroup {
                        ("xreadgroup", '>')
                    } else {
                        ("xread", '$')
                    };
                    x.err(&format!(
                        "ERR Unbalanced '{name}' list of streams: for each stream key an ID or '{sym}' must be specified."
                    ));
                    return None;
                }
                req.n = rest / 2;
                break;
            }
            b"group" if more >= 2 => {
                if !xgroup {
                    x.err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
                    return None;
                }
                req.group = Some(GroupRead {
                    group: a.get(i + 1).to_vec(),
                    consumer: a.get(i + 2).to_vec(),
                    noack: false,
                });
                i += 2;
            }
            b"noack" => {
                if !xgroup {
                    x.err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
                    return None;
                }
                noack = true;
            }
            _ => {
                x.err(SYNTAX);
                return None;
            }
        }
        i += 1;
    }
    if req.keys_at == 0 {
        x.err(SYNTAX);
        return None;
    }
    if xgroup {
        match req.group.as_mut() {
            None => {
                x.err("ERR Missing GROUP option for XREADGROUP");
                return None;
            }
            Some(g) => g.noack = noack,
        }
    }
    Some(req)
}

/// `>` as an ID: "after the group's last delivered entry".
const NEW_ONLY: StreamId = StreamId::MAX;

fn read_generic(x: &mut Exec<'_, '_>, a: Args<'_>, xgroup: bool) {
    let Some(req) = parse_read(x, &a, xgroup) else {
        return;
    };
    let mut ids = Vec::with_capacity(req.n);
    for k in 0..req.n {
        let key = a.get(req.keys_at + k);
        let arg = a.get(req.keys_at + req.n + k);
        let found = match x.typed(key, Kind::Stream, false) {
            Err(_) => return,
            Ok(f) => f,
        };
        if let Some(g) = &req.group {
            let has = found.is_some_and(|i| stream_of(x.db(), i).group(&g.group).is_some());
            if !has {
                let msg = format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(&g.group)
                );
                return x.err(&msg);
            }
        }
        if arg == b"$" {
            if xgroup {
                return x.err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
            }
            ids.push(found.map_or(StreamId::MIN, |i| stream_of(x.db(), i).last_id()));
            continue;
        }
        if arg == b">" {
            if !xgroup {
                return x.err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
            }
            ids.push(NEW_ONLY);
            continue;
        }
        let Some(id) = strict_id(x, arg) else {
            return;
        };
        ids.push(id);
    }
    // Serve what can be served now.
    let now = super::streams::clock(x.core);
    let mut log = Vec::new();
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let resp3 = x.client.resp3;
    for (k, &gt) in ids.iter().enumerate() {
        let key = a.get(req.keys_at + k);
        let Some(i) = x.read(key) else {
            continue;
        };
        let db = &mut x.core.dbs[x.client.db];
        let s = stream_of(db, i);
        let (serve, after, history) = match &req.group {
            Some(_) if gt != NEW_ONLY => (true, gt, true),
            Some(g) => {
                let last = s.group(&g.group).map_or(StreamId::MIN, |gr| gr.last_id);
                (!s.is_empty() && s.last_live_id() > last, last, false)
            }
            // Entries past `gt` that were all deleted are nothing to serve (Redis compares
            // the last live ID, so a reader never gets an empty list).
            None => (!s.is_empty() && s.last_live_id() > gt, gt, false),
        };
        if !serve {
            continue;
        }
        let mut buf = Vec::new();
        let mut r = Reply {
            buf: &mut buf,
            resp3,
        };
        if !resp3 {
            r.array(2);
        }
        r.bulk(key);
        serve_stream(
            db,
            i,
            key,
            after,
            req.count,
            req.group.as_ref(),
            history,
            now,
            &mut r,
            &mut log,
        );
        parts.push(buf);
    }
    if !parts.is_empty() {
        let mut r = x.r();
        map_or_array(&mut r, parts.len());
        for p in &parts {
            r.buf.extend_from_slice(p);
        }
        for rec in log {
            log_effect(x.core, rec);
        }
        return;
    }
    let Some(ms) = req.block else {
        return x.r().null_array();
    };
    let keys: Vec<Vec<u8>> = (0..req.n)
        .map(|k| a.get(req.keys_at + k).to_vec())
        .collect();
    let wait = crate::commands::blocking::StreamWait {
        ids,
        count: if req.count == 0 {
            BLOCKED_DEFAULT_COUNT
        } else {
            req.count
        },
        group: req.group,
    };
    crate::commands::blocking::block_on_streams(x, keys, wait, ms);
}

pub fn xread(x: &mut Exec<'_, '_>, a: Args<'_>) {
    read_generic(x, a, false);
}

pub fn xreadgroup(x: &mut Exec<'_, '_>, a: Args<'_>) {
    read_generic(x, a, true);
}

/// A client parked by XREAD/XREADGROUP on `key` (its `k`-th key) may be served now: its
/// whole reply, or None to keep waiting. Log records of a group read go to `log`.
pub fn serve_blocked(
    core: &mut Core,
    dbi: usize,
    key: &[u8],
    k: usize,
    wait: &crate::commands::blocking::StreamWait,
    resp3: bool,
    log: &mut Vec<Vec<Vec<u8>>>,
) -> Option<Vec<u8>> {
    let now = clock(core);
    let db = &mut core.dbs[dbi];
    let found = db
        .lookup(key, now)
        .filter(|&i| matches!(db.obj(i), Some(Object::Stream(_))));
    let mut buf = Vec::new();
    let mut r = Reply {
        buf: &mut buf,
        resp3,
    };
    let Some(i) = found else {
        // XREAD keeps waiting for a stream to appear; a group reader's group is gone.
        wait.group.as_ref()?;
        r.error("UNBLOCKED the stream key no longer exists");
        return Some(buf);
    };
    let s = stream_of(db, i);
    let mut gt = wait.ids[k];
    if let Some(g) = &wait.group {
        match s.group(&g.group) {
            None => {
                r.error("NOGROUP the consumer group this client was blocked on no longer exists");
                return Some(buf);
            }
            Some(gr) => gt = gr.last_id,
        }
    }
    if s.is_empty() || s.last_live_id() <= gt {
        return None;
    }
    map_or_array(&mut r, 1);
    if !resp3 {
        r.array(2);
    }
    r.bulk(key);
    serve_stream(
        db,
        i,
        key,
        gt,
        wait.count,
        wait.group.as_ref(),
        false,
        now,
        &mut r,
        log,
    );
    Some(buf)
}
