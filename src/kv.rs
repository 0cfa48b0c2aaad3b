//! `readyloop kv` and the lesson-style `kv_server PORT`: the Redis-compatible key-value
//! server. Flags carry Redis's configuration names.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use clap::Args;
use reactor::{Backend, ShutdownSignals};
use readyloop_kv::{KvConfig, KvService, Policy};
use readyloop_server::{net, Server};
use tracing::info;

/// Options of `readyloop kv` (all but the backend and the port).
#[derive(Args, Debug, Clone)]
pub struct KvOptions {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Memory limit for the dataset (bytes, or 100mb, 1gb, ...; 0 = none).
    #[arg(long, default_value = "0", value_parser = parse_memory)]
    pub maxmemory: u64,

    /// What to do at the memory limit: noeviction, allkeys-lru, allkeys-lfu, allkeys-random,
    /// volatile-lru, volatile-lfu, volatile-random, volatile-ttl.
    #[arg(long, default_value = "noeviction")]
    pub maxmemory_policy: Policy,

    /// Keys sampled per eviction.
    #[arg(long, default_value_t = 5)]
    pub maxmemory_samples: usize,

    /// Password clients must AUTH with (user `default`).
    #[arg(long)]
    pub requirepass: Option<String>,

    /// ACL file: users loaded at start and by ACL LOAD, written by ACL SAVE (Redis's `aclfile`).
    #[arg(long)]
    pub aclfile: Option<std::path::PathBuf>,

    /// A user, as Redis's `user` directive ("alice on >pass ~* +@all"); repeatable. Not
    /// together with --aclfile.
    #[arg(long = "user", value_name = "RULES")]
    pub users: Vec<String>,

    /// Number of databases (SELECT 0..N-1).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub databases: u32,

    /// Connections beyond this many get `-ERR max number of clients reached`.
    #[arg(long, default_value_t = 10000)]
    pub maxclients: usize,

    /// Largest single argument (bytes or 512mb ...).
    #[arg(long, default_value = "512mb", value_parser = parse_memory)]
    pub proto_max_bulk_len: u64,

    /// A client whose unprocessed input exceeds this is closed.
    #[arg(long, default_value = "1gb", value_parser = parse_memory)]
    pub client_query_buffer_limit: u64,

    /// Redis's `<class> <hard> <soft> <soft-seconds>` (classes normal, replica, pubsub; e.g.
    /// "pubsub 32mb 8mb 60"), repeatable; a client owed more than hard is closed at once, more
    /// than soft for soft-seconds then. A single memory value sets the normal hard limit.
    /// Defaults: "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60".
    #[arg(long, value_name = "LIMITS")]
    pub client_output_buffer_limit: Vec<String>,

    /// Close clients idle for this many seconds (0 = never), like Redis's `timeout`.
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,

    /// Keys active expiry may remove per loop iteration.
    #[arg(long, default_value_t = 2000)]
    pub expire_budget: usize,

    /// Log the loop's counters every SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub stats_interval: Option<f64>,

    /// Keep an append-only log of every write (yes/no), replayed at start.
    #[arg(long, default_value = "no", value_parser = parse_yes_no, action = clap::ArgAction::Set)]
    pub appendonly: bool,

    /// Directory of the log (it lives in DIR/appendonlydir).
    #[arg(long, default_value = ".")]
    pub dir: std::path::PathBuf,

    /// Base name of the log's files and manifest.
    #[arg(long, default_value = "appendonly.aof")]
    pub appendfilename: String,

    /// When the log is fsynced: always (before each reply, one fsync per loop iteration),
    /// everysec (once a second, off the loop), no (when the kernel decides).
    #[arg(long, default_value = "everysec")]
    pub appendfsync: readyloop_kv::Fsync,

    /// Rewrite the log when it has grown by this percentage since the last rewrite (0: never).
    #[arg(long, default_value_t = 100)]
    pub auto_aof_rewrite_percentage: u64,

    /// ... and is at least this big.
    #[arg(long, default_value = "64mb", value_parser = parse_memory)]
    pub auto_aof_rewrite_min_size: u64,
}

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("must be yes or no".into()),
    }
}

/// `readyloop kv check-aof [--fix] FILE`: report (and with --fix truncate) where a log stops
/// being valid, as redis-check-aof does. FILE is the manifest or one of the log's files.
#[derive(Args, Debug, Clone)]
pub struct CheckAofArgs {
    /// Truncate the log at the first invalid byte (what follows it is lost).
    #[arg(long)]
    pub fix: bool,

    /// The manifest (DIR/appendonlydir/NAME.manifest) or one log file.
    pub file: std::path::PathBuf,
}

/// Exit code 0 if the log is valid (or was fixed), 1 if not.
pub fn check_aof(a: &CheckAofArgs) -> anyhow::Result<()> {
    let (report, ok) = readyloop_kv::aof::check_aof(&a.file, a.fix)
        .with_context(|| format!("reading {}", a.file.display()))?;
    print!("{report}");
    if ok {
        Ok(())
    } else {
        anyhow::bail!("{} is not a valid append-only log", a.file.display())
    }
}

