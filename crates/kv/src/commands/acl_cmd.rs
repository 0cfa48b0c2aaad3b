//! The ACL command (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, GENPASS, LOG, LOAD,
//! SAVE, DRYRUN, HELP), authentication (AUTH and HELLO's AUTH go through [`authenticate`]),
//! and the dispatcher's per-command check ([`refuse`]). The model is `acl.rs`. What it may not
//! touch: the keyspace.

use std::io::Read as _;

use crate::commands::acl::{merge_selectors, Acl, User};
use crate::commands::keys::help;
use crate::commands::table::{check_sub, COMMANDS};
use crate::protocol::{parse_i64, Args, OwnedArgs};
use crate::service::{Client, Core, Exec};

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// The dispatcher's check (only called while [`Acl::open`] is false): the NOPERM reply
/// text when the client's user may not run the request, after logging it.
#[cold]
pub fn refuse(core: &mut Core, client: &Client, ci: usize, a: &Args<'_>) -> Option<String> {
    // A deleted user's connection is being closed: it may not run anything meanwhile.
    let denied = match core.acl.users.get(&client.user) {
        Some(user) => user.check(ci, a).err()?,
        None => crate::commands::acl::Denied::Command(COMMANDS[ci].name.to_string()),
    };
    let context = if core.multi.in_multi(client.id) || core.multi.executing {
        "multi"
    } else {
        "toplevel"
    };
    let (reason, object) = denied.log();
    let info = client_info(client);
    let now = core.now_ms;
    core.acl
        .add_log(reason, context, object, client.user.clone(), info, now);
    Some(denied.noperm())
}

fn client_info(c: &Client) -> String {
    format!(
        "id={} addr={} laddr={} name={} db={} user={} resp={}",
        c.id,
        c.addr,
        c.laddr,
        String::from_utf8_lossy(&c.name),
        c.db,
        String::from_utf8_lossy(&c.user),
        if c.resp3 { 3 } else { 2 }
    )
}

/// AUTH and HELLO AUTH: on success the client is `user`; a failure is logged.
pub fn authenticate(x: &mut Exec<'_, '_>, user: &[u8], pass: &[u8], object: &str) -> bool {
    let ok = x
        .core
        .acl
        .users
        .get(user)
        .is_some_and(|u| u.enabled && u.password_ok(pass));
    if ok {
        x.client.user = user.to_vec();
        x.client.authed = true;
        return true;
    }
    let info = client_info(x.client);
    let now = x.core.now_ms;
    x.core.acl.add_log(
        "auth",
        "toplevel",
        object.as_bytes().to_vec(),
        user.to_vec(),
        info,
        now,
    );
    false
}

pub fn wrongpass(x: &mut Exec<'_, '_>) {
    x.err(WRONGPASS);
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
];

const NO_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

pub fn acl(x: &mut Exec<'_, '_>, a: Args<'_>) {
    let Some(sub) = check_sub(x, &a, "acl") else {
        return;
    };
    match sub {
        "setuser" => setuser(x, &a),
        "getuser" => getuser(x, &a),
        "deluser" => deluser(x, &a),
        "list" => {
            let lines = sorted_users(&x.core.acl)
                .into_iter()
                .map(User::describe)
                .collect::<Vec<_>>();
            let mut r = x.r();
            r.array(lines.len());
            for l in lines {
                r.bulk(l.as_bytes());
            }
        }
        "users" => {
            let names: Vec<Vec<u8>> = sorted_users(&x.core.acl)
                .into_iter()
                .map(|u| u.name.clone())
                .collect();
            let mut r = x.r();
            r.array(names.len());
            for n in names {
                r.bulk(&n);
            }
        }
        "whoami" => {
            let u = x.client.user.clone();
            x.r().bulk(&u);
        }
        "cat" => cat(x, &a),
        "genpass" => genpass(x, &a),
        "log" => log(x, &a),
        "dryrun" => dryrun(x, &a),
        "load" => load(x),
        "save" => save(x),
        _ => help(x, HELP),
    }
}

