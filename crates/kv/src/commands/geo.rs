//! Geo commands on sorted sets: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and their `_RO` forms (Redis 7.0 `geo.c`
//! behaviour: option parsing order, error texts, the nine-box scan order, COUNT/ANY and
//! sorting, distance and coordinate formatting). The arithmetic is `kvtypes::geohash`; this
//! file owns parsing, the sorted-set scans and the replies.
//!
//! Writes are logged as the commands themselves: GEOADD and the STORE forms are
//! deterministic given the data (the scan order is the sorted set's order).

use std::cmp::Ordering;

use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::commands::typed::limits;
use crate::keyspace::Idx;
use crate::protocol::{parse_i64, Args, Reply};
use crate::service::Exec;
use kvtypes::geohash::{self, Search, Shape};
use kvtypes::num::parse_f64;
use kvtypes::{Kind, Object, ZSet};

const NOT_FLOAT: &str = "ERR value is not a valid float";

fn zset_at<'a>(x: &'a Exec<'_, '_>, i: Idx) -> &'a ZSet {
    x.payload(i)
}

/// Redis's "%.4f" distance, always a bulk string.
fn reply_distance(r: &mut Reply<'_>, d: f64) {
    r.bulk(format!("{d:.4}").as_bytes());
}

/// Redis's human long double ("%.17Lf" without trailing zeros): a bulk string in RESP2, a
/// double in RESP3.
fn reply_coord(r: &mut Reply<'_>, v: f64) {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    if r.resp3 {
        r.buf.push(b',');
        r.buf.extend_from_slice(s.as_bytes());
        r.buf.extend_from_slice(b"\r\n");
    } else {
        r.bulk(s.as_bytes());
    }
}

/// Longitude and latitude arguments, range-checked as Redis does.
fn lon_lat(x: &mut Exec<'_, '_>, a: &Args<'_>, at: usize) -> Option<(f64, f64)> {
    let (Some(lon), Some(lat)) = (parse_f64(a.get(at)), parse_f64(a.get(at + 1))) else {
        x.err(NOT_FLOAT);
        return None;
    };
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        x.err(&format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        ));
        return None;
    }
    Some((lon, lat))
}

/// Metres per unit; None after replying the error.
fn unit(x: &mut Exec<'_, '_>, arg: &[u8]) -> Option<f64> {
    match arg.to_ascii_lowercase().as_slice() {
        b"m" => Some(1.0),
        b"km" => Some(1000.0),
        b"ft" => Some(0.3048),
        b"mi" => Some(1609.34),
        _ => {
            x.err("ERR unsupported unit provided. please use M, KM, FT, MI");
            None
        }
    }
}

fn radius(x: &mut Exec<'_, '_>, a: &Args<'_>, at: usize) -> Option<(f64, f64)> {
    let Some(r) = parse_f64(a.get(at)) else {
        x.err("ERR need numeric radius");
        return None;
    };
    if r < 0.0 {
        x.err("ERR radius cannot be negative");
        return None;
    }
    Some((r, unit(x, a.get(at + 1))?))
}

/// The position a member's score stands for.
fn member_pos(z: &ZSet, m: &[u8]) -> Option<(f64, f64)> {
    z.score(m).map(geohash::decode_score)
}

