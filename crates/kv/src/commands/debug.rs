//! DEBUG: Redis's introspection and test hooks, behind `enable-debug-command` (Redis 7.0's
//! default: refused). DIGEST / DIGEST-VALUE follow Redis's algorithm exactly (SHA1 mixed
//! and xored per key and element), so digests compare across servers. Subcommands whose
//! machinery this server lacks (RELOAD needs RDB snapshots, SEGFAULT/PANIC would crash on
//! purpose) are refused with a reason. What it may not touch: clients' connections.

use sha1::{Digest, Sha1};

use crate::commands::keys::help;
use crate::keyspace::{Db, Idx, NewValue, Value};
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::Object;

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is \
    set to \"local\", you can run it from a local connection, otherwise you need to set this \
    option in the configuration file, and then restart the server.";

/// Is the client on this machine (loopback, or a Unix socket)?
pub fn is_local(addr: &str) -> bool {
    addr.starts_with("127.") || addr.starts_with("[::1]") || addr.starts_with('/')
}

pub fn debug(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if !x.core.runtime.enable_debug.allows(is_local(&x.client.addr)) {
        return x.err(NOT_ALLOWED);
    }
    let sub = String::from_utf8_lossy(a.get(1)).to_ascii_lowercase();
    match (sub.as_str(), a.len()) {
        ("help", 2) => help(
            x,
            &[
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "ERROR <string>",
                "    Return a Redis protocol error with <string> as message.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>.",
                "PROTOCOL <type>",
                "    Reply with a test value of the specified type.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "STRINGMATCH-LEN",
                "    Run a fuzz tester against the glob matcher.",
                "QUICKLIST-PACKED-THRESHOLD <size>",
                "    Sets the threshold for elements to be inserted as plain vs packed nodes.",
                "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
                "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
                "JMAP",
                "    Log the memory in use by the dataset.",
            ],
        ),
        ("digest", 2) => {
            let d = dataset_digest(&x.core.dbs, x.core.now_ms);
            x.r().simple(&hex(&d));
        }
        ("digest-value", n) if n >= 2 => {
            let db = x.client.db;
            let now = x.core.now_ms;
            let digests: Vec<[u8; 20]> = a
                .iter()
                .skip(2)
                .map(|key| {
                    let mut d = [0u8; 20];
                    if let Some(i) = x.core.dbs[db].lookup(key, now) {
                        value_digest(&x.core.dbs[db], i, &mut d);
                    }
                    d
                })
                .collect();
            let mut r = x.r();
            r.array(digests.len());
            for d in digests {
                r.simple(&hex(&d));
            }
        }
        ("error", 3) => {
            let msg = String::from_utf8_lossy(a.get(2)).into_owned();
            x.err(&msg);
        }
        ("log", 3) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(a.get(2)));
            x.r().ok();
        }
        ("sleep", 3) => {
            let secs: f64 = std::str::from_utf8(a.get(2))
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .unwrap_or(0.0);
            // As Redis: the whole server stops (tests use it to make clients wait).
            std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
            x.r().ok();
        }
        ("set-active-expire", 3) => {
            x.core.runtime.active_expire = parse_i64(a.get(2)).unwrap_or(0) != 0;
            x.r().ok();
        }
        ("quicklist-packed-threshold", 3) => {
            // Lists here keep every element in one structure (no packed/plain node split),
            // so the threshold is checked and kept for what reads it back, as Redis does.
            match crate::config::parse_memory(&String::from_utf8_lossy(a.get(2))) {
                Some(v) if v <= u64::from(u32::MAX) => {
                    x.core.runtime.quicklist_packed_threshold = v;
                    x.r().ok();
                }
                _ => {
                    x.err("ERR argument must be a memory value bigger than 1 and smaller than 4gb")
                }
            }
        }
        ("set-skip-checksum-validation", 3) => {
            x.core.runtime.skip_checksum_validation = parse_i64(a.get(2)).unwrap_or(0) != 0;
            x.r().ok();
        }
        ("object", 3) => object(x, a.get(2)),
        ("populate", 3..=5) => populate(x, &a),
        ("protocol", 3) => protocol(x, a.get(2)),
        ("stringmatch-len", 2) => {
            fuzz_glob(x.core.random());
            x.r().simple("Apparently Redis did not crash: test passed");
        }
        ("jmap", 2) => {
            tracing::warn!(
                "DEBUG JMAP: used_memory={} keys={}",
                x.core.used_memory(),
                x.core.dbs.iter().map(Db::len).sum::<usize>()
            );
            x.r().ok();
        }
        ("reload", _) => {
            x.err("ERR DEBUG RELOAD needs RDB snapshots, which this server does not have")
        }
        ("segfault" | "panic" | "assert" | "oom", _) => {
            x.err("ERR DEBUG crash hooks are refused by this server")
        }
        _ => x.err(&format!(
            "ERR unknown subcommand '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&a.get(1)[..a.get(1).len().min(128)])
        )),
    }
}

fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Redis's xorDigest: digest ^= SHA1(data). Order-independent "addition".
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    let h = Sha1::digest(data);
    for (d, b) in digest.iter_mut().zip(h.iter()) {
        *d ^= b;
    }
}

/// Redis's mixDigest: xor in SHA1(data), then digest = SHA1(digest). Order-dependent.
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    let h = Sha1::digest(&digest[..]);
    digest.copy_from_slice(&h);
}

/// Redis's object type numbers (the digest mixes them in).
const OBJ_STRING: u32 = 0;
const OBJ_LIST: u32 = 1;
const OBJ_SET: u32 = 2;
const OBJ_ZSET: u32 = 3;
const OBJ_HASH: u32 = 4;
const OBJ_STREAM: u32 = 6;

/// Redis's xorObjectDigest for slot `i`: type, value, and the expire marker.
fn value_digest(db: &Db, i: Idx, digest: &mut [u8; 20]) {
    let ty = match db.obj(i) {
        None => OBJ_STRING,
        Some(Object::List(_)) => OBJ_LIST,
        Some(Object::Set(_)) => OBJ_SET,
        Some(Object::ZSet(_)) => OBJ_ZSET,
        Some(Object::Hash(_)) => OBJ_HASH,
        Some(Object::Stream(_)) => OBJ_STREAM,
    };
    mix_digest(digest, &ty.to_be_bytes());
    match db.obj(i) {
        None => {
            let mut num = itoa::Buffer::new();
            let v = match db.value(i) {
                Value::Int(n) => num.format(n).as_bytes(),
                Value::Str(s) => s,
            };
            mix_digest(digest, v);
        }
        Some(Object::List(l)) => {
            for e in l.items.iter() {
                mix_digest(digest, e);
            }
        }
        Some(Object::Set(s)) => {
            for m in s.members() {
                xor_digest(digest, &m);
            }
        }
        Some(Object::ZSet(z)) => {
            for (score, m) in z.iter() {
                let mut e = [0u8; 20];
                mix_digest(&mut e, m);
                mix_digest(&mut e, kvtypes::num::fmt_g17(score).as_bytes());
                xor_digest(digest, &e);
            }
        }
        Some(Object::Hash(h)) => {
            for (f, v) in h.pairs() {
                let mut e = [0u8; 20];
                mix_digest(&mut e, f);
                mix_digest(&mut e, v);
                xor_digest(digest, &e);
            }
        }
        Some(Object::Stream(st)) => {
            // Redis mixes each live entry's ID as "ms.seq", then its fields and values in
            // order; consumer groups are not part of the digest.
            use kvtypes::stream::StreamId;
            st.range(StreamId::MIN, StreamId::MAX, false, |id, pairs| {
                mix_digest(digest, format!("{}.{}", id.ms, id.seq).as_bytes());
                for p in pairs {
                    mix_digest(digest, p);
                }
                std::ops::ControlFlow::Continue(())
            });
        }
    }
    if db.deadline(i).is_some() {
        xor_digest(digest, b"!!expire!!");
    }
}

/// Redis's computeDatasetDigest: per non-empty database its number (big-endian u32) mixed
/// in, then each key's digest (key mixed, then its value) xored in. Empty: 40 zeros.
pub fn dataset_digest(dbs: &[Db], now_ms: u64) -> [u8; 20] {
    let mut fin = [0u8; 20];
    for (j, db) in dbs.iter().enumerate() {
        let mut live = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = db.scan(cursor, 1 << 20, |i| {
                if !db.is_expired(i, now_ms) {
                    live.push(i);
                }
            });
            if cursor == 0 {
                break;
            }
        }
        if live.is_empty() {
            continue;
        }
        mix_digest(&mut fin, &(j as u32).to_be_bytes());
        for i in live {
            let mut d = [0u8; 20];
            mix_digest(&mut d, db.key(i));
            value_digest(db, i, &mut d);
            xor_digest(&mut fin, &d);
        }
    }
    fin
}

fn object(x: &mut Exec<'_, '_>, key: &[u8]) {
    let Some(i) = x.peek(key) else {
        return x.err("ERR no such key");
    };
    let db = &x.core.dbs[x.client.db];
    let enc = db.encoding(i);
    let lru = db.lru(i);
    let idle = x.core.clock.wrapping_sub(lru);
    let size = match db.obj(i) {
        None => match db.value(i) {
            Value::Int(n) => itoa::Buffer::new().format(n).len(),
            Value::Str(s) => s.len(),
        },
        Some(o) => o.len(),
    };
    let text = format!(
        "Value at:0x0 refcount:1 encoding:{enc} serializedlength:{size} lru:{lru} \
         lru_seconds_idle:{idle}"
    );
    x.r().simple(&text);
}

