//! Consumer groups of a stream: the group's pending entries list (PEL: ID -> consumer,
//! delivery time, delivery count), its consumers with their own PELs, its last delivered ID
//! and `entries_read` counter. Costs: lookups, inserts and removals O(log P) in the PEL and
//! O(log C) in the consumers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::StreamId;

/// A pending entry: delivered to `consumer`, not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub consumer: Arc<[u8]>,
    /// Last delivery, unix ms.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    /// Last time the consumer was seen (read, claimed...), unix ms.
    pub seen_time: u64,
    /// IDs pending for this consumer; each is also in its group's PEL pointing here.
    pub pel: BTreeSet<StreamId>,
}

/// `entries_read` value meaning "unknown" (Redis's SCG_INVALID_ENTRIES_READ).
pub const INVALID_ENTRIES_READ: i64 = -1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Last ID delivered to any consumer with `>`.
    pub last_id: StreamId,
    /// Logical count of entries the group has read, or [`INVALID_ENTRIES_READ`].
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    /// Ordered by name, as XINFO CONSUMERS lists them.
    pub consumers: BTreeMap<Arc<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer's shared name, creating it (seen now) when absent; true if created.
    /// O(log C).
    pub fn consumer(&mut self, name: &[u8], now: u64) -> (Arc<[u8]>, bool) {
        if let Some((k, _)) = self.consumers.get_key_value(name) {
            return (k.clone(), false);
        }
        let k: Arc<[u8]> = Arc::from(name);
        self.consumers.insert(
            k.clone(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        (k, true)
    }

    /// Delete a consumer and its pending entries; the number it had pending, None if absent.
    /// O(P log P) for its P pending entries.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledge `id`: true if it was pending. O(log P).
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(n) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&n.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Make `id` pending for `consumer` with the given time and count, moving it from
    /// whichever consumer had it (XREADGROUP's delivery, XCLAIM, replay of either).
    /// The consumer must exist. O(log P).
    pub fn assign(&mut self, id: StreamId, consumer: &Arc<[u8]>, time: u64, count: u64) {
        let nack = Nack {
            consumer: consumer.clone(),
            delivery_time: time,
            delivery_count: count,
        };
        if let Some(old) = self.pel.insert(id, nack) {
            if old.consumer != *consumer {
                if let Some(c) = self.consumers.get_mut(&old.consumer) {
                    c.pel.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }

    /// Pending entries of one consumer (or the whole group) from `start` up to `end`.
    pub fn pending_range(
        &self,
        consumer: Option<&[u8]>,
        start: StreamId,
        end: StreamId,
    ) -> Box<dyn Iterator<Item = (StreamId, &Nack)> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        match consumer {
            None => Box::new(self.pel.range(start..=end).map(|(id, n)| (*id, n))),
            Some(name) => match self.consumers.get(name) {
                None => Box::new(std::iter::empty()),
                Some(c) => Box::new(
                    c.pel
                        .range(start..=end)
                        .filter_map(|id| self.pel.get(id).map(|n| (*id, n))),
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn groups_pel_assign_ack_and_consumer_delete() {
        let mut g = Group::new(StreamId::MIN, 0);
        let (alice, created) = g.consumer(b"alice", 100);
        assert!(created);
        let (bob, _) = g.consumer(b"bob", 100);
        assert!(!g.consumer(b"alice", 200).1);
        g.assign(id(1, 0), &alice, 100, 1);
        g.assign(id(2, 0), &alice, 100, 1);
        g.assign(id(2, 0), &bob, 150, 2);
        assert_eq!(g.consumers[&alice].pel.len(), 1);
        assert_eq!(g.consumers[&bob].pel.len(), 1);
        assert_eq!(g.pel[&id(2, 0)].delivery_count, 2);
        let bobs: Vec<_> = g
            .pending_range(Some(b"bob"), StreamId::MIN, StreamId::MAX)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bobs, vec![id(2, 0)]);
        assert!(g.ack(id(1, 0)));
        assert!(!g.ack(id(1, 0)));
        assert!(g.consumers[&alice].pel.is_empty());
        assert_eq!(g.delete_consumer(b"bob"), Some(1));
        assert!(g.pel.is_empty());
        assert_eq!(g.delete_consumer(b"bob"), None);
    }
}
