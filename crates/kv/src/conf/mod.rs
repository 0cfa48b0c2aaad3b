//! redis-server's start-up interface: its command line and redis.conf (with `include`, `-`
//! for stdin, Redis's precedence: file, then stdin, then the command line, the last line of a
//! directive winning), turned into what the server starts with. Every directive of Redis 7.0
//! is applied, kept, reported as unsupported, or refused (see `table`). Also CONFIG REWRITE's
//! file update. What it may not touch: the running server (it only produces values).

pub mod rewrite;
pub mod split;
pub mod table;

use std::path::{Path, PathBuf};

use crate::config::{Extra, ExtraKind, KvConfig, OutputLimits};
use table::{Directive, Effect, Kind};

/// The version whose messages and interface this server follows.
pub const REDIS_VERSION: &str = "7.0.15";

/// `no`, `yes` or `local` (enable-debug-command, enable-protected-configs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allow {
    No,
    Yes,
    Local,
}

impl Allow {
    fn parse(v: &str) -> Allow {
        match v {
            "yes" => Allow::Yes,
            "local" => Allow::Local,
            _ => Allow::No,
        }
    }

    /// May a client (local: loopback or Unix socket) use the feature?
    pub fn allows(self, local: bool) -> bool {
        self == Allow::Yes || (self == Allow::Local && local)
    }
}

/// What the running server keeps of its start-up (CONFIG REWRITE, DEBUG's gate) and the
/// test hooks DEBUG sets.
#[derive(Clone, Debug)]
pub struct Runtime {
    pub config_file: Option<PathBuf>,
    pub enable_debug: Allow,
    pub enable_protected_configs: Allow,
    /// DEBUG SET-ACTIVE-EXPIRE: false stops the tick's expiry (keys still expire on access).
    pub active_expire: bool,
    /// DEBUG QUICKLIST-PACKED-THRESHOLD (kept; lists here have no plain nodes).
    pub quicklist_packed_threshold: u64,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION (kept for payload loaders).
    pub skip_checksum_validation: bool,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            config_file: None,
            enable_debug: Allow::No,
            enable_protected_configs: Allow::No,
            active_expire: true,
            quicklist_packed_threshold: 1 << 30,
            skip_checksum_validation: false,
        }
    }
}

/// What the server starts with.
#[derive(Debug)]
pub struct Startup {
    pub cfg: KvConfig,
    /// Every table directive's value in force, by canonical name (CONFIG GET).
    pub values: Vec<(&'static str, String)>,
    /// The config file, absolute (CONFIG REWRITE writes it back).
    pub config_file: Option<PathBuf>,
    /// `rename-command old new` in order (new empty: the command is removed).
    pub renames: Vec<(String, String)>,
    /// TCP addresses to listen on; a `-` prefix means "skip it if it cannot be bound".
    pub binds: Vec<String>,
    pub unixsocket: Option<PathBuf>,
    pub unixsocketperm: Option<u32>,
    pub pidfile: Option<PathBuf>,
    /// Empty: standard output.
    pub logfile: String,
    /// Whether `logfile` was set at all (without it this server logs to stderr).
    pub logfile_set: bool,
    pub loglevel: String,
    pub daemonize: bool,
    pub supervised: String,
    pub always_show_logo: bool,
    pub enable_debug: Allow,
    pub enable_protected_configs: Allow,
    pub protected_mode: bool,
    /// One line each: directives set to behaviour this server does not have.
    pub unsupported: Vec<String>,
    /// This server's own directives (no redis.conf equivalent).
    pub backend: reactor::Backend,
    pub stats_interval: Option<f64>,
    pub timeout_secs: u64,
}

/// A configuration the server must not start with: the text to print (Redis's format).
#[derive(Debug)]
pub struct Fatal(pub String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a line came from, for the error report.
struct Line<'a> {
    num: usize,
    text: &'a str,
}

fn fatal_at(line: &Line<'_>, why: &str) -> Fatal {
    Fatal(format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\nReading the configuration \
         file, at line {}\n>>> '{}'\n{why}",
        line.num, line.text
    ))
}

