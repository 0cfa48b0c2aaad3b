//! Blocking pops (BLPOP BRPOP BLMOVE BLMPOP BZPOPMIN BZPOPMAX) and stream reads (XREAD,
//! XREADGROUP with BLOCK) on the loop: a client with
//! nothing to pop is parked (its later requests stay unparsed in its input); the first push
//! to one of its keys serves the longest-waiting client (FIFO per key, as Redis); the
//! service's tick answers the ones whose deadline passed; a disconnect drops the record.
//!
//! Why `send_to` + `resume` rather than `defer` + `pause`: the loop neither reads a paused
//! connection nor closes one that still owes a deferred reply, so a blocked client that
//! hangs up would never reach `close` and its record would stay for ever. Parked without
//! either, the loop keeps reading it (bounded by `max_input`), sees the EOF and closes it;
//! since nothing after the blocking command is parsed, the reply sent later with `send_to`
//! is still in request order, and `resume` makes the loop serve the input that waited.

use std::collections::{BTreeSet, VecDeque};
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

/// Every blocked client, the per-key FIFO queues and the deadline order.
#[derive(Default)]
pub struct Blocking {
    by_client: HashMap<u64, Blocked>,
    by_conn: HashMap<ConnId, u64>,
    queues: HashMap<(usize, Vec<u8>), VecDeque<u64>>,
    deadlines: BTreeSet<(Instant, u64)>,
    /// Keys that received elements while waiters may be queued on them.
    ready: Vec<(usize, Vec<u8>)>,
    serving: bool,
    /// XREADGROUP readers: they must also learn when their stream or group goes away
    /// (deleted, overwritten, flushed, renamed over), which no push signals.
    group_readers: BTreeSet<u64>,
    /// Streams that received entries during the current command or transaction.
    stream_ready: Vec<(usize, Vec<u8>)>,
    /// Clients blocked since they connected (INFO-style counter).
    pub total_blocked: u64,
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

    fn has_waiters(&self, db: usize, key: &[u8]) -> bool {
        !self.queues.is_empty() && self.queues.contains_key(&(db, key.to_vec()))
    }

    fn forget(&mut self, id: u64) -> Option<Blocked> {
        let b = self.by_client.remove(&id)?;
        self.by_conn.remove(&b.conn);
        self.group_readers.remove(&id);
        for k in &b.keys {
            let qk = (b.db, k.clone());
            if let Some(q) = self.queues.get_mut(&qk) {
                q.retain(|&c| c != id);
                if q.is_empty() {
                    self.queues.remove(&qk);
                }
            }
        }
        if let Some(d) = b.deadline {
            self.deadlines.remove(&(d, id));
        }
        Some(b)
    }
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
    // Inside EXEC a blocking command answers at once, as if it timed out (as Redis).
    if x.core.multi.executing {
        let mut r = x.r();
        match op {
            Op::Move { .. } => r.null(),
            _ => r.null_array(),
        }
        return;
    }
    let id = x.client.id;
    let db = x.client.db;
    let st = &mut x.core.blocking;
    for k in &keys {
        st.queues.entry((db, k.clone())).or_default().push_back(id);
    }
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
        let mut log = Vec::new();
        let out = crate::commands::streams::serve_blocked(core, b.db, key, k, w, b.resp3, &mut log);
        log_now(core, b.db, &log);
        return out;
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
            core.blocking.ready.push((b.db, dst.clone()));
            let side = |left: bool| {
                if left {
                    b"LEFT".to_vec()
                } else {
                    b"RIGHT".to_vec()
                }
            };
            let rec = vec![
                b"LMOVE".to_vec(),
                key.to_vec(),
                dst.clone(),
                side(*from),
                side(*to),
            ];
            log_served(core, b.db, rec);
            r.bulk(&v);
        }
        Op::Stream(_) => unreachable!("served above"),
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
    }
    Some(buf)
}

