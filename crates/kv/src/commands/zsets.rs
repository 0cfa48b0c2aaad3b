//! Sorted-set commands (Redis 7.0 `t_zset.c` semantics; replies checked against
//! redis-server).
//!
//! May use: the keyspace, `kvtypes`, the protocol's reply encoder, `typed.rs`; may not touch:
//! the log (a non-replayable effect is handed over as an effect record) or other clients'
//! connections.

use crate::commands::lists::{int_arg, parse_mpop, POSITIVE};
use crate::commands::strings::SYNTAX;
use crate::commands::typed::{limits, random_picks, reply_too_large, scan_args, COUNT_RANGE};
use crate::keyspace::Idx;
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::list::clamp_range;
use kvtypes::num::parse_f64;
use kvtypes::{Kind, Object, ZSet};

const NOT_FLOAT: &str = "ERR value is not a valid float";
const RANGE_FLOAT: &str = "ERR min or max is not a float";
const RANGE_LEX: &str = "ERR min or max not valid string range item";

fn zset_ref<'a>(x: &'a Exec<'_, '_>, i: Idx) -> &'a ZSet {
    x.payload(i)
}

fn zset_mut<R>(x: &mut Exec<'_, '_>, i: Idx, f: impl FnOnce(&mut ZSet) -> R) -> R {
    zset_mut_if(x, i, f, |_| true)
}

/// [`zset_mut`] for a change that may be none (see `Exec::with_obj_if`).
fn zset_mut_if<R>(
    x: &mut Exec<'_, '_>,
    i: Idx,
    f: impl FnOnce(&mut ZSet) -> R,
    changed: impl FnOnce(&R) -> bool,
) -> R {
    x.payload_mut_if(i, f, changed)
}

/// `[member, score]` pairs: flat in RESP2, pairs in RESP3 (as Redis's WITHSCORES).
fn reply_entries(x: &mut Exec<'_, '_>, entries: &[(f64, Vec<u8>)], scores: bool) {
    let resp3 = x.client.resp3;
    let mut r = x.r();
    if scores && !resp3 {
        r.array(entries.len() * 2);
    } else {
        r.array(entries.len());
    }
    for (s, m) in entries {
        if scores && resp3 {
            r.array(2);
        }
        r.bulk(m);
        if scores {
            r.double(*s);
        }
    }
}

// ------------------------------------------------------------------------------------------
// ZADD, ZINCRBY

#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

