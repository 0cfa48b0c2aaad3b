//! Sets and maps of byte strings kept dense: entries in one vector (position = id), found
//! through a hash table of 4-byte ids. The large form of sets and hashes (`hashtable` in
//! Redis's words).
//!
//! Owns only data: no clients, replies or configuration. Why this shape: SRANDMEMBER, SPOP
//! and HRANDFIELD need a uniformly random entry in O(1) (Redis picks a random bucket); a
//! hash table cannot be indexed, a dense vector can. Removing swaps the last entry into the hole and
//! repoints its id (O(1)). Keys and values of at most [`INLINE`] bytes live inside the vector (no
//! allocation of their own), which also makes it smaller than a table of boxed strings.
//!
//! Complexity: insert, remove, contains, `at` O(1) (amortised for inserts); iteration O(N).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::malloc_size;

/// Member bytes kept inline without a heap allocation.
pub const INLINE: usize = 22;

/// A byte string: inline when short (most members), boxed otherwise. 24 bytes either way.
#[derive(Clone)]
pub enum Member {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Member {
    pub fn new(m: &[u8]) -> Member {
        if m.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..m.len()].copy_from_slice(m);
            Member::Inline {
                len: m.len() as u8,
                buf,
            }
        } else {
            Member::Heap(m.into())
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Member::Inline { len, buf } => &buf[..*len as usize],
            Member::Heap(b) => b,
        }
    }

    /// Malloc bytes of its own allocation (0 inline).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Member::Inline { .. } => 0,
            Member::Heap(b) => malloc_size(b.len()),
        }
    }
}

/// Bytes a value owns on the heap, for the O(1) memory estimate.
pub trait HeapSize {
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for () {
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl HeapSize for Member {
    fn heap_bytes(&self) -> usize {
        Member::heap_bytes(self)
    }
}

/// See the module doc. `V = ()` is a set ([`DenseSet`]); `V = Member` a hash's field table.
#[derive(Clone)]
pub struct DenseMap<V> {
    entries: Vec<(Member, V)>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Malloc bytes of keys and values too long to live inline.
    heap: usize,
}

/// A set of byte strings (the large form of a set).
pub type DenseSet = DenseMap<()>;

impl<V> Default for DenseMap<V> {
    fn default() -> Self {
        DenseMap {
            entries: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            heap: 0,
        }
    }
}

impl<V> std::fmt::Debug for DenseMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.keys()).finish()
    }
}

