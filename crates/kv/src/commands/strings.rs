//! String commands (Redis 7.0 `t_string.c` behaviour, written from its documented semantics
//! and checked against redis-server by the differential test).
//!
//! May use: the keyspace, `kvtypes`, the protocol's reply encoder, `typed.rs`; may not touch:
//! the log (a non-replayable effect is handed over as an effect record) or other clients'
//! connections.

use crate::keyspace::{Idx, NewValue, Value};
use crate::protocol::{parse_i64, Args, Reply};
use crate::service::Exec;
use kvtypes::num;

pub const NOT_INT: &str = "ERR value is not an integer or out of range";
pub const SYNTAX: &str = "ERR syntax error";

/// Reply with the value of slot `i` as a bulk string.
#[inline]
pub fn bulk_value(x: &mut Exec<'_, '_>, i: Idx) {
    let mut r = Reply {
        buf: x.ctx.out(),
        resp3: x.client.resp3,
    };
    match x.core.dbs[x.client.db].value(i) {
        Value::Str(s) => r.bulk(s),
        Value::Int(n) => r.bulk_int(n),
    }
}

/// The value of slot `i` as owned bytes.
pub fn value_bytes(x: &Exec<'_, '_>, i: Idx) -> Vec<u8> {
    match x.core.dbs[x.client.db].value(i) {
        Value::Str(s) => s.to_vec(),
        Value::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
    }
}

fn value_len(x: &Exec<'_, '_>, i: Idx) -> usize {
    match x.core.dbs[x.client.db].value(i) {
        Value::Str(s) => s.len(),
        Value::Int(n) => itoa::Buffer::new().format(n).len(),
    }
}

pub fn get(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.read(a.get(1)) {
        Some(i) => bulk_value(x, i),
        None => x.r().null(),
    }
}

/// Store `v` at `key` (overwriting, dropping the deadline unless `keep_ttl`).
pub fn store(x: &mut Exec<'_, '_>, key: &[u8], v: NewValue<'_>, keep_ttl: bool) -> Idx {
    let db = x.client.db;
    let now = x.core.now_ms;
    match x.core.dbs[db].lookup(key, now) {
        Some(i) => {
            x.core.dbs[db].replace_value(i, v);
            if !keep_ttl {
                x.core.dbs[db].persist(i);
            }
            x.core.touch(db, i);
            i
        }
        None => {
            let i = x.core.dbs[db].insert_new(key, v);
            x.core.init_access(db, i);
            i
        }
    }
}

/// Expiry options shared by SET and GETEX.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Ttl {
    #[default]
    None,
    /// Absolute Unix milliseconds.
    At(i64),
    Keep,
    Persist,
}

/// An EX/PX/EXAT/PXAT argument as an absolute Unix ms deadline, or Redis's error.
fn expire_arg(
    x: &Exec<'_, '_>,
    arg: &[u8],
    secs: bool,
    relative: bool,
    cmd: &str,
) -> Result<i64, String> {
    let bad = || format!("ERR invalid expire time in '{cmd}' command");
    let v = parse_i64(arg).ok_or_else(|| NOT_INT.to_string())?;
    if v <= 0 || (secs && v > i64::MAX / 1000) {
        return Err(bad());
    }
    let mut ms = if secs { v * 1000 } else { v };
    if relative {
        ms = ms.checked_add(x.core.now_ms as i64).ok_or_else(bad)?;
    }
    Ok(ms)
}

