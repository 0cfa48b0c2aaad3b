//! Client numbers at their extremes: range checks with Redis 7.0's exact errors, and no
//! request, whatever integers it carries, takes the server down or hangs it.

use super::kv_util::*;

const COUNT_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const MIN: &str = "-9223372036854775808";
const NEG_MAX: &str = "-9223372036854775807";

fn err_text(v: &Value) -> String {
    match v {
        Value::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("expected an error, got {other}"),
    }
}

/// One small and one large (hashtable/skiplist) collection of each random-pick type.
fn fill(c: &mut Conn) {
    call(c, &["HSET", "h", "a", "1", "b", "2"]);
    call(c, &["SADD", "s", "a", "b"]);
    call(c, &["ZADD", "z", "1", "a", "2", "b"]);
    for k in 0..600 {
        let m = format!("member-{k}");
        call(c, &["HSET", "hbig", &m, "v"]);
        call(c, &["SADD", "sbig", &m]);
        call(c, &["ZADD", "zbig", &k.to_string(), &m]);
    }
}

each_backend!(random_counts_are_range_checked_as_redis, |b| {
    let srv = kv(b, &[]);
    let mut c = connect(srv.addr);
    fill(&mut c);
    for key in ["h", "hbig"] {
        let v = call(&mut c, &["HRANDFIELD", key, MIN]);
        assert_eq!(err_text(&v), COUNT_RANGE);
        // The range check comes before the syntax check, as in Redis.
        let v = call(&mut c, &["HRANDFIELD", key, MIN, "bogus"]);
        assert_eq!(err_text(&v), COUNT_RANGE);
        let v = call(&mut c, &["HRANDFIELD", key, NEG_MAX, "WITHVALUES"]);
        assert_eq!(err_text(&v), "ERR value is out of range");
    }
    for key in ["s", "sbig"] {
        let v = call(&mut c, &["SRANDMEMBER", key, MIN]);
        assert_eq!(err_text(&v), COUNT_RANGE);
    }
    for key in ["z", "zbig"] {
        let v = call(&mut c, &["ZRANDMEMBER", key, MIN]);
        assert_eq!(err_text(&v), COUNT_RANGE);
        let v = call(&mut c, &["ZRANDMEMBER", key, MIN, "WITHSCORES"]);
        assert_eq!(err_text(&v), COUNT_RANGE);
        let v = call(&mut c, &["ZRANDMEMBER", key, NEG_MAX, "WITHSCORES"]);
        assert_eq!(err_text(&v), "ERR value is out of range");
    }
    // Huge positive counts are bounded by the collection: every member once.
    for (cmd, key) in [
        ("HRANDFIELD", "hbig"),
        ("SRANDMEMBER", "sbig"),
        ("ZRANDMEMBER", "zbig"),
    ] {
        let v = call(&mut c, &[cmd, key, "9223372036854775807"]);
        let items = v.items().unwrap_or_else(|| panic!("{cmd}: {v}"));
        let distinct: std::collections::HashSet<Vec<u8>> = items
            .iter()
            .map(|v| v.as_bytes().expect("bulk").to_vec())
            .collect();
        assert_eq!((items.len(), distinct.len()), (600, 600), "{cmd}");
    }
    let v = call(&mut c, &["SPOP", "sbig", "9223372036854775807"]);
    assert_eq!(v.items().map(<[Value]>::len), Some(600));
    assert_eq!(int(&mut c, &["EXISTS", "sbig"]), 0);
});

each_backend!(
    /// A negative count so large its reply could never be delivered (Redis builds it until
    /// memory runs out): that client is closed, nothing is built, and everyone else is served.
    a_random_count_too_large_to_reply_closes_only_that_client,
    |b| {
        if testing_redis_itself() {
            return; // Redis itself would try to build the reply and exhaust memory.
        }
        let srv = kv(b, &[]);
        let mut other = connect(srv.addr);
        fill(&mut other);
        for (cmd, key) in [
            ("HRANDFIELD", "h"),
            ("SRANDMEMBER", "sbig"),
            ("ZRANDMEMBER", "z"),
        ] {
            let mut c = connect(srv.addr);
            let started = std::time::Instant::now();
            let r = c.cmd(&[cmd, key, NEG_MAX]);
            assert!(r.is_err(), "{cmd} {key} {NEG_MAX}: expected a close, got {r:?}");
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
            assert_eq!(call(&mut other, &["PING"]), Value::Simple(b"PONG".to_vec()));
        }
        // A large count that can be delivered still is, with repetition.
        let v = call(&mut other, &["SRANDMEMBER", "s", "-100000"]);
        assert_eq!(v.items().map(<[Value]>::len), Some(100_000));
        assert!(srv.alive(), "{}", srv.log());
    }
);

