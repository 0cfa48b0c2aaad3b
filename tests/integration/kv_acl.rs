//! ACL against redis-server: the same script of ACL SETUSER / GETUSER / LIST / USERS / DRYRUN /
//! CAT / DELUSER / WHOAMI / LOG, AUTH and HELLO AUTH as other users, NOPERM refusals of
//! commands, subcommands, keys (`%R~`/`%W~`) and channels, selectors, gets the same replies
//! from both; the ACL file is loaded at start, saved and loaded again; the `--user` option
//! defines users at start.

use reactor::Backend;

use super::kv_util::{call, connect, kv, redis, Conn, Value};

/// Replies that vary between runs (ACL LOG ages and client ids) are compared by shape.
fn normalise(v: Value) -> Value {
    match v {
        Value::Double(_) => Value::Double(b"<age>".to_vec()),
        Value::Bulk(b) if b.starts_with(b"id=") => Value::Bulk(b"<client-info>".to_vec()),
        Value::Array(items) => {
            // RESP2 ACL LOG: the age is a bulk string ("0.001") after its key.
            let mut after_age = false;
            let mut out = Vec::with_capacity(items.len());
            for it in items {
                let is_age_key = matches!(&it, Value::Bulk(b) if b == b"age-seconds");
                out.push(if after_age {
                    Value::Bulk(b"<age>".to_vec())
                } else {
                    normalise(it)
                });
                after_age = is_age_key;
            }
            Value::Array(out)
        }
        Value::Map(items) => Value::Map(
            items
                .into_iter()
                .map(|(k, v)| (normalise(k), normalise(v)))
                .collect(),
        ),
        v => v,
    }
}

/// Run every command of `script` on one connection; a command starting with `@` runs on a
/// second connection (the admin) so the first can stay authenticated as a restricted user.
fn run(addr: std::net::SocketAddr, script: &[&[&str]]) -> Vec<String> {
    let mut user = connect(addr);
    let mut admin = connect(addr);
    let mut out = Vec::new();
    for cmd in script {
        let (c, args): (&mut Conn, Vec<&str>) = match cmd[0].strip_prefix('@') {
            Some(first) => (
                &mut admin,
                std::iter::once(first)
                    .chain(cmd[1..].iter().copied())
                    .collect(),
            ),
            None => (&mut user, cmd.to_vec()),
        };
        let mut v = normalise(call(c, &args));
        // HELLO's client id depends on how many connections the server has seen.
        if let (Some(&"HELLO"), Value::Array(items)) = (args.first(), &mut v) {
            if items.len() > 7 {
                items[7] = Value::Int(0);
            }
        }
        out.push(format!("{} -> {v}", args.join(" ")));
    }
    out
}

