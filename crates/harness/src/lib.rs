//! Tools for testing and measuring echo servers: a verifying multi-connection client
//! ([`client`]), a child-process server controller ([`proc`]) and seeded workload
//! generators ([`gen`]).
#![forbid(unsafe_code)]

pub mod client;
pub mod gen;
pub mod proc;
pub mod sweep;