/// Commands with a numeric argument, the argument written as `N`.
const NUMERIC: &[&str] = &[
    "HRANDFIELD hbig N",
    "HRANDFIELD h N WITHVALUES",
    "SRANDMEMBER sbig N",
    "SPOP sbig N",
    "ZRANDMEMBER zbig N WITHSCORES",
    "ZRANGE zbig N N",
    "ZRANGE zbig 0 -1 BYSCORE LIMIT N N",
    "ZRANGE zbig N N REV",
    "ZREVRANGE zbig N N",
    "ZRANGEBYSCORE zbig -inf +inf LIMIT N N",
    "ZREVRANGEBYLEX zbig + - LIMIT N N",
    "ZREMRANGEBYRANK zbig N N",
    "ZPOPMIN zbig N",
    "ZMPOP 1 zbig MIN COUNT N",
    "ZUNIONSTORE d N zbig",
    "ZINTERSTORE d N zbig",
    "LRANGE l N N",
    "LTRIM l N N",
    "LINDEX l N",
    "LSET l N x",
    "LREM l N a",
    "LPOS l a RANK N",
    "LPOS l a COUNT N",
    "LPOS l a MAXLEN N",
    "LPOP l N",
    "LMPOP 1 l LEFT COUNT N",
    "SINTERCARD N sbig",
    "SINTERCARD 1 sbig LIMIT N",
    "GETRANGE str N N",
    "SETRANGE str N x",
    "SETBIT str N 1",
    "GETBIT str N",
    "BITCOUNT str N N",
    "INCRBY n N",
    "DECRBY n N",
    "EXPIRE str N",
    "PEXPIRE str N",
    "EXPIREAT str N",
    "SET t v EX N",
    "SET t v PX N",
    "GETEX str EX N",
    "HINCRBY h f N",
    "SELECT N",
    "MOVE str N",
    "SCAN N COUNT N",
    "SSCAN sbig 0 COUNT N",
    "OBJECT FREQ str",
];

each_backend!(
    /// Every numeric argument above at i64's edges (and just past them): each gets a reply,
    /// and the server is still up afterwards.
    extreme_integers_in_numeric_arguments_keep_the_server_up,
    |b| {
        let srv = kv(b, &[]);
        let mut c = connect(srv.addr);
        for n in [
            "9223372036854775807",
            "9223372036854775806",
            "4611686018427387904",
            "4294967296",
            "2147483648",
            "-1",
            "0",
            "-4611686018427387904",
            NEG_MAX,
            MIN,
            "9223372036854775808",
            "-9223372036854775809",
        ] {
            fill(&mut c);
            call(&mut c, &["RPUSH", "l", "a", "b", "a"]);
            call(&mut c, &["SET", "str", "hello"]);
            call(&mut c, &["SET", "n", "5"]);
            for shape in NUMERIC {
                // Huge negative counts without WITHVALUES/WITHSCORES are replies too large to
                // deliver: the test above pins what happens to them.
                let pick = shape.contains("RANDFIELD") || shape.contains("RANDMEMBER");
                if pick && !shape.contains("WITH") && n.starts_with('-') && n.len() > 3 {
                    continue;
                }
                let args: Vec<&str> = shape
                    .split(' ')
                    .map(|a| if a == "N" { n } else { a })
                    .collect();
                let _ = c
                    .cmd(&args)
                    .unwrap_or_else(|e| panic!("{} ({e}); log:\n{}", args.join(" "), srv.log()));
            }
            call(&mut c, &["SELECT", "0"]);
            assert_eq!(call(&mut c, &["PING"]), Value::Simple(b"PONG".to_vec()));
        }
        assert!(srv.alive());
    }
);
