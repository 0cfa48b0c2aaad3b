//! Set commands (Redis 7.0 `t_set.c` semantics; replies checked against redis-server).
//!
//! May use: the keyspace, `kvtypes`, the protocol's reply encoder, `typed.rs`; may not touch:
//! the log (a non-replayable effect is handed over as an effect record) or other clients'
//! connections.

use std::borrow::Cow;

use crate::commands::lists::{int_arg, POSITIVE};
use crate::commands::strings::SYNTAX;
use crate::commands::typed::{limits, random_picks, reply_too_large, scan_args, COUNT_RANGE};
use crate::keyspace::Idx;
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::{Kind, Object, Set};

fn set_ref<'a>(x: &'a Exec<'_, '_>, i: Idx) -> &'a Set {
    x.payload(i)
}

fn set_mut<R>(x: &mut Exec<'_, '_>, i: Idx, f: impl FnOnce(&mut Set) -> R) -> R {
    set_mut_if(x, i, f, |_| true)
}

/// [`set_mut`] for a change that may be none (see `Exec::with_obj_if`).
fn set_mut_if<R>(
    x: &mut Exec<'_, '_>,
    i: Idx,
    f: impl FnOnce(&mut Set) -> R,
    changed: impl FnOnce(&R) -> bool,
) -> R {
    x.payload_mut_if(i, f, changed)
}

pub fn sadd(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let max = limits(x.core).set_intset;
    let i = match x.typed(a.get(1), Kind::Set, true) {
        Err(_) => return,
        Ok(Some(i)) => i,
        Ok(None) => x.new_obj(a.get(1), Object::Set(Set::for_member(a.get(2), max))),
    };
    let n = set_mut_if(
        x,
        i,
        |s| a.iter().skip(2).filter(|m| s.add(m, max)).count(),
        |n| *n > 0,
    );
    x.r().int(n as i64);
}

pub fn srem(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.typed_or(a.get(1), Kind::Set, true, |r| r.int(0)) else {
        return;
    };
    let n = set_mut_if(
        x,
        i,
        |s| a.iter().skip(2).filter(|m| s.remove(m)).count(),
        |n| *n > 0,
    );
    x.r().int(n as i64);
}

pub fn sismember(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.typed(a.get(1), Kind::Set, false) {
        Err(_) => {}
        Ok(None) => x.r().int(0),
        Ok(Some(i)) => {
            let has = set_ref(x, i).contains(a.get(2));
            x.r().int(i64::from(has));
        }
    }
}

pub fn smismember(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Ok(found) = x.typed(a.get(1), Kind::Set, false) else {
        return;
    };
    let has: Vec<bool> = a
        .iter()
        .skip(2)
        .map(|m| found.is_some_and(|i| set_ref(x, i).contains(m)))
        .collect();
    let mut r = x.r();
    r.array(has.len());
    for h in has {
        r.int(i64::from(h));
    }
}

pub fn scard(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.typed(a.get(1), Kind::Set, false) {
        Err(_) => {}
        Ok(None) => x.r().int(0),
        Ok(Some(i)) => {
            let n = set_ref(x, i).len();
            x.r().int(n as i64);
        }
    }
}

