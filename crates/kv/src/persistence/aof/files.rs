//! The log's files: the manifest (`file NAME seq N type b|i`), creating the directory with
//! its name durable, reading and checking records (torn tails, zero-filled tails, unfinished
//! MULTI blocks), opening the log at start, and `check-aof`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use super::*;

// ---------------------------------------------------------------------------------------------
// Files and the manifest

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub seq: u64,
    pub base: bool,
}

pub fn manifest_path(cfg: &AofConfig) -> PathBuf {
    cfg.dir
        .join(DIRNAME)
        .join(format!("{}.manifest", cfg.filename))
}

/// Parse a Redis 7 manifest (`file NAME seq N type b|h|i` per line; `#` comments).
pub fn parse_manifest(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let get = |k: &str| {
            w.chunks(2)
                .find(|c| c.len() == 2 && c[0] == k)
                .map(|c| c[1].to_string())
        };
        let (Some(name), Some(seq), Some(kind)) = (get("file"), get("seq"), get("type")) else {
            return Err(format!("line {}: invalid manifest line: {line}", n + 1));
        };
        if name.contains('/') {
            return Err(format!("line {}: file name with a path: {name}", n + 1));
        }
        let seq = seq
            .parse()
            .map_err(|_| format!("line {}: bad seq {seq}", n + 1))?;
        match kind.as_str() {
            "b" => parts.push(Part {
                name,
                seq,
                base: true,
            }),
            "i" => parts.push(Part {
                name,
                seq,
                base: false,
            }),
            // A history file is left by a rewrite and deleted later; never loaded.
            "h" => {}
            k => return Err(format!("line {}: unknown file type {k}", n + 1)),
        }
    }
    parts.sort_by_key(|p| (!p.base, p.seq));
    if parts.iter().filter(|p| p.base).count() > 1 {
        return Err("more than one base file".into());
    }
    Ok(parts)
}

pub(super) fn manifest_text(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| {
            format!(
                "file {} seq {} type {}\n",
                p.name,
                p.seq,
                if p.base { 'b' } else { 'i' }
            )
        })
        .collect()
}

pub(super) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create `DIR/appendonlydir` with its name durable. The fsyncs inside it (files, then the
/// directory after the manifest's rename) persist its entries but not its own, which lives in
/// `DIR`: without this fsync a power cut after a first start loses the whole log, `always`'s
/// acknowledged writes included (pinned by kv_power's power-cut tests on lazyfs).
pub(super) fn create_log_dir(cfg: &AofConfig) -> io::Result<PathBuf> {
    let dir = cfg.dir.join(DIRNAME);
    fs::create_dir_all(&dir)?;
    fsync_dir(&cfg.dir)?;
    Ok(dir)
}

/// Replace the manifest atomically: temp file, fsync, rename, fsync the directory.
pub(super) fn write_manifest(dir: &Path, name: &str, parts: &[Part]) -> io::Result<()> {
    let tmp = dir.join(format!("temp-{name}.manifest"));
    let mut f = File::create(&tmp)?;
    f.write_all(manifest_text(parts).as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(format!("{name}.manifest")))?;
    fsync_dir(dir)
}

/// Replace the manifest with a rename only (what a process kill needs); `sync_manifest`
/// makes it durable later (what a power cut needs).
pub(super) fn rename_manifest(dir: &Path, name: &str, parts: &[Part]) -> io::Result<()> {
    let tmp = dir.join(format!("temp-{name}.manifest"));
    File::create(&tmp)?.write_all(manifest_text(parts).as_bytes())?;
    fs::rename(&tmp, dir.join(format!("{name}.manifest")))
}

pub(super) fn sync_manifest(dir: &Path, name: &str) -> io::Result<()> {
    File::open(dir.join(format!("{name}.manifest")))?.sync_all()?;
    fsync_dir(dir)
}

// ---------------------------------------------------------------------------------------------
// Reading and checking

/// Where a log stops being valid.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// Every byte belongs to a complete record.
    Valid { records: u64 },
    /// Complete records up to `ok_up_to`, then the start of one cut short (or zeros a crash
    /// left when the file's size reached the disk before its data): a torn tail.
    Torn { records: u64, ok_up_to: usize },
    /// Bytes that are not a record, at `offset`, with more after them.
    Corrupt {
        records: u64,
        offset: usize,
        why: String,
    },
}

