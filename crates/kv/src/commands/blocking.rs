//! Blocking pops (BLPOP BRPOP BLMOVE BLMPOP BZPOPMIN BZPOPMAX) and stream reads (XREAD,
//! XREADGROUP with BLOCK) on the loop, and the parked clients of every family that blocks on
//! keys. A client with nothing to pop is parked (its
//! later requests stay unparsed in its input) and registered on its keys in the keyspace
//! (`keyspace::waits`). A change that may serve it only marks the key ready; the dispatcher
//! calls [`serve_ready`] after the whole command, MULTI/EXEC block or script, which serves the
//! waiting clients oldest first from what the keys hold *then* (Redis 7.0's ready-keys list).
//! The service's tick answers the ones whose deadline passed; a disconnect drops the record.
//!
//! The log: a pop served at once is logged as the non-blocking command it amounts to
//! (`LPOP`, `RPOP`, `LMOVE`, `RPOPLPUSH`, `ZPOPMIN`, `ZPOPMAX`, `LPOP key count` for BLMPOP), a
//! pop served later as the same records after the command that fed it, so replay never
//! blocks and never depends on who was waiting.
//!
//! Another family that blocks adds an [`Op`] variant and its arm in `try_serve`; it parks
//! with `block`, and signals with `Db::signal_ready` when a change that adds no key may serve
//! it (XADD to an existing stream, XGROUP DESTROY).
//!
//! Stream readers differ from pops in two ways (Redis's rules): serving one consumes nothing,
//! so every reader waiting on a stream is served by one XADD; and an XREADGROUP reader whose
//! stream or group goes away (DEL, overwrite, FLUSHALL, XGROUP DESTROY) is woken with an
//! error, which no key addition signals: [`serve_ready`] rechecks those readers after each
//! command (O(group readers), nothing without any).
//!
//! Why `send_to` + `resume` rather than `defer` + `pause`: the loop neither reads a paused
//! connection nor closes one that still owes a deferred reply, so a blocked client that
//! hangs up would never reach `close` and its record would stay for ever. Parked without
//! either, the loop keeps reading it (bounded by `max_input`), sees the EOF and closes it;
//! since nothing after the blocking command is parsed, the reply sent later with `send_to`
//! is still in request order, and `resume` makes the loop serve the input that waited.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hashbrown::HashMap;
use readyloop_server::{ConnId, Ctx};

use crate::keyspace::Db;
use crate::protocol::{Args, Reply};
use crate::service::{Core, Exec};
use kvtypes::{Kind, List, Object};

/// What a blocked client waits to do.
#[derive(Clone, Debug)]
pub enum Op {
    /// BLPOP/BRPOP: `[key, element]`.
    Pop { left: bool },
    /// BLMPOP: `[key, [elements]]`.
    MPop { left: bool, count: usize },
    /// BLMOVE/BRPOPLPUSH: the element.
    Move { dst: Vec<u8>, from: bool, to: bool },
    /// BZPOPMIN/BZPOPMAX: `[key, member, score]`.
    ZPop { max: bool },
    /// BZMPOP: `[key, [[member, score]...]]`.
    ZMPop { max: bool, count: usize },
    /// XREAD/XREADGROUP: `[[key, entries]]` (a map in RESP3). Not consuming: every reader
    /// waiting on a stream is served by one XADD.
    Stream(StreamWait),
}

/// What an XREAD/XREADGROUP waits for on each of its keys.
#[derive(Clone, Debug)]
pub struct StreamWait {
    /// Per key: entries after this ID (for a group, replaced by the group's last ID).
    pub ids: Vec<kvtypes::stream::StreamId>,
    pub count: usize,
    pub group: Option<crate::commands::streams::GroupRead>,
}

struct Blocked {
    conn: ConnId,
    db: usize,
    keys: Vec<Vec<u8>>,
    op: Op,
    resp3: bool,
    deadline: Option<Instant>,
}

