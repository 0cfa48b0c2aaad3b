//! The service: clients, the command dispatcher, expiry and eviction on the loop.
//!
//! The top layer: it may use every layer below (commands, persistence, keyspace, protocol);
//! nothing below may use it except through `Exec`, the handle a handler gets.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hashbrown::HashMap;
use readyloop_server::{ConnId, ConnInfo, Ctx, Service, StartCtx};

use crate::commands::table::{Command, COMMANDS, F_DENYOOM, F_NOAUTH};
use crate::config::{KvConfig, Policy};
use crate::keyspace::{Db, Idx};
use crate::protocol::{Args, Parse, Parser, Reply};

pub mod limits;
pub mod propagate;
mod replay;

/// One connected client.
pub struct Client {
    pub id: u64,
    pub conn: ConnId,
    pub addr: String,
    pub laddr: String,
    pub db: usize,
    pub resp3: bool,
    pub authed: bool,
    pub name: Vec<u8>,
    pub lib_name: Vec<u8>,
    pub lib_ver: Vec<u8>,
    pub created: Instant,
    pub last: Instant,
    pub last_cmd: &'static str,
    pub no_evict: bool,
    /// The ACL user this connection is authenticated as.
    pub user: Vec<u8>,
    /// CLIENT REPLY: replies are sent (On), dropped (Off), or dropped for one command (Skip).
    pub reply: ReplyMode,
    /// QUIT or a protocol error: ignore the rest of the input.
    pub closing: bool,
    parser: Parser,
}

/// CLIENT REPLY's modes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplyMode {
    On,
    Off,
    /// Drop the next command's reply (armed by CLIENT REPLY SKIP, which has none itself).
    SkipNext,
    Skip,
}

#[derive(Default, Clone, Copy)]
pub struct CmdStat {
    pub calls: u64,
    pub nanos: u64,
    pub failed: u64,
    pub rejected: u64,
}

#[derive(Default)]
pub struct Counters {
    pub connections: u64,
    pub rejected_conns: u64,
    pub commands: u64,
    pub evicted: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub error_replies: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
}

/// Everything but the clients: shared by every command.
pub struct Core {
    pub cfg: KvConfig,
    pub dbs: Vec<Db>,
    pub start: Instant,
    start_unix_ms: u64,
    /// Unix milliseconds of the current batch (the loop's clock, read once per wake-up).
    pub now_ms: u64,
    /// Seconds since start: the LRU clock.
    pub clock: u32,
    rng: u64,
    next_client_id: u64,
    pub stats: Vec<CmdStat>,
    pub counters: Counters,
    pub live_clients: usize,
    /// Command names (lower case) to table index; `rename-command` changes the keys.
    names: HashMap<Box<[u8]>, u16>,
    /// What start-up left for run time (config file, DEBUG's gate).
    pub runtime: crate::conf::Runtime,
    /// Connections a command asked to close (CLIENT KILL), applied through the Ctx.
    pub kill: Vec<ConnId>,
    /// Stops the loop this service runs on (SHUTDOWN), when the owner provided one.
    pub stop: Option<readyloop_server::StopHandle>,
    /// Encoding thresholds and other settings only stored and reported (CONFIG GET/SET).
    pub extra: Vec<crate::config::Extra>,
    maintain_at: u64,
    /// The append-only log (off unless `appendonly`).
    pub aof: crate::persistence::aof::Aof,
    /// Snapshots (SAVE, BGSAVE, save points, LASTSAVE).
    pub rdb: crate::persistence::rdb::save::SaveState,
    /// What SHUTDOWN asked of the final snapshot.
    pub shutdown_mode: crate::commands::snapshot::Shutdown,
    /// Clients blocked in BLPOP and friends.
    pub blocking: crate::commands::blocking::Blocking,
    /// Pub/sub subscriptions.
    pub pubsub: crate::commands::pubsub::PubSub,
    /// MULTI/EXEC/WATCH state.
    pub multi: crate::commands::transactions::Multi,
    /// Users and the ACL log.
    pub acl: crate::commands::acl::Acl,
    /// Slow log, latency, MONITOR, CLIENT PAUSE.
    pub intro: crate::commands::introspection::Intro,
    /// When the previous command ended (or the batch began): each command's duration is the
    /// time since, one clock read per command.
    mark: Instant,
    /// The Lua interpreter, its script cache and function libraries.
    pub scripting: crate::commands::scripting::Scripting,
}

