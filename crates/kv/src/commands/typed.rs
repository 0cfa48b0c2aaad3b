//! Typed access to the keyspace for the command families: look a key up expecting a type
//! (WRONGTYPE otherwise), reach the collection inside it, the encoding thresholds as
//! configured, the checks every command passes before it runs, SCAN's arguments and reply,
//! and random picks. What it may not touch: the log and the connections.

use kvtypes::{Kind, Limits, Object, Payload};

use crate::keyspace::Idx;
use crate::service::{Core, Exec};

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// The thresholds as currently configured.
pub fn limits(core: &Core) -> Limits {
    let mut l = Limits::default();
    for e in &core.extra {
        let v = || e.value.parse::<usize>().unwrap_or(0);
        match e.name {
            "hash-max-listpack-entries" => l.hash_entries = v(),
            "hash-max-listpack-value" => l.hash_value = v(),
            "set-max-intset-entries" => l.set_intset = v(),
            "zset-max-listpack-entries" => l.zset_entries = v(),
            "zset-max-listpack-value" => l.zset_value = v(),
            _ => {}
        }
    }
    l
}

/// A typed key lookup failed: the WRONGTYPE reply has been written.
pub struct Wrong;

impl Exec<'_, '_> {
    /// A live key holding `kind`: Ok(None) when absent; WRONGTYPE replied when it holds
    /// something else. `write` lookups do not count keyspace hits/misses (as Redis).
    pub fn typed(&mut self, key: &[u8], kind: Kind, write: bool) -> Result<Option<Idx>, Wrong> {
        let found = if write {
            self.write(key)
        } else {
            self.read(key)
        };
        match found {
            None => Ok(None),
            Some(i) => match self.db().obj(i) {
                Some(o) if o.kind() == kind => Ok(Some(i)),
                _ => {
                    self.err(WRONGTYPE);
                    Err(Wrong)
                }
            },
        }
    }

