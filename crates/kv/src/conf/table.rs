//! Every directive of Redis 7.0's redis.conf, with its type, default and what this server
//! does with it. What it may not touch: how a file is read (see `mod.rs`).
//!
//! - `Applied`: the value takes effect (start-up code in `mod.rs` reads it).
//! - `Kept`: the value is kept and reported by CONFIG GET; it has no observable effect here
//!   (tuning of machinery this server does not have, or behaviour it always has).
//! - `Unsupported`: a value other than the default names behaviour this server lacks: the
//!   server starts and says so in one log line per directive.
//! - `Refused`: a value other than the default would be unsafe to ignore (a replica that is
//!   not one, users that are not checked): the server refuses to start.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int(i64, i64),
    Memory,
    /// One of these words.
    Enum(&'static [&'static str]),
    /// Any one argument.
    Text,
    /// Any number of arguments, joined by spaces (save, bind, client-output-buffer-limit ...).
    Multi,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Applied,
    Kept,
    Unsupported(&'static str),
    Refused(&'static str),
}

#[derive(Clone, Copy, Debug)]
pub struct Directive {
    pub name: &'static str,
    pub alias: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub effect: Effect,
}

const I32: i64 = i32::MAX as i64;
const YN: Kind = Kind::Bool;
const NO_REPL: &str = "replication is not implemented";
const NO_CLUSTER: &str = "cluster mode is not implemented";
const NO_TLS: &str = "TLS is not implemented";
const NO_DEFRAG: &str = "active defragmentation is not implemented";
const PROTECTED: &[&str] = &["no", "yes", "local"];

use Effect::*;
use Kind::*;

macro_rules! d {
    ($name:expr, $alias:expr, $kind:expr, $default:expr, $effect:expr) => {
        Directive {
            name: $name,
            alias: $alias,
            kind: $kind,
            default: $default,
            effect: $effect,
        }
    };
}

/// The table, in redis.conf's order of sections.
pub static DIRECTIVES: &[Directive] = &[
    // network
    d!("bind", "", Multi, "* -::*", Applied),
    d!("bind-source-addr", "", Text, "", Kept),
    d!("protected-mode", "", YN, "yes", Kept),
    d!("port", "", Int(0, 65535), "6379", Applied),
    d!("tcp-backlog", "", Int(0, I32), "511", Kept),
    d!("unixsocket", "", Text, "", Applied),
    d!("unixsocketperm", "", Text, "0", Applied),
    d!("timeout", "", Int(0, I32), "0", Applied),
    d!("tcp-keepalive", "", Int(0, I32), "300", Kept),
    d!("socket-mark-id", "", Int(0, I32), "0", Kept),
    // TLS
    d!("tls-port", "", Int(0, 65535), "0", Refused(NO_TLS)),
    d!("tls-cert-file", "", Text, "", Kept),
    d!("tls-key-file", "", Text, "", Kept),
    d!("tls-key-file-pass", "", Text, "", Kept),
    d!("tls-client-cert-file", "", Text, "", Kept),
    d!("tls-client-key-file", "", Text, "", Kept),
    d!("tls-client-key-file-pass", "", Text, "", Kept),
    d!("tls-dh-params-file", "", Text, "", Kept),
    d!("tls-ca-cert-file", "", Text, "", Kept),
    d!("tls-ca-cert-dir", "", Text, "", Kept),
    d!(
        "tls-auth-clients",
        "",
        Enum(&["no", "yes", "optional"]),
        "yes",
        Kept
    ),
    d!("tls-replication", "", YN, "no", Kept),
    d!("tls-cluster", "", YN, "no", Kept),
    d!("tls-protocols", "", Text, "", Kept),
    d!("tls-ciphers", "", Text, "", Kept),
    d!("tls-ciphersuites", "", Text, "", Kept),
    d!("tls-prefer-server-ciphers", "", YN, "no", Kept),
    d!("tls-session-caching", "", YN, "yes", Kept),
    d!("tls-session-cache-size", "", Int(0, I32), "20480", Kept),
    d!("tls-session-cache-timeout", "", Int(0, I32), "300", Kept),
    // general
    d!("daemonize", "", YN, "no", Applied),
    d!(
        "supervised",
        "",
        Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        Unsupported("no readiness notification is sent to a supervisor")
    ),
    d!("pidfile", "", Text, "", Applied),
    d!(
        "loglevel",
        "",
        Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
        Applied
    ),
    d!("logfile", "", Text, "", Applied),
    d!(
        "syslog-enabled",
        "",
        YN,
        "no",
        Refused("syslog logging is not implemented")
    ),
    d!("syslog-ident", "", Text, "redis", Kept),
    d!(
        "syslog-facility",
        "",
        Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"
        ]),
        "local0",
        Kept
    ),
    d!("crash-log-enabled", "", YN, "yes", Kept),
    d!("crash-memcheck-enabled", "", YN, "yes", Kept),
    d!("databases", "", Int(1, I32), "16", Applied),
    d!("always-show-logo", "", YN, "no", Applied),
    d!("set-proc-title", "", YN, "yes", Kept),
    d!(
        "proc-title-template",
        "",
        Text,
        "{title} {listen-addr} {server-mode}",
        Kept
    ),
    d!(
        "enable-protected-configs",
        "",
        Enum(PROTECTED),
        "no",
        Applied
    ),
    d!("enable-debug-command", "", Enum(PROTECTED), "no", Applied),
    d!("enable-module-command", "", Enum(PROTECTED), "no", Kept),
    // snapshotting
    // This server's built-in default is no save points (Redis's is "3600 1 300 100 60 10000"):
    // a server started without a config writes no dump.rdb into its working directory.
    d!("save", "", Multi, "", Applied),
    d!("stop-writes-on-bgsave-error", "", YN, "yes", Kept),
    d!("rdbcompression", "", YN, "yes", Applied),
    d!("rdbchecksum", "", YN, "yes", Kept),
    d!(
        "sanitize-dump-payload",
        "",
        Enum(&["no", "yes", "clients"]),
        "no",
        Kept
    ),
    d!("dbfilename", "", Text, "dump.rdb", Applied),
    d!("rdb-del-sync-files", "", YN, "no", Kept),
    d!("dir", "", Text, "./", Applied),
    // replication
    d!("masterauth", "", Text, "", Kept),
    d!("masteruser", "", Text, "", Kept),
    d!(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        YN,
        "yes",
        Kept
    ),
    d!("replica-read-only", "slave-read-only", YN, "yes", Kept),
    d!("repl-diskless-sync", "", YN, "yes", Kept),
    d!("repl-diskless-sync-delay", "", Int(0, I32), "5", Kept),
    d!(
        "repl-diskless-sync-max-replicas",
        "",
        Int(0, I32),
        "0",
        Kept
    ),
    d!(
        "repl-diskless-load",
        "",
        Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
        Kept
    ),
    d!(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        Int(1, I32),
        "10",
        Kept
    ),
    d!("repl-timeout", "", Int(1, I32), "60", Kept),
    d!("repl-disable-tcp-nodelay", "", YN, "no", Kept),
    d!("repl-backlog-size", "", Memory, "1048576", Kept),
    d!("repl-backlog-ttl", "", Int(0, I32), "3600", Kept),
    d!(
        "replica-priority",
        "slave-priority",
        Int(0, I32),
        "100",
        Kept
    ),
    d!(
        "propagation-error-behavior",
        "",
        Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
        Kept
    ),
    d!("replica-ignore-disk-write-errors", "", YN, "no", Kept),
    d!("replica-announced", "", YN, "yes", Kept),
    d!(
        "min-replicas-to-write",
        "min-slaves-to-write",
        Int(0, I32),
        "0",
        Refused(NO_REPL)
    ),
    d!(
        "min-replicas-max-lag",
        "min-slaves-max-lag",
        Int(0, I32),
        "10",
        Kept
    ),
    d!("replica-announce-ip", "slave-announce-ip", Text, "", Kept),
    d!(
        "replica-announce-port",
        "slave-announce-port",
        Int(0, 65535),
        "0",
        Kept
    ),
    d!("replica-lazy-flush", "slave-lazy-flush", YN, "no", Kept),
    d!(
        "replica-ignore-maxmemory",
        "slave-ignore-maxmemory",
        YN,
        "yes",
        Kept
    ),
    // keys tracking
    d!(
        "tracking-table-max-keys",
        "",
        Int(0, i64::MAX),
        "1000000",
        Kept
    ),
    // security
    d!("acllog-max-len", "", Int(0, i64::MAX), "128", Kept),
    d!("aclfile", "", Text, "", Applied),
    d!("requirepass", "", Text, "", Applied),
    d!(
        "acl-pubsub-default",
        "",
        Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
        Kept
    ),
    // clients and memory
    d!("maxclients", "", Int(1, I32), "10000", Applied),
    d!("maxmemory", "", Memory, "0", Applied),
    d!(
        "maxmemory-policy",
        "",
        Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction"
        ]),
        "noeviction",
        Applied
    ),
    d!("maxmemory-samples", "", Int(1, 64), "5", Applied),
    d!("maxmemory-eviction-tenacity", "", Int(0, 100), "10", Kept),
    d!(
        "maxmemory-clients",
        "",
        Text,
        "0",
        Unsupported("client eviction is not implemented")
    ),
    // lazy freeing
    d!("lazyfree-lazy-eviction", "", YN, "no", Kept),
    d!("lazyfree-lazy-expire", "", YN, "no", Kept),
    d!("lazyfree-lazy-server-del", "", YN, "no", Kept),
    d!("lazyfree-lazy-user-del", "", YN, "no", Applied),
    d!("lazyfree-lazy-user-flush", "", YN, "no", Applied),
    // threads, kernel
    d!("io-threads", "", Int(1, 128), "1", Kept),
    d!("io-threads-do-reads", "", YN, "no", Kept),
    d!(
        "oom-score-adj",
        "",
        Enum(&["no", "yes", "relative", "absolute"]),
        "no",
        Unsupported("oom_score_adj is not set by this server")
    ),
    d!("oom-score-adj-values", "", Multi, "0 200 800", Kept),
    d!("disable-thp", "", YN, "yes", Kept),
    d!("server_cpulist", "", Text, "", Kept),
    d!("bio_cpulist", "", Text, "", Kept),
    d!("aof_rewrite_cpulist", "", Text, "", Kept),
    d!("bgsave_cpulist", "", Text, "", Kept),
    d!("ignore-warnings", "", Text, "", Kept),
    // append only
    d!("appendonly", "", YN, "no", Applied),
    d!("appendfilename", "", Text, "appendonly.aof", Applied),
    d!("appenddirname", "", Text, "appendonlydir", Applied),
    d!(
        "appendfsync",
        "",
        Enum(&["always", "everysec", "no"]),
        "everysec",
        Applied
    ),
    d!("no-appendfsync-on-rewrite", "", YN, "no", Kept),
    d!(
        "auto-aof-rewrite-percentage",
        "",
        Int(0, I32),
        "100",
        Applied
    ),
    d!("auto-aof-rewrite-min-size", "", Memory, "67108864", Applied),
    d!("aof-load-truncated", "", YN, "yes", Kept),
    d!("aof-use-rdb-preamble", "", YN, "yes", Kept),
    d!(
        "aof-timestamp-enabled",
        "",
        YN,
        "no",
        Unsupported("AOF timestamp annotations are not written")
    ),
    d!("aof-rewrite-incremental-fsync", "", YN, "yes", Kept),
    d!("rdb-save-incremental-fsync", "", YN, "yes", Kept),
    d!("aof-disable-auto-gc", "", YN, "no", Kept),
    // shutdown
    d!("shutdown-timeout", "", Int(0, I32), "10", Kept),
    d!("shutdown-on-sigint", "", Multi, "default", Kept),
    d!("shutdown-on-sigterm", "", Multi, "default", Kept),
    // scripting
    d!(
        "busy-reply-threshold",
        "lua-time-limit",
        Int(0, i64::MAX),
        "5000",
        Kept
    ),
    // cluster
    d!("cluster-enabled", "", YN, "no", Refused(NO_CLUSTER)),
    d!("cluster-config-file", "", Text, "nodes.conf", Kept),
    d!("cluster-node-timeout", "", Int(0, i64::MAX), "15000", Kept),
    d!("cluster-port", "", Int(0, 65535), "0", Kept),
    d!(
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
        Int(0, I32),
        "10",
        Kept
    ),
    d!("cluster-migration-barrier", "", Int(0, I32), "1", Kept),
    d!("cluster-allow-replica-migration", "", YN, "yes", Kept),
    d!("cluster-require-full-coverage", "", YN, "yes", Kept),
    d!(
        "cluster-replica-no-failover",
        "cluster-slave-no-failover",
        YN,
        "no",
        Kept
    ),
    d!("cluster-allow-reads-when-down", "", YN, "no", Kept),
    d!("cluster-allow-pubsubshard-when-down", "", YN, "yes", Kept),
    d!("cluster-link-sendbuf-limit", "", Memory, "0", Kept),
    d!("cluster-announce-hostname", "", Text, "", Kept),
    d!(
        "cluster-preferred-endpoint-type",
        "",
        Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
        Kept
    ),
    d!("cluster-announce-ip", "", Text, "", Kept),
    d!("cluster-announce-port", "", Int(0, 65535), "0", Kept),
    d!("cluster-announce-tls-port", "", Int(0, 65535), "0", Kept),
    d!("cluster-announce-bus-port", "", Int(0, 65535), "0", Kept),
    // slow log, latency
    d!(
        "slowlog-log-slower-than",
        "",
        Int(-1, i64::MAX),
        "10000",
        Kept
    ),
    d!("slowlog-max-len", "", Int(0, i64::MAX), "128", Kept),
    d!("latency-monitor-threshold", "", Int(0, i64::MAX), "0", Kept),
    d!("latency-tracking", "", YN, "yes", Kept),
    d!(
        "latency-tracking-info-percentiles",
        "",
        Multi,
        "50 99 99.9",
        Kept
    ),
    // events, encodings
    d!("notify-keyspace-events", "", Text, "", Kept),
    d!(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        Int(0, i64::MAX),
        "512",
        Kept
    ),
    d!(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        Int(0, i64::MAX),
        "64",
        Kept
    ),
    d!(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        Int(i32::MIN as i64, I32),
        "-2",
        Kept
    ),
    d!("list-compress-depth", "", Int(0, I32), "0", Kept),
    d!("set-max-intset-entries", "", Int(0, i64::MAX), "512", Kept),
    d!(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        Int(0, i64::MAX),
        "128",
        Kept
    ),
    d!(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        Int(0, i64::MAX),
        "64",
        Kept
    ),
    d!("hll-sparse-max-bytes", "", Memory, "3000", Kept),
    d!("stream-node-max-bytes", "", Memory, "4096", Kept),
    d!("stream-node-max-entries", "", Int(0, i64::MAX), "100", Kept),
    d!("activerehashing", "", YN, "yes", Kept),
    d!(
        "client-output-buffer-limit",
        "",
        Multi,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Applied
    ),
    d!(
        "client-query-buffer-limit",
        "",
        Memory,
        "1073741824",
        Applied
    ),
    d!("proto-max-bulk-len", "", Memory, "536870912", Applied),
    d!("hz", "", Int(0, I32), "10", Kept),
    d!("dynamic-hz", "", YN, "yes", Kept),
    d!("lfu-log-factor", "", Int(0, I32), "10", Applied),
    d!("lfu-decay-time", "", Int(0, I32), "1", Applied),
    d!("active-expire-effort", "", Int(1, 10), "1", Kept),
    // defragmentation
    d!("activedefrag", "", YN, "no", Unsupported(NO_DEFRAG)),
    d!("active-defrag-ignore-bytes", "", Memory, "104857600", Kept),
    d!(
        "active-defrag-threshold-lower",
        "",
        Int(0, 1000),
        "10",
        Kept
    ),
    d!(
        "active-defrag-threshold-upper",
        "",
        Int(0, 1000),
        "100",
        Kept
    ),
    d!("active-defrag-cycle-min", "", Int(1, 99), "1", Kept),
    d!("active-defrag-cycle-max", "", Int(1, 99), "25", Kept),
    d!(
        "active-defrag-max-scan-fields",
        "",
        Int(1, i64::MAX),
        "1000",
        Kept
    ),
    d!("jemalloc-bg-thread", "", YN, "yes", Kept),
    // testing knobs the test suite sets
    d!("key-load-delay", "", Int(i32::MIN as i64, I32), "0", Kept),
    d!(
        "rdb-key-save-delay",
        "",
        Int(i32::MIN as i64, I32),
        "0",
        Kept
    ),
    d!(
        "loading-process-events-interval-bytes",
        "",
        Int(1024, I32),
        "2097152",
        Kept
    ),
    d!("watchdog-period", "", Int(0, I32), "0", Kept),
    d!("use-exit-on-panic", "", YN, "no", Kept),
    // deprecated in 7.0, accepted and ignored by Redis itself
    d!("list-max-ziplist-entries", "", Int(0, i64::MAX), "", Kept),
    d!("list-max-ziplist-value", "", Int(0, i64::MAX), "", Kept),
];