pub fn set(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut ttl = Ttl::None;
    let mut expire: Option<(Vec<u8>, &[u8])> = None;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j).to_ascii_uppercase();
        let next = (j + 1 < a.len()).then(|| a.get(j + 1));
        // Like Redis, repeating the same expiry option is allowed (the last one wins).
        let free = |o: &[u8]| ttl == Ttl::None && expire.as_ref().is_none_or(|(p, _)| p == o);
        match (opt.as_slice(), next) {
            (b"NX", _) if !xx => nx = true,
            (b"XX", _) if !nx => xx = true,
            (b"GET", _) => get = true,
            (b"KEEPTTL", _) if expire.is_none() => ttl = Ttl::Keep,
            (b"EX" | b"PX" | b"EXAT" | b"PXAT", Some(v)) if free(&opt) => {
                expire = Some((opt, v));
                j += 1;
            }
            _ => return x.err(SYNTAX),
        }
        j += 1;
    }
    if let Some((opt, v)) = expire {
        match expire_arg(x, v, opt[0] == b'E', opt.len() == 2, "set") {
            Ok(ms) => ttl = Ttl::At(ms),
            Err(e) => return x.err(&e),
        }
    }
    let key = a.get(1);
    if !(nx || xx || get) {
        // The common case: one hash lookup, not two.
        let i = store(x, key, NewValue::Str(a.get(2)), ttl == Ttl::Keep);
        if let Ttl::At(ms) = ttl {
            x.db().set_deadline(i, ms.max(0) as u64);
        }
        return x.r().ok();
    }
    let found = x.write(key);
    let old = if get {
        found.map(|i| value_bytes(x, i))
    } else {
        None
    };
    if (nx && found.is_some()) || (xx && found.is_none()) {
        return match old {
            Some(v) => x.r().bulk(&v),
            None => x.r().null(),
        };
    }
    let i = store(x, key, NewValue::Str(a.get(2)), ttl == Ttl::Keep);
    if let Ttl::At(ms) = ttl {
        x.db().set_deadline(i, ms.max(0) as u64);
    }
    if get {
        match old {
            Some(v) => x.r().bulk(&v),
            None => x.r().null(),
        }
    } else {
        x.r().ok();
    }
}

pub fn setnx(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if x.write(a.get(1)).is_some() {
        return x.r().int(0);
    }
    store(x, a.get(1), NewValue::Str(a.get(2)), false);
    x.r().int(1);
}

fn setex_generic(x: &mut Exec<'_, '_>, a: Args<'_>, secs: bool, cmd: &str) {
    let ms = match expire_arg(x, a.get(2), secs, true, cmd) {
        Ok(ms) => ms,
        Err(e) => return x.err(&e),
    };
    let i = store(x, a.get(1), NewValue::Str(a.get(3)), false);
    x.db().set_deadline(i, ms as u64);
    x.r().ok();
}

pub fn setex(x: &mut Exec<'_, '_>, a: Args<'_>) {
    setex_generic(x, a, true, "setex");
}

pub fn psetex(x: &mut Exec<'_, '_>, a: Args<'_>) {
    setex_generic(x, a, false, "psetex");
}

pub fn getset(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let old = x.write(a.get(1)).map(|i| value_bytes(x, i));
    store(x, a.get(1), NewValue::Str(a.get(2)), false);
    match old {
        Some(v) => x.r().bulk(&v),
        None => x.r().null(),
    }
}

pub fn getdel(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match x.read(a.get(1)) {
        Some(i) => {
            bulk_value(x, i);
            x.db().remove(i);
        }
        None => x.r().null(),
    }
}

pub fn getex(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut ttl = Ttl::None;
    let mut expire: Option<(Vec<u8>, &[u8])> = None;
    let mut j = 2;
    while j < a.len() {
        let opt = a.get(j).to_ascii_uppercase();
        let next = (j + 1 < a.len()).then(|| a.get(j + 1));
        let free = |o: &[u8]| ttl == Ttl::None && expire.as_ref().is_none_or(|(p, _)| p == o);
        match (opt.as_slice(), next) {
            (b"PERSIST", _) if expire.is_none() => ttl = Ttl::Persist,
            (b"EX" | b"PX" | b"EXAT" | b"PXAT", Some(v)) if free(&opt) => {
                expire = Some((opt, v));
                j += 1;
            }
            _ => return x.err(SYNTAX),
        }
        j += 1;
    }
    // Redis looks the key up before it reads the expiry: a missing key is nil whatever the
    // expiry argument says.
    let Some(i) = x.read(a.get(1)) else {
        return x.r().null();
    };
    if let Some((opt, v)) = expire {
        match expire_arg(x, v, opt[0] == b'E', opt.len() == 2, "getex") {
            Ok(ms) => ttl = Ttl::At(ms),
            Err(e) => return x.err(&e),
        }
    }
    bulk_value(x, i);
    match ttl {
        Ttl::At(ms) if ms <= x.core.now_ms as i64 => x.db().remove(i),
        Ttl::At(ms) => x.db().set_deadline(i, ms as u64),
        Ttl::Persist => {
            x.db().persist(i);
        }
        _ => {}
    }
}

pub fn mget(x: &mut Exec<'_, '_>, a: Args<'_>) {
    x.r().array(a.len() - 1);
    for k in 1..a.len() {
        match x.read(a.get(k)) {
            // A collection reads as nil here, as in Redis.
            Some(i) if x.db().obj(i).is_none() => bulk_value(x, i),
            _ => x.r().null(),
        }
    }
}

