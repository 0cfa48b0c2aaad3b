//! List commands (Redis 7.0 `t_list.c` semantics; replies checked against redis-server).
//!
//! May use: the keyspace, `kvtypes`, the protocol's reply encoder, `typed.rs`; may not touch:
//! the log (a non-replayable effect is handed over as an effect record) or other clients'
//! connections.

use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::list::clamp_range;
use kvtypes::{Kind, List, Object};

const NO_KEY: &str = "ERR no such key";
pub const POSITIVE: &str = "ERR value is out of range, must be positive";

/// An integer argument, or Redis's error replied.
pub fn int_arg(x: &mut Exec<'_, '_>, arg: &[u8]) -> Option<i64> {
    let v = parse_i64(arg);
    if v.is_none() {
        x.err(NOT_INT);
    }
    v
}

fn list_mut<R>(x: &mut Exec<'_, '_>, i: crate::keyspace::Idx, f: impl FnOnce(&mut List) -> R) -> R {
    list_mut_if(x, i, f, |_| true)
}

/// [`list_mut`] for a change that may be none (see `Exec::with_obj_if`).
fn list_mut_if<R>(
    x: &mut Exec<'_, '_>,
    i: crate::keyspace::Idx,
    f: impl FnOnce(&mut List) -> R,
    changed: impl FnOnce(&R) -> bool,
) -> R {
    x.payload_mut_if(i, f, changed)
}

fn list_ref<'a>(x: &'a mut Exec<'_, '_>, i: crate::keyspace::Idx) -> &'a List {
    x.payload(i)
}

/// Push `vals` onto `key`, creating it unless `only_existing`; returns the new length (0 if
/// nothing was done), or None after a WRONGTYPE reply.
pub fn push_values(
    x: &mut Exec<'_, '_>,
    key: &[u8],
    vals: &mut dyn Iterator<Item = &[u8]>,
    left: bool,
    only_existing: bool,
) -> Option<usize> {
    let i = match x.typed(key, Kind::List, true) {
        Err(_) => return None,
        Ok(Some(i)) => i,
        Ok(None) if only_existing => return Some(0),
        Ok(None) => x.new_obj(key, Object::List(List::default())),
    };
    let n = x.with_obj(i, |o| {
        let Object::List(l) = o else { unreachable!() };
        for v in vals {
            l.push(v, left);
        }
        l.len()
    });
    crate::commands::typed::signal_key(x, key);
    Some(n)
}

fn push(x: &mut Exec<'_, '_>, a: Args<'_>, left: bool, only_existing: bool) {
    let mut vals = a.iter().skip(2);
    if let Some(n) = push_values(x, a.get(1), &mut vals, left, only_existing) {
        x.r().int(n as i64);
    }
}

pub fn lpush(x: &mut Exec<'_, '_>, a: Args<'_>) {
    push(x, a, true, false);
}
pub fn rpush(x: &mut Exec<'_, '_>, a: Args<'_>) {
    push(x, a, false, false);
}
pub fn lpushx(x: &mut Exec<'_, '_>, a: Args<'_>) {
    push(x, a, true, true);
}
pub fn rpushx(x: &mut Exec<'_, '_>, a: Args<'_>) {
    push(x, a, false, true);
}

/// Pop up to `count` elements from the list in slot `i` (deleting it when emptied).
pub fn pop_n(
    x: &mut Exec<'_, '_>,
    i: crate::keyspace::Idx,
    left: bool,
    count: usize,
) -> Vec<Box<[u8]>> {
    list_mut(x, i, |l| {
        let mut out = Vec::with_capacity(count.min(l.len()));
        while out.len() < count {
            match l.pop(left) {
                Some(v) => out.push(v),
                None => break,
            }
        }
        out
    })
}

