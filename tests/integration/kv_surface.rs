//! Bitmaps, HyperLogLog, geo, SORT and the sorted-set algebra compared reply for reply with
//! redis-server 7.0: fixed scripts of edge cases (errors, ranges, options), seeded random
//! sequences, and HyperLogLog values moved byte for byte between the two servers.

use reactor::Backend;

use crate::kv_util::{call, connect, kv, redis, Conn, Rng, Value};

/// Run `script` on both servers (RESP2, then RESP3 when `resp3`), replies must be equal.
fn same(ours: &mut Conn, theirs: &mut Conn, script: &[&[&str]]) {
    for cmd in script {
        let (a, b) = (call(ours, cmd), call(theirs, cmd));
        assert_eq!(a, b, "{}: ours {a} vs redis {b}", cmd.join(" "));
    }
}

fn pair(backend: Backend) -> (crate::kv_util::UnderTest, crate::kv_util::RedisServer) {
    (kv(backend, &[]), redis())
}

const BITMAPS: &[&[&str]] = &[
    &["SET", "s", "foobar"],
    &["BITCOUNT", "s"],
    &["BITCOUNT", "s", "1", "1"],
    &["BITCOUNT", "s", "-2", "-1"],
    &["BITCOUNT", "s", "-1", "-2"],
    &["BITCOUNT", "s", "5", "30", "BIT"],
    &["BITCOUNT", "s", "0", "1", "bad"],
    &["BITCOUNT", "s", "x", "1"],
    &["BITCOUNT", "nokey", "x", "1"],
    &["BITCOUNT", "s", "1"],
    &["BITPOS", "s", "1"],
    &["BITPOS", "s", "0", "2", "-1"],
    &["BITPOS", "s", "1", "7", "15", "BIT"],
    &["BITPOS", "s", "0", "7", "15", "bit"],
    &["BITPOS", "s", "2"],
    &["BITPOS", "nokey", "0"],
    &["BITPOS", "nokey", "1"],
    &["SET", "ff", "\u{7f}"],
    &["BITPOS", "ff", "0", "0"],
    &["BITPOS", "ff", "0", "0", "-1"],
    &["SETBIT", "b", "7", "1"],
    &["SETBIT", "b", "7", "1"],
    &["SETBIT", "b", "100", "1"],
    &["SETBIT", "b", "-1", "1"],
    &["SETBIT", "b", "1", "2"],
    &["SETBIT", "b", "4294967296000", "1"],
    &["GET", "b"],
    &["GETBIT", "b", "100"],
    &["GETBIT", "b", "1000"],
    &["GETBIT", "nokey", "3"],
    &["SET", "n", "12345"],
    &["SETBIT", "n", "2", "1"],
    &["GET", "n"],
    &["BITOP", "AND", "d", "s", "b"],
    &["GET", "d"],
    &["BITOP", "OR", "d", "s", "b", "nokey"],
    &["GET", "d"],
    &["BITOP", "XOR", "d", "s", "b"],
    &["GET", "d"],
    &["BITOP", "NOT", "d", "s"],
    &["GET", "d"],
    &["BITOP", "NOT", "d", "s", "b"],
    &["BITOP", "NAND", "d", "s"],
    &["BITOP", "AND", "d", "nokey", "nokey2"],
    &["EXISTS", "d"],
    &["LPUSH", "l", "a"],
    &["BITCOUNT", "l"],
    &["BITOP", "OR", "d", "s", "l"],
    &["SETBIT", "l", "1", "1"],
    &[
        "BITFIELD", "bf", "SET", "u8", "0", "255", "GET", "u8", "0", "GET", "i8", "0",
    ],
    &[
        "BITFIELD", "bf", "INCRBY", "u2", "100", "1", "OVERFLOW", "SAT", "INCRBY", "u2", "102", "7",
    ],
    &[
        "BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "i8", "#1", "200", "GET", "i8", "#1",
    ],
    &[
        "BITFIELD",
        "bf",
        "OVERFLOW",
        "WRAP",
        "INCRBY",
        "i64",
        "0",
        "9223372036854775807",
        "INCRBY",
        "i64",
        "0",
        "9",
    ],
    &["BITFIELD", "bf", "SET", "u64", "0", "1"],
    &["BITFIELD", "bf", "SET", "i8", "-1", "1"],
    &["BITFIELD", "bf", "OVERFLOW", "bogus"],
    &["BITFIELD", "bf", "GET", "u8"],
    &["BITFIELD", "bf", "SET", "u8", "0", "x"],
    &["BITFIELD_RO", "bf", "GET", "u4", "3"],
    &["BITFIELD_RO", "bf", "SET", "u4", "3", "1"],
    &["BITFIELD", "nokey", "GET", "u8", "0"],
    &["EXISTS", "nokey"],
    &["GET", "bf"],
];