/// `readyloop kv check-rdb FILE`: read every key of an RDB file and verify its checksum, as
/// redis-check-rdb does.
#[derive(Args, Debug, Clone)]
pub struct CheckRdbArgs {
    /// The snapshot (e.g. DIR/dump.rdb).
    pub file: std::path::PathBuf,
}

/// Exit code 0 if the snapshot is valid, 1 if not.
pub fn check_rdb(a: &CheckRdbArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    println!("[offset 0] Checking RDB file {}", a.file.display());
    match readyloop_kv::persistence::rdb::check(&bytes) {
        Ok(report) => {
            print!("{report}");
            println!("\\o/ RDB looks OK! \\o/");
            Ok(())
        }
        Err(e) => anyhow::bail!("{} is not a valid RDB file: {e}", a.file.display()),
    }
}

/// The `--client-output-buffer-limit` flags applied in order over Redis's defaults.
fn output_limits(args: &[String]) -> anyhow::Result<readyloop_kv::OutputLimits> {
    let mut l = readyloop_kv::OutputLimits::default();
    for a in args {
        l = l
            .updated_from_arg(a)
            .map_err(|e| anyhow::anyhow!("--client-output-buffer-limit {a:?}: {e}"))?;
    }
    Ok(l)
}

fn parse_memory(s: &str) -> Result<u64, String> {
    readyloop_kv::parse_memory(s).ok_or_else(|| format!("not a memory value: {s}"))
}

/// Bind and serve until SIGINT/SIGTERM; logs `kv server listening on ADDR`.
pub fn kv(backend: Backend, port: u16, o: &KvOptions) -> anyhow::Result<()> {
    let (before, after) = net::raise_fd_limit().context("raising RLIMIT_NOFILE")?;
    info!("descriptor limit: soft {before} -> {after}");
    let cfg = KvConfig {
        databases: o.databases as usize,
        requirepass: o.requirepass.clone().filter(|p| !p.is_empty()),
        maxmemory: o.maxmemory,
        maxmemory_policy: o.maxmemory_policy,
        maxmemory_samples: o.maxmemory_samples.max(1),
        maxclients: o.maxclients.max(1),
        proto_max_bulk_len: o.proto_max_bulk_len.max(1),
        client_query_buffer_limit: o.client_query_buffer_limit.max(1024),
        output_limits: output_limits(&o.client_output_buffer_limit)?,
        port,
        bind: o.bind.to_string(),
        expire_budget: o.expire_budget.max(1),
        aof: readyloop_kv::AofConfig {
            enabled: o.appendonly,
            dir: std::path::absolute(&o.dir).unwrap_or_else(|_| o.dir.clone()),
            filename: o.appendfilename.clone(),
            fsync: o.appendfsync,
            auto_rewrite_percentage: o.auto_aof_rewrite_percentage,
            auto_rewrite_min_size: o.auto_aof_rewrite_min_size,
        },
        aclfile: o
            .aclfile
            .as_ref()
            .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
        users: o.users.iter().map(|u| format!("user {u}")).collect(),
        ..KvConfig::default()
    };
    let mut loop_cfg = cfg.loop_config(backend, SocketAddr::new(o.bind, port));
    if o.timeout > 0 {
        loop_cfg.idle_timeout = Some(std::time::Duration::from_secs(o.timeout));
    }
    loop_cfg.stats_interval = o
        .stats_interval
        .filter(|s| *s > 0.0)
        .map(std::time::Duration::from_secs_f64);
    let signals = ShutdownSignals::install().context("installing SIGINT/SIGTERM handlers")?;
    // Read and check the log before binding: a log that cannot be loaded refuses to start.
    let service = KvService::open(cfg).map_err(anyhow::Error::msg)?;
    let mut server = Server::bind(loop_cfg, service)
        .with_context(|| format!("cannot listen on {}:{port}", o.bind))?;
    server.watch_signals(&signals);
    let stop = server.stop_handle().context("creating the stop handle")?;
    server.service_mut().set_stop_handle(stop);
    let addr = server.local_addr();
    server.service_mut().set_port(addr.port());
    info!(
        "kv server listening on {addr} (backend {backend}, pid {})",
        std::process::id()
    );
    let stats = server.run().context("event loop failed")?;
    if let Some(e) = server.service_mut().load_error() {
        anyhow::bail!("{e}");
    }
    server.service_mut().shutdown();
    info!("stopped cleanly: {stats}");
    Ok(())
}

/// `kv_server PORT [options]`: the lesson's shape, on epoll (level-triggered).
#[derive(clap::Parser, Debug)]
#[command(
    name = "kv_server",
    about = "Redis-compatible key-value server on epoll (level-triggered)"
)]
pub struct KvLessonCli {
    /// TCP port to listen on.
    pub port: u16,

    #[command(flatten)]
    pub opts: KvOptions,
}