fn pop(x: &mut Exec<'_, '_>, a: Args<'_>, left: bool) {
    if a.len() > 3 {
        return x.err(&format!(
            "ERR wrong number of arguments for '{}' command",
            if left { "lpop" } else { "rpop" }
        ));
    }
    let count = if a.len() == 3 {
        match parse_i64(a.get(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return x.err(POSITIVE),
        }
    } else {
        None
    };
    let i = match x.typed(a.get(1), Kind::List, true) {
        Err(_) => return,
        Ok(None) => {
            return if count.is_some() {
                x.r().null_array()
            } else {
                x.r().null()
            }
        }
        Ok(Some(i)) => i,
    };
    match count {
        None => {
            let v = pop_n(x, i, left, 1);
            x.r().bulk(&v[0]);
        }
        Some(n) => {
            let v = pop_n(x, i, left, n);
            let mut r = x.r();
            r.array(v.len());
            for e in &v {
                r.bulk(e);
            }
        }
    }
}

pub fn lpop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    pop(x, a, true);
}
pub fn rpop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    pop(x, a, false);
}

pub fn llen(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.typed(a.get(1), Kind::List, false) {
        Err(_) => {}
        Ok(None) => x.r().int(0),
        Ok(Some(i)) => {
            let n = list_ref(x, i).len();
            x.r().int(n as i64);
        }
    }
}

pub fn lrange(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(start) = int_arg(x, a.get(2)) else {
        return;
    };
    let Some(end) = int_arg(x, a.get(3)) else {
        return;
    };
    let Some(i) = x.typed_or(a.get(1), Kind::List, false, |r| r.array(0)) else {
        return;
    };
    let resp3 = x.client.resp3;
    let Some(Object::List(l)) = x.core.dbs[x.client.db].obj(i) else {
        unreachable!()
    };
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    match l.range(start, end) {
        None => r.array(0),
        Some((s, e)) => {
            r.array(e - s + 1);
            for v in l.items.range(s..=e) {
                r.bulk(v);
            }
        }
    }
}

pub fn lindex(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(i) = x.typed_or(a.get(1), Kind::List, false, |r| r.null()) else {
        return;
    };
    let Some(idx) = int_arg(x, a.get(2)) else {
        return;
    };
    let l = list_ref(x, i);
    match l.index(idx).map(|p| l.items[p].clone()) {
        Some(v) => x.r().bulk(&v),
        None => x.r().null(),
    }
}

pub fn lset(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let i = match x.typed(a.get(1), Kind::List, true) {
        Err(_) => return,
        Ok(None) => return x.err(NO_KEY),
        Ok(Some(i)) => i,
    };
    let Some(idx) = int_arg(x, a.get(2)) else {
        return;
    };
    let v = a.get(3);
    let ok = list_mut_if(
        x,
        i,
        |l| match l.index(idx) {
            Some(p) => {
                l.items[p] = v.into();
                true
            }
            None => false,
        },
        |ok| *ok,
    );
    if ok {
        x.r().ok()
    } else {
        x.err("ERR index out of range")
    }
}

pub fn lrem(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(count) = int_arg(x, a.get(2)) else {
        return;
    };
    let Some(i) = x.typed_or(a.get(1), Kind::List, true, |r| r.int(0)) else {
        return;
    };
    let v = a.get(3);
    let removed = list_mut_if(
        x,
        i,
        |l| {
            let limit = if count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            // One pass that keeps the survivors in order (O(N)): removing matches one by one
            // from the middle of the buffer would shift the rest each time (O(N²)).
            let matches = |e: &[u8]| e == v;
            // From the tail: the first position whose match is among the last `limit`.
            let from = if count < 0 {
                let mut seen = 0;
                let mut at = l.items.len();
                for (p, e) in l.items.iter().enumerate().rev() {
                    if seen == limit {
                        break;
                    }
                    if matches(e) {
                        seen += 1;
                        at = p;
                    }
                }
                at
            } else {
                0
            };
            let mut removed = 0;
            let mut p = 0;
            l.items.retain(|e| {
                let here = p;
                p += 1;
                if here >= from && removed < limit && matches(e) {
                    removed += 1;
                    false
                } else {
                    true
                }
            });
            removed
        },
        |n| *n > 0,
    );
    x.r().int(removed as i64);
}

