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
use crate::protocol::Parser;

impl KvService {
    /// A service with its append-only log opened and read (when `cfg.aof.enabled`): replayed
    /// before the first client is served. Errors name the file, offset and what to do.
    pub fn open(cfg: KvConfig) -> Result<KvService, String> {
        let aof = if cfg.aof.enabled {
            Some(aof::open(&cfg.aof)?)
        } else {
            None
        };
        let aof_cfg = cfg.aof.clone();
        let mut kv = KvService::new(cfg);
        let aof_on = aof.is_some();
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
    /// meanwhile: nothing expires half-way through (Redis does not expire while loading), so
    /// an INCR of a key whose deadline has passed since replays as the INCR it was.
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
            closing: false,
            parser: Parser::default(),
        };
        let keep = ctx.out().len();
        let errors_before = self.core.counters.error_replies;
        self.core.aof.loading = true;
        self.core.now_ms = 0;
        let total = log.bytes.len();
        let (mut done, mut reported) = (0, t0);
        for chunk in log.take_chunks() {
            self.run(&mut client, chunk, ctx);
            ctx.out().truncate(keep);
            done += chunk.len();
            if reported.elapsed() >= Duration::from_secs(1) {
                reported = Instant::now();
                tracing::info!(
                    "loading the append-only log: {} of {} MB ({:.0}%)",
                    done >> 20,
                    total >> 20,
                    done as f64 * 100.0 / total as f64
                );
            }
        }
        self.core.aof.loading = false;
        self.core.set_time(ctx.now());
        self.core.aof.loaded_commands = log.records;
        let failed = self.core.counters.error_replies - errors_before;
        tracing::info!(
            "DB loaded from append only file: {:.3} seconds, {} records, {} keys",
            t0.elapsed().as_secs_f64(),
            log.records,
            self.core.dbs.iter().map(Db::len).sum::<usize>()
        );
        if failed > 0 {
            tracing::warn!("{failed} records of the append-only log failed on replay");
        }
    }
}
