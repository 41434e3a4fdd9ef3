//! Evaluation views: several independent cuts of the graph in one epoch (view-major), so that
//! multi-view inference averages each node's prediction over different subgraphs.

use super::Sampler;
use crate::plan::Plan;
use mille_partition::{Partition, random_balanced};
use mille_pipeline::seed::Seed;
use std::sync::Arc;

/// Where each view's parts come from.
enum Source {
    /// An independent balanced random partition into `parts` parts per view.
    Random { parts: u32 },
    /// A fixed partition's parts, grouped `per_batch` at a time in each view's own shuffled
    /// order (for relabelled stores whose parts are contiguous row ranges).
    Fixed { partition: Arc<Partition>, per_batch: u32 },
}

/// `views` views per epoch, optionally restricted to some nodes.
pub(crate) struct Views {
    source: Source,
    views: u32,
    /// The graph's node count.
    n: usize,
    keep: Option<Arc<Vec<u32>>>,
}

/// View `v`'s seed within an epoch: far from any epoch number, so views never repeat an
/// epoch's cut.
fn view_seed(epoch: Seed, v: u32) -> Seed {
    epoch.epoch(1_000_003 + v as u64)
}

impl Views {
    /// `views` random partitions of `n` nodes into `parts` parts each.
    pub(crate) fn random(n: usize, views: u32, parts: u32, keep: Option<Arc<Vec<u32>>>) -> Views {
        Views { source: Source::Random { parts }, views, n, keep }
    }

    /// `views` groupings of `partition`'s parts (of the `n` nodes), `per_batch` a batch.
    pub(crate) fn fixed(
        n: usize,
        partition: Arc<Partition>,
        views: u32,
        per_batch: u32,
        keep: Option<Arc<Vec<u32>>>,
    ) -> Views {
        Views { source: Source::Fixed { partition, per_batch }, views, n, keep }
    }
}

impl Sampler for Views {
    fn plan(&self, epoch: Seed) -> Plan {
        let mut plan = Plan::new(Vec::new(), 0);
        for v in 0..self.views {
            let one = match &self.source {
                Source::Random { parts } => {
                    let p = random_balanced(self.n, (*parts).max(1), view_seed(epoch, v).get());
                    Plan::from_partition(&p, 1, epoch, false)
                }
                Source::Fixed { partition, per_batch } => {
                    Plan::from_partition(partition, *per_batch, view_seed(epoch, v), true)
                }
            };
            plan.push_view(one, v);
        }
        match &self.keep {
            Some(keep) => plan.restrict(keep, self.n),
            None => plan,
        }
    }

    fn sequential(&self) -> bool {
        matches!(self.source, Source::Fixed { .. })
    }
}
