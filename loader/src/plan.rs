//! Plans: which nodes each batch of an epoch holds, drawn by a sampler (`crate::sampler`) from a
//! seed and the epoch number; and [`PlanSpec`], the setting that names the sampler.

use mille_partition::Partition;
use mille_pipeline::seed::Seed;
use rand::Rng;
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

/// One epoch's batches: each a list of global node ids (and the view it belongs to), and the
/// seed its batches draw from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Each batch's nodes: ascending for an induced subgraph; for a neighbour sampler the
    /// batch's seeds (in their shuffled order); for GraphSAINT its walk roots (repeats possible)
    /// or its nodes (ascending).
    pub batches: Vec<Vec<u32>>,
    /// View of every batch (all 0 unless the plan is made of views).
    pub view: Vec<u32>,
    /// The seed the batches' own draws start from (batch `i` from `Seed::new(seed).batch(i)`,
    /// whatever thread builds it); unused by samplers that draw nothing per batch.
    pub seed: u64,
}

impl Plan {
    /// A plan of `batches`, all of view 0.
    pub fn new(batches: Vec<Vec<u32>>, seed: u64) -> Plan {
        let view = vec![0; batches.len()];
        Plan { batches, view, seed }
    }

    /// Batches of `per_batch` parts each, in a shuffled order (from `seed`) when `shuffle`.
    pub(crate) fn from_partition(p: &Partition, per_batch: u32, seed: Seed, shuffle: bool) -> Plan {
        let mut order: Vec<u32> = (0..p.k()).collect();
        if shuffle {
            let mut r = seed.rng();
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
        Plan::new(batches, 0)
    }

    /// Appends `other`'s batches as view `view`.
    pub(crate) fn push_view(&mut self, other: Plan, view: u32) {
        self.view.extend(std::iter::repeat_n(view, other.batches.len()));
        self.batches.extend(other.batches);
    }

    /// Keeps only the nodes in `keep` (e.g. a split's training nodes) in every batch, dropping
    /// batches left empty.
    pub(crate) fn restrict(self, keep: &[u32], n: usize) -> Plan {
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
        Plan { batches, view, seed: self.seed }
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
