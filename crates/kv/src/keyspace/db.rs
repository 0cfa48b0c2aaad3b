//! One database: keys and values in a slab of fixed 64-byte slots, found through a hash table
//! of 4-byte slot numbers, with deadlines in a side map and a deadline-ordered set.
//!
//! Why this shape (memory per key is a target: ≤ 90 B RSS for 16-byte keys and 32-byte values,
//! where Redis needs 149 B):
//! - the table holds `u32` slot numbers, not entries: at 1,000,000 keys hashbrown has 2^21
//!   buckets (load factor 7/8), 5 bytes each, ~10 B per key; a table of 64-byte entries would
//!   cost 130 B per key in buckets alone;
//! - a slot keeps key and string value *together inline* when they fit in 53 bytes (no heap
//!   allocation at all), an integer as an `i64`, and anything longer in one boxed slice;
//! - deadlines live beside the slots (only keys with a TTL pay for them), in a map for lookups
//!   and a `BTreeSet` ordered by deadline so active expiry takes exactly the keys that are due.
//! - slot numbers are stable while a key exists, which is what SCAN's cursor walks: a key
//!   present during a whole iteration is returned (exactly once).

use std::collections::BTreeSet;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use kvtypes::{malloc_size, Object};

/// Key and value bytes a slot holds without a heap allocation.
pub const INLINE: usize = 53;
/// Key bytes a slot holds beside an integer value.
const INT_KEY: usize = 46;
const NIL: u32 = u32::MAX;

/// Slot flag: the key has a deadline (look it up in `expires`).
const HAS_TTL: u8 = 1;
/// Slot flag: the string was modified in place (APPEND, SETRANGE): OBJECT ENCODING says `raw`.
const RAW: u8 = 2;

#[derive(Clone)]
enum Data {
    Free {
        next: u32,
    },
    /// Key bytes then value bytes.
    Inline {
        klen: u8,
        vlen: u8,
        buf: [u8; INLINE],
    },
    Int {
        klen: u8,
        key: [u8; INT_KEY],
        val: i64,
    },
    /// Key bytes then value bytes, in one allocation. Exactly sized when stored whole; with
    /// room to grow after APPEND/SETRANGE (see [`Db::append`]).
    Heap {
        klen: u32,
        bytes: Vec<u8>,
    },
    /// A collection: key and object behind one pointer, so the slot stays 64 bytes.
    Obj(Box<ObjSlot>),
}

/// Key bytes a collection keeps beside its object without an allocation of their own.
const OBJ_KEY_INLINE: usize = 22;

/// A collection's key: inline when short (most keys), so a small collection costs one
/// allocation for key and object instead of two (a 32-byte glibc chunk saved per key, which
/// is 12 % of a small hash: the hash memory benchmark is a million hashes of ten fields).
/// 24 bytes either way, the size of the boxed form.
#[derive(Clone)]
enum ObjKey {
    Inline { len: u8, buf: [u8; OBJ_KEY_INLINE] },
    Heap(Box<[u8]>),
}

impl ObjKey {
    fn new(key: &[u8]) -> ObjKey {
        if key.len() <= OBJ_KEY_INLINE {
            let mut buf = [0; OBJ_KEY_INLINE];
            buf[..key.len()].copy_from_slice(key);
            ObjKey::Inline {
                len: key.len() as u8,
                buf,
            }
        } else {
            ObjKey::Heap(key.into())
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            ObjKey::Inline { len, buf } => &buf[..*len as usize],
            ObjKey::Heap(b) => b,
        }
    }
}

/// A collection's key and value.
#[derive(Clone)]
pub struct ObjSlot {
    key: ObjKey,
    obj: Object,
    /// What `heap_bytes` counted for this slot (objects change size in place).
    counted: usize,
}

#[derive(Clone)]
struct Slot {
    data: Data,
    /// LRU clock (seconds since start) of the last access.
    lru: u32,
    /// LFU: last decrement time (minutes, 16 bits) and logarithmic counter.
    ldt: u16,
    lfu: u8,
    flags: u8,
}

/// A value as commands see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Value<'_> {
    /// Redis's TYPE name.
    pub fn type_name(&self) -> &'static str {
        "string"
    }
}

