//! Scripting as Redis 7.0 runs it: EVAL/EVALSHA/EVAL_RO/EVALSHA_RO and SCRIPT (this file),
//! FUNCTION/FCALL/FCALL_RO (`functions.rs`), on one Lua 5.1 interpreter (`engine.rs`, with
//! the `redis` API in `api.rs`, the RESP <-> Lua rules in `reply.rs` and the libraries Redis
//! loads in `cjson.rs`, `msgpack.rs`, `bitlib.rs`, `structlib.rs`).
//!
//! How a script reaches the server: `redis.call` goes through [`engine::Host`], implemented
//! here by [`ScriptHost`] on the caller's `Exec`: the command is looked up in the same table,
//! checked as Redis's scriptCall checks it (unknown, arity, `noscript`, writes under a
//! read-only script, `-OOM` for a script that has not written yet, `-MISCONF`), and run by
//! the dispatcher's own `call` with the caller's client (its database, the script's RESP
//! version), its reply taken back out of the output buffer and converted for Lua.
//!
//! Rules this file keeps:
//! - Atomic: nothing else runs on the loop while a script runs; blocking commands answer at
//!   once (the transaction flag `executing` is set, the same rule as EXEC).
//! - Logged as effects: a script's writes reach the append-only log as the commands it ran,
//!   inside one MULTI/EXEC block (never as EVAL), so replay applies all or none of it.
//!   `redis.set_repl(REPL_NONE/REPL_REPLICA)` keeps the following writes out of the log.
//! - `SELECT` inside a script changes the script's database only: the caller's is restored.
//!
//! Not done: a script is never interrupted (no `busy-reply-threshold`, `-BUSY` or effective
//! SCRIPT KILL): that needs the event loop to serve other clients while a service call is in
//! progress, which the Service API does not offer yet. SCRIPT KILL answers `NOTBUSY` (true:
//! no script can be running when another client's command is read).
//!
//! May not touch: connections, the log's files (only the exec block and the mute flag).

pub mod api;
pub mod bitlib;
pub mod cjson;
pub mod engine;
pub mod functions;
pub mod msgpack;
pub mod reply;
pub mod structlib;

use crate::commands::keys::help;
use crate::commands::table::{check_sub, COMMANDS, F_DENYOOM, F_NOSCRIPT, F_WRITE};
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use engine::{Engine, Host};

pub const REDIS_VERSION: &str = "7.0.15";
pub const REDIS_VERSION_NUM: i64 = 0x0007_000f;

/// Script flags (`#!lua flags=...` and `redis.register_function{flags=...}`).
pub const S_NO_WRITES: u32 = 1;
pub const S_ALLOW_OOM: u32 = 2;
pub const S_ALLOW_STALE: u32 = 4;
pub const S_NO_CLUSTER: u32 = 8;
pub const S_ALLOW_CROSS_SLOT: u32 = 16;
/// A script without a shebang: Redis's pre-7.0 rules (may write, OOM checked per command).
pub const S_EVAL_COMPAT: u32 = 32;

pub const FLAG_NAMES: &[(u32, &str)] = &[
    (S_NO_WRITES, "no-writes"),
    (S_ALLOW_OOM, "allow-oom"),
    (S_ALLOW_STALE, "allow-stale"),
    (S_NO_CLUSTER, "no-cluster"),
    (S_ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
];

/// The interpreter (created on first use, taken out while a script runs) and the function
/// libraries.
#[derive(Default)]
pub struct Scripting {
    engine: Option<Engine>,
    pub libs: functions::Libraries,
    /// lrand48's state, kept across SCRIPT FLUSH (Redis's is a process global).
    rand: Option<u64>,
}

impl Scripting {
    pub fn engine(&mut self) -> &mut Engine {
        self.engine.get_or_insert_with(Engine::new)
    }

    /// Take the interpreter out for a run (a script's commands need `&mut Core`).
    pub fn take(&mut self) -> Engine {
        self.engine.take().unwrap_or_default()
    }

    pub fn put(&mut self, e: Engine) {
        self.engine = Some(e);
    }

    /// INFO: bytes of the Lua heap, scripts cached, bytes of their bodies.
    pub fn info(&self) -> (usize, usize, usize) {
        match &self.engine {
            Some(e) => (e.memory(), e.len(), e.scripts_bytes),
            None => (0, 0, 0),
        }
    }

    /// SCRIPT FLUSH: a new interpreter, the function libraries loaded again into it.
    pub fn flush_scripts(&mut self) {
        if let Some(e) = &self.engine {
            self.rand = Some(e.rand_state());
        }
        let mut e = Engine::new();
        if let Some(r) = self.rand {
            e.set_rand_state(r);
        }
        self.libs.reload_into(&mut e);
        self.engine = Some(e);
    }
}

/// Parse a `#!lua ...` first line: (flags, the body with the shebang commented out for Lua,
/// keeping line numbers). No shebang: compatibility mode.
pub fn shebang(body: &[u8]) -> Result<(u32, std::borrow::Cow<'_, [u8]>), String> {
    if !body.starts_with(b"#!") {
        return Ok((S_EVAL_COMPAT, std::borrow::Cow::Borrowed(body)));
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for p in parts {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {p}"));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match FLAG_NAMES.iter().find(|(_, n)| *n == f) {
                Some((bit, _)) => flags |= bit,
                None => return Err(format!("ERR Unexpected flag in script shebang: {f}")),
            }
        }
    }
    let mut b = body.to_vec();
    b[0] = b'-';
    b[1] = b'-';
    Ok((flags, std::borrow::Cow::Owned(b)))
}