pub fn mset(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len().is_multiple_of(2) {
        return x.err("ERR wrong number of arguments for 'mset' command");
    }
    for k in (1..a.len()).step_by(2) {
        store(x, a.get(k), NewValue::Str(a.get(k + 1)), false);
    }
    x.r().ok();
}

pub fn msetnx(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len().is_multiple_of(2) {
        return x.err("ERR wrong number of arguments for 'msetnx' command");
    }
    for k in (1..a.len()).step_by(2) {
        if x.write(a.get(k)).is_some() {
            return x.r().int(0);
        }
    }
    for k in (1..a.len()).step_by(2) {
        store(x, a.get(k), NewValue::Str(a.get(k + 1)), false);
    }
    x.r().int(1);
}

fn check_size(x: &mut Exec<'_, '_>, len: u64) -> bool {
    if len > x.core.cfg.proto_max_bulk_len {
        x.err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
        return false;
    }
    true
}

pub fn append(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let add = a.get(2);
    match x.write(a.get(1)) {
        None => {
            store(x, a.get(1), NewValue::Str(add), false);
            x.r().int(add.len() as i64);
        }
        Some(i) => {
            let len = value_len(x, i);
            if !check_size(x, (len + add.len()) as u64) {
                return;
            }
            // In place, with room to grow: amortised O(1), not a copy of the value per call.
            let n = x
                .db()
                .edit_str(i, add.len(), |b, _| b.extend_from_slice(add));
            x.r().int(n as i64);
        }
    }
}

pub fn strlen(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let n = x.read(a.get(1)).map_or(0, |i| value_len(x, i));
    x.r().int(n as i64);
}

pub fn getrange(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (Some(mut start), Some(mut end)) = (parse_i64(a.get(2)), parse_i64(a.get(3))) else {
        return x.err(NOT_INT);
    };
    let Some(i) = x.read(a.get(1)) else {
        return x.r().bulk(b"");
    };
    let len = value_len(x, i) as i64;
    if start < 0 && end < 0 && start > end {
        return x.r().bulk(b"");
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return x.r().bulk(b"");
    }
    // Only the range is copied out: O(range), whatever the value's size.
    let part = match x.core.dbs[x.client.db].value(i) {
        Value::Str(v) => v[start as usize..=end as usize].to_vec(),
        Value::Int(n) => {
            itoa::Buffer::new().format(n).as_bytes()[start as usize..=end as usize].to_vec()
        }
    };
    x.r().bulk(&part);
}

pub fn setrange(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(offset) = parse_i64(a.get(2)) else {
        return x.err(NOT_INT);
    };
    if offset < 0 {
        return x.err("ERR offset is out of range");
    }
    let patch = a.get(3);
    let key = a.get(1);
    let found = x.write(key);
    let len = found.map_or(0, |i| value_len(x, i));
    if patch.is_empty() {
        return x.r().int(len as i64);
    }
    let end = offset as u64 + patch.len() as u64;
    if !check_size(x, end) {
        return;
    }
    let (offset, end) = (offset as usize, end as usize);
    let i = match found {
        Some(i) => i,
        None => store(x, key, NewValue::Text(b""), true),
    };
    // In place: O(patch + zero fill), not a copy of the whole value.
    let n = x.db().edit_str(i, end.saturating_sub(len), |b, klen| {
        let (o, e) = (klen + offset, klen + end);
        if b.len() < e {
            b.resize(e, 0);
        }
        b[o..e].copy_from_slice(patch);
    });
    x.r().int(n as i64);
}

fn incr_generic(x: &mut Exec<'_, '_>, key: &[u8], by: i64) {
    let found = x.write(key);
    let cur = match found {
        None => 0,
        Some(i) => match x.core.dbs[x.client.db].value(i) {
            Value::Int(n) => n,
            Value::Str(s) => match parse_i64(s) {
                Some(n) => n,
                None => return x.err(NOT_INT),
            },
        },
    };
    let Some(new) = cur.checked_add(by) else {
        return x.err("ERR increment or decrement would overflow");
    };
    match found {
        Some(i) => x.db().replace_value(i, NewValue::Int(new)),
        None => {
            store(x, key, NewValue::Int(new), false);
        }
    }
    x.r().int(new);
}

pub fn incr(x: &mut Exec<'_, '_>, a: Args<'_>) {
    incr_generic(x, a.get(1), 1);
}

pub fn decr(x: &mut Exec<'_, '_>, a: Args<'_>) {
    incr_generic(x, a.get(1), -1);
}

