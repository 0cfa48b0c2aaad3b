//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST (Redis 7.0
//! `hyperloglog.c` behaviour). Values are plain strings in Redis's exact `HYLL` format
//! (`kvtypes::hll`), so they move byte for byte between Redis and this server; this file
//! owns the checks, the cached cardinality's upkeep and the replies.
//!
//! Writes are logged as the commands themselves (deterministic given the data); a PFCOUNT
//! that refreshes the cached cardinality is a write too, as in Redis.

use crate::commands::bitmaps::with_str;
use crate::commands::typed::{Wrong, WRONGTYPE};
use crate::keyspace::{Idx, NewValue, Value};
use crate::protocol::Args;
use crate::service::Exec;
use kvtypes::hll;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// `hll-sparse-max-bytes` as configured.
fn sparse_max(x: &Exec<'_, '_>) -> usize {
    x.core
        .extra
        .iter()
        .find(|e| e.name == "hll-sparse-max-bytes")
        .and_then(|e| crate::config::parse_memory(&e.value))
        .unwrap_or(3000) as usize
}

/// A key holding a valid HLL: Ok(None) when absent; the error replied otherwise (a
/// collection is WRONGTYPE, a string that is no HLL is Redis's HLL WRONGTYPE text).
fn hll_key(x: &mut Exec<'_, '_>, key: &[u8], write: bool) -> Result<Option<Idx>, Wrong> {
    let found = if write { x.write(key) } else { x.read(key) };
    let Some(i) = found else {
        return Ok(None);
    };
    if x.db().obj(i).is_some() {
        x.err(WRONGTYPE);
        return Err(Wrong);
    }
    // An integer-encoded string is never an HLL (Redis checks the encoding first).
    let ok = matches!(x.db().value(i), Value::Str(s) if hll::is_valid(s));
    if !ok {
        x.err(NOT_HLL);
        return Err(Wrong);
    }
    Ok(Some(i))
}

fn bytes_of(x: &Exec<'_, '_>, i: Idx) -> Vec<u8> {
    with_str(x, i, <[u8]>::to_vec)
}

fn put(x: &mut Exec<'_, '_>, i: Idx, v: &[u8]) {
    let db = x.db();
    db.replace_value(i, NewValue::Text(v));
    db.mark_raw(i);
}

pub fn pfadd(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let key = a.get(1);
    let Ok(found) = hll_key(x, key, true) else {
        return;
    };
    let max = sparse_max(x);
    let (i, mut updated) = match found {
        Some(i) => (i, false),
        None => {
            let i =
                crate::commands::strings::store(x, key, NewValue::Text(&hll::new_sparse()), false);
            x.db().mark_raw(i);
            (i, true)
        }
    };
    let dense = with_str(x, i, |s| !hll::is_sparse(s));
    if dense {
        // Dense values change in place: no copy of the 12 KiB per call.
        let elems: Vec<&[u8]> = a.iter().skip(2).collect();
        let need = elems
            .iter()
            .any(|e| with_str(x, i, |s| hll::would_change(s, e)));
        if need {
            if let Some(s) = x.db().str_mut(i) {
                for e in &elems {
                    hll::add_dense(s, e);
                }
                hll::invalidate(s);
            }
            updated = true;
        }
    } else {
        let mut v = bytes_of(x, i);
        for e in a.iter().skip(2) {
            match hll::add(&mut v, e, max) {
                Ok(true) => updated = true,
                Ok(false) => {}
                Err(_) => return x.err(CORRUPT),
            }
        }
        if updated {
            hll::invalidate(&mut v);
            put(x, i, &v);
        }
    }
    x.r().int(updated as i64);
}

