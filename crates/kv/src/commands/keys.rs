//! Keyspace commands: deletion, renames, copies, iteration, expiry, introspection.
//!
//! May use: the keyspace, `kvtypes`, the protocol's reply encoder, `typed.rs`; may not touch:
//! the log (a non-replayable effect is handed over as an effect record) or other clients'
//! connections.

use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::commands::table::check_sub;
use crate::keyspace::{Db, Idx, NewValue, Value};
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::glob;

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

/// DEL and UNLINK (UNLINK, or DEL with `lazyfree-lazy-user-del yes`, frees a big value on
/// the lazy-free worker).
pub fn del(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let lazy = a.get(0).eq_ignore_ascii_case(b"unlink")
        || crate::keyspace::lazyfree::user_del(&x.core.extra);
    let mut n = 0;
    for k in a.iter().skip(1) {
        if let Some(i) = x.peek(k) {
            if lazy {
                crate::keyspace::lazyfree::unlink(x.db(), i);
            } else {
                x.db().remove(i);
            }
            n += 1;
        }
    }
    x.r().int(n);
}

pub fn exists(x: &mut Exec<'_, '_>, a: Args<'_>) {
    // Redis looks keys up for EXISTS with LOOKUP_NOTOUCH: hits and misses count, the access
    // time (OBJECT IDLETIME, LRU eviction) stays.
    let n = a
        .iter()
        .skip(1)
        .filter(|k| {
            let found = x.peek(k).is_some();
            let c = &mut x.core.counters;
            if found {
                c.keyspace_hits += 1;
            } else {
                c.keyspace_misses += 1;
            }
            found
        })
        .count();
    x.r().int(n as i64);
}

pub fn touch(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let n = a.iter().skip(1).filter(|k| x.write(k).is_some()).count();
    x.r().int(n as i64);
}

pub fn type_(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let t = match x.peek(a.get(1)) {
        Some(i) => x.db().type_name(i),
        None => "none",
    };
    x.r().simple(t);
}

/// A key's value, deadline and access data, to re-insert elsewhere.
struct Taken {
    value: Vec<u8>,
    int: Option<i64>,
    raw: bool,
    deadline: Option<u64>,
    obj: Option<kvtypes::Object>,
}

fn take(db: &Db, i: Idx) -> Taken {
    let (value, int) = match db.value(i) {
        Value::Str(s) => (s.to_vec(), None),
        Value::Int(n) => (Vec::new(), Some(n)),
    };
    Taken {
        value,
        int,
        raw: db.encoding(i) == "raw",
        deadline: db.deadline(i),
        obj: db.obj(i).cloned(),
    }
}

/// Remove the key in slot `i` and hand back its value: a collection is moved out, not
/// copied (RENAME and MOVE are O(1) in Redis whatever the value's size).
fn take_out(db: &mut Db, i: Idx) -> (Taken, (u32, (u16, u8))) {
    let (value, int) = match (db.obj(i), db.value(i)) {
        (Some(_), _) => (Vec::new(), None),
        (None, Value::Str(s)) => (s.to_vec(), None),
        (None, Value::Int(n)) => (Vec::new(), Some(n)),
    };
    let access = (db.lru(i), db.lfu(i));
    let raw = db.encoding(i) == "raw";
    let deadline = db.deadline(i);
    let obj = db.unlink(i);
    let t = Taken {
        value,
        int,
        raw,
        deadline,
        obj,
    };
    (t, access)
}

fn put(db: &mut Db, key: &[u8], t: Taken, access: (u32, (u16, u8))) {
    let v = match t.int {
        Some(n) => NewValue::Int(n),
        None => NewValue::Text(&t.value),
    };
    if let Some(old) = db.find(key) {
        db.remove(old);
    }
    let i = match t.obj {
        Some(o) => db.insert_obj(key, o),
        None => db.insert_new(key, v),
    };
    if t.raw {
        db.mark_raw(i);
    }
    if let Some(d) = t.deadline {
        db.set_deadline(i, d);
    }
    db.touch(i, access.0, Some(access.1));
}

fn rename_generic(x: &mut Exec<'_, '_>, a: Args<'_>, nx: bool) {
    let (src, dst) = (a.get(1), a.get(2));
    let Some(i) = x.write(src) else {
        return x.err("ERR no such key");
    };
    if src == dst {
        return if nx { x.r().int(0) } else { x.r().ok() };
    }
    if x.write(dst).is_some() && nx {
        return x.r().int(0);
    }
    let db = x.db();
    let (t, access) = take_out(db, i);
    put(db, dst, t, access);
    if nx {
        x.r().int(1)
    } else {
        x.r().ok()
    }
}

pub fn rename(x: &mut Exec<'_, '_>, a: Args<'_>) {
    rename_generic(x, a, false);
}

