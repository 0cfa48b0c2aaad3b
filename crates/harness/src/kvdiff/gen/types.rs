//! Data-type commands for the differential test: lists, hashes, sets, sorted sets,
//! with their option and error paths. Only deterministic forms: random picks (SPOP,
//! SRANDMEMBER, HRANDFIELD, ZRANDMEMBER) ask for more than the collection holds and are
//! compared as sets; blocking pops use a timeout that cannot wait (a key with elements, or
//! the error paths).

use rand::Rng;

use super::{Check, Gen, Step};

const MEMBERS: &[&str] = &[
    "a", "b", "c", "d", "e", "1", "2", "3", "-5", "10", "", "x y",
];
const SCORES: &[&str] = &[
    "0", "1", "2", "2.5", "-1", "-inf", "+inf", "inf", "1e3", "0.1", "abc", "", "nan", "3",
];
const RANGE_SCORES: &[&str] = &[
    "-inf", "+inf", "0", "1", "(1", "(2.5", "2", "10", "x", "(", "3",
];
const LEX: &[&str] = &["-", "+", "[a", "(a", "[c", "(d", "[1", "a", "[", "(e"];
const IDX: &[&str] = &["0", "1", "-1", "2", "-2", "5", "-100", "100", "x", "3"];
const SIDES: &[&str] = &["LEFT", "RIGHT", "MIDDLE"];

impl Gen {
    fn member(&mut self) -> Vec<u8> {
        if self.chance(0.03) {
            return vec![b'm'; 70]; // past the listpack value limit: converts the encoding
        }
        self.pick(MEMBERS)
    }

    pub(super) fn tkey(&mut self) -> Vec<u8> {
        // Few keys, so commands meet each other's collections (and strings: WRONGTYPE). The
        // long pair straddles the 22 bytes a collection keeps inline (RENAME/COPY between
        // them move a collection across the boundary).
        self.pick(&[
            "k1",
            "k2",
            "k3",
            "t1",
            "t2",
            "t3",
            "long:key:of:22:bytes:x",
            "long:key:of:23:bytes:xy",
        ])
    }

    fn members(&mut self, args: &mut Vec<Vec<u8>>, min: usize) {
        for _ in 0..self.rng.gen_range(min..min + 4) {
            let m = self.member();
            args.push(m);
        }
    }