fn fatal(why: &str) -> Fatal {
    Fatal(format!(
        "\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n{why}"
    ))
}

/// Directives this server adds (no redis.conf equivalent): backend, expire-budget,
/// stats-interval.
const OWN: &[&str] = &["backend", "expire-budget", "stats-interval"];

/// Parameters the service reports from its own state (not from `Core::extra`).
pub const SERVICE_PARAMS: &[&str] = &[
    "databases",
    "port",
    "bind",
    "maxmemory",
    "maxmemory-policy",
    "maxmemory-samples",
    "maxclients",
    "requirepass",
    "proto-max-bulk-len",
    "client-query-buffer-limit",
    "lfu-log-factor",
    "lfu-decay-time",
    "client-output-buffer-limit",
    "appendonly",
    "appendfsync",
    "dir",
    "appendfilename",
    "appenddirname",
    "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size",
];

/// Parameters CONFIG SET refuses ("can't set immutable config"), as Redis flags them.
pub const IMMUTABLE: &[&str] = &[
    "daemonize",
    "supervised",
    "pidfile",
    "logfile",
    "syslog-enabled",
    "syslog-ident",
    "syslog-facility",
    "databases",
    "port",
    "unixsocket",
    "unixsocketperm",
    "always-show-logo",
    "enable-debug-command",
    "enable-protected-configs",
    "enable-module-command",
    "io-threads",
    "io-threads-do-reads",
    "tcp-backlog",
    "cluster-enabled",
    "cluster-config-file",
    "cluster-port",
    "aclfile",
    "appendfilename",
    "appenddirname",
    "disable-thp",
    "set-proc-title",
    "daemonize",
    "tls-port",
    "server_cpulist",
    "bio_cpulist",
    "aof_rewrite_cpulist",
    "bgsave_cpulist",
    "ignore-warnings",
    "crash-log-enabled",
    "use-exit-on-panic",
    "jemalloc-bg-thread",
];

/// Parameters CONFIG SET refuses unless `enable-protected-configs` allows it.
pub const PROTECTED: &[&str] = &["dir", "dbfilename"];

/// Everything parsed so far.
struct State {
    values: std::collections::HashMap<&'static str, String>,
    /// The line each directive was last set by (for a refusal's report).
    lines: std::collections::HashMap<&'static str, (usize, String)>,
    save_from_file: bool,
    output_limits: OutputLimits,
    renames: Vec<(String, String)>,
    /// `user` directives, each one ACL SETUSER's worth of rules.
    users: Vec<String>,
    backend: reactor::Backend,
    expire_budget: usize,
    stats_interval: Option<f64>,
    logfile_set: bool,
    depth: usize,
}

impl State {
    fn new() -> State {
        let values = table::DIRECTIVES
            .iter()
            .map(|d| (d.name, d.default.to_string()))
            .collect();
        State {
            values,
            lines: Default::default(),
            save_from_file: false,
            output_limits: OutputLimits::default(),
            renames: Vec::new(),
            users: Vec::new(),
            backend: reactor::Backend::EpollLevel,
            expire_budget: 2000,
            stats_interval: None,
            logfile_set: false,
            depth: 0,
        }
    }
}

/// Parse redis-server's command line (`[config-file] [-] [--directive value ...]`), read
/// the files it names, and check everything. `stdin` is read only when the line asks for it.
pub fn load(args: &[String], stdin: &mut dyn std::io::Read) -> Result<Startup, Fatal> {
    let cl = split::command_line(args);
    let mut text = String::new();
    let mut config_file = None;
    if let Some(f) = &cl.config_file {
        let abs = std::path::absolute(f).unwrap_or_else(|_| PathBuf::from(f));
        text = std::fs::read_to_string(&abs).map_err(|e| {
            Fatal(format!(
                "Fatal error, can't open config file '{}': {}",
                abs.display(),
                io_reason(&e)
            ))
        })?;
        config_file = Some(abs);
    }
    if cl.stdin {
        let mut s = String::new();
        stdin
            .read_to_string(&mut s)
            .map_err(|e| fatal(&format!("Reading config from stdin: {}", io_reason(&e))))?;
        text.push_str(&s);
    }
    if !cl.options.is_empty() {
        text.push('\n');
        text.push_str(&cl.options);
    }
    let mut st = State::new();
    parse_text(&mut st, &text)?;
    finish(st, config_file)
}