impl Core {
    pub fn random(&mut self) -> u64 {
        // xorshift64*: eviction sampling and RANDOMKEY only need spread, not secrecy.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn unix_ms_to_instant(&self, ms: u64) -> Instant {
        let off = ms.saturating_sub(self.start_unix_ms);
        self.start + Duration::from_millis(off.min(1 << 40))
    }

    pub fn used_memory(&self) -> usize {
        // The fixed cost of the process (code, loop buffers) is not the dataset's: a baseline
        // keeps INFO's figure comparable to Redis's, which also counts its own structures.
        const BASELINE: usize = 1 << 20;
        BASELINE + self.dbs.iter().map(Db::used_bytes).sum::<usize>() + self.live_clients * 1024
    }

    fn lookup_name(&self, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.names.get(&buf[..name.len()]).map(|&i| i as usize)
    }

    /// Does CLIENT PAUSE hold this request back? Requests refused anyway (unknown command,
    /// wrong arity) are answered at once, as Redis does.
    #[cold]
    fn paused_by(&self, client: &Client, args: &Args<'_>) -> bool {
        let Some(ci) = self.lookup_name(args.get(0)) else {
            return false;
        };
        let cmd = &COMMANDS[ci];
        if (cmd.arity > 0 && args.len() != cmd.arity as usize)
            || args.len() < cmd.arity.unsigned_abs() as usize
        {
            return false;
        }
        let flags = if cmd.name == "exec" {
            cmd.flags | crate::commands::transactions::queued_flags(self, client.id)
        } else {
            cmd.flags
        };
        crate::commands::introspection::pause_holds(self, cmd, flags)
    }

    /// The command table index of `name` (any case), as the dispatcher finds it.
    pub fn command_index(&self, name: &[u8]) -> Option<usize> {
        self.lookup_name(name)
    }

    /// Is `name` a command that writes?
    #[cold]
    fn is_write(&self, name: &[u8]) -> bool {
        self.lookup_name(name)
            .is_some_and(|ci| COMMANDS[ci].flags & crate::commands::table::F_WRITE != 0)
    }

    /// LFU counter of slot `i` after Redis's decay and one logarithmic increment.
    fn lfu_bump(&mut self, db: usize, i: Idx) -> (u16, u8) {
        let (ldt, counter) = self.dbs[db].lfu(i);
        let counter = self.lfu_decayed(ldt, counter);
        let r = (self.random() >> 11) as f64 / (1u64 << 53) as f64;
        let base = f64::from(counter.saturating_sub(LFU_INIT));
        let p = 1.0 / (base * f64::from(self.cfg.lfu_log_factor) + 1.0);
        let counter = if counter < 255 && r < p {
            counter + 1
        } else {
            counter
        };
        (self.minutes(), counter)
    }

    pub fn minutes(&self) -> u16 {
        ((self.now_ms / 60_000) & 0xffff) as u16
    }

    pub fn lfu_decayed(&self, ldt: u16, counter: u8) -> u8 {
        let now = self.minutes();
        let elapsed = if now >= ldt {
            now - ldt
        } else {
            (0xffff - ldt) + now
        };
        let periods = u32::from(elapsed)
            .checked_div(self.cfg.lfu_decay_time)
            .unwrap_or(0);
        counter.saturating_sub(periods.min(255) as u8)
    }

    /// Note an access to slot `i` (LRU clock, or LFU counter under an LFU policy).
    #[inline]
    pub fn touch(&mut self, db: usize, i: Idx) {
        let lfu = if self.cfg.maxmemory_policy.is_lfu() {
            Some(self.lfu_bump(db, i))
        } else {
            None
        };
        let clock = self.clock;
        self.dbs[db].touch(i, clock, lfu);
    }

