//! Kill-and-compare: whatever changes the dataset reaches the log as a deterministic effect.
//! Two servers get the same seeded random commands, in lockstep: one with the append-only
//! log, SIGKILLed and restarted at random phase ends, and a reference that is never restarted
//! (no log). The commands mix TTLs (short ones that expire between phases, by lazy and by
//! active expiry, some still pending at the kill; long ones kept across restarts), a client
//! parked in BLPOP/BLMOVE/BZPOPMIN and served later by pushes, transactions, renames, copies
//! and stores. After every restart both datasets (values and deadlines) must be equal, and
//! every reply along the way too.
//!
//! TTLs are made deterministic across the two servers: a key given a short TTL is not touched
//! again in its phase, and every phase ends with a pause longer than any short TTL.
//!
//! `KV_KILLDIFF_KILLS=N` sets the kills per run (CI: a few; the long mode, run by hand, is
//! `KV_KILLDIFF_KILLS=200 cargo test --test main kv_killdiff:: -- --test-threads 1`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use reactor::Backend;

use super::kv_effects::{start_log, wait_blocked, LogDir};
use super::kv_util::{call, connect, kv, Conn, Rng, Value};
use super::util::ServerProcess;

/// Short TTLs are below this (ms); a phase ends with a pause of twice as much.
const SHORT_MS: u64 = 30;

struct Side {
    main: Conn,
    blocker: Conn,
}

impl Side {
    fn new(addr: SocketAddr) -> Side {
        Side {
            main: connect(addr),
            blocker: connect(addr),
        }
    }
}

/// The generator's view: which keys a short TTL made untouchable in this phase, and what
/// the parked client waits on.
struct Gen {
    rng: Rng,
    volatile: HashSet<String>,
    parked: Option<Vec<String>>,
}

impl Gen {
    /// A key of `family` not made volatile in this phase.
    fn pick(&mut self, family: &str, n: u64) -> Option<String> {
        (0..8)
            .map(|_| format!("{family}{}", self.rng.below(n)))
            .find(|k| !self.volatile.contains(k))
    }

    /// A key to give a short TTL: not one the parked client waits on or moves to (whether it
    /// expired before the push that serves it would depend on timing).
    fn pick_short(&mut self, family: &str) -> Option<String> {
        let k = self.pick(family, 4)?;
        let pinned = self.parked.as_ref().is_some_and(|p| p.contains(&k));
        (!pinned).then(|| {
            self.volatile.insert(k.clone());
            k
        })
    }

    /// Any key, of any family, not volatile.
    fn any(&mut self) -> Option<String> {
        let fam = ["s", "l", "z", "t", "h"][self.rng.below(5) as usize];
        self.pick(fam, 4)
    }

    fn short(&mut self) -> String {
        (1 + self.rng.below(SHORT_MS - 5)).to_string()
    }

    fn long(&mut self) -> String {
        (100_000 + self.rng.below(100_000)).to_string()
    }

