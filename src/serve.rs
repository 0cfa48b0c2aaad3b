//! `readyloop serve` and the lesson's `epoll_server PORT` / `poll_server PORT`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reactor::{Backend, ShutdownSignals};
use readyloop_server::{net, Config, Echo, FaultyEcho, Server, Service};
use tracing::info;

/// Descriptors kept back from `--max-clients`' default for the listener, the poller, stdio and
/// whatever the process opens besides.
const FD_RESERVE: u64 = 32;

/// Options every server binary takes (all but the backend and the port).
#[derive(Args, Debug, Clone)]
pub struct ServerOptions {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Accept and immediately close (and count as rejected) connections beyond this many
    /// [default: fd limit - 32].
    #[arg(long, value_name = "N")]
    pub max_clients: Option<usize>,

    /// Close a connection that has sent nothing for this many seconds (0 = never). Only bytes
    /// received reset the deadline.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    pub idle_timeout: f64,

    /// Stop reading from a client while this many bytes of output are pending for it
    /// (backpressure).
    #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
    pub high_water: usize,

    /// Close (and count) a client whose pending output exceeds this many bytes. A hard cap: set
    /// below --high-water, a client that does not read is closed instead of paused.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_output: usize,

    /// On SIGINT/SIGTERM, flush owed output for at most this many seconds, then close what is
    /// left and exit 0. A second signal exits at once with status 1.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub shutdown_timeout: f64,

    /// Log the loop's counters every SECS seconds (they are always logged at exit).
    #[arg(long, value_name = "SECS")]
    pub stats_interval: Option<f64>,

    /// Test only: flip the byte at this stream offset of every connection.
    #[arg(long, value_name = "OFFSET", hide = true)]
    pub fault_corrupt_at: Option<u64>,

    /// Test only: drop the byte at this stream offset of every connection.
    #[arg(long, value_name = "OFFSET", hide = true)]
    pub fault_drop_at: Option<u64>,
}

fn seconds(name: &str, v: f64) -> anyhow::Result<Option<Duration>> {
    anyhow::ensure!(
        v.is_finite() && v >= 0.0,
        "--{name} must be a non-negative number of seconds, got {v}"
    );
    Ok((v > 0.0).then(|| Duration::from_secs_f64(v)))
}

/// Raise the fd limit, install the signal handlers, bind, serve until SIGINT/SIGTERM.
pub fn serve(backend: Backend, port: u16, opts: &ServerOptions) -> anyhow::Result<()> {
    let (before, after) = net::raise_fd_limit().context("raising RLIMIT_NOFILE")?;
    info!("descriptor limit: soft {before} -> {after}");
    let addr = SocketAddr::new(opts.bind, port);
    let mut cfg = Config::new(backend, addr);
    cfg.max_clients = opts.max_clients.unwrap_or_else(|| {
        after
            .saturating_sub(FD_RESERVE)
            .max(1)
            .try_into()
            .unwrap_or(usize::MAX)
    });
    cfg.idle_timeout = seconds("idle-timeout", opts.idle_timeout)?;
    cfg.high_water = opts.high_water.max(1);
    // A hard cap as given: raising it to --high-water would silently let a non-reading client
    // hold up to --high-water bytes when the operator asked for less.
    cfg.max_output = opts.max_output.max(1);
    cfg.shutdown_timeout = seconds("shutdown-timeout", opts.shutdown_timeout)?.unwrap_or_default();
    cfg.stats_interval = match opts.stats_interval {
        Some(v) => seconds("stats-interval", v)?,
        None => None,
    };
    let signals = ShutdownSignals::install().context("installing SIGINT/SIGTERM handlers")?;
    match (opts.fault_corrupt_at, opts.fault_drop_at) {
        (Some(at), _) => run(cfg, FaultyEcho { at, drop: false }, &signals),
        (None, Some(at)) => run(cfg, FaultyEcho { at, drop: true }, &signals),
        (None, None) => run(cfg, Echo, &signals),
    }
}

fn run<S: Service>(cfg: Config, service: S, signals: &ShutdownSignals) -> anyhow::Result<()> {
    let (backend, addr, max) = (cfg.backend, cfg.addr, cfg.max_clients);
    let mut server =
        Server::bind(cfg, service).with_context(|| format!("cannot listen on {addr}"))?;
    info!(
        "echo server listening on {} (backend {backend}, max clients {max}, pid {})",
        server.local_addr(),
        std::process::id()
    );
    let stats = server.run(signals).context("event loop failed")?;
    info!("stopped cleanly: {stats}");
    Ok(())
}
