//! Bitmap, HyperLogLog, geo, SORT and sorted-set algebra commands for the differential
//! test, with their option and error paths. Only deterministic forms: geo searches without
//! an order are compared as Redis answers them (same scan order is part of the contract),
//! SORT of a set always sorts (a set has no order of its own), and HLL values are compared
//! byte for byte through GET.

use rand::Rng;

use super::{Check, Gen, Step};

const OFFSETS: &[&str] = &[
    "0", "1", "7", "8", "15", "63", "100", "-1", "x", "#2", "1000",
];
const RANGE: &[&str] = &["0", "1", "-1", "-2", "3", "10", "-100", "100", "x"];
const TYPES: &[&str] = &[
    "u1", "u8", "i8", "u16", "i5", "i64", "u63", "u64", "i0", "x3",
];
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "127",
    "-128",
    "255",
    "1000",
    "x",
    "9223372036854775807",
];
const LONS: &[&str] = &[
    "13.361389",
    "15.087269",
    "13.5",
    "14",
    "-180",
    "180",
    "181",
    "x",
];
const LATS: &[&str] = &[
    "38.115556",
    "37.502669",
    "37.9",
    "38",
    "85.05112878",
    "86",
    "-85",
    "y",
];
const PLACES: &[&str] = &["Palermo", "Catania", "Agrigento", "Enna", "nowhere"];
const RADII: &[&str] = &["0", "10", "100", "200", "500", "-1", "r"];
const UNITS: &[&str] = &["m", "km", "mi", "ft", "KM", "parsec"];
const ELEMS: &[&str] = &["a", "b", "c", "d", "1", "2", "3", "foo", "bar", ""];

impl Gen {
    fn push_pick(&mut self, a: &mut Vec<Vec<u8>>, list: &[&str]) {
        let v = self.pick(list);
        a.push(v);
    }