    /// One command (or MULTI block, as several) for the main connection.
    fn command(&mut self) -> Vec<Vec<String>> {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        let r = self.rng.below(32);
        let n = self.rng.below(100).to_string();
        let one = |c: Vec<String>| vec![c];
        macro_rules! key {
            ($f:expr) => {
                match self.pick($f, 4) {
                    Some(k) => k,
                    None => return vec![],
                }
            };
        }
        match r {
            0 => one(v(&["SET", &key!("s"), &n])),
            1 => {
                let Some(k) = self.pick_short("s") else {
                    return vec![];
                };
                let ms = self.short();
                one(v(&["SET", &k, &n, "PX", &ms]))
            }
            2 => {
                let (k, l) = (key!("s"), self.long());
                one(v(&["SET", &k, &n, "EX", &l]))
            }
            3 => one(v(&["INCR", &key!("s")])),
            4 => one(v(&["APPEND", &key!("s"), &n])),
            5 => one(v(&["SETNX", &key!("s"), &n])),
            6 => one(v(&["INCRBYFLOAT", &key!("s"), "1.5"])),
            7 => one(v(&["GETDEL", &key!("s")])),
            8 => {
                let fam = ["s", "l", "z", "t", "h"][self.rng.below(5) as usize];
                let Some(k) = self.pick_short(fam) else {
                    return vec![];
                };
                let ms = self.short();
                one(v(&["PEXPIRE", &k, &ms]))
            }
            9 => {
                let Some(k) = self.any() else { return vec![] };
                let l = self.long();
                one(v(&["EXPIRE", &k, &l]))
            }
            10 => {
                let Some(k) = self.any() else { return vec![] };
                one(v(&["PERSIST", &k]))
            }
            11 => {
                let Some(k) = self.any() else { return vec![] };
                one(v(&["EXPIRE", &k, "-1"]))
            }
            12 => {
                let Some(k) = self.any() else { return vec![] };
                one(v(&["DEL", &k]))
            }
            13 | 14 => one(v(&["RPUSH", &key!("l"), &n, "x"])),
            15 => one(v(&["LPUSH", &key!("l"), &n])),
            16 => one(v(&["LPOP", &key!("l")])),
            17 => {
                let (a, b) = (key!("l"), key!("l"));
                one(v(&["LMOVE", &a, &b, "LEFT", "RIGHT"]))
            }
            18 | 19 => one(v(&["ZADD", &key!("z"), &n, &format!("m{n}")])),
            20 => one(v(&["ZPOPMIN", &key!("z")])),
            21 => {
                let (a, b) = (key!("z"), key!("z"));
                one(v(&["ZUNIONSTORE", &a, "1", &b]))
            }
            22 => one(v(&["SADD", &key!("t"), &n])),
            23 => {
                let (a, b, c) = (key!("t"), key!("t"), key!("t"));
                one(v(&["SUNIONSTORE", &a, &b, &c]))
            }
            24 => one(v(&["HINCRBY", &key!("h"), "f", "2"])),
            25 => one(v(&["HSET", &key!("h"), &n, "v"])),
            26 => {
                let fam = ["s", "l", "z"][self.rng.below(3) as usize];
                let (a, b) = (key!(fam), key!(fam));
                one(v(&["RENAME", &a, &b]))
            }
            27 => {
                let fam = ["l", "z", "t"][self.rng.below(3) as usize];
                let (a, b) = (key!(fam), key!(fam));
                one(v(&["COPY", &a, &b, "REPLACE"]))
            }
            28 => {
                let Some(k) = self.pick_short("s") else {
                    return vec![];
                };
                let ms = self.short();
                one(v(&["GETEX", &k, "PX", &ms]))
            }
            29 => {
                // A transaction of pushes and pops, logged as one block.
                let (a, b) = (key!("l"), key!("l"));
                vec![
                    v(&["MULTI"]),
                    v(&["RPUSH", &a, &n]),
                    v(&["LPOP", &b]),
                    v(&["RPUSH", &b, "t"]),
                    v(&["EXEC"]),
                ]
            }
            30 => one(v(&["SELECT", &self.rng.below(2).to_string()])),
            _ => one(v(&["ZINCRBY", &key!("z"), "1", "m"])),
        }
    }

    /// A blocking command for the parked client, and the keys it waits on (pinned).
    fn blocking(&mut self) -> Option<(Vec<String>, Vec<String>)> {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        match self.rng.below(3) {
            0 => {
                let k = self.pick("l", 4)?;
                Some((v(&["BLPOP", &k, "0"]), vec![k]))
            }
            1 => {
                let (a, b) = (self.pick("l", 4)?, self.pick("l", 4)?);
                Some((v(&["BLMOVE", &a, &b, "LEFT", "LEFT", "0"]), vec![a, b]))
            }
            _ => {
                let k = self.pick("z", 4)?;
                Some((v(&["BZPOPMIN", &k, "0"]), vec![k]))
            }
        }
    }
}

fn send(c: &mut Conn, args: &[String]) {
    let a: Vec<Vec<u8>> = args.iter().map(|s| s.clone().into_bytes()).collect();
    c.send(&a).expect("send");
}

fn blocked_clients(c: &mut Conn) -> usize {
    let info = call(c, &["INFO", "clients"]);
    let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Databases 0 and 1: each key's type, contents and deadline (to the second: the two servers
/// set relative deadlines at slightly different instants).
fn dump(c: &mut Conn) -> Vec<String> {
    let mut out = Vec::new();
    for db in 0..2 {
        call(c, &["SELECT", &db.to_string()]);
        let keys = call(c, &["KEYS", "*"]);
        for k in keys.items().unwrap_or_default() {
            let k = String::from_utf8_lossy(k.as_bytes().unwrap()).into_owned();
            let t = call(c, &["TYPE", &k]);
            let v = match t.as_bytes().unwrap_or_default() {
                b"string" => call(c, &["GET", &k]),
                b"list" => call(c, &["LRANGE", &k, "0", "-1"]),
                b"zset" => call(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"]),
                b"set" => {
                    let mut m = call(c, &["SMEMBERS", &k]).items().unwrap().to_vec();
                    m.sort_by_key(|x| format!("{x}"));
                    Value::Array(m)
                }
                _ => {
                    let f = call(c, &["HGETALL", &k]).items().unwrap().to_vec();
                    let mut pairs: Vec<Value> =
                        f.chunks(2).map(|p| Value::Array(p.to_vec())).collect();
                    pairs.sort_by_key(|x| format!("{x}"));
                    Value::Array(pairs)
                }
            };
            let at = call(c, &["PEXPIRETIME", &k]).as_int().unwrap_or(-3);
            let at = if at > 0 { (at + 500) / 1000 } else { at };
            out.push(format!("{db} {k} {t} {v} {at}"));
        }
    }
    call(c, &["SELECT", "0"]);
    out.sort();
    out
}

/// Deadlines rounded to the second may still differ by one across the two servers.
fn same_dataset(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let (xa, xd) = x.rsplit_once(' ').unwrap();
            let (ya, yd) = y.rsplit_once(' ').unwrap();
            let (xd, yd): (i64, i64) = (xd.parse().unwrap(), yd.parse().unwrap());
            xa == ya && (xd - yd).abs() <= 1
        })
}

