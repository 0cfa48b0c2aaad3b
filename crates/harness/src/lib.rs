//! Tools for testing and measuring echo servers: a verifying multi-connection client
//! ([`client`]), a child-process server controller ([`proc`]), seeded workload generators
//! ([`gen`]), the regression hammer built from them ([`scenarios`], [`hammer`]), a load
//! generator ([`load`]) and their reports ([`report`]).
#![forbid(unsafe_code)]

pub mod client;
pub mod gen;
pub mod hammer;
pub mod kvdiff;
pub mod load;
pub mod proc;
pub mod report;
pub mod scenarios;
pub mod sweep;
