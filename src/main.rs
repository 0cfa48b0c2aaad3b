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
    /// Redis-compatible key-value server: `readyloop kv [redis.conf] [--directive value ...]`
    /// (redis-server's command line; `readyloop kv --help`), or `readyloop kv check-aof`.
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

/// `readyloop kv check-aof`; every other `readyloop kv ...` is redis-server's command line,
/// parsed by `readyloop::kv::kv_main` before clap sees it.
#[derive(clap::Args, Debug)]
struct KvArgs {
    #[command(subcommand)]
    action: KvAction,
}

#[derive(Subcommand, Debug)]
enum KvAction {
    /// Check an append-only log (manifest or file) and with --fix truncate what is invalid.
    CheckAof(readyloop::kv::CheckAofArgs),
    /// Check an RDB snapshot (as redis-check-rdb): every key readable, checksum right.
    CheckRdb(readyloop::kv::CheckRdbArgs),
}

fn main() {
    // `readyloop kv ...` takes redis-server's command line (a config file, `--directive
    // value` pairs whose values may start with `--`), which clap cannot express.
    let argv: Vec<String> = std::env::args().collect();
    // Started as `redis-server` (a symlink named so): the same, without the `kv` word, so
    // tools that start redis-server by path can start this server unchanged.
    let called = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a));
    if called == Some("redis-server") {
        std::process::exit(readyloop::kv::kv_main(&argv[1..]));
    }
    if argv.get(1).map(String::as_str) == Some("kv")
        && !matches!(
            argv.get(2).map(String::as_str),
            Some("check-aof" | "check-rdb")
        )
    {
        std::process::exit(readyloop::kv::kv_main(&argv[2..]));
    }
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
            action: KvAction::CheckAof(c),
        }) => readyloop::kv::check_aof(&c),
        Command::Kv(KvArgs {
            action: KvAction::CheckRdb(c),
        }) => readyloop::kv::check_rdb(&c),
        Command::Load(a) => load(&a),
        Command::Sweep(a) => sweep(&a),
        Command::Bench(BenchCommand::Pool(a)) => bench_pool(&a),
    };
    readyloop::exit_on_error("readyloop", result);
}
