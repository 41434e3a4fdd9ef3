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

/// How training batches are drawn (serialised with its kind as a tag, `kind = "..."`: a run's
/// `config.toml` holds it as its `[sampler]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
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

/// A sampler's kind: what `--batching` / `--sampler` name. `random` (the paper's word for
/// clusters redrawn every epoch, and `tools/train`'s first name for it) reads as `cluster`,
/// `saint` as `saint-walk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplerKind {
    /// [`SamplerSetting::Cluster`].
    Cluster,
    /// [`SamplerSetting::Metis`].
    Metis,
    /// [`SamplerSetting::StoreParts`].
    StoreParts,
    /// [`SamplerSetting::Full`].
    Full,
    /// [`SamplerSetting::Neighbor`].
    Neighbor,
    /// [`SamplerSetting::SaintWalk`].
    SaintWalk,
    /// [`SamplerSetting::SaintNode`].
    SaintNode,
}

impl SamplerKind {
    /// Every kind's name, in declaration order.
    pub const NAMES: &'static [&'static str] =
        &["cluster", "metis", "store-parts", "full", "neighbor", "saint-walk", "saint-node"];
    const ALIASES: [(&'static str, SamplerKind); 2] =
        [("random", SamplerKind::Cluster), ("saint", SamplerKind::SaintWalk)];
    const ALL: [SamplerKind; 7] = [
        SamplerKind::Cluster,
        SamplerKind::Metis,
        SamplerKind::StoreParts,
        SamplerKind::Full,
        SamplerKind::Neighbor,
        SamplerKind::SaintWalk,
        SamplerKind::SaintNode,
    ];

    /// The name, as the front ends spell it.
    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

impl std::str::FromStr for SamplerKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let named = Self::ALL.into_iter().find(|k| k.name() == s);
        named.or_else(|| Self::ALIASES.iter().find(|(a, _)| *a == s).map(|&(_, k)| k)).ok_or_else(|| {
            format!("{s:?}: expected {} (random reads as cluster, saint as saint-walk)", Self::NAMES.join(", "))
        })
    }
}

impl fmt::Display for SamplerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Sampler settings given one at a time (command-line flags; the flat keys of version 1 and 2
/// run configs), laid over a [`SamplerSetting`] by [`SamplerSetting::with`]. Named as
/// `tools/train` spells them (`metis_parts` is Metis's `clusters`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamplerOptions {
    /// The kind; another than the setting's starts from [`SamplerSetting::defaults`].
    pub kind: Option<SamplerKind>,
    /// Batches per epoch (cluster, metis, store-parts).
    pub parts: Option<u32>,
    /// METIS clusters (metis).
    pub metis_parts: Option<u32>,
    /// In-neighbours per hop (neighbor).
    pub fanouts: Option<Vec<u32>>,
    /// Seeds per batch (neighbor).
    pub batch_size: Option<usize>,
    /// Draw with replacement (neighbor).
    pub replace: Option<bool>,
    /// Walks per batch (saint-walk).
    pub roots: Option<usize>,
    /// Steps per walk (saint-walk).
    pub walk_length: Option<usize>,
    /// Pre-sampled subgraphs in multiples of the node count (saint-walk, saint-node).
    pub coverage: Option<u32>,
    /// Nodes drawn per batch (saint-node).
    pub budget: Option<usize>,
}

