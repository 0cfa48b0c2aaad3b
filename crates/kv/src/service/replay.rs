//! Start-up: open the append-only log, then replay it through the command table as a client
//! of its own before the first connection is accepted. The log's files are persistence's;
//! running commands is the dispatcher's, so replay lives here.

use std::time::{Duration, Instant};

use readyloop_server::{ConnId, Ctx};

use super::{Client, KvService};
use crate::config::KvConfig;
use crate::keyspace::Db;
use crate::persistence::aof::{self, Aof};
use crate::persistence::rdb;
use crate::protocol::{Parse, Parser};

impl KvService {
    /// A service with its append-only log opened and read (when `cfg.aof.enabled`): replayed
    /// before the first client is served. Errors name the file, offset and what to do.
    pub fn open(cfg: KvConfig) -> Result<KvService, String> {
        Self::open_with(cfg, crate::config::extra_defaults())
    }

    /// Like [`open`](Self::open), with the stored parameters given (a config file's
    /// `dbfilename`, `save` ...): they must be in place before the snapshot is loaded.
    pub fn open_with(cfg: KvConfig, extra: Vec<crate::config::Extra>) -> Result<KvService, String> {
        let aof = if cfg.aof.enabled {
            Some(aof::open(&cfg.aof)?)
        } else {
            None
        };
        let aof_cfg = cfg.aof.clone();
        let mut kv = KvService::new(cfg);
        kv.core.extra = extra;
        let aof_on = aof.is_some();
        kv.load_users()?;
        kv.core.aof = aof.unwrap_or_else(|| Aof::off(aof_cfg));
        if !aof_on {
            // As Redis: with the log off, the snapshot `dir/dbfilename` is the dataset.
            let core = &mut kv.core;
            let path = crate::commands::snapshot::target(core);
            let lim = crate::commands::typed::limits(core);
            let now = core.now_ms;
            rdb::save::load(&path, &mut core.dbs, &lim, now)?;
            core.rdb.dirty_at_save = crate::commands::snapshot::dirty(core);
        }
        Ok(kv)
    }

    /// Before the process exits: the log's last write and fsync, then the final snapshot when
    /// save points are configured (or SHUTDOWN SAVE asked for one; never after NOSAVE).
    pub fn shutdown(&mut self) {
        self.core.aof.shutdown();
        let mode = self.core.shutdown_mode;
        if let Err(e) = crate::commands::snapshot::on_shutdown(&mut self.core, mode) {
            tracing::warn!("Error trying to save the DB, can't exit: {e}");
        }
    }
}

impl KvService {
    /// Replay the log read at start through the command table, as a client of its own (with
    /// an id no connection has), before the first client is served. The clock stands at 0
    /// meanwhile: nothing expires half-way through (Redis does not expire while loading; the
    /// log holds the DEL of every expiry instead), and nothing blocks (`blocking::may_block`).
    ///
    /// Every record must succeed: one that fails means the log does not describe the dataset
    /// it was written from, and skipping it would start a server that silently differs. The
    /// start stops with an error naming the file, the offset, the record and its error
    /// ([`load_error`](Self::load_error); the loop is stopped if it can be).
    pub(super) fn replay(&mut self, log: aof::Loaded, conn: ConnId, ctx: &mut Ctx<'_>) {
        let t0 = Instant::now();
        let mut client = Client {
            id: 0,
            conn,
            addr: "aof".into(),
            laddr: String::new(),
            db: 0,
            resp3: false,
            authed: true,
            name: Vec::new(),
            lib_name: Vec::new(),
            lib_ver: Vec::new(),
            created: t0,
            last: t0,
            last_cmd: "NULL",
            no_evict: true,
            reply: super::ReplyMode::On,
            user: b"default".to_vec(),
            closing: false,
            parser: Parser::default(),
        };
        let keep = ctx.out().len();
        self.core.aof.loading = true;
        self.core.now_ms = 0;
        let total = log.bytes.len();
        let mut reported = t0;
        let mut parser = Parser::default();
        let mut at = 0;
        while at < total {
            let input = &log.bytes[at..];
            let end = match parser.parse(input, true, u64::MAX) {
                Parse::Request { end } => end,
                // The loader validated every record: anything else is a bug, reported as a
                // refusal rather than a panic.
                _ => {
                    self.fail_load(&log, at, "", "the record cannot be parsed", ctx);
                    return;
                }
            };
            let errors = self.core.counters.error_replies;
            let args = parser.args(input);
            self.exec(&mut client, args, ctx);
            if self.core.counters.error_replies != errors {
                let reply = String::from_utf8_lossy(&ctx.out()[keep..]).into_owned();
                let why = first_error(&reply);
                let shown = show_args(args);
                self.fail_load(&log, at, &shown, &why, ctx);
                return;
            }
            ctx.out().truncate(keep);
            at += end;
            if reported.elapsed() >= Duration::from_secs(1) {
                reported = Instant::now();
                tracing::info!(
                    "loading the append-only log: {} of {} MB ({:.0}%)",
                    at >> 20,
                    total >> 20,
                    at as f64 * 100.0 / total as f64
                );
            }
        }
        self.core.aof.loading = false;
        self.core.set_time(ctx.now());
        self.core.aof.loaded_commands = log.records;
        tracing::info!(
            "DB loaded from append only file: {:.3} seconds, {} records, {} keys",
            t0.elapsed().as_secs_f64(),
            log.records,
            self.core.dbs.iter().map(Db::len).sum::<usize>()
        );
    }

    /// A record failed on replay: refuse to start. The log stays as it is (nothing is written
    /// to it: `loading` stays set), for the operator to inspect.
    fn fail_load(&mut self, log: &aof::Loaded, at: usize, rec: &str, why: &str, ctx: &mut Ctx<'_>) {
        let (file, offset) = log.locate(at);
        let msg = format!(
            "The append only file {} fails on replay at offset {offset}: the record {rec} \
             answered {why}. The log does not describe a dataset this server can rebuild; \
             refusing to start (keep a copy of the log directory, then inspect or truncate the \
             file at that offset)",
            file.display()
        );
        tracing::error!("{msg}");
        ctx.out().clear();
        self.load_error = Some(msg);
        if let Some(stop) = &self.core.stop {
            stop.stop();
        }
    }

    /// Why the start failed (a record of the log failed on replay), if it did. The server
    /// answers nothing meanwhile: its loop was stopped before the first client was accepted.
    pub fn load_error(&self) -> Option<&str> {
        self.load_error.as_deref()
    }
}

/// The first error line of a reply (an EXEC's array may hold it anywhere).
fn first_error(reply: &str) -> String {
    reply
        .split("\r\n")
        .find_map(|l| l.strip_prefix('-'))
        .unwrap_or("an error")
        .to_string()
}

/// A record as a log line shows it: arguments quoted, long ones cut.
fn show_args(a: crate::protocol::Args<'_>) -> String {
    let mut out = String::new();
    for (k, arg) in a.iter().enumerate() {
        if k > 0 {
            out.push(' ');
        }
        let cut = &arg[..arg.len().min(64)];
        out.push('"');
        out.push_str(&String::from_utf8_lossy(cut).escape_debug().to_string());
        if arg.len() > cut.len() {
            out.push_str("...");
        }
        out.push('"');
        if k >= 8 {
            out.push_str(" ...");
            break;
        }
    }
    out
}