const HLL: &[&[&str]] = &[
    &["PFADD", "h"],
    &["GET", "h"],
    &["PFADD", "h", "a", "b", "c"],
    &["PFADD", "h", "a"],
    &["PFCOUNT", "h"],
    &["GET", "h"],
    &["PFDEBUG", "DECODE", "h"],
    &["PFDEBUG", "ENCODING", "h"],
    &["PFADD", "h2", "c", "d", "e", "f"],
    &["PFCOUNT", "h", "h2", "nokey"],
    &["PFMERGE", "m", "h", "h2"],
    &["GET", "m"],
    &["PFCOUNT", "m"],
    &["PFDEBUG", "TODENSE", "h2"],
    &["PFDEBUG", "ENCODING", "h2"],
    &["PFDEBUG", "DECODE", "h2"],
    &["PFMERGE", "m2", "h", "h2"],
    &["GET", "m2"],
    &["PFDEBUG", "GETREG", "h"],
    &["GET", "h"],
    &["PFDEBUG", "BOGUS", "h"],
    &["PFDEBUG", "DECODE", "nokey"],
    &["SET", "str", "abc"],
    &["PFADD", "str", "x"],
    &["PFCOUNT", "str"],
    &["PFMERGE", "str", "h"],
    &["LPUSH", "l", "x"],
    &["PFADD", "l", "x"],
    &["PFCOUNT", "h", "l"],
    &[
        "SET",
        "bad",
        "HYLL\u{1}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{7f}\u{fe}",
    ],
    &["PFCOUNT", "bad"],
    &["PFSELFTEST"],
];

