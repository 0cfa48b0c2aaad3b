//! `readyloop serve --service digest`: the digest service's command-line options.

use clap::{Args, ValueEnum};
use reactor::Backend;
use readyloop_digest::{Digest, DigestConfig};

use crate::serve::{serve, serve_with, ServerOptions};

/// What `readyloop serve` serves.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServiceKind {
    /// RFC 862 echo.
    #[default]
    Echo,
    /// Line protocol: PING -> PONG; HASH <rounds> <text> -> iterated SHA-256 in hex, on worker threads.
    Digest,
}

/// `--service` and the digest service's options.
#[derive(Args, Debug, Clone, Default)]
pub struct ServiceArgs {
    /// The service to run.
    #[arg(long, value_enum, default_value_t = ServiceKind::Echo)]
    pub service: ServiceKind,

    /// digest: worker threads for HASH; 0 runs HASH inline on the loop [default: number of CPUs].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// digest: HASH jobs waiting for a worker at most; clients are paused while it is full
    /// [default: 64 per worker].
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,

    /// digest: HASH replies one connection may have outstanding before it is paused [default: 16].
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<usize>,

    /// digest: close a connection (after `ERR line too long`) whose line exceeds this many bytes
    /// [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pub max_line: Option<usize>,

    /// digest: largest <rounds> accepted [default: 10000000].
    #[arg(long, value_name = "N")]
    pub max_rounds: Option<u32>,

    /// digest: add this to the worker threads' nice value (e.g. 10: the loop preempts a worker
    /// sharing its CPU as soon as a client's request arrives) [default: 0].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub worker_nice: Option<i32>,
}

impl ServiceArgs {
    /// The digest service's configuration from these options.
    pub fn digest_config(&self) -> anyhow::Result<DigestConfig> {
        let workers = match self.workers {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        anyhow::ensure!(workers <= 1024, "--workers must be at most 1024");
        let mut cfg = DigestConfig::new(workers);
        if let Some(q) = self.queue {
            anyhow::ensure!(q >= 1, "--queue must be at least 1");
            cfg.queue = q;
        }
        if let Some(m) = self.max_in_flight {
            anyhow::ensure!(m >= 1, "--max-in-flight must be at least 1");
            cfg.max_in_flight = m;
        }
        if let Some(m) = self.max_line {
            anyhow::ensure!(m >= 1, "--max-line must be at least 1");
            cfg.max_line = m;
        }
        if let Some(m) = self.max_rounds {
            anyhow::ensure!(m >= 1, "--max-rounds must be at least 1");
            cfg.max_rounds = m;
        }
        if let Some(n) = self.worker_nice {
            anyhow::ensure!(
                (-20..=19).contains(&n),
                "--worker-nice must be from -20 to 19"
            );
            cfg.worker_nice = n;
        }
        Ok(cfg)
    }

    fn digest_options_given(&self) -> bool {
        self.workers.is_some()
            || self.queue.is_some()
            || self.max_in_flight.is_some()
            || self.max_line.is_some()
            || self.max_rounds.is_some()
            || self.worker_nice.is_some()
    }
}

/// `readyloop serve` with `--service`.
pub fn serve_service(
    backend: Backend,
    port: u16,
    opts: &ServerOptions,
    svc: &ServiceArgs,
) -> anyhow::Result<()> {
    match svc.service {
        ServiceKind::Echo => {
            anyhow::ensure!(
                !svc.digest_options_given(),
                "--workers, --queue, --max-in-flight, --max-line, --max-rounds and --worker-nice need --service digest"
            );
            serve(backend, port, opts)
        }
        ServiceKind::Digest => {
            let service = Digest::new(svc.digest_config()?);
            serve_with("digest", backend, port, opts, service)
        }
    }
}

/// `readyloop bench pool`: light-client latency and heavy throughput with and without workers.
#[derive(Args, Debug, Clone)]
pub struct PoolBenchArgs {
    /// Server backend.
    #[arg(long, default_value = "epoll-lt")]
    pub backend: Backend,
    /// Light clients (PING ping-pong, one in flight each).
    #[arg(long, default_value_t = 4)]
    pub light: usize,
    /// Heavy-client counts to sweep.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,4,8")]
    pub heavy: Vec<usize>,
    /// Worker settings to sweep (0 = HASH inline on the loop).
    #[arg(long, value_delimiter = ',', default_value = "0,2")]
    pub workers: Vec<usize>,
    /// HASH requests each heavy client keeps in flight.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Rounds per HASH.
    #[arg(long, default_value_t = 20_000)]
    pub rounds: u32,
    /// Measured seconds per cell (after the warm-up).
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// `taskset -c` list for the server (loop and workers, unless --worker-cpus).
    #[arg(long, default_value = "0")]
    pub server_cpus: String,
    /// Re-pin each worker thread to this `taskset -c` list after start.
    #[arg(long)]
    pub worker_cpus: Option<String>,
    /// Nice increment for the server's workers (`serve --worker-nice`).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub worker_nice: i32,
    /// Names this configuration in the output files.
    #[arg(long, default_value = "pinned")]
    pub label: String,
    /// Output directory.
    #[arg(long, default_value = "bench/results/pool")]
    pub out: std::path::PathBuf,
}

/// Run `readyloop bench pool`.
pub fn bench_pool(a: &PoolBenchArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let cfg = readyloop_digest::bench::PoolBenchConfig {
        server_bin: std::env::current_exe().context("locating this executable")?,
        backend: a.backend.name().to_string(),
        light: a.light,
        heavy: a.heavy.clone(),
        workers: a.workers.clone(),
        in_flight: a.in_flight,
        rounds: a.rounds,
        duration_s: a.duration,
        warmup_s: a.warmup,
        server_cpus: a.server_cpus.clone(),
        worker_cpus: a.worker_cpus.clone(),
        worker_nice: a.worker_nice,
        label: a.label.clone(),
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    readyloop_digest::bench::run(&cfg, &a.out, command).context("pool benchmark")?;
    Ok(())
}
