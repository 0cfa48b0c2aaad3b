//! Settings, with Redis's parameter names for CONFIG GET/SET.
//!
//! Plain settings and their parsing: imports nothing of the server, so every layer may read it.

use std::net::SocketAddr;
use std::str::FromStr;

use reactor::Backend;
use readyloop_server::Config;

/// maxmemory-policy.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

pub const POLICY_NAMES: &str = "volatile-lru, volatile-lfu, volatile-random, volatile-ttl, \
                                allkeys-lru, allkeys-lfu, allkeys-random, noeviction";

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    pub fn is_volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "noeviction" => Policy::NoEviction,
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => return Err(format!("must be one of: {POLICY_NAMES}")),
        })
    }
}

/// What a KV server is started with. Everything here can also be read with CONFIG GET;
/// the ones Redis lets you change at run time can be changed with CONFIG SET.
#[derive(Clone, Debug)]
pub struct KvConfig {
    pub databases: usize,
    pub requirepass: Option<String>,
    /// Bytes; 0 = no limit.
    pub maxmemory: u64,
    pub maxmemory_policy: Policy,
    pub maxmemory_samples: usize,
    pub maxclients: usize,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    /// `client-output-buffer-limit`: per class (normal, replica, pubsub) hard/soft limits.
    pub output_limits: OutputLimits,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// Reported by INFO and CONFIG GET port/bind.
    pub port: u16,
    pub bind: String,
    /// Keys active expiry may remove per loop iteration (bounds the pause one tick causes).
    pub expire_budget: usize,
    /// appendonly, dir, appendfilename, appendfsync.
    pub aof: crate::persistence::aof::AofConfig,
    /// `aclfile`: users loaded at start and by ACL LOAD, written by ACL SAVE.
    pub aclfile: Option<std::path::PathBuf>,
    /// `user` directives: users defined at start (not with `aclfile`, as Redis).
    pub users: Vec<String>,
}

impl Default for KvConfig {
    fn default() -> Self {
        KvConfig {
            databases: 16,
            requirepass: None,
            maxmemory: 0,
            maxmemory_policy: Policy::NoEviction,
            maxmemory_samples: 5,
            maxclients: 10000,
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            output_limits: OutputLimits::default(),
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            port: 6379,
            bind: "127.0.0.1".into(),
            expire_budget: 2000,
            aof: crate::persistence::aof::AofConfig::default(),
            aclfile: None,
            users: Vec::new(),
        }
    }
}

impl KvConfig {
    /// The loop settings this service needs: the query buffer limit as the loop's input cap,
    /// a 1 GiB output cap, room for maxclients.
    pub fn loop_config(&self, backend: Backend, addr: SocketAddr) -> Config {
        let mut cfg = Config::new(backend, addr);
        cfg.max_input = usize::try_from(self.client_query_buffer_limit).unwrap_or(usize::MAX);
        // The class limits are per connection (`Ctx::limit_output`): a client moves between
        // normal and pubsub as it subscribes, and CONFIG SET changes them at run time. Redis's
        // normal clients have no limit at all; the loop still stops reading a client whose
        // replies pile up past the high-water mark (backpressure), so this cap only catches a
        // client that pipelines enormous replies without reading them.
        cfg.max_output = 1 << 30;
        // One over maxclients, so the service itself can answer the one too many with Redis's
        // error instead of a silent close.
        cfg.max_clients = self.maxclients.saturating_add(1);
        cfg
    }
}

/// One class of `client-output-buffer-limit`: a client owed more than `hard` bytes is cut off
/// at once; one owed more than `soft` for `soft_secs` seconds without a break is cut off then
/// (0 = no such limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_secs: u64,
}

impl ClassLimit {
    pub fn is_none(&self) -> bool {
        self.hard == 0 && self.soft == 0
    }

    /// What the loop enforces, or None for no limit.
    pub fn to_loop(self) -> Option<readyloop_server::OutputLimit> {
        let size = |b: u64| usize::try_from(b).unwrap_or(usize::MAX);
        (!self.is_none()).then(|| readyloop_server::OutputLimit {
            hard: size(self.hard),
            soft: size(self.soft),
            soft_for: std::time::Duration::from_secs(self.soft_secs),
        })
    }
}

/// The client classes of `client-output-buffer-limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Normal,
    Replica,
    PubSub,
}

