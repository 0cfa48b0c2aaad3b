//! The keyspace: databases of keys in a slab of slots ([`db`]), their expiry deadlines, the
//! per-key change counters behind WATCH and "key changed", the point-in-time view ([`view`]) a log
//! rewrite reads through a copy-before-change hook, freeing big values off the loop ([`lazyfree`]),
//! the keys clients wait for and the ones signalled ready for them ([`waits`]), and the keys
//! removed by expiry that the log must still hear about (`Db::take_expired`).
//!
//! What it may not touch: clients, replies, the command table, the log's files. It stores
//! values from `kvtypes` and knows their sizes; commands decide what to store.

pub mod db;
pub mod lazyfree;
pub mod view;
pub mod waits;

pub use db::*;