pub fn pfcount(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() > 2 {
        // Several keys: a union in raw registers, never cached.
        let mut max = vec![0u8; hll::REGISTERS];
        for k in 1..a.len() {
            let Ok(found) = hll_key(x, a.get(k), false) else {
                return;
            };
            if let Some(i) = found {
                if with_str(x, i, |s| hll::merge_into(&mut max, s)).is_err() {
                    return x.err(CORRUPT);
                }
            }
        }
        let n = hll::count_raw(&max);
        return x.r().int(n as i64);
    }
    let key = a.get(1);
    let Ok(found) = hll_key(x, key, false) else {
        return;
    };
    let Some(i) = found else {
        return x.r().int(0);
    };
    if let Some(n) = with_str(x, i, hll::cached) {
        return x.r().int(n as i64);
    }
    let Ok(n) = with_str(x, i, hll::count) else {
        return x.err(CORRUPT);
    };
    if let Some(s) = x.db().str_mut(i) {
        hll::set_cache(s, n);
    }
    x.r().int(n as i64);
}

pub fn pfmerge(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    for k in 1..a.len() {
        let Ok(found) = hll_key(x, a.get(k), false) else {
            return;
        };
        if let Some(i) = found {
            let r = with_str(x, i, |s| {
                use_dense |= !hll::is_sparse(s);
                hll::merge_into(&mut max, s)
            });
            if r.is_err() {
                return x.err(CORRUPT);
            }
        }
    }
    let key = a.get(1);
    let mut v = match x.write(key) {
        Some(i) => bytes_of(x, i),
        None => hll::new_sparse(),
    };
    // The destination turns dense when any input was (as Redis), then takes the maxima
    // register by register, sparse edits included, so the bytes are Redis's.
    if use_dense && hll::to_dense(&mut v).is_err() {
        return x.err(CORRUPT);
    }
    let lim = sparse_max(x);
    for (r, &m) in max.iter().enumerate() {
        if m > 0 && hll::set_register(&mut v, r, m, lim).is_err() {
            return x.err(CORRUPT);
        }
    }
    hll::invalidate(&mut v);
    let i = crate::commands::strings::store(x, key, NewValue::Text(&v), true);
    x.db().mark_raw(i);
    x.r().ok();
}

pub fn pfdebug(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let sub = a.get(1).to_ascii_lowercase();
    let key = a.get(2);
    let i = match x.write(key) {
        None => return x.err("ERR The specified key does not exist"),
        Some(i) => i,
    };
    match hll_key(x, key, true) {
        Err(Wrong) => return,
        Ok(None) => return x.err("ERR The specified key does not exist"),
        Ok(Some(_)) => {}
    }
    match sub.as_slice() {
        b"getreg" => {
            let mut v = bytes_of(x, i);
            match hll::to_dense(&mut v) {
                Err(_) => return x.err(CORRUPT),
                Ok(true) => put(x, i, &v),
                Ok(false) => {}
            }
            let regs = hll::dense_registers(&v);
            let mut r = x.r();
            r.array(regs.len());
            for g in regs {
                r.int(g as i64);
            }
        }
        b"decode" => {
            let text = with_str(x, i, |s| {
                if hll::is_sparse(s) {
                    Some(hll::decode(s))
                } else {
                    None
                }
            });
            match text {
                None => x.err("ERR HLL encoding is not sparse"),
                Some(Err(_)) => x.err(CORRUPT),
                Some(Ok(t)) => x.r().bulk(t.as_bytes()),
            }
        }
        b"encoding" => {
            let sparse = with_str(x, i, hll::is_sparse);
            x.r().simple(if sparse { "sparse" } else { "dense" });
        }
        b"todense" => {
            let mut v = bytes_of(x, i);
            match hll::to_dense(&mut v) {
                Err(_) => x.err(CORRUPT),
                Ok(true) => {
                    put(x, i, &v);
                    x.r().int(1);
                }
                Ok(false) => x.r().int(0),
            }
        }
        _ => {
            let name = String::from_utf8_lossy(a.get(1)).into_owned();
            x.err(&format!("ERR Unknown PFDEBUG subcommand '{name}'"));
        }
    }
}

pub fn pfselftest(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    match hll::selftest() {
        Ok(()) => x.r().ok(),
        Err(e) => x.err(&e),
    }
}
