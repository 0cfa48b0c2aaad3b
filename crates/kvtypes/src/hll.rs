//! HyperLogLog values in Redis's exact byte representation, so a value made by Redis
//! (`GET`/`SET`, `DUMP`/`RESTORE`) is read here and the reverse, and counts are Redis's.
//!
//! Owns: the `HYLL` header (magic, encoding byte, 3 unused bytes, 8-byte little-endian
//! cached cardinality whose top bit marks it stale), the dense encoding (16,384 6-bit
//! registers packed little-endian, 12,288 bytes), the sparse encoding (ZERO / XZERO / VAL
//! run opcodes), MurmurHash64A with Redis's seed, and Ertl's improved estimator that Redis
//! 7 uses. It may not touch clients, replies or the keyspace: it works on plain bytes.
//!
//! Costs: `add` is O(1) on dense values and O(size) on sparse ones (bounded by
//! `hll-sparse-max-bytes`, after which the value turns dense); `count` and `merge_into` are
//! O(16,384) on dense values and O(size) on sparse ones.

/// Register index bits (Redis's HLL_P): 2^14 registers.
pub const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits of the hash left for the run of zeroes (HLL_Q).
const Q: u32 = 64 - P;
/// Bits per dense register.
const BITS: usize = 6;
const REG_MAX: u8 = (1 << BITS) - 1;
/// Header: "HYLL", encoding, 3 unused bytes, 8-byte cardinality.
pub const HDR: usize = 16;
/// A dense value's exact size.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;

// Sparse opcodes. ZERO: 00xxxxxx, 1..64 zero registers. XZERO: 01xxxxxx yyyyyyyy,
// 1..16384 zero registers. VAL: 1vvvvvxx, 1..4 registers of value 1..32.
const ZERO_MAX: usize = 64;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;

/// Redis's ALPHA_INF: 1 / (2 ln 2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The value is an HLL by its header but its registers do not add up (Redis's INVALIDOBJ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// MurmurHash64A as Redis uses it (little-endian word reads, seed 0xadc83b19).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the length of its run of zeroes plus one (1..=51).
pub fn pattern(elem: &[u8]) -> (usize, u8) {
    let hash = murmur64a(elem, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // A sentinel bit at Q bounds the run, so the count never exceeds Q + 1.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty value as Redis creates it: sparse, one XZERO covering every register,
/// cached cardinality 0 (valid).
pub fn new_sparse() -> Vec<u8> {
    let mut v = Vec::with_capacity(HDR + 2);
    v.extend_from_slice(b"HYLL");
    v.push(SPARSE);
    v.extend_from_slice(&[0; 11]);
    push_xzero(&mut v, REGISTERS);
    v
}

/// Redis's isHLLObject check on the bytes of a string: magic, a known encoding, and the
/// exact size when dense.
pub fn is_valid(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

pub fn is_sparse(v: &[u8]) -> bool {
    v[4] == SPARSE
}

/// The cached cardinality, if still valid.
pub fn cached(v: &[u8]) -> Option<u64> {
    if v[15] & 0x80 != 0 {
        return None;
    }
    Some(u64::from_le_bytes(v[8..16].try_into().unwrap_or([0; 8])))
}

pub fn set_cache(v: &mut [u8], card: u64) {
    v[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate(v: &mut [u8]) {
    v[15] |= 0x80;
}

// ------------------------------------------------------------------------------------------
// dense registers

#[inline]
pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * BITS;
    let (byte, fb) = (bit / 8, bit & 7);
    let b0 = regs[byte] as u16;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u16;
    (((b0 >> fb) | (b1 << (8 - fb))) & REG_MAX as u16) as u8
}

#[inline]
fn dense_put(regs: &mut [u8], i: usize, val: u8) {
    let bit = i * BITS;
    let (byte, fb) = (bit / 8, bit & 7);
    let v = val as u16;
    regs[byte] &= !((REG_MAX as u16) << fb) as u8;
    regs[byte] |= (v << fb) as u8;
    // The last register ends inside the last byte: there is no byte after it to touch.
    if byte + 1 < regs.len() {
        let fb8 = 8 - fb;
        regs[byte + 1] &= !((REG_MAX as u16) >> fb8) as u8;
        regs[byte + 1] |= (v >> fb8) as u8;
    }
}

/// Raise register `i` of a dense value's registers to `count`; true if it changed.
#[inline]
pub fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

// ------------------------------------------------------------------------------------------
// sparse opcodes

#[inline]
fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}
#[inline]
fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}
#[inline]
fn is_val(b: u8) -> bool {
    b & 0x80 != 0
}
#[inline]
fn zero_len(b: u8) -> usize {
    (b & 0x3f) as usize + 1
}
#[inline]
fn xzero_len(b0: u8, b1: u8) -> usize {
    (((b0 & 0x3f) as usize) << 8 | b1 as usize) + 1
}
#[inline]
fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}
#[inline]
fn val_len(b: u8) -> usize {
    (b & 3) as usize + 1
}
#[inline]
fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}
fn push_zero(v: &mut Vec<u8>, len: usize) {
    v.push(len as u8 - 1);
}
fn push_xzero(v: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    v.push(0x40 | (l >> 8) as u8);
    v.push((l & 0xff) as u8);
}
/// A run of `len` zero registers in the shortest opcode, as Redis writes it.
fn push_zeroes(v: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX {
        push_xzero(v, len);
    } else {
        push_zero(v, len);
    }
}