/// One run: `kills` SIGKILLs of the logged server under `fsync`; returns the kills done.
fn run(backend: Backend, fsync: &str, seed: u64, kills: usize) -> usize {
    let dir = LogDir::new(&format!("killdiff-{}-{fsync}-{seed}", backend.name()));
    let reference = kv(backend, &[]);
    let mut logged: ServerProcess = start_log(backend, &dir, fsync, &[]);
    let mut a = Side::new(logged.addr);
    let mut b = Side::new(reference.addr);
    let mut g = Gen {
        rng: Rng(seed | 1),
        volatile: HashSet::new(),
        parked: None,
    };
    let mut done = 0;
    let mut phase = 0;
    let mut db = [0usize; 2];
    while done < kills {
        phase += 1;
        for _ in 0..12 + g.rng.below(20) {
            if g.parked.is_none() && g.rng.below(6) == 0 {
                let Some((cmd, keys)) = g.blocking() else {
                    continue;
                };
                // Served at once (or refused) if its key holds something: then it runs on the
                // main connection; parked otherwise.
                let t1 = call(&mut a.main, &["TYPE", &keys[0]]);
                let t2 = call(&mut b.main, &["TYPE", &keys[0]]);
                assert_eq!(t1, t2, "seed {seed} phase {phase}: TYPE {}", keys[0]);
                if t1.as_bytes() != Some(b"none") || db != [0, 0] {
                    continue;
                }
                send(&mut a.blocker, &cmd);
                send(&mut b.blocker, &cmd);
                wait_blocked(&mut a.main, 1);
                wait_blocked(&mut b.main, 1);
                g.parked = Some(keys);
                continue;
            }
            let cmds = g.command();
            for cmd in &cmds {
                let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
                let ra = call(&mut a.main, &refs);
                let rb = call(&mut b.main, &refs);
                assert_eq!(ra, rb, "seed {seed} phase {phase}: {refs:?}");
                if cmd[0] == "SELECT" && !ra.is_error() {
                    db = [cmd[1].parse().unwrap(); 2];
                }
            }
            if g.parked.is_some() && !cmds.is_empty() {
                let (na, nb) = (blocked_clients(&mut a.main), blocked_clients(&mut b.main));
                assert_eq!(na, nb, "seed {seed} phase {phase}: served on one side only");
                if na == 0 {
                    let (ra, rb) = (a.blocker.read().unwrap(), b.blocker.read().unwrap());
                    assert_eq!(
                        ra, rb,
                        "seed {seed} phase {phase}: the served client's reply"
                    );
                    g.parked = None;
                }
            }
        }
        if g.rng.below(2) == 0 {
            // SIGKILL now: short TTLs may still be pending, a client may be parked.
            drop(logged);
            done += 1;
            logged = start_log(backend, &dir, fsync, &[]);
            a = Side::new(logged.addr);
            if g.parked.take().is_some() {
                // The parked client died with the server: the reference's leaves too.
                b.blocker = connect(reference.addr);
                let gone = super::util::wait_until(Duration::from_secs(5), || {
                    blocked_clients(&mut b.main) == 0
                });
                assert!(gone);
            }
            call(&mut a.main, &["SELECT", &db[0].to_string()]);
            // Compared once the phase's short TTLs ran out on both (a dump racing a deadline
            // would see a key on one side only).
            std::thread::sleep(Duration::from_millis(2 * SHORT_MS));
            let (da, dbm) = (dump(&mut a.main), dump(&mut b.main));
            call(&mut a.main, &["SELECT", &db[0].to_string()]);
            call(&mut b.main, &["SELECT", &db[0].to_string()]);
            assert!(
                same_dataset(&da, &dbm),
                "seed {seed}, kill {done} ({fsync}): the restarted server differs from the \
                 reference\nlogged:    {da:?}\nreference: {dbm:?}"
            );
        }
        // Every short TTL of the phase runs out, on both servers.
        std::thread::sleep(Duration::from_millis(2 * SHORT_MS));
        g.volatile.clear();
    }
    done
}

fn kills() -> usize {
    std::env::var("KV_KILLDIFF_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

fn killdiff(backend: Backend, fsync: &str) {
    let want = kills();
    let mut done = 0;
    let mut seed = 1;
    while done < want {
        done += run(backend, fsync, seed, (want - done).min(25));
        seed += 1;
    }
    eprintln!(
        "kill-and-compare {} {fsync}: {done} kills, {} seeds, every restart equal",
        backend.name(),
        seed - 1
    );
}

each_backend!(kill_and_compare_always, |b| killdiff(b, "always"));
each_backend!(kill_and_compare_everysec, |b| killdiff(b, "everysec"));
each_backend!(kill_and_compare_no, |b| killdiff(b, "no"));
