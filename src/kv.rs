//! `readyloop kv` and the lesson-style `kv_server PORT`: the Redis-compatible key-value
//! server, started the way redis-server is: `readyloop kv [/path/redis.conf] [-]
//! [--directive value ...]` (see docs/kv-config.md). This file owns the process around the
//! service: the log, the banner and the lines operators look for, listeners (TCP binds and
//! the Unix socket), the pid file, daemonizing, and the shutdown lines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use readyloop_kv::conf::{self, Startup, REDIS_VERSION};
use readyloop_kv::KvService;
use readyloop_server::{net, Server};
use tracing::{info, warn};

use crate::redislog;

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

const USAGE: &str = "\
Usage: readyloop kv [/path/to/redis.conf] [options] [-]
       readyloop kv - (read config from stdin)
       readyloop kv check-aof [--fix] FILE
       readyloop kv check-rdb FILE
       readyloop kv -v or --version
       readyloop kv -h or --help

Options are redis.conf directives: --port 6380 --appendonly yes --save \"\" ...
plus this server's own: --backend poll|epoll-lt|epoll-et, --expire-budget N,
--stats-interval SECS. See docs/kv-config.md.";

/// `readyloop kv ARGS...` (ARGS after `kv`): run the server; returns the exit code.
pub fn kv_main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return 0;
        }
        Some("-v" | "--version") => {
            println!(
                "readyloop kv v={} (Redis {REDIS_VERSION} compatible) bits=64",
                env!("CARGO_PKG_VERSION")
            );
            return 0;
        }
        _ => {}
    }
    let cwd = std::env::current_dir().ok();
    let st = match conf::load(args, &mut std::io::stdin()) {
        Ok(st) => st,
        Err(fatal) => {
            eprintln!("{fatal}");
            return 1;
        }
    };
    if st.daemonize {
        return daemonize(args, &st, cwd);
    }
    let target = if !st.logfile_set {
        redislog::Target::Stderr
    } else if st.logfile.is_empty() {
        redislog::Target::Stdout
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&st.logfile)
        {
            Ok(f) => redislog::Target::File(f),
            Err(e) => {
                eprintln!("Can't open the log file: {}", conf::io_reason(&e));
                return 1;
            }
        }
    };
    redislog::init(target, &st.loglevel);
    match serve(st) {
        Ok(()) => 0,
        Err(e) => {
            warn!("{e:#}");
            1
        }
    }
}

/// `daemonize yes`: this server forks no process (no unsafe code outside the reactor), so it
/// starts itself again detached (own process group, standard streams on /dev/null) with
/// `daemonize no`, and exits; the copy writes the pid file.
fn daemonize(args: &[String], st: &Startup, cwd: Option<PathBuf>) -> i32 {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("daemonize: cannot find this program's path");
        return 1;
    };
    let mut child_args: Vec<String> = vec!["kv".into()];
    let mut rest = args;
    if let Some(f) = &st.config_file {
        if args.first().is_some_and(|a| !a.starts_with('-')) {
            child_args.push(f.display().to_string());
            rest = &args[1..];
        }
    }
    if rest.iter().any(|a| a == "-") {
        eprintln!("daemonize: a config read from stdin cannot be handed to the daemon");
        return 1;
    }
    child_args.extend(rest.iter().cloned());
    child_args.extend(["--daemonize".into(), "no".into()]);
    let mut cmd = std::process::Command::new(exe);
    cmd.args(&child_args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    match cmd.spawn() {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("daemonize: {e}");
            1
        }
    }
}

/// A `bind` address: `*` (every IPv4 address), `::*` (every IPv6 one), or an IP; a leading
/// `-` makes it optional (skipped when it cannot be bound).
fn bind_addr(spec: &str, port: u16) -> Option<(SocketAddr, bool)> {
    let (optional, a) = match spec.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, spec),
    };
    let ip = match a {
        "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "::*" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        other => other.parse().ok()?,
    };
    Some((SocketAddr::new(ip, port), optional))
}

fn banner(st: &Startup, port: u16) {
    let pid = std::process::id();
    if st.always_show_logo {
        // Redis prints its logo here; this server prints a plain box with the same facts
        // (the test suite waits for ` PID: <pid>`).
        info!(
            "\n    readyloop kv {} (Redis {REDIS_VERSION} compatible) 64 bit\n    \
             Running in standalone mode\n    Port: {port}\n    PID: {pid}\n",
            env!("CARGO_PKG_VERSION")
        );
    } else {
        info!("Running mode=standalone, port={port}.");
    }
}

