//! The packed node of a stream: entries back to back in one buffer, IDs and field names
//! delta-encoded against the node's master entry. Private to the stream module; a node is
//! bounded by the node limits, so every scan here is O(1) in the stream's length.

use super::StreamId;

const F_DELETED: u8 = 1;
const F_SAME_FIELDS: u8 = 2;

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(b: &[u8], at: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let byte = b[*at];
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn get_str<'a>(b: &'a [u8], at: &mut usize) -> &'a [u8] {
    let n = get_varint(b, at) as usize;
    let s = &b[*at..*at + n];
    *at += n;
    s
}

/// A packed block of entries. Entry layout in `buf`:
/// `flags ms_delta seq [nfields field*] value*` where `ms_delta = id.ms - master.ms` and
/// `seq` is `id.seq - master.seq` when `ms_delta == 0`, else `id.seq` (both never negative,
/// since IDs in a node are ≥ its master). Field names are present only without
/// `F_SAME_FIELDS`. Strings are `varint(len) bytes`.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) master: StreamId,
    pub(super) master_fields: Box<[Box<[u8]>]>,
    pub(super) buf: Vec<u8>,
    /// Entries stored, deleted ones included.
    pub(super) total: u32,
    /// Entries not flagged deleted.
    pub(super) live: u32,
    pub(super) last: StreamId,
}

/// One decoded entry: its offset (for flagging), ID, and flattened field/value pairs.
pub(super) struct Decoded {
    pub(super) deleted: bool,
    pub(super) id: StreamId,
    /// Offset just past the entry.
    pub(super) end: usize,
}

impl Node {
    pub(super) fn new(id: StreamId, pairs: &[&[u8]]) -> Node {
        let master_fields = pairs
            .chunks(2)
            .map(|p| p[0].to_vec().into_boxed_slice())
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Node {
            master: id,
            master_fields,
            buf: Vec::new(),
            total: 0,
            live: 0,
            last: id,
        }
    }

    pub(super) fn same_fields(&self, pairs: &[&[u8]]) -> bool {
        pairs.len() == self.master_fields.len() * 2
            && pairs
                .chunks(2)
                .zip(self.master_fields.iter())
                .all(|(p, f)| p[0] == &f[..])
    }

    /// Bytes the entry would take (an upper bound is fine: it only decides node splits).
    pub(super) fn entry_size(pairs: &[&[u8]]) -> usize {
        3 + 20 + pairs.iter().map(|s| s.len() + 5).sum::<usize>()
    }

    pub(super) fn push(&mut self, id: StreamId, pairs: &[&[u8]]) {
        let same = self.same_fields(pairs);
        let ms_delta = id.ms - self.master.ms;
        let seq = if ms_delta == 0 {
            id.seq - self.master.seq
        } else {
            id.seq
        };
        self.buf.push(if same { F_SAME_FIELDS } else { 0 });
        put_varint(&mut self.buf, ms_delta);
        put_varint(&mut self.buf, seq);
        if !same {
            put_varint(&mut self.buf, (pairs.len() / 2) as u64);
            for p in pairs.chunks(2) {
                put_str(&mut self.buf, p[0]);
            }
        }
        for p in pairs.chunks(2) {
            put_str(&mut self.buf, p[1]);
        }
        self.total += 1;
        self.live += 1;
        self.last = id;
    }

    /// Decode the entry at `at`; with `out`, its flattened pairs are pushed there.
    pub(super) fn decode<'a>(&'a self, at: usize, out: Option<&mut Vec<&'a [u8]>>) -> Decoded {
        let b = &self.buf;
        let mut p = at;
        let flags = b[p];
        p += 1;
        let ms_delta = get_varint(b, &mut p);
        let seq = get_varint(b, &mut p);
        let id = if ms_delta == 0 {
            StreamId::new(self.master.ms, self.master.seq + seq)
        } else {
            StreamId::new(self.master.ms + ms_delta, seq)
        };
        let mut fields_at = None;
        let n = if flags & F_SAME_FIELDS != 0 {
            self.master_fields.len()
        } else {
            let n = get_varint(b, &mut p) as usize;
            fields_at = Some(p);
            for _ in 0..n {
                get_str(b, &mut p);
            }
            n
        };
        match out {
            Some(out) => {
                let mut fp = fields_at.unwrap_or(0);
                for i in 0..n {
                    let f: &[u8] = match fields_at {
                        None => &self.master_fields[i],
                        Some(_) => get_str(b, &mut fp),
                    };
                    let v = get_str(b, &mut p);
                    out.push(f);
                    out.push(v);
                }
            }
            None => {
                for _ in 0..n {
                    get_str(b, &mut p);
                }
            }
        }
        Decoded {
            deleted: flags & F_DELETED != 0,
            id,
            end: p,
        }
    }

    /// Offsets of every entry (deleted ones included), in order: the reverse walk and the
    /// in-node searches use it (a node is bounded, so this is O(1) in N).
    pub(super) fn offsets(&self) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.total as usize);
        let mut at = 0;
        while at < self.buf.len() {
            v.push(at);
            at = self.decode(at, None).end;
        }
        v
    }

    pub(super) fn find(&self, id: StreamId) -> Option<usize> {
        let mut at = 0;
        while at < self.buf.len() {
            let d = self.decode(at, None);
            if d.id == id {
                return (!d.deleted).then_some(at);
            }
            if d.id > id {
                return None;
            }
            at = d.end;
        }
        None
    }

    pub(super) fn mark_deleted(&mut self, at: usize) {
        self.buf[at] |= F_DELETED;
        self.live -= 1;
    }

    pub(super) fn first_live(&self) -> Option<StreamId> {
        let mut at = 0;
        while at < self.buf.len() {
            let d = self.decode(at, None);
            if !d.deleted {
                return Some(d.id);
            }
            at = d.end;
        }
        None
    }

    pub(super) fn last_live(&self) -> Option<StreamId> {
        self.offsets()
            .iter()
            .rev()
            .map(|&at| self.decode(at, None))
            .find(|d| !d.deleted)
            .map(|d| d.id)
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
            + self
                .master_fields
                .iter()
                .map(|f| f.len() + 16)
                .sum::<usize>()
            + std::mem::size_of::<Node>()
            + 32
    }
}
