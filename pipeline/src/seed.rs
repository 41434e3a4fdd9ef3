//! Every seed mille derives, in one place: the loader's epoch plans and batch draws, libtorch's
//! per-epoch and per-batch seeds, the synthetic generator's streams, feature widening's chunks
//! and the streaming partitioner's tie-break. Each derivation is a fixed formula (tested against
//! recorded values below): changing one would silently change every run, store and partition
//! made before, so a new need gets a new method, never an edit.
//!
//! ```
//! use mille_pipeline::seed::Seed;
//! let epoch = Seed::new(7).epoch(3);
//! assert_ne!(epoch.batch(0), epoch.batch(1));
//! assert_eq!(Seed::new(7).epoch(3), epoch); // a pure function of (seed, epoch)
//! ```

use rand::SeedableRng;
use rand_pcg::Pcg64;

/// 2^64 / the golden ratio: the Weyl step that spreads consecutive keys (epochs, batches).
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// A second odd constant, for a second key mixed beside the first.
pub const SECOND: u64 = 0xD1B5_4A32_D192_ED03;

/// splitmix64's finaliser: a bijection of `u64` whose every output bit depends on every input bit.
pub const fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed and the seeds derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seed(u64);

impl Seed {
    /// A base seed (a run's `--seed`, a loader's `seed`).
    pub const fn new(seed: u64) -> Seed {
        Seed(seed)
    }

    /// The value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// An epoch's seed: `seed ^ (epoch + 1) * GOLDEN` (the loader's plans).
    pub const fn epoch(self, epoch: u64) -> Seed {
        Seed(self.0 ^ epoch.wrapping_add(1).wrapping_mul(GOLDEN))
    }

    /// Batch `index`'s seed under this (epoch's) seed: splitmix of `seed ^ (index + 1) * GOLDEN`,
    /// so a batch draws the same whatever thread or rank builds it.
    pub const fn batch(self, index: usize) -> Seed {
        Seed(splitmix(self.0 ^ (index as u64).wrapping_add(1).wrapping_mul(GOLDEN)))
    }

    /// A seed for another purpose beside this one, so that two draws of one epoch (its plan and
    /// its batches) do not share a stream: this seed rotated left by `rotate`, xor `mask`.
    pub const fn derive(self, rotate: u32, mask: u64) -> Seed {
        Seed(self.0.rotate_left(rotate) ^ mask)
    }

    /// A keyed stream: splitmix of `seed ^ a * GOLDEN ^ b * SECOND` (the synthetic generator's
    /// (stream, chunk) pairs).
    pub const fn stream(self, a: u64, b: u64) -> Seed {
        Seed(splitmix(self.0 ^ a.wrapping_mul(GOLDEN) ^ b.wrapping_mul(SECOND)))
    }

    /// Chunk `c`'s seed for work split in chunks drawn in parallel: `(seed + c) * GOLDEN`
    /// (feature widening).
    pub const fn chunk(self, c: u64) -> Seed {
        Seed(self.0.wrapping_add(c).wrapping_mul(GOLDEN))
    }

    /// libtorch's seed for epoch `epoch` of a run with this seed (what draws outside batches,
    /// e.g. evaluation's dropout-free passes, start from): `seed * GOLDEN ^ (epoch + 1) * SECOND`,
    /// non-negative as `manual_seed` takes an `i64`.
    pub const fn torch_epoch(self, epoch: u64) -> i64 {
        ((self.0.wrapping_mul(GOLDEN) ^ epoch.wrapping_add(1).wrapping_mul(SECOND)) & i64::MAX as u64) as i64
    }

    /// libtorch's seed for batch `index` under this epoch's seed (`Seed::new(s).epoch(e)`):
    /// splitmix of `epoch seed ^ (index + 1) * SECOND`, non-negative. Dropout masks come from the
    /// batch, not from what the process drew before, so any rank or a resumed run draws alike.
    pub const fn torch_batch(self, index: usize) -> i64 {
        (splitmix(self.0 ^ (index as u64).wrapping_add(1).wrapping_mul(SECOND)) & i64::MAX as u64) as i64
    }

    /// An odd state for an xorshift-style generator: `seed * GOLDEN | 1` (never zero).
    pub const fn odd(self) -> u64 {
        self.0.wrapping_mul(GOLDEN) | 1
    }

    /// A PCG generator seeded with this seed.
    pub fn rng(self) -> Pcg64 {
        Pcg64::seed_from_u64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values computed with the formulas as they stood in the five modules that each had their
    // own copy before this one (loader plan.rs and sample.rs, train run/mod.rs and
    // run/parallel.rs, synth): what existing runs and stores were drawn with.
    #[test]
    fn derivations_keep_their_recorded_values() {
        let s = Seed::new(12345);
        assert_eq!(s.epoch(0).get(), 12345 ^ GOLDEN);
        assert_eq!(s.epoch(6).get(), 0x5384_5412_7b09_54aa);
        assert_eq!(s.epoch(6).batch(2).get(), 0x8a50_8cdf_cdb2_9d33);
        assert_eq!(s.epoch(6).derive(17, 0x5A5A).get(), 0xa824_f612_a954_fd52);
        assert_eq!(s.stream(4, 9).get(), 0xdfb7_e7e7_47c5_6bde);
        assert_eq!(s.chunk(3).get(), 0x7bd3_4f57_ccb9_04ec);
        assert_eq!(s.torch_epoch(6), 0x1ad9_e548_f5dd_ebb8);
        assert_eq!(s.epoch(6).torch_batch(2), 0x2f3e_929a_0a2a_9511);
        assert_eq!(s.odd(), 0xa12c_e22b_4ed9_90ad);
        assert_eq!(splitmix(0), 0);
        assert_eq!(splitmix(1), 0x5692_161d_100b_05e5);
    }
}
