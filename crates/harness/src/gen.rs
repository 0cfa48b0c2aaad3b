//! Seeded workloads: the same seed always yields the same bytes and the same split points, so a
//! failure reproduces.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// A deterministic generator.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `len` random bytes.
pub fn payload(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// Random piece sizes (each 1..=max_piece) that add up to `len`.
pub fn pieces(rng: &mut StdRng, len: usize, max_piece: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        let p = rng.gen_range(1..=max_piece.max(1)).min(left);
        out.push(p);
        left -= p;
    }
    out
}

/// A size between `lo` and `hi` (inclusive), log-uniform so small and large sizes both occur often.
pub fn log_uniform(rng: &mut StdRng, lo: usize, hi: usize) -> usize {
    let (a, b) = ((lo.max(1) as f64).ln(), (hi.max(lo).max(1) as f64).ln());
    let x = rng.gen_range(a..=b).exp().round() as usize;
    x.clamp(lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_workload_and_pieces_add_up() {
        let (mut a, mut b) = (rng(7), rng(7));
        assert_eq!(payload(&mut a, 100), payload(&mut b, 100));
        let p = pieces(&mut a, 1000, 37);
        assert_eq!(p.iter().sum::<usize>(), 1000);
        assert!(p.iter().all(|&x| (1..=37).contains(&x)));
        for _ in 0..1000 {
            let s = log_uniform(&mut a, 1, 256 * 1024);
            assert!((1..=256 * 1024).contains(&s));
        }
    }
}
