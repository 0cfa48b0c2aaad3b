//! A Redis-compatible key-value server as a [`readyloop_server::Service`]: RESP2/RESP3,
//! the keyspace, strings, expiry and eviction, on one event loop.
//!
//! ```text
//! bytes ─▶ resp::Parser (resumable, ctx.need for big bulks) ─▶ command table (server.rs)
//!       ─▶ commands (keys.rs, strings.rs, admin.rs) ─▶ store::Db ─▶ resp::Reply into ctx.out()
//! tick ─▶ active expiry (deadline-ordered, bounded per tick) ─▶ next deadline for the loop
//! ```
//!
//! Start one in-process:
//! ```no_run
//! use readyloop_kv::{KvConfig, KvService};
//! use readyloop_server::{Config, Server};
//! let cfg = KvConfig::default();
//! let loop_cfg = cfg.loop_config(reactor::Backend::EpollLevel, "127.0.0.1:0".parse().unwrap());
//! let mut server = Server::bind(loop_cfg, KvService::new(cfg)).unwrap();
//! let stop = server.stop_handle().unwrap();
//! let t = std::thread::spawn(move || server.run());
//! stop.stop();
//! t.join().unwrap().unwrap();
//! ```
#![forbid(unsafe_code)]

mod admin;
mod bitmaps;
mod hyperloglog;
pub mod kvt;
pub mod aof;
mod blocking;
mod config;
mod geo;
pub mod glob;
mod hashes;
mod keys;
pub mod lazyfree;
pub mod ld;
mod limits;
mod lists;
mod multi;
pub mod num;
mod pubsub;
pub mod resp;
pub mod rewrite;
mod server;
mod sets;
mod sort;
pub mod store;
mod strings;
mod table;
pub mod types;
mod zsets;
mod zsetops;

pub use aof::{AofConfig, Fsync};
pub use config::{parse_memory, ClassLimit, KvConfig, OutputLimits, Policy};
pub use server::KvService;
