//! Deterministic hashing: every property of the corpus is a pure function of (seed, path of
//! indices), so nothing needs materialising and two starts with the same seed agree.

/// SplitMix64 finaliser: a strong 64-bit mixer.
pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hash of a seed and a path of integers.
pub fn h(seed: u64, parts: &[u64]) -> u64 {
    let mut acc = mix(seed ^ 0x9e37_79b9_7f4a_7c15);
    for (i, p) in parts.iter().enumerate() {
        acc = mix(acc ^ mix(p.wrapping_add((i as u64 + 1).wrapping_mul(0x632b_e59b_d9b4_e019))));
    }
    acc
}

/// A string folded into an integer (library aliases).
pub fn str64(s: &str) -> u64 {
    let d = blake3::hash(s.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// Uniform in `0..n` (n > 0).
pub fn below(x: u64, n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        ((x as u128 * n as u128) >> 64) as u64
    }
}

/// Uniform in `[0, 1)`.
pub fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Pick one element of a non-empty slice.
pub fn pick<T: Copy>(x: u64, items: &[T]) -> T {
    items[below(x, items.len() as u64) as usize]
}

/// A small, fast PRNG (SplitMix64) for streams of choices inside one object.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        below(self.next_u64(), n)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        unit(self.next_u64()) < p
    }
}

/// Tags that keep the hash streams of different properties apart.
pub mod tag {
    pub const WS: u64 = 1;
    pub const TREE: u64 = 2;
    pub const FILL: u64 = 3;
    pub const DOC: u64 = 4;
    pub const VERSION: u64 = 5;
    pub const ACL: u64 = 6;
    pub const CONTENT: u64 = 7;
    pub const EDIT: u64 = 8;
    pub const CONTAINER: u64 = 9;
    pub const MUTATE: u64 = 10;
    pub const FAULT: u64 = 11;
    pub const LAYOUT: u64 = 12;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_spreads() {
        let mut seen = [0u32; 10];
        for i in 0..10_000 {
            let v = below(h(1, &[i]), 10);
            assert!(v < 10);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800), "{seen:?}");
    }
}
