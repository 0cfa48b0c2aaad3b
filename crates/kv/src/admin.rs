//! Connection and server commands: handshakes, clients, COMMAND, INFO, CONFIG, databases.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::{parse_memory, Policy, POLICY_NAMES};
use crate::glob;
use crate::keys::help;
use crate::resp::{parse_i64, Args, Reply};
use crate::server::{Client, Core, Exec};
use crate::store::Db;
use crate::strings::{NOT_INT, SYNTAX};
use crate::table::{check_sub, Command, COMMANDS, FLAG_NAMES, F_FAST, F_READONLY, F_WRITE};

const VERSION: &str = "7.0.15";
const BAD_NAME: &str = "ERR Client names cannot contain spaces, newlines or special characters.";

pub fn ping(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match a.len() {
        1 => x.r().simple("PONG"),
        2 => x.r().bulk(a.get(1)),
        _ => x.err("ERR wrong number of arguments for 'ping' command"),
    }
}

pub fn echo(x: &mut Exec<'_, '_>, a: Args<'_>) {
    x.r().bulk(a.get(1));
}

fn password_ok(core: &Core, user: &[u8], pass: &[u8]) -> bool {
    user == b"default"
        && core
            .cfg
            .requirepass
            .as_ref()
            .is_none_or(|p| p.as_bytes() == pass)
}

