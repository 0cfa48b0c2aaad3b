//! Blocked clients are served as Redis 7.0 serves them: only after the whole command or
//! MULTI/EXEC block that made their key ready, from what the key holds then, and whenever a
//! key they wait for is *added*, whatever command adds it (RENAME, MOVE, COPY, the *STORE
//! commands, LMOVE, SWAPDB). Every scenario runs against ours and against redis-server and
//! the two must answer alike.

use std::net::SocketAddr;
use std::time::Duration;

use reactor::Backend;

use super::kv_util::{bulk, call, connect, kv, redis, Conn, Value};
use super::util::wait_until;

/// Wait until `n` clients are blocked (INFO clients), so a command sent next finds them parked.
fn wait_blocked(c: &mut Conn, n: usize) {
    let ok = wait_until(Duration::from_secs(5), || {
        let info = call(c, &["INFO", "clients"]);
        let text = String::from_utf8_lossy(info.as_bytes().unwrap_or_default()).into_owned();
        text.contains(&format!("blocked_clients:{n}\r"))
    });
    assert!(ok, "{n} clients never blocked");
}

/// Send a blocking command on `w` (not read), and wait until it is parked.
fn park(w: &mut Conn, main: &mut Conn, args: &[&str], blocked: usize) {
    let a: Vec<Vec<u8>> = args.iter().map(|s| s.as_bytes().to_vec()).collect();
    w.send(&a).expect("send");
    wait_blocked(main, blocked);
}

fn arr(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| bulk(s)).collect())
}

/// What a transaction scenario saw: EXEC's reply, then what the waiter got (or "blocked").
fn tx_scenario(addr: SocketAddr, wait: &[&str], tx: &[&[&str]]) -> (Value, String) {
    let mut m = connect(addr);
    call(&mut m, &["FLUSHALL"]);
    let mut w = connect(addr);
    park(&mut w, &mut m, wait, 1);
    call(&mut m, &["MULTI"]);
    for c in tx {
        call(&mut m, c);
    }
    let exec = call(&mut m, &["EXEC"]);
    w.set_read_timeout(Duration::from_millis(300)).unwrap();
    let got = match w.read() {
        Ok(v) => format!("{v}"),
        Err(_) => "blocked".to_string(),
    };
    (exec, got)
}

fn both<T: PartialEq + std::fmt::Debug>(
    backend: Backend,
    f: impl Fn(SocketAddr) -> T,
    what: &str,
) -> T {
    let ours = kv(backend, &[]);
    let r = redis();
    let a = f(ours.addr);
    let b = f(r.addr);
    assert_eq!(a, b, "{what}: ours vs redis-server");
    a
}

fn served_after_the_transaction(backend: Backend) {
    // The waiter is served after EXEC, from what the list holds then.
    let (exec, got) = both(
        backend,
        |a| {
            tx_scenario(
                a,
                &["BLPOP", "l", "0"],
                &[&["RPUSH", "l", "a"], &["DEL", "l"], &["RPUSH", "l", "b"]],
            )
        },
        "RPUSH DEL RPUSH",
    );
    assert_eq!(exec, Value::Array(vec![Value::Int(1); 3]));
    assert_eq!(got, format!("{}", arr(&["l", "b"])));
    // The transaction's own LPOP gets the element; the waiter stays blocked.
    let (exec, got) = both(
        backend,
        |a| {
            tx_scenario(
                a,
                &["BLPOP", "l", "0"],
                &[&["RPUSH", "l", "a"], &["LPOP", "l"]],
            )
        },
        "RPUSH LPOP",
    );
    assert_eq!(exec, Value::Array(vec![Value::Int(1), bulk("a")]));
    assert_eq!(got, "blocked");
    // LPUSH + DEL wakes nobody.
    let (_, got) = both(
        backend,
        |a| {
            tx_scenario(
                a,
                &["BLPOP", "l", "0"],
                &[&["LPUSH", "l", "x"], &["DEL", "l"]],
            )
        },
        "LPUSH DEL",
    );
    assert_eq!(got, "blocked");
    // Sorted sets: ZCARD inside the transaction still sees the member.
    let (exec, got) = both(
        backend,
        |a| {
            tx_scenario(
                a,
                &["BZPOPMIN", "z", "0"],
                &[&["ZADD", "z", "1", "m"], &["ZCARD", "z"]],
            )
        },
        "ZADD ZCARD",
    );
    assert_eq!(exec, Value::Array(vec![Value::Int(1), Value::Int(1)]));
    assert!(got.contains("m"), "{got}");
}
each_backend!(
    blocked_clients_are_served_after_the_whole_transaction,
    served_after_the_transaction
);