pub fn ltrim(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(start) = int_arg(x, a.get(2)) else {
        return;
    };
    let Some(end) = int_arg(x, a.get(3)) else {
        return;
    };
    let Some(i) = x.typed_or(a.get(1), Kind::List, true, |r| r.ok()) else {
        return;
    };
    list_mut(x, i, |l| match clamp_range(l.len(), start, end) {
        None => l.items.clear(),
        Some((s, e)) => {
            l.items.truncate(e + 1);
            l.items.drain(..s);
        }
    });
    x.r().ok();
}

pub fn linsert(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let after = match a.get(2).to_ascii_lowercase().as_slice() {
        b"before" => false,
        b"after" => true,
        _ => return x.err(SYNTAX),
    };
    let Some(i) = x.typed_or(a.get(1), Kind::List, true, |r| r.int(0)) else {
        return;
    };
    let (pivot, v) = (a.get(3), a.get(4));
    let n = list_mut_if(
        x,
        i,
        |l| match l.items.iter().position(|e| &**e == pivot) {
            Some(p) => {
                l.items.insert(p + usize::from(after), v.into());
                l.len() as i64
            }
            None => -1,
        },
        |n| *n > 0,
    );
    x.r().int(n);
}

pub fn lpos(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        if j + 1 >= a.len() {
            return x.err(SYNTAX);
        }
        // Redis names the option in the error for COUNT and MAXLEN, even for a non-integer.
        let n = match (opt.as_slice(), parse_i64(a.get(j + 1))) {
            (b"rank" | b"count" | b"maxlen", Some(n)) => n,
            (b"rank", None) => return x.err(NOT_INT),
            (b"count", None) => return x.err("ERR COUNT can't be negative"),
            (b"maxlen", None) => return x.err("ERR MAXLEN can't be negative"),
            _ => return x.err(SYNTAX),
        };
        match opt.as_slice() {
            b"rank" => {
                if n == 0 {
                    return x.err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                }
                rank = n;
            }
            b"count" if n < 0 => return x.err("ERR COUNT can't be negative"),
            b"count" => count = Some(n),
            b"maxlen" if n < 0 => return x.err("ERR MAXLEN can't be negative"),
            b"maxlen" => maxlen = n,
            _ => return x.err(SYNTAX),
        }
        j += 2;
    }
    let i = match x.typed(a.get(1), Kind::List, false) {
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
    let want = a.get(2);
    let l = list_ref(x, i);
    let n = l.len();
    let limit = if maxlen == 0 {
        n
    } else {
        (maxlen as usize).min(n)
    };
    let wanted = match count {
        Some(0) => usize::MAX,
        Some(c) => c as usize,
        None => 1,
    };
    let mut skip = rank.unsigned_abs() - 1;
    let mut found = Vec::new();
    for k in 0..limit {
        let p = if rank > 0 { k } else { n - 1 - k };
        if &*l.items[p] == want {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(p as i64);
            if found.len() >= wanted {
                break;
            }
        }
    }
    let mut r = x.r();
    if count.is_some() {
        r.array(found.len());
        for p in found {
            r.int(p);
        }
    } else {
        match found.first() {
            Some(&p) => r.int(p),
            None => r.null(),
        }
    }
}

fn side(arg: &[u8]) -> Option<bool> {
    match arg.to_ascii_lowercase().as_slice() {
        b"left" => Some(true),
        b"right" => Some(false),
        _ => None,
    }
}

/// LMOVE's work: pop from `src` at `from`, push to `dst` at `to`. Ok(None) when `src` is
/// absent; Err after a WRONGTYPE reply.
pub fn move_one(
    x: &mut Exec<'_, '_>,
    src: &[u8],
    dst: &[u8],
    from: bool,
    to: bool,
) -> Result<Option<Box<[u8]>>, crate::commands::typed::Wrong> {
    let Some(i) = x.typed(src, Kind::List, true)? else {
        return Ok(None);
    };
    x.typed(dst, Kind::List, true)?;
    let v = pop_n(x, i, from, 1).pop().expect("lists are never empty");
    let mut one = std::iter::once(&*v);
    push_values(x, dst, &mut one, to, false);
    Ok(Some(v))
}

