//! Server commands: databases (SELECT, SWAPDB, DBSIZE, FLUSHDB, FLUSHALL), TIME,
//! LASTSAVE, SHUTDOWN, BGREWRITEAOF, COMMAND, INFO, and CLUSTER's refusal (as a Redis
//! started without cluster support). What they may not touch: clients' connections.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::commands::keys::help;
use crate::commands::keyspec;
use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::commands::table::{check_sub, Command, COMMANDS, FLAG_NAMES};
use crate::keyspace::Db;
use crate::protocol::{parse_i64, Args, Reply};
use crate::service::Exec;
use kvtypes::glob;

pub const VERSION: &str = "7.0.15";

/// Redis's `getIntFromObjectOrReply`: `custom` replaces both of its messages.
pub fn int32_arg(x: &mut Exec<'_, '_>, arg: &[u8], custom: Option<&str>) -> Option<i32> {
    let msg = match parse_i64(arg) {
        Some(n) => match i32::try_from(n) {
            Ok(v) => return Some(v),
            Err(_) => "ERR value is out of range, value must between -2147483648 and 2147483647",
        },
        None => NOT_INT,
    };
    x.err(custom.unwrap_or(msg));
    None
}

/// A database number: an `int`, then in range.
pub fn db_index(x: &mut Exec<'_, '_>, arg: &[u8], custom: Option<&str>) -> Option<usize> {
    let n = int32_arg(x, arg, custom)?;
    if n < 0 || n as usize >= x.core.dbs.len() {
        x.err("ERR DB index is out of range");
        return None;
    }
    Some(n as usize)
}

pub fn select(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if let Some(db) = db_index(x, a.get(1), None) {
        x.client.db = db;
        x.r().ok();
    }
}

pub fn swapdb(x: &mut Exec<'_, '_>, a: Args<'_>) {
    // Redis parses both indexes before checking either's range: `SWAPDB 16 abc` is an
    // "invalid second DB index", not "out of range" (found by the differential test).
    let Some(d1) = int32_arg(x, a.get(1), Some("ERR invalid first DB index")) else {
        return;
    };
    let Some(d2) = int32_arg(x, a.get(2), Some("ERR invalid second DB index")) else {
        return;
    };
    let n = x.core.dbs.len();
    let (Ok(d1), Ok(d2)) = (usize::try_from(d1), usize::try_from(d2)) else {
        return x.err("ERR DB index is out of range");
    };
    if d1 >= n || d2 >= n {
        return x.err("ERR DB index is out of range");
    }
    if d1 != d2 {
        swap_dbs(&mut x.core.dbs, d1, d2);
    }
    x.r().ok();
}

/// Swap the keys of two databases; watchers stay with the database number, and see their
/// key change if it exists on either side.
fn swap_dbs(dbs: &mut [Db], d1: usize, d2: usize) {
    let (lo, hi) = dbs.split_at_mut(d1.max(d2));
    let (a, b) = (&mut lo[d1.min(d2)], &mut hi[0]);
    a.touch_watched_present(Some(b));
    b.touch_watched_present(Some(a));
    let (wa, wb) = (a.take_watched(), b.take_watched());
    std::mem::swap(a, b);
    a.put_watched(wa);
    b.put_watched(wb);
    // Blocked clients wait on a database number too: their keys stay, and those present in
    // the database swapped in are ready (Redis's scanDatabaseForReadyKeys).
    std::mem::swap(&mut a.waits, &mut b.waits);
    a.signal_present();
    b.signal_present();
}

pub fn dbsize(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let n = x.db().len();
    x.r().int(n as i64);
}

fn flush_arg(x: &mut Exec<'_, '_>, a: &Args<'_>) -> bool {
    match a.len() {
        1 => true,
        2 if a.get(1).eq_ignore_ascii_case(b"async") || a.get(1).eq_ignore_ascii_case(b"sync") => {
            true
        }
        _ => {
            x.err(SYNTAX);
            false
        }
    }
}