pub(super) enum Rec {
    Complete(usize),
    Incomplete,
    Bad(String),
}

pub(super) fn read_line(b: &[u8], at: usize, prefix: u8) -> Result<Option<(i64, usize)>, String> {
    if at >= b.len() {
        return Ok(None);
    }
    if b[at] != prefix {
        return Err(format!(
            "expected '{}', got '{}'",
            prefix as char,
            b[at].escape_ascii()
        ));
    }
    let Some(nl) = b[at..].iter().take(32).position(|&c| c == b'\n') else {
        return if b.len() - at < 32 {
            Ok(None)
        } else {
            Err("length line too long".into())
        };
    };
    let line = &b[at + 1..at + nl];
    let Some(line) = line.strip_suffix(b"\r") else {
        return Err("length line without \\r\\n".into());
    };
    let n = crate::protocol::parse_i64(line).ok_or("bad length")?;
    Ok(Some((n, at + nl + 1)))
}

/// One `*N` record of bulk strings starting at `at`.
pub(super) fn record(b: &[u8], at: usize) -> Rec {
    let step = || -> Result<Option<usize>, String> {
        let Some((argc, mut p)) = read_line(b, at, b'*')? else {
            return Ok(None);
        };
        if !(1..=i64::from(i32::MAX)).contains(&argc) {
            return Err(format!("bad argument count {argc}"));
        }
        for _ in 0..argc {
            let Some((len, q)) = read_line(b, p, b'$')? else {
                return Ok(None);
            };
            if !(0..=1 << 40).contains(&len) {
                return Err(format!("bad bulk length {len}"));
            }
            let end = q + len as usize;
            if end + 2 > b.len() {
                return Ok(None);
            }
            if &b[end..end + 2] != b"\r\n" {
                return Err("bulk string not followed by \\r\\n".into());
            }
            p = end + 2;
        }
        Ok(Some(p))
    };
    match step() {
        Ok(Some(p)) => Rec::Complete(p),
        Ok(None) => Rec::Incomplete,
        Err(e) => Rec::Bad(e),
    }
}

/// The start of a record, then zeros to the end of the file: a power cut during writeback,
/// after the file's new size reached the disk but before all of its data did (XFS, ext4
/// without data=ordered; pages are written back out of order). A torn tail, not corruption:
/// found by kv_power's torn power cuts on lazyfs, where the server used to refuse to start.
pub(super) fn cut_by_zeros(b: &[u8], at: usize) -> bool {
    let end = b.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
    end > at && end < b.len() && matches!(record(&b[..end], at), Rec::Incomplete)
}

/// `*1 $len NAME` with this name (any case): the record MULTI or EXEC.
pub(super) fn is_bare(rec: &[u8], name: &[u8]) -> bool {
    let head = format!("*1\r\n${}\r\n", name.len());
    rec.len() == head.len() + name.len() + 2
        && rec.starts_with(head.as_bytes())
        && rec[head.len()..head.len() + name.len()].eq_ignore_ascii_case(name)
}

