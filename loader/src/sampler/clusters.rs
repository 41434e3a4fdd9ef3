//! Clusters: each batch is the subgraph induced by whole parts of a partition, a random balanced
//! one redrawn every epoch (the paper's protocol), a fixed one whose parts are shuffled and
//! grouped (Cluster-GCN), or the whole graph as one part.

use super::Sampler;
use crate::plan::Plan;
use mille_partition::{Partition, random_balanced};
use mille_pipeline::seed::Seed;
use std::sync::Arc;

/// Where an epoch's parts come from.
enum Parts {
    /// `k` balanced random parts drawn from the epoch's seed.
    Random { n: usize, k: u32 },
    /// A fixed partition, its parts shuffled every epoch and taken `per_batch` at a time.
    Fixed { partition: Arc<Partition>, per_batch: u32 },
    /// All `n` nodes in one batch.
    Full { n: usize },
}

/// Batches of whole parts, optionally restricted to some nodes (a split's training nodes).
pub(crate) struct Clusters {
    parts: Parts,
    /// The graph's node count.
    n: usize,
    keep: Option<Arc<Vec<u32>>>,
}

impl Clusters {
    /// `k` random parts of `n` nodes per epoch, one batch each.
    pub(crate) fn random(n: usize, k: u32, keep: Option<Arc<Vec<u32>>>) -> Clusters {
        Clusters { parts: Parts::Random { n, k }, n, keep }
    }

    /// Cluster-GCN over `partition` of the `n` nodes: `per_batch` shuffled parts a batch.
    pub(crate) fn fixed(n: usize, partition: Arc<Partition>, per_batch: u32, keep: Option<Arc<Vec<u32>>>) -> Clusters {
        Clusters { parts: Parts::Fixed { partition, per_batch }, n, keep }
    }

    /// The whole graph of `n` nodes as one batch.
    pub(crate) fn full(n: usize, keep: Option<Arc<Vec<u32>>>) -> Clusters {
        Clusters { parts: Parts::Full { n }, n, keep }
    }
}

impl Sampler for Clusters {
    fn plan(&self, epoch: Seed) -> Plan {
        let plan = match &self.parts {
            Parts::Random { n, k } => {
                Plan::from_partition(&random_balanced(*n, (*k).max(1), epoch.get()), 1, epoch, false)
            }
            Parts::Fixed { partition, per_batch } => Plan::from_partition(partition, *per_batch, epoch, true),
            Parts::Full { n } => Plan::new(vec![(0..*n as u32).collect()], 0),
        };
        match &self.keep {
            Some(keep) => plan.restrict(keep, self.n),
            None => plan,
        }
    }

    fn sequential(&self) -> bool {
        !matches!(self.parts, Parts::Random { .. })
    }
}
