//! Differential testing of a Redis-compatible server against `redis-server`: the same seeded
//! command sequence goes to both over raw RESP ([`resp`]), replies are compared by the rule the
//! generator attached to each command ([`gen::Check`]), and at the end every database's keys,
//! values and TTLs are compared too. A mismatch report names the seed, the command, both
//! replies and the commands before it, so `KVDIFF_SEED=N` replays it.

pub mod gen;
pub mod peer;
pub mod resp;

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gen::{Check, Gen, GenConfig, Step};
use resp::{show_cmd, Conn, Value};

/// Which server is the oracle and which is under test.
#[derive(Clone, Copy, Debug)]
pub struct Pair {
    pub redis: SocketAddr,
    pub ours: SocketAddr,
}

/// One disagreement, printable.
#[derive(Debug)]
pub struct Mismatch {
    pub seed: u64,
    pub step: usize,
    pub command: String,
    pub redis: String,
    pub ours: String,
    /// The commands sent before it in this sequence (most recent last, at most 15).
    pub context: Vec<String>,
    /// What GET says on each side, afterwards, for the command's arguments that name keys.
    pub keys: Vec<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "kvdiff mismatch: seed {} step {} (replay: KVDIFF_SEED={})",
            self.seed, self.step, self.seed
        )?;
        writeln!(f, "  command: {}", self.command)?;
        writeln!(f, "  redis:   {}", self.redis)?;
        writeln!(f, "  ours:    {}", self.ours)?;
        for k in &self.keys {
            writeln!(f, "  {k}")?;
        }
        writeln!(f, "  preceded by:")?;
        for c in &self.context {
            writeln!(f, "    {c}")?;
        }
        Ok(())
    }
}

/// Unix time in seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn io_text(e: &io::Error) -> String {
    format!(
        "<{}: {e}>",
        if e.kind() == io::ErrorKind::WouldBlock {
            "timeout"
        } else {
            "io error"
        }
    )
}

/// Decide whether `r` (redis) and `o` (ours) agree under `check`.
pub fn agree(check: &Check, r: &Value, o: &Value) -> bool {
    match check {
        Check::Exact | Check::ScanAll | Check::Quit => r == o,
        // A hashtable's HGETALL in RESP3: the same pairs in any order.
        Check::Unordered if matches!((r, o), (Value::Map(_), Value::Map(_))) => {
            let pairs = |v: &Value| match v {
                Value::Map(kv) => {
                    let mut p: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    p.sort();
                    p
                }
                _ => Vec::new(),
            };
            pairs(r) == pairs(o)
        }
        Check::Unordered => match (r.items(), o.items()) {
            (Some(a), Some(b)) => {
                std::mem::discriminant(r) == std::mem::discriminant(o) && sorted(a) == sorted(b)
            }
            _ => r == o,
        },
        Check::Near(d) => match (r, o) {
            // -1 (no TTL) and -2 (no key) are codes, not durations: those must be equal.
            (Value::Int(a), Value::Int(b)) if *a >= 0 && *b >= 0 => (a - b).abs() <= *d,
            _ => r == o,
        },
        Check::BulkOrNil => match (r, o) {
            (Value::Bulk(_), Value::Bulk(_)) => true,
            _ => r == o,
        },
        Check::AnyInt => matches!((r, o), (Value::Int(_), Value::Int(_))) || r == o,
        Check::Time => match (time_secs(r), time_secs(o)) {
            (Some(a), Some(b)) => (a - b).abs() <= 2,
            _ => r == o,
        },
        Check::Hello => match (hello_fields(r), hello_fields(o)) {
            (Some(a), Some(b)) => a == b,
            _ => r == o,
        },
    }
}

fn sorted(v: &[Value]) -> Vec<String> {
    let mut s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    s.sort();
    s
}