impl SamplerOptions {
    /// The names of the options given (`tools/train`'s flags, without the kind).
    pub fn given(&self) -> Vec<&'static str> {
        let o = self;
        [
            ("parts", o.parts.is_some()),
            ("metis-parts", o.metis_parts.is_some()),
            ("fanouts", o.fanouts.is_some()),
            ("batch-size", o.batch_size.is_some()),
            ("replace", o.replace.is_some()),
            ("roots", o.roots.is_some()),
            ("walk-length", o.walk_length.is_some()),
            ("coverage", o.coverage.is_some()),
            ("budget", o.budget.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
}

impl SamplerSetting {
    /// The kind's name, as the front ends spell it.
    pub fn kind(&self) -> &'static str {
        self.sampler_kind().name()
    }

    /// The kind.
    pub fn sampler_kind(&self) -> SamplerKind {
        match self {
            SamplerSetting::Cluster { .. } => SamplerKind::Cluster,
            SamplerSetting::Metis { .. } => SamplerKind::Metis,
            SamplerSetting::StoreParts { .. } => SamplerKind::StoreParts,
            SamplerSetting::Full => SamplerKind::Full,
            SamplerSetting::Neighbor { .. } => SamplerKind::Neighbor,
            SamplerSetting::SaintWalk { .. } => SamplerKind::SaintWalk,
            SamplerSetting::SaintNode { .. } => SamplerKind::SaintNode,
        }
    }

    /// A kind with `tools/train`'s defaults: 10 parts (METIS: 10 clusters per part), fanouts
    /// 25,10 and 1,024 seeds without replacement, 3,000 walks of 2 steps, 8,000 nodes,
    /// coverage 50.
    pub fn defaults(kind: SamplerKind) -> SamplerSetting {
        match kind {
            SamplerKind::Cluster => SamplerSetting::Cluster { parts: 10 },
            SamplerKind::Metis => SamplerSetting::Metis { parts: 10, clusters: None },
            SamplerKind::StoreParts => SamplerSetting::StoreParts { parts: 10 },
            SamplerKind::Full => SamplerSetting::Full,
            SamplerKind::Neighbor => {
                SamplerSetting::Neighbor { fanouts: vec![25, 10], batch_size: 1024, replace: false }
            }
            SamplerKind::SaintWalk => SamplerSetting::SaintWalk { roots: 3000, walk_length: 2, coverage: 50 },
            SamplerKind::SaintNode => SamplerSetting::SaintNode { budget: 8000, coverage: 50 },
        }
    }

    /// Batches per epoch, for the kinds that group parts (cluster, metis, store-parts).
    pub fn parts(&self) -> Option<u32> {
        match self {
            SamplerSetting::Cluster { parts }
            | SamplerSetting::Metis { parts, .. }
            | SamplerSetting::StoreParts { parts } => Some(*parts),
            _ => None,
        }
    }

    /// `o` laid over this setting: another kind starts from [`SamplerSetting::defaults`] (keeping
    /// the parts between kinds that group parts), then every option given replaces its value.
    /// An option the kind does not have is an error naming it when `strict` (a flag the user
    /// typed), and dropped otherwise (an old config's flat keys: each file held all of them).
    pub fn with(self, o: &SamplerOptions, strict: bool) -> Result<SamplerSetting, String> {
        fn set<T: Clone>(slot: &mut T, v: &Option<T>, name: &'static str, used: &mut Vec<&'static str>) {
            if let Some(v) = v {
                *slot = v.clone();
                used.push(name);
            }
        }
        let kind = o.kind.unwrap_or(self.sampler_kind());
        let mut s = if kind == self.sampler_kind() { self } else { Self::defaults(kind).with_parts(self.parts()) };
        let mut used = Vec::new();
        match &mut s {
            SamplerSetting::Cluster { parts } | SamplerSetting::StoreParts { parts } => {
                set(parts, &o.parts, "parts", &mut used)
            }
            SamplerSetting::Metis { parts, clusters } => {
                set(parts, &o.parts, "parts", &mut used);
                set(clusters, &o.metis_parts.map(Some), "metis-parts", &mut used);
            }
            SamplerSetting::Full => {}
            SamplerSetting::Neighbor { fanouts, batch_size, replace } => {
                set(fanouts, &o.fanouts, "fanouts", &mut used);
                set(batch_size, &o.batch_size, "batch-size", &mut used);
                set(replace, &o.replace, "replace", &mut used);
            }
            SamplerSetting::SaintWalk { roots, walk_length, coverage } => {
                set(roots, &o.roots, "roots", &mut used);
                set(walk_length, &o.walk_length, "walk-length", &mut used);
                set(coverage, &o.coverage, "coverage", &mut used);
            }
            SamplerSetting::SaintNode { budget, coverage } => {
                set(budget, &o.budget, "budget", &mut used);
                set(coverage, &o.coverage, "coverage", &mut used);
            }
        }
        let foreign: Vec<String> =
            o.given().into_iter().filter(|n| !used.contains(n)).map(|n| format!("--{n}")).collect();
        if strict && !foreign.is_empty() {
            let (verb, them, they) =
                if foreign.len() == 1 { ("is", "it", "it belongs") } else { ("are", "them", "they belong") };
            return Err(format!(
                "{} {verb} not a setting of the {} sampler; remove {them} or choose the sampler {they} to",
                foreign.join(", "),
                s.kind()
            ));
        }
        Ok(s)
    }

    fn with_parts(mut self, given: Option<u32>) -> SamplerSetting {
        if let (
            Some(g),
            SamplerSetting::Cluster { parts }
            | SamplerSetting::Metis { parts, .. }
            | SamplerSetting::StoreParts { parts },
        ) = (given, &mut self)
        {
            *parts = g;
        }
        self
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
            assert!(json.contains(&format!("\"kind\":\"{}\"", s.kind())), "{json}");
            assert_eq!(serde_json::from_str::<SamplerSetting>(&json).unwrap(), s);
            assert!(s.validate().is_ok(), "{s}");
        }
        let typo = serde_json::from_str::<SamplerSetting>(r#"{"kind":"neighbor","fanouts":[2],"batchsize":3}"#);
        assert!(typo.unwrap_err().to_string().contains("batchsize"));
    }

    #[test]
    fn options_lay_over_a_setting_and_a_foreign_flag_is_named() {
        let o = |f: fn(&mut SamplerOptions)| {
            let mut o = SamplerOptions::default();
            f(&mut o);
            o
        };
        let cluster = SamplerSetting::Cluster { parts: 5 };
        // Another kind starts from its defaults and keeps the parts between part kinds.
        let metis = cluster.clone().with(&o(|o| o.kind = Some(SamplerKind::Metis)), true).unwrap();
        assert_eq!(metis, SamplerSetting::Metis { parts: 5, clusters: None });
        let n = cluster.clone().with(&o(|o| (o.kind, o.batch_size) = (Some(SamplerKind::Neighbor), Some(64))), true);
        assert_eq!(n.unwrap(), SamplerSetting::Neighbor { fanouts: vec![25, 10], batch_size: 64, replace: false });
        // The same kind keeps its values and takes the ones given.
        let m2 = metis.with(&o(|o| o.metis_parts = Some(40)), true).unwrap();
        assert_eq!(m2, SamplerSetting::Metis { parts: 5, clusters: Some(40) });
        // A flag of another kind: named when strict, dropped otherwise.
        let foreign = o(|o| (o.fanouts, o.budget) = (Some(vec![3]), Some(9)));
        let e = cluster.clone().with(&foreign, true).unwrap_err();
        assert!(e.starts_with("--fanouts, --budget are not a setting of the cluster sampler"), "{e}");
        assert_eq!(cluster.clone().with(&foreign, false).unwrap(), cluster);
        assert_eq!("random".parse::<SamplerKind>(), Ok(SamplerKind::Cluster));
        assert_eq!("saint".parse::<SamplerKind>(), Ok(SamplerKind::SaintWalk));
        for name in SamplerKind::NAMES {
            let k: SamplerKind = name.parse().unwrap();
            assert_eq!(SamplerSetting::defaults(k).kind(), *name);
        }
        assert!("walk".parse::<SamplerKind>().unwrap_err().contains("expected cluster, metis"));
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
