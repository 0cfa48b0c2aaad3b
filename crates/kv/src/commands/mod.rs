//! The command families, one file each, and the command table that names them ([`table`]).
//! A handler gets an [`Exec`](crate::service::Exec) (the client, the core state, the loop's
//! context) and the request's arguments, reads or changes the keyspace, writes its reply, and
//! leaves what it changed for the log as an effect record when replaying the command verbatim
//! would not reproduce it.
//!
//! The one cycle in the crate: the table names the handlers, and the dispatcher in
//! `service.rs` (which the handlers use through `Exec`) looks commands up in the table. Every
//! other import runs downward: commands use keyspace, persistence (only to hand it effects),
//! protocol and `kvtypes`, never the other way.

pub mod acl;
pub mod acl_cmd;
pub mod bitmaps;
pub mod blocking;
pub mod config_cmd;
pub mod connection;
pub mod debug;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod introspection;
pub mod keys;
pub mod keyspec;
pub mod lists;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod snapshot;
pub mod sort;
pub mod stream_groups;
pub mod streams;
pub mod strings;
pub mod table;
pub mod transactions;
pub mod typed;
pub mod zsetops;
pub mod zsets;
