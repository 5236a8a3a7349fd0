//! A deterministic PRNG (xorshift64*) and the environment knobs of the campaign.

use super::*;

/// xorshift64*, seeded through splitmix64 so that neighbouring seeds give unrelated streams.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`; `n > 0`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "empty range");
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub(crate) fn coin(&mut self) -> bool {
        self.next() >> 63 == 1
    }

    pub(crate) fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub(crate) fn env_u64(var: &str, default: u64, max: u64) -> u64 {
    match std::env::var(var) {
        Ok(text) => {
            let text = text.trim().replace('_', "");
            let n: u64 = text
                .parse()
                .unwrap_or_else(|_| panic!("{var} must be a number, not {text:?}"));
            n.clamp(1, max)
        }
        Err(_) => default,
    }
}

pub(crate) fn base_seed() -> u64 {
    match std::env::var("SEALED_SESSION_MUTATION_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("SEALED_SESSION_MUTATION_SEED: not a u64: {text:?}"))
        }
        Err(_) => DEFAULT_SEED,
    }
}
