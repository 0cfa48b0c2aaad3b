//! Consumer-group stream commands: XGROUP, XREADGROUP's group side, XACK, XPENDING,
//! XCLAIM, XAUTOCLAIM, and XINFO. Redis 7.0 `t_stream.c` semantics; replies and error texts
//! checked against redis-server 7.0.15.
//!
//! Every change to a group reaches the log as the deterministic command Redis propagates:
//! a delivery as `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID id`,
//! the group's position as `XGROUP SETID key group id ENTRIESREAD n`, a consumer created
//! on the fly as `XGROUP CREATECONSUMER`. Owns no data layout (kvtypes::stream) and no
//! parking (blocking.rs).

use std::sync::Arc;

use kvtypes::stream::{Group, Stream, StreamId, INVALID_ENTRIES_READ};
use kvtypes::Kind;

use super::streams::{
    bound_id, reply_entry, split, stream_mut, stream_of, strict_id, GroupRead, INVALID_ID,
};
use crate::commands::strings::{NOT_INT, SYNTAX};
use crate::protocol::{parse_i64, Args, Reply};
use crate::service::Exec;

fn nogroup_key(key: &[u8], group: &[u8]) -> String {
    format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    )
}

fn nogroup_for(group: &[u8], key: &[u8]) -> String {
    format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    )
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn num(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// The record that recreates one PEL entry as it now is (Redis's streamPropagateXCLAIM);
/// for an entry no longer pending it makes replay drop it (the entry is gone there too).
fn xclaim_record(
    key: &[u8],
    group: &[u8],
    g: &Group,
    consumer: &[u8],
    id: StreamId,
    time: u64,
    count: u64,
) -> Vec<Vec<u8>> {
    vec![
        b("XCLAIM"),
        key.to_vec(),
        group.to_vec(),
        consumer.to_vec(),
        b("0"),
        id.to_bytes(),
        b("TIME"),
        num(time),
        b("RETRYCOUNT"),
        num(count),
        b("FORCE"),
        b("JUSTID"),
        b("LASTID"),
        g.last_id.to_bytes(),
    ]
}

fn setid_record(key: &[u8], group: &[u8], g: &Group) -> Vec<Vec<u8>> {
    vec![
        b("XGROUP"),
        b("SETID"),
        key.to_vec(),
        group.to_vec(),
        g.last_id.to_bytes(),
        b("ENTRIESREAD"),
        num(g.entries_read),
    ]
}

/// XREADGROUP on one stream whose group exists: new entries after `start` (`>`: they
/// become pending unless NOACK and the group moves past them), or the consumer's own
/// pending entries from `start` (history: each is delivered again). Writes the entries
/// array; true if the group changed (the records for it are in `log`).
#[allow(clippy::too_many_arguments)]
pub fn group_read(
    s: &mut Stream,
    key: &[u8],
    g: &GroupRead,
    start: StreamId,
    count: usize,
    history: bool,
    now: u64,
    r: &mut Reply<'_>,
    log: &mut Vec<Vec<Vec<u8>>>,
) -> bool {
    let before = log.len();
    let grp = s.group_mut(&g.group).expect("group checked by the caller");
    let (cname, created) = grp.consumer(&g.consumer, now);
    if let Some(c) = grp.consumers.get_mut(&cname) {
        c.seen_time = now;
    }
    if created {
        log.push(vec![
            b("XGROUP"),
            b("CREATECONSUMER"),
            key.to_vec(),
            g.group.clone(),
            g.consumer.clone(),
        ]);
    }
    if history {
        let ids: Vec<StreamId> = {
            let c = &grp.consumers[&cname];
            let it = c.pel.range(start..);
            if count == 0 {
                it.copied().collect()
            } else {
                it.take(count).copied().collect()
            }
        };
        r.array(ids.len());
        for id in ids {
            match s.get(id) {
                Some(pairs) => {
                    let p: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
                    reply_entry(r, id, &p);
                }
                None => {
                    r.array(2);
                    r.bulk(&id.to_bytes());
                    r.null_array();
                }
            }
            let grp = s.group_mut(&g.group).expect("present");
            let (t, n) = {
                let nack = grp
                    .pel
                    .get_mut(&id)
                    .expect("consumer PEL entries are in the group PEL");
                nack.delivery_time = now;
                nack.delivery_count += 1;
                (nack.delivery_time, nack.delivery_count)
            };
            log.push(xclaim_record(key, &g.group, grp, &g.consumer, id, t, n));
        }
        return log.len() > before;
    }
    let entries = s.collect(start, StreamId::MAX, false, count);
    r.array(entries.len());
    for (id, pairs) in &entries {
        let p: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
        reply_entry(r, *id, &p);
        s.group_advance(&g.group, *id);
        if !g.noack {
            let grp = s.group_mut(&g.group).expect("present");
            grp.assign(*id, &cname, now, 1);
            log.push(xclaim_record(key, &g.group, grp, &g.consumer, *id, now, 1));
        }
    }
    if !entries.is_empty() {
        let grp = s.group(&g.group).expect("present");
        log.push(setid_record(key, &g.group, grp));
    }
    log.len() > before
}

// ------------------------------------------------------------------------------------------
// XGROUP

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

fn help(x: &mut Exec<'_, '_>, lines: &[&str]) {
    let mut r = x.r();
    r.array(lines.len());
    for l in lines {
        r.simple(l);
    }
}

fn subcommand_error(x: &mut Exec<'_, '_>, cmd: &str, sub: &[u8]) {
    let msg = format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        cmd
    );
    x.err(&msg);
}

