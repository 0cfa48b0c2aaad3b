//! CONFIG GET|SET|RESETSTAT|REWRITE|HELP: the parameters in force, checked and applied
//! at once. What it may not touch: the keyspace's contents.

use crate::commands::keys::help;
use crate::commands::table::check_sub;
use crate::config::{parse_memory, ExtraKind, Policy, POLICY_NAMES};
use crate::protocol::{parse_i64, Args};
use crate::service::{Core, Exec};
use kvtypes::glob;

// ---------------------------------------------------------------------------------------------
// CONFIG

fn core_params(core: &Core) -> Vec<(&'static str, String)> {
    let c = &core.cfg;
    vec![
        ("databases", c.databases.to_string()),
        ("port", c.port.to_string()),
        ("bind", c.bind.clone()),
        ("maxmemory", c.maxmemory.to_string()),
        ("maxmemory-policy", c.maxmemory_policy.name().to_string()),
        ("maxmemory-samples", c.maxmemory_samples.to_string()),
        ("maxclients", c.maxclients.to_string()),
        ("requirepass", c.requirepass.clone().unwrap_or_default()),
        ("proto-max-bulk-len", c.proto_max_bulk_len.to_string()),
        (
            "client-query-buffer-limit",
            c.client_query_buffer_limit.to_string(),
        ),
        ("lfu-log-factor", c.lfu_log_factor.to_string()),
        ("lfu-decay-time", c.lfu_decay_time.to_string()),
        ("client-output-buffer-limit", c.output_limits.render()),
        // The log's own settings live with it (CONFIG SET appendonly changes them at run time).
        ("appendonly", yes_no(core.aof.cfg.enabled)),
        ("appendfsync", core.aof.cfg.fsync.name().to_string()),
        ("dir", core.aof.cfg.dir.display().to_string()),
        ("appendfilename", core.aof.cfg.filename.clone()),
        (
            "appenddirname",
            crate::persistence::aof::DIRNAME.to_string(),
        ),
        (
            "auto-aof-rewrite-percentage",
            core.aof.cfg.auto_rewrite_percentage.to_string(),
        ),
        (
            "auto-aof-rewrite-min-size",
            core.aof.cfg.auto_rewrite_min_size.to_string(),
        ),
    ]
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

pub fn config(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = check_sub(x, &a, "config") else {
        return;
    };
    match sub {
        "get" => config_get(x, a),
        "set" => config_set(x, a),
        "resetstat" => {
            let n = x.core.stats.len();
            x.core.stats = vec![Default::default(); n];
            x.core.counters = Default::default();
            crate::commands::introspection::reset_stats(x.core);
            x.r().ok();
        }
        "rewrite" => config_rewrite(x),
        _ => help(
            x,
            &[
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "SET <directive> <value>",
                "RESETSTAT",
                "REWRITE",
            ],
        ),
    }
}

/// CONFIG REWRITE: the config file the server started with, updated in place with every
/// parameter's value in force (see conf::rewrite for what is kept and what is appended).
fn config_rewrite(x: &mut Exec<'_, '_>) {
    let Some(path) = x.core.runtime.config_file.clone() else {
        return x.err("ERR The server is running without a config file");
    };
    let mut values = std::collections::HashMap::new();
    for (n, v) in core_params(x.core) {
        if let Some(d) = crate::conf::table::find(n) {
            values.insert(d.name, v);
        }
    }
    for e in &x.core.extra {
        if let Some(d) = crate::conf::table::find(e.name) {
            values.insert(d.name, e.value.clone());
        }
    }
    match crate::conf::rewrite::rewrite_file(&path, &values) {
        Ok(()) => {
            tracing::info!("CONFIG REWRITE executed with success.");
            x.r().ok();
        }
        Err(e) => {
            let why = crate::conf::io_reason(&e);
            tracing::warn!("CONFIG REWRITE failed: {why}");
            x.err(&format!("ERR Rewriting config file: {why}"));
        }
    }
}

fn config_get(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut all: Vec<(String, String)> = core_params(x.core)
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    for e in &x.core.extra {
        all.push((e.name.to_string(), e.value.clone()));
        if !e.alias.is_empty() {
            all.push((e.alias.to_string(), e.value.clone()));
        }
    }
    let pats: Vec<Vec<u8>> = a.iter().skip(2).map(|p| p.to_ascii_lowercase()).collect();
    let hits: Vec<&(String, String)> = all
        .iter()
        .filter(|(n, _)| pats.iter().any(|p| glob::matches(p, n.as_bytes())))
        .collect();
    let mut r = x.r();
    r.map(hits.len());
    for (n, v) in hits {
        r.bulk(n.as_bytes());
        r.bulk(v.as_bytes());
    }
}

fn set_failed(name: &[u8], why: &str) -> String {
    format!(
        "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
        String::from_utf8_lossy(name)
    )
}

fn config_set(x: &mut Exec<'_, '_>, a: Args<'_>) {
    // Fewer than one pair is an arity error (the table's -4); a pair cut short is Redis's
    // syntax error.
    if !a.len().is_multiple_of(2) {
        return x.err(crate::commands::strings::SYNTAX);
    }
    // Validate everything first: CONFIG SET with several pairs is all or nothing.
    let mut pending = Vec::new();
    for k in (2..a.len()).step_by(2) {
        let name = a.get(k).to_ascii_lowercase();
        let v = String::from_utf8_lossy(a.get(k + 1)).into_owned();
        match check_param(x.core, &name, &v) {
            Ok(p) => pending.push(p),
            Err(e) => return x.err(&e),
        }
    }
    let limits_changed = pending.iter().any(|p| matches!(p, Set::OutputLimits(_)));
    for p in pending {
        apply_param(x.core, p);
    }
    crate::commands::introspection::config_changed(x.core);
    if limits_changed {
        reapply_output_limits(x);
    }
    x.r().ok();
}

enum Set {
    MaxMemory(u64),
    Policy(Policy),
    Samples(usize),
    MaxClients(usize),
    Pass(Option<String>),
    BulkLen(u64),
    QueryLimit(u64),
    LfuLog(u32),
    LfuDecay(u32),
    Extra(usize, String),
    AppendOnly(bool),
    AppendFsync(crate::persistence::aof::Fsync),
    AutoRewritePct(u64),
    AutoRewriteMin(u64),
    OutputLimits(crate::config::OutputLimits),
}

/// CONFIG SET client-output-buffer-limit: every connected client takes its class's new limits
/// (Redis checks them against the new values from then on).
fn reapply_output_limits(x: &mut Exec<'_, '_>) {
    let targets: Vec<_> = x
        .clients()
        .map(|c| {
            (
                c.conn,
                crate::service::limits::class_of(x.core.pubsub.count(c.id)),
            )
        })
        .collect();
    for (conn, class) in targets {
        crate::service::limits::apply(x.ctx, &x.core.cfg.output_limits, conn, class);
    }
}

fn int_arg(name: &[u8], v: &str, lo: i64, hi: i64) -> Result<i64, String> {
    let n = parse_i64(v.as_bytes())
        .ok_or_else(|| set_failed(name, "argument couldn't be parsed into an integer"))?;
    if n < lo || n > hi {
        return Err(set_failed(
            name,
            &format!("argument must be between {lo} and {hi} inclusive"),
        ));
    }
    Ok(n)
}

fn mem_arg(name: &[u8], v: &str) -> Result<u64, String> {
    parse_memory(v).ok_or_else(|| set_failed(name, "argument must be a memory value"))
}

fn check_param(core: &Core, name: &[u8], v: &str) -> Result<Set, String> {
    let big = i64::from(i32::MAX);
    Ok(match name {
        b"maxmemory" => Set::MaxMemory(mem_arg(name, v)?),
        b"maxmemory-policy" => Set::Policy(v.parse().map_err(|_| {
            set_failed(
                name,
                &format!("argument(s) must be one of the following: {POLICY_NAMES}"),
            )
        })?),
        b"maxmemory-samples" => Set::Samples(int_arg(name, v, 1, 64)? as usize),
        b"maxclients" => Set::MaxClients(int_arg(name, v, 1, big)? as usize),
        b"requirepass" => Set::Pass((!v.is_empty()).then(|| v.to_string())),
        b"proto-max-bulk-len" => Set::BulkLen(mem_arg(name, v)?.max(1)),
        b"client-query-buffer-limit" => Set::QueryLimit(mem_arg(name, v)?),
        b"client-output-buffer-limit" => Set::OutputLimits(
            core.cfg
                .output_limits
                .updated(v)
                .map_err(|why| set_failed(name, why))?,
        ),
        b"lfu-log-factor" => Set::LfuLog(int_arg(name, v, 0, big)? as u32),
        b"lfu-decay-time" => Set::LfuDecay(int_arg(name, v, 0, big)? as u32),
        b"databases" | b"port" | b"bind" | b"appendfilename" | b"appenddirname" => {
            return Err(set_failed(name, "can't set immutable config"))
        }
        b"dir" => return Err(set_failed(name, "can't set protected config")),
        b"auto-aof-rewrite-percentage" => {
            Set::AutoRewritePct(int_arg(name, v, 0, i64::from(i32::MAX))? as u64)
        }
        b"auto-aof-rewrite-min-size" => Set::AutoRewriteMin(mem_arg(name, v)?),
        b"appendonly" => match v.to_ascii_lowercase().as_str() {
            "yes" => Set::AppendOnly(true),
            "no" => Set::AppendOnly(false),
            _ => return Err(set_failed(name, "argument must be 'yes' or 'no'")),
        },
        b"appendfsync" => Set::AppendFsync(v.parse().map_err(|_| {
            set_failed(
                name,
                "argument(s) must be one of the following: always, everysec, no",
            )
        })?),
        n if crate::conf::IMMUTABLE.iter().any(|i| i.as_bytes() == n) => {
            return Err(set_failed(name, "can't set immutable config"))
        }
        n if crate::conf::PROTECTED.iter().any(|i| i.as_bytes() == n)
            && core.runtime.enable_protected_configs == crate::conf::Allow::No =>
        {
            return Err(set_failed(name, "can't set protected config"))
        }
        _ => {
            let Some(pos) = core
                .extra
                .iter()
                .position(|e| e.name.as_bytes() == name || e.alias.as_bytes() == name)
            else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(name)
                ));
            };
            let value = match core.extra[pos].kind {
                ExtraKind::Int(lo, hi) => int_arg(name, v, lo, hi)?.to_string(),
                ExtraKind::Memory => mem_arg(name, v)?.to_string(),
                ExtraKind::Bool => match v.to_ascii_lowercase().as_str() {
                    b @ ("yes" | "no") => b.to_string(),
                    _ => return Err(set_failed(name, "argument must be 'yes' or 'no'")),
                },
                ExtraKind::Enum(words) => {
                    let l = v.to_ascii_lowercase();
                    if !words.contains(&l.as_str()) {
                        return Err(set_failed(
                            name,
                            &format!(
                                "argument(s) must be one of the following: {}",
                                words.join(", ")
                            ),
                        ));
                    }
                    l
                }
                ExtraKind::Text => v.to_string(),
            };
            Set::Extra(pos, value)
        }
    })
}