    /// [`typed`](Self::typed) for a command that answers a missing key with a fixed empty reply:
    /// the slot when the key holds `kind`; otherwise the reply (WRONGTYPE, or what `empty`
    /// writes for a missing key) is already written and the command is done.
    pub fn typed_or(
        &mut self,
        key: &[u8],
        kind: Kind,
        write: bool,
        empty: impl FnOnce(&mut crate::protocol::Reply<'_>),
    ) -> Option<Idx> {
        match self.typed(key, kind, write) {
            Err(_) => None,
            Ok(None) => {
                empty(&mut self.r());
                None
            }
            Ok(Some(i)) => Some(i),
        }
    }

    /// Like [`typed`](Self::typed) without replying: None for absent, Err for another type.
    pub fn typed_quiet(&mut self, key: &[u8], kind: Kind) -> Result<Option<Idx>, Wrong> {
        match self.write(key) {
            None => Ok(None),
            Some(i) => match self.db().obj(i) {
                Some(o) if o.kind() == kind => Ok(Some(i)),
                _ => Err(Wrong),
            },
        }
    }

    /// Run `f` on the object in slot `i` (memory accounting kept), deleting the key if the
    /// object is left empty (Redis never keeps an empty collection).
    pub fn with_obj<R>(&mut self, i: Idx, f: impl FnOnce(&mut Object) -> R) -> R {
        self.with_obj_if(i, f, |_| true)
    }

    /// [`with_obj`](Self::with_obj) for a change that may be none: `changed` judges the
    /// result (see `Db::with_obj_if`).
    pub fn with_obj_if<R>(
        &mut self,
        i: Idx,
        f: impl FnOnce(&mut Object) -> R,
        changed: impl FnOnce(&R) -> bool,
    ) -> R {
        let db = self.db();
        let r = db.with_obj_if(i, f, changed);
        if db.obj(i).is_some_and(Object::is_empty) {
            db.remove(i);
        }
        r
    }

    /// The collection of type `T` in slot `i`; the caller has checked the type.
    pub fn payload<T: Payload>(&self, i: Idx) -> &T {
        self.core.dbs[self.client.db]
            .obj(i)
            .and_then(T::of)
            .expect("type checked by the caller")
    }

    /// [`with_obj_if`](Self::with_obj_if) on the collection of type `T` in slot `i`; the
    /// caller has checked the type.
    pub fn payload_mut_if<T: Payload, R>(
        &mut self,
        i: Idx,
        f: impl FnOnce(&mut T) -> R,
        changed: impl FnOnce(&R) -> bool,
    ) -> R {
        self.with_obj_if(
            i,
            |o| f(T::of_mut(o).expect("type checked by the caller")),
            changed,
        )
    }

    /// Insert an empty object at `key`, known to be absent (the caller fills it at once:
    /// through [`with_obj`](Self::with_obj), which deletes it again if it stays empty).
    pub fn new_obj(&mut self, key: &[u8], obj: Object) -> Idx {
        let dbn = self.client.db;
        let i = self.core.dbs[dbn].insert_obj(key, obj);
        self.core.init_access(dbn, i);
        i
    }

    /// Store a new object at `key` (any old value and deadline dropped); an empty one deletes.
    pub fn put_obj(&mut self, key: &[u8], obj: Object) {
        let dbn = self.client.db;
        let now = self.core.now_ms;
        if let Some(old) = self.core.dbs[dbn].lookup(key, now) {
            self.core.dbs[dbn].remove(old);
        }
        if !obj.is_empty() {
            let i = self.core.dbs[dbn].insert_obj(key, obj);
            self.core.init_access(dbn, i);
        }
    }
}

/// Checks before a command runs, for the connection-state features: RESP2 subscribed context,
/// PING's subscribed form, string commands refusing collections. True when the reply is
/// written and the handler must not run.
pub fn precheck(
    x: &mut Exec<'_, '_>,
    cmd: &crate::commands::table::Command,
    a: &crate::protocol::Args<'_>,
) -> bool {
    // Queued commands were let through when they were queued: the context a SUBSCRIBE
    // earlier in the same EXEC entered does not refuse them (as Redis, which checks it at
    // queuing time only).
    if !x.core.multi.executing && crate::commands::pubsub::refuse_in_context(x, cmd.name) {
        return true;
    }
    if crate::commands::transactions::precheck(x, cmd, a) {
        return true;
    }
    if cmd.name == "ping" && crate::commands::pubsub::subscribed_ping(x, a) {
        return true;
    }
    cmd.group == "string" && string_cmd_wrongtype(x, cmd.name, a)
}

/// Commands of the `string` group that read a key's old value refuse collections (SET
/// without GET, MSET and the SETEX family overwrite whatever is there, as in Redis).
pub fn string_cmd_wrongtype(
    x: &mut Exec<'_, '_>,
    name: &str,
    a: &crate::protocol::Args<'_>,
) -> bool {
    // Commands that read an argument before the key: its error comes first.
    let int = |k: usize| k < a.len() && crate::protocol::parse_i64(a.get(k)).is_some();
    let arg_first_ok = match name {
        "incrby" => int(2),
        // DECRBY negates first: i64::MIN is its overflow error, not the key's.
        "decrby" => int(2) && crate::protocol::parse_i64(a.get(2)) != Some(i64::MIN),
        "getrange" | "substr" => int(2) && int(3),
        "setrange" => int(2) && crate::protocol::parse_i64(a.get(2)).is_some_and(|n| n >= 0),
        "getex" => options_ok(a, 2, false),
        "set" => options_ok(a, 3, true),
        _ => true,
    };
    if !arg_first_ok {
        return false;
    }
    let keys: &[usize] = match name {
        "set" => {
            if a.iter().skip(3).any(|o| o.eq_ignore_ascii_case(b"get")) {
                &[1]
            } else {
                &[]
            }
        }
        "mset" | "msetnx" | "setex" | "psetex" | "setnx" => &[],
        "lcs" => {
            for k in [1, 2] {
                let now = x.core.now_ms;
                if let Some(i) = x.db().lookup(a.get(k), now) {
                    if x.db().obj(i).is_some() {
                        x.err("ERR The specified keys must contain string values");
                        return true;
                    }
                }
            }
            &[]
        }
        "mget" => &[],
        _ => &[1],
    };
    for &k in keys {
        if k < a.len() {
            let now = x.core.now_ms;
            let key = a.get(k);
            if let Some(i) = x.db().lookup(key, now) {
                if x.db().obj(i).is_some() {
                    x.err(WRONGTYPE);
                    return true;
                }
            }
        }
    }
    false
}

/// A list or sorted set at `key` received elements: clients blocked on it may be served.
pub fn signal_key(x: &mut Exec<'_, '_>, key: &[u8]) {
    crate::commands::blocking::signal(x, key);
}

/// SET's and GETEX's options are read before the key: a bad one is their error to give.
/// (SET also checks its expiry value first; GETEX only the syntax.)
fn options_ok(a: &crate::protocol::Args<'_>, from: usize, set: bool) -> bool {
    let mut j = from;
    let mut expiry = 0;
    let (mut nx, mut xx) = (false, false);
    while j < a.len() {
        let o = a.get(j).to_ascii_lowercase();
        match o.as_slice() {
            b"nx" if set => nx = true,
            b"xx" if set => xx = true,
            b"get" if set => {}
            b"keepttl" if set => expiry += 1,
            b"persist" if !set => expiry += 1,
            b"ex" | b"px" | b"exat" | b"pxat" => {
                expiry += 1;
                let max = if o.len() == 2 {
                    i64::MAX / 1000 / 2
                } else {
                    i64::MAX
                };
                let valid = j + 1 < a.len()
                    && (!set
                        || crate::protocol::parse_i64(a.get(j + 1))
                            .is_some_and(|n| n > 0 && n <= max));
                if !valid {
                    return false;
                }
                j += 1;
            }
            _ => return false,
        }
        j += 1;
    }
    expiry <= 1 && !(nx && xx)
}

/// HSCAN/SSCAN/ZSCAN options.
pub struct ScanArgs<'a> {
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
}

