//! A point-in-time view of one database (what a log rewrite, and later a snapshot, needs),
//! taken without a copy and without a stall: the view is serialised slot by slot in bounded slices (from the loop's tick), and a
//! slot about to change before its slice came is serialised first, by the store itself
//! ([`Db::before_change`](crate::keyspace::Db)). Why this is exact is argued in `persistence::aof`
//! ("Compaction without a stall").

use crate::keyspace::{Db, Idx, Value};
use crate::protocol::put_record;
use kvtypes::Object;

/// Elements per command when a collection is written out (Redis's AOF_REWRITE_ITEMS_PER_CMD).
const ITEMS_PER_CMD: usize = 64;

/// The view of one database, as of the moment the rewrite started (T0).
pub struct Snap {
    /// The database's number at T0 (SWAPDB moves the `Db`, and its view with it).
    pub dbi: usize,
    /// The clock at T0: keys whose deadline had passed then are not part of the view.
    t0_ms: u64,
    /// Slots below this have been visited by the slices.
    cursor: u32,
    /// Slots at T0: a slot past this was created after T0.
    end: u32,
    /// Bit per slot below `end`: its T0 state has been written out (or it had none, or it
    /// was filled after T0). A set bit is never cleared.
    done: Vec<u64>,
    /// Records written out and not yet taken by the log's writer.
    pub out: Vec<u8>,
    /// The database as it was when FLUSHDB/FLUSHALL emptied it during the rewrite: the rest
    /// of the view comes from here (it no longer changes), and the live database is all
    /// post-T0 (its changes are the incremental file's business).
    pub retired: Option<Box<Db>>,
}

impl Snap {
    pub fn new(dbi: usize, t0_ms: u64, slots: usize) -> Snap {
        let end = u32::try_from(slots).unwrap_or(u32::MAX);
        Snap {
            dbi,
            t0_ms,
            cursor: 0,
            end,
            done: vec![0; (end as usize).div_ceil(64)],
            out: Vec::new(),
            retired: None,
        }
    }