pub fn zadd(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut f = AddFlags::default();
    let mut j = 2;
    while j < a.len() {
        match a.get(j).to_ascii_lowercase().as_slice() {
            b"nx" => f.nx = true,
            b"xx" => f.xx = true,
            b"gt" => f.gt = true,
            b"lt" => f.lt = true,
            b"ch" => f.ch = true,
            b"incr" => f.incr = true,
            _ => break,
        }
        j += 1;
    }
    let elems = a.len() - j;
    if elems == 0 || elems % 2 == 1 {
        return x.err(SYNTAX);
    }
    if f.nx && f.xx {
        return x.err("ERR XX and NX options at the same time are not compatible");
    }
    if [f.gt, f.lt, f.nx].iter().filter(|&&b| b).count() > 1 {
        return x.err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && elems > 2 {
        return x.err("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(elems / 2);
    for k in (j..a.len()).step_by(2) {
        let Some(s) = parse_f64(a.get(k)) else {
            return x.err(NOT_FLOAT);
        };
        pairs.push((s, a.get(k + 1)));
    }
    let key = a.get(1);
    let i = match x.typed(key, Kind::ZSet, true) {
        Err(_) => return,
        Ok(Some(i)) => i,
        Ok(None) if f.xx => {
            return if f.incr { x.r().null() } else { x.r().int(0) };
        }
        Ok(None) => {
            let lim = limits(x.core);
            x.new_obj(key, Object::ZSet(ZSet::for_member(pairs[0].1, &lim)))
        }
    };
    let lim = limits(x.core);
    let r = zset_mut_if(
        x,
        i,
        |z| {
            let (mut added, mut updated) = (0, 0);
            let mut last = None;
            for &(s, m) in &pairs {
                match z.score(m) {
                    Some(cur) => {
                        if f.nx {
                            continue;
                        }
                        let new = if f.incr { cur + s } else { s };
                        if new.is_nan() {
                            return Err("ERR resulting score is not a number (NaN)");
                        }
                        if (f.lt && new >= cur) || (f.gt && new <= cur) {
                            continue;
                        }
                        last = Some(new);
                        if new != cur {
                            z.insert(m, new, &lim);
                            updated += 1;
                        }
                    }
                    None => {
                        if f.xx {
                            continue;
                        }
                        z.insert(m, s, &lim);
                        added += 1;
                        last = Some(s);
                    }
                }
            }
            Ok((added, updated, last))
        },
        |r| matches!(r, Ok((a, u, _)) if a + u > 0),
    );
    match r {
        Err(e) => x.err(e),
        Ok((_, _, last)) if f.incr => match last {
            Some(s) => x.r().double(s),
            None => x.r().null(),
        },
        Ok((added, updated, _)) => x.r().int(if f.ch { added + updated } else { added }),
    }
    crate::commands::typed::signal_key(x, key);
}

pub fn zincrby(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(by) = parse_f64(a.get(2)) else {
        return x.err(NOT_FLOAT);
    };
    let key = a.get(1);
    let m = a.get(3);
    let lim = limits(x.core);
    let i = match x.typed(key, Kind::ZSet, true) {
        Err(_) => return,
        Ok(Some(i)) => i,
        Ok(None) => x.new_obj(key, Object::ZSet(ZSet::for_member(m, &lim))),
    };
    let r = zset_mut_if(
        x,
        i,
        |z| {
            let new = z.score(m).unwrap_or(0.0) + by;
            if new.is_nan() {
                return Err("ERR resulting score is not a number (NaN)");
            }
            z.insert(m, new, &lim);
            Ok(new)
        },
        Result::is_ok,
    );
    match r {
        Ok(s) => x.r().double(s),
        Err(e) => x.err(e),
    }
    crate::commands::typed::signal_key(x, key);
}

// ------------------------------------------------------------------------------------------
// simple reads and removal

pub fn zrem(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.typed_or(a.get(1), Kind::ZSet, true, |r| r.int(0)) else {
        return;
    };
    let n = zset_mut_if(
        x,
        i,
        |z| a.iter().skip(2).filter(|m| z.remove(m)).count(),
        |n| *n > 0,
    );
    x.r().int(n as i64);
}

pub fn zcard(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.typed(a.get(1), Kind::ZSet, false) {
        Err(_) => {}
        Ok(None) => x.r().int(0),
        Ok(Some(i)) => {
            let n = zset_ref(x, i).len();
            x.r().int(n as i64);
        }
    }
}

pub fn zscore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let s = match x.typed(a.get(1), Kind::ZSet, false) {
        Err(_) => return,
        Ok(None) => None,
        Ok(Some(i)) => zset_ref(x, i).score(a.get(2)),
    };
    match s {
        Some(s) => x.r().double(s),
        None => x.r().null(),
    }
}

pub fn zmscore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Ok(found) = x.typed(a.get(1), Kind::ZSet, false) else {
        return;
    };
    let scores: Vec<Option<f64>> = a
        .iter()
        .skip(2)
        .map(|m| found.and_then(|i| zset_ref(x, i).score(m)))
        .collect();
    let mut r = x.r();
    r.array(scores.len());
    for s in scores {
        match s {
            Some(s) => r.double(s),
            None => r.null(),
        }
    }
}

fn rank_generic(x: &mut Exec<'_, '_>, a: Args<'_>, rev: bool) {
    let rank = match x.typed(a.get(1), Kind::ZSet, false) {
        Err(_) => return,
        Ok(None) => None,
        Ok(Some(i)) => {
            let z = zset_ref(x, i);
            z.rank(a.get(2))
                .map(|r| if rev { z.len() - 1 - r } else { r })
        }
    };
    match rank {
        Some(r) => x.r().int(r as i64),
        None => x.r().null(),
    }
}

pub fn zrank(x: &mut Exec<'_, '_>, a: Args<'_>) {
    rank_generic(x, a, false);
}
pub fn zrevrank(x: &mut Exec<'_, '_>, a: Args<'_>) {
    rank_generic(x, a, true);
}

// ------------------------------------------------------------------------------------------
// ranges

#[derive(Clone, Copy)]
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        // Redis reads these with strtod, which takes an empty string as 0.
        let num = |b: &[u8]| {
            if b.is_empty() {
                Some(0.0)
            } else {
                parse_f64(b)
            }
        };
        let one = |b: &[u8]| -> Option<(f64, bool)> {
            match b.split_first() {
                Some((b'(', rest)) => num(rest).map(|v| (v, true)),
                _ => num(b).map(|v| (v, false)),
            }
        };
        let (min, minex) = one(min)?;
        let (max, maxex) = one(max)?;
        Some(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }
}