/// Check `b`; `cuts` gets a record boundary about every `chunk` bytes (never inside a
/// MULTI block). A MULTI block the log ends in without its EXEC counts as torn from the MULTI
/// on, as redis-check-aof and Redis's loader revert an unfinished transaction: replaying
/// half of one would break its atomicity.
pub fn check_bytes(b: &[u8], chunk: usize, cuts: &mut Vec<usize>) -> Check {
    let mut at = 0;
    let mut records = 0;
    let mut last_cut = 0;
    // (offset, records before it) of an open MULTI.
    let mut multi: Option<(usize, u64)> = None;
    while at < b.len() {
        match record(b, at) {
            Rec::Complete(end) => {
                if is_bare(&b[at..end], b"MULTI") && multi.is_none() {
                    multi = Some((at, records));
                } else if is_bare(&b[at..end], b"EXEC") {
                    multi = None;
                }
                records += 1;
                at = end;
                if at - last_cut >= chunk && multi.is_none() {
                    cuts.push(at);
                    last_cut = at;
                }
            }
            Rec::Incomplete => {
                let (ok_up_to, records) = multi.unwrap_or((at, records));
                return Check::Torn { records, ok_up_to };
            }
            Rec::Bad(why) => {
                if b[at..].iter().all(|&c| c == 0) || cut_by_zeros(b, at) {
                    let (ok_up_to, records) = multi.unwrap_or((at, records));
                    return Check::Torn { records, ok_up_to };
                }
                return match multi {
                    Some((m, records)) => Check::Corrupt {
                        records,
                        offset: m,
                        why: format!("{why} at offset {at}, inside the MULTI block opened here"),
                    },
                    None => Check::Corrupt {
                        records,
                        offset: at,
                        why,
                    },
                };
            }
        }
    }
    match multi {
        Some((ok_up_to, records)) => Check::Torn { records, ok_up_to },
        None => Check::Valid { records },
    }
}

/// Read the log named by the manifest (creating an empty one if there is none), truncating a
/// torn tail of the last file; refuses corruption anywhere else.
pub fn open(cfg: &AofConfig) -> Result<Aof, String> {
    let dir = cfg.dir.join(DIRNAME);
    let mpath = manifest_path(cfg);
    let parts = if mpath.exists() {
        let text = fs::read_to_string(&mpath)
            .map_err(|e| format!("cannot read {}: {e}", mpath.display()))?;
        parse_manifest(&text).map_err(|e| format!("bad manifest {}: {e}", mpath.display()))?
    } else {
        create_log_dir(cfg).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let parts = vec![
            Part {
                name: format!("{}.1.base.aof", cfg.filename),
                seq: 1,
                base: true,
            },
            Part {
                name: format!("{}.1.incr.aof", cfg.filename),
                seq: 1,
                base: false,
            },
        ];
        for p in &parts {
            File::create(dir.join(&p.name))
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("cannot create {}: {e}", p.name))?;
        }
        write_manifest(&dir, &cfg.filename, &parts)
            .map_err(|e| format!("cannot write {}: {e}", mpath.display()))?;
        info!("created the append-only log in {}", dir.display());
        parts
    };
    let Some(last) = parts.iter().rposition(|p| !p.base) else {
        return Err(format!(
            "manifest {} names no incremental file",
            mpath.display()
        ));
    };
    let mut loaded = Loaded {
        bytes: Vec::new(),
        cuts: Vec::new(),
        records: 0,
        files: Vec::new(),
    };
    let mut aof = Aof {
        cfg: cfg.clone(),
        ..Aof::default()
    };
    for (k, p) in parts.iter().enumerate() {
        let path = dir.join(&p.name);
        let mut b = match fs::read(&path) {
            Ok(b) => b,
            // A rewrite names the new incremental file before creating it; a crash in
            // between leaves it missing, which means empty.
            Err(e) if e.kind() == io::ErrorKind::NotFound && k == last => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let base = loaded.bytes.len();
        loaded.files.push((path.clone(), base));
        let mut cuts = Vec::new();
        match check_bytes(&b, 8 << 20, &mut cuts) {
            Check::Valid { records } => loaded.records += records,
            Check::Torn { records, ok_up_to } if k == last => {
                warn!(
                    "!!! Warning: short read while loading the AOF file {}: the last record \
                     (offset {ok_up_to}, {} bytes) was cut by a crash; truncating it !!!",
                    path.display(),
                    b.len() - ok_up_to
                );
                truncate_file(&path, ok_up_to as u64)
                    .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
                aof.loaded_truncated += (b.len() - ok_up_to) as u64;
                b.truncate(ok_up_to);
                loaded.records += records;
            }
            Check::Torn { ok_up_to, .. } => {
                return Err(refusal(&path, ok_up_to, "a record is cut short", cfg))
            }
            Check::Corrupt { offset, why, .. } => {
                return Err(refusal(&path, offset, &why, cfg));
            }
        }
        if p.base {
            aof.base_size = b.len() as u64;
        }
        if k == last {
            aof.size = b.len() as u64;
        }
        loaded.cuts.extend(cuts.iter().map(|c| c + base));
        loaded.bytes.extend_from_slice(&b);
        loaded.cuts.push(loaded.bytes.len());
    }
    let incr = dir.join(&parts[last].name);
    let created = !incr.exists();
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&incr)
        .map_err(|e| format!("cannot open {}: {e}", incr.display()))?;
    if created {
        // Its name must be durable before a write to it is acknowledged.
        fsync_dir(&dir).map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    aof.file = Some(file);
    aof.incr_path = incr;
    aof.parts = parts.clone();
    aof.last_rewrite_ok = true;
    aof.last_rewrite_secs = -1;
    aof.size_after_rewrite = aof.size + aof.base_size;
    if cfg.fsync == Fsync::EverySec {
        aof.syncer = Some(Syncer::start().map_err(|e| format!("fsync thread: {e}"))?);
    }
    if !loaded.bytes.is_empty() {
        aof.pending_load = Some(loaded);
    }
    Ok(aof)
}