    /// A new key's access data.
    pub fn init_access(&mut self, db: usize, i: Idx) {
        let lfu = Some((self.minutes(), LFU_INIT));
        let clock = self.clock;
        self.dbs[db].touch(i, clock, lfu);
    }

    /// Evict until under maxmemory. False if that is impossible (policy or no candidates).
    pub fn make_room(&mut self) -> bool {
        if self.cfg.maxmemory == 0 {
            return true;
        }
        let max = usize::try_from(self.cfg.maxmemory).unwrap_or(usize::MAX);
        // Bounded: one command never evicts more than this many keys in one go.
        for _ in 0..10_000 {
            if self.used_memory() <= max {
                return true;
            }
            if self.cfg.maxmemory_policy == Policy::NoEviction {
                return false;
            }
            let Some((db, victim)) = self.pick_victim() else {
                return false;
            };
            let key = self.dbs[db].key(victim).to_vec();
            self.dbs[db].remove(victim);
            propagate::evicted(self, db, &key);
            self.counters.evicted += 1;
        }
        self.used_memory() <= max
    }

    /// Redis's approximation: sample `maxmemory-samples` keys per database, evict the best.
    fn pick_victim(&mut self) -> Option<(usize, Idx)> {
        let policy = self.cfg.maxmemory_policy;
        let samples = self.cfg.maxmemory_samples.max(1);
        let mut best: Option<(u64, usize, Idx)> = None;
        for db in 0..self.dbs.len() {
            if self.dbs[db].is_empty() {
                continue;
            }
            if policy == Policy::VolatileTtl {
                if let Some(i) = self.dbs[db].soonest() {
                    let d = self.dbs[db].deadline(i).unwrap_or(u64::MAX);
                    let score = u64::MAX - d;
                    if best.is_none_or(|b| score > b.0) {
                        best = Some((score, db, i));
                    }
                }
                continue;
            }
            for _ in 0..samples {
                let mut seed = self.random();
                let mut r = || {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    seed >> 16
                };
                let pick = if policy.is_volatile() {
                    self.dbs[db].random_volatile(&mut r)
                } else {
                    self.dbs[db].random(&mut r)
                };
                let Some(i) = pick else { break };
                let score = match policy {
                    Policy::AllKeysRandom | Policy::VolatileRandom => return Some((db, i)),
                    Policy::AllKeysLfu | Policy::VolatileLfu => {
                        let (ldt, c) = self.dbs[db].lfu(i);
                        255 - u64::from(self.lfu_decayed(ldt, c))
                    }
                    _ => u64::from(self.clock.wrapping_sub(self.dbs[db].lru(i))),
                };
                if best.is_none_or(|b| score > b.0) {
                    best = Some((score, db, i));
                }
            }
        }
        best.map(|(_, db, i)| (db, i))
    }

    fn set_time(&mut self, now: Instant) {
        let ms = now.saturating_duration_since(self.start).as_millis() as u64;
        self.now_ms = self.start_unix_ms + ms;
        self.clock = (ms / 1000) as u32;
    }
}

/// Redis's LFU_INIT_VAL: new keys start with some credit so they are not evicted at once.
const LFU_INIT: u8 = 5;

/// The KV service: one per loop.
pub struct KvService {
    pub core: Core,
    clients: Vec<Option<Client>>,
    free: Vec<u32>,
    /// A record of the log failed on replay: the service refuses to start (replay.rs).
    load_error: Option<String>,
}