fn time_secs(v: &Value) -> Option<i64> {
    let items = v.items()?;
    if items.len() != 2 {
        return None;
    }
    let num = |x: &Value| -> Option<i64> { std::str::from_utf8(x.as_bytes()?).ok()?.parse().ok() };
    let micros = num(&items[1])?;
    (0..1_000_000).contains(&micros).then_some(())?;
    num(&items[0])
}

/// HELLO's reply as (field names in order, the fields that must match). RESP2 gives a flat
/// array, RESP3 a map; the type is part of the comparison.
fn hello_fields(v: &Value) -> Option<(bool, Vec<String>, Vec<String>)> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Map(kv) => kv.clone(),
        Value::Array(items) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|c| (c[0].clone(), c[1].clone()))
            .collect(),
        _ => return None,
    };
    let names = pairs.iter().map(|(k, _)| k.to_string()).collect();
    let kept = pairs
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_bytes(),
                Some(b"server") | Some(b"version") | Some(b"id")
            )
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Some((matches!(v, Value::Map(_)), names, kept))
}

/// One side's connection plus what is needed to reconnect after QUIT.
struct Side {
    addr: SocketAddr,
    conn: Conn,
}

impl Side {
    fn new(addr: SocketAddr) -> io::Result<Side> {
        Ok(Side {
            addr,
            conn: Conn::connect(addr)?,
        })
    }

    fn call(&mut self, args: &[Vec<u8>]) -> Result<Value, String> {
        self.conn.call(args).map_err(|e| io_text(&e))
    }

    fn reconnect(&mut self) -> io::Result<()> {
        self.conn = Conn::connect(self.addr)?;
        Ok(())
    }

    /// A full SCAN iteration: every key returned (sorted, deduplicated), or the first error
    /// reply. Bounded: a cursor that never returns to 0 is itself a failure.
    fn scan_all(&mut self, rest: &[Vec<u8>]) -> Result<Value, String> {
        let mut cursor = b"0".to_vec();
        let mut keys = std::collections::BTreeSet::new();
        for _ in 0..10_000 {
            let mut args = vec![b"SCAN".to_vec(), cursor.clone()];
            args.extend_from_slice(rest);
            let v = self.call(&args)?;
            let items = match v.items() {
                Some(i) if i.len() == 2 => i.to_vec(),
                _ => return Ok(v),
            };
            let next = items[0]
                .as_bytes()
                .ok_or_else(|| format!("SCAN cursor not a string: {v}"))?
                .to_vec();
            for k in items[1]
                .items()
                .ok_or_else(|| format!("SCAN page not an array: {v}"))?
            {
                keys.insert(
                    k.as_bytes()
                        .map(<[u8]>::to_vec)
                        .ok_or("SCAN key not a string")?,
                );
            }
            if next == b"0" {
                return Ok(Value::Array(keys.into_iter().map(Value::Bulk).collect()));
            }
            cursor = next;
        }
        Err("SCAN did not finish in 10000 calls".into())
    }
}

/// Runs sequences against a pair of servers.
pub struct Runner {
    pub pair: Pair,
    pub cfg: GenConfig,
    /// Databases compared at the end of each sequence.
    pub compare_dbs: u32,
}

impl Runner {
    pub fn new(pair: Pair) -> Runner {
        Runner {
            pair,
            cfg: GenConfig::default(),
            compare_dbs: 4,
        }
    }

    /// FLUSHALL both servers on fresh connections.
    pub fn reset(&self) -> io::Result<()> {
        for addr in [self.pair.redis, self.pair.ours] {
            let mut c = Conn::connect(addr)?;
            let v = c.cmd(&["FLUSHALL"])?;
            if v != Value::Simple(b"OK".to_vec()) {
                return Err(io::Error::other(format!("FLUSHALL on {addr}: {v}")));
            }
        }
        Ok(())
    }

