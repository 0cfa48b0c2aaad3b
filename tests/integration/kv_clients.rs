//! Real Redis clients against `readyloop kv`: the `redis` crate, `redis-cli` (argument,
//! stdin and interactive modes, compared line for line with what it prints against
//! redis-server), `redis-cli --pipe` mass insert of 1,000,000 keys, and `redis-benchmark`'s
//! default test list with no error reply.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use super::kv_util::*;

/// Run a program with `stdin` fed in, killed by `timeout` after `secs`.
fn run(program: &str, args: &[String], stdin: &[u8], env: &[(&str, &str)], secs: u32) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg(secs.to_string()).arg(program).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let mut input = child.stdin.take().expect("piped");
    let data = stdin.to_vec();
    // Feed from a thread: a large input would otherwise deadlock against a full stdout pipe.
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("waits");
    let _ = feeder.join();
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn port_args(addr: std::net::SocketAddr) -> Vec<String> {
    vec![
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
    ]
}

each_backend!(
    /// The `redis` crate (an independent client library): strings, counters, errors, binary
    /// values, a 1000-command pipeline, and a RESP3 connection (it sends HELLO 3).
    redis_crate_round_trips,
    |backend| {
        require("redis-server", "redis-server");
        let s = kv(backend, &[]);
        for proto in ["", "?protocol=resp3"] {
            let url = format!("redis://{}/{proto}", s.addr);
            let client = redis::Client::open(url.as_str()).expect("url parses");
            let mut con = client
                .get_connection_with_timeout(Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("{url}: connect: {e}"));
            con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();

            let _: () = redis::cmd("SET").arg("greeting").arg("hello").query(&mut con).unwrap();
            let v: String = redis::cmd("GET").arg("greeting").query(&mut con).unwrap();
            assert_eq!(v, "hello", "{url}");
            let missing: Option<String> = redis::cmd("GET").arg("nope").query(&mut con).unwrap();
            assert_eq!(missing, None, "{url}");

            let n: i64 = redis::cmd("INCRBY").arg("n").arg(5).query(&mut con).unwrap();
            assert_eq!(n, 5);
            let n: i64 = redis::cmd("DECR").arg("n").query(&mut con).unwrap();
            assert_eq!(n, 4);
            let f: f64 = redis::cmd("INCRBYFLOAT").arg("n").arg("0.5").query(&mut con).unwrap();
            assert_eq!(f, 4.5);
            let e = redis::cmd("INCR")
                .arg("greeting")
                .query::<i64>(&mut con)
                .expect_err("INCR on a non-integer fails");
            assert!(
                e.to_string().contains("value is not an integer or out of range"),
                "{url}: {e}"
            );
            let e = redis::cmd("NOSUCHCMD").arg("x").query::<()>(&mut con).expect_err("unknown");
            assert!(e.to_string().contains("unknown command"), "{url}: {e}");

            let _: () = redis::cmd("MSET")
                .arg(&["a", "1", "b", "2"])
                .query(&mut con)
                .unwrap();
            let got: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&["a", "zz", "b"])
                .query(&mut con)
                .unwrap();
            assert_eq!(got, vec![Some("1".into()), None, Some("2".into())]);

            let set: bool = redis::cmd("EXPIRE").arg("a").arg(100).query(&mut con).unwrap();
            assert!(set);
            let ttl: i64 = redis::cmd("TTL").arg("a").query(&mut con).unwrap();
            assert!((99..=100).contains(&ttl), "{url}: TTL {ttl}");

            let all: Vec<u8> = (0..=255u8).collect();
            let _: () = redis::cmd("SET").arg("bin").arg(&all).query(&mut con).unwrap();
            let back: Vec<u8> = redis::cmd("GET").arg("bin").query(&mut con).unwrap();
            assert_eq!(back, all, "{url}: binary value round trip");

            let mut p = redis::pipe();
            for i in 0..1000 {
                p.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
            }
            for i in 0..1000 {
                p.cmd("GET").arg(format!("p{i}"));
            }
            let vals: Vec<i64> = p.query(&mut con).unwrap();
            assert_eq!(vals, (0..1000).collect::<Vec<i64>>(), "{url}: pipeline");
            let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
            assert_eq!(n, 1000 + 5, "{url}");
        }
    }
);

