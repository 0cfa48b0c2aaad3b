//! Sorted sets: a sorted array while small (`listpack`), a member→score table plus an
//! ordered tree after (`skiplist`). Order is by score, then member bytes, as in Redis.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use hashbrown::HashMap;

use super::Limits;

/// A score with a total order (scores are never NaN; -0 and 0 compare equal as in Redis).
#[derive(Clone, Copy, Debug)]
pub struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Score {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.partial_cmp(&o.0).unwrap_or(Ordering::Equal)
    }
}

#[derive(Clone, Debug)]
pub enum ZSet {
    Small(Vec<(f64, Box<[u8]>)>),
    /// Boxed so that every key's object stays small: the slot of a small collection pays
    /// for the size of the largest form (a million small hashes, the hash memory benchmark).
    Big {
        dict: Box<HashMap<Box<[u8]>, f64>>,
        tree: Box<BTreeSet<(Score, Box<[u8]>)>>,
    },
}

fn cmp_entry(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    Score(a.0).cmp(&Score(b.0)).then_with(|| a.1.cmp(b.1))
}

pub type Iter<'a> = Box<dyn DoubleEndedIterator<Item = (f64, &'a [u8])> + 'a>;

impl ZSet {
    /// An empty sorted set in the encoding Redis picks for a first member `m`.
    pub fn for_member(m: &[u8], lim: &Limits) -> ZSet {
        if lim.zset_entries == 0 || m.len() > lim.zset_value {
            ZSet::Big {
                dict: Box::default(),
                tree: Box::default(),
            }
        } else {
            ZSet::Small(Vec::new())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Small(v) => v.len(),
            ZSet::Big { dict, .. } => dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Small(_) => "listpack",
            ZSet::Big { .. } => "skiplist",
        }
    }

    pub fn mem_bytes(&self) -> usize {
        match self {
            ZSet::Small(v) => v.capacity() * 24 + v.len() * 32,
            ZSet::Big { dict, .. } => dict.capacity() * 25 + dict.len() * 120,
        }
    }

    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            ZSet::Small(v) => v.iter().find(|(_, x)| &**x == m).map(|(s, _)| *s),
            ZSet::Big { dict, .. } => dict.get(m).copied(),
        }
    }

    /// Set `m`'s score; true if it is new.
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
        self.insert_big(m, score) && !existed
    }

    fn insert_big(&mut self, m: &[u8], score: f64) -> bool {
        let ZSet::Big { dict, tree } = self else {
            unreachable!()
        };
        match dict.get_mut(m) {
            Some(old) => {
                if *old != score || old.is_sign_negative() != score.is_sign_negative() {
                    tree.remove(&(Score(*old), Box::from(m)));
                    tree.insert((Score(score), m.into()));
                    *old = score;
                }
                false
            }
            None => {
                dict.insert(m.into(), score);
                tree.insert((Score(score), m.into()));
                true
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            ZSet::Small(v) => match v.iter().position(|(_, x)| &**x == m) {
                Some(p) => {
                    v.remove(p);
                    true
                }
                None => false,
            },
            ZSet::Big { dict, tree } => match dict.remove(m) {
                Some(s) => {
                    tree.remove(&(Score(s), Box::from(m)));
                    true
                }
                None => false,
            },
        }
    }

    fn convert(&mut self) {
        if let ZSet::Small(v) = self {
            let mut dict = HashMap::with_capacity(v.len() + 1);
            let mut tree = BTreeSet::new();
            for (s, m) in v.drain(..) {
                dict.insert(m.clone(), s);
                tree.insert((Score(s), m));
            }
            *self = ZSet::Big {
                dict: Box::new(dict),
                tree: Box::new(tree),
            };
        }
    }

    /// Ascending order (`.rev()` for descending).
    pub fn iter(&self) -> Iter<'_> {
        match self {
            ZSet::Small(v) => Box::new(v.iter().map(|(s, m)| (*s, &**m))),
            ZSet::Big { tree, .. } => Box::new(tree.iter().map(|(s, m)| (s.0, &**m))),
        }
    }

    /// 0-based ascending rank of `m`.
    pub fn rank(&self, m: &[u8]) -> Option<usize> {
        let s = self.score(m)?;
        match self {
            ZSet::Small(v) => v.iter().position(|(_, x)| &**x == m),
            ZSet::Big { tree, .. } => Some(tree.range(..(Score(s), Box::from(m))).count()),
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
