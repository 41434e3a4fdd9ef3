//! Samplers: how an epoch is cut into batches, and how one batch of the cut is built. Each
//! implements [`Sampler`]; [`make`] is the one place a [`PlanSpec`] turns into one. A new sampler
//! is a file here, a [`PlanSpec`] variant and its arm in [`make`].

mod clusters;
mod neighbors;
mod saint;
mod views;

pub use saint::{SaintNorm, SaintSampler, estimate};

use crate::batch::{Batch, Role};
use crate::build::{Builder, Graph};
use crate::error::Result;
use crate::plan::{Plan, PlanSpec};
use mille_pipeline::seed::Seed;
use std::sync::Arc;

/// One way of drawing batches.
pub trait Sampler: Send + Sync {
    /// The plan of the epoch whose seed is `epoch` (`Seed::new(loader seed).epoch(e)`).
    fn plan(&self, epoch: Seed) -> Plan;

    /// Batch `index` of `plan`, built with `builder` (into `into`'s buffers when given). By
    /// default the subgraph induced by the batch's nodes.
    fn build(&self, plan: &Plan, index: usize, builder: &mut Builder, into: Option<Batch>) -> Result<Batch> {
        builder.build(&plan.batches[index], index, plan.view[index], into)
    }

    /// Whether batches read a relabelled store's parts in order (read-ahead helps) rather than
    /// scattered rows.
    fn sequential(&self) -> bool {
        false
    }

    /// GraphSAINT's pre-sampled counts, for the sampler that has them.
    fn saint_norm(&self) -> Option<&Arc<SaintNorm>> {
        None
    }
}

/// What a sampler is made from.
pub(crate) struct Context<'a> {
    /// The graph.
    pub graph: &'a Graph,
    /// Every node's role in the loader's split.
    pub roles: &'a [Role],
    /// The loader's `restrict_to`.
    pub restrict_to: Option<&'a Arc<Vec<u32>>>,
    /// The loader's base seed.
    pub seed: Seed,
    /// Threads for work done once (GraphSAINT's pre-sampling).
    pub workers: usize,
}

impl Context<'_> {
    /// The nodes a sampling plan starts from: the ones asked for, else the split's training
    /// nodes.
    fn candidates(&self) -> Vec<u32> {
        match self.restrict_to {
            Some(keep) => keep.to_vec(),
            None => (0..self.roles.len() as u32).filter(|&v| self.roles[v as usize] == Role::Train).collect(),
        }
    }
}

/// The sampler `spec` names.
pub(crate) fn make(spec: &PlanSpec, ctx: &Context<'_>) -> Result<Arc<dyn Sampler>> {
    let n = ctx.graph.store.num_nodes();
    let keep = ctx.restrict_to.cloned();
    Ok(match spec {
        PlanSpec::RandomParts { parts } => Arc::new(clusters::Clusters::random(n, *parts, keep)),
        PlanSpec::ClusterGcn { partition, per_batch } => {
            Arc::new(clusters::Clusters::fixed(n, partition.clone(), *per_batch, keep))
        }
        PlanSpec::Full => Arc::new(clusters::Clusters::full(n, keep)),
        PlanSpec::ClusterViews { partition, views, per_batch } => {
            Arc::new(views::Views::fixed(n, partition.clone(), *views, *per_batch, keep))
        }
        PlanSpec::Views { views, parts } => Arc::new(views::Views::random(n, *views, *parts, keep)),
        PlanSpec::Neighbors { fanouts, batch_size, replace } => {
            Arc::new(neighbors::Neighbors::new(ctx.candidates(), *batch_size, fanouts.clone(), *replace))
        }
        PlanSpec::SaintRandomWalk { roots, walk_length, coverage } => {
            let sampler = SaintSampler::RandomWalk { roots: *roots, walk_length: *walk_length };
            Arc::new(saint::SaintSubgraphs::new(ctx, ctx.candidates(), sampler, *coverage)?)
        }
        PlanSpec::SaintNodes { budget, coverage } => {
            let sampler = SaintSampler::Nodes { budget: *budget };
            Arc::new(saint::SaintSubgraphs::new(ctx, ctx.candidates(), sampler, *coverage)?)
        }
    })
}