pub fn renamenx(x: &mut Exec<'_, '_>, a: Args<'_>) {
    rename_generic(x, a, true);
}

/// A database number argument: not an integer, or out of range, as Redis words it.
fn db_arg(x: &mut Exec<'_, '_>, arg: &[u8]) -> Option<usize> {
    crate::commands::server::db_index(x, arg, None)
}

pub fn copy(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut target = x.client.db;
    let mut replace = false;
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        if opt == b"replace" {
            replace = true;
        } else if opt == b"db" && j + 1 < a.len() {
            match db_arg(x, a.get(j + 1)) {
                Some(d) => target = d,
                None => return,
            }
            j += 1;
        } else {
            return x.err(SYNTAX);
        }
        j += 1;
    }
    let (src, dst) = (a.get(1), a.get(2));
    if target == x.client.db && src == dst {
        return x.err(SAME_OBJECT);
    }
    let Some(i) = x.read(src) else {
        return x.r().int(0);
    };
    let t = take(x.db(), i);
    let now = x.core.now_ms;
    if x.core.dbs[target].lookup(dst, now).is_some() && !replace {
        return x.r().int(0);
    }
    let access = (x.core.clock, (x.core.minutes(), 5));
    put(&mut x.core.dbs[target], dst, t, access);
    x.r().int(1);
}

pub fn move_(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(target) = db_arg(x, a.get(2)) else {
        return;
    };
    if target == x.client.db {
        return x.err(SAME_OBJECT);
    }
    let key = a.get(1);
    let Some(i) = x.write(key) else {
        return x.r().int(0);
    };
    let now = x.core.now_ms;
    if x.core.dbs[target].lookup(key, now).is_some() {
        return x.r().int(0);
    }
    let (t, access) = take_out(x.db(), i);
    put(&mut x.core.dbs[target], key, t, access);
    x.r().int(1);
}

pub fn keys(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let pat = a.get(1);
    let now = x.core.now_ms;
    let db = &x.core.dbs[x.client.db];
    let all = pat == b"*";
    let mut found: Vec<Idx> = Vec::new();
    let mut cursor = 0;
    loop {
        cursor = db.scan(cursor, usize::MAX, |i| {
            if !db.is_expired(i, now) && (all || glob::matches(pat, db.key(i))) {
                found.push(i);
            }
        });
        if cursor == 0 {
            break;
        }
    }
    let resp3 = x.client.resp3;
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3,
    };
    r.array(found.len());
    for i in found {
        r.bulk(db.key(i));
    }
}

pub fn scan(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(cursor) = parse_cursor(a.get(1)) else {
        return x.err("ERR invalid cursor");
    };
    let mut count = 10usize;
    let mut pat: Option<&[u8]> = None;
    let mut typ: Option<Vec<u8>> = None;
    let mut j = 2;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        if j + 1 >= a.len() {
            return x.err(SYNTAX);
        }
        match opt.as_slice() {
            b"count" => match parse_i64(a.get(j + 1)) {
                None => return x.err(NOT_INT),
                Some(n) if n < 1 => return x.err(SYNTAX),
                Some(n) => count = n as usize,
            },
            b"match" => pat = Some(a.get(j + 1)),
            b"type" => typ = Some(a.get(j + 1).to_ascii_lowercase()),
            _ => return x.err(SYNTAX),
        }
        j += 2;
    }
    let now = x.core.now_ms;
    let db = &x.core.dbs[x.client.db];
    let mut found: Vec<Idx> = Vec::new();
    let next = db.scan(cursor, count, |i| {
        if db.is_expired(i, now) {
            return;
        }
        if pat.is_some_and(|p| p != b"*" && !glob::matches(p, db.key(i))) {
            return;
        }
        if typ
            .as_ref()
            .is_some_and(|t| t.as_slice() != db.type_name(i).as_bytes())
        {
            return;
        }
        found.push(i);
    });
    let mut r = crate::protocol::Reply {
        buf: x.ctx.out(),
        resp3: x.client.resp3,
    };
    r.array(2);
    r.bulk(itoa::Buffer::new().format(next).as_bytes());
    r.array(found.len());
    for i in found {
        r.bulk(db.key(i));
    }
}