const SCRIPT: &[&[&str]] = &[
    &["ACL", "WHOAMI"],
    &["ACL", "USERS"],
    &["ACL", "LIST"],
    &[
        "ACL",
        "SETUSER",
        "alice",
        "on",
        ">p1",
        ">p2",
        "~cache:*",
        "%R~ro:*",
        "%W~wo:*",
        "resetchannels",
        "&news.*",
        "+@read",
        "-keys",
    ],
    &["ACL", "GETUSER", "alice"],
    &["ACL", "SETUSER", "alice", "<p2"],
    &["ACL", "SETUSER", "alice", "<nosuch"],
    &["ACL", "SETUSER", "alice", "+nosuchcommand"],
    &["ACL", "SETUSER", "alice", "+@nosuchcat"],
    &["ACL", "SETUSER", "alice", "#abc"],
    &[
        "ACL",
        "SETUSER",
        "bob",
        "on",
        "nopass",
        "+@all",
        "-client|kill",
        "~*",
        "&*",
    ],
    &[
        "ACL",
        "SETUSER",
        "carol",
        "on",
        ">c",
        "-@all",
        "+memory|doctor",
    ],
    &["ACL", "GETUSER", "carol"],
    &["ACL", "SETUSER", "carol", "+memory"],
    &["ACL", "GETUSER", "carol"],
    &[
        "ACL",
        "SETUSER",
        "dave",
        "on",
        ">d",
        "-@all",
        "+get",
        "~a*",
        "(+set ~b*)",
    ],
    &["ACL", "GETUSER", "dave"],
    &["ACL", "LIST"],
    &["ACL", "USERS"],
    &["ACL", "DRYRUN", "alice", "get", "cache:1"],
    &["ACL", "DRYRUN", "alice", "get", "other"],
    &["ACL", "DRYRUN", "alice", "set", "ro:1", "v"],
    &["ACL", "DRYRUN", "alice", "get", "wo:1"],
    &["ACL", "DRYRUN", "alice", "set", "wo:1", "v"],
    &["ACL", "DRYRUN", "alice", "lpush", "cache:1", "v"],
    &["ACL", "DRYRUN", "alice", "publish", "news.x", "m"],
    &["ACL", "DRYRUN", "alice", "publish", "sports", "m"],
    &["ACL", "DRYRUN", "dave", "set", "b1", "v"],
    &["ACL", "DRYRUN", "dave", "set", "a1", "v"],
    &["ACL", "DRYRUN", "nobody", "get", "x"],
    &["ACL", "DRYRUN", "alice", "nosuchcmd"],
    &["AUTH", "alice", "wrong"],
    &["AUTH", "alice", "p2"],
    &["AUTH", "alice", "p1"],
    &["ACL", "WHOAMI"],
    &["GET", "cache:1"],
    &["GET", "other"],
    &["SET", "cache:1", "v"],
    &["GET", "cache:1"],
    &["SET", "ro:1", "v"],
    &["SET", "wo:1", "v"],
    &["LPUSH", "cache:2", "v"],
    &["PUBLISH", "news.1", "m"],
    &["PUBLISH", "sports", "m"],
    &["SUBSCRIBE", "sports"],
    &["MULTI"],
    &["INCR", "cache:3"],
    &["EXEC"],
    &["@ACL", "LOG", "4"],
    &["AUTH", "bob", "anything"],
    &["CLIENT", "ID", "x"],
    &["CLIENT", "KILL", "ID", "999999"],
    &["AUTH", "carol", "c"],
    &["MEMORY", "DOCTOR", "x"],
    &["GET", "x"],
    &["AUTH", "dave", "d"],
    &["GET", "a1"],
    &["SET", "b1", "v"],
    &["SET", "a1", "v"],
    &["HELLO", "2", "AUTH", "alice", "nope"],
    &["HELLO", "2", "AUTH", "alice", "p1"],
    &["ACL", "WHOAMI"],
    &["@ACL", "SETUSER", "alice", "off"],
    &["AUTH", "alice", "p1"],
    &["@ACL", "DELUSER", "default"],
    &["@ACL", "DELUSER", "carol", "nosuch", "dave"],
    &["@ACL", "USERS"],
    &["@ACL", "CAT", "nosuchcat"],
    &["@ACL", "CAT", "a", "b"],
    &["@ACL", "GENPASS", "0"],
    &["@ACL", "GENPASS", "5000"],
    &["@ACL", "LOAD"],
    &["@ACL", "SAVE"],
    &["@ACL", "LOG", "RESET"],
    &["@ACL", "LOG"],
    &["@ACL", "NOSUCHSUB"],
    &["@ACL", "HELP", "x"],
];