impl KvService {
    pub fn new(cfg: KvConfig) -> KvService {
        let start_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let names = COMMANDS
            .iter()
            .enumerate()
            .map(|(i, c)| (Box::from(c.name.as_bytes()), i as u16))
            .collect();
        let extra = crate::config::extra_defaults();
        let mut acl = crate::commands::acl::Acl::default();
        acl.set_default_password(cfg.requirepass.as_deref());
        acl.file = cfg.aclfile.clone();
        KvService {
            core: Core {
                dbs: (0..cfg.databases.max(1)).map(|_| Db::default()).collect(),
                cfg,
                start: Instant::now(),
                start_unix_ms,
                now_ms: start_unix_ms,
                clock: 0,
                rng: start_unix_ms | 1,
                next_client_id: 1,
                stats: vec![CmdStat::default(); COMMANDS.len()],
                counters: Counters::default(),
                live_clients: 0,
                names,
                runtime: Default::default(),
                kill: Vec::new(),
                stop: None,
                extra,
                maintain_at: 0,
                aof: Default::default(),
                rdb: Default::default(),
                shutdown_mode: Default::default(),
                blocking: Default::default(),
                pubsub: Default::default(),
                multi: Default::default(),
                intro: Default::default(),
                acl,
                mark: Instant::now(),
                scripting: Default::default(),
            },
            clients: Vec::new(),
            free: Vec::new(),
            load_error: None,
        }
    }

