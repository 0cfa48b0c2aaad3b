//! The stream value: an append-only log of entries ordered by ID (`<ms>-<seq>`), plus its
//! consumer groups with their pending entries lists (PELs).
//!
//! Layout, as Redis keeps it: an ordered index (a `BTreeMap` keyed by each node's master ID,
//! standing in for Redis's radix tree) of packed nodes. A node holds up to
//! `stream-node-max-entries` entries / `stream-node-max-bytes` bytes back to back in one
//! buffer. Each entry's ID is stored as a delta against the node's master ID and, when its
//! field names equal the master entry's (the common case: every entry of a producer has the
//! same fields), only the values are stored. An entry of two small fields costs ~9 bytes.
//!
//! Deletion (XDEL, exact trimming inside a node) only flags the entry in place, as Redis
//! does; a node whose entries are all deleted is dropped. IDs stay strictly increasing.
//!
//! This module owns the bytes and the bookkeeping Redis 7.0 keeps for lag: `entries_added`,
//! `max_deleted_id`, `first_id`, each group's `entries_read`. It knows nothing of clients,
//! replies, the log or time sources: callers pass "now" in milliseconds.
//!
//! Costs (N entries, node size bounded by the config so O(1) per node):
//! - `add`: O(log N) to reach the tail node (amortised O(1) bytes appended).
//! - `range` from an ID: O(log N + M) for M entries visited (deleted flags skipped inside
//!   the nodes visited).
//! - `get`, `delete`: O(log N).
//! - `trim`: O(M) for M entries removed (whole nodes dropped in O(log N) each).
//! - groups: create/destroy/lookup O(log G); PEL insert/remove/lookup O(log P).

use std::collections::BTreeMap;
use std::fmt;

mod group;
mod node;

pub use group::{Consumer, Group, Nack, INVALID_ENTRIES_READ};
use node::Node;