/// Every blocked client and the deadline order. The per-key FIFO queues and the ready keys
/// are the keyspace's (`keyspace::waits`), so any family can signal a key.
#[derive(Default)]
pub struct Blocking {
    by_client: HashMap<u64, Blocked>,
    by_conn: HashMap<ConnId, u64>,
    deadlines: BTreeSet<(Instant, u64)>,
    /// XREADGROUP readers: they must also learn when their stream or group goes away
    /// (deleted, overwritten, flushed, renamed over), which no key addition signals.
    group_readers: BTreeSet<u64>,
    /// Clients blocked since they connected (INFO-style counter).
    pub total_blocked: u64,
    /// Raised while commands run on behalf of something that must not block (a script, as
    /// Redis's CLIENT_DENY_BLOCKING): a blocking command then answers as if it timed out.
    /// EXEC and the log's replay deny blocking by themselves.
    pub deny: u32,
}

impl Blocking {
    pub fn is_blocked(&self, client_id: u64) -> bool {
        self.by_client.contains_key(&client_id)
    }

    pub fn blocked_count(&self) -> usize {
        self.by_client.len()
    }

    /// Blocked clients with a deadline (INFO's clients_in_timeout_table).
    pub fn timed_count(&self) -> usize {
        self.deadlines.len()
    }
}

/// Forget blocked client `id` everywhere (served, timed out, unblocked, disconnected).
fn forget(core: &mut Core, id: u64) -> Option<Blocked> {
    let st = &mut core.blocking;
    let b = st.by_client.remove(&id)?;
    st.by_conn.remove(&b.conn);
    st.group_readers.remove(&id);
    if let Some(d) = b.deadline {
        st.deadlines.remove(&(d, id));
    }
    if let Some(db) = core.dbs.get_mut(b.db) {
        for k in &b.keys {
            db.waits.remove(k, id);
        }
    }
    Some(b)
}

/// May the running command block? Not inside EXEC, not while the log is replayed (replay
/// never blocks: a blocking command there answers as if it timed out, as Redis's loading
/// client does), not while something denies it (scripts).
pub fn may_block(core: &Core) -> bool {
    !core.multi.executing && !core.aof.loading && core.blocking.deny == 0
}

/// Redis's timeout argument: seconds as a double, 0 for ever.
fn parse_timeout(x: &mut Exec<'_, '_>, arg: &[u8]) -> Option<Option<Instant>> {
    let Some(secs) = kvtypes::num::parse_f64(arg).filter(|s| s.is_finite()) else {
        x.err("ERR timeout is not a float or out of range");
        return None;
    };
    if secs < 0.0 {
        x.err("ERR timeout is negative");
        return None;
    }
    if secs == 0.0 {
        return Some(None);
    }
    let d = Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs(u32::MAX as u64));
    Some(Some(
        x.ctx.now() + d.min(Duration::from_secs(10 * 365 * 86400)),
    ))
}

/// Park the current client on `keys` until served or timed out.
fn block(x: &mut Exec<'_, '_>, keys: Vec<Vec<u8>>, op: Op, deadline: Option<Instant>) {
    // Inside EXEC (or replay, or a script) a blocking command answers at once, as if it
    // timed out (as Redis).
    if !may_block(x.core) {
        let mut r = x.r();
        match op {
            Op::Move { .. } => r.null(),
            _ => r.null_array(),
        }
        return;
    }
    let id = x.client.id;
    let db = x.client.db;
    for k in &keys {
        x.core.dbs[db].waits.add(k, id);
    }
    let st = &mut x.core.blocking;
    if let Some(d) = deadline {
        st.deadlines.insert((d, id));
    }
    st.by_conn.insert(x.client.conn, id);
    if matches!(&op, Op::Stream(w) if w.group.is_some()) {
        st.group_readers.insert(id);
    }
    st.by_client.insert(
        id,
        Blocked {
            conn: x.client.conn,
            db,
            keys,
            op,
            resp3: x.client.resp3,
            deadline,
        },
    );
    st.total_blocked += 1;
}

/// The reply a timed-out (or CLIENT UNBLOCK'ed) client gets.
fn timeout_reply(b: &Blocked) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut r = Reply {
        buf: &mut buf,
        resp3: b.resp3,
    };
    match b.op {
        Op::Move { .. } => r.null(),
        _ => r.null_array(),
    }
    buf
}