#[derive(Clone)]
enum LexBound {
    NegInf,
    PosInf,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl LexBound {
    fn parse(b: &[u8]) -> Option<LexBound> {
        match b.split_first() {
            Some((b'-', [])) => Some(LexBound::NegInf),
            Some((b'+', [])) => Some(LexBound::PosInf),
            Some((b'[', rest)) => Some(LexBound::Incl(rest.to_vec())),
            Some((b'(', rest)) => Some(LexBound::Excl(rest.to_vec())),
            _ => None,
        }
    }

    fn above_min(&self, m: &[u8]) -> bool {
        match self {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(v) => m >= &v[..],
            LexBound::Excl(v) => m > &v[..],
        }
    }

    fn below_max(&self, m: &[u8]) -> bool {
        match self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(v) => m <= &v[..],
            LexBound::Excl(v) => m < &v[..],
        }
    }
}

#[derive(Clone)]
enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexBound, LexBound),
}

impl Range {
    /// Parse `min max` of the given kind; the error text when invalid.
    fn parse(kind: u8, min: &[u8], max: &[u8]) -> Result<Range, &'static str> {
        match kind {
            b'r' => match (parse_i64(min), parse_i64(max)) {
                (Some(s), Some(e)) => Ok(Range::Rank(s, e)),
                _ => Err(crate::commands::strings::NOT_INT),
            },
            b's' => ScoreRange::parse(min, max)
                .map(Range::Score)
                .ok_or(RANGE_FLOAT),
            _ => match (LexBound::parse(min), LexBound::parse(max)) {
                (Some(a), Some(b)) => Ok(Range::Lex(a, b)),
                _ => Err(RANGE_LEX),
            },
        }
    }

    /// The matches as an ascending rank span `lo..hi`: found by descending the index to
    /// each bound, O(log N) whatever the span's size (ZCOUNT's documented cost).
    fn span(&self, z: &ZSet, rev: bool) -> (usize, usize) {
        let len = z.len();
        match self {
            Range::Rank(s, e) => match clamp_range(len, *s, *e) {
                None => (0, 0),
                // Reverse ranks count from the top.
                Some((s, e)) if rev => (len - 1 - e, len - s),
                Some((s, e)) => (s, e + 1),
            },
            Range::Score(r) => {
                let lo = z.count_before(|s, _| if r.minex { s <= r.min } else { s < r.min });
                let hi = z.count_before(|s, _| if r.maxex { s < r.max } else { s <= r.max });
                (lo, hi.max(lo))
            }
            Range::Lex(min, max) => {
                if !lex_in_range(z, min, max) {
                    return (0, 0);
                }
                // Lex ranges assume equal scores (members then sorted): both bounds are
                // prefixes of the order, as Redis's skiplist descent assumes.
                let lo = z.count_before(|_, m| !min.above_min(m));
                let hi = z.count_before(|_, m| max.below_max(m));
                (lo, hi.max(lo))
            }
        }
    }

    /// How many elements match. O(log N).
    fn count(&self, z: &ZSet) -> usize {
        let (lo, hi) = self.span(z, false);
        hi - lo
    }

    /// The matching entries in order (descending if `rev`), after `offset`, at most `limit`
    /// (negative: no limit). O(log N + M): the offset is a rank jump, not a walk.
    fn select(&self, z: &ZSet, rev: bool, offset: i64, limit: i64) -> Vec<(f64, Vec<u8>)> {
        // A negative LIMIT offset selects nothing (rank ranges ignore LIMIT).
        let (offset, limit) = match self {
            Range::Rank(..) => (0, usize::MAX),
            _ if offset < 0 => return Vec::new(),
            _ => (
                usize::try_from(offset).unwrap_or(usize::MAX),
                usize::try_from(limit).unwrap_or(usize::MAX),
            ),
        };
        let (lo, hi) = self.span(z, rev);
        let n = hi - lo;
        if offset >= n {
            return Vec::new();
        }
        let take = (n - offset).min(limit);
        let it = if rev {
            z.iter_from(hi - 1 - offset, true)
        } else {
            z.iter_from(lo + offset, false)
        };
        it.take(take).map(|(sc, m)| (sc, m.to_vec())).collect()
    }
}

