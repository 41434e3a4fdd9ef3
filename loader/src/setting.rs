//! [`SamplerSetting`]: the one way every front end (`tools/train` and its `config.toml`,
//! `tools/bench loader`, `tools/store batches`, the Python `Loader`) names how training batches
//! are drawn. It is checked in one place ([`SamplerSetting::validate`]), printed in one way
//! (`Display`), and turned into a [`PlanSpec`] against a store in one function
//! ([`SamplerSetting::resolve`]).

use crate::error::{Error, Result};
use crate::plan::PlanSpec;
use mille_partition::{Method, Partition};
use mille_pipeline::Store;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// How training batches are drawn (serialised with its kind as `sampler = "..."`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sampler", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SamplerSetting {
    /// A fresh balanced random partition into `parts` parts every epoch, one batch each (the
    /// paper's protocol).
    Cluster {
        /// Batches per epoch.
        parts: u32,
    },
    /// Cluster-GCN: a (cached) METIS partition into `clusters` clusters (default `10 * parts`),
    /// regrouped at random into `parts` batches every epoch.
    Metis {
        /// Batches per epoch.
        parts: u32,
        /// METIS clusters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clusters: Option<u32>,
    },
    /// The parts of a store relabelled by `tools/partition --relabel`, regrouped at random into
    /// `parts` batches every epoch: each part is a contiguous range of rows, read sequentially.
    StoreParts {
        /// Batches per epoch.
        parts: u32,
    },
    /// The whole graph as one batch.
    Full,
    /// Node-wise neighbour sampling (GraphSAGE) from the training nodes.
    Neighbor {
        /// In-neighbours drawn per node, hop by hop.
        fanouts: Vec<u32>,
        /// Seed nodes per batch.
        batch_size: usize,
        /// Draw with replacement.
        #[serde(default)]
        replace: bool,
    },
    /// GraphSAINT's random-walk sampler.
    SaintWalk {
        /// Walks per batch.
        roots: usize,
        /// Steps per walk.
        walk_length: usize,
        /// Pre-sampled subgraphs for the coefficients, in multiples of the node count.
        coverage: u32,
    },
    /// GraphSAINT's node sampler: nodes drawn by in-degree.
    SaintNode {
        /// Draws per batch.
        budget: usize,
        /// As for [`SamplerSetting::SaintWalk`].
        coverage: u32,
    },
}

impl Default for SamplerSetting {
    fn default() -> Self {
        SamplerSetting::Cluster { parts: 10 }
    }
}

impl SamplerSetting {
    /// The kind's name, as the front ends spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            SamplerSetting::Cluster { .. } => "cluster",
            SamplerSetting::Metis { .. } => "metis",
            SamplerSetting::StoreParts { .. } => "store-parts",
            SamplerSetting::Full => "full",
            SamplerSetting::Neighbor { .. } => "neighbor",
            SamplerSetting::SaintWalk { .. } => "saint-walk",
            SamplerSetting::SaintNode { .. } => "saint-node",
        }
    }

    /// Whether it is one of GraphSAINT's samplers (its batches carry normalisation weights).
    pub fn is_saint(&self) -> bool {
        matches!(self, SamplerSetting::SaintWalk { .. } | SamplerSetting::SaintNode { .. })
    }

    /// Checks every value, naming the setting that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        let at_least_one = |name: &str, v: u64| {
            if v >= 1 { Ok(()) } else { Err(format!("sampler {kind}: {name} must be at least 1")) }
        };
        match self {
            SamplerSetting::Cluster { parts } | SamplerSetting::StoreParts { parts } => {
                at_least_one("parts", *parts as u64)
            }
            SamplerSetting::Metis { parts, clusters } => {
                at_least_one("parts", *parts as u64)?;
                at_least_one("clusters", clusters.unwrap_or(1) as u64)
            }
            SamplerSetting::Full => Ok(()),
            SamplerSetting::Neighbor { fanouts, batch_size, .. } => {
                if fanouts.is_empty() {
                    return Err(format!("sampler {kind}: fanouts needs at least one hop"));
                }
                at_least_one("batch size", *batch_size as u64)
            }
            SamplerSetting::SaintWalk { roots, coverage, .. } => {
                at_least_one("roots", *roots as u64)?;
                at_least_one("coverage", *coverage as u64)
            }
            SamplerSetting::SaintNode { budget, coverage } => {
                at_least_one("budget", *budget as u64)?;
                at_least_one("coverage", *coverage as u64)
            }
        }
    }

    /// The plan of this setting on `store`: a METIS partition is read from the store's cache or
    /// computed with `seed` (and cached when the store is writable).
    pub fn resolve(&self, store: &Store, seed: u64) -> Result<PlanSpec> {
        self.resolve_with(store, |k| {
            let method = Method::Metis(Default::default());
            Ok(mille_partition::cached_or_compute_or_keep(store, &method, k, seed)?.0)
        })
    }

    /// [`SamplerSetting::resolve`] with the METIS partition into `k` clusters from `metis` (a
    /// data-parallel job computes it on one rank and shares it).
    pub fn resolve_with(&self, store: &Store, metis: impl FnOnce(u32) -> Result<Partition>) -> Result<PlanSpec> {
        self.validate().map_err(Error::Invalid)?;
        Ok(match self {
            SamplerSetting::Cluster { parts } => PlanSpec::RandomParts { parts: *parts },
            SamplerSetting::Metis { parts, clusters } => {
                let k = clusters.unwrap_or(10 * parts);
                PlanSpec::ClusterGcn { partition: Arc::new(metis(k)?), per_batch: k.div_ceil(*parts) }
            }
            SamplerSetting::StoreParts { parts } => {
                let p = stored_parts(store)?;
                PlanSpec::ClusterGcn { per_batch: p.k().div_ceil(*parts), partition: p }
            }
            SamplerSetting::Full => PlanSpec::Full,
            SamplerSetting::Neighbor { fanouts, batch_size, replace } => {
                PlanSpec::Neighbors { fanouts: fanouts.clone(), batch_size: *batch_size, replace: *replace }
            }
            SamplerSetting::SaintWalk { roots, walk_length, coverage } => {
                PlanSpec::SaintRandomWalk { roots: *roots, walk_length: *walk_length, coverage: *coverage }
            }
            SamplerSetting::SaintNode { budget, coverage } => {
                PlanSpec::SaintNodes { budget: *budget, coverage: *coverage }
            }
        })
    }
}