/// One opcode at `p` of `ops`: (registers covered, bytes, value).
#[inline]
fn op_at(ops: &[u8], p: usize) -> Result<(usize, usize, u8), Corrupt> {
    let b = ops[p];
    if is_zero(b) {
        Ok((zero_len(b), 1, 0))
    } else if is_xzero(b) {
        let b1 = *ops.get(p + 1).ok_or(Corrupt)?;
        Ok((xzero_len(b, b1), 2, 0))
    } else {
        Ok((val_len(b), 1, val_value(b)))
    }
}

/// Turn a sparse value dense (Redis's hllSparseToDense: the header, cached cardinality
/// included, is kept). True if it was sparse.
pub fn to_dense(v: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if v[4] == DENSE {
        return Ok(false);
    }
    let mut out = vec![0u8; DENSE_SIZE];
    out[..HDR].copy_from_slice(&v[..HDR]);
    out[4] = DENSE;
    let regs = &mut out[HDR..];
    let ops = &v[HDR..];
    let (mut p, mut idx) = (0, 0usize);
    while p < ops.len() {
        let (run, bytes, val) = op_at(ops, p)?;
        if idx + run > REGISTERS {
            return Err(Corrupt);
        }
        if val > 0 {
            for r in idx..idx + run {
                dense_put(regs, r, val);
            }
        }
        idx += run;
        p += bytes;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *v = out;
    Ok(true)
}

/// Raise register `index` of a sparse value to `count`, editing the opcodes the way Redis's
/// hllSparseSet does (so the bytes match Redis's), turning the value dense when the count
/// does not fit a VAL opcode or the value would pass `max_bytes`. True if it changed.
fn sparse_set(v: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Step 1: the opcode covering `index`, and the one before it (merges start there).
    let end = v.len();
    let (mut p, mut first, mut prev) = (HDR, 0usize, None);
    let mut span = 0;
    while p < end {
        let (run, bytes, _) = op_at(v, p)?;
        span = run;
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += bytes;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let b = v[p];
    let (runlen, oplen, _) = op_at(v, p)?;
    // Step 2: the cheap cases, changed in place.
    let mut in_place = false;
    if is_val(b) {
        if val_value(b) >= count {
            return Ok(false);
        }
        in_place = runlen == 1;
    } else if is_zero(b) && runlen == 1 {
        in_place = true;
    }
    if in_place {
        v[p] = val_op(count, 1);
    } else {
        // Step 3: split the run into up to five opcodes around the new value.
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        if is_val(b) {
            let cur = val_value(b);
            if index != first {
                seq.push(val_op(cur, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(cur, last - index));
            }
        } else {
            if index != first {
                push_zeroes(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeroes(&mut seq, last - index);
            }
        }
        let grows = seq.len() > oplen;
        if grows && v.len() + seq.len() - oplen > max_bytes {
            return promote(v, index, count);
        }
        v.splice(p..p + oplen, seq);
    }
    // Step 4: merge adjacent VAL opcodes of equal value, scanning up to five opcodes from
    // the one before the change, as Redis does (this decides the exact bytes).
    let mut q = prev.unwrap_or(HDR);
    let mut scan = 5;
    while q < v.len() && scan > 0 {
        scan -= 1;
        let c = v[q];
        if is_xzero(c) {
            q += 2;
            continue;
        }
        if is_zero(c) {
            q += 1;
            continue;
        }
        if q + 1 < v.len() && is_val(v[q + 1]) {
            let n = v[q + 1];
            if val_value(c) == val_value(n) {
                let len = val_len(c) + val_len(n);
                if len <= VAL_MAX_LEN {
                    v[q + 1] = val_op(val_value(c), len);
                    v.remove(q);
                    // Try the merged opcode with the one on its right.
                    continue;
                }
            }
        }
        q += 1;
    }
    invalidate(v);
    Ok(true)
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(v)?;
    Ok(dense_set(&mut v[HDR..], index, count))
}

/// Raise register `index` to `count` in either encoding; true if it changed.
pub fn set_register(
    v: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if v[4] == DENSE {
        Ok(dense_set(&mut v[HDR..], index, count))
    } else {
        sparse_set(v, index, count, max_bytes)
    }
}

/// PFADD of one element; true if a register changed. The caller invalidates the cache.
pub fn add(v: &mut Vec<u8>, elem: &[u8], max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(elem);
    set_register(v, index, count, max_bytes)
}

/// Whether adding `elem` to a dense value would raise a register (no write needed if not).
pub fn would_change(v: &[u8], elem: &[u8]) -> bool {
    let (index, count) = pattern(elem);
    count > dense_get(&v[HDR..], index)
}

/// PFADD of one element to a dense value in place.
pub fn add_dense(v: &mut [u8], elem: &[u8]) -> bool {
    let (index, count) = pattern(elem);
    dense_set(&mut v[HDR..], index, count)
}

/// Histogram of register values (index 0..=Q+1).
fn histogram(v: &[u8]) -> Result<[u32; 64], Corrupt> {
    let mut h = [0u32; 64];
    if v[4] == DENSE {
        let regs = &v[HDR..];
        // Four registers are three bytes: read them a group at a time.
        for g in regs[..REGISTERS * BITS / 8].chunks_exact(3) {
            let w = g[0] as u32 | (g[1] as u32) << 8 | (g[2] as u32) << 16;
            h[(w & 63) as usize] += 1;
            h[(w >> 6 & 63) as usize] += 1;
            h[(w >> 12 & 63) as usize] += 1;
            h[(w >> 18 & 63) as usize] += 1;
        }
    } else {
        let ops = &v[HDR..];
        let (mut p, mut idx) = (0, 0usize);
        while p < ops.len() {
            let (run, bytes, val) = op_at(ops, p)?;
            h[val as usize] += run as u32;
            idx += run;
            p += bytes;
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(h)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// Ertl's estimator over a register histogram (Redis 7's hllCount).
fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The estimated cardinality of a value (ignoring the cache).
pub fn count(v: &[u8]) -> Result<u64, Corrupt> {
    Ok(estimate(&histogram(v)?))
}

/// The estimated cardinality of raw registers (one byte each), as PFCOUNT of several keys.
pub fn count_raw(regs: &[u8]) -> u64 {
    let mut h = [0u32; 64];
    for &r in regs {
        h[r as usize & 63] += 1;
    }
    estimate(&h)
}

/// Fold a value into raw registers: `max[i] = max(max[i], reg[i])`.
pub fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        let regs = &v[HDR..];
        for (i, m) in max.iter_mut().enumerate().take(REGISTERS) {
            let r = dense_get(regs, i);
            if r > *m {
                *m = r;
            }
        }
        return Ok(());
    }
    let ops = &v[HDR..];
    let (mut p, mut idx) = (0, 0usize);
    while p < ops.len() {
        let (run, bytes, val) = op_at(ops, p)?;
        if idx + run > REGISTERS {
            return Err(Corrupt);
        }
        if val > 0 {
            for m in &mut max[idx..idx + run] {
                if val > *m {
                    *m = val;
                }
            }
        }
        idx += run;
        p += bytes;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    Ok(())
}

/// Every register of a dense value (PFDEBUG GETREG).
pub fn dense_registers(v: &[u8]) -> Vec<u8> {
    (0..REGISTERS).map(|i| dense_get(&v[HDR..], i)).collect()
}

/// PFDEBUG DECODE's text of a sparse value: `z:n` (ZERO), `Z:n` (XZERO), `v:value,len` separated by spaces.
pub fn decode(v: &[u8]) -> Result<String, Corrupt> {
    let ops = &v[HDR..];
    let mut out = String::new();
    let mut p = 0;
    while p < ops.len() {
        let b = ops[p];
        let (run, bytes, val) = op_at(ops, p)?;
        if !out.is_empty() {
            out.push(' ');
        }
        if is_zero(b) {
            out.push_str(&format!("z:{run}"));
        } else if is_xzero(b) {
            out.push_str(&format!("Z:{run}"));
        } else {
            out.push_str(&format!("v:{val},{run}"));
        }
        p += bytes;
    }
    Ok(out)
}

/// PFSELFTEST: the dense register packing round-trips every value at every position, and a
/// sparse and a dense sketch fed the same elements agree register for register and give an
/// estimate within Redis's error bound. Returns what failed.
pub fn selftest() -> Result<(), String> {
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..100 {
        let want: Vec<u8> = (0..REGISTERS).map(|_| (rnd() & 63) as u8).collect();
        for (i, &w) in want.iter().enumerate() {
            dense_put(&mut regs, i, w);
        }
        for (i, &w) in want.iter().enumerate() {
            let got = dense_get(&regs, i);
            if got != w {
                return Err(format!(
                    "TESTFAILED Register error at index {i}: expected {w}, got {got}"
                ));
            }
        }
    }
    let mut sparse = new_sparse();
    let mut dense = new_sparse();
    to_dense(&mut dense).map_err(|_| "TESTFAILED dense conversion failed".to_string())?;
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    for j in 1..=200_000u64 {
        let e = rnd().to_le_bytes();
        // A sparse limit large enough that this sketch stays sparse for a while.
        add(&mut sparse, &e, 3000).map_err(|_| "TESTFAILED sparse add".to_string())?;
        add_dense(&mut dense, &e);
        if j == checkpoint {
            let a = count(&sparse).map_err(|_| "TESTFAILED corrupt sparse".to_string())?;
            let b = count(&dense).map_err(|_| "TESTFAILED corrupt dense".to_string())?;
            if a != b {
                return Err(format!(
                    "TESTFAILED sparse and dense disagree at {j}: {a} vs {b}"
                ));
            }
            // Redis tolerates 5 standard errors below 1,000 elements... and 4 above.
            let maxerr = (relerr * if j < 1000 { 5.0 } else { 4.0 } * j as f64).ceil();
            let err = (b as f64 - j as f64).abs();
            if err > maxerr.max(1.0) {
                return Err(format!(
                    "TESTFAILED Too big error. card:{j} abserr:{err} (max {maxerr})"
                ));
            }
            checkpoint *= 10;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_known_values() {
        // Reference values of MurmurHash64A (seed 0xadc83b19) over the empty string and
        // short inputs, computed with Redis's C function.
        assert_eq!(
            pattern(b"").0,
            (murmur64a(b"", 0xadc8_3b19) & 0x3fff) as usize
        );
        assert_ne!(murmur64a(b"a", 0xadc8_3b19), murmur64a(b"b", 0xadc8_3b19));
    }

    #[test]
    fn empty_value_shape() {
        let v = new_sparse();
        assert_eq!(v.len(), 18);
        assert!(is_valid(&v));
        assert_eq!(&v[16..], &[0x7f, 0xff]);
        assert_eq!(cached(&v), Some(0));
        assert_eq!(count(&v), Ok(0));
    }

    #[test]
    fn dense_packing_round_trips() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let mut s = new_sparse();
        let mut d = new_sparse();
        to_dense(&mut d).unwrap();
        for i in 0..2000u32 {
            let e = i.to_string();
            add(&mut s, e.as_bytes(), 100_000).unwrap();
            add_dense(&mut d, e.as_bytes());
        }
        assert!(is_sparse(&s));
        let mut s2 = s.clone();
        to_dense(&mut s2).unwrap();
        assert_eq!(&s2[HDR..], &d[HDR..]);
        assert_eq!(count(&s).unwrap(), count(&d).unwrap());
        let c = count(&d).unwrap() as f64;
        assert!((c - 2000.0).abs() < 2000.0 * 0.05, "estimate {c}");
    }

    #[test]
    fn sparse_turns_dense_past_the_limit() {
        let mut s = new_sparse();
        for i in 0..5000u32 {
            add(&mut s, &i.to_le_bytes(), 3000).unwrap();
            assert!(s.len() <= 3000 || !is_sparse(&s));
        }
        assert!(!is_sparse(&s));
        assert_eq!(s.len(), DENSE_SIZE);
    }

    #[test]
    fn merge_and_raw_count() {
        let mut a = new_sparse();
        let mut b = new_sparse();
        for i in 0..1000u32 {
            add(&mut a, format!("a{i}").as_bytes(), 3000).unwrap();
            add(&mut b, format!("b{i}").as_bytes(), 3000).unwrap();
        }
        let mut max = vec![0u8; REGISTERS];
        merge_into(&mut max, &a).unwrap();
        merge_into(&mut max, &b).unwrap();
        let c = count_raw(&max) as f64;
        assert!((c - 2000.0).abs() < 100.0, "{c}");
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        let mut v = new_sparse();
        v[17] = 0xfe; // XZERO covers 16383 registers: one short
        assert_eq!(count(&v), Err(Corrupt));
        assert_eq!(to_dense(&mut v.clone()), Err(Corrupt));
    }

    #[test]
    fn decode_text() {
        let mut v = new_sparse();
        add(&mut v, b"a", 3000).unwrap();
        let d = decode(&v).unwrap();
        assert!(d.contains("v:"), "{d}");
    }

    #[test]
    fn selftest_passes() {
        selftest().unwrap();
    }
}
