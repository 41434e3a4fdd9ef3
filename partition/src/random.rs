//! Random clustering, the paper's training protocol: a fresh random partition every epoch.

use crate::partition::Partition;
use mille_pipeline::prefetch;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

/// How many steps ahead the shuffle draws its swap targets and prefetches them. The draws
/// depend only on the generator, not on the array, so drawing early changes nothing in the
/// result; each swap then finds its far element in cache instead of waiting on memory (a
/// products-size permutation is ~10 MB).
const AHEAD: usize = 32;

/// Fisher-Yates shuffle of `0..n` (swap `i` with a uniform `j <= i`, `i` from `n - 1` down).
fn permutation(n: usize, r: &mut Pcg64) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..n as u32).collect();
    if n < 2 {
        return perm;
    }
    // ring[i % AHEAD] holds the swap target drawn for step i.
    let mut ring = [0usize; AHEAD];
    for i in (n.saturating_sub(AHEAD).max(1)..n).rev() {
        let j = r.random_range(0..=i);
        prefetch(&perm[j]);
        ring[i % AHEAD] = j;
    }
    for i in (1..n).rev() {
        perm.swap(i, ring[i % AHEAD]);
        if i > AHEAD {
            let next = i - AHEAD;
            let j = r.random_range(0..=next);
            prefetch(&perm[j]);
            ring[next % AHEAD] = j;
        }
    }
    perm
}

/// A uniformly random permutation of the nodes cut into `k` ranges whose sizes differ by at
/// most one.
pub fn random_balanced(n: usize, k: u32, seed: u64) -> Partition {
    let mut r = Pcg64::seed_from_u64(seed);
    let perm = permutation(n, &mut r);
    let mut part = vec![0u32; n];
    let (q, rem) = (n / k as usize, n % k as usize);
    let mut pos = 0;
    for p in 0..k as usize {
        let size = q + usize::from(p < rem);
        for (i, &v) in perm[pos..pos + size].iter().enumerate() {
            if let Some(&ahead) = perm.get(pos + i + AHEAD) {
                prefetch(&part[ahead as usize]);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The shuffle as written in the textbook, drawing each target when it is used.
    fn plain(n: usize, seed: u64) -> Vec<u32> {
        let mut r = Pcg64::seed_from_u64(seed);
        let mut perm: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            perm.swap(i, r.random_range(0..=i));
        }
        perm
    }

    #[test]
    fn drawing_ahead_gives_the_textbook_permutation() {
        for n in [0, 1, 2, 3, AHEAD - 1, AHEAD, AHEAD + 1, AHEAD + 2, 2 * AHEAD + 5, 1000, 100_003] {
            for seed in 0..3 {
                let mut r = Pcg64::seed_from_u64(seed);
                assert_eq!(permutation(n, &mut r), plain(n, seed), "n={n} seed={seed}");
            }
        }
    }
}