fn sorted_users(acl: &Acl) -> Vec<&User> {
    let mut v: Vec<&User> = acl.users.values().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn setuser(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let name = a.get(2);
    if name.iter().any(|&b| b == b' ' || b < b'!') {
        return x.err("ERR Usernames can't contain spaces or null characters");
    }
    let Ok(rules) = merge_selectors(a.iter().skip(3)) else {
        return x.err("ERR Unmatched parenthesis in acl selector starting at '('.");
    };
    // All or nothing: the rules are tried on a copy.
    let mut u = x
        .core
        .acl
        .users
        .get(name)
        .cloned()
        .unwrap_or_else(|| User::new(name));
    for r in &rules {
        if let Err(e) = u.apply(r) {
            return x.err(&format!(
                "ERR Error in ACL SETUSER modifier '{}': {e}",
                String::from_utf8_lossy(r)
            ));
        }
    }
    x.core.acl.users.insert(name.to_vec(), u);
    x.core.acl.changed();
    x.r().ok();
}

fn getuser(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let Some(u) = x.core.acl.users.get(a.get(2)).cloned() else {
        return x.r().null();
    };
    let mut r = x.r();
    r.map(6);
    r.bulk(b"flags");
    let flags = u.flags();
    r.array(flags.len());
    for f in flags {
        r.bulk(f.as_bytes());
    }
    r.bulk(b"passwords");
    r.array(u.passwords.len());
    for p in &u.passwords {
        r.bulk(p.as_bytes());
    }
    r.bulk(b"commands");
    r.bulk(u.root.describe_commands().as_bytes());
    r.bulk(b"keys");
    r.bulk(u.root.describe_keys().as_bytes());
    r.bulk(b"channels");
    r.bulk(u.root.describe_channels().as_bytes());
    r.bulk(b"selectors");
    r.array(u.selectors.len());
    for s in &u.selectors {
        r.map(3);
        r.bulk(b"commands");
        r.bulk(s.describe_commands().as_bytes());
        r.bulk(b"keys");
        r.bulk(s.describe_keys().as_bytes());
        r.bulk(b"channels");
        r.bulk(s.describe_channels().as_bytes());
    }
}

fn deluser(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    if a.iter().skip(2).any(|n| n == b"default") {
        return x.err("ERR The 'default' user cannot be removed");
    }
    let mut n = 0;
    for name in a.iter().skip(2) {
        if x.core.acl.users.remove(name).is_some() {
            n += 1;
            kill_users_clients(x, name);
        }
    }
    x.core.acl.changed();
    x.r().int(n);
}

/// Clients authenticated as a removed user are disconnected (as Redis).
fn kill_users_clients(x: &mut Exec<'_, '_>, name: &[u8]) {
    let victims: Vec<_> = x
        .clients()
        .filter(|c| c.user == name)
        .map(|c| c.conn)
        .collect();
    x.core.kill.extend(victims);
}

fn cat(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    if a.len() > 3 {
        return x
            .err("ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.");
    }
    let list: Vec<String> = if a.len() == 2 {
        crate::commands::keyspec::CATEGORIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        match crate::commands::keyspec::category(a.get(2)) {
            Some(c) => crate::commands::acl::commands_in(c),
            None => {
                return x.err(&format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(a.get(2))
                ))
            }
        }
    };
    let mut r = x.r();
    r.array(list.len());
    for s in list {
        r.bulk(s.as_bytes());
    }
}

fn genpass(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let bits = if a.len() > 2 {
        match parse_i64(a.get(2)) {
            Some(b) if (1..=4096).contains(&b) => b as usize,
            _ => return x.err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"),
        }
    } else {
        256
    };
    let chars = bits.div_ceil(4);
    let mut raw = vec![0u8; chars.div_ceil(2)];
    let got = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut raw));
    if got.is_err() {
        return x.err("ERR Failed to read random bytes");
    }
    let mut s = String::with_capacity(raw.len() * 2);
    for b in raw {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(chars);
    x.r().bulk(s.as_bytes());
}