/// A value to store.
#[derive(Clone, Copy, Debug)]
pub enum NewValue<'a> {
    /// Stored as an integer when it is one in canonical form (as Redis's `int` encoding).
    Str(&'a [u8]),
    /// Kept as bytes even when it reads as an integer (INCRBYFLOAT's result, which Redis
    /// stores as `embstr`).
    Text(&'a [u8]),
    Int(i64),
}

impl Slot {
    fn key(&self) -> &[u8] {
        match &self.data {
            Data::Inline { klen, buf, .. } => &buf[..*klen as usize],
            Data::Int { klen, key, .. } => &key[..*klen as usize],
            Data::Heap { klen, bytes } => &bytes[..*klen as usize],
            Data::Obj(o) => o.key.bytes(),
            Data::Free { .. } => &[],
        }
    }

    fn value(&self) -> Value<'_> {
        match &self.data {
            Data::Inline { klen, vlen, buf } => {
                Value::Str(&buf[*klen as usize..*klen as usize + *vlen as usize])
            }
            Data::Int { val, .. } => Value::Int(*val),
            Data::Heap { klen, bytes } => Value::Str(&bytes[*klen as usize..]),
            // Collections are reached through `Db::obj`; string commands never see one.
            Data::Free { .. } | Data::Obj(_) => Value::Str(&[]),
        }
    }

    fn heap_bytes(&self) -> usize {
        match &self.data {
            Data::Heap { bytes, .. } => malloc_size(bytes.capacity()),
            Data::Obj(o) => o.counted,
            _ => 0,
        }
    }
}

fn obj_bytes(key: &[u8], obj: &Object) -> usize {
    let key_alloc = if key.len() > OBJ_KEY_INLINE {
        malloc_size(key.len())
    } else {
        0
    };
    malloc_size(std::mem::size_of::<ObjSlot>()) + key_alloc + obj.mem_bytes()
}

fn make_data(key: &[u8], v: NewValue<'_>) -> Data {
    let v = match v {
        NewValue::Str(s) => match as_canonical_int(s) {
            Some(i) => NewValue::Int(i),
            None => v,
        },
        NewValue::Text(s) => NewValue::Str(s),
        other => other,
    };
    match v {
        NewValue::Int(val) if key.len() <= INT_KEY => {
            let mut k = [0; INT_KEY];
            k[..key.len()].copy_from_slice(key);
            Data::Int {
                klen: key.len() as u8,
                key: k,
                val,
            }
        }
        NewValue::Int(val) => {
            let mut b = itoa::Buffer::new();
            heap(key, b.format(val).as_bytes())
        }
        NewValue::Str(s) | NewValue::Text(s) if key.len() + s.len() <= INLINE => {
            let mut buf = [0; INLINE];
            buf[..key.len()].copy_from_slice(key);
            buf[key.len()..key.len() + s.len()].copy_from_slice(s);
            Data::Inline {
                klen: key.len() as u8,
                vlen: s.len() as u8,
                buf,
            }
        }
        NewValue::Str(s) | NewValue::Text(s) => heap(key, s),
    }
}

fn heap(key: &[u8], v: &[u8]) -> Data {
    let mut bytes = Vec::with_capacity(key.len() + v.len());
    bytes.extend_from_slice(key);
    bytes.extend_from_slice(v);
    Data::Heap {
        klen: key.len() as u32,
        bytes,
    }
}

/// Redis's growth rule for a string being appended to (sds's greedy preallocation): double
/// up to 1 MiB, then 1 MiB more each time. Amortised O(1) per appended byte, and a value
/// built by many APPENDs wastes at most half (below 1 MiB) or 1 MiB (above).
const GROW_STEP: usize = 1 << 20;

fn greedy_capacity(needed: usize) -> usize {
    if needed < GROW_STEP {
        needed * 2
    } else {
        needed.saturating_add(GROW_STEP)
    }
}

/// A string Redis would store with the `int` encoding: canonical decimal, at most 20 chars.
pub fn as_canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 || !(s[0].is_ascii_digit() || s[0] == b'-') {
        return None;
    }
    kvtypes::num::parse_i64(s)
}

/// One numbered database.
pub struct Db {
    table: HashTable<u32>,
    slots: Vec<Slot>,
    free: u32,
    len: usize,
    hasher: DefaultHashBuilder,
    /// Deadline (Unix ms) of every key that has one, by slot.
    expires: HashMap<u32, u64>,
    by_deadline: BTreeSet<(u64, u32)>,
    heap_bytes: usize,
    /// Keys removed by active or lazy expiry (INFO's expired_keys).
    pub expired: u64,
    /// Changes to the data (inserts, new values, removals, deadlines): a command changed
    /// something if this moved (Redis's `server.dirty`; the append-only log keys on it).
    pub dirty: u64,
    /// Keys some client WATCHes → how often each changed since it was first watched
    /// (`commands::transactions` compares the count at WATCH with the one at EXEC). Every method that
    /// changes a key bumps it, so no command needs its own hook, as Redis's
    /// signalModifiedKey calls are.
    watched: HashMap<Box<[u8]>, u64>,
    /// A log rewrite's point-in-time view of this database (`persistence::aof`, "Compaction without a stall"): every
    /// method that changes a slot calls [`before_change`](Self::before_change) first.
    snap: Option<Box<crate::keyspace::view::Snap>>,
    /// Keys clients wait for and the ones signalled ready (waits.rs). Stays with the database
    /// *number* across FLUSHDB and SWAPDB, as a blocked client waits on a number.
    pub waits: crate::keyspace::waits::Waits,
    /// Keys removed by expiry (lazy or active) whose deletion the log has not been told yet:
    /// the dispatcher drains them after every command and tick (`take_expired`), so a replay
    /// without the clock deletes them at the same point. Expiry is not a change of the command
    /// that ran into it: it does not move `dirty`.
    expired_keys: Vec<Box<[u8]>>,
}

