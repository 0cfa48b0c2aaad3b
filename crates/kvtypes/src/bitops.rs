//! Bit operations on byte strings, with Redis's bit order (bit 0 is the most significant bit
//! of byte 0) and Redis's range rules for BITCOUNT, BITPOS, BITOP and BITFIELD.
//!
//! Owns: population count and bit search a machine word at a time, the BITOP combinations,
//! BITFIELD's integer fields (1..64 bits at any bit offset) and their overflow rules (WRAP,
//! SAT, FAIL). It may not touch clients, replies or the keyspace: strings in, numbers out.
//!
//! Costs: `popcount`, `bitpos`, `count_range` are O(n) in the bytes of the range, eight bytes
//! per step; `bitop` is O(n·k) for k sources of length up to n; field get/set are O(1).

/// Set bits in `s`, eight bytes at a time.
pub fn popcount(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        n += u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])).count_ones() as u64;
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>()
}

/// Redis's redisBitpos: the position of the first `bit` in `s`; not found is -1 for a set
/// bit and `len * 8` for a clear bit (the string reads as zero-padded on the right).
pub fn first_bit(s: &[u8], bit: bool) -> i64 {
    // Bytes that hold no match are skipped a word at a time.
    let skip: u64 = if bit { 0 } else { u64::MAX };
    let mut i = 0;
    while i + 8 <= s.len() {
        let w = u64::from_ne_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
        if w != skip {
            break;
        }
        i += 8;
    }
    while i < s.len() {
        let b = if bit { s[i] } else { !s[i] };
        if b != 0 {
            return (i * 8) as i64 + b.leading_zeros() as i64;
        }
        i += 1;
    }
    if bit {
        -1
    } else {
        (s.len() * 8) as i64
    }
}

/// Normalise a Redis (start, end) pair over `total` units (negative counts from the end,
/// clamped into the string). None when the range is empty.
fn clamp(mut start: i64, mut end: i64, total: i64) -> Option<(i64, i64)> {
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start <= end).then_some((start, end))
}

/// Masks of the bits outside [start, end] (in bits) in the first and last byte.
fn edge_masks(start: i64, end: i64) -> (u8, u8) {
    let first = !((1u16 << (8 - (start & 7))) - 1) as u8;
    let last = ((1u16 << (7 - (end & 7))) - 1) as u8;
    (first, last)
}

/// BITCOUNT with a range: `isbit` takes start/end in bits, otherwise in bytes.
pub fn count_range(s: &[u8], start: i64, end: i64, isbit: bool) -> u64 {
    // Redis answers 0 for two negative indexes in the wrong order before it normalises.
    if start < 0 && end < 0 && start > end {
        return 0;
    }
    let total = s.len() as i64 * if isbit { 8 } else { 1 };
    let Some((start, end)) = clamp(start, end, total) else {
        return 0;
    };
    if !isbit {
        return popcount(&s[start as usize..=end as usize]);
    }
    let (fb, lb) = (start >> 3, end >> 3);
    let (fm, lm) = edge_masks(start, end);
    let n = popcount(&s[fb as usize..=lb as usize]);
    n - (s[fb as usize] & fm).count_ones() as u64 - (s[lb as usize] & lm).count_ones() as u64
}