impl<V: HeapSize> DenseMap<V> {
    pub fn with_capacity(n: usize) -> Self {
        DenseMap {
            entries: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            ..DenseMap::default()
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes, in O(1).
    pub fn mem_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(Member, V)>()
            + self.index.capacity() * 5
            + self.heap
    }

    fn find(&self, m: &[u8]) -> Option<u32> {
        let v = &self.entries;
        self.index
            .find(self.hasher.hash_one(m), |&id| v[id as usize].0.bytes() == m)
            .copied()
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        self.find(m).is_some()
    }

    pub fn get(&self, m: &[u8]) -> Option<&V> {
        self.find(m).map(|id| &self.entries[id as usize].1)
    }

    /// Set `m` to `value`; true if `m` is new (otherwise its value is replaced).
    pub fn insert(&mut self, m: &[u8], value: V) -> bool {
        if let Some(id) = self.find(m) {
            let slot = &mut self.entries[id as usize].1;
            self.heap = self.heap - slot.heap_bytes() + value.heap_bytes();
            *slot = value;
            return false;
        }
        let id = u32::try_from(self.entries.len()).expect("a collection holds < 2^32 entries");
        let key = Member::new(m);
        self.heap += key.heap_bytes() + value.heap_bytes();
        self.entries.push((key, value));
        let (v, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hasher.hash_one(m), id, |&j| {
            hasher.hash_one(v[j as usize].0.bytes())
        });
        true
    }

    /// Remove `m`; its value if it was there.
    pub fn remove(&mut self, m: &[u8]) -> Option<V> {
        let h = self.hasher.hash_one(m);
        let v = &self.entries;
        let found = self
            .index
            .find_entry(h, |&id| v[id as usize].0.bytes() == m)
            .ok()?;
        let (id, _) = found.remove();
        let last = (self.entries.len() - 1) as u32;
        if id != last {
            // The last entry moves into the hole: repoint its id.
            let lm = self.entries[last as usize].0.bytes();
            let v = &self.entries;
            if let Some(slot) = self
                .index
                .find_mut(self.hasher.hash_one(lm), |&j| v[j as usize].0.bytes() == lm)
            {
                *slot = id;
            }
        }
        let (key, value) = self.entries.swap_remove(id as usize);
        self.heap -= key.heap_bytes() + value.heap_bytes();
        let n = self.entries.len();
        if self.entries.capacity() > 64 && n * 4 < self.entries.capacity() {
            self.entries.shrink_to(n * 2);
            let (v, hasher) = (&self.entries, &self.hasher);
            self.index
                .shrink_to(n, |&j| hasher.hash_one(v[j as usize].0.bytes()));
        }
        Some(value)
    }
}

impl<V> DenseMap<V> {
    /// The entry at position `p` of the (arbitrary) storage order: a uniformly drawn `p`
    /// is a uniformly drawn entry. O(1).
    pub fn at(&self, p: usize) -> Option<(&[u8], &V)> {
        self.entries.get(p).map(|(k, v)| (k.bytes(), v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> + '_ {
        self.entries.iter().map(|(k, v)| (k.bytes(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.entries.iter().map(|(k, _)| k.bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_a_hash_set_and_stays_dense(ops in prop::collection::vec((any::<bool>(), 0u16..300), 0..2000)) {
            let mut s = DenseSet::default();
            let mut model = std::collections::HashSet::new();
            for (add, k) in ops {
                // Every seventh member is too long to live inline.
                let m = if k.is_multiple_of(7) { format!("{k}-a-member-too-long-to-be-inline") } else { format!("{k}") };
                if add {
                    prop_assert_eq!(s.insert(m.as_bytes(), ()), model.insert(m));
                } else {
                    prop_assert_eq!(s.remove(m.as_bytes()).is_some(), model.remove(&m));
                }
            }
            prop_assert_eq!(s.len(), model.len());
            let got: std::collections::HashSet<String> =
                (0..s.len()).map(|p| String::from_utf8(s.at(p).unwrap().0.to_vec()).unwrap()).collect();
            prop_assert_eq!(&got, &model);
            prop_assert!(s.at(s.len()).is_none());
            for m in &model {
                prop_assert!(s.contains(m.as_bytes()));
            }
            let heap: usize = s.entries.iter().map(|(k, _)| k.heap_bytes()).sum();
            prop_assert_eq!(heap, s.heap);
        }
    }

    #[test]
    fn values_are_replaced_and_counted() {
        let mut h: DenseMap<Member> = DenseMap::default();
        assert!(h.insert(b"f", Member::new(b"short")));
        assert!(!h.insert(b"f", Member::new(&[b'v'; 40])));
        assert_eq!(h.get(b"f").map(Member::bytes), Some(&[b'v'; 40][..]));
        assert_eq!(h.heap, malloc_size(40));
        assert_eq!(h.remove(b"f").map(|v| v.bytes().len()), Some(40));
        assert_eq!(h.heap, 0);
    }

    #[test]
    fn members_up_to_the_inline_size_take_no_allocation() {
        let mut s = DenseSet::default();
        s.insert(&[b'x'; INLINE], ());
        assert_eq!(s.heap, 0);
        s.insert(&[b'x'; INLINE + 1], ());
        assert_eq!(s.heap, malloc_size(INLINE + 1));
        assert!(s.remove(&[b'x'; INLINE]).is_some());
        assert_eq!(s.at(0).map(|e| e.0), Some(&[b'x'; INLINE + 1][..]));
    }
}