pub(super) fn refusal(path: &Path, offset: usize, why: &str, cfg: &AofConfig) -> String {
    format!(
        "Bad file format reading the append only file {} at offset {offset}: {why}. \
         Make a backup of your AOF file, then use `readyloop kv check-aof --fix {}` \
         (it truncates the log at that offset: the records after it are lost)",
        path.display(),
        manifest_path(cfg).display()
    )
}

pub(super) fn truncate_file(path: &Path, len: u64) -> io::Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(len)?;
    f.sync_all()
}

/// `readyloop kv check-aof [--fix] FILE`: FILE is a manifest or one log file. Returns the
/// report and whether the log is (now) valid.
pub fn check_aof(path: &Path, fix: bool) -> io::Result<(String, bool)> {
    let mut out = String::new();
    let files: Vec<PathBuf> = if path.extension().is_some_and(|e| e == "manifest") {
        let text = fs::read_to_string(path)?;
        let parts = parse_manifest(&text).map_err(io::Error::other)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        out.push_str(&format!(
            "Start checking Multi Part AOF ({} files)\n",
            parts.len()
        ));
        parts.iter().map(|p| dir.join(&p.name)).collect()
    } else {
        vec![path.to_path_buf()]
    };
    let n = files.len();
    for (k, f) in files.iter().enumerate() {
        let b = fs::read(f)?;
        let check = check_bytes(&b, usize::MAX, &mut Vec::new());
        let (ok_up_to, records, why) = match &check {
            Check::Valid { records } => (b.len(), *records, None),
            Check::Torn { records, ok_up_to } => {
                let why = match record(&b, *ok_up_to) {
                    Rec::Complete(e) if is_bare(&b[*ok_up_to..e], b"MULTI") => {
                        "MULTI without EXEC (an unfinished transaction)"
                    }
                    _ => "truncated record",
                };
                (*ok_up_to, *records, Some(why.to_string()))
            }
            Check::Corrupt {
                records,
                offset,
                why,
            } => (*offset, *records, Some(why.clone())),
        };
        out.push_str(&format!(
            "AOF analyzed: filename={}, size={}, ok_up_to={ok_up_to}, records={records}, diff={}\n",
            f.display(),
            b.len(),
            b.len() - ok_up_to
        ));
        let Some(why) = why else {
            out.push_str(&format!("AOF {} is valid\n", f.display()));
            continue;
        };
        out.push_str(&format!(
            "AOF {} is not valid at offset {ok_up_to}: {why}\n",
            f.display()
        ));
        if !fix {
            out.push_str("Use the --fix option to try fixing it.\n");
            return Ok((out, false));
        }
        if k + 1 != n {
            out.push_str(
                "Only the last file of a multi-part log can be truncated; this one is followed \
                 by others: restore it from a backup.\n",
            );
            return Ok((out, false));
        }
        truncate_file(f, ok_up_to as u64)?;
        out.push_str(&format!(
            "Successfully truncated AOF {} to {ok_up_to} bytes ({} discarded)\n",
            f.display(),
            b.len() - ok_up_to
        ));
    }
    Ok((out, true))
}