pub fn geoadd(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (mut nx, mut xx, mut ch) = (false, false, false);
    let mut j = 2;
    while j < a.len() {
        match a.get(j).to_ascii_lowercase().as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ch" => ch = true,
            _ => break,
        }
        j += 1;
    }
    let rest = a.len() - j;
    if !rest.is_multiple_of(3) || (nx && xx) || rest == 0 {
        return x.err(SYNTAX);
    }
    let mut items = Vec::with_capacity(rest / 3);
    for k in (j..a.len()).step_by(3) {
        let Some((lon, lat)) = lon_lat(x, &a, k) else {
            return;
        };
        let Some(score) = geohash::score_of(lon, lat) else {
            return x.err(SYNTAX);
        };
        items.push((score, a.get(k + 2)));
    }
    let key = a.get(1);
    let lim = limits(x.core);
    let i = match x.typed(key, Kind::ZSet, true) {
        Err(_) => return,
        Ok(Some(i)) => i,
        Ok(None) if xx => return x.r().int(0),
        Ok(None) => x.new_obj(key, Object::ZSet(ZSet::for_member(items[0].1, &lim))),
    };
    let (added, updated) = x.payload_mut_if(
        i,
        |z: &mut ZSet| {
            let (mut added, mut updated) = (0, 0);
            for &(s, m) in &items {
                match z.score(m) {
                    Some(_) if nx => {}
                    Some(cur) => {
                        if cur != s {
                            z.insert(m, s, &lim);
                            updated += 1;
                        }
                    }
                    None if xx => {}
                    None => {
                        z.insert(m, s, &lim);
                        added += 1;
                    }
                }
            }
            (added, updated)
        },
        |&(a, u)| a + u > 0,
    );
    x.r().int(if ch { added + updated } else { added });
    crate::commands::typed::signal_key(x, key);
}

pub fn geodist(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut to_m = 1.0;
    if a.len() == 5 {
        match unit(x, a.get(4)) {
            Some(u) => to_m = u,
            None => return,
        }
    } else if a.len() > 5 {
        return x.err(SYNTAX);
    }
    let Some(i) = x.typed_or(a.get(1), Kind::ZSet, false, |r| r.null()) else {
        return;
    };
    let z = zset_at(x, i);
    match (member_pos(z, a.get(2)), member_pos(z, a.get(3))) {
        (Some(p), Some(q)) => {
            let d = geohash::distance(p.0, p.1, q.0, q.1) / to_m;
            reply_distance(&mut x.r(), d);
        }
        _ => x.r().null(),
    }
}

fn lookup_many(x: &mut Exec<'_, '_>, a: &Args<'_>) -> Option<Vec<Option<(f64, f64)>>> {
    let found = x.typed(a.get(1), Kind::ZSet, false).ok()?;
    Some(
        (2..a.len())
            .map(|k| found.and_then(|i| member_pos(zset_at(x, i), a.get(k))))
            .collect(),
    )
}

pub fn geohash_cmd(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(pos) = lookup_many(x, &a) else {
        return;
    };
    let mut r = x.r();
    r.array(pos.len());
    for p in pos {
        match p.and_then(|(lon, lat)| geohash::hash_string(lon, lat)) {
            Some(h) => r.bulk(&h),
            None => r.null(),
        }
    }
}

