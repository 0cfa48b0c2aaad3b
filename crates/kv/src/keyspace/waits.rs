//! Keys that clients wait for, and the keys signalled "ready" for them: Redis's
//! `db->blocking_keys` and `db->ready_keys` / `server.ready_keys`, one [`Waits`] per database.
//!
//! The rule (Redis 7.0's `signalKeyAsReady` + `handleClientsBlockedOnKeys`): a change that may
//! let a waiting client proceed only *marks* the key ready; nobody is served while a command,
//! a MULTI/EXEC block or a script runs. After the whole of it, the dispatcher takes the ready
//! keys and lets each waiting family serve its clients from what those keys hold *then*. So
//! `MULTI; RPUSH l a; DEL l; RPUSH l b; EXEC` answers `[1,1,1]` and the waiter gets `b`, and
//! `LPUSH l x; DEL l` wakes nobody.
//!
//! Who signals:
//! - every key *addition* (`Db::insert_new`, `Db::insert_obj`: Redis's `dbAdd`) signals the key
//!   automatically, so RENAME, MOVE, COPY, the *STORE commands, LMOVE, SORT ... STORE and any
//!   future command that creates a key wake waiters without a hook of their own;
//! - a change that can serve a waiter without adding the key (XADD to an existing stream)
//!   calls [`Waits::signal`] itself (`Db::signal_ready`);
//! - SWAPDB re-scans: waiters stay with the database *number*, so every waited key that exists
//!   in the database swapped in is signalled (`Db::signal_present`).
//!
//! How a family uses it: register its blocked client on each key with [`Waits::add`] (oldest
//! first is the serving order), remove it with [`Waits::remove`] when it is served, times out
//! or disconnects; serve from the keys `take_ready` returns (see `commands::blocking`, which
//! owns the parked clients of every family). Signalling a key nobody waits for costs one
//! hash lookup, and nothing at all while no client waits in that database.
//!
//! What it may not touch: clients, replies, the log. It only knows client ids and keys.

use std::collections::VecDeque;

use hashbrown::HashMap;

#[derive(Default)]
struct Queue {
    /// Waiting client ids, oldest first.
    clients: VecDeque<u64>,
    /// Already in `ready` (each key is listed once per round, as Redis's db->ready_keys).
    ready: bool,
}

/// One database's waited keys and ready keys.
#[derive(Default)]
pub struct Waits {
    queues: HashMap<Box<[u8]>, Queue>,
    ready: Vec<Box<[u8]>>,
}

impl Waits {
    /// Nobody waits on any key of this database.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Client `id` waits on `key` (after every client already waiting there). O(1).
    pub fn add(&mut self, key: &[u8], id: u64) {
        let q = self.queues.entry_ref(key).or_default();
        if !q.clients.contains(&id) {
            q.clients.push_back(id);
        }
    }

    /// Client `id` no longer waits on `key`. O(waiters of `key`).
    pub fn remove(&mut self, key: &[u8], id: u64) {
        if let Some(q) = self.queues.get_mut(key) {
            q.clients.retain(|&c| c != id);
            if q.clients.is_empty() {
                self.queues.remove(key);
            }
        }
    }

    /// The clients waiting on `key`, oldest first.
    pub fn waiters(&self, key: &[u8]) -> Vec<u64> {
        self.queues
            .get(key)
            .map(|q| q.clients.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Does anyone wait on `key`?
    pub fn has_waiters(&self, key: &[u8]) -> bool {
        !self.queues.is_empty() && self.queues.contains_key(key)
    }

    /// `key` may now let a waiting client proceed: list it for the dispatcher, once, if anyone
    /// waits on it.
    #[inline]
    pub fn signal(&mut self, key: &[u8]) {
        if self.queues.is_empty() {
            return;
        }
        if let Some(q) = self.queues.get_mut(key) {
            if !q.ready {
                q.ready = true;
                self.ready.push(key.into());
            }
        }
    }

    /// Are keys waiting to be served?
    #[inline]
    pub fn any_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The keys signalled since the last call, in signal order; each may be signalled again
    /// from now on (serving one client may ready another key: BLMOVE's push).
    pub fn take_ready(&mut self) -> Vec<Box<[u8]>> {
        let keys = std::mem::take(&mut self.ready);
        for k in &keys {
            if let Some(q) = self.queues.get_mut(k) {
                q.ready = false;
            }
        }
        keys
    }

    /// Every key someone waits on (SWAPDB's re-scan).
    pub fn keys(&self) -> Vec<Box<[u8]>> {
        self.queues.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_ready_once_per_round_and_only_if_waited_on() {
        let mut w = Waits::default();
        w.signal(b"l");
        assert!(!w.any_ready(), "nobody waits: nothing to list");
        w.add(b"l", 7);
        w.add(b"l", 9);
        w.add(b"l", 7);
        assert_eq!(w.waiters(b"l"), vec![7, 9]);
        w.signal(b"l");
        w.signal(b"l");
        w.signal(b"other");
        assert_eq!(w.take_ready(), vec![Box::<[u8]>::from(&b"l"[..])]);
        assert!(w.take_ready().is_empty());
        w.signal(b"l");
        assert_eq!(w.take_ready().len(), 1, "ready again in the next round");
        w.remove(b"l", 7);
        w.remove(b"l", 9);
        assert!(w.is_empty());
        w.signal(b"l");
        assert!(!w.any_ready());
    }
}