/// Commands for redis-cli, chosen so the output is the same on any correct server (no ids,
/// versions, timings or hash-order-dependent lists).
const CLI_SCRIPT: &str = "\
PING
PING \"hello world\"
ECHO abc
SET k1 v1
GET k1
GET missing
SET n 10
INCR n
INCRBY n -20
DECRBY n 5
INCR k1
INCRBY n 9223372036854775807
INCRBYFLOAT f 1.5
INCRBYFLOAT f 0.1
APPEND k1 xyz
STRLEN k1
GETRANGE k1 -3 -1
SETRANGE k1 1 ZZ
GET k1
MSET a 1 b 2 c 3
MGET a b missing c
EXISTS a b missing
TYPE a
TYPE missing
EXPIRE a 100
TTL a
PERSIST a
TTL a
EXPIRE a 100 XX GT
SET s hello GET
SET s v NX
SET s v XX KEEPTTL
GETEX s EX 1000
GETDEL s
GET s
LCS k1 n
RENAME a a2
RENAMENX b a2
KEYS a*
OBJECT ENCODING n
OBJECT ENCODING k1
DBSIZE
DEL a2 b c
get
set k1
NOSUCH arg1 arg2
SELECT 1
SET only-in-1 x
DBSIZE
SWAPDB 0 1
SELECT 0
GET only-in-1
FLUSHDB
DBSIZE
";

fn cli_outputs(addr: std::net::SocketAddr) -> (String, String, String, String) {
    let base = port_args(addr);
    let mut conn = connect(addr);
    call(&mut conn, &["FLUSHALL"]);
    // Argument mode, one command per run.
    let mut argmode = String::new();
    for cmd in [
        &["SET", "x", "1"][..],
        &["INCR", "x"],
        &["GET", "x"],
        &["GET", "nope"],
        &["foo"],
    ] {
        let mut args = base.clone();
        args.extend(cmd.iter().map(|s| s.to_string()));
        let out = run("redis-cli", &args, b"", &[], 20);
        argmode += &format!("{}{}", text(&out.stdout), text(&out.stderr));
    }
    call(&mut conn, &["FLUSHALL"]);
    let stdin_mode = text(&run("redis-cli", &base, CLI_SCRIPT.as_bytes(), &[], 20).stdout);
    call(&mut conn, &["FLUSHALL"]);
    let mut a3 = base.clone();
    a3.push("-3".into());
    let resp3 = text(&run("redis-cli", &a3, CLI_SCRIPT.as_bytes(), &[], 20).stdout);
    call(&mut conn, &["FLUSHALL"]);
    // Interactive: a pseudo-terminal (script(1)) and TERM=dumb so linenoise reads plain lines;
    // redis-cli then formats replies for humans and asks COMMAND DOCS for its help.
    let interactive_cmd = format!("redis-cli {}", base.join(" "));
    let mut input = CLI_SCRIPT.to_string();
    input.push_str("exit\n");
    let out = run(
        "script",
        &["-qfec".into(), interactive_cmd, "/dev/null".into()],
        input.as_bytes(),
        &[("TERM", "dumb")],
        30,
    );
    let interactive = text(&out.stdout)
        .replace(&format!("{}:{}", addr.ip(), addr.port()), "HOST")
        .replace('\r', "");
    (
        argmode,
        stdin_mode,
        resp3,
        replies_only(&interactive, &input),
    )
}

