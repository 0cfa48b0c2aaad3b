//! Snapshots on disk: `dir/dbfilename` written as Redis writes it (a temp file, fsync, rename
//! over the old one, fsync of the directory, so a crash leaves the old snapshot or the new one,
//! never half of one), the state INFO persistence reports, save points, and loading at start.
//!
//! BGSAVE serialises on the loop (a pause proportional to the dataset, as the copy Redis's
//! fork makes of the page tables is) and writes, fsyncs and renames on a thread of its own, so
//! the disk never holds the loop; its result is collected by the tick.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kvtypes::Limits;

use crate::keyspace::Db;

/// The snapshot's state, for SAVE/BGSAVE/LASTSAVE and INFO persistence.
pub struct SaveState {
    /// Unix seconds of the last successful save (the start time before any).
    pub last_save: u64,
    /// The keyspace's change counter at the last successful save (or load).
    pub dirty_at_save: u64,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    pub bgsave: Option<Bgsave>,
    /// The last save point check (Redis retries a failed BGSAVE only after 5 s).
    pub last_try: u64,
    pub saves: u64,
}

/// A BGSAVE whose file is being written.
pub struct Bgsave {
    started: Instant,
    dirty: u64,
    done: Receiver<io::Result<()>>,
}

impl Default for SaveState {
    fn default() -> Self {
        SaveState {
            last_save: unix_now(),
            dirty_at_save: 0,
            last_bgsave_ok: true,
            last_bgsave_secs: -1,
            bgsave: None,
            last_try: 0,
            saves: 0,
        }
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where the snapshot lives.
pub fn path(dir: &Path, dbfilename: &str) -> PathBuf {
    dir.join(dbfilename)
}

/// The aux fields Redis writes at the top of a file.
fn aux(dbs: &[Db]) -> Vec<(&'static str, Vec<u8>)> {
    let used: usize = dbs.iter().map(Db::used_bytes).sum();
    vec![
        (
            "redis-ver",
            crate::commands::server::VERSION.as_bytes().to_vec(),
        ),
        ("redis-bits", b"64".to_vec()),
        ("ctime", unix_now().to_string().into_bytes()),
        ("used-mem", used.to_string().into_bytes()),
        ("aof-base", b"0".to_vec()),
    ]
}

/// Replace `target` with `bytes` durably: temp file in the same directory, fsync, rename,
/// fsync of the directory.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, target)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl SaveState {
    pub fn in_progress(&self) -> bool {
        self.bgsave.is_some()
    }

    /// SAVE: serialise and write now, on the loop (Redis's SAVE blocks too).
    pub fn save(
        &mut self,
        dbs: &[Db],
        now_ms: u64,
        dirty: u64,
        target: &Path,
        compress: bool,
    ) -> io::Result<()> {
        let bytes = super::write_file(dbs, now_ms, compress, &aux(dbs));
        write_atomically(target, &bytes)?;
        self.saved(dirty);
        tracing::info!("DB saved on disk");
        Ok(())
    }

    fn saved(&mut self, dirty: u64) {
        self.last_save = unix_now();
        self.dirty_at_save = dirty;
        self.saves += 1;
    }

    /// BGSAVE: serialise now, write on a thread.
    pub fn start_bgsave(
        &mut self,
        dbs: &[Db],
        now_ms: u64,
        dirty: u64,
        target: PathBuf,
        compress: bool,
    ) -> io::Result<()> {
        let bytes = super::write_file(dbs, now_ms, compress, &aux(dbs));
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("bgsave".into())
            .spawn(move || {
                let _ = tx.send(write_atomically(&target, &bytes));
            })?;
        tracing::info!("Background saving started");
        self.bgsave = Some(Bgsave {
            started: Instant::now(),
            dirty,
            done: rx,
        });
        Ok(())
    }

    /// From the tick: collect a finished BGSAVE.
    pub fn poll(&mut self) {
        let Some(b) = &self.bgsave else { return };
        let result = match b.done.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => Err(io::Error::other("bgsave thread vanished")),
        };
        let b = self.bgsave.take().expect("checked above");
        self.last_bgsave_secs = b.started.elapsed().as_secs() as i64;
        match result {
            Ok(()) => {
                self.last_bgsave_ok = true;
                self.saved(b.dirty);
                tracing::info!("Background saving terminated with success");
            }
            Err(e) => {
                self.last_bgsave_ok = false;
                tracing::warn!("Background saving error: {e}");
            }
        }
    }

    /// Wait for a running BGSAVE (shutdown, SAVE while one runs).
    pub fn wait(&mut self) {
        while self.bgsave.is_some() {
            self.poll();
            if self.bgsave.is_some() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }

    /// Is a save point due? `points` are (seconds, changes) pairs as `save` lists them.
    pub fn point_due(&self, points: &[(u64, u64)], dirty: u64) -> bool {
        let now = unix_now();
        let changes = dirty.saturating_sub(self.dirty_at_save);
        // After a failed BGSAVE, Redis waits 5 s before trying again.
        let retry_ok = self.last_bgsave_ok || now.saturating_sub(self.last_try) >= 5;
        !self.in_progress()
            && retry_ok
            && points
                .iter()
                .any(|&(secs, n)| changes >= n && now.saturating_sub(self.last_save) >= secs)
    }

    /// INFO persistence's snapshot lines.
    pub fn info(&self, dirty: u64) -> String {
        format!(
            "rdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\n\
             rdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\n\
             rdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\n\
             rdb_saves:{}\r\n",
            dirty.saturating_sub(self.dirty_at_save),
            u8::from(self.in_progress()),
            self.last_save,
            if self.last_bgsave_ok { "ok" } else { "err" },
            self.last_bgsave_secs,
            self.bgsave
                .as_ref()
                .map_or(-1, |b| b.started.elapsed().as_secs() as i64),
            self.saves,
        )
    }
}

/// Parse `save`'s value: "" (no snapshots) or pairs of seconds and changes.
pub fn parse_points(v: &str) -> Option<Vec<(u64, u64)>> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return None;
    }
    words
        .chunks(2)
        .map(|p| Some((p[0].parse().ok()?, p[1].parse().ok()?)))
        .collect()
}

/// Load `path` into `dbs` (keys already past their deadline are dropped, as Redis does for a
/// master). Returns the number of keys loaded, or None when there is no file.
pub fn load(
    path: &Path,
    dbs: &mut [Db],
    lim: &Limits,
    now_ms: u64,
) -> Result<Option<usize>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let t0 = Instant::now();
    let n_dbs = dbs.len();
    let mut loaded = 0;
    super::read_file(&bytes, lim, |k| {
        let db = dbs
            .get_mut(k.db)
            .ok_or_else(|| format!("the file uses database {} but there are {n_dbs}", k.db))?;
        if k.expire_ms.is_some_and(|at| at <= now_ms) {
            return Ok(());
        }
        if let Some(i) = db.find(&k.key) {
            db.remove(i);
        }
        let i = k.value.insert(db, &k.key);
        if let Some(at) = k.expire_ms {
            db.set_deadline(i, at);
        }
        loaded += 1;
        Ok(())
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    tracing::info!(
        "DB loaded from disk: {:.3} seconds",
        t0.elapsed().as_secs_f64()
    );
    Ok(Some(loaded))
}
