//! A set of byte strings kept dense: members in one vector (position = id), found through
//! a hash table of 4-byte ids. The large form of a set (`hashtable` in Redis's words).
//!
//! Owns only data: no clients, replies or configuration. Why this shape: SRANDMEMBER and
//! SPOP need a uniformly random member in O(1) (Redis picks a random bucket); a hash set
//! cannot be indexed, a dense vector can. Removing swaps the last member into the hole and
//! repoints its id (O(1)). Members of at most [`INLINE`] bytes live inside the vector (no
//! allocation of their own), which also makes it smaller than a set of boxed members.
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

/// See the module doc.
#[derive(Clone, Default)]
pub struct DenseSet {
    members: Vec<Member>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    heap_members: usize,
}

impl std::fmt::Debug for DenseSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl DenseSet {
    pub fn with_capacity(n: usize) -> DenseSet {
        DenseSet {
            members: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            ..DenseSet::default()
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Heap bytes, in O(1).
    pub fn mem_bytes(&self) -> usize {
        self.members.capacity() * std::mem::size_of::<Member>()
            + self.index.capacity() * 5
            + self.heap_members
    }

    fn find(&self, m: &[u8]) -> Option<u32> {
        let v = &self.members;
        self.index
            .find(self.hasher.hash_one(m), |&id| v[id as usize].bytes() == m)
            .copied()
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        self.find(m).is_some()
    }

    /// Add `m`; true if it is new.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        if self.contains(m) {
            return false;
        }
        let id = u32::try_from(self.members.len()).expect("a set holds < 2^32 members");
        let member = Member::new(m);
        self.heap_members += member.heap_bytes();
        self.members.push(member);
        let (v, hasher) = (&self.members, &self.hasher);
        self.index.insert_unique(hasher.hash_one(m), id, |&j| {
            hasher.hash_one(v[j as usize].bytes())
        });
        true
    }

    /// Remove `m`; true if it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        let h = self.hasher.hash_one(m);
        let v = &self.members;
        let Ok(found) = self.index.find_entry(h, |&id| v[id as usize].bytes() == m) else {
            return false;
        };
        let (id, _) = found.remove();
        let last = (self.members.len() - 1) as u32;
        if id != last {
            // The last member moves into the hole: repoint its id.
            let lm = self.members[last as usize].bytes();
            let v = &self.members;
            if let Some(slot) = self
                .index
                .find_mut(self.hasher.hash_one(lm), |&j| v[j as usize].bytes() == lm)
            {
                *slot = id;
            }
        }
        let gone = self.members.swap_remove(id as usize);
        self.heap_members -= gone.heap_bytes();
        let n = self.members.len();
        if self.members.capacity() > 64 && n * 4 < self.members.capacity() {
            self.members.shrink_to(n * 2);
            let (v, hasher) = (&self.members, &self.hasher);
            self.index
                .shrink_to(n, |&j| hasher.hash_one(v[j as usize].bytes()));
        }
        true
    }

    /// The member at position `p` of the (arbitrary) storage order: a uniformly drawn `p`
    /// is a uniformly drawn member. O(1).
    pub fn at(&self, p: usize) -> Option<&[u8]> {
        self.members.get(p).map(Member::bytes)
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.members.iter().map(Member::bytes)
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
                let m = if k % 7 == 0 { format!("{k}-a-member-too-long-to-be-inline") } else { format!("{k}") };
                if add {
                    prop_assert_eq!(s.insert(m.as_bytes()), model.insert(m));
                } else {
                    prop_assert_eq!(s.remove(m.as_bytes()), model.remove(&m));
                }
            }
            prop_assert_eq!(s.len(), model.len());
            let got: std::collections::HashSet<String> =
                (0..s.len()).map(|p| String::from_utf8(s.at(p).unwrap().to_vec()).unwrap()).collect();
            prop_assert_eq!(&got, &model);
            prop_assert!(s.at(s.len()).is_none());
            for m in &model {
                prop_assert!(s.contains(m.as_bytes()));
            }
            let heap: usize = s.members.iter().map(Member::heap_bytes).sum();
            prop_assert_eq!(heap, s.heap_members);
        }
    }

    #[test]
    fn members_up_to_the_inline_size_take_no_allocation() {
        let mut s = DenseSet::default();
        s.insert(&[b'x'; INLINE]);
        assert_eq!(s.heap_members, 0);
        s.insert(&[b'x'; INLINE + 1]);
        assert_eq!(s.heap_members, malloc_size(INLINE + 1));
        assert!(s.remove(&[b'x'; INLINE]));
        assert_eq!(s.at(0), Some(&[b'x'; INLINE + 1][..]));
    }
}