/// The parts of a store relabelled by part, or an error saying how to make one.
pub fn stored_parts(store: &Store) -> Result<Arc<Partition>> {
    let p = mille_partition::stored_parts(store)?.ok_or_else(|| {
        Error::Invalid(format!(
            "store-parts needs a store relabelled by part (tools/partition STORE --relabel OUT); {} is not",
            store.path().display()
        ))
    })?;
    Ok(Arc::new(p))
}

impl fmt::Display for SamplerSetting {
    /// `kind key=value ...`, e.g. `neighbor fanouts=15,10,5 batch-size=1024 replace=false`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind())?;
        match self {
            SamplerSetting::Cluster { parts } | SamplerSetting::StoreParts { parts } => write!(f, " parts={parts}"),
            SamplerSetting::Metis { parts, clusters } => {
                write!(f, " parts={parts} clusters={}", clusters.unwrap_or(10 * parts))
            }
            SamplerSetting::Full => Ok(()),
            SamplerSetting::Neighbor { fanouts, batch_size, replace } => {
                let f0: Vec<String> = fanouts.iter().map(u32::to_string).collect();
                write!(f, " fanouts={} batch-size={batch_size} replace={replace}", f0.join(","))
            }
            SamplerSetting::SaintWalk { roots, walk_length, coverage } => {
                write!(f, " roots={roots} walk-length={walk_length} coverage={coverage}")
            }
            SamplerSetting::SaintNode { budget, coverage } => write!(f, " budget={budget} coverage={coverage}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_round_trips_through_its_serialised_form_with_its_kind_as_a_tag() {
        let all = [
            SamplerSetting::Cluster { parts: 3 },
            SamplerSetting::Metis { parts: 4, clusters: Some(40) },
            SamplerSetting::Metis { parts: 4, clusters: None },
            SamplerSetting::StoreParts { parts: 2 },
            SamplerSetting::Full,
            SamplerSetting::Neighbor { fanouts: vec![15, 10], batch_size: 512, replace: true },
            SamplerSetting::SaintWalk { roots: 3000, walk_length: 2, coverage: 50 },
            SamplerSetting::SaintNode { budget: 8000, coverage: 50 },
        ];
        for s in all {
            let json = serde_json::to_string(&s).unwrap();
            assert!(json.contains(&format!("\"sampler\":\"{}\"", s.kind())), "{json}");
            assert_eq!(serde_json::from_str::<SamplerSetting>(&json).unwrap(), s);
            assert!(s.validate().is_ok(), "{s}");
        }
        let typo = serde_json::from_str::<SamplerSetting>(r#"{"sampler":"neighbor","fanouts":[2],"batchsize":3}"#);
        assert!(typo.unwrap_err().to_string().contains("batchsize"));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        let bad = [
            (SamplerSetting::Cluster { parts: 0 }, "sampler cluster: parts must be at least 1"),
            (SamplerSetting::Metis { parts: 2, clusters: Some(0) }, "sampler metis: clusters must be at least 1"),
            (
                SamplerSetting::Neighbor { fanouts: vec![], batch_size: 5, replace: false },
                "fanouts needs at least one hop",
            ),
            (
                SamplerSetting::Neighbor { fanouts: vec![3], batch_size: 0, replace: false },
                "batch size must be at least 1",
            ),
            (SamplerSetting::SaintWalk { roots: 0, walk_length: 2, coverage: 5 }, "roots must be at least 1"),
            (SamplerSetting::SaintNode { budget: 10, coverage: 0 }, "sampler saint-node: coverage must be at least 1"),
        ];
        for (s, want) in bad {
            let got = s.validate().unwrap_err();
            assert!(got.contains(want), "{s}: {got}");
        }
        assert_eq!(
            SamplerSetting::Neighbor { fanouts: vec![15, 10, 5], batch_size: 1024, replace: false }.to_string(),
            "neighbor fanouts=15,10,5 batch-size=1024 replace=false"
        );
    }
}
