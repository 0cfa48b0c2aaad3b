//! The RESP parser end to end: malformed input gets Redis's exact reply and close
//! behaviour; a valid pipeline split at any byte gets the same reply bytes as redis-server gives
//! it whole; random bytes in random pieces never crash the server or disturb other clients.
//! (The parser's own unit tests fuzz it in-crate; these go through the socket and the event loop.)

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use readyloop_harness::kvdiff::resp::read_value;

use super::kv_util::*;

fn open(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_nodelay(true).unwrap();
    s
}

/// Everything the server sends until it closes, or until it has been quiet for `quiet`
/// (bounded by 5 s in all). Returns the bytes and whether it closed.
fn drain(s: &mut TcpStream, quiet: Duration) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
    (out, false)
}

/// Read exactly `n` bytes (or fewer if the server closes or stalls for 5 s).
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 65536];
    while out.len() < n {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    out
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// Malformed and odd inputs, each on its own connection.
fn bad_inputs() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"*abc\r\n"[..],
        b"*1\r\nfoo\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\n$-5\r\n",
        b"*1\r\n$600000000\r\n",
        b"*1\r\n$536870913\r\n",
        b"*2000000000\r\n",
        b"*1048577\r\n",
        b"*-1\r\nPING\r\n",
        b"*0\r\nPING\r\n",
        b"\r\n\r\nPING\r\n",
        b"\n\nPING\n",
        b"PING\r\n*1\r\n$4\r\nPING\r\n",
        b"SET \"a b\r\n",
        b"SET 'a\r\n",
        b"SET \"a\"b c\r\n",
        b"ECHO \"\\x41\\n\"\r\n",
        b"$4\r\nPING\r\n",
        b"*1\r\n$4\r\nPINGxxPING\r\n",
        b"*2\r\n$4\r\nECHO\r\n$3\r\nab",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\nGET k\r\n",
        b"   PING   \r\n",
        b"ping\tx\r\n",
        b"*1\r\n$4\r\nQUIT\r\nPING\r\n",
        b"\x00\x01\x02\r\n",
        b"*1\r\n:4\r\n",
        b"*1\r\n$+4\r\nPING\r\n",
        b"*+1\r\n$4\r\nPING\r\n",
        b"*01\r\n$04\r\nPING\r\n",
        b"*1\r\n$4 \r\nPING\r\n",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    // An inline line longer than Redis's 64 KiB inline limit, with no newline.
    v.push(vec![b'A'; 70 * 1024]);
    v
}