const GEO: &[&[&str]] = &[
    &[
        "GEOADD",
        "Sicily",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ],
    &[
        "GEOADD", "Sicily", "NX", "CH", "13.5", "38.1", "Palermo", "12.5", "37.8", "Marsala",
    ],
    &[
        "GEOADD",
        "Sicily",
        "XX",
        "CH",
        "13.361389",
        "38.115556",
        "Palermo",
        "1",
        "1",
        "Nowhere",
    ],
    &["GEOADD", "Sicily", "200", "100", "bad"],
    &["GEOADD", "Sicily", "NX", "XX", "1", "1", "a"],
    &["GEOADD", "Sicily", "1", "1"],
    &["GEOADD", "Sicily", "x", "1", "a"],
    &["GEODIST", "Sicily", "Palermo", "Catania"],
    &["GEODIST", "Sicily", "Palermo", "Catania", "km"],
    &["GEODIST", "Sicily", "Palermo", "Catania", "mi"],
    &["GEODIST", "Sicily", "Palermo", "Catania", "parsec"],
    &["GEODIST", "Sicily", "Palermo", "nobody"],
    &["GEODIST", "nokey", "a", "b"],
    &["GEOHASH", "Sicily", "Palermo", "Catania", "nobody"],
    &["GEOHASH", "nokey", "a"],
    &["GEOPOS", "Sicily", "Palermo", "Catania", "nobody"],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "WITHDIST",
        "WITHCOORD",
        "WITHHASH",
        "ASC",
    ],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "DESC",
        "COUNT",
        "1",
    ],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "COUNT",
        "2",
        "ANY",
    ],
    &["GEORADIUS", "Sicily", "15", "37", "200", "km", "ANY"],
    &["GEORADIUS", "Sicily", "15", "37", "-1", "km"],
    &["GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "0"],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STORE",
        "dst",
        "WITHDIST",
    ],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STORE",
        "dst",
    ],
    &["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
    &[
        "GEORADIUS",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STOREDIST",
        "dst",
    ],
    &["ZRANGE", "dst", "0", "-1", "WITHSCORES"],
    &[
        "GEORADIUS_RO",
        "Sicily",
        "15",
        "37",
        "200",
        "km",
        "STORE",
        "dst",
    ],
    &[
        "GEORADIUSBYMEMBER",
        "Sicily",
        "Palermo",
        "300",
        "km",
        "WITHDIST",
        "ASC",
    ],
    &["GEORADIUSBYMEMBER", "Sicily", "nobody", "300", "km"],
    &["GEORADIUSBYMEMBER_RO", "nokey", "nobody", "300", "km"],
    &[
        "GEOSEARCH",
        "Sicily",
        "FROMLONLAT",
        "15",
        "37",
        "BYBOX",
        "400",
        "400",
        "km",
        "ASC",
        "WITHCOORD",
        "WITHDIST",
    ],
    &[
        "GEOSEARCH",
        "Sicily",
        "FROMMEMBER",
        "Palermo",
        "BYRADIUS",
        "100",
        "km",
    ],
    &[
        "GEOSEARCH",
        "Sicily",
        "FROMMEMBER",
        "Palermo",
        "FROMLONLAT",
        "1",
        "1",
        "BYRADIUS",
        "100",
        "km",
    ],
    &["GEOSEARCH", "Sicily", "BYRADIUS", "100", "km"],
    &["GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37"],
    &[
        "GEOSEARCH",
        "Sicily",
        "FROMLONLAT",
        "15",
        "37",
        "BYBOX",
        "-1",
        "1",
        "km",
    ],
    &[
        "GEOSEARCH",
        "Sicily",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "100",
        "km",
        "STORE",
        "x",
    ],
    &[
        "GEOSEARCH",
        "nokey",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "100",
        "km",
    ],
    &[
        "GEOSEARCHSTORE",
        "dst2",
        "Sicily",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "500",
        "km",
        "STOREDIST",
        "COUNT",
        "2",
    ],
    &["ZRANGE", "dst2", "0", "-1", "WITHSCORES"],
    &[
        "GEOSEARCHSTORE",
        "dst2",
        "Sicily",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "500",
        "km",
        "WITHDIST",
    ],
    &[
        "GEOSEARCHSTORE",
        "dst2",
        "nokey",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "500",
        "km",
    ],
    &["EXISTS", "dst2"],
    &["SET", "str", "x"],
    &["GEOADD", "str", "1", "1", "a"],
    &["GEOPOS", "str", "a"],
];

