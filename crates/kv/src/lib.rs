//! A Redis-compatible key-value server as a [`readyloop_server::Service`]: RESP2/RESP3,
//! the keyspace, strings, expiry and eviction, on one event loop.
//!
//! ```text
//! bytes ─▶ protocol::Parser (resumable, ctx.need for big bulks) ─▶ service (command table
//!       lookup, arity, auth, OOM, MULTI queueing) ─▶ commands::<family> ─▶ keyspace::Db
//!       ─▶ protocol::Reply into ctx.out(); service::propagate ─▶ persistence::aof
//! tick ─▶ active expiry (deadline-ordered, bounded per tick), the log's write and fsync,
//!       held replies released ─▶ next deadline for the loop
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

// Layers, imported only downward (the dispatcher <-> command table cycle is the one exception,
// documented in commands/mod.rs):
//   service      clients, the dispatcher, the tick, replay of the log
//   commands     one file per family + the command table
//   persistence  the append-only log and its rewrite, fed effects as commands
//   keyspace     databases, expiry, change counters, lazy free
//   protocol     RESP2/RESP3 parsing and reply encoding
//   kvtypes      (crate) the value types: no server concerns at all
pub mod commands;
pub mod conf;
mod config;
pub mod keyspace;
pub mod persistence;
pub mod protocol;
mod service;

pub use config::{parse_memory, ClassLimit, Extra, KvConfig, OutputLimits, Policy};
pub use persistence::aof::{self, AofConfig, Fsync};
pub use service::KvService;
