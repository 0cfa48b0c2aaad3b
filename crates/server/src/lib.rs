//! The readyloop server: a single-threaded event loop on the [`reactor`] crate, serving any
//! byte-stream [`Service`] — RFC 862 echo by default.
//!
//! - [`event_loop`]: accept → connection slab → read → service → write, backpressure, shutdown.
//! - [`service`]: the [`Service`] trait, its [`Ctx`] (deferred replies, writes to other
//!   connections, pause/resume, close), and [`Echo`].
//! - [`slab`]: connection storage with generation-tagged tokens.
//! - [`net`]: listener set-up and the descriptor limit.
//! - [`stats`]: the counters.
#![forbid(unsafe_code)]

pub mod event_loop;
pub mod net;
pub mod service;
pub mod slab;
pub mod stats;

pub use event_loop::{Config, Server, StopHandle, MAX_DURATION};
pub use service::{ConnId, ConnInfo, Ctx, Echo, OutputLimit, Service, StartCtx, Ticket};
pub use stats::Stats;