    /// Run `steps` commands of `seed`'s sequence, then compare the whole keyspace.
    pub fn run(&self, seed: u64, steps: usize) -> Result<(), Box<Mismatch>> {
        let setup = |what: String| {
            Box::new(Mismatch {
                seed,
                step: 0,
                command: "<setup>".into(),
                redis: what.clone(),
                ours: what,
                context: vec![],
                keys: vec![],
            })
        };
        self.reset().map_err(|e| setup(format!("reset: {e}")))?;
        let mut r = Side::new(self.pair.redis).map_err(|e| setup(format!("connect: {e}")))?;
        let mut o = Side::new(self.pair.ours).map_err(|e| setup(format!("connect: {e}")))?;
        let mut gen = Gen::new(seed, unix_now(), self.cfg.clone());
        let mut history: Vec<String> = Vec::new();
        // KVDIFF_TRACE=1 prints every command and both replies (with KVDIFF_SEED, to replay one).
        let trace = std::env::var("KVDIFF_TRACE").is_ok_and(|v| v == "1");
        // KVDIFF_SKIP=incrbyfloat,getex leaves those commands out: for exploring past a known
        // difference by hand, never for CI (the tests do not set it).
        let skip: Vec<Vec<u8>> = std::env::var("KVDIFF_SKIP")
            .unwrap_or_default()
            .split(',')
            .filter(|w| !w.is_empty())
            .map(|w| w.as_bytes().to_vec())
            .collect();
        for i in 0..steps {
            let step = gen.step();
            if skip.iter().any(|w| step.args[0].eq_ignore_ascii_case(w)) {
                continue;
            }
            let fail = |rv: String, ov: String, history: &[String]| {
                Box::new(Mismatch {
                    seed,
                    step: i,
                    command: show_cmd(&step.args),
                    redis: rv,
                    ours: ov,
                    context: history[history.len().saturating_sub(15)..].to_vec(),
                    keys: vec![],
                })
            };
            let (rv, ov) = match step.check {
                Check::ScanAll => (r.scan_all(&step.args[1..]), o.scan_all(&step.args[1..])),
                _ => (r.call(&step.args), o.call(&step.args)),
            };
            if trace {
                let show = |x: &Result<Value, String>| match x {
                    Ok(v) => v.to_string(),
                    Err(e) => e.clone(),
                };
                eprintln!(
                    "[{seed}:{i}] {}\n    redis {}\n    ours  {}",
                    show_cmd(&step.args),
                    show(&rv),
                    show(&ov)
                );
            }
            match (&rv, &ov) {
                (Ok(a), Ok(b)) if agree(&step.check, a, b) => {}
                _ => {
                    let show = |x: &Result<Value, String>| match x {
                        Ok(v) => v.to_string(),
                        Err(e) => e.clone(),
                    };
                    let mut m = fail(show(&rv), show(&ov), &history);
                    m.keys = key_values(&mut r, &mut o, &step.args);
                    return Err(m);
                }
            }
            if step.check == Check::Quit {
                let rc = r.conn.closed_within(Duration::from_secs(2));
                let oc = o.conn.closed_within(Duration::from_secs(2));
                if !(rc && oc) {
                    return Err(fail(
                        format!("closed after QUIT: {rc}"),
                        format!("closed after QUIT: {oc}"),
                        &history,
                    ));
                }
                r.reconnect()
                    .map_err(|e| setup(format!("reconnect: {e}")))?;
                o.reconnect()
                    .map_err(|e| setup(format!("reconnect: {e}")))?;
            }
            history.push(show_cmd(&step.args));
        }
        self.compare_state(seed, steps, &history)
    }