pub fn xgroup(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = crate::commands::table::check_sub(x, &a, "xgroup") else {
        return;
    };
    if sub == "help" {
        return help(x, XGROUP_HELP);
    }
    let sub = sub.as_bytes();
    let (create, setid) = (sub == b"create", sub == b"setid");
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut j = 5;
    while j < a.len() {
        if create && a.get(j).eq_ignore_ascii_case(b"mkstream") {
            mkstream = true;
            j += 1;
        } else if (create || setid)
            && a.get(j).eq_ignore_ascii_case(b"entriesread")
            && j + 1 < a.len()
        {
            let Some(n) = parse_i64(a.get(j + 1)) else {
                return x.err(NOT_INT);
            };
            if n < 0 && n != INVALID_ENTRIES_READ {
                return x.err("ERR value for ENTRIESREAD must be positive or -1");
            }
            entries_read = n;
            j += 2;
        } else {
            return subcommand_error(x, "XGROUP", a.get(1));
        }
    }
    let key = a.get(2);
    let gname = a.get(3);
    let found = match x.typed(key, Kind::Stream, true) {
        Err(_) => return,
        Ok(f) => f,
    };
    if !mkstream {
        let Some(i) = found else {
            return x.err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
        };
        let missing = stream_of(x.db(), i).group(gname).is_none();
        if missing && matches!(sub, b"setid" | b"createconsumer" | b"delconsumer") {
            return x.err(&nogroup_for(gname, key));
        }
    }
    let now = super::streams::clock(x.core);
    match sub {
        b"create" if a.len() <= 8 => {
            let id = if a.get(4) == b"$" {
                found.map_or(StreamId::MIN, |i| stream_of(x.db(), i).last_id())
            } else {
                let Some(id) = strict_id(x, a.get(4)) else {
                    return;
                };
                id
            };
            let i = match found {
                Some(i) => i,
                None => x.new_obj(key, kvtypes::Object::Stream(Box::new(Stream::new()))),
            };
            let (db, mut r) = split(x);
            if stream_mut(db, i, |s| s.create_group(gname, id, entries_read), |ok| *ok) {
                r.ok();
            } else {
                r.error("BUSYGROUP Consumer Group name already exists");
            }
        }
        b"setid" if a.len() == 5 || a.len() == 7 => {
            let i = found.expect("checked");
            let id = if a.get(4) == b"$" {
                stream_of(x.db(), i).last_id()
            } else {
                match super::streams::parse_id_opt(a.get(4), 0, false, false) {
                    Some((ms, Some(seq))) => StreamId::new(ms, seq),
                    _ => return x.err(INVALID_ID),
                }
            };
            let (db, mut r) = split(x);
            stream_mut(
                db,
                i,
                |s| {
                    let g = s.group_mut(gname).expect("checked");
                    g.last_id = id;
                    g.entries_read = entries_read;
                },
                |_| true,
            );
            r.ok();
        }
        b"destroy" if a.len() == 4 => {
            let i = found.expect("checked");
            let (db, mut r) = split(x);
            let gone = stream_mut(db, i, |s| s.destroy_group(gname), |g| *g);
            r.int(i64::from(gone));
            if gone {
                // Readers blocked on the group get -NOGROUP.
                crate::commands::blocking::signal(x, key);
            }
        }
        b"createconsumer" if a.len() == 5 => {
            let i = found.expect("checked");
            let (db, mut r) = split(x);
            let made = stream_mut(
                db,
                i,
                |s| {
                    s.group_mut(gname)
                        .expect("checked")
                        .consumer(a.get(4), now)
                        .1
                },
                |m| *m,
            );
            r.int(i64::from(made));
        }
        b"delconsumer" if a.len() == 5 => {
            let i = found.expect("checked");
            let (db, mut r) = split(x);
            let n = stream_mut(
                db,
                i,
                |s| {
                    s.group_mut(gname)
                        .expect("checked")
                        .delete_consumer(a.get(4))
                },
                |n| n.is_some(),
            );
            r.int(n.unwrap_or(0) as i64);
        }
        _ => subcommand_error(x, "XGROUP", a.get(1)),
    }
}