fn reply_set(x: &mut Exec<'_, '_>, members: &[Cow<'_, [u8]>]) {
    let resp3 = x.client.resp3;
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    r.set(members.len());
    for m in members {
        r.bulk(m);
    }
}

pub fn smembers(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.typed_or(a.get(1), Kind::Set, false, |r| r.set(0)) else {
        return;
    };
    let resp3 = x.client.resp3;
    let Some(Object::Set(s)) = x.core.dbs[x.client.db].obj(i) else {
        unreachable!()
    };
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    let members = s.members();
    r.set(members.len());
    for m in members {
        r.bulk(&m);
    }
}

pub fn spop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() > 3 {
        return x.err(SYNTAX);
    }
    let count = if a.len() == 3 {
        match parse_i64(a.get(2)) {
            Some(n) if n >= 0 => Some(n),
            _ => return x.err(POSITIVE),
        }
    } else {
        None
    };
    let i = match x.typed(a.get(1), Kind::Set, true) {
        Err(_) => return,
        Ok(None) => {
            return if count.is_some() {
                x.r().set(0)
            } else {
                x.r().null()
            }
        }
        Ok(Some(i)) => i,
    };
    let len = set_ref(x, i).len();
    let picks = random_picks(x.core, len, count.or(Some(1)));
    let popped: Vec<Vec<u8>> = {
        let s = set_ref(x, i);
        picks
            .filter_map(|p| s.nth(p).map(Cow::into_owned))
            .collect()
    };
    set_mut(x, i, |s| {
        for m in &popped {
            s.remove(m);
        }
    });
    if x.core.aof.active() && !popped.is_empty() {
        // The log keeps which members went: replaying SPOP would draw others.
        let mut rec = vec![b"SREM".to_vec(), a.get(1).to_vec()];
        rec.extend(popped.iter().cloned());
        x.core.aof.effect.push(rec);
    }
    match count {
        None => x.r().bulk(&popped[0]),
        Some(_) => {
            let c: Vec<Cow<'_, [u8]>> = popped.iter().map(|m| Cow::Borrowed(&m[..])).collect();
            reply_set(x, &c);
        }
    }
}

pub fn srandmember(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() > 3 {
        return x.err(SYNTAX);
    }
    let count = if a.len() == 3 {
        let Some(n) = int_arg(x, a.get(2)) else {
            return;
        };
        if n == i64::MIN {
            return x.err(COUNT_RANGE);
        }
        Some(n)
    } else {
        None
    };
    let i = match x.typed(a.get(1), Kind::Set, false) {
        Err(_) => return,
        Ok(None) => {
            return if count.is_some() {
                x.r().array(0)
            } else {
                x.r().null()
            }
        }
        Ok(Some(i)) => i,
    };
    if count.is_some_and(|n| n < 0) && reply_too_large(x, count.unwrap_or(0).unsigned_abs(), 6) {
        return;
    }
    let len = set_ref(x, i).len();
    let mut picks = random_picks(x.core, len, count);
    let resp3 = x.client.resp3;
    let Some(Object::Set(s)) = x.core.dbs[x.client.db].obj(i) else {
        unreachable!()
    };
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    if count.is_none() {
        let p = picks.next().expect("one pick");
        return r.bulk(&s.nth(p).expect("in range"));
    }
    r.array(picks.len());
    for p in picks {
        r.bulk(&s.nth(p).expect("in range"));
    }
}

pub fn smove(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (src, dst, m) = (a.get(1), a.get(2), a.get(3));
    // Redis answers 0 for a missing source before it looks at the destination's type.
    let Ok(si) = x.typed(src, Kind::Set, true) else {
        return;
    };
    let Some(si) = si else { return x.r().int(0) };
    let Ok(di) = x.typed(dst, Kind::Set, true) else {
        return;
    };
    if src == dst {
        let has = set_ref(x, si).contains(m);
        return x.r().int(i64::from(has));
    }
    if !set_mut_if(x, si, |s| s.remove(m), |gone| *gone) {
        return x.r().int(0);
    }
    let max = limits(x.core).set_intset;
    let di = match di {
        Some(d) => d,
        None => x.new_obj(dst, Object::Set(Set::for_member(m, max))),
    };
    set_mut(x, di, |s| s.add(m, max));
    x.r().int(1);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The sets at `keys` (None for absent keys); Err after a WRONGTYPE reply.
fn sources(x: &mut Exec<'_, '_>, keys: &[&[u8]]) -> Result<Vec<Option<Idx>>, ()> {
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        out.push(x.typed(k, Kind::Set, false).map_err(|_| ())?);
    }
    Ok(out)
}