impl Default for Db {
    fn default() -> Self {
        Db {
            table: HashTable::new(),
            slots: Vec::new(),
            free: NIL,
            len: 0,
            hasher: DefaultHashBuilder::default(),
            expires: HashMap::new(),
            by_deadline: BTreeSet::new(),
            heap_bytes: 0,
            expired: 0,
            dirty: 0,
            watched: HashMap::new(),
            snap: None,
            waits: Default::default(),
            expired_keys: Vec::new(),
        }
    }
}

/// A slot number: valid until the key is removed.
pub type Idx = u32;

impl Db {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    /// Bytes this database holds (slots, table, heap values, deadline indexes), counted from
    /// the live keys so deleting gives the figure back.
    pub fn used_bytes(&self) -> usize {
        let slot = std::mem::size_of::<Slot>();
        let table = (self.len * 8 / 7).next_power_of_two() * 5;
        let ttl = self.expires.len() * (12 * 8 / 7 + 1 + 24);
        self.len * slot + table + ttl + self.heap_bytes
    }

    /// Total slots (used and free): the SCAN cursor's range.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The slot of `key`, expired or not.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<Idx> {
        let h = self.hash(key);
        let slots = &self.slots;
        self.table
            .find(h, |&i| slots[i as usize].key() == key)
            .copied()
    }

    /// The slot of a live `key`; an expired one is removed on the way (lazy expiry).
    #[inline]
    pub fn lookup(&mut self, key: &[u8], now_ms: u64) -> Option<Idx> {
        let i = self.find(key)?;
        if self.is_expired(i, now_ms) {
            self.expire(i);
            return None;
        }
        Some(i)
    }

    /// Remove the key in slot `i` because its deadline passed: counted in `expired`, kept for
    /// the log's DEL ([`take_expired`](Self::take_expired)), seen by WATCH, but not a change
    /// of the command that ran into it (`dirty` stays).
    pub fn expire(&mut self, i: Idx) {
        self.expired_keys.push(self.key(i).into());
        let dirty = self.dirty;
        self.remove(i);
        self.dirty = dirty;
        self.expired += 1;
    }

    /// Keys expired since the last call, in order, for the log (and later replicas).
    pub fn take_expired(&mut self) -> Vec<Box<[u8]>> {
        std::mem::take(&mut self.expired_keys)
    }

    /// Did a key expire since the last [`take_expired`](Self::take_expired)?
    #[inline]
    pub fn has_expired(&self) -> bool {
        !self.expired_keys.is_empty()
    }

    /// `key` changed in a way that may serve a client waiting on it without being added
    /// (XADD to an existing stream): see waits.rs. Additions signal by themselves.
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.waits.signal(key);
    }

    /// Signal every waited key that exists now (SWAPDB brought in another database's keys).
    pub fn signal_present(&mut self) {
        if self.waits.is_empty() {
            return;
        }
        for k in self.waits.keys() {
            if self.find(&k).is_some() {
                self.waits.signal(&k);
            }
        }
    }

    #[inline]
    pub fn is_expired(&self, i: Idx, now_ms: u64) -> bool {
        self.slots[i as usize].flags & HAS_TTL != 0
            && self.expires.get(&i).is_some_and(|&d| d <= now_ms)
    }

    pub fn key(&self, i: Idx) -> &[u8] {
        self.slots[i as usize].key()
    }

    #[inline]
    pub fn value(&self, i: Idx) -> Value<'_> {
        self.slots[i as usize].value()
    }

    pub fn is_live(&self, i: Idx) -> bool {
        !matches!(
            self.slots.get(i as usize).map(|s| &s.data),
            None | Some(Data::Free { .. })
        )
    }

    /// `int`, `embstr` or `raw`, as Redis's OBJECT ENCODING.
    pub fn encoding(&self, i: Idx) -> &'static str {
        let s = &self.slots[i as usize];
        if let Data::Obj(o) = &s.data {
            return o.obj.encoding();
        }
        // APPEND and SETRANGE leave Redis a raw sds even when the result reads as a number
        // (only commands that store a fresh object int-encode it).
        if s.flags & RAW != 0 {
            return "raw";
        }
        match s.value() {
            Value::Int(_) => "int",
            Value::Str(v) if v.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
        }
    }

    /// Edit the string value in slot `i` in place: `f` gets the value's bytes (after the
    /// key) as a growable buffer and must only append, or overwrite and extend. The slot
    /// becomes `raw` (as Redis's in-place edits leave it). Growth follows
    /// [`greedy_capacity`], so APPEND is amortised O(1) and SETRANGE O(range), not a copy of
    /// the whole value per call. Returns the new value length.
    pub fn edit_str(&mut self, i: Idx, extra: usize, f: impl FnOnce(&mut Vec<u8>, usize)) -> usize {
        self.before_change(i);
        self.changed(i);
        let s = &mut self.slots[i as usize];
        self.heap_bytes -= s.heap_bytes();
        if !matches!(s.data, Data::Heap { .. }) {
            // An inline or integer value moves to the heap form first (at most 53 bytes).
            let key = s.key().to_vec();
            let val = match s.value() {
                Value::Str(v) => v.to_vec(),
                Value::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
            };
            s.data = heap(&key, &val);
        }
        let Data::Heap { klen, bytes } = &mut s.data else {
            unreachable!("moved to the heap form above")
        };
        let needed = bytes.len() + extra;
        if needed > bytes.capacity() {
            bytes.reserve_exact(greedy_capacity(needed) - bytes.len());
        }
        f(bytes, *klen as usize);
        let vlen = bytes.len() - *klen as usize;
        s.flags |= RAW;
        self.heap_bytes += s.heap_bytes();
        vlen
    }

    pub fn mark_raw(&mut self, i: Idx) {
        self.slots[i as usize].flags |= RAW;
    }

    /// Access bookkeeping for eviction and OBJECT IDLETIME/FREQ.
    #[inline]
    pub fn touch(&mut self, i: Idx, clock: u32, lfu: Option<(u16, u8)>) {
        let s = &mut self.slots[i as usize];
        s.lru = clock;
        if let Some((ldt, counter)) = lfu {
            s.ldt = ldt;
            s.lfu = counter;
        }
    }

    pub fn lru(&self, i: Idx) -> u32 {
        self.slots[i as usize].lru
    }

    pub fn lfu(&self, i: Idx) -> (u16, u8) {
        let s = &self.slots[i as usize];
        (s.ldt, s.lfu)
    }

    /// Insert or overwrite. Overwriting drops the deadline unless `keep_ttl`. Returns the slot.
    /// Slot `i` is about to change (or be filled, if free): a rewrite whose view still needs
    /// its state at the rewrite's start serialises it now, before it is lost.
    #[inline]
    fn before_change(&mut self, i: Idx) {
        if self.snap.as_ref().is_some_and(|s| s.wants(i)) {
            self.snapshot_slot(i);
        }
    }

    #[cold]
    fn snapshot_slot(&mut self, i: Idx) {
        if let Some(mut s) = self.snap.take() {
            s.emit(self, i);
            self.snap = Some(s);
        }
    }

    /// Start a rewrite's view of this database as it is now (database number `dbi`, keys
    /// whose deadline is ≤ `now_ms` left out as already expired).
    pub fn begin_snapshot(&mut self, dbi: usize, now_ms: u64) {
        self.snap = Some(Box::new(crate::keyspace::view::Snap::new(
            dbi,
            now_ms,
            self.slots.len(),
        )));
    }

    /// The rewrite's view, if one is being taken.
    pub fn snapshot(&mut self) -> Option<&mut crate::keyspace::view::Snap> {
        self.snap.as_deref_mut()
    }

    /// Serialise up to `slots` more slots of the view; true when the view is complete.
    pub fn snapshot_step(&mut self, slots: usize) -> bool {
        let Some(mut s) = self.snap.take() else {
            return true;
        };
        let done = s.step(self, slots);
        self.snap = Some(s);
        done
    }

    /// Drop the view (the rewrite finished or was abandoned); returns a flushed database the
    /// view had kept alive, for the caller to free.
    pub fn end_snapshot(&mut self) -> Option<Db> {
        self.snap.take().and_then(|s| s.retired).map(|b| *b)
    }

    /// Insert or overwrite. Overwriting drops the deadline unless `keep_ttl`. Returns the slot.
    pub fn set(&mut self, key: &[u8], v: NewValue<'_>, keep_ttl: bool) -> Idx {
        match self.find(key) {
            Some(i) => {
                self.replace_value(i, v);
                if !keep_ttl {
                    self.persist(i);
                }
                i
            }
            None => self.insert_new(key, v),
        }
    }

    /// Insert a key known to be absent.
    pub fn insert_new(&mut self, key: &[u8], v: NewValue<'_>) -> Idx {
        let slot = Slot {
            data: make_data(key, v),
            lru: 0,
            ldt: 0,
            lfu: 0,
            flags: 0,
        };
        self.heap_bytes += slot.heap_bytes();
        self.dirty += 1;
        self.touch_watched(key);
        let i = self.place(slot);
        let h = self.hash(key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table
            .insert_unique(h, i, |&j| hasher.hash_one(slots[j as usize].key()));
        self.len += 1;
        // Redis's dbAdd: a key that appears may be what a blocked client waits for.
        self.waits.signal(key);
        i
    }

    /// Put `slot` in a free slot (or a new one at the end); returns its number.
    fn place(&mut self, slot: Slot) -> Idx {
        if self.free != NIL {
            let i = self.free;
            self.before_change(i);
            if let Data::Free { next } = self.slots[i as usize].data {
                self.free = next;
            }
            self.slots[i as usize] = slot;
            i
        } else {
            let i = self.slots.len() as u32;
            self.before_change(i);
            self.slots.push(slot);
            i
        }
    }

    /// New value, same key, deadline and access data.
    pub fn replace_value(&mut self, i: Idx, v: NewValue<'_>) {
        self.before_change(i);
        self.changed(i);
        let s = &mut self.slots[i as usize];
        self.heap_bytes -= s.heap_bytes();
        // Fast path for INCR: an integer stays an integer in place.
        if let (Data::Int { val, .. }, NewValue::Int(n)) = (&mut s.data, v) {
            *val = n;
            s.flags &= !RAW;
            return;
        }
        let data = {
            let key = s.key();
            make_data(key, v)
        };
        s.data = data;
        s.flags &= !RAW;
        self.heap_bytes += s.heap_bytes();
    }

    /// The bytes of the string in slot `i`, to change in place (same length: SETBIT, BITFIELD,
    /// a dense HyperLogLog), counted as a change. None for an integer or a collection (the
    /// caller stores such a value as bytes first).
    pub fn str_mut(&mut self, i: Idx) -> Option<&mut [u8]> {
        self.before_change(i);
        self.changed(i);
        let s = &mut self.slots[i as usize];
        s.flags |= RAW;
        match &mut s.data {
            Data::Inline { klen, vlen, buf } => {
                Some(&mut buf[*klen as usize..*klen as usize + *vlen as usize])
            }
            Data::Heap { klen, bytes } => Some(&mut bytes[*klen as usize..]),
            _ => None,
        }
    }

    /// The collection in slot `i`, if it holds one.
    #[inline]
    pub fn obj(&self, i: Idx) -> Option<&Object> {
        match &self.slots[i as usize].data {
            Data::Obj(o) => Some(&o.obj),
            _ => None,
        }
    }

    /// TYPE's answer for slot `i`.
    pub fn type_name(&self, i: Idx) -> &'static str {
        match self.obj(i) {
            Some(o) => o.type_name(),
            None => "string",
        }
    }

    /// Change the collection in slot `i` in place, keeping the memory count current.
    /// Panics if the slot holds no collection (callers checked the type).
    pub fn with_obj<R>(&mut self, i: Idx, f: impl FnOnce(&mut Object) -> R) -> R {
        self.with_obj_if(i, f, |_| true)
    }

    /// [`with_obj`](Self::with_obj) for a change that may turn out to be none (SREM of an
    /// absent member): `changed` judges the result; nothing is logged or signalled to
    /// watchers otherwise, as Redis signals only real changes.
    pub fn with_obj_if<R>(
        &mut self,
        i: Idx,
        f: impl FnOnce(&mut Object) -> R,
        changed: impl FnOnce(&R) -> bool,
    ) -> R {
        self.before_change(i);
        let r = self.with_obj_raw(i, f);
        if changed(&r) {
            self.changed(i);
        }
        r
    }

    fn with_obj_raw<R>(&mut self, i: Idx, f: impl FnOnce(&mut Object) -> R) -> R {
        let Data::Obj(o) = &mut self.slots[i as usize].data else {
            panic!("with_obj on a slot without a collection");
        };
        let r = f(&mut o.obj);
        let now = obj_bytes(o.key.bytes(), &o.obj);
        self.heap_bytes = self.heap_bytes - o.counted + now;
        o.counted = now;
        r
    }

    /// Insert a collection at a key known to be absent.
    pub fn insert_obj(&mut self, key: &[u8], obj: Object) -> Idx {
        let counted = obj_bytes(key, &obj);
        let slot = Slot {
            data: Data::Obj(Box::new(ObjSlot {
                key: ObjKey::new(key),
                obj,
                counted,
            })),
            lru: 0,
            ldt: 0,
            lfu: 0,
            flags: 0,
        };
        self.heap_bytes += counted;
        self.dirty += 1;
        self.touch_watched(key);
        let i = self.place(slot);
        let h = self.hash(key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table
            .insert_unique(h, i, |&j| hasher.hash_one(slots[j as usize].key()));
        self.len += 1;
        self.waits.signal(key);
        i
    }

    /// Remove the key in slot `i`.
    pub fn remove(&mut self, i: Idx) {
        drop(self.detach(i));
    }

    /// Remove the key in slot `i` and hand back its collection, if it held one, for the
    /// caller to free (lazy free: UNLINK of a big value).
    pub fn unlink(&mut self, i: Idx) -> Option<Object> {
        match self.detach(i) {
            Data::Obj(o) => Some(o.obj),
            _ => None,
        }
    }

    fn detach(&mut self, i: Idx) -> Data {
        self.before_change(i);
        self.changed(i);
        let h = self.hash(self.slots[i as usize].key());
        if let Ok(e) = self.table.find_entry(h, |&j| j == i) {
            e.remove();
        }
        if self.slots[i as usize].flags & HAS_TTL != 0 {
            if let Some(d) = self.expires.remove(&i) {
                self.by_deadline.remove(&(d, i));
            }
        }
        let s = &mut self.slots[i as usize];
        self.heap_bytes -= s.heap_bytes();
        let old = std::mem::replace(&mut s.data, Data::Free { next: self.free });
        s.flags = 0;
        self.free = i;
        self.len -= 1;
        if self.len == 0 {
            self.slots = Vec::new();
            self.free = NIL;
            self.table = HashTable::new();
        }
        old
    }

    /// Give trailing free slots back, so a database that shrank does not keep its peak slab.
    /// Called about once a second (it costs O(slots)); never moves a live key, so SCAN
    /// cursors stay valid.
    pub fn maintain(&mut self) {
        let cap = self.slots.capacity();
        if cap < 1024 || self.len * 4 > cap {
            return;
        }
        let live_end = self
            .slots
            .iter()
            .rposition(|s| !matches!(s.data, Data::Free { .. }))
            .map_or(0, |p| p + 1);
        if live_end * 2 > cap {
            return;
        }
        self.slots.truncate(live_end);
        self.slots.shrink_to(live_end * 3 / 2);
        self.free = NIL;
        for j in (0..self.slots.len()).rev() {
            if let Data::Free { next } = &mut self.slots[j].data {
                *next = self.free;
                self.free = j as u32;
            }
        }
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.table
            .shrink_to(self.len, |&j| hasher.hash_one(slots[j as usize].key()));
    }

    /// Deadline of slot `i` (Unix ms), if any.
    pub fn deadline(&self, i: Idx) -> Option<u64> {
        if self.slots[i as usize].flags & HAS_TTL == 0 {
            return None;
        }
        self.expires.get(&i).copied()
    }

    pub fn set_deadline(&mut self, i: Idx, at_ms: u64) {
        self.before_change(i);
        self.changed(i);
        if let Some(old) = self.expires.insert(i, at_ms) {
            self.by_deadline.remove(&(old, i));
        }
        self.by_deadline.insert((at_ms, i));
        self.slots[i as usize].flags |= HAS_TTL;
    }

    /// Drop the deadline; true if there was one.
    pub fn persist(&mut self, i: Idx) -> bool {
        if self.slots[i as usize].flags & HAS_TTL == 0 {
            return false;
        }
        self.before_change(i);
        let s = &mut self.slots[i as usize];
        s.flags &= !HAS_TTL;
        self.changed(i);
        if let Some(d) = self.expires.remove(&i) {
            self.by_deadline.remove(&(d, i));
        }
        true
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_deadline.first().map(|&(d, _)| d)
    }

    /// Active expiry: remove up to `budget` keys whose deadline is ≤ `now_ms`, earliest first.
    /// Returns how many were removed.
    pub fn expire_due(&mut self, now_ms: u64, budget: usize) -> usize {
        let mut n = 0;
        while n < budget {
            match self.by_deadline.first() {
                Some(&(d, i)) if d <= now_ms => {
                    self.expire(i);
                    n += 1;
                }
                _ => break,
            }
        }
        n
    }

    /// The key with the earliest deadline (volatile-ttl eviction).
    pub fn soonest(&self) -> Option<Idx> {
        self.by_deadline.first().map(|&(_, i)| i)
    }

    /// A live slot chosen at random (`r` random bits); None when empty. Probes a few random
    /// slots, then walks on from the last probe (a sparse slab must not make this loop long).
    pub fn random(&self, mut r: impl FnMut() -> u64) -> Option<Idx> {
        if self.len == 0 {
            return None;
        }
        let n = self.slots.len();
        let mut at = 0;
        for _ in 0..16 {
            at = (r() % n as u64) as usize;
            if self.is_live(at as u32) {
                return Some(at as u32);
            }
        }
        (0..n)
            .map(|k| ((at + k) % n) as u32)
            .find(|&i| self.is_live(i))
    }

    /// A random key with a deadline (volatile policies), if any.
    pub fn random_volatile(&self, mut r: impl FnMut() -> u64) -> Option<Idx> {
        if self.expires.is_empty() {
            return None;
        }
        for _ in 0..32 {
            if let Some(i) = self.random(&mut r) {
                if self.slots[i as usize].flags & HAS_TTL != 0 {
                    return Some(i);
                }
            }
        }
        // Keys with deadlines are rare among many: pick by deadline rank instead.
        let skip = (r() % self.by_deadline.len().min(64) as u64) as usize;
        self.by_deadline.iter().nth(skip).map(|&(_, i)| i)
    }

    /// Visit live slots from `cursor` on, up to `count` slots examined; returns the next
    /// cursor (0 when the walk is complete).
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Idx)) -> u64 {
        let mut at = cursor as usize;
        let end = at.saturating_add(count.max(1)).min(self.slots.len());
        while at < end {
            if self.is_live(at as u32) {
                f(at as u32);
            }
            at += 1;
        }
        if at >= self.slots.len() {
            0
        } else {
            at as u64
        }
    }

    pub fn clear(&mut self) {
        drop(self.flush());
    }

    /// Empty the database (FLUSHDB) and return the old contents for the caller to free,
    /// unless a rewrite's view still needs them: then the view keeps them (they no longer
    /// change) and frees them when it is done. Watched keys that existed count as changed;
    /// the watch counts stay with this database (a client watches a database *number*).
    pub fn flush(&mut self) -> Option<Db> {
        self.touch_watched_present(None);
        let watched = std::mem::take(&mut self.watched);
        let waits = std::mem::take(&mut self.waits);
        let expired_keys = std::mem::take(&mut self.expired_keys);
        let snap = self.snap.take();
        let mut old = std::mem::take(self);
        self.expired = old.expired;
        self.dirty = old.dirty + 1;
        self.watched = watched;
        self.waits = waits;
        self.expired_keys = expired_keys;
        match snap {
            Some(mut s) if s.retired.is_none() => {
                s.retired = Some(Box::new(old));
                self.snap = Some(s);
                None
            }
            Some(s) => {
                self.snap = Some(s);
                old.dirty = 0;
                Some(old)
            }
            None => Some(old),
        }
    }

    /// Slot `i` changed (or is about to be removed): the log's counter and its watchers.
    #[inline]
    pub fn changed(&mut self, i: Idx) {
        self.dirty += 1;
        if !self.watched.is_empty() {
            let key: Box<[u8]> = self.slots[i as usize].key().into();
            self.touch_watched(&key);
        }
    }

    #[inline]
    fn touch_watched(&mut self, key: &[u8]) {
        if !self.watched.is_empty() {
            if let Some(n) = self.watched.get_mut(key) {
                *n += 1;
            }
        }
    }

    /// A flush or SWAPDB replaces this database's keys: a watched key changes if it exists
    /// here or in `incoming` (Redis's touchAllWatchedKeysInDb: an absent key that stays
    /// absent did not change).
    pub fn touch_watched_present(&mut self, incoming: Option<&Db>) {
        if self.watched.is_empty() {
            return;
        }
        let present: Vec<Box<[u8]>> = self
            .watched
            .keys()
            .filter(|k| self.find(k).is_some() || incoming.is_some_and(|d| d.find(k).is_some()))
            .cloned()
            .collect();
        for k in present {
            self.touch_watched(&k);
        }
    }

    /// Start counting changes to `key` (a client WATCHes it); its count now.
    pub fn watch(&mut self, key: &[u8]) -> u64 {
        *self.watched.entry_ref(key).or_insert(0)
    }

    /// Changes to `key` counted since it was first watched.
    pub fn watch_count(&self, key: &[u8]) -> u64 {
        self.watched.get(key).copied().unwrap_or(0)
    }

    /// No client watches `key` any more.
    pub fn unwatch(&mut self, key: &[u8]) {
        self.watched.remove(key);
    }

    /// Move the watch counts out (SWAPDB and lazy flush swap whole databases, but a client
    /// watches a key of a database *number*).
    pub fn take_watched(&mut self) -> HashMap<Box<[u8]>, u64> {
        std::mem::take(&mut self.watched)
    }

    pub fn put_watched(&mut self, w: HashMap<Box<[u8]>, u64>) {
        self.watched = w;
    }

    /// `key` exists but its deadline has passed (EXEC aborts for such a watched key even
    /// before expiry removes it, as Redis 7.0 does).
    pub fn is_expired_key(&self, key: &[u8], now_ms: u64) -> bool {
        self.find(key).is_some_and(|i| self.is_expired(i, now_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
    }

    #[test]
    fn a_collection_with_a_short_key_is_one_80_byte_chunk() {
        // ObjSlot (key inline + object + count) must stay within the 80-byte glibc chunk:
        // a million small hashes pay this once each.
        assert_eq!(malloc_size(std::mem::size_of::<ObjSlot>()), 80);
        let mut db = Db::default();
        let long_key = vec![b'k'; OBJ_KEY_INLINE + 1];
        let short_key = vec![b's'; OBJ_KEY_INLINE];
        let keys: [&[u8]; 4] = [b"", b"h", &short_key, &long_key];
        for k in keys {
            db.insert_obj(k, Object::Hash(kvtypes::Hash::default()));
        }
        for k in keys {
            let i = db.find(k).unwrap();
            assert_eq!(db.key(i), k);
            assert!(db.obj(i).is_some());
        }
        let one = |k: &[u8]| obj_bytes(k, &Object::Hash(kvtypes::Hash::default()));
        assert_eq!(
            one(&long_key) - one(&short_key),
            malloc_size(long_key.len())
        );
    }

    #[test]
    fn values_round_trip_in_every_form() {
        let mut db = Db::default();
        let long = vec![b'v'; 100];
        let long_key = vec![b'k'; 50];
        let cases: Vec<(&[u8], &[u8], Value)> = vec![
            (b"a", b"hello", Value::Str(b"hello")),
            (b"b", b"12345", Value::Int(12345)),
            (b"c", b"012", Value::Str(b"012")),
            (b"d", &long, Value::Str(&long)),
            (&long_key, b"-7", Value::Str(b"-7")),
            (b"e", b"", Value::Str(b"")),
        ];
        for (k, v, _) in &cases {
            db.set(k, NewValue::Str(v), false);
        }
        for (k, _, want) in &cases {
            let i = db.find(k).unwrap();
            match (db.value(i), want) {
                (Value::Str(a), Value::Str(b)) => assert_eq!(a, *b),
                (a, b) => assert_eq!(a, *b),
            }
            assert_eq!(db.key(i), *k);
        }
        assert_eq!(db.len(), cases.len());
    }

    #[test]
    fn expiry_orders_by_deadline_and_lazy_removes() {
        let mut db = Db::default();
        for n in 0..100u64 {
            let i = db.set(format!("k{n}").as_bytes(), NewValue::Int(n as i64), false);
            db.set_deadline(i, 1000 + (n * 7919) % 100);
        }
        assert_eq!(db.expire_due(1049, 10), 10);
        assert_eq!(db.expire_due(1049, 1000), 40);
        assert!(db.next_deadline().unwrap() >= 1050);
        let mut live = None;
        db.scan(0, usize::MAX, |i| live = Some(db.key(i).to_vec()));
        let k = live.expect("50 keys are left");
        assert!(db.lookup(&k, 1049).is_some());
        assert!(db.lookup(&k, 5000).is_none());
        assert!(db.find(&k).is_none());
        assert_eq!(db.expired, 51);
    }

    #[test]
    fn scan_returns_every_stable_key_despite_churn() {
        let mut db = Db::default();
        for n in 0..1000 {
            db.set(format!("s{n}").as_bytes(), NewValue::Int(n), false);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 10, |i| {
                seen.insert(db.key(i).to_vec());
            });
            // churn: add and delete other keys between calls
            for m in 0..5 {
                let k = format!("t{round}-{m}");
                db.set(k.as_bytes(), NewValue::Int(1), false);
                if m % 2 == 0 {
                    let i = db.find(k.as_bytes()).unwrap();
                    db.remove(i);
                }
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for n in 0..1000 {
            assert!(seen.contains(format!("s{n}").as_bytes()));
        }
    }

    #[test]
    fn removing_everything_frees_the_slab() {
        let mut db = Db::default();
        for n in 0..5000 {
            db.set(format!("{n}").as_bytes(), NewValue::Str(b"x"), false);
        }
        for n in 0..5000 {
            let i = db.find(format!("{n}").as_bytes()).unwrap();
            db.remove(i);
        }
        assert_eq!(db.slot_count(), 0);
        assert_eq!(db.used_bytes(), 5);
    }
}