// ------------------------------------------------------------------------------------------
// XACK XPENDING

pub fn xack(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let found = match x.typed(a.get(1), Kind::Stream, true) {
        Err(_) => return,
        Ok(f) => f,
    };
    let mut ids = Vec::with_capacity(a.len() - 3);
    for k in 3..a.len() {
        let Some(id) = strict_id(x, a.get(k)) else {
            return;
        };
        ids.push(id);
    }
    let gname = a.get(2);
    let Some(i) = found.filter(|&i| stream_of(x.db(), i).group(gname).is_some()) else {
        return x.r().int(0);
    };
    let (db, mut r) = split(x);
    let n = stream_mut(
        db,
        i,
        |s| {
            let g = s.group_mut(gname).expect("checked");
            ids.iter().filter(|id| g.ack(**id)).count()
        },
        |n| *n > 0,
    );
    r.int(n as i64);
}

pub fn xpending(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let n = a.len();
    if n != 3 && !(6..=9).contains(&n) {
        return x.err(SYNTAX);
    }
    let mut range = None;
    if n >= 6 {
        let mut at = 3;
        let mut min_idle = 0i64;
        if a.get(3).eq_ignore_ascii_case(b"idle") {
            let Some(v) = parse_i64(a.get(4)) else {
                return x.err(NOT_INT);
            };
            min_idle = v;
            if n < 8 {
                return x.err(SYNTAX);
            }
            at += 2;
        }
        let Some(count) = parse_i64(a.get(at + 2)) else {
            return x.err(NOT_INT);
        };
        let Some(start) = bound_id(x, a.get(at), true) else {
            return;
        };
        let Some(end) = bound_id(x, a.get(at + 1), false) else {
            return;
        };
        let consumer = (at + 3 < n).then(|| a.get(at + 3));
        range = Some((start, end, count.max(0) as usize, min_idle, consumer));
    }
    let (key, gname) = (a.get(1), a.get(2));
    let found = match x.typed(key, Kind::Stream, false) {
        Err(_) => return,
        Ok(f) => f,
    };
    let Some(i) = found.filter(|&i| stream_of(x.db(), i).group(gname).is_some()) else {
        return x.err(&nogroup_key(key, gname));
    };
    let now = super::streams::clock(x.core);
    let (db, mut r) = split(x);
    let g = stream_of(db, i).group(gname).expect("checked");
    let Some((start, end, count, min_idle, consumer)) = range else {
        r.array(4);
        r.int(g.pel.len() as i64);
        match (g.pel.first_key_value(), g.pel.last_key_value()) {
            (Some((f, _)), Some((l, _))) => {
                r.bulk(&f.to_bytes());
                r.bulk(&l.to_bytes());
                let with: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                r.array(with.len());
                for (name, c) in with {
                    r.array(2);
                    r.bulk(name);
                    r.bulk_int(c.pel.len() as i64);
                }
            }
            _ => {
                r.null();
                r.null();
                r.null_array();
            }
        }
        return;
    };
    let rows: Vec<_> = g
        .pending_range(consumer, start, end)
        .filter(|(_, nk)| min_idle <= 0 || now.saturating_sub(nk.delivery_time) as i64 >= min_idle)
        .take(count)
        .collect();
    r.array(rows.len());
    for (id, nk) in rows {
        r.array(4);
        r.bulk(&id.to_bytes());
        r.bulk(&nk.consumer);
        r.int(now.saturating_sub(nk.delivery_time) as i64);
        r.int(nk.delivery_count as i64);
    }
}