/// Redis's precheck for a lex range: not empty, the first element not past the end bound and
/// the last not before the start bound (it matters only when scores differ).
fn lex_in_range(z: &ZSet, min: &LexBound, max: &LexBound) -> bool {
    let empty = match (min, max) {
        (LexBound::PosInf, _) | (_, LexBound::NegInf) => true,
        (LexBound::Incl(a) | LexBound::Excl(a), LexBound::Incl(b) | LexBound::Excl(b)) => {
            let excl = matches!(min, LexBound::Excl(_)) || matches!(max, LexBound::Excl(_));
            a > b || (a == b && excl)
        }
        _ => false,
    };
    if empty || z.is_empty() {
        return false;
    }
    let (Some((_, first)), Some((_, last))) = (z.select(0), z.select(z.len() - 1)) else {
        return false;
    };
    min.above_min(last) && max.below_max(first)
}

/// Which command: ZRANGE's full syntax, or one of the old fixed forms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Range,
    Store,
    Fixed { kind: u8, rev: bool },
}

fn zrange_generic(x: &mut Exec<'_, '_>, a: Args<'_>, form: Form) {
    let (src_at, first_opt) = match form {
        Form::Store => (2, 5),
        _ => (1, 4),
    };
    let (mut kind, mut rev) = match form {
        Form::Fixed { kind, rev } => (kind, rev),
        _ => (b'r', false),
    };
    let (mut withscores, mut limit) = (false, None::<(i64, i64)>);
    let mut j = first_opt;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        match opt.as_slice() {
            b"withscores"
                if form != Form::Store && !(matches!(form, Form::Fixed { kind: b'l', .. })) =>
            {
                withscores = true
            }
            b"limit" if j + 2 < a.len() && !matches!(form, Form::Fixed { kind: b'r', .. }) => {
                let Some(o) = int_arg(x, a.get(j + 1)) else {
                    return;
                };
                let Some(c) = int_arg(x, a.get(j + 2)) else {
                    return;
                };
                limit = Some((o, c));
                j += 2;
            }
            b"byscore" if matches!(form, Form::Range | Form::Store) && kind == b'r' => kind = b's',
            b"bylex" if matches!(form, Form::Range | Form::Store) && kind == b'r' => kind = b'l',
            b"rev" if matches!(form, Form::Range | Form::Store) => rev = true,
            _ => return x.err(SYNTAX),
        }
        j += 1;
    }
    // Redis refuses only a real count with a rank range (LIMIT x -1 is accepted, ignored).
    if limit.is_some_and(|(_, c)| c != -1) && kind == b'r' {
        return x.err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && kind == b'l' {
        return x.err("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
    }
    let (mut lo, mut hi) = (a.get(src_at + 1), a.get(src_at + 2));
    // Reversed score and lex ranges are written max first.
    if rev && kind != b'r' {
        std::mem::swap(&mut lo, &mut hi);
    }
    let range = match Range::parse(kind, lo, hi) {
        Ok(r) => r,
        Err(e) => return x.err(e),
    };
    let (offset, count) = limit.unwrap_or((0, -1));
    let found = match x.typed(a.get(src_at), Kind::ZSet, false) {
        Err(_) => return,
        Ok(None) => Vec::new(),
        Ok(Some(i)) => range.select(zset_ref(x, i), rev, offset, count),
    };
    if form == Form::Store {
        store_entries(x, a.get(1), &found);
        return x.r().int(found.len() as i64);
    }
    reply_entries(x, &found, withscores);
}

pub fn store_entries(x: &mut Exec<'_, '_>, dst: &[u8], entries: &[(f64, Vec<u8>)]) {
    let lim = limits(x.core);
    let first = entries.first().map_or(&b""[..], |(_, m)| m);
    let mut z = ZSet::for_member(first, &lim);
    for (s, m) in entries {
        z.insert(m, *s, &lim);
    }
    x.put_obj(dst, Object::ZSet(z));
}

pub fn zrange(x: &mut Exec<'_, '_>, a: Args<'_>) {
    zrange_generic(x, a, Form::Range);
}
pub fn zrangestore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    zrange_generic(x, a, Form::Store);
}
pub fn zrevrange(x: &mut Exec<'_, '_>, a: Args<'_>) {
    zrange_generic(
        x,
        a,
        Form::Fixed {
            kind: b'r',
            rev: true,
        },
    );
}
pub fn zrangebyscore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    zrange_generic(
        x,
        a,
        Form::Fixed {
            kind: b's',
            rev: false,
        },
    );
}
pub fn zrevrangebyscore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    zrange_generic(
        x,
        a,
        Form::Fixed {
            kind: b's',
            rev: true,
        },
    );
}
pub fn zrangebylex(x: &mut Exec<'_, '_>, a: Args<'_>) {
    zrange_generic(
        x,
        a,
        Form::Fixed {
            kind: b'l',
            rev: false,
        },
    );
}
pub fn zrevrangebylex(x: &mut Exec<'_, '_>, a: Args<'_>) {
    zrange_generic(
        x,
        a,
        Form::Fixed {
            kind: b'l',
            rev: true,
        },
    );
}

