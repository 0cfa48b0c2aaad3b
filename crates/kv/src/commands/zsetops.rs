//! Sorted-set algebra: ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD (Redis 7.0
//! `zunionInterDiffGenericCommand`: inputs may be sets, scored 1; WEIGHTS, AGGREGATE,
//! WITHSCORES, LIMIT; the order in which arguments and key types are checked; error texts).
//!
//! STORE forms are logged as the commands themselves (deterministic given the data).

use hashbrown::HashMap;

use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::commands::typed::WRONGTYPE;
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::num::parse_f64;
use kvtypes::Object;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Agg {
    Sum,
    Min,
    Max,
}

fn combine(agg: Agg, a: f64, b: f64) -> f64 {
    match agg {
        Agg::Sum => {
            // inf + -inf: Redis stores 0 rather than NaN.
            let s = a + b;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Agg::Min => a.min(b),
        Agg::Max => a.max(b),
    }
}

/// One input: members and scores (a plain set's members score 1).
type Input = Vec<(f64, Vec<u8>)>;

/// The command's shape: where numkeys is, whether it stores, counts only.
struct Form {
    name: &'static str,
    op: Op,
    store: bool,
    card_only: bool,
}

fn generic(x: &mut Exec<'_, '_>, a: Args<'_>, f: Form) {
    let nk_at = if f.store { 2 } else { 1 };
    let Some(n) = parse_i64(a.get(nk_at)) else {
        return x.err(NOT_INT);
    };
    if n < 1 {
        let name = f.name;
        return x.err(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    if n > (a.len() - nk_at - 1) as i64 {
        return x.err(SYNTAX);
    }
    let n = n as usize;
    let first = nk_at + 1;
    // Like Redis, the inputs' types are checked before the options are read.
    let mut inputs: Vec<Input> = Vec::with_capacity(n);
    for k in 0..n {
        let key = a.get(first + k);
        let found = if f.store { x.write(key) } else { x.read(key) };
        let entries = match found.map(|i| x.db().obj(i)) {
            None => Vec::new(),
            Some(Some(Object::ZSet(z))) => z.iter().map(|(s, m)| (s, m.to_vec())).collect(),
            Some(Some(Object::Set(s))) => s
                .members()
                .into_iter()
                .map(|m| (1.0, m.into_owned()))
                .collect(),
            Some(_) => return x.err(WRONGTYPE),
        };
        inputs.push(entries);
    }
    let mut weights = vec![1.0f64; n];
    let mut agg = Agg::Sum;
    let mut withscores = false;
    let mut limit: usize = 0;
    let mut j = first + n;
    while j < a.len() {
        let rem = a.len() - j;
        let opt = a.get(j).to_ascii_lowercase();
        let weighable = f.op != Op::Diff && !f.card_only;
        if weighable && rem > n && opt == b"weights" {
            for (k, w) in weights.iter_mut().enumerate() {
                match parse_f64(a.get(j + 1 + k)) {
                    Some(v) => *w = v,
                    None => return x.err("ERR weight value is not a float"),
                }
            }
            j += n + 1;
        } else if weighable && rem >= 2 && opt == b"aggregate" {
            agg = match a.get(j + 1).to_ascii_lowercase().as_slice() {
                b"sum" => Agg::Sum,
                b"min" => Agg::Min,
                b"max" => Agg::Max,
                _ => return x.err(SYNTAX),
            };
            j += 2;
        } else if !f.store && !f.card_only && opt == b"withscores" {
            withscores = true;
            j += 1;
        } else if f.card_only && rem >= 2 && opt == b"limit" {
            match parse_i64(a.get(j + 1)) {
                Some(l) if l >= 0 => limit = l as usize,
                Some(_) => return x.err("ERR LIMIT can't be negative"),
                None => return x.err(NOT_INT),
            }
            j += 2;
        } else {
            return x.err(SYNTAX);
        }
    }
    if f.card_only {
        return x.r().int(inter_card(&inputs, limit) as i64);
    }
    let weighted = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
    match f.op {
        Op::Union => {
            for (k, entries) in inputs.iter().enumerate() {
                for (s, m) in entries {
                    let v = weighted(*s, weights[k]);
                    acc.entry_ref(&m[..])
                        .and_modify(|cur| *cur = combine(agg, *cur, v))
                        .or_insert(v);
                }
            }
        }
        Op::Inter => {
            // Walk the smallest input, probing the others (Redis's order of work).
            if inputs.iter().all(|e| !e.is_empty()) {
                let lookups: Vec<HashMap<&[u8], f64>> = inputs
                    .iter()
                    .map(|e| e.iter().map(|(s, m)| (&m[..], *s)).collect())
                    .collect();
                for (s, m) in &inputs[0] {
                    let mut v = weighted(*s, weights[0]);
                    let mut all = true;
                    for k in 1..n {
                        match lookups[k].get(&m[..]) {
                            Some(&o) => v = combine(agg, v, weighted(o, weights[k])),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if all {
                        acc.insert(m.clone(), v);
                    }
                }
            }
        }
        Op::Diff => {
            let others: hashbrown::HashSet<&[u8]> = inputs[1..]
                .iter()
                .flat_map(|e| e.iter().map(|(_, m)| &m[..]))
                .collect();
            for (s, m) in &inputs[0] {
                if !others.contains(&m[..]) {
                    acc.insert(m.clone(), *s);
                }
            }
        }
    }
    let mut entries: Vec<(f64, Vec<u8>)> = acc.into_iter().map(|(m, s)| (s, m)).collect();
    if f.store {
        crate::commands::zsets::store_entries(x, a.get(1), &entries);
        return x.r().int(entries.len() as i64);
    }
    // Replies come in the result's sorted-set order: by score, then member.
    entries.sort_by(|p, q| {
        p.0.partial_cmp(&q.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| p.1.cmp(&q.1))
    });
    let resp3 = x.client.resp3;
    let mut r = x.r();
    r.array(if withscores && !resp3 {
        entries.len() * 2
    } else {
        entries.len()
    });
    for (s, m) in &entries {
        if withscores && resp3 {
            r.array(2);
        }
        r.bulk(m);
        if withscores {
            r.double(*s);
        }
    }
}

/// Members common to every input, counting stops at `limit` (0: no limit).
fn inter_card(inputs: &[Input], limit: usize) -> usize {
    if inputs.iter().any(Vec::is_empty) {
        return 0;
    }
    let (small, _) = inputs
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| e.len())
        .unwrap_or((0, &inputs[0]));
    let lookups: Vec<hashbrown::HashSet<&[u8]>> = inputs
        .iter()
        .map(|e| e.iter().map(|(_, m)| &m[..]).collect())
        .collect();
    let mut n = 0;
    for (_, m) in &inputs[small] {
        if lookups.iter().all(|l| l.contains(&m[..])) {
            n += 1;
            if limit > 0 && n >= limit {
                break;
            }
        }
    }
    n
}

pub fn zunion(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let f = Form {
        name: "zunion",
        op: Op::Union,
        store: false,
        card_only: false,
    };
    generic(x, a, f);
}
pub fn zinter(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let f = Form {
        name: "zinter",
        op: Op::Inter,
        store: false,
        card_only: false,
    };
    generic(x, a, f);
}
pub fn zdiff(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let f = Form {
        name: "zdiff",
        op: Op::Diff,
        store: false,
        card_only: false,
    };
    generic(x, a, f);
}
pub fn zunionstore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let f = Form {
        name: "zunionstore",
        op: Op::Union,
        store: true,
        card_only: false,
    };
    generic(x, a, f);
}
pub fn zinterstore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let f = Form {
        name: "zinterstore",
        op: Op::Inter,
        store: true,
        card_only: false,
    };
    generic(x, a, f);
}
pub fn zdiffstore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let f = Form {
        name: "zdiffstore",
        op: Op::Diff,
        store: true,
        card_only: false,
    };
    generic(x, a, f);
}
pub fn zintercard(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let f = Form {
        name: "zintercard",
        op: Op::Inter,
        store: false,
        card_only: true,
    };
    generic(x, a, f);
}