/// The server as a script sees it: the caller's Exec with the script's rules.
pub struct ScriptHost<'x, 'a, 'c> {
    pub x: &'x mut Exec<'a, 'c>,
    /// EVAL_RO / FCALL_RO or `no-writes`.
    pub read_only: bool,
    pub allow_oom: bool,
    /// Over maxmemory when the script started.
    pub oom: bool,
    /// A write command ran (Redis's SCRIPT_WRITE_DIRTY): OOM no longer stops the script.
    pub wrote: bool,
    /// Argument bytes and ranges, reused across calls.
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl Host for ScriptHost<'_, '_, '_> {
    fn call(&mut self, argv: &[Vec<u8>], resp3: bool, out: &mut Vec<u8>) {
        let x = &mut *self.x;
        let Some(ci) = x.core.command_index(&argv[0]) else {
            out.extend_from_slice(b"-ERR Unknown Redis command called from script\r\n");
            return;
        };
        let cmd = &COMMANDS[ci];
        if (cmd.arity > 0 && argv.len() != cmd.arity as usize)
            || argv.len() < cmd.arity.unsigned_abs() as usize
        {
            x.core.stats[ci].rejected += 1;
            out.extend_from_slice(
                b"-ERR Wrong number of args calling Redis command from script\r\n",
            );
            return;
        }
        if cmd.flags & F_NOSCRIPT != 0 {
            x.core.stats[ci].rejected += 1;
            out.extend_from_slice(b"-ERR This Redis command is not allowed from script\r\n");
            return;
        }
        if cmd.flags & F_WRITE != 0 {
            if self.read_only {
                x.core.stats[ci].rejected += 1;
                out.extend_from_slice(
                    b"-ERR Write commands are not allowed from read-only scripts.\r\n",
                );
                return;
            }
            if let Some(e) = x.core.aof.deny_write() {
                out.push(b'-');
                out.extend_from_slice(e.as_bytes());
                out.extend_from_slice(b"\r\n");
                return;
            }
        }
        if cmd.flags & F_DENYOOM != 0 && !self.allow_oom && self.oom && !self.wrote {
            x.core.stats[ci].rejected += 1;
            out.extend_from_slice(b"-OOM command not allowed when used memory > 'maxmemory'.\r\n");
            return;
        }
        self.buf.clear();
        self.ranges.clear();
        for a in argv {
            let s = self.buf.len();
            self.buf.extend_from_slice(a);
            self.ranges.push((s, self.buf.len()));
        }
        let args = Args::from_parts(&self.buf, &self.ranges);
        let keep_resp = x.client.resp3;
        x.client.resp3 = resp3;
        let before = x.ctx.out().len();
        crate::service::call_queued(x, args);
        x.client.resp3 = keep_resp;
        let o = x.ctx.out();
        out.extend_from_slice(&o[before..]);
        o.truncate(before);
        if cmd.flags & F_WRITE != 0 {
            self.wrote = true;
        }
    }

    fn log(&mut self, level: i64, msg: &[u8]) {
        let m = String::from_utf8_lossy(msg);
        match level {
            0 | 1 => tracing::debug!("{m}"),
            2 => tracing::info!("{m}"),
            _ => tracing::warn!("{m}"),
        }
    }

    fn set_repl(&mut self, flags: i64) {
        // Only the log exists (no replicas yet): REPL_AOF and REPL_ALL log, the rest do not.
        self.x.core.aof.muted = flags & 1 == 0;
    }
}

