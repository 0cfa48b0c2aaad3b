//! A listpack-like buffer: length-prefixed byte strings back to back in one allocation.
//! Small hashes live in one of these, so a hash of ten short fields costs one allocation
//! instead of twenty plus a table.

/// Entries are `varint(len) bytes`; a varint is LEB128 (one byte below 128).
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Pack {
    buf: Vec<u8>,
    count: u32,
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(b: &[u8], mut at: usize) -> (usize, usize) {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let byte = b[at];
        at += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (n, at);
        }
        shift += 7;
    }
}

fn encode(v: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(v.len() + 2);
    put_varint(&mut e, v.len());
    e.extend_from_slice(v);
    e
}

impl Pack {
    /// Number of entries.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Room for `additional` more bytes of entries, exactly (see [`push`](Self::push)).
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve_exact(additional);
    }

    /// Bytes an entry holding `v` takes.
    pub fn entry_len(v: &[u8]) -> usize {
        let mut n = v.len();
        let mut b = 1;
        while n >= 0x80 {
            n >>= 7;
            b += 1;
        }
        b + v.len()
    }

    /// Appends grow the buffer to the exact size, as Redis's listpack reallocs per insert:
    /// doubling would leave a small hash (the common case, a million of them in the hash memory
    /// memory target) with up to half its allocation unused.
    pub fn push(&mut self, v: &[u8]) {
        self.buf.reserve_exact(Self::entry_len(v));
        put_varint(&mut self.buf, v.len());
        self.buf.extend_from_slice(v);
        self.count += 1;
    }

    /// (start of entry, start of data, end of entry) for every entry in order.
    pub fn spans(&self) -> Spans<'_> {
        Spans {
            b: &self.buf,
            at: 0,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans().map(|(_, d, e)| &self.buf[d..e])
    }

    pub fn bytes(&self, data: usize, end: usize) -> &[u8] {
        &self.buf[data..end]
    }

    /// Remove the entries in `start..end` (entry boundaries), `n` of them.
    pub fn remove(&mut self, start: usize, end: usize, n: usize) {
        self.buf.drain(start..end);
        self.count -= n as u32;
        if self.buf.capacity() > 64 && self.buf.len() * 2 < self.buf.capacity() {
            self.buf.shrink_to(self.buf.len() * 5 / 4);
        }
    }

    /// Replace the entry spanning `start..end` with `v`.
    pub fn replace(&mut self, start: usize, end: usize, v: &[u8]) {
        let e = encode(v);
        if e.len() > end - start {
            self.buf.reserve_exact(e.len() - (end - start));
        }
        self.buf.splice(start..end, e);
    }

    /// Insert `v` as an entry at byte offset `at` (an entry boundary).
    pub fn insert(&mut self, at: usize, v: &[u8]) {
        let e = encode(v);
        self.buf.reserve_exact(e.len());
        self.buf.splice(at..at, e);
        self.count += 1;
    }

    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }
}

pub struct Spans<'a> {
    b: &'a [u8],
    at: usize,
}

impl Iterator for Spans<'_> {
    type Item = (usize, usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.b.len() {
            return None;
        }
        let start = self.at;
        let (n, d) = get_varint(self.b, start);
        self.at = d + n;
        Some((start, d, d + n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_iter_replace_remove() {
        let mut p = Pack::default();
        let long = vec![b'x'; 300];
        for v in [&b"a"[..], b"", &long, b"bc"] {
            p.push(v);
        }
        assert_eq!(p.count(), 4);
        let got: Vec<&[u8]> = p.iter().collect();
        assert_eq!(got, vec![&b"a"[..], b"", &long[..], b"bc"]);
        let spans: Vec<_> = p.spans().collect();
        p.replace(spans[2].0, spans[2].2, b"short");
        assert_eq!(p.iter().nth(2), Some(&b"short"[..]));
        let spans: Vec<_> = p.spans().collect();
        p.remove(spans[0].0, spans[1].2, 2);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"short"[..], b"bc"]);
        p.insert(0, b"z");
        assert_eq!(p.iter().next(), Some(&b"z"[..]));
        assert_eq!(p.count(), 3);
    }
}