pub fn incrby(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match parse_i64(a.get(2)) {
        Some(n) => incr_generic(x, a.get(1), n),
        None => x.err(NOT_INT),
    }
}

pub fn decrby(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match parse_i64(a.get(2)) {
        Some(i64::MIN) => x.err("ERR decrement would overflow"),
        Some(n) => incr_generic(x, a.get(1), -n),
        None => x.err(NOT_INT),
    }
}

pub fn incrbyfloat(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let key = a.get(1);
    let cur = x.write(key).map(|i| value_bytes(x, i));
    if num::parse_f64(a.get(2)).is_none() {
        return x.err("ERR value is not a valid float");
    }
    match num::incr_by_float(cur.as_deref().unwrap_or(b"0"), a.get(2)) {
        Ok(s) => {
            store(x, key, NewValue::Text(s.as_bytes()), true);
            x.r().bulk(s.as_bytes());
        }
        Err(e) => x.err(e),
    }
}

pub fn lcs(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (mut want_len, mut want_idx, mut with_len) = (false, false, false);
    let mut min_len: i64 = 0;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j).to_ascii_uppercase();
        match opt.as_slice() {
            b"IDX" => want_idx = true,
            b"LEN" => want_len = true,
            b"WITHMATCHLEN" => with_len = true,
            b"MINMATCHLEN" if j + 1 < a.len() => {
                match parse_i64(a.get(j + 1)) {
                    Some(n) => min_len = n.max(0),
                    None => return x.err(NOT_INT),
                }
                j += 1;
            }
            _ => return x.err(SYNTAX),
        }
        j += 1;
    }
    let sa = x
        .read(a.get(1))
        .map(|i| value_bytes(x, i))
        .unwrap_or_default();
    let sb = x
        .read(a.get(2))
        .map(|i| value_bytes(x, i))
        .unwrap_or_default();
    if want_idx && want_len {
        return x.err("ERR If you want both the length and indexes, please just use IDX.");
    }
    let (al, bl) = (sa.len(), sb.len());
    let cells = (al as u64 + 1) * (bl as u64 + 1);
    if cells.saturating_mul(4) > x.core.cfg.proto_max_bulk_len {
        return x
            .err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let w = bl + 1;
    let mut t = vec![0u32; (al + 1) * w];
    for i in 1..=al {
        for k in 1..=bl {
            t[i * w + k] = if sa[i - 1] == sb[k - 1] {
                t[(i - 1) * w + k - 1] + 1
            } else {
                t[(i - 1) * w + k].max(t[i * w + k - 1])
            };
        }
    }
    let total = t[al * w + bl] as usize;
    if want_len {
        return x.r().int(total as i64);
    }
    let mut result = vec![0u8; total];
    let mut ranges: Vec<[i64; 5]> = Vec::new();
    let (mut i, mut k, mut idx) = (al, bl, total);
    // No range open is marked by `astart == al`, as in Redis.
    let (mut astart, mut aend, mut bstart, mut bend) = (al, 0usize, 0usize, 0usize);
    while i > 0 && k > 0 {
        let mut emit = false;
        if sa[i - 1] == sb[k - 1] {
            result[idx - 1] = sa[i - 1];
            if astart == al {
                (astart, aend, bstart, bend) = (i - 1, i - 1, k - 1, k - 1);
            } else if astart == i && bstart == k {
                astart -= 1;
                bstart -= 1;
            } else {
                emit = true;
            }
            if astart == 0 || bstart == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            k -= 1;
        } else {
            if t[(i - 1) * w + k] > t[i * w + k - 1] {
                i -= 1;
            } else {
                k -= 1;
            }
            if astart != al {
                emit = true;
            }
        }
        if emit {
            let mlen = (aend - astart + 1) as i64;
            if min_len == 0 || mlen >= min_len {
                ranges.push([astart as i64, aend as i64, bstart as i64, bend as i64, mlen]);
            }
            astart = al;
        }
    }
    if !want_idx {
        return x.r().bulk(&result);
    }
    let mut r = x.r();
    r.map(2);
    r.bulk(b"matches");
    r.array(ranges.len());
    for m in &ranges {
        r.array(2 + usize::from(with_len));
        r.array(2);
        r.int(m[0]);
        r.int(m[1]);
        r.array(2);
        r.int(m[2]);
        r.int(m[3]);
        if with_len {
            r.int(m[4]);
        }
    }
    r.bulk(b"len");
    r.int(total as i64);
}
