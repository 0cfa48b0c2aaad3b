//! Power loss, not only process death. A SIGKILL leaves the killed server's writes in the
//! kernel's page cache, which reaches the disk anyway, so it cannot tell an fsync from a plain
//! write. Here the server's `--dir` is a lazyfs mount (crates/lazyfs) that keeps written data in
//! memory until fsync (and names until their directory's fsync); the "power cut" writes into the
//! backing directory only what was synced (or, torn rounds, a seeded part of the rest, as a cut
//! during writeback leaves), and kills the server at the same instant. Then a server started on
//! the backing directory must hold:
//! - `always`: every acknowledged write, and nothing never sent;
//! - `everysec`: every write acknowledged more than 2 s before the cut (Redis's bound);
//! - in both: a log that loads (a torn tail truncated, never a refusal), also when the cut
//!   falls while a BGREWRITEAOF switches the manifest.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reactor::Backend;
use readyloop_lazyfs::{Crash, Mounted, Trigger};

use super::kv_util::{call, connect, int, present_seqs, Conn, Rng, Value};
use super::util::{readyloop_bin, ServerProcess};

/// `disk/` (what survives power loss) and `mnt/` (where lazyfs serves it), removed on drop.
/// Field order matters: the mount (in the test's locals) is dropped, hence unmounted, first.
struct Rig(PathBuf);