    /// Users from `aclfile` or the `user` directives (at start; Redis refuses to start when
    /// they do not parse, or when both are given).
    pub fn load_users(&mut self) -> Result<(), String> {
        let text = match (&self.core.cfg.aclfile, self.core.cfg.users.is_empty()) {
            (Some(_), false) => {
                return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into())
            }
            (Some(p), true) => std::fs::read_to_string(p)
                .map_err(|e| format!("Error loading ACLs, opening file '{}': {e}", p.display()))?,
            (None, false) => self.core.cfg.users.join("\n"),
            (None, true) => return Ok(()),
        };
        let users = crate::commands::acl::Acl::parse_users(&text)?;
        crate::commands::acl_cmd::install(&mut self.core, users);
        Ok(())
    }

    /// `rename-command old new`: the command answers to `new` only (`new` empty: to no
    /// name at all). Err with Redis's message for a command that does not exist.
    pub fn rename_command(&mut self, old: &str, new: &str) -> Result<(), String> {
        let old = old.to_ascii_lowercase().into_bytes();
        let Some(ci) = self.core.names.remove(old.as_slice()) else {
            return Err("No such command in rename-command".into());
        };
        if !new.is_empty() {
            let new = new.to_ascii_lowercase().into_bytes().into_boxed_slice();
            if self.core.names.contains_key(&new) {
                return Err("Target command name already exists".into());
            }
            self.core.names.insert(new, ci);
        }
        Ok(())
    }

    /// The port INFO and CONFIG GET report (the real one after binding port 0).
    pub fn set_port(&mut self, port: u16) {
        self.core.cfg.port = port;
    }

    /// Let SHUTDOWN stop the loop (`Server::stop_handle` of the server this service runs on).
    pub fn set_stop_handle(&mut self, stop: readyloop_server::StopHandle) {
        self.core.stop = Some(stop);
    }

    /// Keys in database `db` (for tests and tools).
    pub fn dbsize(&self, db: usize) -> usize {
        self.core.dbs.get(db).map_or(0, Db::len)
    }

    fn run(&mut self, client: &mut Client, input: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let mut parser = std::mem::take(&mut client.parser);
        let max_bulk = self.core.cfg.proto_max_bulk_len;
        let mut pos = 0;
        while pos < input.len() && !client.closing && !self.core.blocking.is_blocked(client.id) {
            match parser.parse(&input[pos..], client.authed, max_bulk) {
                Parse::Request { end } => {
                    let args = parser.args(&input[pos..]);
                    if self.core.aof.delaying_writes() && self.core.is_write(args.get(0)) {
                        // Left unconsumed: served again when the slow fsync ends.
                        self.core.aof.delay_write(ctx);
                        break;
                    }
                    if self.core.intro.pause.is_some() && self.core.paused_by(client, &args) {
                        // Left unconsumed: served again when CLIENT PAUSE ends.
                        ctx.pause();
                        self.core.intro.paused.push(client.conn);
                        break;
                    }
                    pos += end;
                    self.exec(client, args, ctx);
                }
                Parse::Skip { end } => pos += end,
                Parse::Incomplete { need } => {
                    if need > 0 {
                        ctx.need(need);
                    }
                    break;
                }
                Parse::Error(msg) => {
                    Reply {
                        buf: ctx.out(),
                        resp3: client.resp3,
                    }
                    .error(&format!("ERR {msg}"));
                    self.core.counters.error_replies += 1;
                    client.closing = true;
                }
            }
        }
        client.parser = parser;
        if client.closing {
            ctx.close_after_reply();
            return input.len();
        }
        pos
    }

    fn exec(&mut self, client: &mut Client, args: Args<'_>, ctx: &mut Ctx<'_>) {
        let name = args.get(0);
        let core = &mut self.core;
        let Some(ci) = core.lookup_name(name) else {
            let mut msg = b"ERR unknown command '".to_vec();
            msg.extend_from_slice(cstr(name, 128));
            msg.extend_from_slice(b"', with args beginning with: ");
            let mut shown = Vec::new();
            for a in args.iter().skip(1) {
                if shown.len() >= 128 {
                    break;
                }
                let room = 128 - shown.len();
                shown.push(b'\'');
                shown.extend_from_slice(cstr(a, room));
                shown.extend_from_slice(b"' ");
            }
            msg.extend_from_slice(&shown);
            core.counters.error_replies += 1;
            *core.counters.errors.entry("ERR".into()).or_default() += 1;
            crate::commands::transactions::queue_error(core, client.id);
            Reply {
                buf: ctx.out(),
                resp3: client.resp3,
            }
            .error_bytes(&msg);
            // Redis closes a peer that speaks HTTP at it (a browser or a cross-protocol attack).
            if name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:") {
                client.closing = true;
            }
            return;
        };
        let cmd: &'static Command = &COMMANDS[ci];
        client.last_cmd = cmd.name;
        // As Redis's processCommand: EXEC is checked with the flags of what it queued, and
        // inside MULTI anything but EXEC/DISCARD/QUIT/RESET is refused at the memory limit
        // (queuing would grow without bound).
        let flags = match cmd.name {
            "exec" => cmd.flags | crate::commands::transactions::queued_flags(core, client.id),
            "discard" | "quit" | "reset" => cmd.flags,
            _ if core.multi.in_multi(client.id) => cmd.flags | F_DENYOOM,
            _ => cmd.flags,
        };
        let reject = if !client.authed && cmd.flags & F_NOAUTH == 0 {
            Some("NOAUTH Authentication required.".to_string())
        } else if (cmd.arity > 0 && args.len() != cmd.arity as usize)
            || (args.len() < cmd.arity.unsigned_abs() as usize)
        {
            Some(format!(
                "ERR wrong number of arguments for '{}' command",
                cmd.name
            ))
        } else if let Some(msg) = (!core.acl.open)
            .then(|| crate::commands::acl_cmd::refuse(core, client, ci, &args))
            .flatten()
        {
            Some(msg)
        } else if cmd.flags & crate::commands::table::F_NOMULTI != 0
            && core.multi.in_multi(client.id)
        {
            Some("ERR Command not allowed inside a transaction".to_string())
        } else if flags & F_DENYOOM != 0 && !core.aof.loading && !core.make_room() {
            Some("OOM command not allowed when used memory > 'maxmemory'.".to_string())
        } else if flags & crate::commands::table::F_WRITE != 0 || cmd.name == "ping" {
            // Redis 7.0 refuses PING as well while the log cannot be written: a health
            // check must not report a server that refuses every write as fine.
            core.aof.deny_write()
        } else {
            None
        };
        if let Some(mut msg) = reject {
            if cmd.name == "exec" {
                // Redis's execCommandAbort, with or without MULTI: a refused EXEC discards
                // the transaction and the watches.
                crate::commands::transactions::discard_all(core, client.id);
                msg = format!(
                    "EXECABORT Transaction discarded because of: {}",
                    msg.strip_prefix("ERR ").unwrap_or(&msg)
                );
            }
            crate::commands::transactions::queue_error(core, client.id);
            core.stats[ci].rejected += 1;
            count_error(core, &msg);
            Reply {
                buf: ctx.out(),
                resp3: client.resp3,
            }
            .error(&msg);
            return;
        }
        let reply_from = ctx.out().len();
        {
            let mut x = Exec {
                core: &mut *core,
                client: &mut *client,
                others: &self.clients,
                ctx: &mut *ctx,
            };
            call(&mut x, ci, args);
        }
        match client.reply {
            ReplyMode::On => {}
            ReplyMode::SkipNext => client.reply = ReplyMode::Skip,
            ReplyMode::Skip => {
                ctx.out().truncate(reply_from);
                client.reply = ReplyMode::On;
            }
            ReplyMode::Off => ctx.out().truncate(reply_from),
        }
        // Blocked clients are served after the whole command (EXEC: the whole transaction),
        // from the keys it made ready (keyspace::waits).
        crate::commands::blocking::serve_ready(&mut self.core, ctx);
        let core = &mut self.core;
        for id in core.kill.drain(..) {
            if id == client.conn {
                client.closing = true;
            } else {
                ctx.kill(id);
            }
        }
    }
}