/// A stream entry ID: milliseconds and a sequence number within them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::MIN
    }

    /// The smallest ID greater than this one (None past the last possible ID).
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The greatest ID smaller than this one (None before 0-0).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// `<ms>-<seq>` as bytes (the form every reply and log record uses).
    pub fn to_bytes(self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`); 0 means unlimited.
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

// ---------------------------------------------------------------------------------------
// the stream

/// How [`Stream::trim`] decides what to remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries with IDs below this one.
    MinId(StreamId),
}

#[derive(Clone, Debug, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted_id: StreamId,
    entries_added: u64,
    /// Ordered by name, as XINFO GROUPS lists them.
    groups: BTreeMap<Vec<u8>, Group>,
    /// Sum of the nodes' heap bytes, kept current so `mem_bytes` is O(1).
    node_bytes: usize,
}

/// Visitor result for [`Stream::range`]: keep going or stop.
pub type Flow = std::ops::ControlFlow<()>;

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The first live entry's ID (0-0 when empty).
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    pub fn max_deleted_id(&self) -> StreamId {
        self.max_deleted_id
    }

    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// Nodes in the index (XINFO STREAM's radix-tree-nodes stands in for this).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// XSETID: the caller has checked Redis's rules (not below the last entry, etc.).
    pub fn set_last_id(&mut self, id: StreamId) {
        self.last_id = id;
    }

    pub fn set_entries_added(&mut self, n: u64) {
        self.entries_added = n;
    }

    pub fn set_max_deleted_id(&mut self, id: StreamId) {
        self.max_deleted_id = id;
    }

    /// The ID `*` generates at unix time `now_ms`: never below the last one. None when the
    /// last possible ID is taken.
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// Heap bytes, O(1).
    pub fn mem_bytes(&self) -> usize {
        let pel: usize = self
            .groups
            .values()
            .map(|g| 128 + g.pel.len() * 96 + g.consumers.len() * 96)
            .sum();
        self.node_bytes + pel
    }

    /// Append an entry of flattened `field value` pairs with an `id` greater than the last
    /// one (the caller checks; 0-0 is not allowed). O(log N).
    pub fn add(&mut self, id: StreamId, pairs: &[&[u8]], limits: NodeLimits) {
        debug_assert!(id > self.last_id && pairs.len() & 1 == 0);
        let size = Node::entry_size(pairs);
        let tail_fits = self.nodes.last_key_value().is_some_and(|(_, n)| {
            (limits.max_entries == 0 || (n.total as usize) < limits.max_entries)
                && (limits.max_bytes == 0 || n.buf.len() + size <= limits.max_bytes)
        });
        if !tail_fits {
            // The tail node is sealed: give back its growth slack.
            if let Some((_, n)) = self.nodes.last_key_value() {
                let before = n.heap_bytes();
                let mut n = self.nodes.pop_last().expect("present").1;
                n.buf.shrink_to_fit();
                self.node_bytes = self.node_bytes - before + n.heap_bytes();
                self.nodes.insert(n.master, n);
            }
            let n = Node::new(id, pairs);
            self.node_bytes += n.heap_bytes();
            self.nodes.insert(id, n);
        }
        let (_, node) = self.nodes.last_key_value().expect("tail node");
        let before = node.heap_bytes();
        let node = self.nodes.values_mut().next_back().expect("tail node");
        node.push(id, pairs);
        self.node_bytes = self.node_bytes - before + node.heap_bytes();
        if self.length == 0 {
            self.first_id = id;
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// Visit live entries with IDs in `start..=end`, ascending (or descending with `rev`),
    /// until `f` says stop. O(log N + M).
    pub fn range<'s>(
        &'s self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, &[&'s [u8]]) -> Flow,
    ) {
        if start > end || self.length == 0 {
            return;
        }
        // The node holding `start` is the last one whose master is ≤ start.
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(StreamId::MIN);
        let mut pairs: Vec<&[u8]> = Vec::new();
        // One entry: None to keep scanning, Some(flow) when the visitor ran or the walk
        // passed the far end of the range.
        fn step<'s>(
            node: &'s Node,
            at: usize,
            pairs: &mut Vec<&'s [u8]>,
            (start, end, rev): (StreamId, StreamId, bool),
            f: &mut impl FnMut(StreamId, &[&'s [u8]]) -> Flow,
        ) -> Option<Flow> {
            pairs.clear();
            let d = node.decode(at, Some(pairs));
            if (!rev && d.id > end) || (rev && d.id < start) {
                return Some(Flow::Break(()));
            }
            if d.deleted || d.id < start || d.id > end {
                return None;
            }
            Some(f(d.id, pairs))
        }
        let bounds = (start, end, rev);
        let mut visit = |node, at| step(node, at, &mut pairs, bounds, &mut f);
        if !rev {
            for node in self.nodes.range(from..=end).map(|(_, n)| n) {
                if node.last < start {
                    continue;
                }
                let mut at = 0;
                while at < node.buf.len() {
                    let end_at = node.decode(at, None).end;
                    if let Some(Flow::Break(())) = visit(node, at) {
                        return;
                    }
                    at = end_at;
                }
            }
        } else {
            for node in self.nodes.range(from..=end).rev().map(|(_, n)| n) {
                if node.last < start {
                    return;
                }
                for at in node.offsets().into_iter().rev() {
                    if let Some(Flow::Break(())) = visit(node, at) {
                        return;
                    }
                }
            }
        }
    }

    /// Collect up to `count` (0: all) entries of `start..=end` as owned pairs.
    pub fn collect(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<(StreamId, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        self.range(start, end, rev, |id, p| {
            out.push((id, p.iter().map(|s| s.to_vec()).collect()));
            if count != 0 && out.len() >= count {
                Flow::Break(())
            } else {
                Flow::Continue(())
            }
        });
        out
    }

    /// The live entry `id`, as owned pairs. O(log N).
    pub fn get(&self, id: StreamId) -> Option<Vec<Vec<u8>>> {
        let (_, node) = self.nodes.range(..=id).next_back()?;
        let at = node.find(id)?;
        let mut pairs = Vec::new();
        node.decode(at, Some(&mut pairs));
        Some(pairs.iter().map(|s| s.to_vec()).collect())
    }

    /// Whether the live entry `id` exists. O(log N).
    pub fn contains(&self, id: StreamId) -> bool {
        self.nodes
            .range(..=id)
            .next_back()
            .is_some_and(|(_, n)| n.find(id).is_some())
    }

    /// XDEL one ID: true if it was there. Keeps `max_deleted_id` and `first_id` as Redis
    /// 7.0 does. O(log N).
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&key, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(at) = node.find(id) else {
            return false;
        };
        node.mark_deleted(at);
        if node.live == 0 {
            let n = self.nodes.remove(&key).expect("present");
            self.node_bytes -= n.heap_bytes();
        }
        self.length -= 1;
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.first_live();
        }
        true
    }

    fn first_live(&self) -> StreamId {
        self.nodes
            .values()
            .find_map(Node::first_live)
            .unwrap_or(StreamId::MIN)
    }

    /// The last live entry's ID (0-0 when empty); differs from `last_id` after XDEL of the
    /// tail. O(log N).
    pub fn last_live_id(&self) -> StreamId {
        self.nodes
            .values()
            .rev()
            .find_map(Node::last_live)
            .unwrap_or(StreamId::MIN)
    }

    /// XTRIM / XADD's trimming, as Redis 7.0's `streamTrim`: whole nodes go while they
    /// are entirely out of the kept range; `approx` stops at the first node that cannot go
    /// whole; `limit` (0: none) caps the entries removed, counted in whole nodes. Returns
    /// the number of entries removed. O(M) for M removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((&key, node)) = self.nodes.first_key_value() {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let entries = u64::from(node.live);
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let whole = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => node.last < min,
            };
            if whole {
                let n = self.nodes.remove(&key).expect("present");
                self.node_bytes -= n.heap_bytes();
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let node = self.nodes.get_mut(&key).expect("present");
            let mut at = 0;
            while at < node.buf.len() {
                let d = node.decode(at, None);
                let (id, gone, next) = (d.id, d.deleted, d.end);
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if !gone {
                    node.mark_deleted(at);
                    self.length -= 1;
                    deleted += 1;
                }
                at = next;
            }
            break;
        }
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.first_live()
        };
        deleted
    }

    // ------------------------------------------------------------------ lag bookkeeping

    /// Whether an entry between `start` and `end` (inclusive; None: open) was deleted
    /// (Redis's `streamRangeHasTombstones`): then counting entries by subtraction is wrong.
    pub fn range_has_tombstones(&self, start: Option<StreamId>, end: Option<StreamId>) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        let s = start.unwrap_or(StreamId::MIN);
        let e = end.unwrap_or(StreamId::MAX);
        s <= self.max_deleted_id && self.max_deleted_id <= e
    }

    /// The logical position ("entries read to reach it") of `id` when it can be known
    /// without scanning (Redis's `streamEstimateDistanceFromFirstEverEntry`), else
    /// [`INVALID_ENTRIES_READ`].
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        let added = self.entries_added as i64;
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        }
        if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return added - self.length as i64;
            }
            if id == self.first_id {
                return added - self.length as i64 + 1;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag (entries not yet delivered), None when it cannot be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if g.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(Some(g.last_id), None)
        {
            return Some(self.entries_added as i64 - g.entries_read);
        }
        let read = self.estimate_distance(g.last_id);
        (read != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - read)
    }

    // ------------------------------------------------------------------ groups

    pub fn groups(&self) -> &BTreeMap<Vec<u8>, Group> {
        &self.groups
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.get_mut(name)
    }

    /// False if a group of that name exists. O(log G).
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        if self.groups.contains_key(name) {
            return false;
        }
        self.groups
            .insert(name.to_vec(), Group::new(last_id, entries_read));
        true
    }

    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.remove(name).is_some()
    }

    /// A group read `id` with `>`: move its last ID and keep `entries_read` exact when
    /// possible, as Redis 7.0 does when serving XREADGROUP. O(log G).
    pub fn group_advance(&mut self, name: &[u8], id: StreamId) {
        let Some(g) = self.groups.get(name) else {
            return;
        };
        if id <= g.last_id {
            return;
        }
        let valid = g.entries_read != INVALID_ENTRIES_READ;
        let read = if valid && !self.range_has_tombstones(Some(id), None) {
            Some(g.entries_read + 1)
        } else if self.entries_added != 0 {
            Some(self.estimate_distance(id))
        } else {
            None
        };
        let g = self.groups.get_mut(name).expect("present");
        if let Some(r) = read {
            g.entries_read = r;
        }
        g.last_id = id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn ids(s: &Stream, start: StreamId, end: StreamId, rev: bool) -> Vec<StreamId> {
        s.collect(start, end, rev, 0)
            .into_iter()
            .map(|e| e.0)
            .collect()
    }

    fn small() -> NodeLimits {
        NodeLimits {
            max_bytes: 0,
            max_entries: 3,
        }
    }

    #[test]
    fn add_and_range_both_ways_across_nodes() {
        let mut s = Stream::new();
        for i in 1..=10 {
            s.add(
                id(i, 0),
                &[b"f", b"v", b"g", i.to_string().as_bytes()],
                small(),
            );
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.node_count(), 4);
        let all = ids(&s, StreamId::MIN, StreamId::MAX, false);
        assert_eq!(all, (1..=10).map(|i| id(i, 0)).collect::<Vec<_>>());
        let back = ids(&s, id(3, 0), id(8, 0), true);
        assert_eq!(back, (3..=8).rev().map(|i| id(i, 0)).collect::<Vec<_>>());
        assert_eq!(
            s.collect(id(5, 0), StreamId::MAX, false, 2)[1].1,
            vec![b"f".to_vec(), b"v".to_vec(), b"g".to_vec(), b"6".to_vec()]
        );
        assert!(ids(&s, id(11, 0), StreamId::MAX, false).is_empty());
        assert!(ids(&s, id(5, 0), id(4, 0), false).is_empty());
    }

    #[test]
    fn differing_fields_and_sequence_deltas_round_trip() {
        let mut s = Stream::new();
        s.add(id(100, 5), &[b"a", b"1"], NodeLimits::default());
        s.add(id(100, 6), &[b"b", b"2", b"c", b""], NodeLimits::default());
        s.add(id(250, 0), &[b"a", b"3"], NodeLimits::default());
        s.add(id(250, 1), &[], NodeLimits::default());
        let got = s.collect(StreamId::MIN, StreamId::MAX, false, 0);
        assert_eq!(
            got.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![id(100, 5), id(100, 6), id(250, 0), id(250, 1)]
        );
        assert_eq!(
            got[1].1,
            vec![b"b".to_vec(), b"2".to_vec(), b"c".to_vec(), vec![]]
        );
        assert_eq!(got[2].1, vec![b"a".to_vec(), b"3".to_vec()]);
        assert!(got[3].1.is_empty());
        assert_eq!(s.get(id(100, 6)).unwrap()[0], b"b".to_vec());
        assert!(s.get(id(100, 7)).is_none());
    }

    #[test]
    fn same_fields_are_not_stored_again() {
        let mut s = Stream::new();
        for i in 1..=100 {
            s.add(
                id(i, 0),
                &[b"field-one", b"v1", b"field-two", b"v2"],
                NodeLimits::default(),
            );
        }
        let n = s.nodes.values().next().unwrap();
        // flags + 1-byte deltas + two 3-byte values: 9 bytes an entry.
        assert_eq!(n.buf.len(), 100 * 9);
    }

    #[test]
    fn node_byte_limit_splits() {
        let mut s = Stream::new();
        let lim = NodeLimits {
            max_bytes: 200,
            max_entries: 0,
        };
        for i in 1..=50 {
            s.add(id(i, 0), &[b"f", &[b'x'; 40]], lim);
        }
        assert!(s.node_count() > 10);
        assert_eq!(s.len(), 50);
        assert_eq!(ids(&s, StreamId::MIN, StreamId::MAX, true).len(), 50);
    }

    #[test]
    fn delete_tracks_first_and_max_deleted_and_drops_empty_nodes() {
        let mut s = Stream::new();
        for i in 1..=6 {
            s.add(id(i, 0), &[b"f", b"v"], small());
        }
        assert!(s.delete(id(1, 0)));
        assert!(!s.delete(id(1, 0)));
        assert_eq!(s.first_id(), id(2, 0));
        assert_eq!(s.max_deleted_id(), id(1, 0));
        assert!(s.delete(id(2, 0)) && s.delete(id(3, 0)));
        assert_eq!(s.node_count(), 1);
        assert_eq!(s.first_id(), id(4, 0));
        assert!(s.delete(id(6, 0)));
        assert_eq!(s.last_id(), id(6, 0));
        assert_eq!(s.last_live_id(), id(5, 0));
        assert_eq!(s.max_deleted_id(), id(6, 0));
        assert_eq!(
            ids(&s, StreamId::MIN, StreamId::MAX, true),
            vec![id(5, 0), id(4, 0)]
        );
        assert!(!s.contains(id(6, 0)) && s.contains(id(5, 0)));
        assert!(s.delete(id(4, 0)) && s.delete(id(5, 0)));
        assert_eq!(s.len(), 0);
        assert_eq!(s.first_id(), StreamId::MIN);
        assert_eq!(s.node_count(), 0);
    }

    #[test]
    fn trim_exact_and_approx() {
        let mk = || {
            let mut s = Stream::new();
            for i in 1..=10 {
                s.add(id(i, 0), &[b"f", b"v"], small());
            }
            s
        };
        let mut s = mk();
        assert_eq!(s.trim(Trim::MaxLen(5), false, 0), 5);
        assert_eq!(ids(&s, StreamId::MIN, StreamId::MAX, false)[0], id(6, 0));
        assert_eq!(s.first_id(), id(6, 0));
        // Approximate: only whole nodes (of 3) go; 10 -> 7 -> 4 would pass 5, so 7 stays.
        let mut s = mk();
        assert_eq!(s.trim(Trim::MaxLen(5), true, 0), 3);
        assert_eq!(s.len(), 7);
        // LIMIT caps the whole nodes removed.
        let mut s = mk();
        assert_eq!(s.trim(Trim::MaxLen(0), true, 4), 3);
        let mut s = mk();
        assert_eq!(s.trim(Trim::MinId(id(5, 0)), false, 0), 4);
        assert_eq!(s.first_id(), id(5, 0));
        let mut s = mk();
        assert_eq!(s.trim(Trim::MinId(id(5, 0)), true, 0), 3);
        assert_eq!(s.trim(Trim::MaxLen(0), false, 0), 7);
        assert!(s.is_empty());
        assert_eq!(s.node_count(), 0);
    }

    #[test]
    fn auto_ids_never_go_back() {
        let mut s = Stream::new();
        assert_eq!(s.next_auto_id(5), Some(id(5, 0)));
        s.add(id(10, 3), &[b"f", b"v"], small());
        assert_eq!(s.next_auto_id(5), Some(id(10, 4)));
        assert_eq!(s.next_auto_id(11), Some(id(11, 0)));
        s.set_last_id(id(10, u64::MAX));
        assert_eq!(s.next_auto_id(5), Some(id(11, 0)));
        s.set_last_id(StreamId::MAX);
        assert_eq!(s.next_auto_id(5), None);
        assert_eq!(id(3, 0).prev(), Some(id(2, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
        assert_eq!(id(1, 2).to_string(), "1-2");
    }

    #[test]
    fn lag_as_redis_counts_it() {
        let mut s = Stream::new();
        assert!(s.create_group(b"g", StreamId::MIN, INVALID_ENTRIES_READ));
        assert!(!s.create_group(b"g", StreamId::MIN, 0));
        assert_eq!(s.lag(s.group(b"g").unwrap()), Some(0));
        for i in 1..=5 {
            s.add(id(i, 0), &[b"f", b"v"], small());
        }
        // Group at 0-0, before the first entry and no tombstones: all 5 are lag.
        assert_eq!(s.lag(s.group(b"g").unwrap()), Some(5));
        s.group_advance(b"g", id(1, 0));
        s.group_advance(b"g", id(2, 0));
        assert_eq!(s.group(b"g").unwrap().entries_read, 2);
        assert_eq!(s.lag(s.group(b"g").unwrap()), Some(3));
        // A tombstone ahead of the group makes the lag unknown.
        s.delete(id(4, 0));
        assert_eq!(s.lag(s.group(b"g").unwrap()), None);
        // Reading 3 with the tombstone ahead loses the count; reaching the last ID finds it.
        s.group_advance(b"g", id(3, 0));
        assert_eq!(s.group(b"g").unwrap().entries_read, INVALID_ENTRIES_READ);
        s.group_advance(b"g", id(5, 0));
        let g = s.group(b"g").unwrap();
        assert_eq!(g.entries_read, 5);
        assert_eq!(s.lag(g), Some(0));
        assert!(s.range_has_tombstones(None, None));
        assert!(!s.range_has_tombstones(Some(id(5, 0)), None));
        assert!(s.destroy_group(b"g") && !s.destroy_group(b"g"));
    }

    #[test]
    fn memory_is_accounted_and_clones_are_equal() {
        let mut s = Stream::new();
        for i in 0..1000 {
            s.add(
                id(i + 1, 0),
                &[b"f1", b"v1", b"f2", b"v2"],
                NodeLimits::default(),
            );
        }
        let m = s.mem_bytes();
        assert!(m > 9 * 1000 && m < 40 * 1000, "{m}");
        let c = s.clone();
        assert_eq!(
            c.collect(StreamId::MIN, StreamId::MAX, false, 0),
            s.collect(StreamId::MIN, StreamId::MAX, false, 0)
        );
        s.trim(Trim::MaxLen(0), false, 0);
        assert!(s.mem_bytes() < 100, "{}", s.mem_bytes());
    }

    /// Random adds, deletes, trims and ranges against a plain ordered map.
    #[test]
    fn random_ops_match_a_btreemap_model() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..20 {
            let lim = NodeLimits {
                max_bytes: if round % 2 == 0 { 64 } else { 0 },
                max_entries: 1 + round as usize % 5,
            };
            let mut s = Stream::new();
            let mut m: BTreeMap<StreamId, Vec<Vec<u8>>> = BTreeMap::new();
            for _ in 0..400 {
                match rnd(10) {
                    0..=4 => {
                        let nid = s.next_auto_id(s.last_id().ms + rnd(3)).unwrap();
                        let nf = rnd(3) as usize;
                        let names: [&[u8]; 3] = [b"a", b"bb", b"c"];
                        let v = nid.seq.to_string();
                        let mut pairs: Vec<&[u8]> = Vec::new();
                        for name in names.iter().take(nf) {
                            pairs.push(name);
                            pairs.push(v.as_bytes());
                        }
                        s.add(nid, &pairs, lim);
                        m.insert(nid, pairs.iter().map(|p| p.to_vec()).collect());
                    }
                    5 | 6 => {
                        let keys: Vec<_> = m.keys().copied().collect();
                        if !keys.is_empty() {
                            let k = keys[rnd(keys.len() as u64) as usize];
                            assert!(s.delete(k));
                            m.remove(&k);
                        }
                    }
                    7 => {
                        let max = rnd(m.len() as u64 + 3);
                        let removed = s.trim(Trim::MaxLen(max), false, 0);
                        let want = (m.len() as u64).saturating_sub(max);
                        assert_eq!(removed, want);
                        while m.len() as u64 > max {
                            m.pop_first();
                        }
                    }
                    _ => {
                        let a = StreamId::new(rnd(s.last_id().ms + 2), rnd(3));
                        let b = StreamId::new(rnd(s.last_id().ms + 2), rnd(3));
                        let rev = rnd(2) == 0;
                        let count = rnd(4) as usize;
                        let got = s.collect(a, b, rev, count);
                        let mut want: Vec<_> = if a <= b {
                            m.range(a..=b).map(|(k, v)| (*k, v.clone())).collect()
                        } else {
                            Vec::new()
                        };
                        if rev {
                            want.reverse();
                        }
                        if count != 0 {
                            want.truncate(count);
                        }
                        assert_eq!(got, want);
                    }
                }
                assert_eq!(s.len(), m.len() as u64);
                let first = m.keys().next().copied().unwrap_or(StreamId::MIN);
                assert_eq!(s.first_id(), first);
                let last = m.keys().next_back().copied().unwrap_or(StreamId::MIN);
                assert_eq!(s.last_live_id(), last);
            }
        }
    }
}
