//! `readyloop hammer`, `load` and `sweep`: command-line front ends for the harness library.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reactor::Backend;
use readyloop_harness::hammer::{self, HammerConfig, Target};
use readyloop_harness::load::{self, LoadConfig};
use readyloop_harness::report;
use readyloop_harness::scenarios::Profile;
use readyloop_harness::sweep::{self, ActiveResult, SweepConfig};

/// Fixed unless told otherwise, so two runs without `--seed` test the same bytes.
const DEFAULT_SEED: &str = "862";

/// `readyloop hammer` options.
#[derive(Args, Debug)]
pub struct HammerArgs {
    /// Backends to start servers with (ignored with --addr).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "poll,epoll-lt,epoll-et",
        conflicts_with = "addr"
    )]
    pub backends: Vec<Backend>,

    /// Hammer this running echo server (any RFC 862 server) instead of starting our own.
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,

    /// Seed for every payload, split point and ending; rerun with the same seed to reproduce.
    #[arg(long, default_value = DEFAULT_SEED)]
    pub seed: u64,

    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// A small run for CI (seconds instead of minutes).
    #[arg(long)]
    pub quick: bool,
}

/// `readyloop load` options.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Echo server to load.
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: String,

    /// Connections to open.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,

    /// How many of them send [default: all]; the rest stay open and idle.
    #[arg(long, value_name = "K")]
    pub active: Option<usize>,

    /// Bytes per message.
    #[arg(long, value_name = "BYTES", default_value_t = 512)]
    pub size: usize,

    /// Messages in flight per active connection.
    #[arg(long, value_name = "P", default_value_t = 1)]
    pub pipeline: usize,

    /// How long to measure, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub duration: f64,

    /// Seed for the message bytes.
    #[arg(long, default_value = DEFAULT_SEED)]
    pub seed: u64,

    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

fn resolve(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.to_socket_addrs()
        .with_context(|| format!("bad address {addr:?} (want HOST:PORT)"))?
        .next()
        .with_context(|| format!("{addr:?} resolves to nothing"))
}

/// Run the hammer, print its table, write JSON if asked; an error if anything failed.
pub fn hammer(args: &HammerArgs) -> anyhow::Result<()> {
    let target = match &args.addr {
        Some(a) => Target::External(resolve(a)?),
        None => Target::Spawn {
            program: std::env::current_exe().context("finding the readyloop executable")?,
            backends: args.backends.clone(),
        },
    };
    let config = HammerConfig {
        target,
        seed: args.seed,
        profile: if args.quick {
            Profile::Quick
        } else {
            Profile::Full
        },
    };
    let report = hammer::run(&config).context("hammer could not run")?;
    print!("{}", report.render());
    if let Some(path) = &args.json {
        report::write_json(path, &report).with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = report.results.iter().filter(|r| !r.passed).count();
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} scenario runs failed (reproduce with --seed {})",
        report.results.len(),
        report.seed
    );
    Ok(())
}

/// Run the load generator, print its table, write JSON if asked; an error if any connection
/// failed or a byte came back wrong.
pub fn load(args: &LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration.is_finite() && args.duration > 0.0,
        "--duration must be a positive number of seconds, got {}",
        args.duration
    );
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    let config = LoadConfig {
        addr: resolve(&args.addr)?,
        connections: args.connections,
        active: args.active.unwrap_or(args.connections),
        size: args.size.max(1),
        pipeline: args.pipeline.max(1),
        duration: Duration::from_secs_f64(args.duration),
        seed: args.seed,
    };
    let report = load::run(&config).context("load generator could not run")?;
    print!("{}", report.render());
    if let Some(path) = &args.json {
        report::write_json(path, &report).with_context(|| format!("writing {}", path.display()))?;
    }
    anyhow::ensure!(
        report.errors == 0,
        "{} connection(s) failed; first: {}",
        report.errors,
        report.first_error.as_deref().unwrap_or("?")
    );
    Ok(())
}

/// `readyloop sweep` options.
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Backends to compare.
    #[arg(long, value_delimiter = ',', default_value = "poll,epoll-lt,epoll-et")]
    pub backends: Vec<Backend>,

    /// Idle connection counts to hold open, one point each.
    #[arg(long, value_delimiter = ',', default_value = "0,1000,5000,10000")]
    pub idle: Vec<usize>,

    /// Connections that ping-pong while the idle ones are held.
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub active: usize,

    /// Bytes per message.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    pub size: usize,

    /// Seconds of ping-pong per point.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub duration: f64,

    /// Directory for sweep.json, sweep.csv, throughput.svg and examined.svg.
    #[arg(long, value_name = "DIR", default_value = "sweep-out")]
    pub out: PathBuf,
}

/// Run the scaling sweep against child servers, print a table, write the files.
pub fn sweep(args: &SweepArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.duration.is_finite() && args.duration > 0.0,
        "--duration must be a positive number of seconds, got {}",
        args.duration
    );
    anyhow::ensure!(args.active > 0, "--active must be at least 1");
    // This process holds every idle connection (the server's ends are in the child).
    let (_, limit) = readyloop_server::net::raise_fd_limit().context("raising RLIMIT_NOFILE")?;
    let most = args.idle.iter().max().copied().unwrap_or(0) + args.active;
    anyhow::ensure!(
        (most as u64) + 64 <= limit,
        "{most} connections need more descriptors than this process may open ({limit})"
    );
    let cfg = SweepConfig {
        program: std::env::current_exe().context("finding the readyloop executable")?,
        backends: args.backends.clone(),
        idle: args.idle.clone(),
        active: args.active,
        size: args.size.max(1),
        duration: Duration::from_secs_f64(args.duration),
        out: args.out.clone(),
    };
    let active_load = |addr, active, size, duration| {
        let r = load::run(&LoadConfig {
            addr,
            connections: active,
            active,
            size,
            pipeline: 1,
            duration,
            seed: 862,
        })?;
        Ok(ActiveResult {
            messages: r.messages,
            throughput_msgs_per_s: r.throughput_msgs_per_s,
            p50_us: r.latency_us.p50,
            p99_us: r.latency_us.p99,
            errors: r.errors,
        })
    };
    println!(
        "{:<9} {:>6} {:>12} {:>8} {:>8} {:>14} {:>13} {:>13} {:>13}",
        "backend",
        "idle",
        "msgs/s",
        "p50 µs",
        "p99 µs",
        "examined/wake",
        "syscalls/msg",
        "cpu µs/msg",
        "B/idle conn"
    );
    let points = sweep::run(&cfg, &active_load, &mut |p| {
        println!(
            "{:<9} {:>6} {:>12.0} {:>8} {:>8} {:>14.1} {:>13.3} {:>13.2} {:>13.1}",
            p.backend,
            p.idle,
            p.throughput_msgs_per_s,
            p.p50_us,
            p.p99_us,
            p.examined_per_wakeup,
            p.syscalls_per_msg,
            p.server_cpu_us_per_msg,
            p.rss_bytes_per_idle_conn
        );
    })
    .context("sweep could not run")?;
    println!(
        "wrote sweep.json, sweep.csv, throughput.svg, examined.svg to {}",
        cfg.out.display()
    );
    let failed: u64 = points.iter().map(|p| p.errors).sum();
    anyhow::ensure!(
        failed == 0,
        "{failed} connection(s) failed verification during the sweep"
    );
    Ok(())
}