/// The interactive transcript without prompts and without the terminal's echo of what was
/// typed: the whole script is written to the pty at once, so where the echo lands among
/// prompts and replies is up to the scheduler (a CI run saw "HOST> PING" against "PING").
/// What stays is what the check is about: the replies, formatted for humans, in order.
fn replies_only(transcript: &str, typed: &str) -> String {
    let typed: std::collections::HashSet<&str> = typed.lines().map(str::trim).collect();
    transcript
        .lines()
        .map(|l| {
            let mut l = l;
            while let Some(rest) = l.strip_prefix("HOST> ") {
                l = rest;
            }
            l
        })
        .filter(|l| !l.is_empty() && !typed.contains(l.trim()))
        .map(|l| format!("{l}\n"))
        .collect()
}

each_backend!(
    /// redis-cli's output (argument mode, stdin, RESP3 with -3, and interactive in a pty) is the
    /// same against ours as against redis-server, line for line.
    redis_cli_same_output_as_redis,
    |backend| {
        require("redis-cli", "redis-tools");
        require("script", "bsdutils");
        let r = redis();
        let want = cli_outputs(r.addr);
        assert!(want.1.contains("ERR unknown command 'NOSUCH'"), "{}", want.1);
        assert!(want.3.contains("(integer) 11"), "interactive mode formats:\n{}", want.3);
        let s = kv(backend, &[]);
        let got = cli_outputs(s.addr);
        for (name, w, g) in [
            ("argument mode", &want.0, &got.0),
            ("stdin", &want.1, &got.1),
            ("stdin -3", &want.2, &got.2),
            ("interactive", &want.3, &got.3),
        ] {
            if w != g {
                let diff: Vec<String> = w
                    .lines()
                    .zip(g.lines())
                    .enumerate()
                    .filter(|(_, (a, b))| a != b)
                    .take(10)
                    .map(|(i, (a, b))| format!("line {}: redis {a:?} / ours {b:?}", i + 1))
                    .collect();
                panic!(
                    "redis-cli {name}: output differs ({} vs {} lines)\n{}\n--- redis:\n{w}\n--- ours:\n{g}",
                    w.lines().count(),
                    g.lines().count(),
                    diff.join("\n")
                );
            }
        }
    }
);

const MASS_KEYS: usize = 1_000_000;

/// RESP for `SET key:{i:010} value:{i}-...` x 1,000,000, made once per test run.
fn mass_insert_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("readyloop-mass-{}.resp", std::process::id()));
        let mut buf = Vec::with_capacity(MASS_KEYS * 60);
        for i in 0..MASS_KEYS {
            let k = format!("key:{i:010}");
            let v = format!("value:{i}");
            buf.extend_from_slice(
                format!(
                    "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                    k.len(),
                    v.len()
                )
                .as_bytes(),
            );
        }
        std::fs::write(&path, buf).expect("temp file written");
        path
    })
}

each_backend!(
    /// `redis-cli --pipe` mass insert of 1,000,000 SETs: every reply read, none an error, and
    /// DBSIZE says 1,000,000.
    redis_cli_pipe_mass_insert,
    |backend| {
        require("redis-cli", "redis-tools");
        let s = kv(backend, &[]);
        let data = std::fs::read(mass_insert_file()).expect("read mass file");
        let mut args = port_args(s.addr);
        args.push("--pipe".into());
        let out = run("redis-cli", &args, &data, &[], 120);
        let so = text(&out.stdout);
        assert!(out.status.success(), "redis-cli --pipe failed: {so}{}", text(&out.stderr));
        assert!(
            so.contains(&format!("errors: 0, replies: {MASS_KEYS}")),
            "redis-cli --pipe summary: {so}"
        );
        let mut c = connect(s.addr);
        assert_eq!(int(&mut c, &["DBSIZE"]), MASS_KEYS as i64);
        for i in [0, 1, 499_999, MASS_KEYS - 1] {
            let k = format!("key:{i:010}");
            assert_eq!(call(&mut c, &["GET", &k]), bulk(&format!("value:{i}")));
        }
    }
);

/// Test names redis-benchmark 7.0 runs by default (its `-q` lines start with these).
const BENCH_TESTS: &[&str] = &[
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
];