fn count_generic(x: &mut Exec<'_, '_>, a: Args<'_>, kind: u8) {
    let range = match Range::parse(kind, a.get(2), a.get(3)) {
        Ok(r) => r,
        Err(e) => return x.err(e),
    };
    let n = match x.typed(a.get(1), Kind::ZSet, false) {
        Err(_) => return,
        Ok(None) => 0,
        Ok(Some(i)) => range.count(zset_ref(x, i)),
    };
    x.r().int(n as i64);
}

pub fn zcount(x: &mut Exec<'_, '_>, a: Args<'_>) {
    count_generic(x, a, b's');
}
pub fn zlexcount(x: &mut Exec<'_, '_>, a: Args<'_>) {
    count_generic(x, a, b'l');
}

fn remrange(x: &mut Exec<'_, '_>, a: Args<'_>, kind: u8) {
    let range = match Range::parse(kind, a.get(2), a.get(3)) {
        Ok(r) => r,
        Err(e) => return x.err(e),
    };
    let Some(i) = x.typed_or(a.get(1), Kind::ZSet, true, |r| r.int(0)) else {
        return;
    };
    let gone = range.select(zset_ref(x, i), false, 0, -1);
    zset_mut_if(
        x,
        i,
        |z| {
            for (_, m) in &gone {
                z.remove(m);
            }
        },
        |_| !gone.is_empty(),
    );
    x.r().int(gone.len() as i64);
}

pub fn zremrangebyscore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    remrange(x, a, b's');
}
pub fn zremrangebyrank(x: &mut Exec<'_, '_>, a: Args<'_>) {
    remrange(x, a, b'r');
}
pub fn zremrangebylex(x: &mut Exec<'_, '_>, a: Args<'_>) {
    remrange(x, a, b'l');
}

// ------------------------------------------------------------------------------------------
// pops

/// Pop up to `count` from the min (or max) end of the sorted set in slot `i`.
pub fn pop_entries(x: &mut Exec<'_, '_>, i: Idx, max: bool, count: usize) -> Vec<(f64, Vec<u8>)> {
    let out: Vec<(f64, Vec<u8>)> = {
        let z = zset_ref(x, i);
        let it = if max { z.iter_rev() } else { z.iter() };
        it.take(count).map(|(s, m)| (s, m.to_vec())).collect()
    };
    zset_mut(x, i, |z| {
        for (_, m) in &out {
            z.remove(m);
        }
    });
    out
}