const SORT: &[&[&str]] = &[
    &["RPUSH", "l", "3", "1", "2", "10", "1.5"],
    &["SORT", "l"],
    &["SORT", "l", "DESC"],
    &["SORT", "l", "ALPHA"],
    &["SORT", "l", "LIMIT", "1", "2"],
    &["SORT", "l", "LIMIT", "10", "2"],
    &["SORT", "l", "LIMIT", "-5", "-1"],
    &["SORT", "l", "BY", "nosort"],
    &["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"],
    &[
        "MSET", "w_3", "1", "w_1", "3", "w_2", "2", "o_1", "one", "o_3", "three",
    ],
    &["HSET", "hh_1", "f", "9", "hh_2", "f", "8"],
    &["HSET", "hh_1", "f", "9"],
    &["HSET", "hh_2", "f", "8"],
    &["SORT", "l", "BY", "w_*"],
    &["SORT", "l", "BY", "w_*", "GET", "#", "GET", "o_*"],
    &["SORT", "l", "BY", "hh_*->f", "GET", "hh_*->f"],
    &["SORT", "l", "BY", "w_*", "ALPHA", "DESC"],
    &["SORT", "l", "BY", "nosort", "GET", "o_*", "STORE", "dst"],
    &["LRANGE", "dst", "0", "-1"],
    &["SORT", "l", "STORE", "dst"],
    &["LRANGE", "dst", "0", "-1"],
    &["SORT", "nokey", "STORE", "dst"],
    &["EXISTS", "dst"],
    &["RPUSH", "bad", "1", "x"],
    &["SORT", "bad"],
    &["SORT", "bad", "ALPHA"],
    &["SADD", "s", "5", "3", "4"],
    &["SORT", "s"],
    &["SORT", "s", "BY", "nosort", "STORE", "dst"],
    &["LRANGE", "dst", "0", "-1"],
    &["ZADD", "z", "1", "c", "2", "b", "3", "a"],
    &["SORT", "z", "BY", "nosort"],
    &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"],
    &["SORT", "z", "ALPHA"],
    &["SORT_RO", "l", "STORE", "dst"],
    &["SORT_RO", "l", "DESC"],
    &["SORT", "l", "LIMIT", "x", "1"],
    &["SORT", "l", "BOGUS"],
    &["SET", "str", "1"],
    &["SORT", "str"],
];

const ZALGEBRA: &[&[&str]] = &[
    &["ZADD", "za", "1", "a", "2", "b", "3", "c"],
    &["ZADD", "zb", "10", "b", "20", "c", "30", "d"],
    &["SADD", "sc", "c", "d", "e"],
    &["ZUNION", "2", "za", "zb"],
    &["ZUNION", "3", "za", "zb", "sc", "WITHSCORES"],
    &[
        "ZUNION",
        "2",
        "za",
        "zb",
        "WEIGHTS",
        "2",
        "0.5",
        "AGGREGATE",
        "MAX",
        "WITHSCORES",
    ],
    &["ZINTER", "2", "za", "zb", "WITHSCORES"],
    &[
        "ZINTER",
        "3",
        "za",
        "zb",
        "sc",
        "AGGREGATE",
        "MIN",
        "WITHSCORES",
    ],
    &["ZDIFF", "2", "za", "zb", "WITHSCORES"],
    &["ZDIFF", "1", "za"],
    &["ZDIFF", "2", "za", "zb", "WEIGHTS", "1", "2"],
    &["ZDIFFSTORE", "zd", "2", "zb", "za"],
    &["ZRANGE", "zd", "0", "-1", "WITHSCORES"],
    &["ZDIFFSTORE", "zd", "2", "za", "za"],
    &["EXISTS", "zd"],
    &["ZINTERCARD", "2", "za", "zb"],
    &["ZINTERCARD", "2", "za", "zb", "LIMIT", "1"],
    &["ZINTERCARD", "2", "za", "zb", "LIMIT", "-1"],
    &["ZINTERCARD", "0", "za"],
    &["ZINTERCARD", "3", "za", "zb"],
    &["ZUNION", "0", "za"],
    &["ZUNION", "x", "za"],
    &["ZUNIONSTORE", "zu", "2", "za", "zb", "WITHSCORES"],
    &["ZUNIONSTORE", "zu", "2", "za", "zb"],
    &["ZRANGE", "zu", "0", "-1", "WITHSCORES"],
    &["ZINTERSTORE", "zu", "2", "za", "nokey"],
    &["EXISTS", "zu"],
    &["SET", "str", "x"],
    &["ZUNION", "2", "za", "str"],
    &["BZMPOP", "0.01", "1", "nokey", "MIN"],
    &["BZMPOP", "1", "2", "nokey", "za", "MAX", "COUNT", "2"],
    &["BZMPOP", "1", "1", "za", "MIN", "COUNT", "5"],
    &["EXISTS", "za"],
    &["BZMPOP", "-1", "1", "za", "MIN"],
    &["BZMPOP", "1", "1", "za", "LEFT"],
];