pub fn flushdb(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if flush_arg(x, &a) {
        if crate::keyspace::lazyfree::wants_async(&a, &x.core.extra) {
            crate::keyspace::lazyfree::clear_async(x.db());
        } else {
            x.db().clear();
        }
        x.r().ok();
    }
}

pub fn flushall(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if flush_arg(x, &a) {
        if crate::keyspace::lazyfree::wants_async(&a, &x.core.extra) {
            x.core
                .dbs
                .iter_mut()
                .for_each(crate::keyspace::lazyfree::clear_async);
        } else {
            x.core.dbs.iter_mut().for_each(Db::clear);
        }
        x.r().ok();
    }
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

pub fn time(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let now = unix_now();
    let mut r = x.r();
    r.array(2);
    r.bulk(now.as_secs().to_string().as_bytes());
    r.bulk(now.subsec_micros().to_string().as_bytes());
}

pub fn cluster(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if check_sub(x, &a, "cluster").is_some() {
        x.err("ERR This instance has cluster support disabled");
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: nothing is persisted yet, so every form
/// but ABORT stops the loop (which closes every connection; like Redis, no reply).
pub fn shutdown(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut abort = false;
    let mut mode = crate::commands::snapshot::Shutdown::Default;
    for opt in a.iter().skip(1) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nosave" => mode = crate::commands::snapshot::Shutdown::NoSave,
            b"save" => mode = crate::commands::snapshot::Shutdown::Save,
            b"now" | b"force" => {}
            b"abort" => abort = true,
            _ => return x.err(SYNTAX),
        }
    }
    if abort {
        return x.err("ERR No shutdown in progress.");
    }
    x.core.shutdown_mode = mode;
    match &x.core.stop {
        Some(stop) => {
            tracing::warn!("SHUTDOWN requested by client id={}", x.client.id);
            stop.stop();
            x.client.closing = true;
        }
        None => x.err("ERR SHUTDOWN is not available on this server"),
    }
}

/// BGREWRITEAOF.
pub fn bgrewriteaof(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let core = &mut *x.core;
    match core.aof.start_rewrite(&mut core.dbs, core.now_ms) {
        Ok(()) => x
            .r()
            .simple("Background append only file rewriting started"),
        Err(e) => x.err(&e),
    }
}

// ---------------------------------------------------------------------------------------------
// COMMAND

fn command_info(r: &mut Reply<'_>, c: &Command, name: &str, arity: i32, subs: bool) {
    r.array(10);
    r.bulk(name.as_bytes());
    r.int(i64::from(arity));
    let mut flags: Vec<&str> = FLAG_NAMES
        .iter()
        .filter(|(f, _)| c.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    if keyspec::movable(c.name) && !name.contains('|') {
        flags.push("movablekeys");
    }
    r.set(flags.len());
    for n in flags {
        r.simple(n);
    }
    r.int(i64::from(c.keys.0));
    r.int(i64::from(c.keys.1));
    r.int(i64::from(c.keys.2));
    let cats = keyspec::category_names(c);
    r.set(cats.len());
    for cat in cats {
        r.simple(&cat);
    }
    r.set(0);
    r.array(0);
    if subs {
        r.array(c.subs.len());
        for (sub, ar) in c.subs {
            command_info(r, c, &format!("{}|{}", c.name, sub), *ar, false);
        }
    } else {
        r.array(0);
    }
}

fn command_docs(r: &mut Reply<'_>, c: &Command) {
    r.bulk(c.name.as_bytes());
    let has_subs = !c.subs.is_empty();
    r.map(3 + usize::from(has_subs));
    r.bulk(b"summary");
    r.bulk(c.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(c.since.as_bytes());
    r.bulk(b"group");
    r.bulk(c.group.as_bytes());
    if has_subs {
        r.bulk(b"subcommands");
        r.map(c.subs.len());
        for (sub, _) in c.subs {
            r.bulk(format!("{}|{}", c.name, sub).as_bytes());
            r.map(3);
            r.bulk(b"summary");
            r.bulk(format!("{} {}", c.name.to_uppercase(), sub.to_uppercase()).as_bytes());
            r.bulk(b"since");
            r.bulk(c.since.as_bytes());
            r.bulk(b"group");
            r.bulk(c.group.as_bytes());
        }
    }
}

fn lookup_cmd(name: &[u8]) -> Option<&'static Command> {
    let n = String::from_utf8_lossy(name).to_ascii_lowercase();
    COMMANDS.iter().find(|c| c.name == n)
}

/// A command or `container|subcommand` by name: the command, and the subcommand's entry.
fn lookup_full(name: &[u8]) -> Option<(&'static Command, Option<(&'static str, i32)>)> {
    let n = String::from_utf8_lossy(name).to_ascii_lowercase();
    match n.split_once('|') {
        None => lookup_cmd(name).map(|c| (c, None)),
        Some((parent, sub)) => {
            let c = lookup_cmd(parent.as_bytes())?;
            let s = c.subs.iter().find(|(s2, _)| *s2 == sub)?;
            Some((c, Some(*s)))
        }
    }
}

/// Every command and `container|subcommand` name (COMMAND LIST).
fn all_names() -> Vec<(String, &'static Command)> {
    let mut v = Vec::new();
    for c in COMMANDS {
        v.push((c.name.to_string(), c));
        for (sub, _) in c.subs {
            v.push((format!("{}|{}", c.name, sub), c));
        }
    }
    v
}

fn command_list(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let names = all_names();
    let picked: Vec<&String> = match a.len() {
        2 => names.iter().map(|(n, _)| n).collect(),
        5 if a.get(2).eq_ignore_ascii_case(b"filterby") => {
            let what = a.get(3).to_ascii_lowercase();
            let arg = a.get(4);
            match what.as_slice() {
                b"pattern" => names
                    .iter()
                    .filter(|(n, _)| glob::matches(&arg.to_ascii_lowercase(), n.as_bytes()))
                    .map(|(n, _)| n)
                    .collect(),
                b"aclcat" => match keyspec::category(arg) {
                    Some(cat) => names
                        .iter()
                        .filter(|(_, c)| keyspec::categories(c) & (1 << cat) != 0)
                        .map(|(n, _)| n)
                        .collect(),
                    None => Vec::new(),
                },
                b"module" => Vec::new(),
                _ => return x.err(SYNTAX),
            }
        }
        _ => return x.err(SYNTAX),
    };
    let mut r = x.r();
    r.array(picked.len());
    for n in picked {
        r.bulk(n.as_bytes());
    }
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS command [arg ...].
fn command_getkeys(x: &mut Exec<'_, '_>, a: &Args<'_>, with_flags: bool) {
    let Some(c) = lookup_cmd(a.get(2)) else {
        return x.err("ERR Invalid command specified");
    };
    if !keyspec::has_keys(c) {
        return x.err("ERR The command has no key arguments");
    }
    let argc = a.len() - 2;
    if (c.arity > 0 && argc != c.arity as usize) || argc < c.arity.unsigned_abs() as usize {
        return x.err("ERR Invalid number of arguments specified for command");
    }
    let inner = crate::protocol::OwnedArgs::new(a.iter().skip(2));
    let keys = keyspec::keys(c, &inner.args());
    let Some(keys) = keys.filter(|k| !k.is_empty() || keyspec::movable(c.name)) else {
        return x.err("ERR Invalid arguments specified for command");
    };
    let mut r = x.r();
    r.array(keys.len());
    for (i, flags) in keys {
        if with_flags {
            r.array(2);
            r.bulk(a.get(i + 2));
            let f: Vec<&str> = flags.split(' ').collect();
            r.set(f.len());
            for f in f {
                r.simple(f);
            }
        } else {
            r.bulk(a.get(i + 2));
        }
    }
}

pub fn command(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() == 1 {
        let mut r = x.r();
        r.array(COMMANDS.len());
        for c in COMMANDS {
            command_info(&mut r, c, c.name, c.arity, true);
        }
        return;
    }
    let Some(sub) = check_sub(x, &a, "command") else {
        return;
    };
    match sub {
        "count" => x.r().int(COMMANDS.len() as i64),
        "list" => command_list(x, &a),
        "getkeys" => command_getkeys(x, &a, false),
        "getkeysandflags" => command_getkeys(x, &a, true),
        "info" => {
            let mut r = x.r();
            if a.len() == 2 {
                r.array(COMMANDS.len());
                for c in COMMANDS {
                    command_info(&mut r, c, c.name, c.arity, true);
                }
                return;
            }
            r.array(a.len() - 2);
            for name in a.iter().skip(2) {
                match lookup_full(name) {
                    Some((c, None)) => command_info(&mut r, c, c.name, c.arity, true),
                    Some((c, Some((sub, ar)))) => {
                        command_info(&mut r, c, &format!("{}|{}", c.name, sub), ar, false)
                    }
                    None => r.null(),
                }
            }
        }
        "docs" => {
            let list: Vec<&Command> = if a.len() == 2 {
                COMMANDS.iter().collect()
            } else {
                a.iter().skip(2).filter_map(lookup_cmd).collect()
            };
            let mut r = x.r();
            r.map(list.len());
            for c in list {
                command_docs(&mut r, c);
            }
        }
        _ => help(
            x,
            &[
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
                "GETKEYSANDFLAGS <full-command>",
                "    Return the keys and the access flags from a full Redis command.",
                "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
                "    Return a list of all commands in this Redis server.",
                "HELP",
                "    Print this help.",
            ],
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// INFO

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// Resident set size from /proc/self/statm (0 if unreadable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds from /proc/self/stat.
fn cpu_seconds() -> (f64, f64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return (0.0, 0.0);
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "latencystats",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

pub fn info(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut want: Vec<String> = a
        .iter()
        .skip(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    if want.is_empty() || want.iter().any(|w| w == "default") {
        want.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    if want.iter().any(|w| w == "all" || w == "everything") {
        want.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
        want.push("commandstats".into());
        want.push("latencystats".into());
    }
    crate::commands::introspection::note_peak(x.core);
    let text = info_text(x, &want);
    x.r().verbatim(text.as_bytes());
}

fn info_text(x: &Exec<'_, '_>, want: &[String]) -> String {
    let core = &*x.core;
    let has = |s: &str| want.iter().any(|w| w == s);
    let mut out = String::new();
    let mut section = |title: &str, body: String| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n{body}");
    };
    let uptime = core.start.elapsed().as_secs();
    if has("server") {
        let mut b = String::new();
        let _ = write!(
            b,
            "redis_version:{VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
             redis_build_id:0\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\n\
             multiplexing_api:readyloop\r\nserver_name:readyloop-kv\r\nreadyloop_version:{}\r\n\
             process_id:{}\r\nprocess_supervised:no\r\ntcp_port:{}\r\nserver_time_usec:{}\r\n\
             uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\n\
             lru_clock:{}\r\nexecutable:\r\nconfig_file:\r\nio_threads_active:0\r\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            core.cfg.port,
            unix_now().as_micros(),
            uptime / 86400,
            core.clock,
        );
        section("Server", b);
    }
    if has("clients") {
        section(
            "Clients",
            format!(
                "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
                 client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\n\
                 blocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
                core.live_clients,
                core.cfg.maxclients,
                core.blocking.blocked_count() + core.intro.paused.len(),
                core.blocking.timed_count()
            ),
        );
    }
    if has("memory") {
        let used = core.used_memory() as u64;
        let peak = core.intro.peak_memory as u64;
        let rss = rss_bytes();
        let dataset: u64 = core.dbs.iter().map(|d| d.used_bytes() as u64).sum();
        section(
            "Memory",
            format!(
                "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
                 used_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
                 used_memory_rss_human:{}\r\nused_memory_dataset:{dataset}\r\n\
                 maxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\
                 mem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\n\
                 used_memory_note:used_memory counts the keyspace's slots, hash table, heap \
                 values and deadline indexes plus 1 MiB and 1 KiB per client; used_memory_rss \
                 is the process's resident set\r\n",
                human(used),
                human(peak),
                human(rss),
                core.cfg.maxmemory,
                human(core.cfg.maxmemory),
                core.cfg.maxmemory_policy.name(),
                if used > 0 {
                    rss as f64 / used as f64
                } else {
                    0.0
                },
            ) + &crate::keyspace::lazyfree::info()
                + &{
                    let (lua, scripts, bodies) = core.scripting.info();
                    format!(
                        "used_memory_lua:{lua}\r\nused_memory_lua_human:{}\r\n\
                         used_memory_vm_eval:{lua}\r\nused_memory_scripts_eval:{bodies}\r\n\
                         number_of_cached_scripts:{scripts}\r\nnumber_of_functions:{}\r\n\
                         number_of_libraries:{}\r\nused_memory_scripts:{bodies}\r\n",
                        human(lua as u64),
                        core.scripting.libs.function_count(),
                        core.scripting.libs.library_count(),
                    )
                },
        );
    }
    if has("persistence") {
        section(
            "Persistence",
            format!(
                "loading:0\r\nasync_loading:0\r\n{}{}",
                core.rdb.info(crate::commands::snapshot::dirty(core)),
                core.aof.info()
            ),
        );
    }
    if has("stats") {
        let c = &core.counters;
        let expired: u64 = core.dbs.iter().map(|d| d.expired).sum();
        section(
            "Stats",
            format!(
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 instantaneous_ops_per_sec:0\r\nrejected_connections:{}\r\nexpired_keys:{expired}\r\n\
                 evicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\n\
                 pubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\n\
                 total_error_replies:{}\r\n",
                c.connections,
                c.commands,
                c.rejected_conns,
                c.evicted,
                c.keyspace_hits,
                c.keyspace_misses,
                core.pubsub.sizes().0,
                core.pubsub.sizes().1,
                core.pubsub.sizes().2,
                c.error_replies
            ),
        );
    }
    if has("replication") {
        section(
            "Replication",
            "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n\
             master_repl_offset:0\r\nrepl_backlog_active:0\r\n"
                .to_string(),
        );
    }
    if has("cpu") {
        let (user, sys) = cpu_seconds();
        section(
            "CPU",
            format!("used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"),
        );
    }
    if has("modules") {
        section("Modules", String::new());
    }
    if has("errorstats") {
        let mut b = String::new();
        for (code, n) in &core.counters.errors {
            let _ = write!(b, "errorstat_{code}:count={n}\r\n");
        }
        section("Errorstats", b);
    }
    if has("cluster") {
        section("Cluster", "cluster_enabled:0\r\n".to_string());
    }
    if has("commandstats") {
        let mut b = String::new();
        for (c, st) in COMMANDS.iter().zip(&core.stats) {
            if st.calls + st.rejected + st.failed == 0 {
                continue;
            }
            let usec = st.nanos / 1000;
            let per = if st.calls > 0 {
                st.nanos as f64 / 1000.0 / st.calls as f64
            } else {
                0.0
            };
            let _ = write!(
                b,
                "cmdstat_{}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
                c.name, st.calls, usec, st.rejected, st.failed
            );
        }
        section("Commandstats", b);
    }
    if has("latencystats") {
        section(
            "Latencystats",
            crate::commands::introspection::latency_info(core),
        );
    }
    if has("keyspace") {
        let mut b = String::new();
        for (i, db) in core.dbs.iter().enumerate() {
            if !db.is_empty() {
                let _ = write!(
                    b,
                    "db{i}:keys={},expires={},avg_ttl=0\r\n",
                    db.len(),
                    db.expires_len()
                );
            }
        }
        section("Keyspace", b);
    }
    out
}
