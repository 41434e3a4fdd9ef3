//! Plans: which nodes each batch of an epoch holds, drawn from a seed and the epoch number.

use crate::sample::Sampling;
use mille_partition::{Partition, random_balanced};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;

/// How an epoch is cut into batches.
#[derive(Debug, Clone)]
pub enum PlanSpec {
    /// Random clustering redrawn every epoch (the paper's protocol): `parts` balanced random
    /// parts, one batch each.
    RandomParts {
        /// Parts (= batches) per epoch.
        parts: u32,
    },
    /// Cluster-GCN: the parts of a fixed partition (e.g. METIS) shuffled every epoch and
    /// grouped `per_batch` at a time; edges between the chosen parts are kept.
    ClusterGcn {
        /// The partition.
        partition: Arc<Partition>,
        /// Parts per batch (q).
        per_batch: u32,
    },
    /// The whole graph as one batch.
    Full,
    /// Evaluation views made of a fixed partition's parts: view `v` groups them `per_batch` at
    /// a time in its own shuffled order (for relabelled stores whose parts are contiguous row
    /// ranges, read sequentially when the features do not fit in memory).
    ClusterViews {
        /// The partition.
        partition: Arc<Partition>,
        /// Views.
        views: u32,
        /// Parts per batch.
        per_batch: u32,
    },
    /// Evaluation views: `views` independent random partitions into `parts` parts each; an
    /// epoch of this plan is every batch of every view (view-major).
    Views {
        /// Independent partitions.
        views: u32,
        /// Parts per view.
        parts: u32,
    },
    /// Node-wise neighbour sampling (GraphSAGE): the seed nodes (the split's training nodes, or
    /// the loader's `restrict_to`) shuffled every epoch, `batch_size` to a batch, each with up to
    /// `fanouts[h]` in-neighbours drawn per node at hop `h`.
    Neighbors {
        /// Neighbours per node, hop by hop.
        fanouts: Vec<u32>,
        /// Seeds per batch.
        batch_size: usize,
        /// Draw with replacement.
        replace: bool,
    },
}

/// One epoch's batches: each a sorted list of global node ids (and the view it belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Node ids of every batch, each ascending.
    pub batches: Vec<Vec<u32>>,
    /// View of every batch (all 0 unless the plan is made of views).
    pub view: Vec<u32>,
    /// For a sampling plan, how neighbours are drawn: `batches` then hold each batch's seeds
    /// (in their shuffled order, not ascending).
    pub sampling: Option<Sampling>,
}

fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Plan {
    /// The plan of `spec` for `n` nodes, epoch `epoch`, base seed `seed`.
    pub fn new(spec: &PlanSpec, n: usize, seed: u64, epoch: u64) -> Plan {
        let s = epoch_seed(seed, epoch);
        match spec {
            PlanSpec::Neighbors { fanouts, batch_size, replace } => {
                let sampling = Sampling { fanouts: fanouts.clone(), replace: *replace, seed: 0 };
                Plan::sampled((0..n as u32).collect(), *batch_size, sampling, seed, epoch)
            }
            PlanSpec::RandomParts { parts } => {
                Plan::from_partition(&random_balanced(n, (*parts).max(1), s), 1, s, false)
            }
            PlanSpec::ClusterGcn { partition, per_batch } => Plan::from_partition(partition, *per_batch, s, true),
            PlanSpec::Full => Plan { batches: vec![(0..n as u32).collect()], view: vec![0], sampling: None },
            PlanSpec::ClusterViews { partition, views, per_batch } => {
                let mut plan = Plan { batches: Vec::new(), view: Vec::new(), sampling: None };
                for v in 0..*views {
                    let one = Plan::from_partition(partition, *per_batch, epoch_seed(s, 1_000_003 + v as u64), true);
                    plan.view.extend(std::iter::repeat_n(v, one.batches.len()));
                    plan.batches.extend(one.batches);
                }
                plan
            }
            PlanSpec::Views { views, parts } => {
                let mut plan = Plan { batches: Vec::new(), view: Vec::new(), sampling: None };
                for v in 0..*views {
                    let p = random_balanced(n, (*parts).max(1), epoch_seed(s, 1_000_003 + v as u64));
                    let one = Plan::from_partition(&p, 1, s, false);
                    plan.view.extend(std::iter::repeat_n(v, one.batches.len()));
                    plan.batches.extend(one.batches);
                }
                plan
            }
        }
    }

    /// A sampling plan: `seeds` shuffled from (seed, epoch), `batch_size` to a batch, drawn as
    /// `sampling` says (its seed is replaced by the epoch's).
    pub fn sampled(mut seeds: Vec<u32>, batch_size: usize, sampling: Sampling, seed: u64, epoch: u64) -> Plan {
        let s = epoch_seed(seed, epoch);
        seeds.shuffle(&mut Pcg64::seed_from_u64(s));
        let batches: Vec<Vec<u32>> = seeds.chunks(batch_size.max(1)).map(<[u32]>::to_vec).collect();
        let view = vec![0; batches.len()];
        Plan { batches, view, sampling: Some(Sampling { seed: s.rotate_left(17) ^ 0x5A5A, ..sampling }) }
    }

    /// Batches of `per_batch` parts each, in a shuffled order when `shuffle`.
    fn from_partition(p: &Partition, per_batch: u32, seed: u64, shuffle: bool) -> Plan {
        let mut order: Vec<u32> = (0..p.k()).collect();
        if shuffle {
            let mut r = Pcg64::seed_from_u64(seed);
            for i in (1..order.len()).rev() {
                order.swap(i, r.random_range(0..=i));
            }
        }
        let batches: Vec<Vec<u32>> = order
            .chunks(per_batch.max(1) as usize)
            .map(|group| {
                let mut nodes: Vec<u32> = group.iter().flat_map(|&q| p.nodes(q).iter().copied()).collect();
                nodes.sort_unstable();
                nodes
            })
            .filter(|b| !b.is_empty())
            .collect();
        let view = vec![0; batches.len()];
        Plan { batches, view, sampling: None }
    }

    /// Keeps only the nodes in `keep` (e.g. a split's training nodes) in every batch, dropping
    /// batches left empty.
    pub fn restrict(self, keep: &[u32], n: usize) -> Plan {
        if self.sampling.is_some() {
            return self; // a sampling plan's seeds were chosen already
        }
        let mut mask = vec![false; n];
        for &v in keep {
            mask[v as usize] = true;
        }
        let (mut batches, mut view) = (Vec::new(), Vec::new());
        for (b, v) in self.batches.into_iter().zip(self.view) {
            let b: Vec<u32> = b.into_iter().filter(|&x| mask[x as usize]).collect();
            if !b.is_empty() {
                batches.push(b);
                view.push(v);
            }
        }
        Plan { batches, view, sampling: None }
    }

    /// Number of batches.
    pub fn len(&self) -> usize {
        self.batches.len()
    }
    /// True when there is no batch.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}