fn pop_generic(x: &mut Exec<'_, '_>, a: Args<'_>, max: bool) {
    if a.len() > 3 {
        return x.err(SYNTAX);
    }
    let count = if a.len() == 3 {
        let Some(n) = int_arg(x, a.get(2)) else {
            return;
        };
        if n < 0 {
            return x.err(POSITIVE);
        }
        Some(n as usize)
    } else {
        None
    };
    let Some(i) = x.typed_or(a.get(1), Kind::ZSet, true, |r| r.array(0)) else {
        return;
    };
    let got = pop_entries(x, i, max, count.unwrap_or(1));
    if count.is_none() {
        // One pop without COUNT is a flat [member, score] in RESP3 too.
        let mut r = x.r();
        r.array(2);
        r.bulk(&got[0].1);
        r.double(got[0].0);
    } else {
        reply_entries(x, &got, true);
    }
}

pub fn zpopmin(x: &mut Exec<'_, '_>, a: Args<'_>) {
    pop_generic(x, a, false);
}
pub fn zpopmax(x: &mut Exec<'_, '_>, a: Args<'_>) {
    pop_generic(x, a, true);
}

pub const ZSET_SIDES: &[(&[u8], bool)] = &[(b"min", false), (b"max", true)];

/// ZMPOP's reply from the first non-empty sorted set of `m.keys`; false if all were empty.
pub fn zmpop_from(
    x: &mut Exec<'_, '_>,
    a: &Args<'_>,
    m: &crate::commands::lists::MpopArgs,
) -> bool {
    for k in m.keys.clone() {
        let key = a.get(k);
        match x.typed(key, Kind::ZSet, true) {
            Err(_) => return true,
            Ok(None) => continue,
            Ok(Some(i)) => {
                // `left` is "max" for ZSET_SIDES.
                let got = pop_entries(x, i, m.left, m.count);
                let mut r = x.r();
                r.array(2);
                r.bulk(key);
                r.array(got.len());
                for (s, mem) in &got {
                    r.array(2);
                    r.bulk(mem);
                    r.double(*s);
                }
                return true;
            }
        }
    }
    false
}

pub fn zmpop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(m) = parse_mpop(x, &a, 1, ZSET_SIDES) else {
        return;
    };
    if !zmpop_from(x, &a, &m) {
        x.r().null_array();
    }
}

// ------------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN

pub fn zrandmember(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut count = None;
    let mut scores = false;
    if a.len() >= 3 {
        let Some(n) = int_arg(x, a.get(2)) else {
            return;
        };
        // Redis range-checks first: i64::MIN has no positive counterpart.
        if n == i64::MIN {
            return x.err(COUNT_RANGE);
        }
        if a.len() == 4 && a.get(3).eq_ignore_ascii_case(b"withscores") {
            scores = true;
        } else if a.len() >= 4 {
            return x.err(SYNTAX);
        }
        if scores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
            return x.err("ERR value is out of range");
        }
        count = Some(n);
    }
    let i = match x.typed(a.get(1), Kind::ZSet, false) {
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
        if reply_too_large(x, n.unsigned_abs(), if scores { 10 } else { 6 }) {
            return;
        }
    }
    let len = zset_ref(x, i).len();
    let mut picks = random_picks(x.core, len, count);
    let resp3 = x.client.resp3;
    let z: &ZSet = x.core.dbs[x.client.db]
        .obj(i)
        .and_then(kvtypes::Payload::of)
        .expect("type checked above");
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    // Each pick is one O(1) lookup (`ZSet::at`): O(count) in all, as Redis documents.
    if count.is_none() {
        let (_, m) = z.at(picks.next().expect("one pick")).expect("in range");
        return r.bulk(m);
    }
    if scores && !resp3 {
        r.array(picks.len() * 2);
    } else {
        r.array(picks.len());
    }
    for p in picks {
        let (s, m) = z.at(p).expect("in range");
        if scores && resp3 {
            r.array(2);
        }
        r.bulk(m);
        if scores {
            r.double(s);
        }
    }
}

pub fn zscan(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sa) = scan_args(x, &a) else { return };
    let i = match x.typed(a.get(1), Kind::ZSet, false) {
        Err(_) => return,
        Ok(None) => return crate::commands::typed::scan_reply(x, 0, &[]),
        Ok(Some(i)) => i,
    };
    let mut out = Vec::new();
    for (s, m) in zset_ref(x, i).iter() {
        if sa.matches(m) {
            out.push(m.to_vec());
            out.push(kvtypes::num::fmt_g17(s).into_bytes());
        }
    }
    crate::commands::typed::scan_reply(x, 0, &out);
}
