//! Hash commands (Redis 7.0 `t_hash.c` semantics; replies checked against redis-server).
//!
//! May use: the keyspace, `kvtypes`, the protocol's reply encoder, `typed.rs`; may not touch:
//! the log (a non-replayable effect is handed over as an effect record) or other clients'
//! connections.

use crate::commands::lists::int_arg;
use crate::commands::strings::SYNTAX;
use crate::commands::typed::{limits, reply_too_large, scan_args, COUNT_RANGE};
use crate::keyspace::Idx;
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::num;
use kvtypes::{Hash, Kind, Object};

fn hash_ref<'a>(x: &'a mut Exec<'_, '_>, i: Idx) -> &'a Hash {
    x.payload(i)
}

/// The hash at `key` for writing, created if absent; None after a WRONGTYPE reply.
fn hash_for_write(x: &mut Exec<'_, '_>, key: &[u8]) -> Option<Idx> {
    match x.typed(key, Kind::Hash, true) {
        Err(_) => None,
        Ok(Some(i)) => Some(i),
        Ok(None) => Some(x.new_obj(key, Object::Hash(Hash::default()))),
    }
}

fn set_fields(x: &mut Exec<'_, '_>, a: &Args<'_>) -> Option<i64> {
    let i = hash_for_write(x, a.get(1))?;
    let lim = limits(x.core);
    Some(x.with_obj(i, |o| {
        let Object::Hash(h) = o else { unreachable!() };
        h.reserve_new((2..a.len()).step_by(2).map(|k| (a.get(k), a.get(k + 1))));
        let mut added = 0;
        for k in (2..a.len()).step_by(2) {
            added += i64::from(h.set(a.get(k), a.get(k + 1), &lim));
        }
        added
    }))
}

fn check_pairs(x: &mut Exec<'_, '_>, a: &Args<'_>, name: &str) -> bool {
    if a.len().is_multiple_of(2) {
        return true;
    }
    x.err(&format!(
        "ERR wrong number of arguments for '{name}' command"
    ));
    false
}

pub fn hset(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if check_pairs(x, &a, "hset") {
        if let Some(n) = set_fields(x, &a) {
            x.r().int(n);
        }
    }
}

pub fn hmset(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if check_pairs(x, &a, "hmset") && set_fields(x, &a).is_some() {
        x.r().ok();
    }
}

pub fn hsetnx(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = hash_for_write(x, a.get(1)) else {
        return;
    };
    let lim = limits(x.core);
    let (f, v) = (a.get(2), a.get(3));
    let added = x.with_obj_if(
        i,
        |o| {
            let Object::Hash(h) = o else { unreachable!() };
            h.get(f).is_none() && h.set(f, v, &lim)
        },
        |added| *added,
    );
    x.r().int(i64::from(added));
}

pub fn hget(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.typed_or(a.get(1), Kind::Hash, false, |r| r.null()) else {
        return;
    };
    let resp3 = x.client.resp3;
    let Some(Object::Hash(h)) = x.core.dbs[x.client.db].obj(i) else {
        unreachable!()
    };
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    match h.get(a.get(2)) {
        Some(v) => r.bulk(v),
        None => r.null(),
    }
}

pub fn hmget(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Ok(found) = x.typed(a.get(1), Kind::Hash, false) else {
        return;
    };
    let resp3 = x.client.resp3;
    let h = found.and_then(|i| match x.core.dbs[x.client.db].obj(i) {
        Some(Object::Hash(h)) => Some(h),
        _ => None,
    });
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    r.array(a.len() - 2);
    for f in a.iter().skip(2) {
        match h.and_then(|h| h.get(f)) {
            Some(v) => r.bulk(v),
            None => r.null(),
        }
    }
}

pub fn hdel(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.typed_or(a.get(1), Kind::Hash, true, |r| r.int(0)) else {
        return;
    };
    let n = x.with_obj_if(
        i,
        |o| {
            let Object::Hash(h) = o else { unreachable!() };
            a.iter().skip(2).filter(|f| h.del(f)).count()
        },
        |n| *n > 0,
    );
    x.r().int(n as i64);
}

pub fn hexists(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.typed(a.get(1), Kind::Hash, false) {
        Err(_) => {}
        Ok(None) => x.r().int(0),
        Ok(Some(i)) => {
            let has = hash_ref(x, i).get(a.get(2)).is_some();
            x.r().int(i64::from(has));
        }
    }
}

pub fn hlen(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.typed(a.get(1), Kind::Hash, false) {
        Err(_) => {}
        Ok(None) => x.r().int(0),
        Ok(Some(i)) => {
            let n = hash_ref(x, i).len();
            x.r().int(n as i64);
        }
    }
}

pub fn hstrlen(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.typed(a.get(1), Kind::Hash, false) {
        Err(_) => {}
        Ok(None) => x.r().int(0),
        Ok(Some(i)) => {
            let n = hash_ref(x, i).get(a.get(2)).map_or(0, <[u8]>::len);
            x.r().int(n as i64);
        }
    }
}

#[derive(Clone, Copy)]
enum Part {
    Both,
    Keys,
    Vals,
}