fn serve(st: Startup) -> anyhow::Result<()> {
    let pid = std::process::id();
    info!("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo");
    info!(
        "Redis version={REDIS_VERSION}, bits=64, commit=00000000, modified=0, pid={pid}, just \
         started (readyloop kv {})",
        env!("CARGO_PKG_VERSION")
    );
    match &st.config_file {
        Some(f) => info!("Configuration loaded from {}", f.display()),
        None => warn!(
            "Warning: no config file specified, using the default config. In order to specify \
             a config file use readyloop kv /path/to/redis.conf"
        ),
    }
    for line in &st.unsupported {
        warn!("{line}");
    }
    let (before, after) = net::raise_fd_limit().context("raising RLIMIT_NOFILE")?;
    tracing::debug!("descriptor limit: soft {before} -> {after}");
    let signals =
        reactor::ShutdownSignals::install().context("installing SIGINT/SIGTERM handlers")?;
    let cfg = st.cfg.clone();
    let port = cfg.port;
    let mut service = KvService::open_with(cfg, st.extras()).map_err(anyhow::Error::msg)?;
    service.core.runtime = st.runtime();
    for (old, new) in &st.renames {
        service
            .rename_command(old, new)
            .map_err(|e| anyhow::anyhow!("rename-command {old} {new}: {e}"))?;
    }
    // TCP listeners: the first one bound carries the loop; the others join it.
    let mut binds = Vec::new();
    for spec in &st.binds {
        match bind_addr(spec, port) {
            Some(b) => binds.push(b),
            None => anyhow::bail!("Invalid bind address '{spec}'"),
        }
    }
    let mut server: Option<Server<KvService>> = None;
    let mut service = Some(service);
    let mut bound_port = port;
    for (addr, optional) in binds {
        let addr = SocketAddr::new(addr.ip(), bound_port);
        let result = match server.as_mut() {
            Some(s) => s.listen_tcp(addr).map(|_| ()),
            None => {
                let svc = service.take().expect("service not yet placed");
                let mut loop_cfg = st.cfg.loop_config(st.backend, addr);
                if st.timeout_secs > 0 {
                    loop_cfg.idle_timeout = Some(std::time::Duration::from_secs(st.timeout_secs));
                }
                loop_cfg.stats_interval = st.stats_interval.map(std::time::Duration::from_secs_f64);
                match Server::bind(loop_cfg, svc) {
                    Ok(s) => {
                        bound_port = s.local_addr().port();
                        server = Some(s);
                        Ok(())
                    }
                    Err(e) => {
                        // Server::bind consumed the service: build it again for the next try.
                        service = Some(reopen(&st)?);
                        Err(e)
                    }
                }
            }
        };
        if let Err(e) = result {
            if optional && e.kind() != std::io::ErrorKind::AddrInUse {
                continue;
            }
            if optional {
                continue;
            }
            warn!("Warning: Could not create server TCP listening socket {addr}: bind: {e}");
            warn!("Failed listening on port {port} (TCP), aborting.");
            anyhow::bail!("cannot listen on {addr}");
        }
    }
    let Some(mut server) = server else {
        warn!("Failed listening on port {port} (TCP), aborting.");
        anyhow::bail!("no TCP listener could be bound");
    };
    if let Some(path) = &st.unixsocket {
        if let Err(e) = server.listen_unix(path, st.unixsocketperm) {
            warn!("Failed opening Unix socket: {}", conf::io_reason(&e));
            anyhow::bail!("cannot listen on {}", path.display());
        }
    }
    server.watch_signals(&signals);
    let stop = server.stop_handle().context("creating the stop handle")?;
    server.service_mut().set_stop_handle(stop);
    let addr = server.local_addr();
    server.service_mut().set_port(addr.port());
    banner(&st, addr.port());
    if let Some(p) = &st.pidfile {
        if let Err(e) = std::fs::write(p, format!("{pid}\n")) {
            warn!("Failed to write PID file: {}", conf::io_reason(&e));
        }
    }
    info!("Server initialized");
    info!(
        "kv server listening on {addr} (backend {}, pid {pid})",
        st.backend
    );
    if let Some(path) = &st.unixsocket {
        info!(
            "The server is now ready to accept connections at {}",
            path.display()
        );
    }
    let stats = server.run().context("event loop failed")?;
    if let Some(e) = server.service_mut().load_error() {
        anyhow::bail!("{e}");
    }
    warn!("User requested shutdown...");
    server.service_mut().shutdown();
    if let Some(p) = &st.pidfile {
        info!("Removing the pid file.");
        let _ = std::fs::remove_file(p);
    }
    if st.unixsocket.is_some() {
        info!("Removing the unix socket file.");
    }
    tracing::debug!("stopped cleanly: {stats}");
    warn!("Redis is now ready to exit, bye bye...");
    Ok(())
}

/// A fresh service for a second bind attempt (the first was consumed by the failed bind).
fn reopen(st: &Startup) -> anyhow::Result<KvService> {
    let mut s = KvService::open_with(st.cfg.clone(), st.extras()).map_err(anyhow::Error::msg)?;
    s.core.runtime = st.runtime();
    for (old, new) in &st.renames {
        s.rename_command(old, new)
            .map_err(|e| anyhow::anyhow!("rename-command {old} {new}: {e}"))?;
    }
    Ok(s)
}

/// `kv_server PORT [options]`: the lesson's shape, on epoll (level-triggered): the same
/// server as `readyloop kv --port PORT [options]`.
pub fn kv_server_main(args: &[String]) -> i32 {
    let Some(port) = args.first().filter(|p| !p.starts_with('-')) else {
        eprintln!("usage: kv_server PORT [--directive value ...]");
        return 2;
    };
    let mut all = vec![
        "--port".to_string(),
        port.clone(),
        "--backend".into(),
        "epoll-lt".into(),
    ];
    all.extend(args[1..].iter().cloned());
    kv_main(&all)
}