impl ScanArgs<'_> {
    pub fn matches(&self, m: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| p == b"*" || kvtypes::glob::matches(p, m))
    }
}

/// `key cursor [MATCH pattern] [COUNT count]`; the error is replied when None.
pub fn scan_args<'a>(x: &mut Exec<'_, '_>, a: &crate::protocol::Args<'a>) -> Option<ScanArgs<'a>> {
    if std::str::from_utf8(a.get(2))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .is_none()
    {
        x.err("ERR invalid cursor");
        return None;
    }
    let mut sa = ScanArgs {
        pattern: None,
        count: 10,
    };
    let mut j = 3;
    while j < a.len() {
        if j + 1 >= a.len() {
            x.err(crate::commands::strings::SYNTAX);
            return None;
        }
        let opt = a.get(j).to_ascii_lowercase();
        match opt.as_slice() {
            b"count" => match crate::protocol::parse_i64(a.get(j + 1)) {
                None => {
                    x.err(crate::commands::strings::NOT_INT);
                    return None;
                }
                Some(n) if n < 1 => {
                    x.err(crate::commands::strings::SYNTAX);
                    return None;
                }
                Some(n) => sa.count = n as usize,
            },
            b"match" => sa.pattern = Some(a.get(j + 1)),
            _ => {
                x.err(crate::commands::strings::SYNTAX);
                return None;
            }
        }
        j += 2;
    }
    Some(sa)
}

/// `[cursor, [items]]`. Collections are returned whole in one call (cursor 0), which keeps
/// SCAN's guarantee (every element present throughout is returned) trivially.
pub fn scan_reply(x: &mut Exec<'_, '_>, cursor: u64, items: &[Vec<u8>]) {
    let mut r = x.r();
    r.array(2);
    r.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    r.array(items.len());
    for it in items {
        r.bulk(it);
    }
}

/// Positions for HRANDFIELD/SRANDMEMBER/ZRANDMEMBER/SPOP over `len` (> 0) elements, drawn
/// lazily at O(1) each: one when `count` is None; distinct ones (up to `len`) for a positive
/// count; `-count` with repetition for a negative one. The caller bounds a negative count
/// (see [`reply_too_large`]); a positive one is bounded by `len`.
pub fn random_picks(core: &mut Core, len: usize, count: Option<i64>) -> Picks {
    let (left, distinct) = match count {
        None => (1, false),
        Some(n) if n < 0 => (
            usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX),
            false,
        ),
        Some(n) => (usize::try_from(n).unwrap_or(usize::MAX).min(len), true),
    };
    Picks {
        // A stream of its own, seeded from the server's, so the caller may hold the data
        // it picks from while drawing.
        rng: core.random() | 1,
        len: len.max(1),
        left,
        distinct: distinct.then(hashbrown::HashMap::new),
        k: 0,
    }
}

/// See [`random_picks`].
pub struct Picks {
    rng: u64,
    len: usize,
    left: usize,
    /// Distinct draws: a partial Fisher-Yates shuffle of `0..len` kept sparse (only the
    /// displaced positions are stored), so `count` draws cost O(count), not O(len).
    distinct: Option<hashbrown::HashMap<usize, usize>>,
    k: usize,
}

impl Iterator for Picks {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let Some(moved) = &mut self.distinct else {
            return Some((r % self.len as u64) as usize);
        };
        let k = self.k;
        self.k += 1;
        let j = k + (r % (self.len - k) as u64) as usize;
        let at_j = moved.get(&j).copied().unwrap_or(j);
        let at_k = moved.remove(&k).unwrap_or(k);
        if j != k {
            moved.insert(j, at_k);
        }
        Some(at_j)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Picks {}

/// Redis's range check on a RANDMEMBER/RANDFIELD count (`-LONG_MAX..=LONG_MAX`): its
/// negation must fit.
pub const COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";

/// The loop closes a connection owed more than this (see `KvConfig::loop_config`).
const MAX_OWED: u64 = 1 << 30;

/// A reply of `elems` elements of at least `min_bytes` each could never be delivered: the
/// loop would close the connection once it was owed that much. Redis would build it anyway
/// (HRANDFIELD key -9223372036854775807 runs until memory is gone); close the connection now
/// instead, without building it. True when closed (nothing was replied).
pub fn reply_too_large(x: &mut Exec<'_, '_>, elems: u64, min_bytes: u64) -> bool {
    if elems.saturating_mul(min_bytes) <= MAX_OWED {
        return false;
    }
    tracing::warn!(
        elems,
        "closing a client whose reply would exceed the output limit"
    );
    x.ctx.kill(x.client.conn);
    true
}