/// Run command `ci` (name, arity and permissions already checked): its handler, its record in
/// the log, its statistics. EXEC runs each queued command through here too.
fn call(x: &mut Exec<'_, '_>, ci: usize, args: Args<'_>) {
    let cmd: &'static Command = &COMMANDS[ci];
    let before = x.ctx.out().len();
    let aof_dirty = (cmd.flags & crate::commands::table::F_WRITE != 0 && x.core.aof.active())
        .then(|| crate::persistence::aof::dirty(&x.core.dbs));
    let ran = !crate::commands::typed::precheck(x, cmd, &args);
    if ran {
        (cmd.handler)(x, args);
    }
    let core = &mut *x.core;
    // Every command, reads included: a GET that found its key expired logs the DEL.
    propagate::after_command(core, x.client.db, cmd.name, args, aof_dirty, x.ctx, before);
    let now = Instant::now();
    let nanos = now.saturating_duration_since(core.mark).as_nanos() as u64;
    core.mark = now;
    if ran {
        crate::commands::introspection::after_call(core, x.client, ci, &args, nanos, x.ctx);
    }
    let st = &mut core.stats[ci];
    st.nanos += nanos;
    st.calls += 1;
    core.counters.commands += 1;
    let out = x.ctx.out();
    if out.get(before) == Some(&b'-') {
        st.failed += 1;
        let end = out[before..]
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .map_or(out.len(), |p| before + p);
        let code = String::from_utf8_lossy(&out[before + 1..end]).into_owned();
        core.counters.error_replies += 1;
        *core.counters.errors.entry(code).or_default() += 1;
    }
}

/// One command EXEC runs from its queue (checked when it was queued).
pub fn call_queued(x: &mut Exec<'_, '_>, args: Args<'_>) {
    if let Some(ci) = x.core.lookup_name(args.get(0)) {
        x.client.last_cmd = COMMANDS[ci].name;
        // Permissions may have changed since the command was queued: Redis checks again.
        if !x.core.acl.open {
            if let Some(msg) = crate::commands::acl_cmd::refuse(x.core, x.client, ci, &args) {
                count_error(x.core, &msg);
                return x.err(&msg);
            }
        }
        call(x, ci, args);
    }
}

impl Core {
    /// A parked command answered with an error later (XREADGROUP's -NOGROUP): counted in
    /// its statistics and the error counters as if it had failed when it ran.
    pub fn count_blocked_error(&mut self, name: &str, reply: &[u8]) {
        if let Some(ci) = self.lookup_name(name.as_bytes()) {
            self.stats[ci].failed += 1;
        }
        let msg = String::from_utf8_lossy(&reply[1..]);
        count_error(self, msg.trim_end());
    }
}

fn count_error(core: &mut Core, msg: &str) {
    core.counters.error_replies += 1;
    let code = msg.split(' ').next().unwrap_or("ERR").to_string();
    *core.counters.errors.entry(code).or_default() += 1;
}