fn populate(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let Some(count) = parse_i64(a.get(2)).filter(|n| *n >= 0) else {
        return x.err("ERR count is out of range");
    };
    let prefix = if a.len() > 3 { a.get(3) } else { b"key" };
    let size = if a.len() > 4 {
        match parse_i64(a.get(4)).filter(|n| *n >= 0) {
            Some(n) => Some(n as usize),
            None => return x.err("ERR size is out of range"),
        }
    } else {
        None
    };
    let now = x.core.now_ms;
    let db = x.client.db;
    for j in 0..count {
        let mut key = prefix.to_vec();
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        if x.core.dbs[db].lookup(&key, now).is_some() {
            continue;
        }
        let mut val = format!("value:{j}").into_bytes();
        if let Some(n) = size {
            val.resize(n, 0);
        }
        let i = x.core.dbs[db].insert_new(&key, NewValue::Text(&val));
        x.core.init_access(db, i);
    }
    x.r().ok();
}

fn protocol(x: &mut Exec<'_, '_>, ty: &[u8]) {
    let mut r = x.r();
    match ty.to_ascii_lowercase().as_slice() {
        b"string" => r.bulk(b"Hello World"),
        b"integer" => r.int(12345),
        // Redis's test value (not PI: the exact digits are what clients check).
        #[allow(clippy::approx_constant)]
        b"double" => r.double(3.141),
        b"bignum" => {
            if r.resp3 {
                r.buf
                    .extend_from_slice(b"(1234567999999999999999999999999999999\r\n");
            } else {
                r.bulk(b"1234567999999999999999999999999999999");
            }
        }
        b"null" => r.null(),
        b"array" => {
            r.array(3);
            for n in 0..3 {
                r.int(n);
            }
        }
        b"set" => {
            r.set(3);
            for n in 0..3 {
                r.int(n);
            }
        }
        b"map" => {
            r.map(3);
            for n in 0..3 {
                r.int(n);
                if r.resp3 {
                    r.buf
                        .extend_from_slice(if n == 1 { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    r.int(i64::from(n == 1));
                }
            }
        }
        b"true" | b"false" => {
            let t = ty.eq_ignore_ascii_case(b"true");
            if r.resp3 {
                r.buf
                    .extend_from_slice(if t { b"#t\r\n" } else { b"#f\r\n" });
            } else {
                r.int(i64::from(t));
            }
        }
        b"verbatim" => r.verbatim(b"This is a verbatim\nstring"),
        b"attrib" => {
            if r.resp3 {
                r.buf.extend_from_slice(b"|1\r\n");
                r.bulk(b"key-popularity");
                r.array(2);
                r.bulk(b"key:123");
                r.int(90);
            }
            r.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !r.resp3 {
                return r.error("ERR RESP2 is not supported by this command");
            }
            r.buf.extend_from_slice(b">2\r\n");
            r.bulk(b"server-cpu-usage");
            r.int(42);
            // Redis follows the push with a normal reply so the caller gets one.
            r.bulk(b"Some real reply following the push reply");
        }
        _ => r.error(
            "ERR Wrong protocol type name. Please use one of the following: \
             string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}

/// DEBUG STRINGMATCH-LEN: random patterns against random strings; the matcher must
/// neither panic nor take long (each call is bounded by its inputs' lengths).
fn fuzz_glob(mut seed: u64) {
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const ALPHA: &[u8] = b"ab*?[]^-\\";
    for _ in 0..100_000 {
        let pl = (next() % 32) as usize;
        let sl = (next() % 32) as usize;
        let pat: Vec<u8> = (0..pl)
            .map(|_| ALPHA[(next() % ALPHA.len() as u64) as usize])
            .collect();
        let s: Vec<u8> = (0..sl)
            .map(|_| ALPHA[(next() % ALPHA.len() as u64) as usize])
            .collect();
        let _ = kvtypes::glob::matches(&pat, &s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_and_xor_are_redis_primitives() {
        // SHA1("") xored into zeros is SHA1("").
        let mut d = [0u8; 20];
        xor_digest(&mut d, b"");
        assert_eq!(hex(&d), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        // xor twice cancels; mix does not.
        xor_digest(&mut d, b"");
        assert_eq!(d, [0u8; 20]);
        mix_digest(&mut d, b"a");
        assert_ne!(d, [0u8; 20]);
        assert_eq!(hex(&dataset_digest(&[], 0)), "0".repeat(40));
    }
}