fn getall(x: &mut Exec<'_, '_>, a: Args<'_>, part: Part) {
    let i = match x.typed(a.get(1), Kind::Hash, false) {
        Err(_) => return,
        Ok(None) => {
            return match part {
                Part::Both => x.r().map(0),
                _ => x.r().array(0),
            }
        }
        Ok(Some(i)) => i,
    };
    let resp3 = x.client.resp3;
    let Some(Object::Hash(h)) = x.core.dbs[x.client.db].obj(i) else {
        unreachable!()
    };
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    let pairs = h.pairs();
    match part {
        Part::Both => r.map(pairs.len()),
        _ => r.array(pairs.len()),
    }
    for (f, v) in pairs {
        match part {
            Part::Both => {
                r.bulk(f);
                r.bulk(v);
            }
            Part::Keys => r.bulk(f),
            Part::Vals => r.bulk(v),
        }
    }
}

pub fn hgetall(x: &mut Exec<'_, '_>, a: Args<'_>) {
    getall(x, a, Part::Both);
}
pub fn hkeys(x: &mut Exec<'_, '_>, a: Args<'_>) {
    getall(x, a, Part::Keys);
}
pub fn hvals(x: &mut Exec<'_, '_>, a: Args<'_>) {
    getall(x, a, Part::Vals);
}

pub fn hincrby(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(by) = int_arg(x, a.get(3)) else {
        return;
    };
    let Some(i) = hash_for_write(x, a.get(1)) else {
        return;
    };
    let lim = limits(x.core);
    let f = a.get(2);
    let r = x.with_obj_if(
        i,
        |o| {
            let Object::Hash(h) = o else { unreachable!() };
            let cur = match h.get(f) {
                None => 0,
                Some(v) => parse_i64(v).ok_or("ERR hash value is not an integer")?,
            };
            let n = cur
                .checked_add(by)
                .ok_or("ERR increment or decrement would overflow")?;
            h.set(f, itoa::Buffer::new().format(n).as_bytes(), &lim);
            Ok(n)
        },
        Result::is_ok,
    );
    match r {
        Ok(n) => x.r().int(n),
        Err(e) => x.err(e),
    }
}

pub fn hincrbyfloat(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(by) = num::parse_f64(a.get(3)) else {
        return x.err("ERR value is not a valid float");
    };
    if by.is_infinite() {
        return x.err("ERR value is NaN or Infinity");
    }
    let Some(i) = hash_for_write(x, a.get(1)) else {
        return;
    };
    let lim = limits(x.core);
    let (f, incr) = (a.get(2), a.get(3));
    let r = x.with_obj_if(
        i,
        |o| {
            let Object::Hash(h) = o else { unreachable!() };
            let cur = h
                .get(f)
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| b"0".to_vec());
            if num::parse_f64(&cur).is_none() {
                return Err("ERR hash value is not a float");
            }
            let s = num::incr_by_float(&cur, incr)?;
            h.set(f, s.as_bytes(), &lim);
            Ok(s)
        },
        Result::is_ok,
    );
    match r {
        Ok(s) => x.r().bulk(s.as_bytes()),
        Err(e) => x.err(e),
    }
}

pub fn hrandfield(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut count = None;
    let mut values = false;
    if a.len() >= 3 {
        let Some(n) = int_arg(x, a.get(2)) else {
            return;
        };
        // Redis range-checks first: i64::MIN has no positive counterpart.
        if n == i64::MIN {
            return x.err(COUNT_RANGE);
        }
        count = Some(n);
        if a.len() == 4 && a.get(3).eq_ignore_ascii_case(b"withvalues") {
            values = true;
        } else if a.len() >= 4 {
            return x.err(SYNTAX);
        }
        if values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
            return x.err("ERR value is out of range");
        }
    }
    let i = match x.typed(a.get(1), Kind::Hash, false) {
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
    if let Some(n) = count.filter(|n| *n < 0) {
        if reply_too_large(x, n.unsigned_abs(), if values { 12 } else { 6 }) {
            return;
        }
    }
    let mut picks = {
        let len = hash_ref(x, i).len();
        crate::commands::typed::random_picks(x.core, len, count)
    };
    let resp3 = x.client.resp3;
    let Some(Object::Hash(h)) = x.core.dbs[x.client.db].obj(i) else {
        unreachable!()
    };
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    if count.is_none() {
        // One O(1) lookup per pick in the table form (`Hash::at`).
        let (f, _) = h.at(picks.next().expect("one pick")).expect("in range");
        return r.bulk(f);
    }
    if values && resp3 {
        r.array(picks.len());
    } else {
        r.array(picks.len() * (1 + usize::from(values)));
    }
    for p in picks {
        let (f, v) = h.at(p).expect("in range");
        if values {
            if resp3 {
                r.array(2);
            }
            r.bulk(f);
            r.bulk(v);
        } else {
            r.bulk(f);
        }
    }
}

pub fn hscan(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sa) = scan_args(x, &a) else { return };
    let i = match x.typed(a.get(1), Kind::Hash, false) {
        Err(_) => return,
        Ok(None) => return crate::commands::typed::scan_reply(x, 0, &[]),
        Ok(Some(i)) => i,
    };
    let h = hash_ref(x, i);
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (f, v) in h.pairs() {
        if sa.matches(f) {
            out.push(f.to_vec());
            out.push(v.to_vec());
        }
    }
    crate::commands::typed::scan_reply(x, 0, &out);
}