/// What C's `%.Ns` prints of an argument: at most `n` bytes, up to the first NUL.
pub fn cstr(b: &[u8], n: usize) -> &[u8] {
    let b = &b[..b.len().min(n)];
    match b.iter().position(|&c| c == 0) {
        Some(p) => &b[..p],
        None => b,
    }
}

/// What a command handler gets.
pub struct Exec<'a, 'c> {
    pub core: &'a mut Core,
    pub client: &'a mut Client,
    /// Every other client (the current one's slot is empty while it runs).
    pub others: &'a [Option<Client>],
    pub ctx: &'a mut Ctx<'c>,
}

impl Exec<'_, '_> {
    #[inline]
    pub fn r(&mut self) -> Reply<'_> {
        Reply {
            buf: self.ctx.out(),
            resp3: self.client.resp3,
        }
    }

    #[inline]
    pub fn db(&mut self) -> &mut Db {
        &mut self.core.dbs[self.client.db]
    }

    pub fn err(&mut self, msg: &str) {
        self.r().error(msg);
    }

    /// A live key for reading: lazily expired, access noted, hit/miss counted.
    #[inline]
    pub fn read(&mut self, key: &[u8]) -> Option<Idx> {
        let db = self.client.db;
        let now = self.core.now_ms;
        let found = self.lookup(db, key, now);
        match found {
            Some(i) => {
                self.core.counters.keyspace_hits += 1;
                self.core.touch(db, i);
            }
            None => self.core.counters.keyspace_misses += 1,
        }
        found
    }

    /// A live key for writing (no hit/miss statistics).
    #[inline]
    pub fn write(&mut self, key: &[u8]) -> Option<Idx> {
        let db = self.client.db;
        let now = self.core.now_ms;
        let found = self.lookup(db, key, now);
        if let Some(i) = found {
            self.core.touch(db, i);
        }
        found
    }

    /// A live key without touching its access data (TYPE, OBJECT, TTL).
    pub fn peek(&mut self, key: &[u8]) -> Option<Idx> {
        let now = self.core.now_ms;
        let db = self.client.db;
        self.lookup(db, key, now)
    }

    /// A live key; an expired one is removed on the way, except during CLIENT PAUSE, when it
    /// only reads as absent (Redis stops expiring while paused).
    #[inline]
    fn lookup(&mut self, db: usize, key: &[u8], now: u64) -> Option<Idx> {
        if self.core.intro.pause.is_some() {
            let d = &self.core.dbs[db];
            return d.find(key).filter(|&i| !d.is_expired(i, now));
        }
        self.core.dbs[db].lookup(key, now)
    }

    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.others
            .iter()
            .flatten()
            .chain(std::iter::once(&*self.client))
    }
}

impl Service for KvService {
    type Session = u32;

    /// Replay the log read at start: the listener is bound, but nobody is accepted before this
    /// returns, so every client sees the whole dataset.
    fn start(&mut self, cx: &mut StartCtx<'_>) {
        if let Some(log) = self.core.aof.take_load() {
            self.replay(log, ConnId::NONE, &mut cx.ctx());
        }
        // Redis's line (operators and its test suite wait for it): the data is loaded and
        // the next wait accepts clients.
        tracing::info!("Ready to accept connections");
    }