/// `setup` builds a source, `add` adds the waited key `q` (database 0) by some command; the
/// waiter parked with `wait` must be served with what it adds.
fn wake(addr: SocketAddr, setup: &[&[&str]], wait: &[&str], add: &[&str]) -> String {
    let mut m = connect(addr);
    call(&mut m, &["FLUSHALL"]);
    for c in setup {
        let v = call(&mut m, c);
        assert!(!v.is_error(), "{c:?}: {v}");
    }
    let mut w = connect(addr);
    park(&mut w, &mut m, wait, 1);
    let v = call(&mut m, add);
    assert!(!v.is_error(), "{add:?}: {v}");
    w.set_read_timeout(Duration::from_secs(2)).unwrap();
    match w.read() {
        Ok(v) => format!("{v}"),
        Err(_) => "never woken".to_string(),
    }
}

/// (what, setup commands, the blocking command, the command that adds the waited key).
type Case<'a> = (&'a str, &'a [&'a [&'a str]], &'a [&'a str], Vec<&'a str>);

fn wake_ups(backend: Backend) {
    let l: &[&[&str]] = &[&["RPUSH", "tmp", "job"]];
    let z: &[&[&str]] = &[&["ZADD", "tmp", "1", "a", "2", "b"]];
    let blpop: &[&str] = &["BLPOP", "q", "0"];
    let bzpop: &[&str] = &["BZPOPMIN", "q", "0"];
    let cases: Vec<Case<'_>> = vec![
        ("RENAME", l, blpop, vec!["RENAME", "tmp", "q"]),
        ("RENAMENX", l, blpop, vec!["RENAMENX", "tmp", "q"]),
        ("COPY", l, blpop, vec!["COPY", "tmp", "q"]),
        (
            "COPY DB",
            &[&["SELECT", "1"], &["RPUSH", "tmp", "job"]],
            blpop,
            vec!["COPY", "tmp", "q", "DB", "0"],
        ),
        (
            "MOVE",
            &[&["SELECT", "1"], &["RPUSH", "q", "job"]],
            blpop,
            vec!["MOVE", "q", "0"],
        ),
        (
            "LMOVE",
            l,
            blpop,
            vec!["LMOVE", "tmp", "q", "LEFT", "RIGHT"],
        ),
        ("RPOPLPUSH", l, blpop, vec!["RPOPLPUSH", "tmp", "q"]),
        (
            "ZUNIONSTORE",
            z,
            bzpop,
            vec!["ZUNIONSTORE", "q", "1", "tmp"],
        ),
        (
            "ZINTERSTORE",
            z,
            bzpop,
            vec!["ZINTERSTORE", "q", "1", "tmp"],
        ),
        (
            "ZRANGESTORE",
            z,
            bzpop,
            vec!["ZRANGESTORE", "q", "tmp", "0", "-1"],
        ),
        (
            "SWAPDB",
            &[&["SELECT", "1"], &["RPUSH", "q", "job"]],
            blpop,
            vec!["SWAPDB", "0", "1"],
        ),
    ];
    for (what, setup, wait, add) in cases {
        let got = both(backend, |a| wake(a, setup, wait, &add), what);
        assert_ne!(got, "never woken", "{what}");
    }
}
each_backend!(every_key_addition_wakes_blocked_clients, wake_ups);

/// BLMOVE chains: the push of one served client readies the next key, in the same round.
fn chains(backend: Backend) {
    let got = both(
        backend,
        |addr| {
            let mut m = connect(addr);
            call(&mut m, &["FLUSHALL"]);
            let mut w1 = connect(addr);
            let mut w2 = connect(addr);
            park(
                &mut w1,
                &mut m,
                &["BLMOVE", "a", "b", "LEFT", "LEFT", "0"],
                1,
            );
            park(&mut w2, &mut m, &["BLPOP", "b", "0"], 2);
            call(&mut m, &["RPUSH", "a", "x"]);
            let r1 = w1.read().map(|v| format!("{v}")).unwrap_or_default();
            let r2 = w2.read().map(|v| format!("{v}")).unwrap_or_default();
            let left = call(&mut m, &["DBSIZE"]);
            (r1, r2, left)
        },
        "BLMOVE chain",
    );
    assert_eq!(got.2, Value::Int(0), "{got:?}");
}
each_backend!(a_served_blmove_readies_its_destination, chains);