pub fn auth(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() > 3 {
        return x.err(SYNTAX);
    }
    if a.len() == 2 && x.core.cfg.requirepass.is_none() {
        return x.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    let (user, pass) = if a.len() == 2 {
        (&b"default"[..], a.get(1))
    } else {
        (a.get(1), a.get(2))
    };
    if password_ok(x.core, user, pass) {
        x.client.authed = true;
        x.r().ok();
    } else {
        x.err("WRONGPASS invalid username-password pair or user is disabled.");
    }
}

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

pub fn hello(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut ver = None;
    let mut j = 1;
    if a.len() >= 2 {
        match parse_i64(a.get(1)) {
            Some(v) if (2..=3).contains(&v) => ver = Some(v),
            Some(_) => return x.err("NOPROTO unsupported protocol version"),
            None => return x.err("ERR Protocol version is not an integer or out of range"),
        }
        j = 2;
    }
    let mut auth = None;
    let mut name = None;
    while j < a.len() {
        let opt = a.get(j).to_ascii_uppercase();
        let left = a.len() - j - 1;
        if opt == b"AUTH" && left >= 2 {
            auth = Some((a.get(j + 1), a.get(j + 2)));
            j += 3;
        } else if opt == b"SETNAME" && left >= 1 {
            if !valid_name(a.get(j + 1)) {
                return x.err(BAD_NAME);
            }
            name = Some(a.get(j + 1));
            j += 2;
        } else {
            return x.err(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(a.get(j))
            ));
        }
    }
    match auth {
        Some((u, p)) => {
            if !password_ok(x.core, u, p) {
                return x.err("WRONGPASS invalid username-password pair or user is disabled.");
            }
            x.client.authed = true;
        }
        None if !x.client.authed => {
            return x.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        None => {}
    }
    if let Some(n) = name {
        x.client.name = n.to_vec();
    }
    if let Some(v) = ver {
        x.client.resp3 = v == 3;
    }
    let proto = if x.client.resp3 { 3 } else { 2 };
    let id = x.client.id as i64;
    let mut r = x.r();
    r.map(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(VERSION.as_bytes());
    r.bulk(b"proto");
    r.int(proto);
    r.bulk(b"id");
    r.int(id);
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array(0);
}

pub fn quit(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    x.r().ok();
    x.client.closing = true;
}

pub fn reset(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    // As Redis's resetCommand: the transaction and watches go, and every channel and
    // pattern is left without an unsubscribe message.
    crate::multi::discard_all(x.core, x.client.id);
    crate::pubsub::leave_all(x);
    let c = &mut *x.client;
    c.db = 0;
    c.resp3 = false;
    c.name.clear();
    c.no_evict = false;
    c.authed = x.core.cfg.requirepass.is_none();
    x.r().simple("RESET");
}

/// Redis's `getIntFromObjectOrReply`: `custom` replaces both of its messages.
pub fn int32_arg(x: &mut Exec<'_, '_>, arg: &[u8], custom: Option<&str>) -> Option<i32> {
    let msg = match parse_i64(arg) {
        Some(n) => match i32::try_from(n) {
            Ok(v) => return Some(v),
            Err(_) => "ERR value is out of range, value must between -2147483648 and 2147483647",
        },
        None => NOT_INT,
    };
    x.err(custom.unwrap_or(msg));
    None
}

/// A database number: an `int`, then in range.
pub fn db_index(x: &mut Exec<'_, '_>, arg: &[u8], custom: Option<&str>) -> Option<usize> {
    let n = int32_arg(x, arg, custom)?;
    if n < 0 || n as usize >= x.core.dbs.len() {
        x.err("ERR DB index is out of range");
        return None;
    }
    Some(n as usize)
}

pub fn select(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if let Some(db) = db_index(x, a.get(1), None) {
        x.client.db = db;
        x.r().ok();
    }
}

pub fn swapdb(x: &mut Exec<'_, '_>, a: Args<'_>) {
    // Redis parses both indexes before checking either's range: `SWAPDB 16 abc` is an
    // "invalid second DB index", not "out of range" (found by the differential test).
    let Some(d1) = int32_arg(x, a.get(1), Some("ERR invalid first DB index")) else {
        return;
    };
    let Some(d2) = int32_arg(x, a.get(2), Some("ERR invalid second DB index")) else {
        return;
    };
    let n = x.core.dbs.len();
    let (Ok(d1), Ok(d2)) = (usize::try_from(d1), usize::try_from(d2)) else {
        return x.err("ERR DB index is out of range");
    };
    if d1 >= n || d2 >= n {
        return x.err("ERR DB index is out of range");
    }
    if d1 != d2 {
        swap_dbs(&mut x.core.dbs, d1, d2);
    }
    x.r().ok();
}

/// Swap the keys of two databases; watchers stay with the database number, and see their
/// key change if it exists on either side.
fn swap_dbs(dbs: &mut [Db], d1: usize, d2: usize) {
    let (lo, hi) = dbs.split_at_mut(d1.max(d2));
    let (a, b) = (&mut lo[d1.min(d2)], &mut hi[0]);
    a.touch_watched_present(Some(b));
    b.touch_watched_present(Some(a));
    let (wa, wb) = (a.take_watched(), b.take_watched());
    std::mem::swap(a, b);
    a.put_watched(wa);
    b.put_watched(wb);
}

pub fn dbsize(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let n = x.db().len();
    x.r().int(n as i64);
}

fn flush_arg(x: &mut Exec<'_, '_>, a: &Args<'_>) -> bool {
    match a.len() {
        1 => true,
        2 if a.get(1).eq_ignore_ascii_case(b"async") || a.get(1).eq_ignore_ascii_case(b"sync") => {
            true
        }
        _ => {
            x.err(SYNTAX);
            false
        }
    }
}

pub fn flushdb(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if flush_arg(x, &a) {
        if crate::lazyfree::wants_async(&a, &x.core.extra) {
            crate::lazyfree::clear_async(x.db());
        } else {
            x.db().clear();
        }
        x.r().ok();
    }
}

pub fn flushall(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if flush_arg(x, &a) {
        if crate::lazyfree::wants_async(&a, &x.core.extra) {
            x.core.dbs.iter_mut().for_each(crate::lazyfree::clear_async);
        } else {
            x.core.dbs.iter_mut().for_each(Db::clear);
        }
        x.r().ok();
    }
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

pub fn time(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let now = unix_now();
    let mut r = x.r();
    r.array(2);
    r.bulk(now.as_secs().to_string().as_bytes());
    r.bulk(now.subsec_micros().to_string().as_bytes());
}

pub fn lastsave(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    let started = unix_now().as_secs() - x.core.start.elapsed().as_secs();
    x.r().int(started as i64);
}

pub fn function(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match check_sub(x, &a, "function") {
        Some("flush") => flush_option(x, &a, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"),
        Some("list") => {
            let mut j = 2;
            while j < a.len() {
                let opt = a.get(j).to_ascii_lowercase();
                if opt == b"withcode" {
                    j += 1;
                } else if opt == b"libraryname" {
                    if j + 1 >= a.len() {
                        return x.err("ERR library name argument was not given");
                    }
                    j += 2;
                } else {
                    return x.err(&format!(
                        "ERR Unknown argument {}",
                        String::from_utf8_lossy(a.get(j))
                    ));
                }
            }
            x.r().array(0)
        }
        Some(_) => help(x, &["FUNCTION <subcommand>: this server has no functions."]),
        None => {}
    }
}

pub fn script(x: &mut Exec<'_, '_>, a: Args<'_>) {
    match check_sub(x, &a, "script") {
        Some("flush") => flush_option(x, &a, "ERR SCRIPT FLUSH only support SYNC|ASYNC option"),
        Some("exists") => {
            let mut r = x.r();
            r.array(a.len() - 2);
            for _ in 2..a.len() {
                r.int(0);
            }
        }
        Some(_) => help(x, &["SCRIPT <subcommand>: this server has no scripts."]),
        None => {}
    }
}

fn flush_option(x: &mut Exec<'_, '_>, a: &Args<'_>, err: &str) {
    let ok = match a.len() {
        2 => true,
        3 => a.get(2).eq_ignore_ascii_case(b"sync") || a.get(2).eq_ignore_ascii_case(b"async"),
        _ => false,
    };
    if ok {
        x.r().ok();
    } else {
        x.err(err);
    }
}

pub fn cluster(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if check_sub(x, &a, "cluster").is_some() {
        x.err("ERR This instance has cluster support disabled");
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: nothing is persisted yet, so every form
/// but ABORT stops the loop (which closes every connection; like Redis, no reply).
pub fn shutdown(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut abort = false;
    for opt in a.iter().skip(1) {
        match opt.to_ascii_lowercase().as_slice() {
            b"nosave" | b"save" | b"now" | b"force" => {}
            b"abort" => abort = true,
            _ => return x.err(SYNTAX),
        }
    }
    if abort {
        return x.err("ERR No shutdown in progress.");
    }
    match &x.core.stop {
        Some(stop) => {
            tracing::warn!("SHUTDOWN requested by client id={}", x.client.id);
            stop.stop();
            x.client.closing = true;
        }
        None => x.err("ERR SHUTDOWN is not available on this server"),
    }
}

pub fn eval(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    x.err("ERR scripting is not supported by this server");
}

pub fn evalsha(x: &mut Exec<'_, '_>, _a: Args<'_>) {
    x.err("NOSCRIPT No matching script. Please use EVAL.");
}

// ---------------------------------------------------------------------------------------------
// CLIENT

fn client_line(core: &Core, c: &Client, out: &mut String) {
    let now = std::time::Instant::now();
    let _ = writeln!(
        out,
        "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 \
         multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 \
         tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        String::from_utf8_lossy(&c.name),
        now.saturating_duration_since(c.created).as_secs(),
        now.saturating_duration_since(c.last).as_secs(),
        if c.no_evict { "e" } else { "N" },
        c.db,
        c.last_cmd,
        if c.resp3 { 3 } else { 2 },
        String::from_utf8_lossy(&c.lib_name),
        String::from_utf8_lossy(&c.lib_ver),
    );
    let _ = core;
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "ID",
    "INFO",
    "KILL <ip:port> | <option> <value> [<option> <value> [...]]",
    "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
    "NO-EVICT (ON|OFF)",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "SETNAME <name>",
    "HELP",
];

/// CLIENT UNBLOCK id [TIMEOUT|ERROR] (issue 11).
fn client_unblock(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(id) = parse_i64(a.get(2)) else {
        return x.err("ERR value is not an integer or out of range");
    };
    let error = match a.len() {
        3 => false,
        4 if a.get(3).eq_ignore_ascii_case(b"timeout") => false,
        4 if a.get(3).eq_ignore_ascii_case(b"error") => true,
        4 => return x.err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
        _ => return x.err("ERR syntax error"),
    };
    let done = crate::blocking::unblock(x.core, x.ctx, id as u64, error);
    x.r().int(i64::from(done));
}

pub fn client(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = check_sub(x, &a, "client") else {
        return;
    };
    match sub {
        "unblock" => client_unblock(x, a),
        "id" => {
            let id = x.client.id as i64;
            x.r().int(id);
        }
        "getname" => {
            if x.client.name.is_empty() {
                x.r().null();
            } else {
                let n = x.client.name.clone();
                x.r().bulk(&n);
            }
        }
        "setname" => {
            if !valid_name(a.get(2)) {
                return x.err(BAD_NAME);
            }
            x.client.name = a.get(2).to_vec();
            x.r().ok();
        }
        "setinfo" => {
            let attr = a.get(2).to_ascii_lowercase();
            let v = a.get(3);
            let field = match attr.as_slice() {
                b"lib-name" => "lib-name",
                b"lib-ver" => "lib-ver",
                _ => {
                    return x.err(&format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(a.get(2))
                    ))
                }
            };
            if !valid_name(v) {
                return x.err(&format!(
                    "ERR {field} cannot contain spaces, newlines or special characters."
                ));
            }
            if field == "lib-name" {
                x.client.lib_name = v.to_vec();
            } else {
                x.client.lib_ver = v.to_vec();
            }
            x.r().ok();
        }
        "no-evict" => {
            let v = a.get(2).to_ascii_lowercase();
            match v.as_slice() {
                b"on" => x.client.no_evict = true,
                b"off" => x.client.no_evict = false,
                _ => return x.err(SYNTAX),
            }
            x.r().ok();
        }
        "info" => {
            let mut s = String::new();
            client_line(x.core, x.client, &mut s);
            x.r().verbatim(s.as_bytes());
        }
        "list" => client_list(x, a),
        "kill" => client_kill(x, a),
        _ => help(x, CLIENT_HELP),
    }
}

fn client_list(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut ids: Option<Vec<u64>> = None;
    let mut j = 2;
    while j < a.len() {
        let opt = a.get(j).to_ascii_lowercase();
        if opt == b"type" && j + 1 < a.len() {
            let t = a.get(j + 1).to_ascii_lowercase();
            if !matches!(
                t.as_slice(),
                b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
            ) {
                return x.err(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(a.get(j + 1))
                ));
            }
            if t != b"normal" {
                ids = Some(Vec::new());
            }
            j += 2;
        } else if opt == b"id" && j + 1 < a.len() {
            let mut v = ids.take().unwrap_or_default();
            j += 1;
            while j < a.len() {
                match parse_i64(a.get(j)) {
                    Some(n) if n > 0 => v.push(n as u64),
                    _ => return x.err("ERR Invalid client ID"),
                }
                j += 1;
            }
            ids = Some(v);
        } else {
            return x.err(SYNTAX);
        }
    }
    let mut s = String::new();
    let mut all: Vec<&Client> = x.clients().collect();
    all.sort_by_key(|c| c.id);
    for c in all {
        if ids.as_ref().is_none_or(|v| v.contains(&c.id)) {
            client_line(x.core, c, &mut s);
        }
    }
    x.r().verbatim(s.as_bytes());
}

fn client_kill(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() == 3 {
        let addr = a.get(2);
        let hit = x
            .clients()
            .find(|c| c.addr.as_bytes() == addr)
            .map(|c| c.conn);
        return match hit {
            Some(id) => {
                x.core.kill.push(id);
                x.r().ok();
            }
            None => x.err("ERR No such client"),
        };
    }
    let (mut id, mut addr, mut laddr, mut user) = (None, None, None, None);
    let mut skipme = true;
    let mut j = 2;
    while j < a.len() {
        if j + 1 >= a.len() {
            return x.err(SYNTAX);
        }
        let opt = a.get(j).to_ascii_lowercase();
        let v = a.get(j + 1);
        match opt.as_slice() {
            b"id" => match parse_i64(v) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => return x.err("ERR client-id should be greater than 0"),
            },
            b"addr" => addr = Some(v),
            b"laddr" => laddr = Some(v),
            b"user" => user = Some(v),
            b"type" => {}
            b"skipme" => match v.to_ascii_lowercase().as_slice() {
                b"yes" => skipme = true,
                b"no" => skipme = false,
                _ => return x.err(SYNTAX),
            },
            _ => return x.err(SYNTAX),
        }
        j += 2;
    }
    if user.is_some_and(|u| u != b"default") {
        return x.r().int(0);
    }
    let me = x.client.id;
    let victims: Vec<_> = x
        .clients()
        .filter(|c| id.is_none_or(|i| c.id == i))
        .filter(|c| addr.is_none_or(|ad| c.addr.as_bytes() == ad))
        .filter(|c| laddr.is_none_or(|ad| c.laddr.as_bytes() == ad))
        .filter(|c| !(skipme && c.id == me))
        .map(|c| c.conn)
        .collect();
    let n = victims.len();
    x.core.kill.extend(victims);
    x.r().int(n as i64);
}

// ---------------------------------------------------------------------------------------------
// COMMAND

fn acl_categories(c: &Command) -> Vec<String> {
    let mut v = Vec::new();
    if c.flags & F_WRITE != 0 {
        v.push("@write".to_string());
    }
    if c.flags & F_READONLY != 0 {
        v.push("@read".to_string());
    }
    v.push(format!("@{}", c.group));
    if c.flags & F_FAST != 0 {
        v.push("@fast".to_string());
    } else {
        v.push("@slow".to_string());
    }
    v
}

fn command_info(r: &mut Reply<'_>, c: &Command, name: &str, arity: i32, subs: bool) {
    r.array(10);
    r.bulk(name.as_bytes());
    r.int(i64::from(arity));
    let flags: Vec<_> = FLAG_NAMES
        .iter()
        .filter(|(f, _)| c.flags & f != 0)
        .collect();
    r.set(flags.len());
    for (_, n) in flags {
        r.simple(n);
    }
    r.int(i64::from(c.keys.0));
    r.int(i64::from(c.keys.1));
    r.int(i64::from(c.keys.2));
    let cats = acl_categories(c);
    r.set(cats.len());
    for cat in cats {
        r.simple(&cat);
    }
    r.set(0);
    r.array(0);
    if subs {
        r.array(c.subs.len());
        for (sub, ar) in c.subs {
            command_info(r, c, &format!("{}|{}", c.name, sub), *ar, false);
        }
    } else {
        r.array(0);
    }
}

fn command_docs(r: &mut Reply<'_>, c: &Command) {
    r.bulk(c.name.as_bytes());
    let has_subs = !c.subs.is_empty();
    r.map(3 + usize::from(has_subs));
    r.bulk(b"summary");
    r.bulk(c.summary.as_bytes());
    r.bulk(b"since");
    r.bulk(c.since.as_bytes());
    r.bulk(b"group");
    r.bulk(c.group.as_bytes());
    if has_subs {
        r.bulk(b"subcommands");
        r.map(c.subs.len());
        for (sub, _) in c.subs {
            r.bulk(format!("{}|{}", c.name, sub).as_bytes());
            r.map(3);
            r.bulk(b"summary");
            r.bulk(format!("{} {}", c.name.to_uppercase(), sub.to_uppercase()).as_bytes());
            r.bulk(b"since");
            r.bulk(c.since.as_bytes());
            r.bulk(b"group");
            r.bulk(c.group.as_bytes());
        }
    }
}

fn lookup_cmd(name: &[u8]) -> Option<&'static Command> {
    let n = String::from_utf8_lossy(name).to_ascii_lowercase();
    COMMANDS.iter().find(|c| c.name == n)
}

pub fn command(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() == 1 {
        let mut r = x.r();
        r.array(COMMANDS.len());
        for c in COMMANDS {
            command_info(&mut r, c, c.name, c.arity, true);
        }
        return;
    }
    let Some(sub) = check_sub(x, &a, "command") else {
        return;
    };
    match sub {
        "count" => x.r().int(COMMANDS.len() as i64),
        "list" => {
            let mut pattern: Option<Vec<u8>> = None;
            if a.len() > 2 {
                let ok = a.len() == 5
                    && a.get(2).eq_ignore_ascii_case(b"filterby")
                    && a.get(3).eq_ignore_ascii_case(b"pattern");
                if !ok {
                    return x.err(SYNTAX);
                }
                pattern = Some(a.get(4).to_vec());
            }
            let names: Vec<_> = COMMANDS
                .iter()
                .filter(|c| {
                    pattern
                        .as_ref()
                        .is_none_or(|p| glob::matches(p, c.name.as_bytes()))
                })
                .collect();
            let mut r = x.r();
            r.array(names.len());
            for c in names {
                r.bulk(c.name.as_bytes());
            }
        }
        "info" => {
            let mut r = x.r();
            if a.len() == 2 {
                r.array(COMMANDS.len());
                for c in COMMANDS {
                    command_info(&mut r, c, c.name, c.arity, true);
                }
                return;
            }
            r.array(a.len() - 2);
            for name in a.iter().skip(2) {
                match lookup_cmd(name) {
                    Some(c) => command_info(&mut r, c, c.name, c.arity, true),
                    None => r.null_array(),
                }
            }
        }
        "docs" => {
            let list: Vec<&Command> = if a.len() == 2 {
                COMMANDS.iter().collect()
            } else {
                a.iter().skip(2).filter_map(lookup_cmd).collect()
            };
            let mut r = x.r();
            r.map(list.len());
            for c in list {
                command_docs(&mut r, c);
            }
        }
        _ => help(
            x,
            &[
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "COUNT",
                "DOCS [<command-name> ...]",
                "INFO [<command-name> ...]",
                "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
            ],
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// CONFIG

/// How a stored-only parameter is validated.
#[derive(Clone, Copy)]
pub enum Kind {
    Int(i64, i64),
    Bool,
    Memory,
    Text,
}

pub struct Extra {
    pub name: &'static str,
    pub alias: &'static str,
    pub kind: Kind,
    pub value: String,
}

/// Parameters this server keeps and reports but does not act on (the data types that use the
/// encoding thresholds come with the next issue; tools and client fixtures set them).
pub fn extra_defaults() -> Vec<Extra> {
    let e = |name, alias, kind, value: &str| Extra {
        name,
        alias,
        kind,
        value: value.to_string(),
    };
    use Kind::*;
    vec![
        e(
            "hash-max-listpack-entries",
            "hash-max-ziplist-entries",
            Int(0, i64::MAX),
            "512",
        ),
        e(
            "hash-max-listpack-value",
            "hash-max-ziplist-value",
            Int(0, i64::MAX),
            "64",
        ),
        e(
            "list-max-listpack-size",
            "list-max-ziplist-size",
            Int(i64::from(i32::MIN), i64::from(i32::MAX)),
            "-2",
        ),
        e("list-compress-depth", "", Int(0, i64::from(i32::MAX)), "0"),
        e("set-max-intset-entries", "", Int(0, i64::MAX), "512"),
        e(
            "zset-max-listpack-entries",
            "zset-max-ziplist-entries",
            Int(0, i64::MAX),
            "128",
        ),
        e(
            "zset-max-listpack-value",
            "zset-max-ziplist-value",
            Int(0, i64::MAX),
            "64",
        ),
        e("stream-node-max-bytes", "", Memory, "4096"),
        e("stream-node-max-entries", "", Int(0, i64::MAX), "100"),
        e("hll-sparse-max-bytes", "", Memory, "3000"),
        e("activerehashing", "", Bool, "yes"),
        e("lazyfree-lazy-eviction", "", Bool, "no"),
        e("lazyfree-lazy-expire", "", Bool, "no"),
        e("lazyfree-lazy-server-del", "", Bool, "no"),
        e("lazyfree-lazy-user-del", "", Bool, "no"),
        e("lazyfree-lazy-user-flush", "", Bool, "no"),
        e("latency-tracking", "", Bool, "yes"),
        e("notify-keyspace-events", "", Text, ""),
        e("timeout", "", Int(0, i64::from(i32::MAX)), "0"),
        e("tcp-keepalive", "", Int(0, i64::from(i32::MAX)), "300"),
        e("hz", "", Int(0, i64::from(i32::MAX)), "10"),
        e("slowlog-log-slower-than", "", Int(-1, i64::MAX), "10000"),
        e("slowlog-max-len", "", Int(0, i64::MAX), "128"),
        e("save", "", Text, ""),
        e("dbfilename", "", Text, "dump.rdb"),
        e("maxmemory-eviction-tenacity", "", Int(0, 100), "10"),
        e("active-expire-effort", "", Int(1, 10), "1"),
        e(
            "busy-reply-threshold",
            "lua-time-limit",
            Int(0, i64::MAX),
            "5000",
        ),
        e("stop-writes-on-bgsave-error", "", Bool, "yes"),
    ]
}

fn core_params(core: &Core) -> Vec<(&'static str, String)> {
    let c = &core.cfg;
    vec![
        ("databases", c.databases.to_string()),
        ("port", c.port.to_string()),
        ("bind", c.bind.clone()),
        ("maxmemory", c.maxmemory.to_string()),
        ("maxmemory-policy", c.maxmemory_policy.name().to_string()),
        ("maxmemory-samples", c.maxmemory_samples.to_string()),
        ("maxclients", c.maxclients.to_string()),
        ("requirepass", c.requirepass.clone().unwrap_or_default()),
        ("proto-max-bulk-len", c.proto_max_bulk_len.to_string()),
        (
            "client-query-buffer-limit",
            c.client_query_buffer_limit.to_string(),
        ),
        ("lfu-log-factor", c.lfu_log_factor.to_string()),
        ("lfu-decay-time", c.lfu_decay_time.to_string()),
        ("client-output-buffer-limit", c.output_limits.render()),
        // The log's own settings live with it (CONFIG SET appendonly changes them at run time).
        ("appendonly", yes_no(core.aof.cfg.enabled)),
        ("appendfsync", core.aof.cfg.fsync.name().to_string()),
        ("dir", core.aof.cfg.dir.display().to_string()),
        ("appendfilename", core.aof.cfg.filename.clone()),
        ("appenddirname", crate::aof::DIRNAME.to_string()),
        (
            "auto-aof-rewrite-percentage",
            core.aof.cfg.auto_rewrite_percentage.to_string(),
        ),
        (
            "auto-aof-rewrite-min-size",
            core.aof.cfg.auto_rewrite_min_size.to_string(),
        ),
    ]
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

pub fn config(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = check_sub(x, &a, "config") else {
        return;
    };
    match sub {
        "get" => config_get(x, a),
        "set" => config_set(x, a),
        "resetstat" => {
            let n = x.core.stats.len();
            x.core.stats = vec![Default::default(); n];
            x.core.counters = Default::default();
            x.r().ok();
        }
        "rewrite" => x.err("ERR The server is running without a config file"),
        _ => help(
            x,
            &[
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "SET <directive> <value>",
                "RESETSTAT",
                "REWRITE",
            ],
        ),
    }
}

fn config_get(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut all: Vec<(String, String)> = core_params(x.core)
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    for e in &x.core.extra {
        all.push((e.name.to_string(), e.value.clone()));
        if !e.alias.is_empty() {
            all.push((e.alias.to_string(), e.value.clone()));
        }
    }
    let pats: Vec<Vec<u8>> = a.iter().skip(2).map(|p| p.to_ascii_lowercase()).collect();
    let hits: Vec<&(String, String)> = all
        .iter()
        .filter(|(n, _)| pats.iter().any(|p| glob::matches(p, n.as_bytes())))
        .collect();
    let mut r = x.r();
    r.map(hits.len());
    for (n, v) in hits {
        r.bulk(n.as_bytes());
        r.bulk(v.as_bytes());
    }
}

fn set_failed(name: &[u8], why: &str) -> String {
    format!(
        "ERR CONFIG SET failed (possibly related to argument '{}') - {why}",
        String::from_utf8_lossy(name)
    )
}

fn config_set(x: &mut Exec<'_, '_>, a: Args<'_>) {
    // Fewer than one pair is an arity error (the table's -4); a pair cut short is Redis's
    // syntax error.
    if !a.len().is_multiple_of(2) {
        return x.err(crate::strings::SYNTAX);
    }
    // Validate everything first: CONFIG SET with several pairs is all or nothing.
    let mut pending = Vec::new();
    for k in (2..a.len()).step_by(2) {
        let name = a.get(k).to_ascii_lowercase();
        let v = String::from_utf8_lossy(a.get(k + 1)).into_owned();
        match check_param(x.core, &name, &v) {
            Ok(p) => pending.push(p),
            Err(e) => return x.err(&e),
        }
    }
    let limits_changed = pending.iter().any(|p| matches!(p, Set::OutputLimits(_)));
    for p in pending {
        apply_param(x.core, p);
    }
    if limits_changed {
        reapply_output_limits(x);
    }
    x.r().ok();
}

enum Set {
    MaxMemory(u64),
    Policy(Policy),
    Samples(usize),
    MaxClients(usize),
    Pass(Option<String>),
    BulkLen(u64),
    QueryLimit(u64),
    LfuLog(u32),
    LfuDecay(u32),
    Extra(usize, String),
    AppendOnly(bool),
    AppendFsync(crate::aof::Fsync),
    AutoRewritePct(u64),
    AutoRewriteMin(u64),
    OutputLimits(crate::config::OutputLimits),
}

/// CONFIG SET client-output-buffer-limit: every connected client takes its class's new limits
/// (Redis checks them against the new values from then on).
fn reapply_output_limits(x: &mut Exec<'_, '_>) {
    let targets: Vec<_> = x
        .clients()
        .map(|c| (c.conn, crate::limits::class_of(x.core.pubsub.count(c.id))))
        .collect();
    for (conn, class) in targets {
        crate::limits::apply(x.ctx, &x.core.cfg.output_limits, conn, class);
    }
}

fn int_arg(name: &[u8], v: &str, lo: i64, hi: i64) -> Result<i64, String> {
    let n = parse_i64(v.as_bytes())
        .ok_or_else(|| set_failed(name, "argument couldn't be parsed into an integer"))?;
    if n < lo || n > hi {
        return Err(set_failed(
            name,
            &format!("argument must be between {lo} and {hi} inclusive"),
        ));
    }
    Ok(n)
}

fn mem_arg(name: &[u8], v: &str) -> Result<u64, String> {
    parse_memory(v).ok_or_else(|| set_failed(name, "argument must be a memory value"))
}

fn check_param(core: &Core, name: &[u8], v: &str) -> Result<Set, String> {
    let big = i64::from(i32::MAX);
    Ok(match name {
        b"maxmemory" => Set::MaxMemory(mem_arg(name, v)?),
        b"maxmemory-policy" => Set::Policy(v.parse().map_err(|_| {
            set_failed(
                name,
                &format!("argument(s) must be one of the following: {POLICY_NAMES}"),
            )
        })?),
        b"maxmemory-samples" => Set::Samples(int_arg(name, v, 1, 64)? as usize),
        b"maxclients" => Set::MaxClients(int_arg(name, v, 1, big)? as usize),
        b"requirepass" => Set::Pass((!v.is_empty()).then(|| v.to_string())),
        b"proto-max-bulk-len" => Set::BulkLen(mem_arg(name, v)?.max(1)),
        b"client-query-buffer-limit" => Set::QueryLimit(mem_arg(name, v)?),
        b"client-output-buffer-limit" => Set::OutputLimits(
            core.cfg
                .output_limits
                .updated(v)
                .map_err(|why| set_failed(name, why))?,
        ),
        b"lfu-log-factor" => Set::LfuLog(int_arg(name, v, 0, big)? as u32),
        b"lfu-decay-time" => Set::LfuDecay(int_arg(name, v, 0, big)? as u32),
        b"databases" | b"port" | b"bind" | b"appendfilename" | b"appenddirname" => {
            return Err(set_failed(name, "can't set immutable config"))
        }
        b"dir" => return Err(set_failed(name, "can't set protected config")),
        b"auto-aof-rewrite-percentage" => {
            Set::AutoRewritePct(int_arg(name, v, 0, i64::from(i32::MAX))? as u64)
        }
        b"auto-aof-rewrite-min-size" => Set::AutoRewriteMin(mem_arg(name, v)?),
        b"appendonly" => match v.to_ascii_lowercase().as_str() {
            "yes" => Set::AppendOnly(true),
            "no" => Set::AppendOnly(false),
            _ => return Err(set_failed(name, "argument must be 'yes' or 'no'")),
        },
        b"appendfsync" => Set::AppendFsync(v.parse().map_err(|_| {
            set_failed(
                name,
                "argument(s) must be one of the following: always, everysec, no",
            )
        })?),
        _ => {
            let Some(pos) = core
                .extra
                .iter()
                .position(|e| e.name.as_bytes() == name || e.alias.as_bytes() == name)
            else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(name)
                ));
            };
            let value = match core.extra[pos].kind {
                Kind::Int(lo, hi) => int_arg(name, v, lo, hi)?.to_string(),
                Kind::Memory => mem_arg(name, v)?.to_string(),
                Kind::Bool => match v.to_ascii_lowercase().as_str() {
                    b @ ("yes" | "no") => b.to_string(),
                    _ => return Err(set_failed(name, "argument must be 'yes' or 'no'")),
                },
                Kind::Text => v.to_string(),
            };
            Set::Extra(pos, value)
        }
    })
}

fn apply_param(core: &mut Core, p: Set) {
    let c = &mut core.cfg;
    match p {
        Set::MaxMemory(v) => c.maxmemory = v,
        Set::Policy(v) => c.maxmemory_policy = v,
        Set::Samples(v) => c.maxmemory_samples = v,
        Set::MaxClients(v) => c.maxclients = v,
        Set::Pass(v) => c.requirepass = v,
        Set::BulkLen(v) => c.proto_max_bulk_len = v,
        Set::QueryLimit(v) => c.client_query_buffer_limit = v,
        Set::OutputLimits(v) => c.output_limits = v,
        Set::LfuLog(v) => c.lfu_log_factor = v,
        Set::LfuDecay(v) => c.lfu_decay_time = v,
        Set::Extra(pos, v) => core.extra[pos].value = v,
        Set::AppendOnly(true) => {
            // Redis starts a rewrite and answers OK; a failure shows in the log and INFO.
            if let Err(e) = core.aof.enable(&core.dbs) {
                tracing::warn!("cannot start the append-only log: {e}");
            }
        }
        Set::AppendOnly(false) => core.aof.disable(),
        Set::AutoRewritePct(v) => core.aof.cfg.auto_rewrite_percentage = v,
        Set::AutoRewriteMin(v) => core.aof.cfg.auto_rewrite_min_size = v,
        Set::AppendFsync(f) => {
            if let Err(e) = core.aof.set_fsync(f) {
                tracing::warn!("cannot start the fsync thread: {e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// INFO

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// Resident set size from /proc/self/statm (0 if unreadable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds from /proc/self/stat.
fn cpu_seconds() -> (f64, f64) {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else {
        return (0.0, 0.0);
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

pub fn info(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let mut want: Vec<String> = a
        .iter()
        .skip(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    if want.is_empty() || want.iter().any(|w| w == "default") {
        want.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    if want.iter().any(|w| w == "all" || w == "everything") {
        want.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
        want.push("commandstats".into());
    }
    let text = info_text(x, &want);
    x.r().verbatim(text.as_bytes());
}

fn info_text(x: &Exec<'_, '_>, want: &[String]) -> String {
    let core = &*x.core;
    let has = |s: &str| want.iter().any(|w| w == s);
    let mut out = String::new();
    let mut section = |title: &str, body: String| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n{body}");
    };
    let uptime = core.start.elapsed().as_secs();
    if has("server") {
        let mut b = String::new();
        let _ = write!(
            b,
            "redis_version:{VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
             redis_build_id:0\r\nredis_mode:standalone\r\nos:Linux\r\narch_bits:64\r\n\
             multiplexing_api:readyloop\r\nserver_name:readyloop-kv\r\nreadyloop_version:{}\r\n\
             process_id:{}\r\nprocess_supervised:no\r\ntcp_port:{}\r\nserver_time_usec:{}\r\n\
             uptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\nconfigured_hz:10\r\n\
             lru_clock:{}\r\nexecutable:\r\nconfig_file:\r\nio_threads_active:0\r\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            core.cfg.port,
            unix_now().as_micros(),
            uptime / 86400,
            core.clock,
        );
        section("Server", b);
    }
    if has("clients") {
        section(
            "Clients",
            format!(
                "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
                 client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\n\
                 blocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
                core.live_clients,
                core.cfg.maxclients,
                core.blocking.blocked_count(),
                core.blocking.timed_count()
            ),
        );
    }
    if has("memory") {
        let used = core.used_memory() as u64;
        let rss = rss_bytes();
        let dataset: u64 = core.dbs.iter().map(|d| d.used_bytes() as u64).sum();
        section(
            "Memory",
            format!(
                "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
                 used_memory_rss_human:{}\r\nused_memory_dataset:{dataset}\r\n\
                 maxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\
                 mem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\n\
                 used_memory_note:used_memory counts the keyspace's slots, hash table, heap \
                 values and deadline indexes plus 1 MiB and 1 KiB per client; used_memory_rss \
                 is the process's resident set\r\n",
                human(used),
                human(rss),
                core.cfg.maxmemory,
                human(core.cfg.maxmemory),
                core.cfg.maxmemory_policy.name(),
                if used > 0 {
                    rss as f64 / used as f64
                } else {
                    0.0
                },
            ) + &crate::lazyfree::info(),
        );
    }
    if has("persistence") {
        section(
            "Persistence",
            format!(
                "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\n\
                 rdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\n\
                 rdb_last_bgsave_status:ok\r\n{}",
                unix_now().as_secs() - uptime,
                core.aof.info()
            ),
        );
    }
    if has("stats") {
        let c = &core.counters;
        let expired: u64 = core.dbs.iter().map(|d| d.expired).sum();
        section(
            "Stats",
            format!(
                "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                 instantaneous_ops_per_sec:0\r\nrejected_connections:{}\r\nexpired_keys:{expired}\r\n\
                 evicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\n\
                 pubsub_channels:0\r\npubsub_patterns:0\r\ntotal_error_replies:{}\r\n",
                c.connections,
                c.commands,
                c.rejected_conns,
                c.evicted,
                c.keyspace_hits,
                c.keyspace_misses,
                c.error_replies
            ),
        );
    }
    if has("replication") {
        section(
            "Replication",
            "role:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n\
             master_repl_offset:0\r\nrepl_backlog_active:0\r\n"
                .to_string(),
        );
    }
    if has("cpu") {
        let (user, sys) = cpu_seconds();
        section(
            "CPU",
            format!("used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"),
        );
    }
    if has("modules") {
        section("Modules", String::new());
    }
    if has("errorstats") {
        let mut b = String::new();
        for (code, n) in &core.counters.errors {
            let _ = write!(b, "errorstat_{code}:count={n}\r\n");
        }
        section("Errorstats", b);
    }
    if has("cluster") {
        section("Cluster", "cluster_enabled:0\r\n".to_string());
    }
    if has("commandstats") {
        let mut b = String::new();
        for (c, st) in COMMANDS.iter().zip(&core.stats) {
            if st.calls + st.rejected + st.failed == 0 {
                continue;
            }
            let usec = st.nanos / 1000;
            let per = if st.calls > 0 {
                st.nanos as f64 / 1000.0 / st.calls as f64
            } else {
                0.0
            };
            let _ = write!(
                b,
                "cmdstat_{}:calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}\r\n",
                c.name, st.calls, usec, st.rejected, st.failed
            );
        }
        section("Commandstats", b);
    }
    if has("keyspace") {
        let mut b = String::new();
        for (i, db) in core.dbs.iter().enumerate() {
            if !db.is_empty() {
                let _ = write!(
                    b,
                    "db{i}:keys={},expires={},avg_ttl=0\r\n",
                    db.len(),
                    db.expires_len()
                );
            }
        }
        section("Keyspace", b);
    }
    out
}