each_backend!(
    /// Malformed requests: the same reply bytes as redis-server and the same close/keep-open.
    protocol_errors_like_redis,
    |backend| {
        let (r, s) = (&redis(), &kv(backend, &[]));
        // Each input on its own connections, all at once: most wait out the quiet period.
        let inputs = bad_inputs();
        let mismatches: Vec<String> = std::thread::scope(|sc| {
            let handles: Vec<_> = inputs
                .iter()
                .map(|input| {
                    sc.spawn(move || {
                        let got: Vec<(Vec<u8>, bool)> = [r.addr, s.addr]
                            .iter()
                            .map(|addr| {
                                let mut c = open(*addr);
                                c.write_all(input).unwrap();
                                drain(&mut c, Duration::from_millis(500))
                            })
                            .collect();
                        (got[0] != got[1]).then(|| {
                            format!(
                                "input {:?}\n  redis: {:?} closed={}\n  ours:  {:?} closed={}",
                                show(&input[..input.len().min(80)]),
                                show(&got[0].0),
                                got[0].1,
                                show(&got[1].0),
                                got[1].1
                            )
                        })
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().unwrap()).collect()
        });
        assert!(mismatches.is_empty(), "{} of {} inputs differ:\n{}", mismatches.len(), bad_inputs().len(), mismatches.join("\n"));
        let mut c = connect(s.addr);
        assert_eq!(int(&mut c, &["DBSIZE"]), 1, "only the SET in the inputs stored a key");
    }
);

/// A pipeline of deterministic commands, multibulk and inline mixed.
fn pipeline() -> Vec<u8> {
    let mut p = Vec::new();
    let cmds: &[&[&str]] = &[
        &["PING"],
        &["SET", "a", "1"],
        &["INCR", "a"],
        &["APPEND", "a", "xyz"],
        &["GET", "a"],
        &["MSET", "b", "hello world", "c", ""],
        &["MGET", "a", "b", "c", "missing"],
        &["ECHO", "line\r\nbreak"],
        &["INCR", "b"],
        &["GETRANGE", "b", "-5", "-1"],
        &["DEL", "a", "c"],
        &["EXISTS", "a", "b", "c"],
        &["NOSUCH", "x"],
        &["get"],
    ];
    for round in 0..3 {
        for c in cmds {
            let args: Vec<Vec<u8>> = c.iter().map(|s| s.as_bytes().to_vec()).collect();
            readyloop_harness::kvdiff::resp::encode_command(&args, &mut p);
        }
        p.extend_from_slice(
            format!("SET inline{round} \"quoted value\"\r\nGET inline{round}\r\n\r\nINCRBY n 5\n")
                .as_bytes(),
        );
    }
    p
}

each_backend!(
    /// The pipeline split at random places (and one byte at a time) gets exactly the reply bytes
    /// redis-server gives it whole.
    split_anywhere_same_replies,
    |backend| {
        let r = redis();
        let s = kv(backend, &[]);
        let input = pipeline();
        let want = {
            let mut c = open(r.addr);
            c.write_all(&input).unwrap();
            let (b, _) = drain(&mut c, Duration::from_millis(300));
            // Every reply is well-formed RESP.
            let mut rd = &b[..];
            let mut n = 0;
            while !rd.is_empty() {
                read_value(&mut rd).expect("redis reply parses");
                n += 1;
            }
            assert_eq!(n, 3 * 17, "one reply per command (the empty inline line has none)");
            b
        };
        let send = |pieces: &[&[u8]]| -> Vec<u8> {
            let mut flush = connect(s.addr);
            call(&mut flush, &["FLUSHALL"]);
            let mut c = open(s.addr);
            for p in pieces {
                c.write_all(p).unwrap();
            }
            read_n(&mut c, want.len())
        };
        let one_by_one: Vec<&[u8]> = input.chunks(1).collect();
        let got = send(&one_by_one);
        assert!(got == want, "one byte at a time:\n redis {}\n ours  {}", show(&want), show(&got));
        let mut runner = TestRunner::new(Config {
            cases: 32,
            failure_persistence: None,
            ..Config::default()
        });
        let n = input.len();
        runner
            .run(&proptest::collection::vec(1..n, 1..40), |mut cuts| {
                cuts.sort_unstable();
                cuts.dedup();
                let mut pieces = Vec::new();
                let mut at = 0;
                for c in cuts.into_iter().chain([n]) {
                    pieces.push(&input[at..c]);
                    at = c;
                }
                let got = send(&pieces);
                prop_assert!(got == want, "split {:?}:\n redis {}\n ours  {}", pieces.iter().map(|p| p.len()).collect::<Vec<_>>(), show(&want), show(&got));
                Ok(())
            })
            .unwrap();
    }
);

/// Random input: pure noise, or RESP-looking tokens glued at random.
fn fuzz_input() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"0".to_vec()),
        Just(b"3".to_vec()),
        Just(b"99999999999999999999".to_vec()),
        Just(b"2147483648".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\\x".to_vec()),
        Just(b" ".to_vec()),
        Just(b"SET".to_vec()),
        Just(b"GET".to_vec()),
        Just(b"INCR".to_vec()),
        Just(b"HELLO".to_vec()),
        Just(b"SUBSCRIBE".to_vec()),
        Just(b"k".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2048),
        proptest::collection::vec(token, 0..200).prop_map(|t| t.concat()),
    ]
}

each_backend!(
    /// Random bytes in random pieces: whatever comes back is well-formed RESP, the server stays
    /// up, and a client connected throughout is unaffected.
    random_bytes_never_crash,
    |backend| {
        let s = kv(backend, &[]);
        let mut first = connect(s.addr);
        call(&mut first, &["SET", "bystander", "still here"]);
        // proptest's closure is Fn: the long-lived connection sits in a RefCell.
        let bystander = std::cell::RefCell::new(first);
        let mut runner = TestRunner::new(Config {
            cases: 64,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&(fuzz_input(), proptest::collection::vec(1usize..64, 1..8)), |(input, sizes)| {
                let mut c = open(s.addr);
                let mut at = 0;
                for sz in sizes.iter().cycle() {
                    if at >= input.len() {
                        break;
                    }
                    let end = (at + sz).min(input.len());
                    if c.write_all(&input[at..end]).is_err() {
                        break; // closed after a protocol error: allowed
                    }
                    at = end;
                }
                let _ = c.shutdown(Shutdown::Write);
                let (reply, _) = drain(&mut c, Duration::from_millis(150));
                let mut rd = &reply[..];
                while !rd.is_empty() {
                    if let Err(e) = read_value(&mut rd) {
                        return Err(TestCaseError::fail(format!(
                            "reply is not RESP ({e}) for input {}: {}",
                            show(&input),
                            show(&reply)
                        )));
                    }
                }
                prop_assert!(s.alive(), "server died on input {}\n{}", show(&input), s.log());
                let v = bystander.borrow_mut().cmd(&["GET", "bystander"]);
                prop_assert!(matches!(&v, Ok(b) if *b == bulk("still here")), "bystander got {:?} after input {}", v, show(&input));
                Ok(())
            })
            .unwrap();
        let mut fresh = connect(s.addr);
        assert_eq!(call(&mut fresh, &["GET", "bystander"]), bulk("still here"));
    }
);