each_backend!(
    /// redis-benchmark with its default test list (small -n) completes every test, and no reply
    /// is an error (it prints "Error from server: ..." for those).
    redis_benchmark_default_tests,
    |backend| {
        require("redis-benchmark", "redis-tools");
        let s = kv(backend, &[]);
        let mut args = port_args(s.addr);
        args.extend(["-q", "-n", "2000", "-c", "10"].map(String::from));
        let out = run("redis-benchmark", &args, b"", &[], 120);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        // -q rewrites its progress line with \r; the final result follows the last \r.
        let lines: Vec<&str> = all
            .lines()
            .map(|l| l.rsplit('\r').next().unwrap_or(l))
            .collect();
        assert!(out.status.success(), "redis-benchmark exited {}:\n{all}", out.status);
        let errors: Vec<&&str> = lines
            .iter()
            .filter(|l| l.contains("Error") || l.contains("ERR") || l.contains("WRONGTYPE"))
            .collect();
        assert!(errors.is_empty(), "redis-benchmark saw error replies: {errors:?}\n{all}");
        for t in BENCH_TESTS {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("{t}: ")) && l.contains("requests per second")),
                "redis-benchmark did not finish test {t}:\n{all}"
            );
        }
    }
);

each_backend!(
    /// SCAN's guarantee (as Redis documents it): a full iteration returns every key
    /// present from start to end, even while other keys are added and removed between calls
    /// (growing the table underneath the cursor), and never returns a key that never existed.
    scan_returns_every_stable_key_under_churn,
    |backend| {
        let s = kv(backend, &[]);
        let mut a = connect(s.addr);
        let mut b = connect(s.addr);
        let mut p = redis::pipe();
        for i in 0..5000 {
            p.cmd("SET").arg(format!("stable:{i}")).arg(i).ignore();
        }
        let client = redis::Client::open(format!("redis://{}/", s.addr).as_str()).unwrap();
        let mut con = client.get_connection().unwrap();
        let _: () = p.query(&mut con).unwrap();
        let mut seen = std::collections::HashSet::new();
        let (mut cursor, mut churn, mut calls) = ("0".to_string(), 0u64, 0);
        loop {
            let v = call(&mut a, &["SCAN", &cursor, "COUNT", "5"]);
            let items = v.items().unwrap_or_else(|| panic!("SCAN reply {v}")).to_vec();
            cursor = String::from_utf8(items[0].as_bytes().unwrap().to_vec()).unwrap();
            for k in items[1].items().unwrap() {
                seen.insert(String::from_utf8_lossy(k.as_bytes().unwrap()).into_owned());
            }
            // Churn between every two calls: 20 new keys, and deletes that let the churn keys
            // grow to 3000 (the table grows under the cursor) and then stay there. Redis promises
            // termination only for a collection of bounded size, so it is bounded.
            for _ in 0..20 {
                call(&mut b, &["SET", &format!("churn:{churn}"), "x"]);
                churn += 1;
            }
            for j in churn.saturating_sub(3020)..churn.saturating_sub(3000) {
                call(&mut b, &["DEL", &format!("churn:{j}")]);
            }
            calls += 1;
            if cursor == "0" {
                break;
            }
            assert!(calls < 100_000, "SCAN did not finish in 100000 calls");
        }
        let missing: Vec<i32> = (0..5000).filter(|i| !seen.contains(&format!("stable:{i}"))).collect();
        assert!(missing.is_empty(), "{} stable keys never returned, e.g. {:?} ({calls} calls)", missing.len(), &missing[..missing.len().min(10)]);
        let bogus: Vec<&String> = seen
            .iter()
            .filter(|k| !(k.starts_with("stable:") || k.starts_with("churn:")))
            .collect();
        assert!(bogus.is_empty(), "SCAN returned keys that never existed: {bogus:?}");
        assert!(churn >= 3000, "the table grew during the scan ({churn} keys added)");
    }
);