    /// Every database: same keys, and per key the same TYPE, GET and (nearly) the same PTTL.
    fn compare_state(
        &self,
        seed: u64,
        step: usize,
        history: &[String],
    ) -> Result<(), Box<Mismatch>> {
        let mut r = Side::new(self.pair.redis).map_err(|e| io_mismatch(seed, e))?;
        let mut o = Side::new(self.pair.ours).map_err(|e| io_mismatch(seed, e))?;
        for db in 0..self.compare_dbs {
            let mut checks: Vec<(Vec<Vec<u8>>, Check)> = vec![
                (
                    vec![b"SELECT".to_vec(), db.to_string().into_bytes()],
                    Check::Exact,
                ),
                (vec![b"DBSIZE".to_vec()], Check::Exact),
                (vec![b"KEYS".to_vec(), b"*".to_vec()], Check::Unordered),
            ];
            // Keys from redis's view; a key only ours has shows up in KEYS or DBSIZE above.
            let keys = match r.call(&[b"SELECT".to_vec(), db.to_string().into_bytes()]) {
                Ok(_) => match r.call(&[b"KEYS".to_vec(), b"*".to_vec()]) {
                    Ok(v) => v.items().map(<[Value]>::to_vec).unwrap_or_default(),
                    Err(_) => vec![],
                },
                Err(_) => vec![],
            };
            for k in keys.iter().filter_map(Value::as_bytes) {
                for (cmd, check) in [
                    ("TYPE", Check::Exact),
                    ("GET", Check::Exact),
                    ("PTTL", Check::Near(1500)),
                ] {
                    checks.push((vec![cmd.as_bytes().to_vec(), k.to_vec()], check));
                }
            }
            for (args, check) in checks {
                let rv = r.call(&args);
                let ov = o.call(&args);
                let ok = matches!((&rv, &ov), (Ok(a), Ok(b)) if agree(&check, a, b));
                if !ok {
                    let show = |x: &Result<Value, String>| match x {
                        Ok(v) => v.to_string(),
                        Err(e) => e.clone(),
                    };
                    return Err(Box::new(Mismatch {
                        seed,
                        step,
                        command: format!("<final state, db {db}> {}", show_cmd(&args)),
                        redis: show(&rv),
                        ours: show(&ov),
                        context: history[history.len().saturating_sub(15)..].to_vec(),
                        keys: vec![],
                    }));
                }
            }
        }
        Ok(())
    }

    /// Run seeds `seeds` with `steps` commands each; all mismatches' reports, at most one per seed.
    pub fn run_seeds(
        &self,
        seeds: impl IntoIterator<Item = u64>,
        steps: usize,
    ) -> Vec<Box<Mismatch>> {
        seeds
            .into_iter()
            .filter_map(|s| self.run(s, steps).err())
            .collect()
    }
}

/// `GET arg` on both sides for each argument that names an existing key on either side.
fn key_values(r: &mut Side, o: &mut Side, args: &[Vec<u8>]) -> Vec<String> {
    let mut out = Vec::new();
    for a in args.iter().skip(1).take(4) {
        let get = vec![b"GET".to_vec(), a.clone()];
        let (rv, ov) = (r.call(&get), o.call(&get));
        let absent = |v: &Result<Value, String>| matches!(v, Ok(Value::NilBulk) | Ok(Value::Null));
        if !(absent(&rv) && absent(&ov)) {
            let show = |x: Result<Value, String>| x.map(|v| v.to_string()).unwrap_or_else(|e| e);
            out.push(format!(
                "GET {} now: redis {} / ours {}",
                show_cmd(std::slice::from_ref(a)),
                show(rv),
                show(ov)
            ));
        }
    }
    out
}

fn io_mismatch(seed: u64, e: io::Error) -> Box<Mismatch> {
    Box::new(Mismatch {
        seed,
        step: 0,
        command: "<connect>".into(),
        redis: e.to_string(),
        ours: String::new(),
        context: vec![],
        keys: vec![],
    })
}

/// Render a list of mismatches for a panic message.
pub fn report(mismatches: &[Box<Mismatch>]) -> String {
    let mut s = String::new();
    for m in mismatches {
        let _ = writeln!(s, "{m}");
    }
    s
}

#[allow(unused)]
fn _assert_step_is_send(s: Step) -> impl Send {
    s
}
