//! Reading Redis's listpack (the packed form of small lists, hashes and sorted sets in RDB
//! types 16, 17 and 18): a 6-byte header (total bytes u32 LE, count u16 LE), entries of
//! `encoding + data + backlen`, and a 0xFF terminator. Every length is checked against the
//! blob, so a forged one is an error, never a panic or a large allocation.

fn bad(what: &str) -> String {
    format!("Bad data format: listpack {what}")
}

/// Bytes taken by the back-length of an entry of `l` bytes (encoding + data).
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

fn int_entry(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// Sign-extend the low `bits` bits of `v`.
fn signed(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Every entry of `lp`, integers as their decimal text (as Redis hands them out).
pub fn entries(lp: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if lp.len() < 7 {
        return Err(bad("header"));
    }
    let total = u32::from_le_bytes(lp[0..4].try_into().expect("4 bytes")) as usize;
    if total != lp.len() || lp[lp.len() - 1] != 0xFF {
        return Err(bad("size"));
    }
    let mut out = Vec::new();
    let mut p = 6;
    let end = lp.len() - 1;
    while p < end {
        let b0 = lp[p];
        let take = |from: usize, n: usize| -> Result<&[u8], String> {
            lp.get(from..from.checked_add(n).ok_or_else(|| bad("length"))?)
                .filter(|_| from + n <= end)
                .ok_or_else(|| bad("entry past the end"))
        };
        let le = |b: &[u8]| {
            b.iter()
                .rev()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
        };
        let (entry, head_and_data) = if b0 & 0x80 == 0 {
            (int_entry(i64::from(b0 & 0x7f)), 1)
        } else if b0 & 0xC0 == 0x80 {
            let n = usize::from(b0 & 0x3f);
            (take(p + 1, n)?.to_vec(), 1 + n)
        } else if b0 & 0xE0 == 0xC0 {
            let b1 = take(p + 1, 1)?[0];
            let v = (u64::from(b0 & 0x1f) << 8) | u64::from(b1);
            (int_entry(signed(v, 13)), 2)
        } else if b0 & 0xF0 == 0xE0 {
            let n = (usize::from(b0 & 0x0f) << 8) | usize::from(take(p + 1, 1)?[0]);
            (take(p + 2, n)?.to_vec(), 2 + n)
        } else {
            match b0 {
                0xF0 => {
                    let n = le(take(p + 1, 4)?) as usize;
                    (take(p + 5, n)?.to_vec(), 5 + n)
                }
                0xF1 => (int_entry(signed(le(take(p + 1, 2)?), 16)), 3),
                0xF2 => (int_entry(signed(le(take(p + 1, 3)?), 24)), 4),
                0xF3 => (int_entry(signed(le(take(p + 1, 4)?), 32)), 5),
                0xF4 => (int_entry(le(take(p + 1, 8)?) as i64), 9),
                _ => return Err(bad("encoding")),
            }
        };
        p += head_and_data + backlen_size(head_and_data);
        if p > end {
            return Err(bad("entry past the end"));
        }
        out.push(entry);
    }
    let count = u16::from_le_bytes(lp[4..6].try_into().expect("2 bytes"));
    if count != u16::MAX && usize::from(count) != out.len() {
        return Err(bad("count"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listpack as Redis 7.0 wrote it for `RPUSH l a 1 -2 300 hello` (checked against
    /// redis-server's DUMP of that list).
    fn redis_listpack() -> Vec<u8> {
        let mut e: Vec<u8> = Vec::new();
        // "a": 6-bit string
        e.extend_from_slice(&[0x81, b'a', 2]);
        // 1: 7-bit uint
        e.extend_from_slice(&[0x01, 1]);
        // -2: 13-bit int (0x1ffe)
        e.extend_from_slice(&[0xDF, 0xFE, 2]);
        // 300: 13-bit int
        e.extend_from_slice(&[0xC1, 0x2C, 2]);
        // "hello"
        e.extend_from_slice(&[0x85, b'h', b'e', b'l', b'l', b'o', 6]);
        let total = 6 + e.len() + 1;
        let mut lp = (total as u32).to_le_bytes().to_vec();
        lp.extend_from_slice(&5u16.to_le_bytes());
        lp.extend_from_slice(&e);
        lp.push(0xFF);
        lp
    }

    #[test]
    fn reads_strings_and_every_small_integer_form() {
        let got = entries(&redis_listpack()).unwrap();
        let want: Vec<&[u8]> = vec![b"a", b"1", b"-2", b"300", b"hello"];
        assert_eq!(got, want);
    }

    #[test]
    fn forged_lengths_are_errors_not_panics() {
        let mut lp = redis_listpack();
        lp[6] = 0xF0; // a 32-bit string length pointing past the end
        assert!(entries(&lp).is_err());
        let mut lp = redis_listpack();
        lp[0] = 200;
        assert!(entries(&lp).is_err());
        for cut in 0..lp.len() {
            let _ = entries(&lp[..cut]);
        }
    }
}
