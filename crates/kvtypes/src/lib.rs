//! The value types of the KV server, as data structures and nothing else: collection values
//! (lists, hashes, sets, sorted sets, streams), each with a compact small form and a general large form,
//! converted one way when a config threshold is passed (as Redis converts and never converts
//! back), and the pure helpers they and the commands share (glob matching, Redis's number
//! formats, the x87 `long double` of INCRBYFLOAT).
//!
//! What this crate may not touch: clients, commands, replies, RESP, the keyspace or the log.
//! It depends on nothing of the server, so the compiler keeps it that way, and each structure
//! can be tested, fuzzed and benchmarked alone. Each structure's docs give the Big-O of its
//! operations.
#![forbid(unsafe_code)]

pub mod bitops;
pub mod dense;
pub mod geohash;
pub mod glob;
pub mod hash;
pub mod hll;
pub mod ld;
pub mod list;
pub mod num;
pub mod pack;
pub mod set;
pub mod stream;
pub mod zset;
pub mod ztree;

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use stream::Stream;
pub use zset::ZSet;

#[derive(Clone, Debug)]
pub enum Object {
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    /// Boxed: a stream's header is larger than the other collections', and the object lives
    /// inline in the keyspace's slot, which must stay one 80-byte allocation.
    Stream(Box<Stream>),
}

/// A collection type an [`Object`] holds: how to find it inside one.
pub trait Payload: Sized {
    fn of(o: &Object) -> Option<&Self>;
    fn of_mut(o: &mut Object) -> Option<&mut Self>;
}

macro_rules! payload {
    ($($variant:ident),*) => {$(
        impl Payload for $variant {
            fn of(o: &Object) -> Option<&Self> {
                match o {
                    Object::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn of_mut(o: &mut Object) -> Option<&mut Self> {
                match o {
                    Object::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}
payload!(List, Hash, Set, ZSet);

impl Payload for Stream {
    fn of(o: &Object) -> Option<&Self> {
        match o {
            Object::Stream(v) => Some(v),
            _ => None,
        }
    }
    fn of_mut(o: &mut Object) -> Option<&mut Self> {
        match o {
            Object::Stream(v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::List(_) => Kind::List,
            Object::Hash(_) => Kind::Hash,
            Object::Set(_) => Kind::Set,
            Object::ZSet(_) => Kind::ZSet,
            Object::Stream(_) => Kind::Stream,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Object::List(_) => "list",
            Object::Hash(_) => "hash",
            Object::Set(_) => "set",
            Object::ZSet(_) => "zset",
            Object::Stream(_) => "stream",
        }
    }

    /// OBJECT ENCODING as Redis 7.0 names it (7.0 always says `quicklist` for lists).
    pub fn encoding(&self) -> &'static str {
        match self {
            Object::List(_) => "quicklist",
            Object::Hash(h) => h.encoding(),
            Object::Set(s) => s.encoding(),
            Object::ZSet(z) => z.encoding(),
            Object::Stream(_) => "stream",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Object::List(l) => l.len(),
            Object::Hash(h) => h.len(),
            Object::Set(s) => s.len(),
            Object::ZSet(z) => z.len(),
            Object::Stream(s) => s.len() as usize,
        }
    }

    /// Whether the value should go: an empty collection is never kept, but a stream is
    /// (Redis keeps an empty stream: its last ID and groups still matter).
    pub fn is_empty(&self) -> bool {
        match self {
            Object::Stream(_) => false,
            _ => self.len() == 0,
        }
    }

    /// Heap bytes, estimated in O(1) from lengths and capacities (an average small element
    /// for the general forms), so every mutation can keep the database's total current.
    pub fn mem_bytes(&self) -> usize {
        match self {
            Object::List(l) => l.mem_bytes(),
            Object::Hash(h) => h.mem_bytes(),
            Object::Set(s) => s.mem_bytes(),
            Object::ZSet(z) => z.mem_bytes(),
            Object::Stream(s) => s.mem_bytes(),
        }
    }
}

/// Encoding thresholds (CONFIG SET list-max-listpack-size and friends).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset: usize,
    pub zset_entries: usize,
    pub zset_value: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_entries: 512,
            hash_value: 64,
            set_intset: 512,
            zset_entries: 128,
            zset_value: 64,
        }
    }
}

/// What glibc malloc actually takes for a request of `n` bytes (16-byte chunks, 8 bytes of
/// header, 32 bytes at least).
// Called per request from the kv crate: without #[inline] a non-generic function is not
// inlined across the crate boundary (callgrind: 1,660 -> 1,624 instructions per SET/GET/INCR;
// bench/results/2026-12-03-vm/layout-instr).
#[inline]
pub fn malloc_size(n: usize) -> usize {
    ((n + 8 + 15) & !15).max(32)
}

/// How many allocations freeing `o` walks (Redis's lazyfreeGetFreeEffort): the compact
/// forms are one allocation; the general forms one or more per element.
pub fn free_effort(o: &Object) -> usize {
    match o {
        Object::List(l) => l.len(),
        Object::Set(Set::Table(s)) => s.len(),
        Object::Hash(Hash::Table(h)) => h.len(),
        Object::ZSet(ZSet::Big(t)) => t.len(),
        Object::Stream(s) => {
            s.node_count() + s.groups().values().map(|g| g.pel.len()).sum::<usize>()
        }
        _ => 1,
    }
}