fn apply_param(core: &mut Core, p: Set) {
    let c = &mut core.cfg;
    match p {
        Set::MaxMemory(v) => c.maxmemory = v,
        Set::Policy(v) => c.maxmemory_policy = v,
        Set::Samples(v) => c.maxmemory_samples = v,
        Set::MaxClients(v) => c.maxclients = v,
        Set::Pass(v) => {
            core.acl.set_default_password(v.as_deref());
            core.cfg.requirepass = v;
        }
        Set::BulkLen(v) => c.proto_max_bulk_len = v,
        Set::QueryLimit(v) => c.client_query_buffer_limit = v,
        Set::OutputLimits(v) => c.output_limits = v,
        Set::LfuLog(v) => c.lfu_log_factor = v,
        Set::LfuDecay(v) => c.lfu_decay_time = v,
        Set::Extra(pos, v) => core.extra[pos].value = v,
        Set::AppendOnly(true) => {
            // Redis starts a rewrite and answers OK; a failure shows in the log and INFO.
            if let Err(e) = core.aof.enable(&core.dbs) {
                tracing::warn!("cannot start the append-only log: {e}");
            }
        }
        Set::AppendOnly(false) => core.aof.disable(),
        Set::AutoRewritePct(v) => core.aof.cfg.auto_rewrite_percentage = v,
        Set::AutoRewriteMin(v) => core.aof.cfg.auto_rewrite_min_size = v,
        Set::AppendFsync(f) => {
            if let Err(e) = core.aof.set_fsync(f) {
                tracing::warn!("cannot start the fsync thread: {e}");
            }
        }
    }
}
