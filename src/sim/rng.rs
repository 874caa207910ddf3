//! Seeded randomness for the simulator, with no crate: a splitmix64 generator and a stable
//! string hash.
//!
//! Why hashes and not one global stream: a draw keyed by (world seed, resource name, purpose)
//! does not depend on the order in which calls arrive, so the same seed gives the same
//! durations and the same faults whatever the orchestrator's concurrency did.

/// FNV-1a over bytes, then splitmix64's finaliser for good avalanche.
pub fn hash_parts(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for p in parts {
        for b in p.as_bytes() {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separator, so ("ab","c") and ("a","bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) keyed by (seed, parts).
pub fn unit(seed: u64, parts: &[&str]) -> f64 {
    (hash_parts(seed, parts) >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform draw in [lo, hi) keyed by (seed, parts).
pub fn between(seed: u64, parts: &[&str], lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(seed, parts)
}

/// `n` lowercase alphanumeric characters keyed by (seed, parts), like the random suffixes
/// RDS puts in green instance names and `bgd-` identifiers.
pub fn token(seed: u64, parts: &[&str], n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = SplitMix::new(hash_parts(seed, parts));
    (0..n)
        .map(|_| ALPHABET[(rng.next_u64() % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// A sequential generator, used where order is fixed anyway (fleet generation at init).
#[derive(Debug, Clone)]
pub struct SplitMix {
    state: u64,
}

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix { state: seed }
    }
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.state)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    /// Pick by weight from `(value, weight)` pairs.
    pub fn weighted<'a, T>(&mut self, xs: &'a [(T, u32)]) -> &'a T {
        let total: u32 = xs.iter().map(|x| x.1).sum();
        let mut r = self.below(total as usize) as u32;
        for (v, w) in xs {
            if r < *w {
                return v;
            }
            r -= w;
        }
        &xs[xs.len() - 1].0
    }
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_keyed_and_spread() {
        assert_eq!(unit(1, &["a", "b"]), unit(1, &["a", "b"]));
        assert_ne!(unit(1, &["a", "b"]), unit(2, &["a", "b"]));
        assert_ne!(unit(1, &["ab", ""]), unit(1, &["a", "b"]));
        let mean: f64 = (0..2000).map(|i| unit(7, &[&i.to_string()])).sum::<f64>() / 2000.0;
        assert!((mean - 0.5).abs() < 0.03, "{mean}");
        let t = token(1, &["x"], 6);
        assert_eq!(t.len(), 6);
        assert!(t
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}
