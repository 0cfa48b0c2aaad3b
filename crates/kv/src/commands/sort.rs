//! SORT and SORT_RO (Redis 7.0 `sort.c` behaviour): BY patterns (a constant one means "do
//! not sort"; `*->field` reads a hash field), LIMIT, GET patterns and `#`, ASC/DESC, ALPHA,
//! STORE into a list; numeric sort with the element itself as tie-break, Redis's answer to
//! values that are no numbers, and missing keys read as empty.
//!
//! A STORE is logged as the command: a set sorted without a sort key is sorted by its
//! members when stored (as Redis does, for replication), so replay gives the same list.

use std::cmp::Ordering;

use crate::commands::bitmaps::with_str;
use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::commands::typed::WRONGTYPE;
use crate::protocol::{parse_i64, Args};
use crate::service::Exec;
use kvtypes::{List, Object};

/// Redis's lookupKeyByPattern: `#` is the element itself; the first `*` takes the element;
/// `->field` after it reads a hash field; a pattern without `*` finds nothing.
fn by_pattern(x: &mut Exec<'_, '_>, pat: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pat == b"#" {
        return Some(elem.to_vec());
    }
    let star = pat.iter().position(|&b| b == b'*')?;
    let after = &pat[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(p) if p + 2 < after.len() => (&after[..p], Some(&after[p + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(pat.len() + elem.len());
    key.extend_from_slice(&pat[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    let i = x.read(&key)?;
    match (field, x.db().obj(i)) {
        (Some(f), Some(Object::Hash(h))) => h.get(f).map(<[u8]>::to_vec),
        (None, None) => Some(with_str(x, i, <[u8]>::to_vec)),
        _ => None,
    }
}

/// strtod's reading of a sort key: the whole string must be a number (leading blanks
/// allowed, an empty string is 0); NaN and overflow are errors.
fn sort_score(s: &[u8]) -> Option<f64> {
    let t = s.trim_ascii_start();
    if t.is_empty() {
        return (s.is_empty() || t.is_empty()).then_some(0.0);
    }
    let v = kvtypes::num::parse_f64(t)?;
    // strtod reports overflow (ERANGE) unless the text spelled an infinity.
    let spelled_inf = t.to_ascii_lowercase().windows(3).any(|w| w == b"inf");
    (!v.is_nan() && (v.is_finite() || spelled_inf)).then_some(v)
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    cmp: Option<Vec<u8>>,
}

fn sort_generic(x: &mut Exec<'_, '_>, a: Args<'_>, readonly: bool) {
    let (mut desc, mut alpha, mut dontsort) = (false, false, false);
    let (mut limit_start, mut limit_count): (i64, i64) = (0, -1);
    let mut store: Option<&[u8]> = None;
    let mut sortby: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let opt = a.get(j).to_ascii_lowercase();
        match opt.as_slice() {
            b"asc" => desc = false,
            b"desc" => desc = true,
            b"alpha" => alpha = true,
            b"limit" if left >= 2 => {
                let (Some(s), Some(c)) = (parse_i64(a.get(j + 1)), parse_i64(a.get(j + 2))) else {
                    return x.err(NOT_INT);
                };
                (limit_start, limit_count) = (s, c);
                j += 2;
            }
            b"store" if left >= 1 && !readonly => {
                store = Some(a.get(j + 1));
                j += 1;
            }
            b"by" if left >= 1 => {
                let p = a.get(j + 1);
                sortby = Some(p);
                // A pattern without '*' names one key for all: nothing to sort by.
                if !p.contains(&b'*') {
                    dontsort = true;
                }
                j += 1;
            }
            b"get" if left >= 1 => {
                gets.push(a.get(j + 1));
                j += 1;
            }
            _ => return x.err(SYNTAX),
        }
        j += 1;
    }
    let found = if store.is_some() {
        x.write(a.get(1))
    } else {
        x.read(a.get(1))
    };
    enum Src {
        List,
        Set,
        ZSet,
    }
    let src = match found.map(|i| x.db().obj(i)) {
        None => Src::List,
        Some(Some(Object::List(_))) => Src::List,
        Some(Some(Object::Set(_))) => Src::Set,
        Some(Some(Object::ZSet(_))) => Src::ZSet,
        Some(_) => return x.err(WRONGTYPE),
    };
    // A set has no order of its own: stored results are sorted by member so that replay
    // and replicas get the same list (Redis's rule).
    if dontsort && matches!(src, Src::Set) && store.is_some() {
        dontsort = false;
        alpha = true;
        sortby = None;
    }
    let elems: Vec<Vec<u8>> = match found.and_then(|i| x.db().obj(i)) {
        None => Vec::new(),
        Some(Object::List(l)) => l.items.iter().map(|e| e.to_vec()).collect(),
        Some(Object::Set(s)) => s.members().into_iter().map(|m| m.into_owned()).collect(),
        Some(Object::ZSet(z)) => z.iter().map(|(_, m)| m.to_vec()).collect(),
        Some(_) => Vec::new(),
    };
    let len = elems.len() as i64;
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start + limit_count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();
    // Lists and sorted sets keep their order when not sorted; DESC reverses it.
    if dontsort && desc && !matches!(src, Src::Set) {
        items.reverse();
    }
    let mut bad_number = false;
    if !dontsort {
        for it in items.iter_mut() {
            let byval = match sortby {
                Some(p) => match by_pattern(x, p, &it.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => {
                    if alpha {
                        continue;
                    }
                    it.elem.clone()
                }
            };
            if alpha {
                it.cmp = Some(byval);
            } else {
                match sort_score(&byval) {
                    Some(s) => it.score = s,
                    None => bad_number = true,
                }
            }
        }
        let by = sortby.is_some();
        let cmp = |p: &Item, q: &Item| -> Ordering {
            let c = if !alpha {
                p.score
                    .partial_cmp(&q.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| p.elem.cmp(&q.elem))
            } else if by {
                match (&p.cmp, &q.cmp) {
                    (None, None) => Ordering::Equal,
                    (None, _) => Ordering::Less,
                    (_, None) => Ordering::Greater,
                    (Some(u), Some(v)) => u.cmp(v),
                }
            } else {
                p.elem.cmp(&q.elem)
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        items.sort_by(cmp);
    }
    let picked: &[Item] = if end >= start && start >= 0 {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    if bad_number {
        return x.err("ERR One or more scores can't be converted into double");
    }
    let mut out: Vec<Option<Vec<u8>>> = Vec::new();
    for it in picked {
        if gets.is_empty() {
            out.push(Some(it.elem.clone()));
        }
        for g in &gets {
            out.push(by_pattern(x, g, &it.elem));
        }
    }
    match store {
        None => {
            let mut r = x.r();
            r.array(out.len());
            for v in &out {
                match v {
                    Some(v) => r.bulk(v),
                    None => r.null(),
                }
            }
        }
        Some(dst) => {
            let mut l = List::default();
            for v in &out {
                l.push(v.as_deref().unwrap_or(b""), false);
            }
            let n = out.len();
            x.put_obj(dst, Object::List(l));
            if n > 0 {
                crate::commands::typed::signal_key(x, dst);
            }
            x.r().int(n as i64);
        }
    }
}

pub fn sort(x: &mut Exec<'_, '_>, a: Args<'_>) {
    sort_generic(x, a, false);
}

pub fn sort_ro(x: &mut Exec<'_, '_>, a: Args<'_>) {
    sort_generic(x, a, true);
}

#[cfg(test)]
mod tests {
    use super::sort_score;

    #[test]
    fn strtod_rules() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b" 2.5"), Some(2.5));
        assert_eq!(sort_score(b"abc"), None);
        assert_eq!(sort_score(b"1e400"), None);
        assert_eq!(sort_score(b"-inf"), Some(f64::NEG_INFINITY));
    }
}