fn combine(x: &Exec<'_, '_>, op: Op, srcs: &[Option<Idx>]) -> Vec<Vec<u8>> {
    let sets: Vec<Option<&Set>> = srcs.iter().map(|s| s.map(|i| set_ref(x, i))).collect();
    match op {
        Op::Inter => {
            if sets.iter().any(Option::is_none) {
                return Vec::new();
            }
            let mut sets: Vec<&Set> = sets.into_iter().flatten().collect();
            sets.sort_by_key(|s| s.len());
            sets[0]
                .members()
                .into_iter()
                .filter(|m| sets[1..].iter().all(|s| s.contains(m)))
                .map(Cow::into_owned)
                .collect()
        }
        Op::Union => {
            let mut seen = hashbrown::HashSet::new();
            let mut out = Vec::new();
            for s in sets.iter().flatten() {
                for m in s.members() {
                    if seen.insert(m.to_vec()) {
                        out.push(m.into_owned());
                    }
                }
            }
            out
        }
        Op::Diff => {
            let Some(first) = sets[0] else {
                return Vec::new();
            };
            first
                .members()
                .into_iter()
                .filter(|m| !sets[1..].iter().flatten().any(|s| s.contains(m)))
                .map(Cow::into_owned)
                .collect()
        }
    }
}

fn setop(x: &mut Exec<'_, '_>, a: Args<'_>, op: Op, store: bool) {
    let first = if store { 2 } else { 1 };
    let keys: Vec<&[u8]> = a.iter().skip(first).collect();
    let Ok(srcs) = sources(x, &keys) else { return };
    let result = combine(x, op, &srcs);
    if store {
        let max = limits(x.core).set_intset;
        let mut s = Set::for_member(result.first().map_or(&b"0"[..], |m| m), max);
        for m in &result {
            s.add(m, max);
        }
        x.put_obj(a.get(1), Object::Set(s));
        x.r().int(result.len() as i64);
    } else {
        let c: Vec<Cow<'_, [u8]>> = result.iter().map(|m| Cow::Borrowed(&m[..])).collect();
        reply_set(x, &c);
    }
}

pub fn sinter(x: &mut Exec<'_, '_>, a: Args<'_>) {
    setop(x, a, Op::Inter, false);
}
pub fn sunion(x: &mut Exec<'_, '_>, a: Args<'_>) {
    setop(x, a, Op::Union, false);
}
pub fn sdiff(x: &mut Exec<'_, '_>, a: Args<'_>) {
    setop(x, a, Op::Diff, false);
}
pub fn sinterstore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    setop(x, a, Op::Inter, true);
}
pub fn sunionstore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    setop(x, a, Op::Union, true);
}
pub fn sdiffstore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    setop(x, a, Op::Diff, true);
}

pub fn sintercard(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let n = match parse_i64(a.get(1)) {
        Some(n) if n > 0 => n as usize,
        _ => return x.err("ERR numkeys should be greater than 0"),
    };
    if n > a.len() - 2 {
        return x.err("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut j = 2 + n;
    while j < a.len() {
        if a.get(j).eq_ignore_ascii_case(b"limit") && j + 1 < a.len() {
            match parse_i64(a.get(j + 1)) {
                None => return x.err(crate::commands::strings::NOT_INT),
                Some(l) if l < 0 => return x.err("ERR LIMIT can't be negative"),
                Some(l) => limit = l as usize,
            }
            j += 2;
        } else {
            return x.err(SYNTAX);
        }
    }
    let keys: Vec<&[u8]> = (2..2 + n).map(|k| a.get(k)).collect();
    let Ok(srcs) = sources(x, &keys) else { return };
    let mut card = combine(x, Op::Inter, &srcs).len();
    if limit > 0 {
        card = card.min(limit);
    }
    x.r().int(card as i64);
}

pub fn sscan(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sa) = scan_args(x, &a) else { return };
    let i = match x.typed(a.get(1), Kind::Set, false) {
        Err(_) => return,
        Ok(None) => return crate::commands::typed::scan_reply(x, 0, &[]),
        Ok(Some(i)) => i,
    };
    let out: Vec<Vec<u8>> = set_ref(x, i)
        .members()
        .into_iter()
        .filter(|m| sa.matches(m))
        .map(Cow::into_owned)
        .collect();
    crate::commands::typed::scan_reply(x, 0, &out);
}