/// The directive called `name` (lower case) or by its alias.
pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name == name || (!d.alias.is_empty() && d.alias == name))
}

/// Check `args` against the directive's type; the value as CONFIG GET shows it, or
/// Redis's reason for refusing it.
pub fn check(d: &Directive, args: &[String]) -> Result<String, String> {
    if d.kind == Multi {
        return Ok(args.join(" "));
    }
    if args.len() != 1 {
        return Err("wrong number of arguments".into());
    }
    let v = &args[0];
    match d.kind {
        Bool => match v.to_ascii_lowercase().as_str() {
            b @ ("yes" | "no") => Ok(b.to_string()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Int(lo, hi) => {
            let n: i64 = crate::protocol::parse_i64(v.as_bytes())
                .ok_or("argument couldn't be parsed into an integer")?;
            if n < lo || n > hi {
                return Err(format!("argument must be between {lo} and {hi} inclusive"));
            }
            Ok(n.to_string())
        }
        Memory => crate::config::parse_memory(v)
            .map(|n| n.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Enum(words) => {
            let l = v.to_ascii_lowercase();
            if words.contains(&l.as_str()) {
                Ok(l)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    words.join(", ")
                ))
            }
        }
        Text | Multi => Ok(v.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_valid() {
        let mut seen = std::collections::HashSet::new();
        for d in DIRECTIVES {
            assert!(seen.insert(d.name), "{} twice", d.name);
            if !d.alias.is_empty() {
                assert!(seen.insert(d.alias), "{} twice", d.alias);
            }
            if !d.default.is_empty() {
                let args = [d.default.to_string()];
                check(d, &args).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            }
        }
    }

    #[test]
    fn checks_with_redis_messages() {
        let port = find("port").unwrap();
        assert_eq!(
            check(port, &["--bla".into()]).unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(check(port, &[]).unwrap_err(), "wrong number of arguments");
        assert!(check(port, &["70000".into()])
            .unwrap_err()
            .starts_with("argument must be between 0 and 65535"));
        let ll = find("loglevel").unwrap();
        assert!(check(ll, &["--bla".into()])
            .unwrap_err()
            .starts_with("argument(s) must be one of the following: debug"));
        assert_eq!(
            find("slave-serve-stale-data").unwrap().name,
            "replica-serve-stale-data"
        );
        assert_eq!(
            check(find("maxmemory").unwrap(), &["1kb".into()]).unwrap(),
            "1024"
        );
    }
}
