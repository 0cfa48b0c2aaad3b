//! Persistence: the append-only log ([`aof`]) and its compaction from the keyspace's point-in-time view
//! (`keyspace::view`). The log is fed through one path, the command's *effect* as commands (see
//! `aof::Aof::feed` and the effect/then records the dispatcher hands it), never by reaching
//! into command modules.
//!
//! What it may not touch: the command table or clients. It reads the keyspace (the rewrite's
//! view) and writes files; replaying a log is the dispatcher's job (`service::replay`).

pub mod aof;
pub mod rdb;
