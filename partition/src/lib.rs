//! Partitioners over a mille store: random clustering (the paper's training protocol), METIS
//! (recursive bisection or k-way), and a streaming partitioner (Fennel, or LDG) for graphs METIS
//! can't hold; a [`Partition`] type cached beside the store, a quality report, and relabelled
//! stores whose parts are contiguous row ranges, and sharded stores (one store per part).

mod cache;
mod components;
mod error;
mod multilevel;
mod partition;
mod quality;
mod quiet;
mod random;
mod relabel;
mod shard;
mod streaming;

pub use cache::{CacheKey, cached_or_compute, cached_or_compute_or_keep, partition_dir};
pub use components::{Components, PartComponents, components, part_components};
pub use error::{Error, Result};
pub use multilevel::{METIS_MAX_ADJACENCY, MetisOptions, MetisScheme, metis, symmetric_adjacency};
pub use partition::Partition;
pub use quality::{Quality, quality};
pub use random::{random_balanced, random_uniform};
pub use relabel::{ORIGINAL_ID, PART_PTR, relabel, stored_parts};
pub use shard::{GLOBAL_EDGE_POS, GLOBAL_ID, MANIFEST, ShardInfo, ShardManifest, ShardSet, shard, shard_name};
pub use streaming::{StreamingOptions, StreamingScore, streaming};

/// How to partition, with every option that changes the result (the cache key is built from it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Method {
    /// Random clustering: a permutation cut into near-equal ranges, or (`uniform`) a part drawn
    /// for each node.
    Random {
        /// Per-node uniform draws instead of balanced ranges.
        uniform: bool,
    },
    /// METIS (recursive bisection or k-way) on the symmetrised graph without self loops.
    Metis(MetisOptions),
    /// Fennel streaming partitioner.
    Fennel(StreamingOptions),
    /// Linear deterministic greedy streaming partitioner.
    Ldg(StreamingOptions),
}

impl Method {
    /// Short name: `random`, `metis`, `fennel`, `ldg`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Random { .. } => "random",
            Method::Metis(_) => "metis",
            Method::Fennel(_) => "fennel",
            Method::Ldg(_) => "ldg",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    /// `random`, `metis`, `fennel` or `ldg`, with default options.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "random" => Method::Random { uniform: false },
            "metis" => Method::Metis(MetisOptions::default()),
            "fennel" => Method::Fennel(StreamingOptions::default()),
            "ldg" => Method::Ldg(StreamingOptions::default()),
            _ => return Err(format!("{s:?}: expected random, metis, fennel or ldg")),
        })
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Partitions `store` into `k` parts with `method` and `seed` (not cached; see
/// [`cached_or_compute`]).
pub fn compute(store: &mille_pipeline::Store, method: &Method, k: u32, seed: u64) -> Result<Partition> {
    if k == 0 {
        return Err(Error::Invalid("the number of parts must be at least 1".into()));
    }
    let n = store.num_nodes();
    if k as usize > n {
        return Err(Error::Invalid(format!(
            "cannot cut the {n} nodes of {} into {k} parts: every part needs a node",
            store.path().display()
        )));
    }
    match method {
        Method::Random { uniform: false } => Ok(random_balanced(n, k, seed)),
        Method::Random { uniform: true } => Ok(random_uniform(n, k, seed)),
        Method::Metis(o) => metis(store, k, seed, o),
        Method::Fennel(o) => streaming(store, k, seed, StreamingScore::Fennel, o),
        Method::Ldg(o) => streaming(store, k, seed, StreamingScore::Ldg, o),
    }
}
