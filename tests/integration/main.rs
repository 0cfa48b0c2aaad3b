//! The one integration-test binary. Every behaviour test runs on poll, epoll-lt and epoll-et
//! (see `each_backend!`); servers run as child processes so their descriptors can be counted.
#![forbid(unsafe_code)]

#[macro_use]
mod util;

mod cli;
mod echo;
mod faults;
mod harness;
mod inproc;
mod kv;
mod kv_acl;
mod kv_aof;
mod kv_clients;
mod kv_diff;
mod kv_dropin;
mod kv_effects;
mod kv_extremes;
mod kv_fuzz;
mod kv_introspection;
mod kv_killdiff;
mod kv_large;
mod kv_multi;
mod kv_power;
mod kv_proxy;
mod kv_rdb;
mod kv_ready;
mod kv_scale;
mod kv_scripting;
mod kv_streams;
mod kv_surface;
mod kv_types;
mod kv_util;
mod lesson;
mod pool;
mod regressions;
mod shutdown;
mod stats;
mod sweep;
mod threads;