    fn is_done(&self, i: Idx) -> bool {
        self.done[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn mark(&mut self, i: Idx) {
        self.done[(i / 64) as usize] |= 1 << (i % 64);
    }

    /// Does slot `i` of the live database still hold state the view needs?
    #[inline]
    pub fn wants(&self, i: Idx) -> bool {
        self.retired.is_none() && i >= self.cursor && i < self.end && !self.is_done(i)
    }

    /// Write out slot `i` of `db` (the live one, about to change it) and mark it done.
    pub fn emit(&mut self, db: &Db, i: Idx) {
        if self.wants(i) {
            self.mark(i);
            // A free slot about to be filled had no state at T0.
            if db.is_live(i) {
                write_slot(&mut self.out, db, i, self.t0_ms);
            }
        }
    }

    /// One slice: up to `slots` more slots from the cursor; true once the view is complete.
    pub fn step(&mut self, live: &Db, slots: usize) -> bool {
        let stop = (self.cursor as usize)
            .saturating_add(slots.max(1))
            .min(self.end as usize) as u32;
        let src = self.retired.as_deref().unwrap_or(live);
        while self.cursor < stop {
            let i = self.cursor;
            if !self.is_done(i) {
                self.done[(i / 64) as usize] |= 1 << (i % 64);
                if src.is_live(i) {
                    write_slot(&mut self.out, src, i, self.t0_ms);
                }
            }
            self.cursor += 1;
        }
        self.cursor >= self.end
    }
}

/// The commands that recreate the key in slot `i` (nothing if it expired by `now_ms`):
/// SET with PXAT for a string, batches of RPUSH/HSET/SADD/ZADD then PEXPIREAT for a
/// collection, as Redis's rewrite writes them.
pub fn write_slot(out: &mut Vec<u8>, db: &Db, i: Idx, now_ms: u64) {
    let deadline = db.deadline(i);
    if deadline.is_some_and(|d| d <= now_ms) {
        return;
    }
    let key = db.key(i);
    let mut at = itoa::Buffer::new();
    let Some(obj) = db.obj(i) else {
        let mut num = itoa::Buffer::new();
        let v = match db.value(i) {
            Value::Int(n) => num.format(n).as_bytes(),
            Value::Str(s) => s,
        };
        match deadline {
            Some(d) => put_record(out, &[b"SET", key, v, b"PXAT", at.format(d).as_bytes()]),
            None => put_record(out, &[b"SET", key, v]),
        }
        return;
    };
    match obj {
        Object::List(l) => batches(out, b"RPUSH", key, l.items.iter().map(|e| [&**e])),
        Object::Set(s) => {
            let members = s.members();
            batches(out, b"SADD", key, members.iter().map(|m| [&**m]));
        }
        Object::Hash(h) => {
            let pairs = h.pairs();
            batches(out, b"HSET", key, pairs.iter().map(|(f, v)| [*f, *v]));
        }
        Object::ZSet(z) => {
            let scored: Vec<(String, &[u8])> = z
                .iter()
                .map(|(s, m)| (kvtypes::num::fmt_g17(s), m))
                .collect();
            batches(
                out,
                b"ZADD",
                key,
                scored.iter().map(|(s, m)| [s.as_bytes(), *m]),
            );
        }
        Object::Stream(s) => write_stream(out, key, s),
    }
    if let Some(d) = deadline {
        put_record(out, &[b"PEXPIREAT", key, at.format(d).as_bytes()]);
    }
}

/// A stream as Redis's rewrite writes it: one XADD per entry (an empty stream is made by
/// an XADD trimmed away at once), XSETID for the last ID and the counters, then each group
/// with XGROUP CREATE, its consumers' pending entries as XCLAIM ... FORCE (with their
/// delivery time and count) and consumers without any as XGROUP CREATECONSUMER.
fn write_stream(out: &mut Vec<u8>, key: &[u8], s: &kvtypes::Stream) {
    use kvtypes::stream::{Flow, StreamId};
    let mut n = itoa::Buffer::new();
    if s.is_empty() {
        put_record(out, &[b"XADD", key, b"MAXLEN", b"0", b"0-1", b"x", b"y"]);
    } else {
        s.range(StreamId::MIN, StreamId::MAX, false, |id, pairs| {
            let idb = id.to_bytes();
            let mut args: Vec<&[u8]> = Vec::with_capacity(3 + pairs.len());
            args.extend_from_slice(&[b"XADD", key, &idb]);
            args.extend_from_slice(pairs);
            put_record(out, &args);
            Flow::Continue(())
        });
    }
    let last = s.last_id().to_bytes();
    let maxdel = s.max_deleted_id().to_bytes();
    put_record(
        out,
        &[
            b"XSETID",
            key,
            &last,
            b"ENTRIESADDED",
            n.format(s.entries_added()).as_bytes(),
            b"MAXDELETEDID",
            &maxdel,
        ],
    );
    for (name, g) in s.groups() {
        let gl = g.last_id.to_bytes();
        put_record(
            out,
            &[
                b"XGROUP",
                b"CREATE",
                key,
                name,
                &gl,
                b"ENTRIESREAD",
                n.format(g.entries_read).as_bytes(),
            ],
        );
        for (cname, c) in &g.consumers {
            if c.pel.is_empty() {
                put_record(out, &[b"XGROUP", b"CREATECONSUMER", key, name, cname]);
            }
            for id in &c.pel {
                let nk = &g.pel[id];
                let idb = id.to_bytes();
                let mut t = itoa::Buffer::new();
                put_record(
                    out,
                    &[
                        b"XCLAIM",
                        key,
                        name,
                        cname,
                        b"0",
                        &idb,
                        b"TIME",
                        t.format(nk.delivery_time).as_bytes(),
                        b"RETRYCOUNT",
                        n.format(nk.delivery_count).as_bytes(),
                        b"JUSTID",
                        b"FORCE",
                    ],
                );
            }
        }
    }
}

/// `CMD key item...` with at most [`ITEMS_PER_CMD`] items (each of `N` arguments) per command.
fn batches<'a, const N: usize>(
    out: &mut Vec<u8>,
    cmd: &[u8],
    key: &'a [u8],
    items: impl Iterator<Item = [&'a [u8]; N]>,
) {
    let mut args: Vec<&[u8]> = Vec::with_capacity(2 + ITEMS_PER_CMD * N);
    for item in items {
        if args.is_empty() {
            args.push(cmd);
            args.push(key);
        }
        args.extend_from_slice(&item);
        if args.len() == 2 + ITEMS_PER_CMD * N {
            put_record(out, &args);
            args.clear();
        }
    }
    if !args.is_empty() {
        put_record(out, &args);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::keyspace::NewValue;
    use kvtypes::List;

    type Records = Vec<Vec<Vec<u8>>>;

    /// The records of a RESP stream, grouped by key (argument 1), in stream order per key.
    fn by_key(b: &[u8]) -> BTreeMap<Vec<u8>, Records> {
        let mut map: BTreeMap<Vec<u8>, Records> = BTreeMap::new();
        let mut at = 0;
        let line = |at: &mut usize| -> usize {
            let nl = at.to_owned() + b[*at..].iter().position(|&c| c == b'\n').unwrap();
            let n = std::str::from_utf8(&b[*at + 1..nl - 1])
                .unwrap()
                .parse()
                .unwrap();
            *at = nl + 1;
            n
        };
        while at < b.len() {
            let argc = line(&mut at);
            let mut args = Vec::new();
            for _ in 0..argc {
                let len = line(&mut at);
                args.push(b[at..at + len].to_vec());
                at += len + 2;
            }
            if args[0] != b"SELECT" {
                map.entry(args[1].clone()).or_default().push(args);
            }
        }
        map
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn list(n: u64) -> Object {
        let mut l = List::default();
        for e in 0..n {
            l.push(e.to_string().as_bytes(), false);
        }
        Object::List(l)
    }

    /// The view written out while the database keeps changing (overwrites, deletes,
    /// deadlines, pushes, new keys in freed slots, a flush, slab trimming) is exactly the
    /// database as it was when the view began: key by key, the same records.
    #[test]
    fn view_is_the_database_at_its_start_despite_changes() {
        const T0: u64 = 1_000_000;
        for seed in 1..=12u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut db = Db::default();
            for k in 0..3000u64 {
                let key = format!("k{k}");
                let i = match k % 5 {
                    0 => db.insert_obj(key.as_bytes(), list(rng.next() % 150)),
                    1 => db.insert_new(key.as_bytes(), NewValue::Int(k as i64)),
                    _ => db.insert_new(
                        key.as_bytes(),
                        NewValue::Str(&vec![b'v'; (k % 90) as usize]),
                    ),
                };
                match k % 7 {
                    0 => db.set_deadline(i, T0 + 500),
                    1 => db.set_deadline(i, T0 - 1), // expired at T0: not in the view
                    _ => {}
                }
                if k % 11 == 0 && db.obj(i).is_some_and(|o| o.is_empty()) {
                    db.remove(i);
                }
            }
            // Holes below the end of the slab, for new keys to land in during the view.
            for k in (0..3000u64).step_by(13) {
                if let Some(i) = db.find(format!("k{k}").as_bytes()) {
                    db.remove(i);
                }
            }
            let mut want = Vec::new();
            db.scan(0, usize::MAX, |i| write_slot(&mut want, &db, i, T0));
            let want = by_key(&want);
            db.begin_snapshot(0, T0);
            let mut complete = false;
            let mut fresh = 0u64;
            for round in 0..20_000u64 {
                if !complete && rng.next().is_multiple_of(4) {
                    complete = db.snapshot_step((rng.next() % 40) as usize);
                }
                let pick = db.random(|| rng.next());
                match (rng.next() % 9, pick) {
                    (0, Some(i)) => db.remove(i),
                    (1, Some(i)) if db.obj(i).is_none() => {
                        db.replace_value(i, NewValue::Str(b"changed"))
                    }
                    (2, Some(i)) => db.set_deadline(i, T0 + 9),
                    (3, Some(i)) => {
                        db.persist(i);
                    }
                    (4, Some(i)) if db.obj(i).is_some() => {
                        db.with_obj(i, |o| {
                            if let Object::List(l) = o {
                                l.push(b"pushed", true);
                            }
                        });
                    }
                    (5 | 6, _) => {
                        fresh += 1;
                        db.set(format!("new{fresh}").as_bytes(), NewValue::Int(1), false);
                    }
                    (7, _) if round % 4000 == 3999 => drop(db.flush()),
                    (8, _) if round % 1000 == 0 => db.maintain(),
                    _ => {}
                }
            }
            while !complete {
                complete = db.snapshot_step(64);
            }
            let got = std::mem::take(&mut db.snapshot().unwrap().out);
            drop(db.end_snapshot());
            let got = by_key(&got);
            let differ: Vec<String> = want
                .keys()
                .chain(got.keys())
                .filter(|k| want.get(*k) != got.get(*k))
                .take(5)
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            assert!(differ.is_empty(), "seed {seed}: keys differ: {differ:?}");
            assert!(want.len() > 2000, "seed {seed}: {} keys", want.len());
        }
    }
}
