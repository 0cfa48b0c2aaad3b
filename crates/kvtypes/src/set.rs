//! Sets: a sorted array of integers while every member is one and there are few
//! (`intset`), a [`DenseSet`] after (Redis's `hashtable`): both index a member by position
//! in O(1), which SRANDMEMBER and SPOP need for O(count) picks.

use std::borrow::Cow;

use crate::dense::DenseSet;

use crate::num::parse_i64;

#[derive(Clone, Debug)]
pub enum Set {
    Ints(Vec<i64>),
    /// Boxed to keep [`Object`](super::Object) small (see `ZSet::Big`).
    Table(Box<DenseSet>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

fn int_bytes(n: i64) -> Cow<'static, [u8]> {
    Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec())
}

impl Set {
    /// An empty set in the encoding Redis picks for a first member `m`.
    pub fn for_member(m: &[u8], max_intset: usize) -> Set {
        if parse_i64(m).is_some() && max_intset > 0 {
            Set::Ints(Vec::new())
        } else {
            Set::Table(Box::default())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn mem_bytes(&self) -> usize {
        match self {
            Set::Ints(v) => crate::malloc_size(v.capacity() * 8),
            Set::Table(t) => crate::malloc_size(std::mem::size_of::<DenseSet>()) + t.mem_bytes(),
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(m).is_some_and(|n| v.binary_search(&n).is_ok()),
            Set::Table(t) => t.contains(m),
        }
    }

    /// Add `m`; true if new.
    pub fn add(&mut self, m: &[u8], max_intset: usize) -> bool {
        if let Set::Ints(v) = self {
            match parse_i64(m) {
                Some(n) => match v.binary_search(&n) {
                    Ok(_) => return false,
                    Err(pos) if v.len() < max_intset => {
                        v.insert(pos, n);
                        return true;
                    }
                    Err(_) => self.convert(),
                },
                None => self.convert(),
            }
        }
        match self {
            Set::Table(t) => t.insert(m, ()),
            Set::Ints(_) => unreachable!("converted above"),
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match parse_i64(m).map(|n| v.binary_search(&n)) {
                Some(Ok(pos)) => {
                    v.remove(pos);
                    true
                }
                _ => false,
            },
            Set::Table(t) => t.remove(m).is_some(),
        }
    }

    fn convert(&mut self) {
        if let Set::Ints(v) = self {
            let mut t = DenseSet::with_capacity(v.len() + 1);
            for &n in v.iter() {
                t.insert(itoa::Buffer::new().format(n).as_bytes(), ());
            }
            *self = Set::Table(Box::new(t));
        }
    }

    /// Every member (ascending for an intset, as Redis returns them).
    pub fn members(&self) -> Vec<Cow<'_, [u8]>> {
        match self {
            Set::Ints(v) => v.iter().map(|&n| int_bytes(n)).collect(),
            Set::Table(t) => t.keys().map(Cow::Borrowed).collect(),
        }
    }

    /// The member at position `k` (`k < len`) of an order that costs nothing to index (the
    /// intset's, the dense table's storage order): a uniform `k` is a uniform member. O(1).
    pub fn nth(&self, k: usize) -> Option<Cow<'_, [u8]>> {
        match self {
            Set::Ints(v) => v.get(k).map(|&n| int_bytes(n)),
            Set::Table(t) => t.at(k).map(|(m, _)| Cow::Borrowed(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_until_a_string_or_too_many() {
        let mut s = Set::for_member(b"5", 3);
        assert!(s.add(b"5", 3));
        assert!(s.add(b"-2", 3));
        assert!(!s.add(b"5", 3));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(
            s.members(),
            vec![Cow::Borrowed(&b"-2"[..]), Cow::Borrowed(b"5")]
        );
        assert!(s.add(b"7", 3));
        assert!(s.add(b"8", 3));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"-2") && s.contains(b"8"));
        let mut t = Set::for_member(b"1", 512);
        t.add(b"1", 512);
        t.add(b"01", 512);
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.remove(b"1") && !t.remove(b"1"));
    }
}
