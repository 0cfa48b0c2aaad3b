//! `readyloop serve` and the lesson's `epoll_server PORT` / `poll_server PORT`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reactor::{Backend, ShutdownSignals};
use readyloop_server::{net, Config, Echo, Server, Service, Stats};
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

    /// Close (and count) a client whose unconsumed input (a request not yet complete) exceeds
    /// this many bytes. Echo consumes everything at once, so this matters to other services.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_input: usize,

    /// On SIGINT/SIGTERM, flush owed output for at most this many seconds, then close what is
    /// left and exit 0. A second signal exits at once with status 1.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub shutdown_timeout: f64,

    /// Log the loop's counters every SECS seconds (they are always logged at exit).
    #[arg(long, value_name = "SECS")]
    pub stats_interval: Option<f64>,

    /// Independent event loops, each with its own poller and its own SO_REUSEPORT listener
    /// (the kernel spreads connections between them).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
}

/// Seconds from the command line; 0 means "off". Bounded by what the loop's clock can hold
/// (`Duration::from_secs_f64(1e19)` would panic; a 1e19 s idle timeout once did, at the first
/// accept).
fn seconds(name: &str, v: f64) -> anyhow::Result<Option<Duration>> {
    let max = readyloop_server::MAX_DURATION;
    let d = Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| v.is_finite() && *d <= max);
    let Some(d) = d else {
        anyhow::bail!(
            "--{name} must be between 0 and {} seconds, got {v}",
            max.as_secs()
        );
    };
    Ok((!d.is_zero()).then_some(d))
}

/// Raise the fd limit, install the signal handlers, bind, serve until SIGINT/SIGTERM.
pub fn serve(backend: Backend, port: u16, opts: &ServerOptions) -> anyhow::Result<()> {
    serve_with("echo", backend, port, opts, Echo)
}

/// [`serve`] with another service (`what` names it in the log).
pub fn serve_with<S>(
    what: &str,
    backend: Backend,
    port: u16,
    opts: &ServerOptions,
    service: S,
) -> anyhow::Result<()>
where
    S: Service + Clone + Send + 'static,
    S::Session: Send,
{
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
    cfg.high_water = opts.high_water;
    // A hard cap as given: raising it to --high-water would silently let a non-reading client
    // hold up to --high-water bytes when the operator asked for less.
    cfg.max_output = opts.max_output;
    cfg.max_input = opts.max_input;
    cfg.shutdown_timeout = seconds("shutdown-timeout", opts.shutdown_timeout)?.unwrap_or_default();
    cfg.stats_interval = match opts.stats_interval {
        Some(v) => seconds("stats-interval", v)?,
        None => None,
    };
    let threads = usize::from(opts.threads);
    cfg.reuse_port = threads > 1;
    // Installed before any loop or worker thread exists, so every thread inherits the blocked
    // mask (install refuses otherwise).
    let signals = ShutdownSignals::install().context("installing SIGINT/SIGTERM handlers")?;
    run(what, cfg, threads, service, &signals)
}

/// Bind `threads` loops serving `what` (a name for the log; the first loop picks the port if 0,
/// the rest share it through SO_REUSEPORT), run them until a shutdown signal, and log the
/// summed counters. Tests and tools read the `listening on ADDR` line.
pub fn run<S>(
    what: &str,
    mut cfg: Config,
    threads: usize,
    service: S,
    signals: &ShutdownSignals,
) -> anyhow::Result<()>
where
    S: Service + Clone + Send + 'static,
    S::Session: Send,
{
    let (backend, requested, max) = (cfg.backend, cfg.addr, cfg.max_clients);
    // One count for every loop: --max-clients is per process, however SO_REUSEPORT spreads
    // the connections.
    let clients = Arc::new(AtomicUsize::new(0));
    let bind = |cfg: &Config| -> anyhow::Result<Server<S>> {
        let mut server = Server::bind(cfg.clone(), service.clone())
            .with_context(|| format!("cannot listen on {requested}"))?;
        server.share_client_count(Arc::clone(&clients));
        server.watch_signals(signals);
        Ok(server)
    };
    let mut servers = vec![bind(&cfg)?];
    cfg.addr = servers[0].local_addr();
    for _ in 1..threads {
        servers.push(bind(&cfg)?);
    }
    if threads > 1 {
        let wakers = servers
            .iter_mut()
            .map(Server::waker)
            .collect::<Result<Vec<_>, _>>()?;
        for s in &mut servers {
            s.set_peers(wakers.clone());
        }
    }
    info!(
        "{what} server listening on {} (backend {backend}, {threads} loop{}, max clients {max}, pid {})",
        cfg.addr,
        if threads == 1 { "" } else { "s" },
        std::process::id()
    );
    let mut total = Stats::default();
    if threads == 1 {
        total = servers[0].run().context("event loop failed")?;
    } else {
        let handles: Vec<_> = servers
            .into_iter()
            .enumerate()
            .map(|(i, mut server)| {
                std::thread::Builder::new()
                    .name(format!("loop-{i}"))
                    .spawn(move || server.run())
            })
            .collect::<Result<_, _>>()
            .context("starting loop threads")?;
        for h in handles {
            let stats = h
                .join()
                .map_err(|_| anyhow::anyhow!("an event loop panicked"))?;
            total.merge(&stats.context("event loop failed")?);
        }
    }
    info!("stopped cleanly: {total}");
    Ok(())
}

/// The lesson's binaries: `NAME PORT [options]`, differing only in backend.
#[derive(clap::Parser, Debug)]
struct LessonCli {
    /// TCP port to listen on.
    port: u16,

    #[command(flatten)]
    opts: ServerOptions,
}

/// `main` of `epoll_server` and `poll_server`.
pub fn lesson_main(name: &'static str, about: &'static str, backend: Backend) {
    use clap::{CommandFactory, FromArgMatches};
    crate::init_logging();
    let matches = LessonCli::command()
        .name(name)
        .bin_name(name)
        .about(about)
        .get_matches();
    let cli = LessonCli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    crate::exit_on_error(name, serve(backend, cli.port, &cli.opts));
}