each_backend!(
    /// Fixed scripts of each family, RESP2 then RESP3, against redis-server.
    scripts_match_redis,
    |backend| {
        let (ours, theirs) = pair(backend);
        for resp3 in [false, true] {
            for script in [BITMAPS, HLL, GEO, SORT, ZALGEBRA] {
                let (mut a, mut b) = (connect(ours.addr), connect(theirs.addr));
                same(&mut a, &mut b, &[&["FLUSHALL"]]);
                if resp3 {
                    call(&mut a, &["HELLO", "3"]);
                    call(&mut b, &["HELLO", "3"]);
                }
                same(&mut a, &mut b, script);
            }
        }
    }
);

fn bytes_of(v: Value) -> Vec<u8> {
    match v {
        Value::Bulk(b) => b,
        other => panic!("expected a bulk string, got {other}"),
    }
}

/// HLL values made by either server are read by the other: same bytes, same counts, across
/// the sparse-to-dense switch and merges.
#[test]
fn hll_values_move_byte_for_byte() {
    let (ours, theirs) = pair(Backend::EpollLevel);
    let (mut a, mut b) = (connect(ours.addr), connect(theirs.addr));
    let mut rng = Rng(0x5eed_0001);
    for n in [1usize, 10, 100, 500, 2000, 12000] {
        call(&mut a, &["DEL", "h"]);
        call(&mut b, &["DEL", "h"]);
        let mut added = 0;
        while added < n {
            let batch: Vec<String> = (0..7).map(|_| format!("e{}", rng.below(1 << 40))).collect();
            let mut cmd = vec!["PFADD", "h"];
            cmd.extend(batch.iter().map(String::as_str));
            assert_eq!(call(&mut a, &cmd), call(&mut b, &cmd), "PFADD at {added}");
            added += batch.len();
        }
        let (va, vb) = (call(&mut a, &["GET", "h"]), call(&mut b, &["GET", "h"]));
        assert_eq!(va, vb, "HLL bytes after {n} elements");
        assert_eq!(
            call(&mut a, &["PFCOUNT", "h"]),
            call(&mut b, &["PFCOUNT", "h"])
        );
        assert_eq!(
            call(&mut a, &["GET", "h"]),
            call(&mut b, &["GET", "h"]),
            "cache"
        );
        // Redis's value into ours and ours into Redis.
        let theirs_bytes = bytes_of(call(&mut b, &["GET", "h"]));
        a.call(&[b"SET".to_vec(), b"r".to_vec(), theirs_bytes])
            .unwrap();
        let ours_bytes = bytes_of(call(&mut a, &["GET", "h"]));
        b.call(&[b"SET".to_vec(), b"r".to_vec(), ours_bytes])
            .unwrap();
        for cmd in [
            &["PFADD", "r", "x", "y", "z"][..],
            &["PFCOUNT", "r", "h"],
            &["PFMERGE", "r", "h"],
            &["GET", "r"],
            &["PFCOUNT", "r"],
        ] {
            assert_eq!(call(&mut a, cmd), call(&mut b, cmd), "{}", cmd.join(" "));
        }
    }
}

