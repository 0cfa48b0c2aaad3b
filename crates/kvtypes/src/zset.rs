//! Sorted sets: a sorted array while small (`listpack`), an order-statistic index after
//! (`skiplist`, see [`ZTree`]): rank, select by rank and "how many before this bound" in
//! O(log N), so ZRANK, ZCOUNT and every range start cost O(log N) as Redis documents.
//! Order is by score, then member bytes, as in Redis.

use crate::ztree::ZTree;
use crate::Limits;
use std::cmp::Ordering;

#[derive(Clone, Debug)]
pub enum ZSet {
    Small(Vec<(f64, Box<[u8]>)>),
    /// Boxed so that every key's object stays small: the slot of a small collection pays
    /// for the size of the largest form (a million small hashes must stay cheap).
    Big(Box<ZTree>),
}

fn cmp_entry(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    crate::ztree::cmp_key(a, b)
}

/// A walk from a rank, one way: see [`ZSet::iter_from`].
pub enum Iter<'a> {
    Up(std::slice::Iter<'a, (f64, Box<[u8]>)>),
    Down(std::iter::Rev<std::slice::Iter<'a, (f64, Box<[u8]>)>>),
    Big(crate::ztree::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (f64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Up(it) => it.next().map(|(s, m)| (*s, &**m)),
            Iter::Down(it) => it.next().map(|(s, m)| (*s, &**m)),
            Iter::Big(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Up(it) => it.size_hint(),
            Iter::Down(it) => it.size_hint(),
            Iter::Big(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl ZSet {
    /// An empty sorted set in the encoding Redis picks for a first member `m`.
    pub fn for_member(m: &[u8], lim: &Limits) -> ZSet {
        if lim.zset_entries == 0 || m.len() > lim.zset_value {
            ZSet::Big(Box::default())
        } else {
            ZSet::Small(Vec::new())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Small(v) => v.len(),
            ZSet::Big(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Small(_) => "listpack",
            ZSet::Big(_) => "skiplist",
        }
    }

    pub fn mem_bytes(&self) -> usize {
        match self {
            ZSet::Small(v) => v.capacity() * 24 + v.len() * 32,
            ZSet::Big(t) => crate::malloc_size(std::mem::size_of::<ZTree>()) + t.mem_bytes(),
        }
    }

    /// O(1) in the large form; O(N) (N ≤ zset-max-listpack-entries) in the small one.
    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            ZSet::Small(v) => v.iter().find(|(_, x)| &**x == m).map(|(s, _)| *s),
            ZSet::Big(t) => t.score(m),
        }
    }

    /// Set `m`'s score; true if it is new. O(log N) in the large form.
    pub fn insert(&mut self, m: &[u8], score: f64, lim: &Limits) -> bool {
        // -0 is stored as 0 (a listpack keeps the score as text, and Redis writes "0").
        let score = score + 0.0;
        let mut existed = false;
        if let ZSet::Small(v) = self {
            if let Some(p) = v.iter().position(|(_, x)| &**x == m) {
                v.remove(p);
                existed = true;
            }
            if v.len() < lim.zset_entries && m.len() <= lim.zset_value {
                let pos = v
                    .binary_search_by(|(s, x)| cmp_entry((*s, x), (score, m)))
                    .unwrap_or_else(|p| p);
                v.insert(pos, (score, m.into()));
                return !existed;
            }
            self.convert();
        }
        let ZSet::Big(t) = self else {
            unreachable!("converted above")
        };
        t.insert(m, score) && !existed
    }

    /// O(log N) in the large form.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            ZSet::Small(v) => match v.iter().position(|(_, x)| &**x == m) {
                Some(p) => {
                    v.remove(p);
                    true
                }
                None => false,
            },
            ZSet::Big(t) => t.remove(m).is_some(),
        }
    }

    fn convert(&mut self) {
        if let ZSet::Small(v) = self {
            let mut t = ZTree::default();
            for (s, m) in v.drain(..) {
                t.insert(&m, s);
            }
            *self = ZSet::Big(Box::new(t));
        }
    }

    /// Elements from ascending rank `r`: upwards, or (`rev`) downwards to rank 0. Empty when
    /// `r` is past the end. O(log N) to start, O(1) per element.
    pub fn iter_from(&self, r: usize, rev: bool) -> Iter<'_> {
        match self {
            ZSet::Small(v) if rev => {
                let end = if r < v.len() { r + 1 } else { 0 };
                Iter::Down(v[..end].iter().rev())
            }
            ZSet::Small(v) => Iter::Up(v.get(r..).unwrap_or(&[]).iter()),
            ZSet::Big(t) => Iter::Big(t.iter_from(r, rev)),
        }
    }

    /// Ascending order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// Descending order.
    pub fn iter_rev(&self) -> Iter<'_> {
        match self.len() {
            0 => self.iter_from(0, false),
            n => self.iter_from(n - 1, true),
        }
    }

    /// The element at ascending rank `r`. O(log N).
    pub fn select(&self, r: usize) -> Option<(f64, &[u8])> {
        match self {
            ZSet::Small(v) => v.get(r).map(|(s, m)| (*s, &**m)),
            ZSet::Big(t) => t.select(r),
        }
    }

    /// 0-based ascending rank of `m`. O(log N) in the large form.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        match self {
            ZSet::Small(v) => v.iter().position(|(_, x)| &**x == m),
            ZSet::Big(t) => t.rank(m),
        }
    }

    /// How many elements satisfy `before`, a predicate true for a prefix of the order
    /// (`score < min`, `member < bound`): the rank where the rest starts. O(log N).
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Small(v) => v.partition_point(|(s, m)| before(*s, m)),
            ZSet::Big(t) => t.count_before(before),
        }
    }

    /// The element at position `p` (`p < len`) of an order that costs nothing to index
    /// (not the sorted order in the large form): uniform `p` gives a uniform element. O(1).
    pub fn at(&self, p: usize) -> Option<(f64, &[u8])> {
        match self {
            ZSet::Small(v) => v.get(p).map(|(s, m)| (*s, &**m)),
            ZSet::Big(t) => t.at(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_by_score_then_member_in_both_forms() {
        for lim in [
            Limits::default(),
            Limits {
                zset_entries: 2,
                ..Limits::default()
            },
        ] {
            let mut z = ZSet::for_member(b"b", &lim);
            assert!(z.insert(b"b", 2.0, &lim));
            assert!(z.insert(b"a", 2.0, &lim));
            assert!(z.insert(b"c", 1.0, &lim));
            assert!(!z.insert(b"c", 3.0, &lim));
            let order: Vec<&[u8]> = z.iter().map(|(_, m)| m).collect();
            assert_eq!(order, vec![&b"a"[..], b"b", b"c"]);
            assert_eq!(z.rank(b"c"), Some(2));
            assert_eq!(z.score(b"c"), Some(3.0));
            assert!(z.remove(b"a") && !z.remove(b"a"));
            assert_eq!(z.len(), 2);
            assert_eq!(
                z.encoding(),
                if lim.zset_entries == 2 {
                    "skiplist"
                } else {
                    "listpack"
                }
            );
        }
    }
}