/// A parked stream reader was served after the command (or transaction) that fed it
/// ended: its group read goes to the log now, after that command's records.
fn log_now(core: &mut Core, db: usize, recs: &[Vec<Vec<u8>>]) {
    if core.aof.active() {
        for rec in recs {
            core.aof.feed_effect(db, rec);
        }
    }
}

/// A parked client was served by the command running now: the log gets the pop by its
/// effect after that command's record (replaying the push alone would leave the element).
fn log_served(core: &mut Core, db: usize, rec: Vec<Vec<u8>>) {
    if core.aof.active() {
        core.aof.then.push((db, rec));
    }
}

fn remove_if_empty(db: &mut Db, i: crate::keyspace::Idx) {
    if db.obj(i).is_some_and(Object::is_empty) {
        db.remove(i);
    }
}

/// A list or sorted set at `key` of the current database received elements: serve the
/// clients waiting on it, oldest first, while there is something to give.
pub fn signal(x: &mut Exec<'_, '_>, key: &[u8]) {
    let db = x.client.db;
    if !x.core.blocking.has_waiters(db, key) {
        return;
    }
    x.core.blocking.ready.push((db, key.to_vec()));
    if x.core.blocking.serving {
        return;
    }
    x.core.blocking.serving = true;
    // Bounded: every round serves a client or drops a key; BLMOVE chains add keys only when
    // they serve someone.
    while let Some((db, key)) = x.core.blocking.ready.pop() {
        let qk = (db, key.clone());
        let waiting: Vec<u64> = match x.core.blocking.queues.get(&qk) {
            Some(q) => q.iter().copied().collect(),
            None => continue,
        };
        for id in waiting {
            let Some(b) = x.core.blocking.forget(id) else {
                continue;
            };
            match try_serve(x.core, &b, &key) {
                Some(reply) => answer(x.ctx, &b, &reply),
                None => {
                    // Nothing left for it here: put it back at the head of every queue. A
                    // pop waiter ends the round (the key is empty); a stream reader does not
                    // (the next one may wait for an older ID).
                    let stream = matches!(b.op, Op::Stream(_));
                    restore(&mut x.core.blocking, id, b);
                    if !stream {
                        break;
                    }
                }
            }
        }
    }
    x.core.blocking.serving = false;
}

/// Send a parked client its reply and let the loop serve the input that waited behind it.
fn answer(ctx: &mut Ctx<'_>, b: &Blocked, reply: &[u8]) {
    ctx.send_to(b.conn, reply);
    ctx.resume(b.conn);
}

fn restore(st: &mut Blocking, id: u64, b: Blocked) {
    for k in &b.keys {
        st.queues
            .entry((b.db, k.clone()))
            .or_default()
            .push_front(id);
    }
    if let Some(d) = b.deadline {
        st.deadlines.insert((d, id));
    }
    st.by_conn.insert(b.conn, id);
    if matches!(&b.op, Op::Stream(w) if w.group.is_some()) {
        st.group_readers.insert(id);
    }
    st.by_client.insert(id, b);
}

/// A stream at `key` of the current database received entries (or lost a group): its
/// readers are served once the command, or the transaction around it, has ended (as Redis
/// serves its ready keys), so they never see a transaction half done.
pub fn signal_stream(x: &mut Exec<'_, '_>, key: &[u8]) {
    let db = x.client.db;
    if x.core.blocking.has_waiters(db, key) {
        x.core.blocking.stream_ready.push((db, key.to_vec()));
    }
}

