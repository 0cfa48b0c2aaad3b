//! Numbers as Redis reads and writes them.

/// `%.17g`, the way Redis writes a double reply (`inf`, `-inf`, `nan`).
pub fn fmt_g17(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{v:.16e}");
    let (mant, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is a number");
    if !(-4..17).contains(&exp) {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (16 - exp) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Redis's `string2ld`/`strtold` acceptance for a float argument: no spaces, not empty, no
/// NaN. Returns None for what Redis calls "not a valid float".
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    if t.is_empty() || t.starts_with(char::is_whitespace) || t.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    let v: f64 = match body {
        "inf" | "infinity" => {
            if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        _ if body.starts_with("nan") => return None,
        _ if body.starts_with("0x") => {
            let v = parse_hex_float(&body[2..])?;
            if lower.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => t.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// C's hexadecimal float (`strtold` accepts `0x1.8p3`): hex digits, optional fraction,
/// optional binary exponent.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find('p') {
        Some(p) => (&s[..p], s[p + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// INCRBYFLOAT: `cur + incr` as Redis would store it (80-bit long double arithmetic and
/// `%.17Lf`, see [`crate::ld`]), or the error text.
pub fn incr_by_float(cur: &[u8], incr: &[u8]) -> Result<String, &'static str> {
    const NOT_FLOAT: &str = "ERR value is not a valid float";
    const NAN_INF: &str = "ERR increment would produce NaN or Infinity";
    // Redis's string2ld refuses anything as long as its 5 KiB buffer (and big-number parsing
    // of a huge digit string would cost quadratic time).
    if cur.len() >= 5 * 1024 || incr.len() >= 5 * 1024 {
        return Err(NOT_FLOAT);
    }
    let a = parse_f64(cur).ok_or(NOT_FLOAT)?;
    let b = parse_f64(incr).ok_or(NOT_FLOAT)?;
    if a.is_infinite() || b.is_infinite() {
        return Err(NAN_INF);
    }
    let x = crate::ld::Ld::parse(cur).ok_or(NOT_FLOAT)?;
    let y = crate::ld::Ld::parse(incr).ok_or(NOT_FLOAT)?;
    let sum = x.plus(y);
    if !sum.is_finite() {
        return Err(NAN_INF);
    }
    Ok(sum.human())
}

/// What Redis's `%.17Lf` then trim gives, for values outside the fixed-point path.
pub fn human_f64(v: f64) -> String {
    if v.abs() < 1e17 && v.fract() == 0.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.17}");
    trim_zeros(&s).to_string()
}

/// Redis's `string2ll`: optional `-`, digits, no leading zeros (except "0"), no `+`, no
/// spaces, in range.
// Called per request from the kv crate: without #[inline] a non-generic function is not
// inlined across the crate boundary (callgrind: 1,660 -> 1,624 instructions per SET/GET/INCR;
// bench/results/2026-12-03-vm/layout-instr).
#[inline]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || neg) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17() {
        assert_eq!(fmt_g17(1.5), "1.5");
        assert_eq!(fmt_g17(0.1), "0.10000000000000001");
        assert_eq!(fmt_g17(1e20), "1e+20");
        assert_eq!(fmt_g17(123456.0), "123456");
        assert_eq!(fmt_g17(f64::INFINITY), "inf");
        assert_eq!(fmt_g17(0.0001), "0.0001");
        assert_eq!(fmt_g17(0.00001), "1.0000000000000001e-05");
    }

    #[test]
    fn incrbyfloat_digits() {
        assert_eq!(incr_by_float(b"10.5", b"0.1").unwrap(), "10.6");
        assert_eq!(incr_by_float(b"0.1", b"0.2").unwrap(), "0.3");
        assert_eq!(incr_by_float(b"5", b"-5").unwrap(), "0");
        assert_eq!(incr_by_float(b"3", b"-5.5").unwrap(), "-2.5");
        assert_eq!(incr_by_float(b"5.0e3", b"2.0e2").unwrap(), "5200");
        assert!(incr_by_float(b"abc", b"1").is_err());
        assert!(incr_by_float(b"1", b"inf").is_err());
        assert!(incr_by_float(&vec![b'1'; 6000], b"1").is_err());
    }
}
