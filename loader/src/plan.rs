//! Plans: which nodes each batch of an epoch holds, drawn from a seed and the epoch number.

use crate::saint::{Candidates, Saint, SaintNorm, SaintSampler};
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
    /// GraphSAINT's random-walk sampler: each batch is the subgraph induced by the nodes of
    /// `roots` walks of `walk_length` steps from roots drawn among the training nodes (or the
    /// loader's `restrict_to`), with the normalisation coefficients counted over pre-sampled
    /// subgraphs (see [`crate::SaintNorm`]). An epoch has `ceil(T / (roots (walk_length + 1)))`
    /// batches for `T` training nodes.
    SaintRandomWalk {
        /// Walks per batch.
        roots: usize,
        /// Steps per walk.
        walk_length: usize,
        /// Pre-sampled subgraphs, as how many times the graph's node count their nominal node
        /// total reaches (GraphSAINT's sample coverage; the paper and PyG use 50-100).
        coverage: u32,
    },
    /// GraphSAINT's node sampler: each batch is the subgraph induced by `budget` training nodes
    /// drawn by in-degree (repeats merged), with the normalisation coefficients. An epoch has
    /// `ceil(T / budget)` batches.
    SaintNodes {
        /// Draws per batch.
        budget: usize,
        /// As for [`PlanSpec::SaintRandomWalk`].
        coverage: u32,
    },
}

impl PlanSpec {
    /// The GraphSAINT sampler and coverage of a GraphSAINT plan.
    pub fn saint(&self) -> Option<(SaintSampler, u32)> {
        match *self {
            PlanSpec::SaintRandomWalk { roots, walk_length, coverage } => {
                Some((SaintSampler::RandomWalk { roots, walk_length }, coverage))
            }
            PlanSpec::SaintNodes { budget, coverage } => Some((SaintSampler::Nodes { budget }, coverage)),
            _ => None,
        }
    }
}

/// How a sampling plan's batches are drawn from the node lists in [`Plan::batches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sampled {
    /// Neighbours sampled from each batch's seeds.
    Neighbors(Sampling),
    /// GraphSAINT subgraphs: each batch's walk roots (random walk) or nodes (node sampler).
    Saint(Saint),
}

/// One epoch's batches: each a sorted list of global node ids (and the view it belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Node ids of every batch, each ascending.
    pub batches: Vec<Vec<u32>>,
    /// View of every batch (all 0 unless the plan is made of views).
    pub view: Vec<u32>,
    /// For a sampling plan, how batches are drawn: `batches` then hold each batch's seeds (in
    /// their shuffled order, not ascending) for neighbour sampling; its walk roots (repeats
    /// possible) or its nodes (ascending) for GraphSAINT.
    pub sampling: Option<Sampled>,
}

fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    seed ^ epoch.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Plan {
    /// The plan of `spec` for `n` nodes, epoch `epoch`, base seed `seed` (a GraphSAINT plan
    /// needs the graph: [`crate::Loader::plan`] draws it, this gives it no batch).
    pub(crate) fn new(spec: &PlanSpec, n: usize, seed: u64, epoch: u64) -> Plan {
        let s = epoch_seed(seed, epoch);
        match spec {
            PlanSpec::SaintRandomWalk { .. } | PlanSpec::SaintNodes { .. } => {
                Plan { batches: Vec::new(), view: Vec::new(), sampling: None }
            }
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
        let sampling = Sampling { seed: s.rotate_left(17) ^ 0x5A5A, ..sampling };
        Plan { batches, view, sampling: Some(Sampled::Neighbors(sampling)) }
    }

    /// A GraphSAINT plan: `steps` batches, each's first nodes drawn from `first` by `sampler`
    /// from (seed, epoch), carrying `norm`.
    pub(crate) fn saint(
        first: &Candidates<'_>,
        sampler: SaintSampler,
        steps: usize,
        norm: Arc<SaintNorm>,
        seed: u64,
        epoch: u64,
    ) -> Plan {
        let s = epoch_seed(seed, epoch);
        let mut rng = Pcg64::seed_from_u64(s);
        let batches: Vec<Vec<u32>> = (0..steps).map(|_| first.draw(sampler, &mut rng)).collect();
        let saint = Saint { sampler, seed: s.rotate_left(29) ^ 0xA5A5, norm };
        Plan { batches, view: vec![0; steps], sampling: Some(Sampled::Saint(saint)) }
    }

    /// The seed GraphSAINT's pre-sampling draws from: unlike any epoch's.
    pub(crate) fn presample_seed(seed: u64) -> u64 {
        epoch_seed(seed, u64::MAX).rotate_left(7)
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