/// Check a script's flags against how it is called, run `body` with a [`ScriptHost`] and the
/// script rules in force, and write its reply. `run` gets the interpreter, the host, the
/// caller's protocol and the reply buffer.
pub fn run_script(
    x: &mut Exec<'_, '_>,
    flags: u32,
    ro_command: bool,
    run: impl FnOnce(&mut Engine, &mut dyn Host, bool, &mut Vec<u8>),
) {
    let compat = flags & S_EVAL_COMPAT != 0;
    let no_writes = flags & S_NO_WRITES != 0;
    let allow_oom = flags & S_ALLOW_OOM != 0;
    let oom = x.core.cfg.maxmemory > 0 && !x.core.make_room();
    if !compat {
        if ro_command && !no_writes {
            return x.err("ERR Can not execute a script with write flag using *_ro command.");
        }
        if !no_writes && !allow_oom && oom {
            return x.err("OOM command not allowed when used memory > 'maxmemory'.");
        }
        if !no_writes {
            if let Some(e) = x.core.aof.deny_write() {
                return x.err(&e);
            }
        }
    }
    let mut eng = x.core.scripting.take();
    let db = x.client.db;
    let last_cmd = x.client.last_cmd;
    let was_executing = std::mem::replace(&mut x.core.multi.executing, true);
    let nested = x.core.aof.in_exec();
    if !nested {
        x.core.aof.begin_exec();
    }
    let client_resp3 = x.client.resp3;
    let mut out = Vec::with_capacity(64);
    {
        let mut host = ScriptHost {
            x: &mut *x,
            read_only: ro_command || no_writes,
            allow_oom,
            oom,
            wrote: false,
            buf: Vec::new(),
            ranges: Vec::new(),
        };
        run(&mut eng, &mut host, client_resp3, &mut out);
    }
    if !nested {
        x.core.aof.end_exec();
    }
    x.core.aof.muted = false;
    x.core.multi.executing = was_executing;
    x.client.db = db;
    x.client.last_cmd = last_cmd;
    x.core.scripting.put(eng);
    x.ctx.out().extend_from_slice(&out);
}

/// Parse EVAL's numkeys and split keys from arguments.
/// KEYS and ARGV of an EVAL-style command.
type KeysArgs<'a> = (Vec<&'a [u8]>, Vec<&'a [u8]>);

fn split_keys<'a>(x: &mut Exec<'_, '_>, a: &Args<'a>) -> Option<KeysArgs<'a>> {
    let Some(n) = parse_i64(a.get(2)) else {
        x.err("ERR value is not an integer or out of range");
        return None;
    };
    if n < 0 {
        x.err("ERR Number of keys can't be negative");
        return None;
    }
    if n as usize > a.len() - 3 {
        x.err("ERR Number of keys can't be greater than number of args");
        return None;
    }
    let n = n as usize;
    let keys = (3..3 + n).map(|i| a.get(i)).collect();
    let args = (3 + n..a.len()).map(|i| a.get(i)).collect();
    Some((keys, args))
}

fn eval_generic(x: &mut Exec<'_, '_>, a: Args<'_>, by_sha: bool, ro: bool) {
    let Some((keys, args)) = split_keys(x, &a) else {
        return;
    };
    let eng = x.core.scripting.engine();
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(a.get(1)).to_ascii_lowercase();
        if !eng.exists(sha.as_bytes()) {
            return x.err("NOSCRIPT No matching script. Please use EVAL.");
        }
        sha
    } else {
        match eng.load(a.get(1)) {
            Ok(sha) => sha,
            Err(e) => return x.err(&e),
        }
    };
    let flags = eng.flags(&sha).unwrap_or(S_EVAL_COMPAT);
    run_script(x, flags, ro, |eng, host, resp3, out| {
        eng.run(&sha, &keys, &args, host, resp3, out)
    });
}

pub fn eval(x: &mut Exec<'_, '_>, a: Args<'_>) {
    eval_generic(x, a, false, false);
}

pub fn evalsha(x: &mut Exec<'_, '_>, a: Args<'_>) {
    eval_generic(x, a, true, false);
}

pub fn eval_ro(x: &mut Exec<'_, '_>, a: Args<'_>) {
    eval_generic(x, a, false, true);
}

pub fn evalsha_ro(x: &mut Exec<'_, '_>, a: Args<'_>) {
    eval_generic(x, a, true, true);
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

pub fn script(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match check_sub(x, &a, "script") {
        Some("flush") => {
            let ok = match a.len() {
                2 => true,
                3 => {
                    a.get(2).eq_ignore_ascii_case(b"sync")
                        || a.get(2).eq_ignore_ascii_case(b"async")
                }
                _ => false,
            };
            if !ok {
                return x.err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            x.core.scripting.flush_scripts();
            x.r().ok();
        }
        Some("exists") => {
            let eng = x.core.scripting.engine();
            let found: Vec<bool> = (2..a.len()).map(|i| eng.exists(a.get(i))).collect();
            let mut r = x.r();
            r.array(found.len());
            for f in found {
                r.int(f as i64);
            }
        }
        Some("load") => match x.core.scripting.engine().load(a.get(2)) {
            Ok(sha) => x.r().bulk(sha.as_bytes()),
            Err(e) => x.err(&e),
        },
        // Only the running script could be killed, and none runs while a command is read.
        Some("kill") => x.err("NOTBUSY No scripts in execution right now."),
        Some("debug") => x.err("ERR SCRIPT DEBUG is not supported by this server"),
        Some(_) => help(x, SCRIPT_HELP),
        None => {}
    }
}