/// `client-output-buffer-limit` for every class; Redis's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: ClassLimit,
    /// Kept and reported only: this server has no replicas.
    pub replica: ClassLimit,
    pub pubsub: ClassLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            normal: ClassLimit::default(),
            replica: ClassLimit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_secs: 60,
            },
            pubsub: ClassLimit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_secs: 60,
            },
        }
    }
}

impl OutputLimits {
    pub fn get(&self, class: Class) -> ClassLimit {
        match class {
            Class::Normal => self.normal,
            Class::Replica => self.replica,
            Class::PubSub => self.pubsub,
        }
    }

    /// Redis's CONFIG GET form: `normal 0 0 0 slave 268435456 67108864 60 pubsub ...`.
    pub fn render(&self) -> String {
        let one = |n: &str, l: ClassLimit| format!("{n} {} {} {}", l.hard, l.soft, l.soft_secs);
        format!(
            "{} {} {}",
            one("normal", self.normal),
            one("slave", self.replica),
            one("pubsub", self.pubsub)
        )
    }

    /// These limits with `spec` (`<class> <hard> <soft> <soft-seconds>`, repeated) applied,
    /// or Redis's reason for refusing it. The classes not named keep their limits.
    pub fn updated(&self, spec: &str) -> Result<OutputLimits, &'static str> {
        let words: Vec<&str> = spec.split_ascii_whitespace().collect();
        if !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.");
        }
        let mut out = *self;
        for w in words.chunks(4) {
            let slot = match w[0].to_ascii_lowercase().as_str() {
                "normal" => &mut out.normal,
                "slave" | "replica" => &mut out.replica,
                "pubsub" => &mut out.pubsub,
                _ => return Err("Invalid client class specified in buffer limit configuration."),
            };
            let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_memory(w[1]).ok_or(bad)?;
            let soft = parse_memory(w[2]).ok_or(bad)?;
            let secs = crate::protocol::parse_i64(w[3].as_bytes())
                .filter(|s| *s >= 0)
                .ok_or(bad)?;
            // Redis keeps the seconds in an int: a larger value wraps the way it does there.
            let secs = u64::from(secs as i32 as u32).min(i32::MAX as u64);
            *slot = ClassLimit {
                hard,
                soft,
                soft_secs: secs,
            };
        }
        Ok(out)
    }

    /// The command-line form: Redis's `<class> <hard> <soft> <soft-seconds>` groups, or (as
    /// this server accepted before it had classes) one memory value, the normal hard limit.
    pub fn updated_from_arg(&self, arg: &str) -> Result<OutputLimits, String> {
        if let Some(hard) = parse_memory(arg.trim()) {
            let mut out = *self;
            out.normal = ClassLimit {
                hard,
                soft: 0,
                soft_secs: 0,
            };
            return Ok(out);
        }
        self.updated(arg).map_err(str::to_string)
    }
}

/// Parse a Redis memory value: `100`, `1k`, `1kb`, `5mb`, `2GB` (k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    let (num, mul) = [
        ("kb", 1u64 << 10),
        ("mb", 1 << 20),
        ("gb", 1 << 30),
        ("k", 1000),
        ("m", 1_000_000),
        ("g", 1_000_000_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| l.strip_suffix(suf).map(|n| (n, *m)))
    .unwrap_or((&l, 1));
    let v: i64 = crate::protocol::parse_i64(num.as_bytes())?;
    u64::try_from(v).ok()?.checked_mul(mul)
}

/// How a stored-only parameter is validated.
#[derive(Clone, Copy)]
pub enum ExtraKind {
    Int(i64, i64),
    Bool,
    Memory,
    /// One of these words (lower case).
    Enum(&'static [&'static str]),
    Text,
}

pub struct Extra {
    pub name: &'static str,
    pub alias: &'static str,
    pub kind: ExtraKind,
    pub value: String,
}