    fn open(&mut self, info: &ConnInfo, ctx: &mut Ctx<'_>) -> u32 {
        self.core.counters.connections += 1;
        let now = ctx.now();
        let client = Client {
            id: self.core.next_client_id,
            conn: info.id,
            // A Unix-socket client shows the socket's path, as Redis's CLIENT LIST does.
            addr: match (&info.peer, &info.unix) {
                (Some(a), _) => a.to_string(),
                (None, Some(path)) => format!("{path}:0"),
                (None, None) => "?:0".into(),
            },
            laddr: info.local.to_string(),
            db: 0,
            resp3: false,
            authed: self.core.acl.default_needs_no_auth(),
            user: b"default".to_vec(),
            name: Vec::new(),
            lib_name: Vec::new(),
            lib_ver: Vec::new(),
            created: now,
            last: now,
            last_cmd: "NULL",
            no_evict: false,
            reply: ReplyMode::On,
            closing: false,
            parser: Parser::default(),
        };
        self.core.next_client_id += 1;
        crate::service::limits::opened(&self.core, ctx, info.id);
        if self.core.live_clients >= self.core.cfg.maxclients {
            self.core.counters.rejected_conns += 1;
            ctx.out()
                .extend_from_slice(b"-ERR max number of clients reached\r\n");
            ctx.close_after_reply();
        }
        self.core.live_clients += 1;
        match self.free.pop() {
            Some(s) => {
                self.clients[s as usize] = Some(client);
                s
            }
            None => {
                self.clients.push(Some(client));
                (self.clients.len() - 1) as u32
            }
        }
    }

    fn serve(&mut self, session: &mut u32, input: &[u8], ctx: &mut Ctx<'_>) -> usize {
        let idx = *session as usize;
        let Some(mut client) = self.clients.get_mut(idx).and_then(Option::take) else {
            return input.len();
        };
        self.core.set_time(ctx.now());
        client.last = ctx.now();
        self.core.mark = Instant::now();
        let used = self.run(&mut client, input, ctx);
        if self.core.aof.holds_every_reply() {
            self.core.aof.wait(ctx);
        }
        self.clients[idx] = Some(client);
        used
    }

    fn close(&mut self, session: u32, _id: ConnId, _ctx: &mut Ctx<'_>) {
        crate::commands::blocking::closed(&mut self.core, _id);
        if let Some(Some(c)) = self.clients.get(session as usize) {
            crate::commands::pubsub::closed(&mut self.core, c.id);
            crate::commands::transactions::closed(&mut self.core, c.id);
            crate::commands::introspection::closed(&mut self.core, c.id);
        }
        if let Some(c) = self.clients.get_mut(session as usize) {
            if c.take().is_some() {
                self.free.push(session);
                self.core.live_clients -= 1;
            }
        }
    }

    fn tick(&mut self, ctx: &mut Ctx<'_>) -> Option<Instant> {
        let core = &mut self.core;
        core.set_time(ctx.now());
        let now = core.now_ms;
        // While clients are paused nothing expires (as Redis: a paused primary must not change
        // the dataset behind its replicas' back); DEBUG SET-ACTIVE-EXPIRE 0 stops expiry here
        // too (keys still expire when touched).
        let mut budget = if core.intro.pause.is_some() || !core.runtime.active_expire {
            0
        } else {
            core.cfg.expire_budget
        };
        let mut next: Option<u64> = None;
        for db in &mut core.dbs {
            if budget > 0 {
                budget -= db.expire_due(now, budget);
            }
            if let Some(d) = db.next_deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        // Active expiry's deletions reach the log before anything later in this tick.
        propagate::expired(core);
        if now >= core.maintain_at {
            core.maintain_at = now + 1000;
            for db in &mut core.dbs {
                db.maintain();
            }
        }
        let next = next.map(|d| {
            if d <= now {
                ctx.now()
            } else {
                core.unix_ms_to_instant(d)
            }
        });
        crate::commands::blocking::serve_ready(core, ctx);
        let next = match (next, crate::commands::blocking::tick(core, ctx)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        crate::commands::snapshot::tick(core);
        let next = match (next, crate::commands::introspection::tick(core, ctx)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The log is written last: blocked clients served above may have written too.
        let now_ms = core.now_ms;
        let log_next = core.aof.tick(&mut core.dbs, now_ms, ctx);
        match (next, log_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn counters(&self, out: &mut Vec<(&'static str, u64)>) {
        out.push((
            "kv_keys",
            self.core.dbs.iter().map(|d| d.len() as u64).sum(),
        ));
        out.push(("kv_commands", self.core.counters.commands));
        out.push(("kv_expired", self.core.dbs.iter().map(|d| d.expired).sum()));
        out.push(("kv_evicted", self.core.counters.evicted));
    }
}