/// BITPOS over an existing string: `end` None when the caller gave none (then a clear bit
/// past the string counts), units in bits when `isbit`. -1 when there is no such bit.
pub fn bitpos(s: &[u8], bit: bool, start: i64, end: Option<i64>, isbit: bool) -> i64 {
    let unit = if isbit { 8 } else { 1 };
    let total = s.len() as i64 * unit;
    let end_given = end.is_some();
    let end = end.unwrap_or(total - 1);
    let Some((start, end)) = clamp(start, end, total) else {
        return -1;
    };
    let (mut fbyte, lbyte, fm, lm) = if isbit {
        let (fm, lm) = edge_masks(start, end);
        (start >> 3, end >> 3, fm, lm)
    } else {
        (start, end, 0, 0)
    };
    // Bits outside the range read as "not what we look for".
    let fix = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let mut bytes = lbyte - fbyte + 1;
    let mut pos;
    'search: {
        if fm != 0 {
            let mut c = fix(s[fbyte as usize], fm);
            if bytes == 1 && lm != 0 {
                c = fix(c, lm);
            }
            pos = first_bit(&[c], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search;
            }
            fbyte += 1;
            bytes -= 1;
        }
        let mid = bytes - i64::from(lm != 0);
        if mid > 0 {
            pos = first_bit(&s[fbyte as usize..(fbyte + mid) as usize], bit);
            if bytes == mid || (pos != -1 && pos != mid * 8) {
                break 'search;
            }
            fbyte += mid;
            bytes -= mid;
        }
        pos = first_bit(&[fix(s[lbyte as usize], lm)], bit);
    }
    // With an explicit end, a clear bit found only past the range is no answer.
    if end_given && !bit && pos == bytes * 8 {
        return -1;
    }
    if pos != -1 {
        pos += fbyte * 8;
    }
    pos
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP over `srcs` (missing keys are empty strings): the result is as long as the longest
/// source, shorter ones read as zero-padded. Eight bytes at a time over the common prefix.
pub fn bitop(op: BitOp, srcs: &[&[u8]]) -> Vec<u8> {
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    let minlen = srcs.iter().map(|s| s.len()).min().unwrap_or(0);
    let mut out = vec![0u8; maxlen];
    if srcs.is_empty() {
        return out;
    }
    let word = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut j = 0;
    while j + 8 <= minlen {
        let mut w = word(srcs[0], j);
        match op {
            BitOp::Not => w = !w,
            BitOp::And => srcs[1..].iter().for_each(|s| w &= word(s, j)),
            BitOp::Or => srcs[1..].iter().for_each(|s| w |= word(s, j)),
            BitOp::Xor => srcs[1..].iter().for_each(|s| w ^= word(s, j)),
        }
        out[j..j + 8].copy_from_slice(&w.to_ne_bytes());
        j += 8;
    }
    let byte = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    for (i, o) in out.iter_mut().enumerate().skip(j) {
        let mut b = byte(srcs[0], i);
        match op {
            BitOp::Not => b = !b,
            BitOp::And => srcs[1..].iter().for_each(|s| b &= byte(s, i)),
            BitOp::Or => srcs[1..].iter().for_each(|s| b |= byte(s, i)),
            BitOp::Xor => srcs[1..].iter().for_each(|s| b ^= byte(s, i)),
        }
        *o = b;
    }
    out
}

/// GETBIT on a string: bits past the end are 0.
pub fn get_bit(s: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    byte < s.len() && s[byte] & (0x80 >> (offset & 7)) != 0
}

/// Set or clear bit `offset` (the string must reach it); returns the old bit.
pub fn set_bit(s: &mut [u8], offset: u64, on: bool) -> bool {
    let byte = (offset >> 3) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let old = s[byte] & mask != 0;
    if on {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    old
}

/// An unsigned field of `bits` (1..=64) at bit `offset`; bits past the end read as 0.
pub fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v: u64 = 0;
    for k in 0..bits as u64 {
        v = (v << 1) | get_bit(s, offset + k) as u64;
    }
    v
}

/// A signed (two's complement) field of `bits` (1..=64) at bit `offset`.
pub fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(s, offset, bits);
    if bits == 64 {
        return u as i64;
    }
    // Sign-extend from bit `bits - 1`.
    let shift = 64 - bits;
    ((u << shift) as i64) >> shift
}