// ------------------------------------------------------------------------------------------
// XCLAIM XAUTOCLAIM

/// Reply for a claimed entry: its ID alone (JUSTID) or the entry.
fn reply_claimed(r: &mut Reply<'_>, s: &Stream, id: StreamId, justid: bool) {
    if justid {
        r.bulk(&id.to_bytes());
    } else {
        let pairs = s.get(id).unwrap_or_default();
        let p: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
        reply_entry(r, id, &p);
    }
}

pub fn xclaim(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (key, gname, cname) = (a.get(1), a.get(2), a.get(3));
    let found = match x.typed(key, Kind::Stream, false) {
        Err(_) => return,
        Ok(f) => f,
    };
    let Some(i) = found.filter(|&i| stream_of(x.db(), i).group(gname).is_some()) else {
        return x.err(&nogroup_key(key, gname));
    };
    let Some(min_idle) = parse_i64(a.get(4)) else {
        return x.err("ERR Invalid min-idle-time argument for XCLAIM");
    };
    let min_idle = min_idle.max(0) as u64;
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match parse_id_strict_quiet(a.get(j)) {
            Some(id) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = super::streams::clock(x.core);
    let (mut force, mut justid) = (false, false);
    let mut retry: Option<u64> = None;
    let mut time: Option<i64> = None;
    let mut lastid = StreamId::MIN;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = a.get(j).to_ascii_lowercase();
        match opt.as_slice() {
            b"force" => force = true,
            b"justid" => justid = true,
            b"idle" | b"time" | b"retrycount" if more > 0 => {
                j += 1;
                let Some(v) = parse_i64(a.get(j)) else {
                    let msg = format!(
                        "ERR Invalid {} option argument for XCLAIM",
                        String::from_utf8_lossy(&opt).to_uppercase()
                    );
                    return x.err(&msg);
                };
                match opt.as_slice() {
                    b"idle" => time = Some(now as i64 - v),
                    b"time" => time = Some(v),
                    _ => retry = Some(v.max(0) as u64),
                }
            }
            b"lastid" if more > 0 => {
                j += 1;
                let Some(id) = strict_id(x, a.get(j)) else {
                    return;
                };
                lastid = id;
            }
            _ => {
                let msg = format!(
                    "ERR Unrecognized XCLAIM option '{}'",
                    String::from_utf8_lossy(a.get(j))
                );
                return x.err(&msg);
            }
        }
        j += 1;
    }
    // A delivery time in the future or negative is taken as now (clients compute it from
    // their own clocks; Redis does not fail them for a skew).
    let dtime = match time {
        Some(t) if t >= 0 && t <= now as i64 => t as u64,
        _ => now,
    };
    let (db, mut r) = split(x);
    let mut log = Vec::new();
    let mut out: Vec<StreamId> = Vec::new();
    stream_mut(
        db,
        i,
        |s| {
            let mut moved_last = false;
            {
                let g = s.group_mut(gname).expect("checked");
                if lastid > g.last_id {
                    g.last_id = lastid;
                    moved_last = true;
                }
            }
            let mut cons: Option<Arc<[u8]>> = None;
            for &id in &ids {
                let exists = s.contains(id);
                let g = s.group_mut(gname).expect("checked");
                if !exists {
                    // Gone from the stream: the pending entry goes too.
                    if let Some(nk) = g.pel.get(&id).cloned() {
                        log.push(xclaim_record(
                            key,
                            gname,
                            g,
                            &nk.consumer,
                            id,
                            nk.delivery_time,
                            nk.delivery_count,
                        ));
                        g.ack(id);
                        moved_last = false;
                    }
                    continue;
                }
                let prior = g.pel.get(&id).cloned();
                if prior.is_none() && !force {
                    continue;
                }
                if let Some(nk) = &prior {
                    if min_idle > 0 && now.saturating_sub(nk.delivery_time) < min_idle {
                        continue;
                    }
                }
                let c = cons.get_or_insert_with(|| g.consumer(cname, now).0).clone();
                if let Some(cc) = g.consumers.get_mut(&c) {
                    cc.seen_time = now;
                }
                let old = prior.map_or(0, |n| n.delivery_count);
                let count = match retry {
                    Some(n) => n,
                    None if !justid => old + 1,
                    None => old,
                };
                g.assign(id, &c, dtime, count);
                log.push(xclaim_record(key, gname, g, cname, id, dtime, count));
                moved_last = false;
                out.push(id);
            }
            if moved_last {
                log.push(setid_record(key, gname, s.group(gname).expect("checked")));
            }
            r.array(out.len());
            for &id in &out {
                reply_claimed(&mut r, s, id, justid);
            }
            !log.is_empty()
        },
        |changed| *changed,
    );
    for rec in log {
        super::streams::log_effect(x.core, rec);
    }
}