fn lmove_generic(x: &mut Exec<'_, '_>, src: &[u8], dst: &[u8], from: bool, to: bool) {
    match move_one(x, src, dst, from, to) {
        Err(_) => {}
        Ok(None) => x.r().null(),
        Ok(Some(v)) => x.r().bulk(&v),
    }
}

pub fn lmove(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (Some(from), Some(to)) = (side(a.get(3)), side(a.get(4))) else {
        return x.err(SYNTAX);
    };
    lmove_generic(x, a.get(1), a.get(2), from, to);
}

pub fn rpoplpush(x: &mut Exec<'_, '_>, a: Args<'_>) {
    lmove_generic(x, a.get(1), a.get(2), false, true);
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` (LMPOP, BLMPOP from `first`).
pub struct MpopArgs {
    pub keys: std::ops::Range<usize>,
    pub left: bool,
    pub count: usize,
}

pub fn parse_mpop(
    x: &mut Exec<'_, '_>,
    a: &Args<'_>,
    first: usize,
    sides: &[(&[u8], bool)],
) -> Option<MpopArgs> {
    let Some(n) = parse_i64(a.get(first)) else {
        x.err("ERR numkeys should be greater than 0");
        return None;
    };
    if n <= 0 || n > i64::from(i32::MAX) {
        x.err("ERR numkeys should be greater than 0");
        return None;
    }
    let n = n as usize;
    let keys = first + 1..first + 1 + n;
    if keys.end >= a.len() {
        x.err(SYNTAX);
        return None;
    }
    let Some(&(_, left)) = sides
        .iter()
        .find(|(s, _)| a.get(keys.end).eq_ignore_ascii_case(s))
    else {
        x.err(SYNTAX);
        return None;
    };
    let mut count = 1;
    let mut j = keys.end + 1;
    let mut seen = false;
    while j < a.len() {
        if a.get(j).eq_ignore_ascii_case(b"count") && j + 1 < a.len() && !seen {
            match parse_i64(a.get(j + 1)) {
                Some(c) if c > 0 => count = c as usize,
                _ => {
                    x.err("ERR count should be greater than 0");
                    return None;
                }
            }
            seen = true;
            j += 2;
        } else {
            x.err(SYNTAX);
            return None;
        }
    }
    Some(MpopArgs { keys, left, count })
}

pub const LIST_SIDES: &[(&[u8], bool)] = &[(b"left", true), (b"right", false)];

/// Pop from the first non-empty list of `keys`: replies `[key, [elems]]`; false if every
/// list was empty (nothing replied) — or a WRONGTYPE was replied (then true).
pub fn mpop_from(x: &mut Exec<'_, '_>, a: &Args<'_>, m: &MpopArgs) -> bool {
    for k in m.keys.clone() {
        let key = a.get(k);
        match x.typed(key, Kind::List, true) {
            Err(_) => return true,
            Ok(None) => continue,
            Ok(Some(i)) => {
                let v = pop_n(x, i, m.left, m.count);
                // As Redis propagates LMPOP and BLMPOP: the pop from the key it took.
                let pop: &[u8] = if m.left { b"LPOP" } else { b"RPOP" };
                let n = itoa::Buffer::new().format(v.len()).as_bytes().to_vec();
                x.log_as(vec![pop.to_vec(), key.to_vec(), n]);
                let mut r = x.r();
                r.array(2);
                r.bulk(key);
                r.array(v.len());
                for e in &v {
                    r.bulk(e);
                }
                return true;
            }
        }
    }
    false
}

pub fn lmpop(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(m) = parse_mpop(x, &a, 1, LIST_SIDES) else {
        return;
    };
    if !mpop_from(x, &a, &m) {
        x.r().null_array();
    }
}
