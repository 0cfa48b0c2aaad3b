//! The digest line protocol, apart from any socket: parse one line, compute one digest.
//!
//! ```text
//! PING                  -> PONG
//! HASH <rounds> <text>  -> 64 lowercase hex digits: SHA-256 of <text>, re-hashed until
//!                          <rounds> hashes were computed in all (round n+1 hashes the 32 raw
//!                          bytes of round n's digest); <text> is the rest of the line, spaces
//!                          and all, and may be empty
//! anything else         -> ERR <reason>   (the connection stays usable)
//! ```
//! Lines end with `\n` (a `\r` before it is ignored); replies end with `\n`. Command names are
//! case-insensitive.

use sha2::{Digest as _, Sha256};

/// One parsed request line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Ping,
    Hash { rounds: u32, text: &'a [u8] },
}

/// Parse one line (without its `\n`). `Err` holds the reason for an `ERR` reply.
pub fn parse(line: &[u8], max_rounds: u32) -> Result<Request<'_>, String> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err("empty line".into());
    }
    let (cmd, rest) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    if cmd.eq_ignore_ascii_case(b"PING") {
        return match rest {
            None => Ok(Request::Ping),
            Some(_) => Err("PING takes no arguments".into()),
        };
    }
    if !cmd.eq_ignore_ascii_case(b"HASH") {
        return Err("unknown command (PING, HASH <rounds> <text>)".into());
    }
    let usage = || "usage: HASH <rounds> <text>".to_string();
    let rest = rest.ok_or_else(usage)?;
    let sp = rest.iter().position(|&b| b == b' ').ok_or_else(usage)?;
    let (digits, text) = (&rest[..sp], &rest[sp + 1..]);
    let rounds = parse_rounds(digits)
        .filter(|r| (1..=max_rounds).contains(r))
        .ok_or_else(|| format!("rounds must be a whole number from 1 to {max_rounds}"))?;
    Ok(Request::Hash { rounds, text })
}

/// Plain decimal digits only (no sign, no spaces), without overflow.
fn parse_rounds(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// SHA-256 of `text`, then of each digest's 32 raw bytes, `rounds` hashes in all.
pub fn digest(rounds: u32, text: &[u8]) -> [u8; 32] {
    let mut d: [u8; 32] = Sha256::digest(text).into();
    for _ in 1..rounds {
        d = Sha256::digest(d).into();
    }
    d
}

/// `digest` as 64 lowercase hex digits and a `\n`, appended to `out`.
pub fn push_hex_line(out: &mut Vec<u8>, d: &[u8; 32]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(65);
    for &b in d {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
    out.push(b'\n');
}

/// `ERR <reason>\n` appended to `out`.
pub fn push_err(out: &mut Vec<u8>, reason: &str) {
    out.extend_from_slice(b"ERR ");
    out.extend_from_slice(reason.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8; 32]) -> String {
        let mut v = Vec::new();
        push_hex_line(&mut v, d);
        String::from_utf8(v).unwrap().trim_end().to_string()
    }

    #[test]
    fn one_round_is_plain_sha256() {
        // FIPS 180-2 test vectors.
        assert_eq!(
            hex(&digest(1, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&digest(1, b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn later_rounds_hash_the_raw_digest() {
        let one = digest(1, b"abc");
        let two: [u8; 32] = Sha256::digest(one).into();
        assert_eq!(digest(2, b"abc"), two);
        let three: [u8; 32] = Sha256::digest(two).into();
        assert_eq!(digest(3, b"abc"), three);
        // Not the hex text re-hashed.
        let via_hex: [u8; 32] = Sha256::digest(hex(&one).as_bytes()).into();
        assert_ne!(digest(2, b"abc"), via_hex);
    }

    #[test]
    fn parses_requests() {
        assert_eq!(parse(b"PING", 10), Ok(Request::Ping));
        assert_eq!(parse(b"ping\r", 10), Ok(Request::Ping));
        assert_eq!(
            parse(b"HASH 3 hello world", 10),
            Ok(Request::Hash {
                rounds: 3,
                text: b"hello world"
            })
        );
        assert_eq!(
            parse(b"hash 10 ", 10),
            Ok(Request::Hash {
                rounds: 10,
                text: b""
            })
        );
        assert_eq!(
            parse(b"HASH 1  two spaces\r", 10),
            Ok(Request::Hash {
                rounds: 1,
                text: b" two spaces"
            })
        );
    }

    #[test]
    fn bad_lines_give_reasons() {
        let err = |l: &[u8]| parse(l, 100).unwrap_err();
        assert_eq!(err(b""), "empty line");
        assert_eq!(err(b"\r"), "empty line");
        assert!(err(b"PONG").starts_with("unknown command"));
        assert!(err(b"PING x").contains("no arguments"));
        assert!(err(b"HASH").starts_with("usage"));
        assert!(err(b"HASH 5").starts_with("usage"));
        for rounds in ["0", "101", "-1", "+1", "1x", "", "99999999999999"] {
            let line = format!("HASH {rounds} t");
            assert!(err(line.as_bytes()).starts_with("rounds must be"), "{line}");
        }
        assert!(parse(b"HASH 100 t", 100).is_ok());
    }

    #[test]
    fn replies_are_lines() {
        let mut out = Vec::new();
        push_err(&mut out, "nope");
        push_hex_line(&mut out, &[0xab; 32]);
        assert_eq!(out, format!("ERR nope\n{}\n", "ab".repeat(32)).as_bytes());
    }
}
