//! Connection commands: PING, ECHO, AUTH, HELLO, QUIT, RESET and CLIENT. What they may
//! not touch: the keyspace (CLIENT UNBLOCK reaches blocked clients through `blocking`).

use std::fmt::Write as _;

use crate::commands::keys::help;
use crate::commands::server::VERSION;
use crate::commands::strings::SYNTAX;
use crate::commands::table::check_sub;
use crate::protocol::{parse_i64, Args};
use crate::service::{Client, Core, Exec};

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

pub fn auth(x: &mut Exec<'_, '_>, a: Args<'_>) {
    if a.len() > 3 {
        return x.err(SYNTAX);
    }
    if a.len() == 2 && x.core.acl.default_needs_no_auth() {
        return x.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    let (user, pass) = if a.len() == 2 {
        (&b"default"[..], a.get(1))
    } else {
        (a.get(1), a.get(2))
    };
    if crate::commands::acl_cmd::authenticate(x, user, pass, "AUTH") {
        x.r().ok();
    } else {
        crate::commands::acl_cmd::wrongpass(x);
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
        Some((u, p)) if !crate::commands::acl_cmd::authenticate(x, u, p, "HELLO") => {
            return crate::commands::acl_cmd::wrongpass(x);
        }
        Some(_) => {}
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
    crate::commands::transactions::discard_all(x.core, x.client.id);
    crate::commands::pubsub::leave_all(x);
    crate::commands::introspection::closed(x.core, x.client.id);
    let c = &mut *x.client;
    c.reply = crate::service::ReplyMode::On;
    c.db = 0;
    c.resp3 = false;
    c.name.clear();
    c.no_evict = false;
    c.authed = x.core.acl.default_needs_no_auth();
    c.user = b"default".to_vec();
    x.r().simple("RESET");
}

// ---------------------------------------------------------------------------------------------
// CLIENT

fn client_line(core: &Core, c: &Client, out: &mut String) {
    let now = std::time::Instant::now();
    let _ = writeln!(
        out,
        "id={} addr={} laddr={} fd=-1 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 \
         multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 \
         tot-mem=0 events=r cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={}",
        c.id,
        c.addr,
        c.laddr,
        String::from_utf8_lossy(&c.name),
        now.saturating_duration_since(c.created).as_secs(),
        now.saturating_duration_since(c.last).as_secs(),
        if c.no_evict { "e" } else { "N" },
        c.db,
        c.last_cmd,
        String::from_utf8_lossy(&c.user),
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
    "PAUSE <timeout> [WRITE|ALL]",
    "REPLY (ON|OFF|SKIP)",
    "UNPAUSE",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "SETNAME <name>",
    "HELP",
];

/// CLIENT UNBLOCK id [TIMEOUT|ERROR].
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
    let done = crate::commands::blocking::unblock(x.core, x.ctx, id as u64, error);
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
        "pause" => crate::commands::introspection::client_pause(x, a),
        "unpause" => crate::commands::introspection::client_unpause(x),
        "reply" => {
            use crate::service::ReplyMode;
            match a.get(2).to_ascii_lowercase().as_slice() {
                b"on" => {
                    x.client.reply = ReplyMode::On;
                    x.r().ok();
                }
                b"off" => x.client.reply = ReplyMode::Off,
                b"skip" => {
                    if x.client.reply == ReplyMode::On {
                        x.client.reply = ReplyMode::SkipNext;
                    }
                }
                _ => x.err(SYNTAX),
            }
        }
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
    let me = x.client.id;
    let victims: Vec<_> = x
        .clients()
        .filter(|c| id.is_none_or(|i| c.id == i))
        .filter(|c| user.is_none_or(|u| c.user == u))
        .filter(|c| addr.is_none_or(|ad| c.addr.as_bytes() == ad))
        .filter(|c| laddr.is_none_or(|ad| c.laddr.as_bytes() == ad))
        .filter(|c| !(skipme && c.id == me))
        .map(|c| c.conn)
        .collect();
    let n = victims.len();
    x.core.kill.extend(victims);
    x.r().int(n as i64);
}
