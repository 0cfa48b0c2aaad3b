//! The large forms of collections and strings against redis-server, reply for reply: sorted
//! sets past the listpack limit (ranks, counts, every range form with LIMIT and REV, range
//! removals, pops), big sets' random picks, strings edited in place (APPEND, SETRANGE,
//! GETRANGE), LREM, and RENAME/MOVE of big values.

use super::kv_util::*;

/// Send the same command to both; the replies must be equal.
fn same(ours: &mut Conn, redis: &mut Conn, args: &[&str]) -> Value {
    let a = call(ours, args);
    let b = call(redis, args);
    assert_eq!(a, b, "{}", args.join(" "));
    a
}

/// 1,500 members (past zset-max-listpack-entries): scores 0..50 with ties, and a run of
/// equal-score members for the lex commands.
fn fill_zset(ours: &mut Conn, redis: &mut Conn) {
    let mut rng = Rng(7);
    for k in 0..1500 {
        let s = rng.below(50).to_string();
        let m = format!("m{:05}", rng.below(100_000) + k);
        same(ours, redis, &["ZADD", "z", &s, &m]);
        same(ours, redis, &["ZADD", "lex", "0", &m]);
    }
    // Updates move members; -0 and inf at the edges.
    same(
        ours,
        redis,
        &["ZADD", "z", "-inf", "bottom", "+inf", "top", "-0", "zero"],
    );
    same(ours, redis, &["ZINCRBY", "z", "25", "zero"]);
    assert_eq!(call(ours, &["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
}

each_backend!(large_sorted_sets_answer_as_redis, |b| {
    let r = redis();
    let srv = kv(b, &[]);
    let (mut o, mut x) = (connect(srv.addr), connect(r.addr));
    fill_zset(&mut o, &mut x);
    let members = call(&mut x, &["ZRANGE", "z", "0", "-1"]);
    for m in members.items().expect("array").iter().step_by(37) {
        let m = std::str::from_utf8(m.as_bytes().expect("bulk")).unwrap();
        same(&mut o, &mut x, &["ZRANK", "z", m]);
        same(&mut o, &mut x, &["ZREVRANK", "z", m]);
        same(&mut o, &mut x, &["ZSCORE", "z", m]);
    }
    same(&mut o, &mut x, &["ZRANK", "z", "absent"]);
    for (lo, hi) in [
        ("-inf", "+inf"),
        ("10", "20"),
        ("(10", "20"),
        ("10", "(20"),
        ("(10", "(10"),
        ("30", "5"),
        ("49", "1000"),
        ("-1000", "-1"),
    ] {
        same(&mut o, &mut x, &["ZCOUNT", "z", lo, hi]);
        same(
            &mut o,
            &mut x,
            &[
                "ZRANGEBYSCORE",
                "z",
                lo,
                hi,
                "WITHSCORES",
                "LIMIT",
                "3",
                "7",
            ],
        );
        same(
            &mut o,
            &mut x,
            &["ZREVRANGEBYSCORE", "z", hi, lo, "LIMIT", "5", "4"],
        );
        same(
            &mut o,
            &mut x,
            &["ZRANGE", "z", lo, hi, "BYSCORE", "LIMIT", "0", "-1"],
        );
        same(
            &mut o,
            &mut x,
            &[
                "ZRANGE", "z", hi, lo, "BYSCORE", "REV", "LIMIT", "100", "10",
            ],
        );
        same(
            &mut o,
            &mut x,
            &["ZRANGEBYSCORE", "z", lo, hi, "LIMIT", "-1", "10"],
        );
    }
    for (s, e) in [
        ("0", "9"),
        ("-10", "-1"),
        ("700", "710"),
        ("1490", "5000"),
        ("-5000", "2"),
        ("5", "3"),
        ("2000", "3000"),
    ] {
        same(&mut o, &mut x, &["ZRANGE", "z", s, e, "WITHSCORES"]);
        same(&mut o, &mut x, &["ZREVRANGE", "z", s, e]);
        same(&mut o, &mut x, &["ZRANGE", "z", s, e, "REV"]);
    }
    for (lo, hi) in [
        ("-", "+"),
        ("[m01000", "[m05000"),
        ("(m01000", "(m05000"),
        ("[m5", "+"),
        ("-", "(m002"),
        ("[zz", "[aa"),
    ] {
        same(&mut o, &mut x, &["ZLEXCOUNT", "lex", lo, hi]);
        same(
            &mut o,
            &mut x,
            &["ZRANGEBYLEX", "lex", lo, hi, "LIMIT", "2", "5"],
        );
        same(
            &mut o,
            &mut x,
            &["ZREVRANGEBYLEX", "lex", hi, lo, "LIMIT", "0", "6"],
        );
    }
    same(
        &mut o,
        &mut x,
        &["ZRANGESTORE", "dst", "z", "10", "20", "BYSCORE"],
    );
    same(&mut o, &mut x, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]);
    same(&mut o, &mut x, &["ZREMRANGEBYRANK", "z", "100", "199"]);
    same(&mut o, &mut x, &["ZREMRANGEBYSCORE", "z", "(40", "45"]);
    same(
        &mut o,
        &mut x,
        &["ZREMRANGEBYLEX", "lex", "[m02000", "(m04000"],
    );
    same(&mut o, &mut x, &["ZPOPMIN", "z", "3"]);
    same(&mut o, &mut x, &["ZPOPMAX", "z", "2"]);
    same(&mut o, &mut x, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]);
    same(&mut o, &mut x, &["ZRANGE", "lex", "0", "-1"]);
    // Random members are members, distinct for a positive count.
    let n = int(&mut o, &["ZCARD", "z"]) as usize;
    let picks = call(&mut o, &["ZRANDMEMBER", "z", "50", "WITHSCORES"]);
    let items = picks.items().expect("array");
    assert_eq!(items.len(), 100);
    let mut seen = std::collections::HashSet::new();
    for pair in items.chunks(2) {
        let m = std::str::from_utf8(pair[0].as_bytes().unwrap())
            .unwrap()
            .to_string();
        let score = call(&mut x, &["ZSCORE", "z", &m]);
        assert_eq!(pair[1], score, "{m}'s score");
        assert!(seen.insert(m));
    }
    let all = call(&mut o, &["ZRANDMEMBER", "z", &(n + 10).to_string()]);
    assert_eq!(all.items().map(<[Value]>::len), Some(n));
    assert_eq!(
        call(&mut o, &["ZRANDMEMBER", "z", "-3000"])
            .items()
            .map(<[Value]>::len),
        Some(3000)
    );
    // Every member is picked eventually (the draw is uniform over ids, not biased).
    let mut hit = std::collections::HashSet::new();
    for _ in 0..40 {
        for v in call(&mut o, &["ZRANDMEMBER", "z", "-500"]).items().unwrap() {
            hit.insert(v.as_bytes().expect("bulk").to_vec());
        }
    }
    assert!(
        hit.len() * 10 > n * 9,
        "{} of {n} members ever picked",
        hit.len()
    );
});

each_backend!(large_sets_pick_and_pop_members_as_redis, |b| {
    let r = redis();
    let srv = kv(b, &[]);
    let (mut o, mut x) = (connect(srv.addr), connect(r.addr));
    for k in 0..2000u32 {
        let m = if k.is_multiple_of(3) {
            format!("a-member-name-long-enough-for-the-heap-{k}")
        } else {
            format!("m{k}")
        };
        same(&mut o, &mut x, &["SADD", "s", &m]);
    }
    assert_eq!(
        call(&mut o, &["OBJECT", "ENCODING", "s"]),
        bulk("hashtable")
    );
    let picks = call(&mut o, &["SRANDMEMBER", "s", "700"]);
    let items = picks.items().expect("array");
    let distinct: std::collections::HashSet<Vec<u8>> = items
        .iter()
        .map(|v| v.as_bytes().expect("bulk").to_vec())
        .collect();
    assert_eq!((items.len(), distinct.len()), (700, 700));
    for m in items {
        let m = std::str::from_utf8(m.as_bytes().unwrap()).unwrap();
        assert_eq!(int(&mut x, &["SISMEMBER", "s", m]), 1, "{m} is a member");
    }
    // SPOP with a count removes exactly what it returns.
    let popped = call(&mut o, &["SPOP", "s", "1500"]);
    let popped = popped.items().expect("array");
    assert_eq!(popped.len(), 1500);
    for m in popped {
        let m = std::str::from_utf8(m.as_bytes().unwrap()).unwrap();
        assert_eq!(int(&mut o, &["SISMEMBER", "s", m]), 0);
        assert_eq!(int(&mut x, &["SREM", "s", m]), 1, "{m} was a member");
    }
    same(&mut o, &mut x, &["SCARD", "s"]);
    let mut left: Vec<Value> = call(&mut o, &["SMEMBERS", "s"]).items().unwrap().to_vec();
    let mut want: Vec<Value> = call(&mut x, &["SMEMBERS", "s"]).items().unwrap().to_vec();
    left.sort_by_key(|v| v.as_bytes().map(<[u8]>::to_vec));
    want.sort_by_key(|v| v.as_bytes().map(<[u8]>::to_vec));
    assert_eq!(left, want);
});

each_backend!(strings_edited_in_place_answer_as_redis, |b| {
    let r = redis();
    let srv = kv(b, &[]);
    let (mut o, mut x) = (connect(srv.addr), connect(r.addr));
    same(&mut o, &mut x, &["SET", "n", "12345"]);
    same(&mut o, &mut x, &["APPEND", "n", "6"]);
    same(&mut o, &mut x, &["OBJECT", "ENCODING", "n"]);
    same(&mut o, &mut x, &["SETRANGE", "n", "2", "xx"]);
    same(&mut o, &mut x, &["GET", "n"]);
    same(&mut o, &mut x, &["SETRANGE", "fresh", "5", "ab"]);
    same(&mut o, &mut x, &["GET", "fresh"]);
    same(&mut o, &mut x, &["SETRANGE", "fresh", "0", ""]);
    same(&mut o, &mut x, &["SETRANGE", "absent", "3", ""]);
    same(&mut o, &mut x, &["EXISTS", "absent"]);
    let chunk = "0123456789abcdef".repeat(64);
    for k in 0..2000 {
        same(&mut o, &mut x, &["APPEND", "big", &chunk[..(k % 1024) + 1]]);
    }
    same(&mut o, &mut x, &["STRLEN", "big"]);
    same(&mut o, &mut x, &["SETRANGE", "big", "1000000", "tail"]);
    same(&mut o, &mut x, &["SETRANGE", "big", "7", "in-the-middle"]);
    for (s, e) in [
        ("0", "40"),
        ("-20", "-1"),
        ("999990", "2000000"),
        ("5", "2"),
        ("-1", "-5"),
    ] {
        same(&mut o, &mut x, &["GETRANGE", "big", s, e]);
    }
    same(&mut o, &mut x, &["GETRANGE", "n", "1", "3"]);
    same(&mut o, &mut x, &["GET", "big"]);
    same(&mut o, &mut x, &["EXPIRE", "big", "100"]);
    same(&mut o, &mut x, &["APPEND", "big", "z"]);
    same(&mut o, &mut x, &["TTL", "big"]);
});

each_backend!(lrem_and_moves_of_big_values_answer_as_redis, |b| {
    let r = redis();
    let srv = kv(b, &[]);
    let (mut o, mut x) = (connect(srv.addr), connect(r.addr));
    let mut rng = Rng(3);
    for _ in 0..3000 {
        let v = ["a", "b", "c"][rng.below(3) as usize];
        same(&mut o, &mut x, &["RPUSH", "l", v]);
    }
    for count in ["2", "-3", "0", "100", "-100", "-9223372036854775808"] {
        for v in ["a", "b"] {
            same(&mut o, &mut x, &["LREM", "l", count, v]);
            same(&mut o, &mut x, &["RPUSH", "l", v, "c", v]);
        }
    }
    same(&mut o, &mut x, &["LRANGE", "l", "0", "-1"]);
    fill_zset(&mut o, &mut x);
    same(&mut o, &mut x, &["EXPIRE", "z", "1000"]);
    same(&mut o, &mut x, &["RENAME", "z", "z2"]);
    same(&mut o, &mut x, &["TTL", "z2"]);
    same(&mut o, &mut x, &["RENAME", "l", "z2"]);
    same(&mut o, &mut x, &["TYPE", "z2"]);
    same(&mut o, &mut x, &["RENAME", "lex", "l2"]);
    same(&mut o, &mut x, &["MOVE", "l2", "3"]);
    same(&mut o, &mut x, &["EXISTS", "l2"]);
    same(&mut o, &mut x, &["SELECT", "3"]);
    same(&mut o, &mut x, &["ZCARD", "l2"]);
    same(&mut o, &mut x, &["ZRANGE", "l2", "100", "120"]);
    same(&mut o, &mut x, &["ZRANK", "l2", "m01234"]);
});