/// The message C's strerror gives for an I/O error (without Rust's " (os error N)").
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(p) => s[..p].to_string(),
        None => s,
    }
}

fn parse_text(st: &mut State, text: &str) -> Result<(), Fatal> {
    for (i, raw) in text.split('\n').enumerate() {
        let trimmed = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        let line = Line {
            num: i + 1,
            text: trimmed,
        };
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some(words) = split::split_args(trimmed.as_bytes()) else {
            return Err(fatal_at(&line, "Unbalanced quotes in configuration line"));
        };
        if words.is_empty() {
            continue;
        }
        let words: Vec<String> = words
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect();
        let name = words[0].to_ascii_lowercase();
        directive(st, &name, &words[1..], &line)?;
    }
    Ok(())
}

fn directive(st: &mut State, name: &str, args: &[String], line: &Line<'_>) -> Result<(), Fatal> {
    let refuse = |why: &str| Err(fatal_at(line, why));
    match name {
        "include" if args.len() == 1 => {
            if st.depth >= 16 {
                return refuse("include nested too deeply");
            }
            let text = std::fs::read_to_string(&args[0]).map_err(|e| {
                Fatal(format!(
                    "Fatal error, can't open config file '{}': {}",
                    args[0],
                    io_reason(&e)
                ))
            })?;
            st.depth += 1;
            parse_text(st, &text)?;
            st.depth -= 1;
            return Ok(());
        }
        "rename-command" if args.len() == 2 => {
            st.renames.push((args[0].clone(), args[1].clone()));
            return Ok(());
        }
        "user" if !args.is_empty() => {
            st.users.push(format!("user {}", args.join(" ")));
            return Ok(());
        }
        "loadmodule" if !args.is_empty() => {
            return refuse("Modules are not supported by this server")
        }
        "sentinel" => return refuse("Sentinel mode is not supported by this server"),
        "replicaof" | "slaveof" if args.len() == 2 => {
            if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                return Ok(());
            }
            let port = crate::protocol::parse_i64(args[1].as_bytes());
            if !port.is_some_and(|p| (0..=65535).contains(&p)) {
                return refuse("Invalid master port");
            }
            return refuse("Replication is not supported by this server (replicaof)");
        }
        "backend" if args.len() == 1 => {
            st.backend = args[0]
                .parse()
                .map_err(|e: reactor::UnknownBackend| fatal_at(line, &e.to_string()))?;
            return Ok(());
        }
        "expire-budget" if args.len() == 1 => {
            st.expire_budget = crate::protocol::parse_i64(args[0].as_bytes())
                .filter(|n| *n > 0)
                .ok_or_else(|| fatal_at(line, "argument must be a positive integer"))?
                as usize;
            return Ok(());
        }
        "stats-interval" if args.len() == 1 => {
            let secs: f64 = args[0]
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| fatal_at(line, "argument must be a number of seconds"))?;
            st.stats_interval = (secs > 0.0).then_some(secs);
            return Ok(());
        }
        _ => {}
    }
    let Some(d) = table::find(name) else {
        return refuse("Bad directive or wrong number of arguments");
    };
    if OWN.contains(&name) {
        return refuse("wrong number of arguments");
    }
    let value = table::check(d, args).map_err(|e| fatal_at(line, &e))?;
    let value = match d.name {
        "save" => {
            // As Redis: the file's first `save` line replaces the defaults, later ones add
            // points; `save ""` clears them.
            let points = args.iter().filter(|a| !a.is_empty()).count();
            if !points.is_multiple_of(2) {
                return refuse("Invalid save parameters");
            }
            for a in args.iter().filter(|a| !a.is_empty()) {
                if crate::protocol::parse_i64(a.as_bytes()).is_none_or(|n| n < 0) {
                    return refuse("Invalid save parameters");
                }
            }
            let joined = args
                .iter()
                .filter(|a| !a.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            if !st.save_from_file || joined.is_empty() {
                st.save_from_file = true;
                joined
            } else {
                let old = &st.values["save"];
                if old.is_empty() {
                    joined
                } else {
                    format!("{old} {joined}")
                }
            }
        }
        "client-output-buffer-limit" => {
            st.output_limits = st
                .output_limits
                .updated_from_arg(&value)
                .map_err(|e| fatal_at(line, &e))?;
            st.output_limits.render()
        }
        "dir" => {
            // Redis changes directory at once: later relative paths are relative to it.
            std::env::set_current_dir(&value).map_err(|e| fatal_at(line, &io_reason(&e)))?;
            value
        }
        "logfile" => {
            st.logfile_set = true;
            value
        }
        "unixsocketperm" => {
            u32::from_str_radix(&value, 8)
                .ok()
                .filter(|p| *p <= 0o777)
                .ok_or_else(|| fatal_at(line, "Invalid socket file permissions"))?;
            value
        }
        "maxmemory-policy" | "appendfsync" | "loglevel" => value.to_ascii_lowercase(),
        _ => value,
    };
    st.values.insert(d.name, value);
    st.lines.insert(d.name, (line.num, line.text.to_string()));
    Ok(())
}