    /// One data-type command.
    pub(super) fn types_step(&mut self) -> Step {
        let mut check = Check::Exact;
        let k = self.tkey();
        let mut a: Vec<Vec<u8>> = match self.rng.gen_range(0..66) {
            // keyspace commands on whatever the key holds (strings give WRONGTYPE paths)
            60 => vec![self.word("SET"), k, self.value()],
            61 => vec![self.pick(&["GET", "TYPE", "STRLEN", "INCR"]), k],
            62 => vec![self.pick(&["DEL", "EXISTS", "PERSIST"]), k],
            63 => vec![self.word("OBJECT"), self.word("ENCODING"), k],
            64 => {
                let to = self.tkey();
                vec![self.pick(&["RENAME", "COPY", "RENAMENX"]), k, to]
            }
            65 => vec![self.word("EXPIRE"), k, self.pick(&["1000", "-1"])],
            // lists
            0..=3 => {
                let mut a = vec![self.pick(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), k];
                self.members(&mut a, 1);
                a
            }
            4 | 5 => {
                let mut a = vec![self.pick(&["LPOP", "RPOP"]), k];
                if self.chance(0.5) {
                    a.push(self.pick(&["0", "1", "2", "5", "-1", "x"]));
                }
                a
            }
            6 => vec![self.word("LLEN"), k],
            7 | 8 => vec![self.word("LRANGE"), k, self.pick(IDX), self.pick(IDX)],
            9 => vec![self.word("LINDEX"), k, self.pick(IDX)],
            10 => vec![self.word("LSET"), k, self.pick(IDX), self.member()],
            11 => vec![self.word("LREM"), k, self.pick(IDX), self.member()],
            12 => vec![self.word("LTRIM"), k, self.pick(IDX), self.pick(IDX)],
            13 => vec![
                self.word("LINSERT"),
                k,
                self.pick(&["BEFORE", "AFTER", "x"]),
                self.member(),
                self.member(),
            ],
            14 => {
                let mut a = vec![self.word("LPOS"), k, self.member()];
                for _ in 0..self.rng.gen_range(0..3) {
                    a.push(self.pick(&["RANK", "COUNT", "MAXLEN", "FOO"]));
                    a.push(self.pick(&["1", "-1", "0", "2", "x"]));
                }
                a
            }
            15 => {
                let to = self.tkey();
                vec![
                    self.word("LMOVE"),
                    k,
                    to,
                    self.pick(SIDES),
                    self.pick(SIDES),
                ]
            }
            16 => {
                let to = self.tkey();
                vec![self.word("RPOPLPUSH"), k, to]
            }
            17 => {
                let k2 = self.tkey();
                let mut a = vec![self.word("LMPOP"), self.pick(&["2", "1", "0", "3"]), k, k2];
                a.push(self.pick(SIDES));
                if self.chance(0.5) {
                    a.push(self.word("COUNT"));
                    a.push(self.pick(&["1", "3", "0", "-1"]));
                }
                a
            }
            18 => vec![
                self.pick(&["BLPOP", "BRPOP"]),
                k,
                self.pick(&["-1", "x", "0.01"]),
            ],
            // hashes
            19..=21 => {
                let mut a = vec![self.pick(&["HSET", "HMSET"]), k];
                for _ in 0..self.rng.gen_range(1..4) {
                    let (f, v) = (self.member(), self.value());
                    a.push(f);
                    a.push(v);
                }
                a
            }
            22 => vec![self.word("HSETNX"), k, self.member(), self.value()],
            23 => vec![self.word("HGET"), k, self.member()],
            24 => {
                let mut a = vec![self.word("HMGET"), k];
                self.members(&mut a, 1);
                a
            }
            25 => {
                let mut a = vec![self.word("HDEL"), k];
                self.members(&mut a, 1);
                a
            }
            26 => vec![self.pick(&["HEXISTS", "HSTRLEN"]), k, self.member()],
            27 => {
                let name = self.pick(&["HLEN", "HKEYS", "HVALS", "HGETALL"]);
                if name != b"HLEN" {
                    // A hashtable's order is its own (a listpack's is insertion order).
                    check = Check::Unordered;
                }
                vec![name, k]
            }
            28 => vec![self.word("HINCRBY"), k, self.member(), self.int()],
            29 => vec![
                self.word("HINCRBYFLOAT"),
                k,
                self.member(),
                self.pick(&["1", "0.5", "-2.25", "abc", "inf", "1e2"]),
            ],
            30 => {
                check = Check::Unordered;
                vec![self.word("HRANDFIELD"), k, b"1000".to_vec()]
            }
            // sets
            31..=33 => {
                let mut a = vec![self.word("SADD"), k];
                self.members(&mut a, 1);
                a
            }
            34 => {
                let mut a = vec![self.word("SREM"), k];
                self.members(&mut a, 1);
                a
            }
            35 => vec![self.word("SISMEMBER"), k, self.member()],
            36 => {
                let mut a = vec![self.word("SMISMEMBER"), k];
                self.members(&mut a, 1);
                a
            }
            37 => vec![self.word("SCARD"), k],
            38 => {
                check = Check::Unordered;
                vec![self.word("SMEMBERS"), k]
            }
            39 => {
                check = Check::Unordered;
                vec![self.pick(&["SPOP", "SRANDMEMBER"]), k, b"1000".to_vec()]
            }
            40 => vec![self.word("SMOVE"), k, self.tkey(), self.member()],
            41 => {
                check = Check::Unordered;
                let k2 = self.tkey();
                vec![self.pick(&["SINTER", "SUNION", "SDIFF"]), k, k2]
            }
            42 => {
                let (k2, k3) = (self.tkey(), self.tkey());
                vec![
                    self.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
                    k,
                    k2,
                    k3,
                ]
            }
            43 => {
                let k2 = self.tkey();
                let mut a = vec![
                    self.word("SINTERCARD"),
                    self.pick(&["2", "1", "0", "5"]),
                    k,
                    k2,
                ];
                if self.chance(0.4) {
                    a.push(self.word("LIMIT"));
                    a.push(self.pick(&["0", "1", "-1"]));
                }
                a
            }
            // sorted sets
            44..=46 if self.chance(0.3) => {
                // The lex-range key: every score equal, as lex ranges require (with mixed
                // scores Redis's answer depends on its skiplist's random levels).
                let mut a = vec![self.word("ZADD"), b"lx".to_vec()];
                for _ in 0..self.rng.gen_range(1..4) {
                    a.push(b"0".to_vec());
                    let m = self.member();
                    a.push(m);
                }
                a
            }
            44..=46 => {
                let mut a = vec![self.word("ZADD"), k];
                for opt in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                    if self.chance(0.12) {
                        a.push(self.word(opt));
                    }
                }
                for _ in 0..self.rng.gen_range(1..4) {
                    let (s, m) = (self.pick(SCORES), self.member());
                    a.push(s);
                    a.push(m);
                }
                a
            }
            47 => vec![self.word("ZINCRBY"), k, self.pick(SCORES), self.member()],
            48 => {
                let mut a = vec![self.word("ZREM"), k];
                self.members(&mut a, 1);
                a
            }
            49 => vec![
                self.pick(&["ZSCORE", "ZRANK", "ZREVRANK"]),
                k,
                self.member(),
            ],
            50 => {
                let mut a = vec![self.word("ZMSCORE"), k];
                self.members(&mut a, 1);
                a
            }
            51 => vec![self.pick(&["ZCARD", "ZCARD"]), k],
            52 => vec![
                self.word("ZCOUNT"),
                k,
                self.pick(RANGE_SCORES),
                self.pick(RANGE_SCORES),
            ],
            53 => vec![self.word("ZLEXCOUNT"), k, self.pick(LEX), self.pick(LEX)],
            54 | 55 => {
                let (kind, lo, hi) = match self.rng.gen_range(0..3) {
                    0 => (None, self.pick(IDX), self.pick(IDX)),
                    1 => (
                        Some("BYSCORE"),
                        self.pick(RANGE_SCORES),
                        self.pick(RANGE_SCORES),
                    ),
                    _ => (Some("BYLEX"), self.pick(LEX), self.pick(LEX)),
                };
                let store = self.chance(0.2);
                let mut a = if store {
                    vec![self.word("ZRANGESTORE"), self.tkey(), k, lo, hi]
                } else {
                    vec![self.word("ZRANGE"), k, lo, hi]
                };
                if let Some(kind) = kind {
                    if self.chance(0.9) {
                        a.push(self.word(kind));
                    }
                }
                if self.chance(0.3) {
                    a.push(self.word("REV"));
                }
                if self.chance(0.3) {
                    a.push(self.word("LIMIT"));
                    a.push(self.pick(&["0", "1", "-1"]));
                    a.push(self.pick(&["1", "2", "-1", "0"]));
                }
                if self.chance(0.4) {
                    a.push(self.word("WITHSCORES"));
                }
                a
            }
            56 => {
                let (name, scores) = match self.rng.gen_range(0..5) {
                    0 => ("ZRANGEBYSCORE", true),
                    1 => ("ZREVRANGEBYSCORE", true),
                    2 => ("ZRANGEBYLEX", false),
                    3 => ("ZREVRANGEBYLEX", false),
                    _ => ("ZREVRANGE", false),
                };
                let (lo, hi) = if name == "ZREVRANGE" {
                    (self.pick(IDX), self.pick(IDX))
                } else if scores {
                    (self.pick(RANGE_SCORES), self.pick(RANGE_SCORES))
                } else {
                    (self.pick(LEX), self.pick(LEX))
                };
                let mut a = vec![self.word(name), k, lo, hi];
                if self.chance(0.4) && (scores || name == "ZREVRANGE") {
                    a.push(self.word("WITHSCORES"));
                }
                if self.chance(0.3) && name != "ZREVRANGE" {
                    a.push(self.word("LIMIT"));
                    a.push(self.pick(&["0", "1"]));
                    a.push(self.pick(&["1", "-1"]));
                }
                a
            }
            57 => match self.rng.gen_range(0..3) {
                0 => vec![
                    self.word("ZREMRANGEBYSCORE"),
                    k,
                    self.pick(RANGE_SCORES),
                    self.pick(RANGE_SCORES),
                ],
                1 => vec![
                    self.word("ZREMRANGEBYRANK"),
                    k,
                    self.pick(IDX),
                    self.pick(IDX),
                ],
                _ => vec![
                    self.word("ZREMRANGEBYLEX"),
                    k,
                    self.pick(LEX),
                    self.pick(LEX),
                ],
            },
            58 => {
                let mut a = vec![self.pick(&["ZPOPMIN", "ZPOPMAX"]), k];
                if self.chance(0.5) {
                    a.push(self.pick(&["0", "1", "2", "-1"]));
                }
                if self.chance(0.2) {
                    let k2 = self.tkey();
                    a = vec![
                        self.word("ZMPOP"),
                        b"2".to_vec(),
                        a[1].clone(),
                        k2,
                        self.pick(&["MIN", "MAX", "MID"]),
                    ];
                }
                a
            }
            _ => {
                let (k2, k3) = (self.tkey(), self.tkey());
                let mut a = vec![
                    self.pick(&["ZUNIONSTORE", "ZINTERSTORE"]),
                    k,
                    self.pick(&["2", "1", "0"]),
                    k2,
                    k3,
                ];
                if self.chance(0.3) {
                    a.push(self.word("WEIGHTS"));
                    a.push(self.pick(&["2", "0.5", "x"]));
                    a.push(self.pick(&["1", "-1"]));
                }
                if self.chance(0.3) {
                    a.push(self.word("AGGREGATE"));
                    a.push(self.pick(&["SUM", "MIN", "MAX", "AVG"]));
                }
                a
            }
        };
        let lex = a[0].to_ascii_uppercase().windows(3).any(|w| w == b"LEX")
            || a.iter().any(|x| x.eq_ignore_ascii_case(b"BYLEX"));
        if lex {
            let at = if a[0].eq_ignore_ascii_case(b"ZRANGESTORE") {
                2
            } else {
                1
            };
            a[at] = b"lx".to_vec();
        }
        // Command names in random case, like the rest of the generator.
        let name = String::from_utf8_lossy(&a[0]).into_owned();
        a[0] = self.word(&name);
        Step { args: a, check }
    }
}
