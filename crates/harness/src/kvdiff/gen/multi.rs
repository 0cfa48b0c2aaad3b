//! Transaction commands for the differential test: MULTI, EXEC, DISCARD, WATCH, UNWATCH and
//! their error paths (nesting, EXEC/DISCARD without MULTI, WATCH inside MULTI, arity), and
//! blocking pops queued inside MULTI (EXEC must run them without blocking). The generator
//! tracks whether a MULTI is open, so the steps between MULTI and EXEC are only commands
//! whose reply can be compared exactly inside EXEC's array (no TTLs, no random picks). With
//! one connection per server, WATCH is broken by the sequence's own writes, flushes,
//! SWAPDB and RENAME: EXEC's nil is compared too.

use rand::Rng;

use super::{b, Check, Gen, Step};

/// A step that may sit between MULTI and EXEC: compared exactly, and not one that acts on the
/// connection instead of being queued (RESET, QUIT) or changes its protocol mid-array (HELLO).
pub(super) fn queueable(s: &Step) -> bool {
    s.check == Check::Exact
        && !["RESET", "QUIT", "HELLO", "SCAN"]
            .iter()
            .any(|n| s.args[0].eq_ignore_ascii_case(n.as_bytes()))
}

impl Gen {
    fn watch_key(&mut self) -> Vec<u8> {
        if self.cfg.types > 0.0 && self.chance(0.5) {
            self.tkey()
        } else {
            self.key()
        }
    }

    pub(super) fn multi_step(&mut self) -> Step {
        let mut a: Vec<Vec<u8>>;
        let roll = self.rng.gen_range(0..100);
        if !self.in_multi {
            match roll {
                0..=44 => {
                    a = vec![self.word("MULTI")];
                    self.in_multi = true;
                }
                45..=74 => {
                    a = vec![self.word("WATCH")];
                    for _ in 0..self.rng.gen_range(1..4) {
                        let k = self.watch_key();
                        a.push(k);
                    }
                }
                75..=84 => a = vec![self.word("UNWATCH")],
                85..=89 => a = vec![self.word("EXEC")],
                90..=94 => a = vec![self.word("DISCARD")],
                // Arity errors (outside MULTI: no transaction to spoil).
                _ => {
                    a = match self.rng.gen_range(0..4) {
                        0 => vec![self.word("WATCH")],
                        1 => vec![self.word("MULTI"), b("x")],
                        2 => vec![self.word("UNWATCH"), b("k1")],
                        _ => vec![self.word("EXEC"), b("x")],
                    }
                }
            }
        } else {
            match roll {
                0..=39 => {
                    a = vec![self.word("EXEC")];
                    self.in_multi = false;
                }
                40..=49 => {
                    a = vec![self.word("DISCARD")];
                    self.in_multi = false;
                }
                50..=57 => a = vec![self.word("MULTI")],
                58..=63 => {
                    let k = self.watch_key();
                    a = vec![self.word("WATCH"), k];
                }
                64..=69 => a = vec![self.word("UNWATCH")],
                70..=94 => {
                    // Blocking pops with no timeout: inside EXEC they must answer at once.
                    let (k1, k2) = (self.watch_key(), self.watch_key());
                    a = match self.rng.gen_range(0..5) {
                        0 => vec![self.word("BLPOP"), k1, k2, b("0")],
                        1 => vec![self.word("BRPOP"), k1, b("0")],
                        2 => vec![
                            self.word("BLMOVE"),
                            k1,
                            k2,
                            self.word("LEFT"),
                            self.word("RIGHT"),
                            b("0"),
                        ],
                        3 => vec![self.word("BZPOPMIN"), k1, k2, b("0")],
                        _ => vec![
                            self.word("BLMPOP"),
                            b("0"),
                            b("2"),
                            k1,
                            k2,
                            self.word("LEFT"),
                        ],
                    };
                }
                // A refused command: EXEC answers EXECABORT.
                _ => {
                    a = match self.rng.gen_range(0..3) {
                        0 => vec![self.word("GET")],
                        1 => vec![b("NOSUCHCMD"), b("x")],
                        _ => vec![self.word("UNWATCH"), b("extra")],
                    }
                }
            }
        }
        Step {
            args: a,
            check: Check::Exact,
        }
    }
}