fn finish(st: State, config_file: Option<PathBuf>) -> Result<Startup, Fatal> {
    let v = |n: &str| st.values.get(n).cloned().unwrap_or_default();
    let mut unsupported = Vec::new();
    for d in table::DIRECTIVES {
        let value = v(d.name);
        let at_default =
            value == d.default || (d.kind == Kind::Bool && value.eq_ignore_ascii_case(d.default));
        if at_default {
            continue;
        }
        match d.effect {
            Effect::Refused(why) => {
                let (num, text) = st.lines.get(d.name).cloned().unwrap_or_default();
                return Err(fatal_at(&Line { num, text: &text }, why));
            }
            Effect::Unsupported(why) => unsupported.push(format!(
                "Directive '{} {}' is accepted but has no effect: {why}",
                d.name, value
            )),
            _ => {}
        }
    }
    let int = |n: &str| crate::protocol::parse_i64(v(n).as_bytes()).unwrap_or(0);
    let uint = |n: &str| u64::try_from(int(n)).unwrap_or(0);
    let mem = |n: &str| crate::config::parse_memory(&v(n)).unwrap_or(0);
    let dir = std::env::current_dir().map_err(|e| fatal(&io_reason(&e)))?;
    let appenddirname = v("appenddirname");
    if appenddirname != crate::persistence::aof::DIRNAME {
        let (num, text) = st.lines.get("appenddirname").cloned().unwrap_or_default();
        return Err(fatal_at(
            &Line { num, text: &text },
            "appenddirname other than 'appendonlydir' is not supported by this server",
        ));
    }
    let aclfile = Some(v("aclfile"))
        .filter(|p| !p.is_empty())
        .map(|p| std::path::absolute(&p).unwrap_or_else(|_| p.into()));
    let cfg = KvConfig {
        aclfile,
        users: st.users.clone(),
        databases: int("databases") as usize,
        requirepass: Some(v("requirepass")).filter(|p| !p.is_empty()),
        maxmemory: mem("maxmemory"),
        maxmemory_policy: v("maxmemory-policy")
            .parse()
            .unwrap_or(crate::Policy::NoEviction),
        maxmemory_samples: int("maxmemory-samples").max(1) as usize,
        maxclients: int("maxclients").max(1) as usize,
        proto_max_bulk_len: mem("proto-max-bulk-len").max(1),
        client_query_buffer_limit: mem("client-query-buffer-limit").max(1024),
        output_limits: st.output_limits,
        lfu_log_factor: int("lfu-log-factor") as u32,
        lfu_decay_time: int("lfu-decay-time") as u32,
        port: int("port") as u16,
        bind: v("bind"),
        expire_budget: st.expire_budget,
        aof: crate::AofConfig {
            enabled: v("appendonly") == "yes",
            dir: dir.clone(),
            filename: v("appendfilename"),
            fsync: v("appendfsync").parse().unwrap_or(crate::Fsync::EverySec),
            auto_rewrite_percentage: uint("auto-aof-rewrite-percentage"),
            auto_rewrite_min_size: mem("auto-aof-rewrite-min-size"),
        },
    };
    let path = |n: &str| Some(v(n)).filter(|s| !s.is_empty()).map(PathBuf::from);
    let daemonize = v("daemonize") == "yes";
    let mut pidfile = path("pidfile");
    if daemonize && pidfile.is_none() {
        pidfile = Some(PathBuf::from("/var/run/redis.pid"));
    }
    Ok(Startup {
        binds: v("bind").split_whitespace().map(str::to_string).collect(),
        unixsocket: path("unixsocket"),
        unixsocketperm: u32::from_str_radix(&v("unixsocketperm"), 8)
            .ok()
            .filter(|p| *p != 0),
        pidfile,
        logfile: v("logfile"),
        logfile_set: st.logfile_set,
        loglevel: v("loglevel"),
        daemonize,
        supervised: v("supervised"),
        always_show_logo: v("always-show-logo") == "yes",
        enable_debug: Allow::parse(&v("enable-debug-command")),
        enable_protected_configs: Allow::parse(&v("enable-protected-configs")),
        protected_mode: v("protected-mode") == "yes",
        timeout_secs: uint("timeout"),
        unsupported,
        backend: st.backend,
        stats_interval: st.stats_interval,
        renames: st.renames,
        config_file,
        values: table::DIRECTIVES
            .iter()
            .map(|d| (d.name, v(d.name)))
            .collect(),
        cfg,
    })
}