/// After a top-level command (EXEC included): serve the stream readers its writes made
/// ready, then recheck the group readers (see [`recheck_group_readers`]).
pub fn after_top_level(x: &mut Exec<'_, '_>) {
    if x.core.multi.executing || x.core.blocking.serving {
        return;
    }
    while !x.core.blocking.stream_ready.is_empty() {
        let keys = std::mem::take(&mut x.core.blocking.stream_ready);
        x.core.blocking.serving = true;
        for (db, key) in keys {
            let qk = (db, key.clone());
            let waiting: Vec<u64> = match x.core.blocking.queues.get(&qk) {
                Some(q) => q.iter().copied().collect(),
                None => continue,
            };
            for id in waiting {
                let Some(b) = x.core.blocking.forget(id) else {
                    continue;
                };
                match try_serve(x.core, &b, &key) {
                    Some(reply) => answer_counted(x.core, x.ctx, &b, &reply),
                    None => restore(&mut x.core.blocking, id, b),
                }
            }
        }
        x.core.blocking.serving = false;
    }
    recheck_group_readers(x);
}

/// [`answer`], counting an error reply against the blocked command as Redis does.
fn answer_counted(core: &mut Core, ctx: &mut Ctx<'_>, b: &Blocked, reply: &[u8]) {
    if reply.first() == Some(&b'-') {
        if let Some(name) = match &b.op {
            Op::Stream(w) if w.group.is_some() => Some("xreadgroup"),
            Op::Stream(_) => Some("xread"),
            _ => None,
        } {
            core.count_blocked_error(name, reply);
        }
    }
    answer(ctx, b, reply);
}

/// After a write command: XREADGROUP readers whose stream or group went away get their
/// error, and those whose stream now has new entries (a RENAME or SWAPDB brought them) are
/// served. O(group readers) per write command, and nothing without any.
pub fn recheck_group_readers(x: &mut Exec<'_, '_>) {
    if x.core.blocking.group_readers.is_empty() || x.core.blocking.serving {
        return;
    }
    let ids: Vec<u64> = x.core.blocking.group_readers.iter().copied().collect();
    for id in ids {
        let Some(b) = x.core.blocking.by_client.get(&id) else {
            continue;
        };
        let (db, keys, resp3) = (b.db, b.keys.clone(), b.resp3);
        let Op::Stream(w) = b.op.clone() else {
            continue;
        };
        for (k, key) in keys.iter().enumerate() {
            let mut log = Vec::new();
            let out =
                crate::commands::streams::serve_blocked(x.core, db, key, k, &w, resp3, &mut log);
            if let Some(reply) = out {
                log_now(x.core, db, &log);
                if let Some(b) = x.core.blocking.forget(id) {
                    answer_counted(x.core, x.ctx, &b, &reply);
                }
                break;
            }
        }
    }
}

/// Park an XREAD/XREADGROUP on `keys` for `ms` milliseconds (0: for ever).
pub fn block_on_streams(x: &mut Exec<'_, '_>, keys: Vec<Vec<u8>>, wait: StreamWait, ms: u64) {
    let deadline =
        (ms > 0).then(|| x.ctx.now() + Duration::from_millis(ms.min(10 * 365 * 86_400_000)));
    block(x, keys, Op::Stream(wait), deadline);
}

/// Answer the clients whose deadline has passed; the next deadline.
pub fn tick(core: &mut Core, ctx: &mut Ctx<'_>) -> Option<Instant> {
    let now = ctx.now();
    let st = &mut core.blocking;
    while let Some(&(d, id)) = st.deadlines.first() {
        if d > now {
            return Some(d);
        }
        if let Some(b) = st.forget(id) {
            answer(ctx, &b, &timeout_reply(&b));
        } else {
            st.deadlines.pop_first();
        }
    }
    None
}

/// A connection closed: forget it if it was blocked.
pub fn closed(core: &mut Core, conn: ConnId) {
    if let Some(id) = core.blocking.by_conn.get(&conn).copied() {
        core.blocking.forget(id);
    }
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: true if the client was blocked.
pub fn unblock(core: &mut Core, ctx: &mut Ctx<'_>, id: u64, error: bool) -> bool {
    let Some(b) = core.blocking.forget(id) else {
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
        Ok(Some(v)) => x.r().bulk(&v),
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
