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

    /// Test hook: a HASH whose text is exactly this panics in its job.
    #[arg(long, value_name = "TEXT", hide = true)]
    pub panic_on: Option<String>,
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
        cfg.panic_on = self.panic_on.clone().map(String::into_bytes);
        Ok(cfg)
    }

    fn digest_options_given(&self) -> bool {
        self.workers.is_some()
            || self.queue.is_some()
            || self.max_in_flight.is_some()
            || self.max_line.is_some()
            || self.max_rounds.is_some()
            || self.panic_on.is_some()
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
                "--workers, --queue, --max-in-flight, --max-line and --max-rounds need --service digest"
            );
            serve(backend, port, opts)
        }
        ServiceKind::Digest => {
            let service = Digest::new(svc.digest_config()?);
            serve_with("digest", backend, port, opts, service)
        }
    }
}