fn acl_replies_match_redis(backend: Backend) {
    let theirs = redis();
    let ours = kv(backend, &[]);
    let expected = run(theirs.addr, SCRIPT);
    let got = run(ours.addr, SCRIPT);
    let wrong: Vec<String> = expected
        .iter()
        .zip(&got)
        .filter(|(e, g)| e != g)
        .map(|(e, g)| format!("redis: {e}\nours:  {g}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "ours vs redis-server:\n{}",
        wrong.join("\n")
    );
    assert_eq!(got.len(), expected.len());
}

#[test]
fn acl_replies_match_redis_epoll_level() {
    acl_replies_match_redis(Backend::EpollLevel);
}

#[test]
fn acl_replies_match_redis_poll() {
    acl_replies_match_redis(Backend::Poll);
}

/// Categories: ACL CAT lists Redis's 21 in its order; a category lists commands of that kind
/// (and not others); GENPASS gives hex of the asked length.
#[test]
fn acl_categories_and_genpass() {
    let srv = kv(Backend::EpollLevel, &[]);
    let mut c = connect(srv.addr);
    let cats = call(&mut c, &["ACL", "CAT"]);
    let names: Vec<&[u8]> = cats
        .items()
        .unwrap()
        .iter()
        .filter_map(Value::as_bytes)
        .collect();
    assert_eq!(names.len(), 21);
    assert_eq!(names[0], b"keyspace");
    let list = call(&mut c, &["ACL", "CAT", "transaction"]);
    let l: Vec<&[u8]> = list
        .items()
        .unwrap()
        .iter()
        .filter_map(Value::as_bytes)
        .collect();
    assert!(
        l.contains(&&b"multi"[..]) && !l.contains(&&b"get"[..]),
        "{list}"
    );
    let keyspace = call(&mut c, &["ACL", "CAT", "keyspace"]);
    assert!(!keyspace
        .items()
        .unwrap()
        .iter()
        .any(|v| v.as_bytes() == Some(b"set")));
    for (bits, len) in [("256", 64), ("1", 1), ("5", 2)] {
        let p = call(&mut c, &["ACL", "GENPASS", bits]);
        let p = p.as_bytes().unwrap();
        assert_eq!(p.len(), len, "GENPASS {bits}");
        assert!(p.iter().all(u8::is_ascii_hexdigit));
    }
    let a = call(&mut c, &["ACL", "GENPASS"]);
    let b = call(&mut c, &["ACL", "GENPASS"]);
    assert_ne!(a, b, "two passwords differ");
}

/// Deleting a user disconnects its clients; a restricted user in MULTI is refused at queue
/// time and EXEC aborts.
#[test]
fn deleted_users_clients_are_disconnected() {
    let srv = kv(Backend::EpollLevel, &[]);
    let mut admin = connect(srv.addr);
    call(
        &mut admin,
        &["ACL", "SETUSER", "temp", "on", ">t", "+@all", "~*"],
    );
    let mut c = connect(srv.addr);
    assert_eq!(
        call(&mut c, &["AUTH", "temp", "t"]),
        Value::Simple(b"OK".to_vec())
    );
    assert_eq!(call(&mut admin, &["ACL", "DELUSER", "temp"]), Value::Int(1));
    assert!(c.closed_within(std::time::Duration::from_secs(5)));
    assert_eq!(call(&mut admin, &["PING"]), Value::Simple(b"PONG".to_vec()));
}

/// `--aclfile`: users are read at start, ACL SAVE writes them, ACL LOAD reads the file again
/// (discarding changes made since), and a bad file is refused by ACL LOAD with the old users
/// kept. `--user` defines users at start.
#[test]
fn aclfile_and_user_options() {
    if super::kv_util::testing_redis_itself() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("kv-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser eve on >e ~e:* resetchannels -@all +get\n",
    )
    .unwrap();
    let srv = kv(Backend::EpollLevel, &["--aclfile", file.to_str().unwrap()]);
    let mut c = connect(srv.addr);
    assert_eq!(
        call(&mut c, &["ACL", "USERS"]),
        Value::Array(vec![
            Value::Bulk(b"default".to_vec()),
            Value::Bulk(b"eve".to_vec())
        ])
    );
    let mut e = connect(srv.addr);
    assert_eq!(
        call(&mut e, &["AUTH", "eve", "e"]),
        Value::Simple(b"OK".to_vec())
    );
    assert!(call(&mut e, &["SET", "e:1", "v"]).is_error());
    call(&mut c, &["ACL", "SETUSER", "frank", "on", ">f"]);
    assert_eq!(
        call(&mut c, &["ACL", "SAVE"]),
        Value::Simple(b"OK".to_vec())
    );
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user frank on #"), "{saved}");
    call(&mut c, &["ACL", "SETUSER", "gina", "on"]);
    assert_eq!(
        call(&mut c, &["ACL", "LOAD"]),
        Value::Simple(b"OK".to_vec())
    );
    let users = call(&mut c, &["ACL", "USERS"]);
    assert_eq!(
        users.items().unwrap().len(),
        3,
        "gina gone after LOAD: {users}"
    );
    std::fs::write(&file, "user broken +nosuchcommand\n").unwrap();
    assert!(call(&mut c, &["ACL", "LOAD"]).is_error());
    assert_eq!(
        call(&mut c, &["ACL", "USERS"]),
        users,
        "a bad file changes nothing"
    );
    drop(srv);
    let srv = kv(
        Backend::EpollLevel,
        &["--user", "hank on >h ~* +@all", "--requirepass", "root"],
    );
    let mut c = Conn::connect(srv.addr).unwrap();
    assert!(
        call(&mut c, &["GET", "x"]).is_error(),
        "NOAUTH with requirepass"
    );
    assert_eq!(
        call(&mut c, &["AUTH", "hank", "h"]),
        Value::Simple(b"OK".to_vec())
    );
    assert_eq!(
        call(&mut c, &["AUTH", "root"]),
        Value::Simple(b"OK".to_vec())
    );
    assert_eq!(
        call(&mut c, &["ACL", "WHOAMI"]),
        Value::Bulk(b"default".to_vec())
    );
    let _ = std::fs::remove_dir_all(&dir);
}
