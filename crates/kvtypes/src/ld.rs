//! Just enough of an x87 80-bit `long double` (64-bit mantissa) for INCRBYFLOAT to give the
//! digits Redis gives: Redis parses both operands with `strtold`, adds them as `long double`
//! and prints `%.17Lf` with trailing zeros trimmed. f64 arithmetic differs in visible ways
//! (`0.1 + 0.2`, `1e308`, `1e18 + 0.1`), and clients compare these strings.
//!
//! Numbers are `mant × 2^exp` with `mant` normalised to 64 bits; parsing, adding and printing
//! are exact big-integer operations followed by one round-half-even, as the FPU and glibc do.

/// Magnitude as little-endian base-2^32 limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn from_u128(mut v: u128) -> Big {
        let mut l = Vec::new();
        while v > 0 {
            l.push(v as u32);
            v >>= 32;
        }
        Big(l)
    }

    fn trim(mut self) -> Big {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        self
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }

    fn bits(&self) -> u64 {
        match self.0.iter().rposition(|&l| l != 0) {
            None => 0,
            Some(i) => i as u64 * 32 + (32 - u64::from(self.0[i].leading_zeros())),
        }
    }

    fn bit(&self, i: u64) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|l| (l >> (i % 32)) & 1 == 1)
    }

    /// True if any bit below `i` is set.
    fn any_below(&self, i: u64) -> bool {
        let full = (i / 32) as usize;
        if self.0.iter().take(full).any(|&l| l != 0) {
            return true;
        }
        let rem = i % 32;
        rem > 0
            && self
                .0
                .get(full)
                .is_some_and(|l| l & ((1u32 << rem) - 1) != 0)
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for l in &mut self.0 {
            let v = u64::from(*l) * u64::from(m) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for l in &mut self.0 {
            if carry == 0 {
                return;
            }
            let v = u64::from(*l) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn divmod_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for l in self.0.iter_mut().rev() {
            let v = (rem << 32) | u64::from(*l);
            *l = (v / u64::from(d)) as u32;
            rem = v % u64::from(d);
        }
        rem as u32
    }

    fn shl(&self, n: u64) -> Big {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        let mut out = vec![0u32; limbs];
        let mut carry = 0u32;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry > 0 {
            out.push(carry);
        }
        Big(out).trim()
    }

    fn shr(&self, n: u64) -> Big {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        if limbs >= self.0.len() {
            return Big(Vec::new());
        }
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for i in 0..src.len() {
            let hi = src.get(i + 1).copied().unwrap_or(0);
            out.push(if bits == 0 {
                src[i]
            } else {
                (src[i] >> bits) | (hi << (32 - bits))
            });
        }
        Big(out).trim()
    }

    fn cmp(&self, o: &Big) -> std::cmp::Ordering {
        let (a, b) = (self.clone().trim(), o.clone().trim());
        a.0.len()
            .cmp(&b.0.len())
            .then_with(|| a.0.iter().rev().cmp(b.0.iter().rev()))
    }

    fn add(&self, o: &Big) -> Big {
        let n = self.0.len().max(o.0.len());
        let mut out = Vec::with_capacity(n + 1);
        let mut carry = 0u64;
        for i in 0..n {
            let v = u64::from(*self.0.get(i).unwrap_or(&0))
                + u64::from(*o.0.get(i).unwrap_or(&0))
                + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry > 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// self - o, requires self >= o.
    fn sub(&self, o: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let v = i64::from(self.0[i]) - i64::from(*o.0.get(i).unwrap_or(&0)) - borrow;
            if v < 0 {
                out.push((v + (1i64 << 32)) as u32);
                borrow = 1;
            } else {
                out.push(v as u32);
                borrow = 0;
            }
        }
        Big(out).trim()
    }

    fn pow10(n: u32) -> Big {
        let mut b = Big(vec![1]);
        for _ in 0..n {
            b.mul_small(10);
        }
        b
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".into();
        }
        let mut b = self.clone().trim();
        let mut chunks = Vec::new();
        while !b.is_zero() {
            chunks.push(b.divmod_small(1_000_000_000));
            b = b.trim();
        }
        let mut s = chunks.pop().map(|c| c.to_string()).unwrap_or_default();
        for c in chunks.iter().rev() {
            s.push_str(&format!("{c:09}"));
        }
        s
    }
}

/// A long double: `(-1)^neg × mant × 2^exp`, `mant` with bit 63 set (or 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ld {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// x87 extended range: beyond this the sum is infinite.
const MAX_EXP: i64 = 16384 - 64;
const MIN_EXP: i64 = -16445;

/// Round `n × 2^exp` to 64 significant bits, half to even.
fn round(neg: bool, n: &Big, exp: i64, sticky: bool) -> Ld {
    let bits = n.bits();
    if bits == 0 {
        return Ld {
            neg,
            mant: 0,
            exp: 0,
        };
    }
    if bits <= 64 {
        let v =
            n.0.iter()
                .rev()
                .fold(0u128, |a, &l| (a << 32) | u128::from(l)) as u64;
        let shift = 64 - bits;
        return Ld {
            neg,
            mant: v << shift,
            exp: exp - shift as i64,
        };
    }
    let drop = bits - 64;
    let top = n.shr(drop);
    let mut mant = top
        .0
        .iter()
        .rev()
        .fold(0u128, |a, &l| (a << 32) | u128::from(l)) as u64;
    let half = n.bit(drop - 1);
    let rest = n.any_below(drop - 1) || sticky;
    let mut e = exp + drop as i64;
    if half && (rest || mant & 1 == 1) {
        let (m, over) = mant.overflowing_add(1);
        mant = if over {
            e += 1;
            1 << 63
        } else {
            m
        };
    }
    Ld { neg, mant, exp: e }
}

impl Ld {
    pub fn is_finite(&self) -> bool {
        self.exp <= MAX_EXP
    }

    /// Parse as `strtold` would for the forms Redis accepts (decimal with optional exponent,
    /// hexadecimal `0x...p...`); None for anything else, and for overflow or underflow to 0
    /// (Redis's ERANGE check).
    pub fn parse(s: &[u8]) -> Option<Ld> {
        let (neg, body) = match s {
            [b'-', r @ ..] => (true, r),
            [b'+', r @ ..] => (false, r),
            _ => (false, s),
        };
        if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
            return Self::parse_hex(neg, &body[2..]);
        }
        let (mant, exp10) = match body.iter().position(|&c| c | 0x20 == b'e') {
            Some(p) => {
                let e = std::str::from_utf8(&body[p + 1..]).ok()?;
                if e.is_empty() || e == "+" || e == "-" {
                    return None;
                }
                (
                    &body[..p],
                    e.parse::<i64>().unwrap_or(if e.starts_with('-') {
                        -100_000
                    } else {
                        100_000
                    }),
                )
            }
            None => (body, 0),
        };
        let (int, frac) = match mant.iter().position(|&c| c == b'.') {
            Some(p) => (&mant[..p], &mant[p + 1..]),
            None => (mant, &[][..]),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut d = Big(Vec::new());
        for &c in int.iter().chain(frac) {
            if !c.is_ascii_digit() {
                return None;
            }
            d.mul_small(10);
            d.add_small(u32::from(c - b'0'));
        }
        if d.is_zero() {
            return Some(Ld {
                neg,
                mant: 0,
                exp: 0,
            });
        }
        let e10 = exp10.checked_sub(frac.len() as i64)?;
        let v = if e10 > 6000 {
            return None;
        } else if e10 >= 0 {
            let n = mul_pow10(&d, e10 as u32);
            round(neg, &n, 0, false)
        } else if e10 < -6000 {
            return None;
        } else {
            let p = Big::pow10((-e10) as u32);
            // Quotient with at least 66 significant bits, remainder as the sticky bit.
            let k = (66 + p.bits() as i64 - d.bits() as i64).max(0) as u64;
            let (q, r) = divmod(&d.shl(k), &p);
            round(neg, &q, -(k as i64), !r)
        };
        (v.exp <= MAX_EXP && v.exp >= MIN_EXP).then_some(v)
    }

    fn parse_hex(neg: bool, s: &[u8]) -> Option<Ld> {
        let (mant, exp2) = match s.iter().position(|&c| c | 0x20 == b'p') {
            Some(p) => (
                &s[..p],
                std::str::from_utf8(&s[p + 1..]).ok()?.parse::<i64>().ok()?,
            ),
            None => (s, 0),
        };
        let (int, frac) = match mant.iter().position(|&c| c == b'.') {
            Some(p) => (&mant[..p], &mant[p + 1..]),
            None => (mant, &[][..]),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut d = Big(Vec::new());
        for &c in int.iter().chain(frac) {
            let v = (c as char).to_digit(16)?;
            d.mul_small(16);
            d.add_small(v);
        }
        let v = round(neg, &d, exp2 - 4 * frac.len() as i64, false);
        (v.exp <= MAX_EXP).then_some(v)
    }

    /// The correctly rounded sum.
    pub fn plus(self, o: Ld) -> Ld {
        if self.mant == 0 {
            return o;
        }
        if o.mant == 0 {
            return self;
        }
        let (hi, lo) = if self.exp >= o.exp {
            (self, o)
        } else {
            (o, self)
        };
        // A term more than 130 bits below the other cannot move its rounding.
        if hi.exp - lo.exp > 130 {
            return hi;
        }
        let shift = (hi.exp - lo.exp) as u64;
        let a = Big::from_u128(u128::from(hi.mant)).shl(shift);
        let b = Big::from_u128(u128::from(lo.mant));
        if hi.neg == lo.neg {
            round(hi.neg, &a.add(&b), lo.exp, false)
        } else {
            match a.cmp(&b) {
                std::cmp::Ordering::Less => round(lo.neg, &b.sub(&a), lo.exp, false),
                _ => round(hi.neg, &a.sub(&b), lo.exp, false),
            }
        }
    }

    /// `%.17Lf` with trailing zeros (and a bare `.`) trimmed, `-0` as `0`: Redis's
    /// human-friendly long double.
    pub fn human(&self) -> String {
        let scaled = if self.exp >= 0 {
            mul_pow10(
                &Big::from_u128(u128::from(self.mant)).shl(self.exp as u64),
                17,
            )
        } else {
            let n = mul_pow10(&Big::from_u128(u128::from(self.mant)), 17);
            let sh = (-self.exp) as u64;
            let q = n.shr(sh);
            let half = sh > 0 && n.bit(sh - 1);
            let rest = sh > 1 && n.any_below(sh - 1);
            let mut q = q;
            if half && (rest || q.bit(0)) {
                q.add_small(1);
            }
            q
        };
        let digits = scaled.to_decimal();
        let digits = format!("{digits:0>18}");
        let (int, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut s = String::new();
        if self.neg {
            s.push('-');
        }
        s.push_str(int);
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
        if s == "-0" {
            s = "0".into();
        }
        s
    }
}

fn mul_pow10(d: &Big, n: u32) -> Big {
    let mut v = d.clone();
    let mut left = n;
    while left >= 9 {
        v.mul_small(1_000_000_000);
        left -= 9;
    }
    for _ in 0..left {
        v.mul_small(10);
    }
    v
}

/// Quotient (≤ ~70 bits) and whether the remainder is zero.
fn divmod(n: &Big, d: &Big) -> (Big, bool) {
    let nb = n.bits();
    let db = d.bits();
    if nb < db {
        return (Big(Vec::new()), n.is_zero());
    }
    let mut rem = n.clone();
    let mut q = Big(vec![0; ((nb - db) / 32 + 1) as usize]);
    for bit in (0..=(nb - db)).rev() {
        let sd = d.shl(bit);
        if rem.cmp(&sd) != std::cmp::Ordering::Less {
            rem = rem.sub(&sd);
            q.0[(bit / 32) as usize] |= 1 << (bit % 32);
        }
    }
    (q.trim(), rem.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        Ld::parse(a.as_bytes())
            .unwrap()
            .plus(Ld::parse(b.as_bytes()).unwrap())
            .human()
    }

    #[test]
    fn matches_redis_long_double_digits() {
        // Expected values are redis-server 7.0.15's replies (x86-64, 80-bit long double).
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("-42", "3.0e-2"), "-41.97");
        assert_eq!(incr("9223372036854775807", ".5"), "9223372036854775807.5");
        assert_eq!(incr("0", "0x1p3"), "8");
        assert_eq!(incr("5", "-5"), "0");
        assert_eq!(
            incr("0", "1e308"),
            "99999999999999999996685879655845645660560099847415567207797047994921734868838061872100126921888539320446747225054013223152134749593960583597420814430196418767959100019603190778663109604507106667939153395788938914560543563061268364901618630217086589253444881623791300855757318142424510452728255046343928578048"
        );
        assert_eq!(incr("1e18", "0.1"), "1000000000000000000.125");
    }

    #[test]
    fn rejects_what_strtold_rejects() {
        for bad in ["", "abc", "1e", "--1", "1.2.3", "0x", "1e-99999"] {
            assert!(Ld::parse(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(Ld::parse(b"1e5000").is_none(), "overflow is ERANGE");
    }
}
