//! Settings, with Redis's parameter names for CONFIG GET/SET.

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
    /// `client-output-buffer-limit normal` hard limit in bytes (0 = none).
    pub output_buffer_limit: u64,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// Reported by INFO and CONFIG GET port/bind.
    pub port: u16,
    pub bind: String,
    /// Keys active expiry may remove per loop iteration (bounds the pause one tick causes).
    pub expire_budget: usize,
    /// appendonly, dir, appendfilename, appendfsync.
    pub aof: crate::aof::AofConfig,
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
            output_buffer_limit: 0,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            port: 6379,
            bind: "127.0.0.1".into(),
            expire_budget: 2000,
            aof: crate::aof::AofConfig::default(),
        }
    }
}

impl KvConfig {
    /// The loop settings this service needs: the query buffer limit as the loop's input cap,
    /// the output limit as its output cap, room for maxclients.
    pub fn loop_config(&self, backend: Backend, addr: SocketAddr) -> Config {
        let mut cfg = Config::new(backend, addr);
        cfg.max_input = usize::try_from(self.client_query_buffer_limit).unwrap_or(usize::MAX);
        if self.output_buffer_limit > 0 {
            cfg.max_output = usize::try_from(self.output_buffer_limit).unwrap_or(usize::MAX);
        } else {
            // Redis's normal clients have no hard limit; the loop still stops reading a client
            // whose replies pile up past the high-water mark (backpressure), so this only
            // catches a client that pipelines enormous replies without reading them.
            cfg.max_output = 1 << 30;
        }
        // One over maxclients, so the service itself can answer the one too many with Redis's
        // error instead of a silent close.
        cfg.max_clients = self.maxclients.saturating_add(1);
        cfg
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
    let v: i64 = crate::resp::parse_i64(num.as_bytes())?;
    u64::try_from(v).ok()?.checked_mul(mul)
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
}
