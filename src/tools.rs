//! `readyloop hammer` and `readyloop load`: command-line front ends for the harness library.

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