/// Write the low `bits` bits of `v` at bit `offset` (the string must reach the field).
pub fn set_field(s: &mut [u8], offset: u64, bits: u32, v: u64) {
    for k in 0..bits as u64 {
        let on = (v >> (bits as u64 - 1 - k)) & 1 != 0;
        set_bit(s, offset + k, on);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// Result of an unsigned field update: `Some(new)` to write, None on FAIL overflow.
/// Redis's rule: the new value is `value + incr`; past the range it wraps modulo 2^bits,
/// saturates at 0 or 2^bits - 1, or fails.
pub fn unsigned_update(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max: u64 = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let over = value > max || (incr > 0 && incr > maxincr);
    let under = !over && incr < 0 && incr < minincr;
    if !over && !under {
        return Some(value.wrapping_add(incr as u64));
    }
    match ow {
        Ow::Fail => None,
        Ow::Sat => Some(if over { max } else { 0 }),
        Ow::Wrap => Some(value.wrapping_add(incr as u64) & max),
    }
}

use Overflow as Ow;

/// Result of a signed field update (see [`unsigned_update`]): wraps in two's complement,
/// saturates at the field's min or max, or fails.
pub fn signed_update(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let over =
        value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr);
    let under = !over
        && (value < min
            || (bits != 64 && incr < minincr)
            || (value < 0 && incr < 0 && incr < minincr));
    if !over && !under {
        return Some(value.wrapping_add(incr));
    }
    match ow {
        Ow::Fail => None,
        Ow::Sat => Some(if over { max } else { min }),
        Ow::Wrap => {
            let c = (value as u64).wrapping_add(incr as u64);
            if bits == 64 {
                return Some(c as i64);
            }
            let shift = 64 - bits;
            Some(((c << shift) as i64) >> shift)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_pop(s: &[u8]) -> u64 {
        s.iter().map(|b| b.count_ones() as u64).sum()
    }

    #[test]
    fn popcount_matches_bytewise() {
        let s: Vec<u8> = (0..1000u32).map(|i| (i * 37 % 251) as u8).collect();
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
            assert_eq!(popcount(&s[..n]), naive_pop(&s[..n]));
        }
    }

    #[test]
    fn count_ranges() {
        let s = b"foobar";
        assert_eq!(count_range(s, 0, 0, false), 4);
        assert_eq!(count_range(s, 1, 1, false), 6);
        assert_eq!(count_range(s, 5, 30, true), 17);
        assert_eq!(count_range(s, -2, -1, false), naive_pop(b"ar"));
        assert_eq!(count_range(s, -1, -2, false), 0);
        // Bit ranges agree with counting bit by bit.
        for st in 0..48 {
            for en in st..48 {
                let want = (st..=en).filter(|&b| get_bit(s, b as u64)).count() as u64;
                assert_eq!(count_range(s, st, en, true), want, "{st}..{en}");
            }
        }
    }

    #[test]
    fn first_bit_cases() {
        assert_eq!(first_bit(&[0xff, 0xf0, 0], false), 12);
        assert_eq!(first_bit(&[0, 0, 0], true), -1);
        assert_eq!(first_bit(&[0xff; 3], false), 24);
        assert_eq!(first_bit(&[0u8; 20], true), -1);
        let mut s = vec![0u8; 20];
        s[17] = 1;
        assert_eq!(first_bit(&s, true), 17 * 8 + 7);
    }

    #[test]
    fn bitpos_ranges() {
        let s = [0xffu8, 0xf0, 0x00];
        assert_eq!(bitpos(&s, false, 0, None, false), 12);
        assert_eq!(bitpos(&s, true, 2, None, false), -1);
        assert_eq!(bitpos(&[0xff, 0xff], false, 0, None, false), 16);
        assert_eq!(bitpos(&[0xff, 0xff], false, 0, Some(-1), false), -1);
        // Bit ranges agree with a bit-by-bit search.
        let s = [0x0fu8, 0xf0, 0x3c];
        for st in 0..24i64 {
            for en in st..24 {
                for bit in [false, true] {
                    let want = (st..=en)
                        .find(|&b| get_bit(&s, b as u64) == bit)
                        .unwrap_or(-1);
                    assert_eq!(bitpos(&s, bit, st, Some(en), true), want, "{bit} {st} {en}");
                }
            }
        }
    }

    #[test]
    fn bitop_word_and_tail() {
        let a: Vec<u8> = (0..21u8).collect();
        let b: Vec<u8> = (0..13u8).map(|x| x.wrapping_mul(7)).collect();
        for op in [BitOp::And, BitOp::Or, BitOp::Xor] {
            let r = bitop(op, &[&a, &b]);
            assert_eq!(r.len(), 21);
            for i in 0..21 {
                let (x, y) = (a[i], b.get(i).copied().unwrap_or(0));
                let want = match op {
                    BitOp::And => x & y,
                    BitOp::Or => x | y,
                    _ => x ^ y,
                };
                assert_eq!(r[i], want);
            }
        }
        assert_eq!(bitop(BitOp::Not, &[&[0x0f, 0xf0]]), vec![0xf0, 0x0f]);
    }

    #[test]
    fn fields() {
        let mut s = vec![0u8; 9];
        set_field(&mut s, 5, 8, 0xab);
        assert_eq!(get_unsigned(&s, 5, 8), 0xab);
        assert_eq!(get_signed(&s, 5, 8), 0xab_u8 as i8 as i64);
        set_field(&mut s, 3, 64, u64::MAX - 5);
        assert_eq!(get_signed(&s, 3, 64), -6);
        assert_eq!(get_unsigned(&[0x80], 0, 1), 1);
        assert_eq!(get_signed(&[0x80], 0, 1), -1);
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(unsigned_update(250, 10, 8, Ow::Wrap), Some(4));
        assert_eq!(unsigned_update(250, 10, 8, Ow::Sat), Some(255));
        assert_eq!(unsigned_update(250, 10, 8, Ow::Fail), None);
        assert_eq!(unsigned_update(5, -10, 8, Ow::Sat), Some(0));
        assert_eq!(unsigned_update(5, -10, 8, Ow::Wrap), Some(251));
        assert_eq!(signed_update(120, 10, 8, Ow::Wrap), Some(-126));
        assert_eq!(signed_update(120, 10, 8, Ow::Sat), Some(127));
        assert_eq!(signed_update(-120, -10, 8, Ow::Sat), Some(-128));
        assert_eq!(signed_update(-120, -10, 8, Ow::Fail), None);
        assert_eq!(signed_update(i64::MAX, 1, 64, Ow::Wrap), Some(i64::MIN));
        assert_eq!(signed_update(i64::MAX, 1, 64, Ow::Sat), Some(i64::MAX));
        // SET of an out-of-range value is an update by 0 of that value.
        assert_eq!(signed_update(200, 0, 8, Ow::Wrap), Some(-56));
        assert_eq!(unsigned_update(300, 0, 8, Ow::Wrap), Some(44));
    }
}