impl Rig {
    fn new(name: &str) -> Rig {
        let p = std::env::temp_dir().join(format!("readyloop-power-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("disk")).expect("temp dir");
        std::fs::create_dir_all(p.join("mnt")).expect("temp dir");
        Rig(p)
    }
    fn disk(&self) -> PathBuf {
        self.0.join("disk")
    }
    fn mnt(&self) -> PathBuf {
        self.0.join("mnt")
    }
    /// Fails the test, not skips it, where FUSE is unusable: a power-loss test that quietly
    /// ran on the plain disk would prove nothing.
    fn mount(&self) -> Mounted {
        Mounted::mount(&self.disk(), &self.mnt()).unwrap_or_else(|e| {
            panic!("lazyfs must mount (these tests need /dev/fuse and root, as CI has): {e}")
        })
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(backend: Backend, dir: &Path, fsync: &str) -> ServerProcess {
    let args: Vec<String> = [
        "kv",
        "--backend",
        backend.name(),
        "--port",
        "0",
        "--appendonly",
        "yes",
        "--dir",
        &dir.display().to_string(),
        "--appendfsync",
        fsync,
        // Only the rounds that ask for a rewrite get one: the cut must be placed around it.
        "--auto-aof-rewrite-percentage",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ServerProcess::spawn(readyloop_bin(), &args)
        .unwrap_or_else(|e| panic!("`readyloop {}` must start: {e}", args.join(" ")))
}

/// One writer's life between two cuts: `SET k:W:SEQ SEQ` then `INCR n:W`, pipelined.
#[derive(Default, Clone)]
struct Writer {
    first: u64,
    /// Pairs sent: seqs `first..sent`.
    sent: u64,
    /// When each pair from `first` on was acknowledged (both replies read).
    acked_at: Vec<Instant>,
}

const DEPTH: u64 = 4;

fn write_load(addr: std::net::SocketAddr, w: usize, first: u64, stop: &AtomicBool) -> Writer {
    let mut st = Writer {
        first,
        sent: first,
        ..Writer::default()
    };
    let Ok(mut c) = Conn::connect(addr) else {
        return st;
    };
    let _ = c.set_read_timeout(Duration::from_secs(5));
    while !stop.load(Ordering::Relaxed) {
        let from = st.sent;
        for seq in from..from + DEPTH {
            let set = [
                b"SET".to_vec(),
                format!("k:{w}:{seq}").into_bytes(),
                seq.to_string().into_bytes(),
            ];
            let incr = [b"INCR".to_vec(), format!("n:{w}").into_bytes()];
            if c.send(&set).is_err() || c.send(&incr).is_err() {
                return st;
            }
            st.sent = seq + 1;
        }
        for _ in 0..DEPTH {
            match (c.read(), c.read()) {
                (Ok(Value::Simple(s)), Ok(Value::Int(_))) if s == b"OK" => {
                    st.acked_at.push(Instant::now())
                }
                _ => return st,
            }
        }
    }
    st
}

/// What the rounds of one test add up to.
#[derive(Default, Debug)]
struct Tally {
    cuts: usize,
    torn: usize,
    acked: u64,
    lost: u64,
    /// Age at the cut of the oldest acknowledged write that was lost (ms).
    oldest_lost_ms: u128,
    /// Bytes and names lazyfs dropped at the cuts (proof that there was something to lose).
    dropped_bytes: u64,
    rewrite_points: Vec<&'static str>,
    rewrites_cut: usize,
    rewrites_done: usize,
    torn_tails: usize,
}

/// What must hold across cuts: keys a check found (they are on the disk), counters' floors.
struct Truth {
    required: Vec<HashSet<u64>>,
    floor: Vec<i64>,
    next_seq: Vec<u64>,
}

const WRITERS: usize = 3;

/// Everysec may lose what was acknowledged in the last second (plus the fsync's own time);
/// Redis documents 2 s as the bound.
const EVERYSEC_BOUND: Duration = Duration::from_secs(2);

/// Where a rewrite round cuts the power: right after the named step (a lazyfs trigger), or
/// 0-40 ms after BGREWRITEAOF's reply.
type Point = (&'static str, fn() -> Option<(Trigger, u32)>);
const REWRITE_POINTS: [Point; 5] = [
    // start_rewrite's manifest naming the new incremental file, before its directory fsync.
    ("first manifest rename", || {
        Some((Trigger::Rename(".manifest".into()), 1))
    }),
    // The rewrite thread starts the new base file.
    ("base file creation", || {
        Some((Trigger::Create(".base.aof".into()), 1))
    }),
    // The switch to the new base: renamed, its directory not yet synced.
    ("switch rename", || {
        Some((Trigger::Rename(".manifest".into()), 2))
    }),
    // After the switch: the old files' unlinks, not synced.
    ("old file unlink", || {
        Some((Trigger::Unlink(".aof".into()), 1))
    }),
    ("timed", || None),
];

/// `rounds` cuts under load; every `rewrite_every`-th one falls around a BGREWRITEAOF.
fn power_rounds(
    backend: Backend,
    fsync: &str,
    rounds: usize,
    pause_ms: (u64, u64),
    seed: u64,
) -> Tally {
    let rig = Rig::new(&format!("{}-{fsync}", backend.name()));
    let always = fsync == "always";
    let mut rng = Rng(seed | 1);
    let mut truth = Truth {
        required: vec![HashSet::new(); WRITERS],
        floor: vec![0; WRITERS],
        next_seq: vec![0; WRITERS],
    };
    let mut tally = Tally::default();
    for round in 0..rounds {
        let ctx = format!("{fsync} {} round {round} (seed {seed:#x})", backend.name());
        let base_before = base_file(&rig.disk());
        let mount = rig.mount();
        let server = start(backend, &rig.mnt(), fsync);
        let stop = Arc::new(AtomicBool::new(false));
        let results = Arc::new(Mutex::new(vec![Writer::default(); WRITERS]));
        let threads: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (stop, results) = (Arc::clone(&stop), Arc::clone(&results));
                let (addr, first) = (server.addr, truth.next_seq[w]);
                std::thread::spawn(move || {
                    let st = write_load(addr, w, first, &stop);
                    results.lock().unwrap()[w] = st;
                })
            })
            .collect();
        let pause = pause_ms.0 + rng.below(pause_ms.1 - pause_ms.0);
        std::thread::sleep(Duration::from_millis(pause));
        let rewrite = round % 2 == 1;
        let how = if round % 3 == 1 {
            tally.torn += 1;
            Crash::Torn(rng.next())
        } else {
            Crash::DropUnsynced
        };
        let cut_at;
        let dropped;
        if rewrite {
            let point = REWRITE_POINTS[(round / 2 + backend as usize) % REWRITE_POINTS.len()];
            tally.rewrite_points.push(point.0);
            if let Some((trigger, nth)) = point.1() {
                mount.crash_at(trigger, nth, how);
            }
            let mut c = connect(server.addr);
            // Cut inside start_rewrite, the reply is an error or never comes: both fine, the
            // client was told nothing false.
            let v = c.cmd(&["BGREWRITEAOF"]);
            if point.1().is_some() {
                dropped = mount
                    .wait_crash(Duration::from_secs(10))
                    .unwrap_or_else(|| {
                        panic!(
                            "{ctx}: the rewrite never reached {} ({v:?}); log:\n{}",
                            point.0,
                            server.log()
                        )
                    })
                    .expect("lazyfs crash");
                cut_at = Instant::now();
            } else {
                assert!(
                    matches!(&v, Ok(v) if !v.is_error()),
                    "{ctx}: BGREWRITEAOF: {v:?}"
                );
                std::thread::sleep(Duration::from_millis(rng.below(40)));
                cut_at = Instant::now();
                dropped = mount.crash(how).expect("lazyfs crash");
            }
        } else {
            cut_at = Instant::now();
            dropped = mount.crash(how).expect("lazyfs crash");
        }
        drop(server); // SIGKILL, reaped: the process dies with its disk
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("writer thread");
        }
        drop(mount);
        tally.cuts += 1;
        tally.dropped_bytes += dropped.lost_bytes;
        let writers = results.lock().unwrap().clone();

        // Recovery on what the disk holds; a refusal to start fails here.
        let check = start(backend, &rig.disk(), fsync);
        let log = check.log();
        tally.torn_tails += log.matches("truncating it").count();
        let mut c = connect(check.addr);
        let mut keys = 0usize;
        for (w, st) in writers.iter().enumerate() {
            let acked_to = st.first + st.acked_at.len() as u64;
            tally.acked += 2 * st.acked_at.len() as u64;
            let have = present_seqs(&mut c, w, 0, st.sent.max(st.first));
            let lost_required = truth.required[w].difference(&have).count();
            assert_eq!(
                lost_required, 0,
                "{ctx} writer {w}: keys that an earlier recovery found are gone; log:\n{log}"
            );
            let lost: Vec<u64> = (st.first..acked_to).filter(|s| !have.contains(s)).collect();
            let n = match call(&mut c, &["GET", &format!("n:{w}")]) {
                Value::Bulk(b) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
                Value::NilBulk => 0,
                other => panic!("{ctx}: GET n:{w}: {other}"),
            };
            let incr_acked = truth.floor[w] + st.acked_at.len() as i64;
            let incr_sent = truth.floor[w] + (st.sent - st.first) as i64;
            assert!(
                n <= incr_sent && n >= truth.floor[w],
                "{ctx} writer {w}: counter {n} outside [{}, {incr_sent}]: a write never sent \
                 or an old one lost",
                truth.floor[w]
            );
            let lost_incrs = (incr_acked - n).max(0) as u64;
            tally.lost += lost.len() as u64 + lost_incrs;
            if always {
                assert_eq!(
                    (lost.len(), lost_incrs),
                    (0, 0),
                    "{ctx} writer {w}: acknowledged writes lost at a power cut with appendfsync \
                     always (SETs {}..{acked_to} acked, first lost {:?}); lazyfs dropped \
                     {dropped:?}; log:\n{log}",
                    st.first,
                    lost.first()
                );
            }
            // Under everysec the log is still a prefix: the INCRs lost are the last pairs'.
            let oldest = lost
                .iter()
                .map(|&s| st.acked_at[(s - st.first) as usize])
                .chain(
                    (lost_incrs > 0).then(|| st.acked_at[st.acked_at.len() - lost_incrs as usize]),
                )
                .min();
            if let Some(t) = oldest {
                let age = cut_at.duration_since(t);
                tally.oldest_lost_ms = tally.oldest_lost_ms.max(age.as_millis());
                assert!(
                    age < EVERYSEC_BOUND,
                    "{ctx} writer {w}: a write acknowledged {age:?} before the cut was lost \
                     ({} SETs lost of {}); log:\n{log}",
                    lost.len(),
                    st.acked_at.len()
                );
            }
            keys += have.len() + usize::from(n > 0);
            truth.required[w] = have;
            truth.floor[w] = n;
            truth.next_seq[w] = st.sent.max(st.first);
        }
        assert_eq!(
            int(&mut c, &["DBSIZE"]) as usize,
            keys,
            "{ctx}: keys that no client sent appeared"
        );
        if rewrite {
            // Whether the switch had happened is read back from the disk: the manifest names a
            // new base file or not. Either way the checks above held.
            if base_file(&rig.disk()) == base_before {
                tally.rewrites_cut += 1;
            } else {
                tally.rewrites_done += 1;
            }
        }
        drop(c);
        drop(check);
    }
    tally
}

/// The base file the manifest on `disk` names (None: no log yet).
fn base_file(disk: &Path) -> Option<String> {
    let m = std::fs::read_to_string(disk.join("appendonlydir/appendonly.aof.manifest")).ok()?;
    m.lines()
        .find(|l| l.ends_with("type b"))
        .map(str::to_string)
}

fn power(backend: Backend, fsync: &str) {
    let seed = 0x9e37_79b9 ^ ((backend as u64 + 1) * 7919) ^ ((fsync.len() as u64) << 20);
    let t0 = Instant::now();
    // everysec needs cuts later than its 2 s bound for the bound to be tested.
    let (rounds, pause) = if fsync == "always" {
        (8, (100, 500))
    } else {
        (3, (1800, 2800))
    };
    let t = power_rounds(backend, fsync, rounds, pause, seed);
    eprintln!(
        "kv power {fsync} {}: {} cuts ({} torn), {} acknowledged writes, {} lost (oldest {} ms \
         before the cut), lazyfs dropped {} unsynced bytes, rewrite cuts at {:?}: before the \
         switch {} / after {}, torn tails truncated {}, {:.1} s",
        backend.name(),
        t.cuts,
        t.torn,
        t.acked,
        t.lost,
        t.oldest_lost_ms,
        t.dropped_bytes,
        t.rewrite_points,
        t.rewrites_cut,
        t.rewrites_done,
        t.torn_tails,
        t0.elapsed().as_secs_f64()
    );
    assert!(t.acked > 0, "the load must have had writes acknowledged");
    if fsync == "everysec" {
        assert!(
            t.dropped_bytes > 0,
            "lazyfs dropped nothing at {} cuts under everysec: the cuts were not power cuts",
            t.cuts
        );
    }
}

each_backend!(power_cut_always_loses_nothing_acknowledged, |b| power(
    b, "always"
));
each_backend!(power_cut_everysec_loses_at_most_the_last_second, |b| power(
    b, "everysec"
));

/// A power cut during writeback can leave the file's new size on disk but not all its data:
/// the last record's start, then zeros to the end. That is a torn tail (truncated with a
/// warning), not corruption (which refuses to start). Found by the torn cuts above, pinned
/// here without timing.
fn tail_of_zeros(backend: Backend) {
    let rig = Rig::new(&format!("zeros-{}", backend.name()));
    {
        let s = start(backend, &rig.disk(), "always");
        let mut c = connect(s.addr);
        for i in 0..20 {
            call(&mut c, &["SET", &format!("z{i}"), "v"]);
        }
    }
    let incr = rig.disk().join("appendonlydir/appendonly.aof.1.incr.aof");
    let len = std::fs::metadata(&incr).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap();
    std::io::Write::write_all(&mut f, b"*3\r\n$3\r\nSET\r\n$3\r\nz99\r\n$1\r\n").unwrap();
    std::io::Write::write_all(&mut f, &[0; 4000]).unwrap();
    drop(f);
    let s = start(backend, &rig.disk(), "always");
    let mut c = connect(s.addr);
    assert_eq!(int(&mut c, &["DBSIZE"]), 20);
    assert!(s.log().contains("truncating it"), "log: {}", s.log());
    assert_eq!(std::fs::metadata(&incr).unwrap().len(), len);
}
each_backend!(power_cut_tail_of_zeros_is_truncated, tail_of_zeros);

/// `CONFIG SET appendonly yes` at run time creates the log too: its directory's name must be
/// durable before the first `always` write to it is acknowledged.
fn enabled_at_run_time(backend: Backend) {
    let rig = Rig::new(&format!("enable-{}", backend.name()));
    let mount = rig.mount();
    let args: Vec<String> = [
        "kv",
        "--backend",
        backend.name(),
        "--port",
        "0",
        "--dir",
        &rig.mnt().display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = ServerProcess::spawn(readyloop_bin(), &args).expect("starts");
    let mut c = connect(server.addr);
    call(&mut c, &["SET", "before", "1"]);
    let ok = Value::Simple(b"OK".to_vec());
    assert_eq!(
        call(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "appendonly",
                "yes",
                "appendfsync",
                "always"
            ]
        ),
        ok
    );
    for i in 0..100 {
        assert_eq!(call(&mut c, &["SET", &format!("e{i}"), "v"]), ok);
    }
    let dropped = mount.crash(Crash::DropUnsynced).expect("lazyfs crash");
    drop(server);
    drop(mount);
    let check = start(backend, &rig.disk(), "always");
    let mut c = connect(check.addr);
    assert_eq!(
        int(&mut c, &["DBSIZE"]),
        101,
        "every acknowledged write after CONFIG SET appendonly yes survives the cut (lazyfs \
         dropped {dropped:?}); log:\n{}",
        check.log()
    );
}
each_backend!(
    power_cut_after_config_set_appendonly_yes,
    enabled_at_run_time
);
