//! Random clustering, the paper's training protocol: a fresh random partition every epoch.

use crate::partition::Partition;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// A uniformly random permutation of the nodes cut into `k` ranges whose sizes differ by at
/// most one.
pub fn random_balanced(n: usize, k: u32, seed: u64) -> Partition {
    let mut r = Pcg64::seed_from_u64(seed);
    let mut perm: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        perm.swap(i, r.random_range(0..=i));
    }
    let mut part = vec![0u32; n];
    let (q, rem) = (n / k as usize, n % k as usize);
    let mut pos = 0;
    for p in 0..k as usize {
        let size = q + usize::from(p < rem);
        for &v in &perm[pos..pos + size] {
            part[v as usize] = p as u32;
        }
        pos += size;
    }
    Partition::new(k, part).expect("parts below k")
}

/// An independent uniform part for every node (`randint`; sizes vary).
pub fn random_uniform(n: usize, k: u32, seed: u64) -> Partition {
    let mut r = Pcg64::seed_from_u64(seed);
    let part = (0..n).map(|_| r.random_range(0..k)).collect();
    Partition::new(k, part).expect("parts below k")
}