/// Try to serve `b` from `key` now; the reply bytes if it was served.
fn try_serve(core: &mut Core, b: &Blocked, key: &[u8]) -> Option<Vec<u8>> {
    if let Op::Stream(w) = &b.op {
        let k = b.keys.iter().position(|k| k == key)?;
        return serve_stream(core, b, key, k, w);
    }
    let now = core.now_ms;
    let db: &mut Db = &mut core.dbs[b.db];
    let i = db.lookup(key, now)?;
    let mut buf = Vec::new();
    let mut r = Reply {
        buf: &mut buf,
        resp3: b.resp3,
    };
    match &b.op {
        Op::Pop { left } | Op::MPop { left, .. } => {
            if !matches!(db.obj(i), Some(Object::List(_))) {
                return None;
            }
            let count = match b.op {
                Op::MPop { count, .. } => count,
                _ => 1,
            };
            let vals = db.with_obj(i, |o| {
                let Object::List(l) = o else { unreachable!() };
                let mut v = Vec::new();
                while v.len() < count {
                    match l.pop(*left) {
                        Some(e) => v.push(e),
                        None => break,
                    }
                }
                v
            });
            remove_if_empty(db, i);
            let pop: &[u8] = if *left { b"LPOP" } else { b"RPOP" };
            let mut rec = vec![pop.to_vec(), key.to_vec()];
            if matches!(b.op, Op::MPop { .. }) {
                rec.push(vals.len().to_string().into_bytes());
            }
            log_served(core, b.db, rec);
            r.array(2);
            r.bulk(key);
            if matches!(b.op, Op::MPop { .. }) {
                r.array(vals.len());
            }
            for v in &vals {
                r.bulk(v);
            }
        }
        Op::Move { dst, from, to } => {
            if !matches!(db.obj(i), Some(Object::List(_))) {
                return None;
            }
            let dst_i = db.lookup(dst, now);
            if let Some(d) = dst_i {
                if !matches!(db.obj(d), Some(Object::List(_))) {
                    r.error(crate::commands::typed::WRONGTYPE);
                    return Some(buf);
                }
            }
            let v = db.with_obj(i, |o| {
                let Object::List(l) = o else { unreachable!() };
                l.pop(*from)
            })?;
            remove_if_empty(db, i);
            let d = match db.lookup(dst, now) {
                Some(d) => d,
                None => db.insert_obj(dst, Object::List(List::default())),
            };
            db.with_obj(d, |o| {
                if let Object::List(l) = o {
                    l.push(&v, *to);
                }
            });
            log_served(core, b.db, move_record(key, dst, *from, *to));
            r.bulk(&v);
        }
        Op::ZPop { max } => {
            if !matches!(db.obj(i), Some(Object::ZSet(_))) {
                return None;
            }
            let (s, m) = db.with_obj(i, |o| {
                let Object::ZSet(z) = o else { unreachable!() };
                let first = {
                    let mut it = if *max { z.iter_rev() } else { z.iter() };
                    it.next().map(|(s, m)| (s, m.to_vec()))
                };
                if let Some((_, m)) = &first {
                    z.remove(m);
                }
                first
            })?;
            remove_if_empty(db, i);
            let pop: &[u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            log_served(core, b.db, vec![pop.to_vec(), key.to_vec()]);
            r.array(3);
            r.bulk(key);
            r.bulk(&m);
            r.double(s);
        }
        Op::ZMPop { max, count } => {
            if !matches!(db.obj(i), Some(Object::ZSet(_))) {
                return None;
            }
            let got = db.with_obj(i, |o| {
                let Object::ZSet(z) = o else { unreachable!() };
                let got: Vec<(f64, Vec<u8>)> = {
                    let it = if *max { z.iter_rev() } else { z.iter() };
                    it.take(*count).map(|(s, m)| (s, m.to_vec())).collect()
                };
                for (_, m) in &got {
                    z.remove(m);
                }
                got
            });
            if got.is_empty() {
                return None;
            }
            remove_if_empty(db, i);
            // Logged by effect, as Redis propagates a served BZMPOP: ZPOPMIN/ZPOPMAX n.
            let pop: &[u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            let n = got.len().to_string().into_bytes();
            log_served(core, b.db, vec![pop.to_vec(), key.to_vec(), n]);
            r.array(2);
            r.bulk(key);
            r.array(got.len());
            for (s, m) in &got {
                r.array(2);
                r.bulk(m);
                r.double(*s);
            }
        }
        Op::Stream(_) => unreachable!("served above"),
    }
    Some(buf)
}

/// Serve stream reader `b` from its `k`-th key if it can be served (new entries, or its
/// stream or group is gone); its group read goes to the log after the command that fed it.
fn serve_stream(
    core: &mut Core,
    b: &Blocked,
    key: &[u8],
    k: usize,
    w: &StreamWait,
) -> Option<Vec<u8>> {
    let mut log = Vec::new();
    let out = crate::commands::streams::serve_blocked(core, b.db, key, k, w, b.resp3, &mut log);
    for rec in log {
        log_served(core, b.db, rec);
    }
    out
}

/// A parked client was served: the log gets the pop by its effect (replaying the push alone
/// would leave the element; replaying the blocking command could block or pick another key).
fn log_served(core: &mut Core, db: usize, rec: Vec<Vec<u8>>) {
    crate::service::propagate::effect(core, db, &rec);
}

/// What a BLMOVE (or BRPOPLPUSH) that moved an element amounts to.
fn move_record(src: &[u8], dst: &[u8], from: bool, to: bool) -> Vec<Vec<u8>> {
    let side = |left: bool| {
        if left {
            b"LEFT".to_vec()
        } else {
            b"RIGHT".to_vec()
        }
    };
    vec![
        b"LMOVE".to_vec(),
        src.to_vec(),
        dst.to_vec(),
        side(from),
        side(to),
    ]
}

fn remove_if_empty(db: &mut Db, i: crate::keyspace::Idx) {
    if db.obj(i).is_some_and(Object::is_empty) {
        db.remove(i);
    }
}

/// A list or sorted set at `key` of the current database received elements: mark it ready
/// for the clients waiting on it. They are served by [`serve_ready`] once the whole command
/// (or MULTI/EXEC block, or script) is done; additions of keys signal by themselves.
pub fn signal(x: &mut Exec<'_, '_>, key: &[u8]) {
    x.db().signal_ready(key);
}

/// After a whole command, transaction or script: serve the clients waiting on keys signalled
/// ready, oldest first per key, from what the keys hold now (Redis's
/// handleClientsBlockedOnKeys). Serving one may ready another key (BLMOVE pushes): repeated
/// until no key is ready. Bounded: each round serves a client or empties the ready lists.
pub fn serve_ready(core: &mut Core, ctx: &mut Ctx<'_>) {
    if core.blocking.by_client.is_empty() {
        return;
    }
    loop {
        let mut any = false;
        for db in 0..core.dbs.len() {
            if !core.dbs[db].waits.any_ready() {
                continue;
            }
            any = true;
            for key in core.dbs[db].waits.take_ready() {
                serve_key(core, ctx, db, &key);
            }
        }
        if !any {
            break;
        }
    }
    recheck_group_readers(core, ctx);
}

/// XREADGROUP readers whose stream or group went away get their error, and those whose
/// stream now has new entries are served. O(group readers), nothing without any.
fn recheck_group_readers(core: &mut Core, ctx: &mut Ctx<'_>) {
    if core.blocking.group_readers.is_empty() {
        return;
    }
    let ids: Vec<u64> = core.blocking.group_readers.iter().copied().collect();
    for id in ids {
        let Some(b) = core.blocking.by_client.remove(&id) else {
            continue;
        };
        let mut served = None;
        if let Op::Stream(w) = &b.op {
            for (k, key) in b.keys.iter().enumerate() {
                served = serve_stream(core, &b, key, k, w);
                if served.is_some() {
                    break;
                }
            }
        }
        core.blocking.by_client.insert(id, b);
        if let Some(reply) = served {
            if let Some(b) = forget(core, id) {
                answer_served(core, ctx, &b, &reply);
            }
        }
    }
}

/// Serve the clients waiting on `key` of database `db`, oldest first, while it has something
/// for them; a client it cannot serve (it waits for another type) keeps its place.
fn serve_key(core: &mut Core, ctx: &mut Ctx<'_>, db: usize, key: &[u8]) {
    for id in core.dbs[db].waits.waiters(key) {
        let now = core.now_ms;
        if core.dbs[db].lookup(key, now).is_none() {
            break;
        }
        let Some(b) = core.blocking.by_client.remove(&id) else {
            continue;
        };
        let served = try_serve(core, &b, key);
        core.blocking.by_client.insert(id, b);
        if let Some(reply) = served {
            if let Some(b) = forget(core, id) {
                answer_served(core, ctx, &b, &reply);
            }
        }
    }
}

/// [`answer`] a served client; an error reply (XREADGROUP's -NOGROUP) counts against the
/// blocked command, as in Redis.
fn answer_served(core: &mut Core, ctx: &mut Ctx<'_>, b: &Blocked, reply: &[u8]) {
    if reply.first() == Some(&b'-') {
        if let Op::Stream(w) = &b.op {
            let name = if w.group.is_some() {
                "xreadgroup"
            } else {
                "xread"
            };
            core.count_blocked_error(name, reply);
        }
    }
    answer(ctx, b, reply);
}

/// Send a parked client its reply and let the loop serve the input that waited behind it.
fn answer(ctx: &mut Ctx<'_>, b: &Blocked, reply: &[u8]) {
    ctx.send_to(b.conn, reply);
    ctx.resume(b.conn);
}

/// Answer the clients whose deadline has passed; the next deadline.
pub fn tick(core: &mut Core, ctx: &mut Ctx<'_>) -> Option<Instant> {
    let now = ctx.now();
    while let Some(&(d, id)) = core.blocking.deadlines.first() {
        if d > now {
            return Some(d);
        }
        if let Some(b) = forget(core, id) {
            answer(ctx, &b, &timeout_reply(&b));
        } else {
            core.blocking.deadlines.pop_first();
        }
    }
    None
}

/// A connection closed: forget it if it was blocked.
pub fn closed(core: &mut Core, conn: ConnId) {
    if let Some(id) = core.blocking.by_conn.get(&conn).copied() {
        forget(core, id);
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: true if the client was blocked.
pub fn unblock(core: &mut Core, ctx: &mut Ctx<'_>, id: u64, error: bool) -> bool {
    let Some(b) = forget(core, id) else {
        return false;
    };
    if error {
        answer(
            ctx,
            &b,
            b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",
        );
    } else {
        answer(ctx, &b, &timeout_reply(&b));
    }
    true
}

// ------------------------------------------------------------------------------------------
// commands

fn keys_of(a: &Args<'_>, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.map(|k| a.get(k).to_vec()).collect()
}

fn bpop(x: &mut Exec<'_, '_>, a: Args<'_>, left: bool) {
    let Some(deadline) = parse_timeout(x, a.get(a.len() - 1)) else {
        return;
    };
    for k in 1..a.len() - 1 {
        let key = a.get(k);
        match x.typed(key, Kind::List, true) {
            Err(_) => return,
            Ok(None) => {}
            Ok(Some(i)) => {
                let v = crate::commands::lists::pop_n(x, i, left, 1);
                let pop: &[u8] = if left { b"LPOP" } else { b"RPOP" };
                x.log_as(vec![pop.to_vec(), key.to_vec()]);
                let mut r = x.r();
                r.array(2);
                r.bulk(key);
                r.bulk(&v[0]);
                return;
            }
        }
    }
    let keys = keys_of(&a, 1..a.len() - 1);
    block(x, keys, Op::Pop { left }, deadline);
}

pub fn blpop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    bpop(x, a, true);
}
pub fn brpop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    bpop(x, a, false);
}

fn bmove(x: &mut Exec<'_, '_>, src: &[u8], dst: &[u8], from: bool, to: bool, t: &[u8]) {
    let Some(deadline) = parse_timeout(x, t) else {
        return;
    };
    match crate::commands::lists::move_one(x, src, dst, from, to) {
        Err(_) => {}
        Ok(Some(v)) => {
            x.log_as(move_record(src, dst, from, to));
            x.r().bulk(&v)
        }
        Ok(None) => block(
            x,
            vec![src.to_vec()],
            Op::Move {
                dst: dst.to_vec(),
                from,
                to,
            },
            deadline,
        ),
    }
}

pub fn blmove(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let side = |b: &[u8]| match b.to_ascii_lowercase().as_slice() {
        b"left" => Some(true),
        b"right" => Some(false),
        _ => None,
    };
    let (Some(from), Some(to)) = (side(a.get(3)), side(a.get(4))) else {
        return x.err(crate::commands::strings::SYNTAX);
    };
    bmove(x, a.get(1), a.get(2), from, to, a.get(5));
}

pub fn brpoplpush(x: &mut Exec<'_, '_>, a: Args<'_>) {
    bmove(x, a.get(1), a.get(2), false, true, a.get(3));
}

pub fn blmpop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(deadline) = parse_timeout(x, a.get(1)) else {
        return;
    };
    let Some(m) = crate::commands::lists::parse_mpop(x, &a, 2, crate::commands::lists::LIST_SIDES)
    else {
        return;
    };
    if crate::commands::lists::mpop_from(x, &a, &m) {
        return;
    }
    let keys = keys_of(&a, m.keys.clone());
    block(
        x,
        keys,
        Op::MPop {
            left: m.left,
            count: m.count,
        },
        deadline,
    );
}

fn bzpop(x: &mut Exec<'_, '_>, a: Args<'_>, max: bool) {
    let Some(deadline) = parse_timeout(x, a.get(a.len() - 1)) else {
        return;
    };
    for k in 1..a.len() - 1 {
        let key = a.get(k);
        match x.typed(key, Kind::ZSet, true) {
            Err(_) => return,
            Ok(None) => {}
            Ok(Some(i)) => {
                let got = crate::commands::zsets::pop_entries(x, i, max, 1);
                let pop: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
                x.log_as(vec![pop.to_vec(), key.to_vec()]);
                let mut r = x.r();
                r.array(3);
                r.bulk(key);
                r.bulk(&got[0].1);
                r.double(got[0].0);
                return;
            }
        }
    }
    let keys = keys_of(&a, 1..a.len() - 1);
    block(x, keys, Op::ZPop { max }, deadline);
}

pub fn bzpopmin(x: &mut Exec<'_, '_>, a: Args<'_>) {
    bzpop(x, a, false);
}
pub fn bzpopmax(x: &mut Exec<'_, '_>, a: Args<'_>) {
    bzpop(x, a, true);
}

/// BZMPOP timeout numkeys key... MIN|MAX [COUNT n]: ZMPOP, or wait for a member.
pub fn bzmpop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(deadline) = parse_timeout(x, a.get(1)) else {
        return;
    };
    let Some(m) = crate::commands::lists::parse_mpop(x, &a, 2, crate::commands::zsets::ZSET_SIDES)
    else {
        return;
    };
    if crate::commands::zsets::zmpop_from(x, &a, &m) {
        return;
    }
    let keys = keys_of(&a, m.keys.clone());
    block(
        x,
        keys,
        Op::ZMPop {
            max: m.left,
            count: m.count,
        },
        deadline,
    );
}

/// Park an XREAD/XREADGROUP on `keys` for `ms` milliseconds (0: for ever).
pub fn block_on_streams(x: &mut Exec<'_, '_>, keys: Vec<Vec<u8>>, wait: StreamWait, ms: u64) {
    let deadline =
        (ms > 0).then(|| x.ctx.now() + Duration::from_millis(ms.min(10 * 365 * 86_400_000)));
    block(x, keys, Op::Stream(wait), deadline);
}