    fn geo_options(&mut self, a: &mut Vec<Vec<u8>>) {
        for opt in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
            if self.chance(0.3) {
                a.push(self.word(opt));
            }
        }
        if self.chance(0.6) {
            let s = self.either(0.5, "ASC", "DESC");
            a.push(s);
        }
        if self.chance(0.3) {
            a.push(self.word("COUNT"));
            self.push_pick(a, &["1", "2", "3", "0", "-1"]);
            if self.chance(0.3) {
                a.push(self.word("ANY"));
            }
        }
    }

    /// One command of the bitmap, HLL, geo, SORT or sorted-set algebra families.
    pub(super) fn surface_step(&mut self) -> Step {
        let k = self.tkey();
        let check = Check::Exact;
        let mut a: Vec<Vec<u8>> = match self.rng.gen_range(0..30) {
            0..=2 => {
                let mut a = vec![self.word("SETBIT"), k];
                self.push_pick(&mut a, OFFSETS);
                self.push_pick(&mut a, &["0", "1", "1", "2"]);
                a
            }
            3 => {
                let mut a = vec![self.word("GETBIT"), k];
                self.push_pick(&mut a, OFFSETS);
                a
            }
            4..=5 => {
                let mut a = vec![self.word("BITCOUNT"), k];
                if self.chance(0.7) {
                    self.push_pick(&mut a, RANGE);
                    self.push_pick(&mut a, RANGE);
                    if self.chance(0.5) {
                        self.push_pick(&mut a, &["BIT", "BYTE", "bit", "bad"]);
                    }
                }
                a
            }
            6..=7 => {
                let mut a = vec![self.word("BITPOS"), k];
                self.push_pick(&mut a, &["0", "1", "2"]);
                for _ in 0..self.rng.gen_range(0..3) {
                    self.push_pick(&mut a, RANGE);
                }
                if a.len() == 5 && self.chance(0.5) {
                    self.push_pick(&mut a, &["BIT", "BYTE"]);
                }
                a
            }
            8 => {
                let op = self.pick(&["AND", "OR", "XOR", "NOT", "NOT", "NOR"]);
                let mut a = vec![self.word("BITOP"), op, k];
                for _ in 0..self.rng.gen_range(1..4) {
                    let s = self.tkey();
                    a.push(s);
                }
                a
            }
            9..=10 => {
                let ro = self.chance(0.2);
                let mut a = vec![self.word(if ro { "BITFIELD_RO" } else { "BITFIELD" }), k];
                for _ in 0..self.rng.gen_range(1..4) {
                    match self.rng.gen_range(0..4) {
                        0 => a.push(self.word("GET")),
                        1 => a.push(self.word("SET")),
                        2 => a.push(self.word("INCRBY")),
                        _ => {
                            a.push(self.word("OVERFLOW"));
                            self.push_pick(&mut a, &["WRAP", "SAT", "FAIL", "bad"]);
                            continue;
                        }
                    }
                    let get = a.last().is_some_and(|w| w.eq_ignore_ascii_case(b"GET"));
                    self.push_pick(&mut a, TYPES);
                    self.push_pick(&mut a, OFFSETS);
                    if !get {
                        self.push_pick(&mut a, VALUES);
                    }
                }
                a
            }
            11..=13 => {
                let mut a = vec![self.word("PFADD"), k];
                for _ in 0..self.rng.gen_range(0..6) {
                    let e = format!("e{}", self.rng.gen_range(0..5000));
                    a.push(e.into_bytes());
                }
                a
            }
            14 => {
                let mut a = vec![self.word("PFCOUNT"), k];
                if self.chance(0.4) {
                    let o = self.tkey();
                    a.push(o);
                }
                a
            }
            15 => {
                let (s1, s2) = (self.tkey(), self.tkey());
                vec![self.word("PFMERGE"), k, s1, s2]
            }
            16 => {
                let sub = self.pick(&["ENCODING", "DECODE", "TODENSE", "GETREG", "bogus"]);
                vec![self.word("PFDEBUG"), sub, k]
            }
            17..=18 => {
                let mut a = vec![self.word("GEOADD"), k];
                if self.chance(0.3) {
                    self.push_pick(&mut a, &["NX", "XX", "CH"]);
                }
                for _ in 0..self.rng.gen_range(1..3) {
                    self.push_pick(&mut a, LONS);
                    self.push_pick(&mut a, LATS);
                    self.push_pick(&mut a, PLACES);
                }
                a
            }
            19 => {
                let (m1, m2) = (self.pick(PLACES), self.pick(PLACES));
                let mut a = vec![self.word("GEODIST"), k, m1, m2];
                if self.chance(0.5) {
                    self.push_pick(&mut a, UNITS);
                }
                a
            }
            20 => {
                let cmd = self.pick(&["GEOPOS", "GEOHASH"]);
                let mut a = vec![cmd, k];
                for _ in 0..self.rng.gen_range(1..3) {
                    self.push_pick(&mut a, PLACES);
                }
                a
            }
            21..=22 => {
                let store = self.chance(0.2);
                let mut a = if store {
                    let src = self.tkey();
                    vec![self.word("GEOSEARCHSTORE"), k, src]
                } else {
                    vec![self.word("GEOSEARCH"), k]
                };
                if self.chance(0.5) {
                    a.push(self.word("FROMMEMBER"));
                    self.push_pick(&mut a, PLACES);
                } else {
                    a.push(self.word("FROMLONLAT"));
                    self.push_pick(&mut a, LONS);
                    self.push_pick(&mut a, LATS);
                }
                if self.chance(0.5) {
                    a.push(self.word("BYRADIUS"));
                    self.push_pick(&mut a, RADII);
                } else {
                    a.push(self.word("BYBOX"));
                    self.push_pick(&mut a, RADII);
                    self.push_pick(&mut a, RADII);
                }
                self.push_pick(&mut a, UNITS);
                self.geo_options(&mut a);
                if store && self.chance(0.5) {
                    a.push(self.word("STOREDIST"));
                }
                a
            }
            23 => {
                let mut a = if self.chance(0.5) {
                    let mut a = vec![self.word("GEORADIUS"), k];
                    self.push_pick(&mut a, LONS);
                    self.push_pick(&mut a, LATS);
                    a
                } else {
                    let mut a = vec![self.word("GEORADIUSBYMEMBER"), k];
                    self.push_pick(&mut a, PLACES);
                    a
                };
                self.push_pick(&mut a, RADII);
                self.push_pick(&mut a, UNITS);
                self.geo_options(&mut a);
                if self.chance(0.2) {
                    let st = self.pick(&["STORE", "STOREDIST"]);
                    a.push(st);
                    let d = self.tkey();
                    a.push(d);
                }
                a
            }
            24 => {
                let mut a = vec![self.word("RPUSH"), k];
                for _ in 0..self.rng.gen_range(1..5) {
                    self.push_pick(&mut a, ELEMS);
                }
                a
            }
            25..=26 => {
                let ro = self.chance(0.3);
                let mut a = vec![self.word(if ro { "SORT_RO" } else { "SORT" }), k];
                if self.chance(0.3) {
                    a.push(self.word("BY"));
                    self.push_pick(&mut a, &["w_*", "nosort", "h_*->f"]);
                }
                if self.chance(0.3) {
                    a.push(self.word("LIMIT"));
                    self.push_pick(&mut a, RANGE);
                    self.push_pick(&mut a, RANGE);
                }
                if self.chance(0.3) {
                    a.push(self.word("GET"));
                    self.push_pick(&mut a, &["#", "w_*", "h_*->f", "const"]);
                }
                if self.chance(0.5) {
                    let s = self.either(0.5, "ASC", "DESC");
                    a.push(s);
                }
                if self.chance(0.5) {
                    a.push(self.word("ALPHA"));
                }
                if self.chance(0.2) {
                    a.push(self.word("STORE"));
                    let d = self.tkey();
                    a.push(d);
                }
                a
            }
            27 => {
                let e = self.pick(ELEMS);
                let mut w = b"w_".to_vec();
                w.extend_from_slice(&e);
                vec![
                    self.word("SET"),
                    w,
                    self.pick(&["1", "2", "-3", "x", "2.5"]),
                ]
            }
            _ => {
                let cmd = self.pick(&[
                    "ZUNION",
                    "ZINTER",
                    "ZDIFF",
                    "ZINTERCARD",
                    "ZDIFFSTORE",
                    "ZUNIONSTORE",
                    "ZINTERSTORE",
                ]);
                let store = cmd.ends_with(b"STORE");
                let mut a = vec![cmd.clone()];
                if store {
                    a.push(k);
                }
                let n = self.rng.gen_range(0..4);
                a.push(n.to_string().into_bytes());
                for _ in 0..n.max(1) {
                    let s = self.tkey();
                    a.push(s);
                }
                if self.chance(0.3) && !cmd.starts_with(b"ZDIFF") {
                    a.push(self.word("WEIGHTS"));
                    for _ in 0..n {
                        self.push_pick(&mut a, &["1", "2", "0.5", "-1", "x"]);
                    }
                }
                if self.chance(0.3) {
                    a.push(self.word("AGGREGATE"));
                    self.push_pick(&mut a, &["SUM", "MIN", "MAX", "AVG"]);
                }
                if !store && self.chance(0.4) {
                    a.push(self.word("WITHSCORES"));
                }
                if cmd.as_slice() == b"ZINTERCARD" && self.chance(0.5) {
                    a.push(self.word("LIMIT"));
                    self.push_pick(&mut a, &["0", "1", "2", "-1"]);
                }
                a
            }
        };
        if a[0].eq_ignore_ascii_case(b"SORT") || a[0].eq_ignore_ascii_case(b"SORT_RO") {
            // A set has no order of its own: SORT must sort it. Unsorted (BY nosort) without
            // STORE reads in hash order, so it sorts by a pattern instead; ALPHA by a pattern
            // keeps ties in input order, so BY drops ALPHA.
            let store = a.iter().any(|x| x.eq_ignore_ascii_case(b"STORE"));
            if !store {
                for x in a.iter_mut() {
                    if x.eq_ignore_ascii_case(b"nosort") {
                        *x = b"w_*".to_vec();
                    }
                }
            }
            if a.iter().any(|x| x.eq_ignore_ascii_case(b"BY")) {
                a.retain(|x| !x.eq_ignore_ascii_case(b"ALPHA"));
            }
        }
        if self.chance(0.02) {
            a.truncate(2);
        }
        Step { args: a, check }
    }
}
