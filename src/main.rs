//! `readyloop`: the echo server and its tools. With no arguments it serves, as `serve` does.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use reactor::Backend;
use readyloop::digest::{bench_pool, serve_service, PoolBenchArgs, ServiceArgs};
use readyloop::serve::ServerOptions;
use readyloop::tools::{hammer, load, sweep, HammerArgs, LoadArgs, SweepArgs};

#[derive(Parser, Debug)]
#[command(
    name = "readyloop",
    version,
    about = "Readiness-based TCP echo server (poll, epoll-lt, epoll-et) and its test tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the echo server (the default when no command is given).
    Serve(ServeArgs),
    /// Regression harness: seeded scenarios against every backend (or one --addr), every byte checked.
    Hammer(HammerArgs),
    /// Redis-compatible key-value server (RESP2/RESP3, strings, expiry, eviction).
    Kv(KvArgs),
    /// Load generator: ping-pong over many connections, throughput and latency percentiles.
    Load(LoadArgs),
    /// Scaling sweep: throughput and descriptors examined per wake-up as idle connections grow.
    Sweep(SweepArgs),
    /// Benchmarks of services: `bench pool` (light-client latency with and without worker threads).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// L light clients ping-pong while H heavy clients keep K HASH requests in flight.
    Pool(PoolBenchArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Event-loop backend: poll, epoll-lt (alias epoll) or epoll-et.
    #[arg(long, default_value = "epoll-lt")]
    backend: Backend,

    /// TCP port to listen on.
    #[arg(long, default_value_t = 9090)]
    port: u16,

    #[command(flatten)]
    opts: ServerOptions,

    #[command(flatten)]
    service: ServiceArgs,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct KvArgs {
    #[command(subcommand)]
    action: Option<KvAction>,

    /// Event-loop backend: poll, epoll-lt (alias epoll) or epoll-et.
    #[arg(long, default_value = "epoll-lt")]
    backend: Backend,

    /// TCP port to listen on (0: any free port, printed in the log).
    #[arg(long, default_value_t = 6379)]
    port: u16,

    #[command(flatten)]
    opts: readyloop::kv::KvOptions,
}

#[derive(Subcommand, Debug)]
enum KvAction {
    /// Check an append-only log (manifest or file) and with --fix truncate what is invalid.
    CheckAof(readyloop::kv::CheckAofArgs),
    /// Check an RDB snapshot (as redis-check-rdb): every key readable, checksum right.
    CheckRdb(readyloop::kv::CheckRdbArgs),
}

fn main() {
    readyloop::init_logging();
    let cli = Cli::parse();
    // No command: exactly `readyloop serve` with its defaults.
    let command = cli.command.unwrap_or_else(|| {
        Cli::parse_from(["readyloop", "serve"])
            .command
            .expect("serve parses")
    });
    let result = match command {
        Command::Serve(a) => serve_service(a.backend, a.port, &a.opts, &a.service),
        Command::Hammer(a) => hammer(&a),
        Command::Kv(KvArgs {
            action: Some(KvAction::CheckAof(c)),
            ..
        }) => readyloop::kv::check_aof(&c),
        Command::Kv(KvArgs {
            action: Some(KvAction::CheckRdb(c)),
            ..
        }) => readyloop::kv::check_rdb(&c),
        Command::Kv(a) => readyloop::kv::kv(a.backend, a.port, &a.opts),
        Command::Load(a) => load(&a),
        Command::Sweep(a) => sweep(&a),
        Command::Bench(BenchCommand::Pool(a)) => bench_pool(&a),
    };
    readyloop::exit_on_error("readyloop", result);
}