fn parse_id_strict_quiet(b: &[u8]) -> Option<StreamId> {
    match super::streams::parse_id_opt(b, 0, true, false) {
        Some((ms, Some(seq))) => Some(StreamId::new(ms, seq)),
        _ => None,
    }
}

pub fn xautoclaim(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let (key, gname, cname) = (a.get(1), a.get(2), a.get(3));
    let found = match x.typed(key, Kind::Stream, false) {
        Err(_) => return,
        Ok(f) => f,
    };
    let Some(min_idle) = parse_i64(a.get(4)) else {
        return x.err("ERR Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let min_idle = min_idle.max(0) as u64;
    let Some(start) = bound_id(x, a.get(5), true) else {
        return;
    };
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    // Redis scans at most ten PEL entries per entry asked for.
    const ATTEMPTS_FACTOR: u64 = 10;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if a.get(j).eq_ignore_ascii_case(b"count") && more > 0 {
            let max = (i64::MAX as u64) / 16;
            match parse_i64(a.get(j + 1)) {
                Some(n) if n >= 1 && (n as u64) <= max => count = n as u64,
                _ => return x.err("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if a.get(j).eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return x.err(SYNTAX);
        }
        j += 1;
    }
    let Some(i) = found.filter(|&i| stream_of(x.db(), i).group(gname).is_some()) else {
        return x.err(&nogroup_key(key, gname));
    };
    let now = super::streams::clock(x.core);
    let (db, mut r) = split(x);
    let mut log = Vec::new();
    stream_mut(
        db,
        i,
        |s| {
            let mut attempts = count * ATTEMPTS_FACTOR;
            let mut left = count;
            let mut claimed = Vec::new();
            let mut deleted = Vec::new();
            let mut cursor = start;
            let mut next = StreamId::MIN;
            let mut cons: Option<Arc<[u8]>> = None;
            loop {
                let g = s.group(gname).expect("checked");
                let Some((&id, nk)) = g.pel.range(cursor..).next() else {
                    break;
                };
                if attempts == 0 || left == 0 {
                    next = id;
                    break;
                }
                attempts -= 1;
                cursor = match id.next() {
                    Some(n) => n,
                    None => StreamId::MAX,
                };
                let nk = nk.clone();
                if !s.contains(id) {
                    let g = s.group_mut(gname).expect("checked");
                    log.push(xclaim_record(
                        key,
                        gname,
                        g,
                        &nk.consumer,
                        id,
                        nk.delivery_time,
                        nk.delivery_count,
                    ));
                    g.ack(id);
                    deleted.push(id);
                    left -= 1;
                } else if min_idle == 0 || now.saturating_sub(nk.delivery_time) >= min_idle {
                    let g = s.group_mut(gname).expect("checked");
                    let c = cons.get_or_insert_with(|| g.consumer(cname, now).0).clone();
                    if let Some(cc) = g.consumers.get_mut(&c) {
                        cc.seen_time = now;
                    }
                    let n = if justid {
                        nk.delivery_count
                    } else {
                        nk.delivery_count + 1
                    };
                    g.assign(id, &c, now, n);
                    log.push(xclaim_record(key, gname, g, cname, id, now, n));
                    claimed.push(id);
                    left -= 1;
                }
                if id == StreamId::MAX {
                    break;
                }
            }
            r.array(3);
            r.bulk(&next.to_bytes());
            r.array(claimed.len());
            for &id in &claimed {
                reply_claimed(&mut r, s, id, justid);
            }
            r.array(deleted.len());
            for id in &deleted {
                r.bulk(&id.to_bytes());
            }
            !log.is_empty()
        },
        |changed| *changed,
    );
    for rec in log {
        super::streams::log_effect(x.core, rec);
    }
}

// ------------------------------------------------------------------------------------------
// XINFO

fn lag_reply(r: &mut Reply<'_>, s: &Stream, g: &Group) {
    match s.lag(g) {
        Some(l) => r.int(l),
        None => r.null(),
    }
}

fn entries_read_reply(r: &mut Reply<'_>, g: &Group) {
    if g.entries_read == INVALID_ENTRIES_READ {
        r.null();
    } else {
        r.int(g.entries_read);
    }
}

pub fn xinfo(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = crate::commands::table::check_sub(x, &a, "xinfo") else {
        return;
    };
    if sub == "help" {
        return help(x, XINFO_HELP);
    }
    let key = a.get(2);
    let i = match x.typed(key, Kind::Stream, false) {
        Err(_) => return,
        Ok(None) => return x.err("ERR no such key"),
        Ok(Some(i)) => i,
    };
    let now = super::streams::clock(x.core);
    match sub {
        "consumers" => {
            let gname = a.get(3);
            if stream_of(x.db(), i).group(gname).is_none() {
                return x.err(&nogroup_for(gname, key));
            }
            let (db, mut r) = split(x);
            let g = stream_of(db, i).group(gname).expect("checked");
            r.array(g.consumers.len());
            for (name, c) in &g.consumers {
                r.map(3);
                r.bulk(b"name");
                r.bulk(name);
                r.bulk(b"pending");
                r.int(c.pel.len() as i64);
                r.bulk(b"idle");
                r.int(now.saturating_sub(c.seen_time) as i64);
            }
        }
        "groups" => {
            let (db, mut r) = split(x);
            let s = stream_of(db, i);
            r.array(s.groups().len());
            for (name, g) in s.groups() {
                r.map(6);
                r.bulk(b"name");
                r.bulk(name);
                r.bulk(b"consumers");
                r.int(g.consumers.len() as i64);
                r.bulk(b"pending");
                r.int(g.pel.len() as i64);
                r.bulk(b"last-delivered-id");
                r.bulk(&g.last_id.to_bytes());
                r.bulk(b"entries-read");
                entries_read_reply(&mut r, g);
                r.bulk(b"lag");
                lag_reply(&mut r, s, g);
            }
        }
        _ => xinfo_stream(x, &a, i),
    }
}

fn xinfo_stream(x: &mut Exec<'_, '_>, a: &Args<'_>, i: crate::keyspace::Idx) {
    let opts = a.len() - 3;
    let mut full = false;
    let mut count: i64 = 10;
    if opts > 0 {
        if (opts != 1 && opts != 3) || !a.get(3).eq_ignore_ascii_case(b"full") {
            return subcommand_error(x, "XINFO", a.get(1));
        }
        full = true;
        if opts == 3 {
            if !a.get(4).eq_ignore_ascii_case(b"count") {
                return subcommand_error(x, "XINFO", a.get(1));
            }
            let Some(n) = parse_i64(a.get(5)) else {
                return x.err(NOT_INT);
            };
            count = if n < 0 { 10 } else { n };
        }
    }
    let (db, mut r) = split(x);
    let s = stream_of(db, i);
    r.map(if full { 9 } else { 10 });
    r.bulk(b"length");
    r.int(s.len() as i64);
    r.bulk(b"radix-tree-keys");
    r.int(s.node_count() as i64);
    r.bulk(b"radix-tree-nodes");
    // The index is a B-tree, not a radix tree: report its node count plus the root.
    r.int(s.node_count() as i64 + 1);
    r.bulk(b"last-generated-id");
    r.bulk(&s.last_id().to_bytes());
    r.bulk(b"max-deleted-entry-id");
    r.bulk(&s.max_deleted_id().to_bytes());
    r.bulk(b"entries-added");
    r.int(s.entries_added() as i64);
    r.bulk(b"recorded-first-entry-id");
    r.bulk(&s.first_id().to_bytes());
    if !full {
        r.bulk(b"groups");
        r.int(s.groups().len() as i64);
        for (label, rev) in [(&b"first-entry"[..], false), (&b"last-entry"[..], true)] {
            r.bulk(label);
            let e = s.collect(StreamId::MIN, StreamId::MAX, rev, 1);
            match e.first() {
                Some((id, pairs)) => {
                    let p: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
                    reply_entry(&mut r, *id, &p);
                }
                None => r.null(),
            }
        }
        return;
    }
    let count = count as usize;
    r.bulk(b"entries");
    super::streams::reply_range(&mut r, s, StreamId::MIN, StreamId::MAX, false, count);
    r.bulk(b"groups");
    r.array(s.groups().len());
    let cap = |n: usize| if count == 0 { n } else { n.min(count) };
    for (name, g) in s.groups() {
        r.map(7);
        r.bulk(b"name");
        r.bulk(name);
        r.bulk(b"last-delivered-id");
        r.bulk(&g.last_id.to_bytes());
        r.bulk(b"entries-read");
        entries_read_reply(&mut r, g);
        r.bulk(b"lag");
        lag_reply(&mut r, s, g);
        r.bulk(b"pel-count");
        r.int(g.pel.len() as i64);
        r.bulk(b"pending");
        r.array(cap(g.pel.len()));
        for (id, nk) in g.pel.iter().take(cap(g.pel.len())) {
            r.array(4);
            r.bulk(&id.to_bytes());
            r.bulk(&nk.consumer);
            r.int(nk.delivery_time as i64);
            r.int(nk.delivery_count as i64);
        }
        r.bulk(b"consumers");
        r.array(g.consumers.len());
        for (cn, c) in &g.consumers {
            r.map(4);
            r.bulk(b"name");
            r.bulk(cn);
            r.bulk(b"seen-time");
            r.int(c.seen_time as i64);
            r.bulk(b"pel-count");
            r.int(c.pel.len() as i64);
            r.bulk(b"pending");
            r.array(cap(c.pel.len()));
            for id in c.pel.iter().take(cap(c.pel.len())) {
                let nk = &g.pel[id];
                r.array(3);
                r.bulk(&id.to_bytes());
                r.int(nk.delivery_time as i64);
                r.int(nk.delivery_count as i64);
            }
        }
    }
}