fn log(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let mut count = usize::MAX;
    if a.len() == 3 {
        if a.get(2).eq_ignore_ascii_case(b"reset") {
            x.core.acl.log.clear();
            return x.r().ok();
        }
        match parse_i64(a.get(2)) {
            Some(n) if n >= 0 => count = n as usize,
            _ => return x.err("ERR value is out of range, must be positive"),
        }
    } else if a.len() > 3 {
        return x.err(crate::commands::strings::SYNTAX);
    }
    let now = x.core.now_ms;
    let resp3 = x.client.resp3;
    let Exec { core, ctx, .. } = x;
    let mut r = crate::protocol::Reply {
        buf: ctx.out(),
        resp3,
    };
    let n = count.min(core.acl.log.len());
    r.array(n);
    for e in core.acl.log.iter().take(n) {
        r.map(7);
        r.bulk(b"count");
        r.int(e.count as i64);
        r.bulk(b"reason");
        r.bulk(e.reason.as_bytes());
        r.bulk(b"context");
        r.bulk(e.context.as_bytes());
        r.bulk(b"object");
        r.bulk(&e.object);
        r.bulk(b"username");
        r.bulk(&e.username);
        r.bulk(b"age-seconds");
        r.double(now.saturating_sub(e.created_ms) as f64 / 1000.0);
        r.bulk(b"client-info");
        r.bulk(e.client_info.as_bytes());
    }
}

fn dryrun(x: &mut Exec<'_, '_>, a: &Args<'_>) {
    let Some(u) = x.core.acl.users.get(a.get(2)) else {
        return x.err(&format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(a.get(2))
        ));
    };
    let name = String::from_utf8_lossy(a.get(3)).to_ascii_lowercase();
    let Some(ci) = COMMANDS.iter().position(|c| c.name == name) else {
        return x.err(&format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(a.get(3))
        ));
    };
    let c = &COMMANDS[ci];
    let argc = a.len() - 3;
    if (c.arity > 0 && argc != c.arity as usize) || argc < c.arity.unsigned_abs() as usize {
        return x.err(&format!(
            "ERR wrong number of arguments for '{}' command",
            c.name
        ));
    }
    let inner = OwnedArgs::new(a.iter().skip(3));
    match u.check(ci, &inner.args()) {
        Ok(()) => x.r().ok(),
        Err(d) => {
            let t = d.dryrun();
            x.r().bulk(t.as_bytes());
        }
    }
}

fn load(x: &mut Exec<'_, '_>) {
    let Some(path) = x.core.acl.file.clone() else {
        return x.err(NO_FILE);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            return x.err(&format!(
                "ERR Error loading ACLs, opening file '{}': {e}",
                path.display()
            ))
        }
    };
    match Acl::parse_users(&text) {
        Ok(users) => {
            install(x.core, users);
            // Clients of users that no longer exist are disconnected (as Redis).
            let gone: Vec<_> = x
                .clients()
                .filter(|c| !x.core.acl.users.contains_key(&c.user))
                .map(|c| c.conn)
                .collect();
            x.core.kill.extend(gone);
            x.r().ok();
        }
        Err(e) => x.err(&format!("ERR Error loading ACLs{e}")),
    }
}

/// Replace every user by `users` (the default user, if not among them, as a fresh server has
/// it).
pub fn install(core: &mut Core, users: Vec<User>) {
    core.acl.users.clear();
    for u in users {
        core.acl.users.insert(u.name.clone(), u);
    }
    if !core.acl.users.contains_key(&b"default"[..]) {
        core.acl
            .users
            .insert(b"default".to_vec(), User::default_user());
        let pass = core.cfg.requirepass.clone();
        core.acl.set_default_password(pass.as_deref());
    }
    core.acl.changed();
}

fn save(x: &mut Exec<'_, '_>) {
    let Some(path) = x.core.acl.file.clone() else {
        return x.err(NO_FILE);
    };
    let mut text = String::new();
    for u in sorted_users(&x.core.acl) {
        text.push_str(&u.describe());
        text.push('\n');
    }
    // Written aside then renamed: a crash never leaves half a file.
    let tmp = path.with_extension("tmp-acl");
    let res = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    match res {
        Ok(()) => x.r().ok(),
        Err(e) => x.err(&format!("ERR There was an error trying to save the ACLs. Please check the server logs for more information ({e})")),
    }
}