/// Random geo members and searches: members, order, distances and coordinates as Redis's.
#[test]
fn geo_random_searches_match_redis() {
    let (ours, theirs) = pair(Backend::EpollLevel);
    let (mut a, mut b) = (connect(ours.addr), connect(theirs.addr));
    let mut rng = Rng(0x6e0_5eed);
    let coord = |rng: &mut Rng, span: f64| (rng.below(1_000_000) as f64 / 1_000_000.0 - 0.5) * span;
    for k in 0..400 {
        let lon = format!("{:.6}", 13.0 + coord(&mut rng, 6.0));
        let lat = format!("{:.6}", 38.0 + coord(&mut rng, 4.0));
        let m = format!("m{k}");
        let cmd = ["GEOADD", "g", lon.as_str(), lat.as_str(), m.as_str()];
        assert_eq!(call(&mut a, &cmd), call(&mut b, &cmd));
    }
    for _ in 0..60 {
        let lon = format!("{:.4}", 13.0 + coord(&mut rng, 6.0));
        let lat = format!("{:.4}", 38.0 + coord(&mut rng, 4.0));
        let r = format!("{}", 1 + rng.below(200));
        let w = format!("{}", 1 + rng.below(300));
        let cmds: [Vec<&str>; 4] = [
            vec![
                "GEOSEARCH",
                "g",
                "FROMLONLAT",
                &lon,
                &lat,
                "BYRADIUS",
                &r,
                "km",
                "ASC",
                "WITHDIST",
                "WITHCOORD",
                "WITHHASH",
            ],
            vec![
                "GEOSEARCH",
                "g",
                "FROMLONLAT",
                &lon,
                &lat,
                "BYBOX",
                &w,
                &r,
                "km",
                "DESC",
                "COUNT",
                "5",
                "WITHDIST",
            ],
            vec!["GEORADIUSBYMEMBER", "g", "m7", &r, "km", "WITHDIST", "ASC"],
            vec![
                "GEORADIUS",
                "g",
                &lon,
                &lat,
                &r,
                "mi",
                "WITHDIST",
                "COUNT",
                "3",
            ],
        ];
        for cmd in &cmds {
            assert_eq!(call(&mut a, cmd), call(&mut b, cmd), "{}", cmd.join(" "));
        }
    }
}

/// Random bit operations on a few keys: every reply and final value as Redis's.
#[test]
fn bitmap_random_ops_match_redis() {
    let (ours, theirs) = pair(Backend::EpollLevel);
    let (mut a, mut b) = (connect(ours.addr), connect(theirs.addr));
    let mut rng = Rng(0xb175);
    let keys = ["b1", "b2", "b3"];
    for _ in 0..3000 {
        let k = keys[rng.below(3) as usize];
        let off = rng.below(300).to_string();
        let s = (rng.below(80) as i64 - 40).to_string();
        let e = (rng.below(80) as i64 - 40).to_string();
        let unit = if rng.below(2) == 0 { "BIT" } else { "BYTE" };
        let bit = rng.below(2).to_string();
        let ty = format!(
            "{}{}",
            if rng.below(2) == 0 { "i" } else { "u" },
            1 + rng.below(40)
        );
        let v = (rng.next() as i64 >> rng.below(60)).to_string();
        let ow = ["WRAP", "SAT", "FAIL"][rng.below(3) as usize];
        let cmd: Vec<&str> = match rng.below(6) {
            0 => vec!["SETBIT", k, &off, &bit],
            1 => vec!["BITCOUNT", k, &s, &e, unit],
            2 => vec!["BITPOS", k, &bit, &s, &e, unit],
            3 => vec!["BITPOS", k, &bit, &s],
            4 => vec![
                "BITOP",
                ["AND", "OR", "XOR"][rng.below(3) as usize],
                "b3",
                "b1",
                "b2",
            ],
            _ => vec![
                "BITFIELD", k, "OVERFLOW", ow, "INCRBY", &ty, &off, &v, "GET", &ty, &off,
            ],
        };
        assert_eq!(call(&mut a, &cmd), call(&mut b, &cmd), "{}", cmd.join(" "));
    }
    for k in keys {
        assert_eq!(call(&mut a, &["GET", k]), call(&mut b, &["GET", k]));
    }
}