/// Parameters kept as text and read where they are used (the encoding thresholds by
/// `commands::typed::limits`, the lazyfree switches by `keyspace::lazyfree`); some are still
/// stored and reported only, which the compatibility page lists.
pub fn extra_defaults() -> Vec<Extra> {
    let e = |name, alias, kind, value: &str| Extra {
        name,
        alias,
        kind,
        value: value.to_string(),
    };
    use ExtraKind::*;
    vec![
        e(
            "hash-max-listpack-entries",
            "hash-max-ziplist-entries",
            Int(0, i64::MAX),
            "512",
        ),
        e(
            "hash-max-listpack-value",
            "hash-max-ziplist-value",
            Int(0, i64::MAX),
            "64",
        ),
        e(
            "list-max-listpack-size",
            "list-max-ziplist-size",
            Int(i64::from(i32::MIN), i64::from(i32::MAX)),
            "-2",
        ),
        e("list-compress-depth", "", Int(0, i64::from(i32::MAX)), "0"),
        e("set-max-intset-entries", "", Int(0, i64::MAX), "512"),
        e(
            "zset-max-listpack-entries",
            "zset-max-ziplist-entries",
            Int(0, i64::MAX),
            "128",
        ),
        e(
            "zset-max-listpack-value",
            "zset-max-ziplist-value",
            Int(0, i64::MAX),
            "64",
        ),
        e("stream-node-max-bytes", "", Memory, "4096"),
        e("stream-node-max-entries", "", Int(0, i64::MAX), "100"),
        e("hll-sparse-max-bytes", "", Memory, "3000"),
        e("activerehashing", "", Bool, "yes"),
        e("lazyfree-lazy-eviction", "", Bool, "no"),
        e("lazyfree-lazy-expire", "", Bool, "no"),
        e("lazyfree-lazy-server-del", "", Bool, "no"),
        e("lazyfree-lazy-user-del", "", Bool, "no"),
        e("lazyfree-lazy-user-flush", "", Bool, "no"),
        e("latency-tracking", "", Bool, "yes"),
        e("notify-keyspace-events", "", Text, ""),
        e("timeout", "", Int(0, i64::from(i32::MAX)), "0"),
        e("tcp-keepalive", "", Int(0, i64::from(i32::MAX)), "300"),
        e("hz", "", Int(0, i64::from(i32::MAX)), "10"),
        e("slowlog-log-slower-than", "", Int(-1, i64::MAX), "10000"),
        e("slowlog-max-len", "", Int(0, i64::MAX), "128"),
        e("latency-monitor-threshold", "", Int(0, i64::MAX), "0"),
        e("acllog-max-len", "", Int(0, i64::MAX), "128"),
        e("save", "", Text, ""),
        e("dbfilename", "", Text, "dump.rdb"),
        e("maxmemory-eviction-tenacity", "", Int(0, 100), "10"),
        e("active-expire-effort", "", Int(1, 10), "1"),
        e(
            "busy-reply-threshold",
            "lua-time-limit",
            Int(0, i64::MAX),
            "5000",
        ),
        e("stop-writes-on-bgsave-error", "", Bool, "yes"),
    ]
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("2GB"), Some(2 << 30));
        assert_eq!(parse_memory("x"), None);
        assert_eq!(parse_memory("-1"), None);
    }

    #[test]
    fn output_limits_parse_and_render_as_redis() {
        let d = OutputLimits::default();
        assert_eq!(
            d.render(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        let l = d.updated("PUBSUB 1mb 512kb 5 normal 1k 2kb 3").unwrap();
        assert_eq!(
            l.render(),
            "normal 1000 2048 3 slave 268435456 67108864 60 pubsub 1048576 524288 5"
        );
        assert_eq!(d.updated("").unwrap(), d);
        assert_eq!(
            d.updated("pubsub 1 1 1 pubsub 5 5 5").unwrap().pubsub.hard,
            5
        );
        assert_eq!(
            d.updated("pubsub 1 2 99999999999999")
                .unwrap()
                .pubsub
                .soft_secs,
            276447231
        );
        assert!(d
            .updated("pubsub 1 2")
            .unwrap_err()
            .starts_with("Wrong number"));
        assert!(d
            .updated("master 1 2 3")
            .unwrap_err()
            .starts_with("Invalid client class"));
        for bad in [
            "pubsub a 2 3",
            "pubsub 1 2 -3",
            "pubsub -1 2 3",
            "pubsub 1 2 3.5",
        ] {
            assert!(
                d.updated(bad).unwrap_err().starts_with("Error in hard"),
                "{bad}"
            );
        }
        assert_eq!(d.updated_from_arg("2mb").unwrap().normal.hard, 2 << 20);
        assert_eq!(d.updated_from_arg("pubsub 32mb 8mb 60").unwrap(), d);
    }
}