/// C's `strtoul` as Redis applies it to a cursor: optional sign (a `-` wraps), decimal digits,
/// nothing else, no overflow.
fn parse_cursor(s: &[u8]) -> Option<u64> {
    let (neg, digits) = match s {
        [b'-', r @ ..] => (true, r),
        [b'+', r @ ..] => (false, r),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = std::str::from_utf8(digits).ok()?.parse::<u64>().ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

pub fn randomkey(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    for _ in 0..100 {
        let seed = x.core.random();
        let mut s = seed;
        let pick = x.db().random(|| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            s >> 11
        });
        let Some(i) = pick else {
            return x.r().null();
        };
        let now = x.core.now_ms;
        if x.db().is_expired(i, now) {
            x.db().expire(i);
            continue;
        }
        let key = x.db().key(i).to_vec();
        return x.r().bulk(&key);
    }
    x.r().null();
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Secs,
    Millis,
}

fn expire_generic(x: &mut Exec<'_, '_>, a: Args<'_>, unit: Unit, absolute: bool, cmd: &str) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in a.iter().skip(3) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => {
                return x.err(&format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(opt)
                ))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return x.err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if gt && lt {
        return x.err("ERR GT and LT options at the same time are not compatible");
    }
    let Some(mut when) = parse_i64(a.get(2)) else {
        return x.err(NOT_INT);
    };
    let bad = format!("ERR invalid expire time in '{cmd}' command");
    if unit == Unit::Secs {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return x.err(&bad);
        }
        when *= 1000;
    }
    let base = if absolute { 0 } else { x.core.now_ms as i64 };
    if when > i64::MAX - base {
        return x.err(&bad);
    }
    when += base;
    let Some(i) = x.write(a.get(1)) else {
        return x.r().int(0);
    };
    let cur = x.db().deadline(i).map(|d| d as i64);
    let refuse = (nx && cur.is_some())
        || (xx && cur.is_none())
        || (gt && cur.is_none_or(|c| when <= c))
        || (lt && cur.is_some_and(|c| when >= c));
    if refuse {
        return x.r().int(0);
    }
    if when <= x.core.now_ms as i64 {
        x.db().remove(i);
    } else {
        x.db().set_deadline(i, when as u64);
    }
    x.r().int(1);
}

pub fn expire(x: &mut Exec<'_, '_>, a: Args<'_>) {
    expire_generic(x, a, Unit::Secs, false, "expire");
}

pub fn pexpire(x: &mut Exec<'_, '_>, a: Args<'_>) {
    expire_generic(x, a, Unit::Millis, false, "pexpire");
}

pub fn expireat(x: &mut Exec<'_, '_>, a: Args<'_>) {
    expire_generic(x, a, Unit::Secs, true, "expireat");
}

pub fn pexpireat(x: &mut Exec<'_, '_>, a: Args<'_>) {
    expire_generic(x, a, Unit::Millis, true, "pexpireat");
}

fn ttl_generic(x: &mut Exec<'_, '_>, a: Args<'_>, ms: bool, absolute: bool) {
    let Some(i) = x.peek(a.get(1)) else {
        return x.r().int(-2);
    };
    let Some(d) = x.db().deadline(i) else {
        return x.r().int(-1);
    };
    let t = if absolute {
        d as i64
    } else {
        (d as i64 - x.core.now_ms as i64).max(0)
    };
    x.r().int(if ms { t } else { (t + 500) / 1000 });
}

pub fn ttl(x: &mut Exec<'_, '_>, a: Args<'_>) {
    ttl_generic(x, a, false, false);
}

pub fn pttl(x: &mut Exec<'_, '_>, a: Args<'_>) {
    ttl_generic(x, a, true, false);
}

pub fn expiretime(x: &mut Exec<'_, '_>, a: Args<'_>) {
    ttl_generic(x, a, false, true);
}

pub fn pexpiretime(x: &mut Exec<'_, '_>, a: Args<'_>) {
    ttl_generic(x, a, true, true);
}

pub fn persist(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let n = match x.write(a.get(1)) {
        Some(i) => i64::from(x.db().persist(i)),
        None => 0,
    };
    x.r().int(n);
}

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Print this help.",
];

pub fn help(x: &mut Exec<'_, '_>, lines: &[&str]) {
    let mut r = x.r();
    r.array(lines.len());
    for l in lines {
        r.simple(l);
    }
}

pub fn object(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = check_sub(x, &a, "object") else {
        return;
    };
    if sub == "help" {
        return help(x, OBJECT_HELP);
    }
    let Some(i) = x.peek(a.get(2)) else {
        return x.r().null();
    };
    let lfu = x.core.cfg.maxmemory_policy.is_lfu();
    match sub {
        "encoding" => {
            let e = x.db().encoding(i);
            x.r().bulk(e.as_bytes());
        }
        "refcount" => {
            let shared = matches!(x.db().value(i), Value::Int(n) if (0..10000).contains(&n));
            x.r().int(if shared { i64::from(i32::MAX) } else { 1 });
        }
        "freq" if !lfu => x.err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        "freq" => {
            let (ldt, c) = x.db().lfu(i);
            let f = x.core.lfu_decayed(ldt, c);
            x.r().int(i64::from(f));
        }
        "idletime" if lfu => x.err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        _ => {
            let idle = x.core.clock.wrapping_sub(x.db().lru(i));
            x.r().int(i64::from(idle));
        }
    }
}