pub fn geopos(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(pos) = lookup_many(x, &a) else {
        return;
    };
    let mut r = x.r();
    r.array(pos.len());
    for p in pos {
        match p {
            Some((lon, lat)) => {
                r.array(2);
                reply_coord(&mut r, lon);
                reply_coord(&mut r, lat);
            }
            None => r.null_array(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS (lon lat radius unit), `ro`: no STORE.
    Radius {
        ro: bool,
    },
    /// GEORADIUSBYMEMBER (member radius unit).
    ByMember {
        ro: bool,
    },
    Search,
    SearchStore,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

struct Point {
    score: f64,
    member: Vec<u8>,
    dist: f64,
    lon: f64,
    lat: f64,
}

/// Members of `z` with scores in `[min, max)` that fall inside the shape, in score order,
/// stopping at `limit` results in all (0: no limit).
fn scan_box(z: &ZSet, min: f64, max: f64, s: &Search, out: &mut Vec<Point>, limit: usize) {
    let mut visit = |score: f64, m: &[u8]| -> bool {
        let (lon, lat) = geohash::decode_score(score);
        if let Some(dist) = s.within(lon, lat) {
            out.push(Point {
                score,
                member: m.to_vec(),
                dist,
                lon,
                lat,
            });
        }
        !(limit > 0 && out.len() >= limit)
    };
    // The first member at or above `min` in O(log N), then in score order.
    let start = z.count_before(|s, _| s < min);
    for (score, m) in z.iter_from(start, false) {
        if score >= max || !visit(score, m) {
            break;
        }
    }
}

fn georadius_generic(x: &mut Exec<'_, '_>, a: Args<'_>, form: Form) {
    let src_at = if form == Form::SearchStore { 2 } else { 1 };
    let found = match x.typed(a.get(src_at), Kind::ZSet, false) {
        Err(_) => return,
        Ok(f) => f,
    };
    let mut center: Option<(f64, f64)> = None;
    let mut shape: Option<(Shape, f64)> = None;
    let base = match form {
        Form::Radius { .. } => {
            let Some(p) = lon_lat(x, &a, 2) else {
                return;
            };
            center = Some(p);
            let Some((r, u)) = radius(x, &a, 4) else {
                return;
            };
            shape = Some((Shape::Radius(r), u));
            6
        }
        Form::ByMember { .. } => {
            if let Some(i) = found {
                match member_pos(zset_at(x, i), a.get(2)) {
                    Some(p) => center = Some(p),
                    None => return x.err("ERR could not decode requested zset member"),
                }
                let Some((r, u)) = radius(x, &a, 3) else {
                    return;
                };
                shape = Some((Shape::Radius(r), u));
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => 3,
    };
    let search = matches!(form, Form::Search | Form::SearchStore);
    let nostore = matches!(
        form,
        Form::Radius { ro: true } | Form::ByMember { ro: true }
    );
    let (mut withdist, mut withhash, mut withcoord, mut any) = (false, false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let mut store: Option<&[u8]> = (form == Form::SearchStore).then(|| a.get(1));
    let mut storedist = false;
    let rem = a.len().saturating_sub(base);
    let mut k = 0;
    while k < rem {
        let at = base + k;
        let arg = a.get(at).to_ascii_lowercase();
        let left = rem - k - 1;
        match arg.as_slice() {
            b"withdist" => withdist = true,
            b"withhash" => withhash = true,
            b"withcoord" => withcoord = true,
            b"any" => any = true,
            b"asc" => sort = Sort::Asc,
            b"desc" => sort = Sort::Desc,
            b"count" if left >= 1 => {
                let Some(n) = parse_i64(a.get(at + 1)) else {
                    return x.err(NOT_INT);
                };
                if n <= 0 {
                    return x.err("ERR COUNT must be > 0");
                }
                count = n;
                k += 1;
            }
            b"store" | b"storedist" if left >= 1 && !nostore && !search => {
                store = Some(a.get(at + 1));
                storedist = arg == b"storedist";
                k += 1;
            }
            b"storedist" if form == Form::SearchStore => storedist = true,
            b"frommember" if left >= 1 && search && !fromloc => {
                if let Some(i) = found {
                    match member_pos(zset_at(x, i), a.get(at + 1)) {
                        Some(p) => center = Some(p),
                        None => return x.err("ERR could not decode requested zset member"),
                    }
                }
                frommember = true;
                k += 1;
            }
            b"fromlonlat" if left >= 2 && search && !frommember => {
                let Some(p) = lon_lat(x, &a, at + 1) else {
                    return;
                };
                center = Some(p);
                fromloc = true;
                k += 2;
            }
            b"byradius" if left >= 2 && search && !bybox => {
                let Some((r, u)) = radius(x, &a, at + 1) else {
                    return;
                };
                shape = Some((Shape::Radius(r), u));
                byradius = true;
                k += 2;
            }
            b"bybox" if left >= 3 && search && !byradius => {
                let (Some(w), Some(h)) = (parse_f64(a.get(at + 1)), parse_f64(a.get(at + 2)))
                else {
                    let e = if parse_f64(a.get(at + 1)).is_none() {
                        "ERR need numeric width"
                    } else {
                        "ERR need numeric height"
                    };
                    return x.err(e);
                };
                if w < 0.0 || h < 0.0 {
                    return x.err("ERR height or width cannot be negative");
                }
                let Some(u) = unit(x, a.get(at + 3)) else {
                    return;
                };
                shape = Some((Shape::Box(w, h), u));
                bybox = true;
                k += 3;
            }
            _ => return x.err(SYNTAX),
        }
        k += 1;
    }
    if store.is_some() && (withdist || withhash || withcoord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return x.err(&format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ));
    }
    let name = String::from_utf8_lossy(a.get(0)).into_owned();
    if search && !(frommember || fromloc) {
        return x.err(&format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
    }
    if search && !(byradius || bybox) {
        return x.err(&format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
    }
    if any && count == 0 {
        return x.err("ERR the ANY argument requires COUNT argument");
    }
    let (Some(i), Some((lon, lat)), Some((shape, conversion))) = (found, center, shape) else {
        // No source key: an empty answer (a STORE deletes its destination).
        match store {
            Some(dst) => {
                if let Some(d) = x.write(dst) {
                    x.db().remove(d);
                }
                x.r().int(0);
            }
            None => x.r().array(0),
        }
        return;
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let s = Search {
        lon,
        lat,
        shape,
        conversion,
    };
    let limit = if any { count as usize } else { 0 };
    let mut pts: Vec<Point> = Vec::new();
    {
        let z = zset_at(x, i);
        for (min, max) in s.ranges() {
            if limit > 0 && pts.len() >= limit {
                break;
            }
            scan_box(z, min, max, &s, &mut pts, limit);
        }
    }
    let by_dist = |p: &Point, q: &Point| p.dist.partial_cmp(&q.dist).unwrap_or(Ordering::Equal);
    match sort {
        Sort::Asc => pts.sort_by(by_dist),
        Sort::Desc => pts.sort_by(|p, q| by_dist(q, p)),
        Sort::None => {}
    }
    let n = if count == 0 {
        pts.len()
    } else {
        pts.len().min(count as usize)
    };
    pts.truncate(n);
    if let Some(dst) = store {
        let entries: Vec<(f64, Vec<u8>)> = pts
            .into_iter()
            .map(|p| {
                let score = if storedist {
                    p.dist / conversion
                } else {
                    p.score
                };
                (score, p.member)
            })
            .collect();
        crate::commands::zsets::store_entries(x, dst, &entries);
        return x.r().int(n as i64);
    }
    let opts = usize::from(withdist) + usize::from(withhash) + usize::from(withcoord);
    let mut r = x.r();
    r.array(n);
    for p in &pts {
        if opts > 0 {
            r.array(opts + 1);
        }
        r.bulk(&p.member);
        if withdist {
            reply_distance(&mut r, p.dist / conversion);
        }
        if withhash {
            r.int(p.score as i64);
        }
        if withcoord {
            r.array(2);
            reply_coord(&mut r, p.lon);
            reply_coord(&mut r, p.lat);
        }
    }
}

pub fn georadius(x: &mut Exec<'_, '_>, a: Args<'_>) {
    georadius_generic(x, a, Form::Radius { ro: false });
}
pub fn georadius_ro(x: &mut Exec<'_, '_>, a: Args<'_>) {
    georadius_generic(x, a, Form::Radius { ro: true });
}
pub fn georadiusbymember(x: &mut Exec<'_, '_>, a: Args<'_>) {
    georadius_generic(x, a, Form::ByMember { ro: false });
}
pub fn georadiusbymember_ro(x: &mut Exec<'_, '_>, a: Args<'_>) {
    georadius_generic(x, a, Form::ByMember { ro: true });
}
pub fn geosearch(x: &mut Exec<'_, '_>, a: Args<'_>) {
    georadius_generic(x, a, Form::Search);
}
pub fn geosearchstore(x: &mut Exec<'_, '_>, a: Args<'_>) {
    georadius_generic(x, a, Form::SearchStore);
}
