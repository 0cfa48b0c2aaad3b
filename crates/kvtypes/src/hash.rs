//! Hashes: a [`Pack`] of field, value pairs while small (`listpack`), a hash table after.

use crate::dense::{DenseMap, Member};

use super::pack::Pack;
use super::Limits;

/// The general form: field -> value.
pub type Table = DenseMap<Member>;

#[derive(Clone, Debug)]
pub enum Hash {
    Pack(Pack),
    /// Boxed to keep [`Object`](super::Object) small (see `ZSet::Big`).
    Table(Box<Table>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Pack::default())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.count() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn mem_bytes(&self) -> usize {
        match self {
            Hash::Pack(p) => crate::malloc_size(p.capacity()),
            Hash::Table(t) => crate::malloc_size(std::mem::size_of::<Table>()) + t.mem_bytes(),
        }
    }

    /// (field start, value start, value data, value end) of `field` in the pack.
    fn find_packed(p: &Pack, field: &[u8]) -> Option<(usize, usize, usize, usize)> {
        let mut it = p.spans();
        while let Some((fs, fd, fe)) = it.next() {
            let (vs, vd, ve) = it.next()?;
            if p.bytes(fd, fe) == field {
                return Some((fs, vs, vd, ve));
            }
        }
        None
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => Self::find_packed(p, field).map(|(_, _, d, e)| p.bytes(d, e)),
            Hash::Table(t) => t.get(field).map(Member::bytes),
        }
    }

    /// A new (empty, packed) hash about to receive `pairs`: size its buffer once, exactly,
    /// rather than growing it entry by entry.
    pub fn reserve_new<'a>(&mut self, pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) {
        if let Hash::Pack(p) = self {
            if p.count() == 0 {
                p.reserve(
                    pairs
                        .map(|(f, v)| Pack::entry_len(f) + Pack::entry_len(v))
                        .sum(),
                );
            }
        }
    }

    /// Set `field`; true if it is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: &Limits) -> bool {
        if let Hash::Pack(p) = self {
            if field.len() > lim.hash_value || value.len() > lim.hash_value {
                self.convert();
            } else if let Some((_, vs, _, ve)) = Self::find_packed(p, field) {
                p.replace(vs, ve, value);
                return false;
            } else if p.count() / 2 + 1 > lim.hash_entries {
                self.convert();
            } else {
                p.push(field);
                p.push(value);
                return true;
            }
        }
        match self {
            Hash::Table(t) => t.insert(field, Member::new(value)),
            Hash::Pack(_) => unreachable!("converted above"),
        }
    }

    pub fn del(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => match Self::find_packed(p, field) {
                Some((fs, _, _, ve)) => {
                    p.remove(fs, ve, 2);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.remove(field).is_some(),
        }
    }

    fn convert(&mut self) {
        if let Hash::Pack(p) = self {
            let mut t = Table::with_capacity(p.count() / 2 + 1);
            {
                let mut it = p.iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    t.insert(f, Member::new(v));
                }
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// The (field, value) at position `p` (`p < len`) of an order that is cheap to index:
    /// a uniform `p` is a uniform field. O(1) in the table form; O(N) packed (N is at most
    /// hash-max-listpack-entries there).
    pub fn at(&self, p: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(pk) => {
                let mut it = pk.iter().skip(p * 2);
                Some((it.next()?, it.next()?))
            }
            Hash::Table(t) => t.at(p).map(|(f, v)| (f, v.bytes())),
        }
    }

    /// Every (field, value), in insertion order while packed.
    pub fn pairs(&self) -> Vec<(&[u8], &[u8])> {
        match self {
            Hash::Pack(p) => {
                let mut out = Vec::with_capacity(p.count() / 2);
                let mut it = p.iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    out.push((f, v));
                }
                out
            }
            Hash::Table(t) => t.iter().map(|(f, v)| (f, v.bytes())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_past_the_thresholds() {
        let lim = Limits {
            hash_entries: 3,
            ..Limits::default()
        };
        let mut h = Hash::default();
        assert!(h.set(b"a", b"1", &lim));
        assert!(!h.set(b"a", b"2", &lim));
        assert!(h.set(b"b", b"3", &lim));
        assert!(h.set(b"c", b"4", &lim));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
        assert!(h.del(b"b"));
        assert_eq!(h.pairs(), vec![(&b"a"[..], &b"2"[..]), (b"c", b"4")]);
        assert!(h.set(b"d", b"5", &lim));
        assert!(h.set(b"e", b"6", &lim));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 4);
        assert_eq!(h.get(b"c"), Some(&b"4"[..]));
        let mut big = Hash::default();
        big.set(b"f", &[b'x'; 65], &Limits::default());
        assert_eq!(big.encoding(), "hashtable");
    }
}