impl Startup {
    pub fn runtime(&self) -> Runtime {
        Runtime {
            config_file: self.config_file.clone(),
            enable_debug: self.enable_debug,
            enable_protected_configs: self.enable_protected_configs,
            ..Runtime::default()
        }
    }

    /// The service's stored parameters: the built-in ones with the values in force, and every
    /// other table directive (so CONFIG GET shows what is in force for all of them).
    pub fn extras(&self) -> Vec<Extra> {
        let mut extra = crate::config::extra_defaults();
        let value = |n: &str| {
            self.values
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
        };
        for e in &mut extra {
            if let Some(v) = value(e.name) {
                e.value = v;
            }
        }
        for d in table::DIRECTIVES {
            if SERVICE_PARAMS.contains(&d.name) || extra.iter().any(|e| e.name == d.name) {
                continue;
            }
            extra.push(Extra {
                name: d.name,
                alias: d.alias,
                kind: extra_kind(d),
                value: value(d.name).unwrap_or_default(),
            });
        }
        extra
    }
}

fn extra_kind(d: &Directive) -> ExtraKind {
    match d.kind {
        Kind::Bool => ExtraKind::Bool,
        Kind::Int(lo, hi) => ExtraKind::Int(lo, hi),
        Kind::Memory => ExtraKind::Memory,
        Kind::Enum(words) => ExtraKind::Enum(words),
        Kind::Text | Kind::Multi => ExtraKind::Text,
    }
}

/// The value of the stored parameter `name` (for features that read one: enable-debug-command).
pub fn extra_value<'a>(extra: &'a [Extra], name: &str) -> Option<&'a str> {
    extra
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.value.as_str())
}

/// Is `p` a path this process may write a pid file at (its directory exists)?
pub fn parent_exists(p: &Path) -> bool {
    p.parent()
        .is_none_or(|d| d.as_os_str().is_empty() || d.is_dir())
}

#[cfg(test)]
mod tests;
