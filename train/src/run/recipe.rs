//! Recipes: the settings of one row of the paper's tables (`recipes/NAME.toml`), with the store
//! they need. A recipe is a partial `config.toml` (any [`RunConfig`] key; the rest keep their
//! defaults) followed by a `[recipe]` table: its name, the dataset, the published score, where
//! the settings come from, and `[recipe.requires]`, what the store must be (checked before a run
//! starts, with the `tools/prepare` command that makes the right one).
//!
//! The recipe files are compiled into the programs ([`BUILT_IN`]), so `--recipe NAME` works from
//! any folder and from a packed binary; `--config FILE` reads any file of the same form.

use super::RunConfig;
use anyhow::{Context, bail, ensure};
use mille_pipeline::Store;
use std::path::Path;

macro_rules! recipes {
    ($($name:literal),* $(,)?) => {
        /// Every recipe of `recipes/`, by name (a test checks the folder holds exactly these).
        pub const BUILT_IN: &[(&str, &str)] =
            &[$(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../recipes/", $name, ".toml")))),*];
    };
}

recipes!(
    "ogbn-proteins-revgnn-deep",
    "ogbn-proteins-revgnn-wide",
    "ogbn-proteins-wt-revgnn",
    "ogbn-proteins-deq",
    "ogbn-proteins-resgnn-112",
    "ogbn-arxiv-revgcn-deep",
    "ogbn-arxiv-revgat-wide",
    "ogbn-arxiv-revgat-teacher",
    "ogbn-arxiv-revgat-selfkd",
    "ogbn-products-revgnn-112",
    "ogbn-products-revgnn-56",
    "cora-revgcnii-64",
    "citeseer-revgcnii-32",
    "cora-revgat",
);

/// What a recipe says about itself (`[recipe]`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeInfo {
    /// Its name (the file's stem).
    pub name: String,
    /// The OGB dataset it is for.
    pub dataset: String,
    /// The published score it reproduces, with its spread and protocol.
    pub published: String,
    /// Where the settings come from (paper table, reference README line).
    pub source: String,
    /// The hardware the published run used.
    #[serde(default)]
    pub hardware: String,
    /// What the store must be.
    #[serde(default)]
    pub requires: Requires,
}

/// What a recipe needs of its store.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// Edge features (GEN on ogbn-proteins encodes them).
    #[serde(default)]
    pub edge_features: bool,
    /// Node features that are each node's full-graph sum of its edges' features.
    #[serde(default)]
    pub node_features_from_edge_sums: bool,
    /// Extra node arrays (`node/<name>`).
    #[serde(default)]
    pub node_arrays: Vec<String>,
    /// Inverse edges added (an undirected graph stored once per direction).
    #[serde(default)]
    pub inverse_edges: bool,
    /// Bidirected with duplicate edges removed (`--to-undirected`).
    #[serde(default)]
    pub undirected: bool,
    /// Label kind: `multi-class` or `multi-label`.
    #[serde(default)]
    pub labels: Option<String>,
}

/// A recipe: its description and the settings it makes.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// `[recipe]`.
    pub info: RecipeInfo,
    /// The settings it sets (everything but `[recipe]`), to lay over a run's defaults.
    pub settings: toml::Table,
}

impl Recipe {
    /// Parses a recipe (or any partial `config.toml`: then `info` is empty); `origin` names it
    /// in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Recipe> {
        let mut settings: toml::Table = toml::from_str(text).with_context(|| format!("{origin}: not TOML"))?;
        let info = match settings.remove("recipe") {
            // A run's config.toml records the recipe it started from by name: a setting.
            Some(name @ toml::Value::String(_)) => {
                settings.insert("recipe".into(), name);
                RecipeInfo::default()
            }
            Some(v) => v.try_into().with_context(|| format!("{origin}: its [recipe] table"))?,
            None => RecipeInfo::default(),
        };
        Ok(Recipe { info, settings })
    }

    /// A built-in recipe by name, or a recipe file by path (a name ending in `.toml` or
    /// holding a `/`).
    pub fn find(name: &str) -> anyhow::Result<Recipe> {
        if name.ends_with(".toml") || name.contains('/') {
            return Recipe::load(Path::new(name));
        }
        match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Recipe::parse(text, &format!("recipe {n}")),
            None => bail!("unknown recipe {name:?}; the recipes are: {}", names().join(", ")),
        }
    }

    /// Reads a recipe (or partial config) file.
    pub fn load(path: &Path) -> anyhow::Result<Recipe> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Recipe::parse(&text, &path.display().to_string())
    }

    /// `base` with every setting of the recipe laid over it (and the recipe's name recorded).
    /// A key [`RunConfig`] does not know, or a value of the wrong type, is an error naming it.
    pub fn apply(&self, base: RunConfig, origin: &str) -> anyhow::Result<RunConfig> {
        let toml::Value::Table(mut merged) = toml::Value::try_from(&base)? else {
            unreachable!("a run config serialises to a table")
        };
        for (k, v) in &self.settings {
            merged.insert(k.clone(), v.clone());
        }
        if !self.info.name.is_empty() {
            merged.insert("recipe".into(), toml::Value::String(self.info.name.clone()));
        }
        // A run config of version 1 or 2 (`--config OLD_RUN/config.toml`), or a file written
        // by hand before version 3, names the sampler in flat keys (`batching = "metis"`,
        // `parts = 4`): folded into the [sampler] table as `RunConfig::load` does.
        super::config::upgrade(&mut merged, &base.sampler, origin)?;
        toml::Value::Table(merged).try_into().with_context(|| format!("{origin}: not a run configuration"))
    }

    /// Refuses a store the recipe cannot run on, saying how to prepare the right one.
    pub fn check_store(&self, store: &Store) -> anyhow::Result<()> {
        let (r, info, meta) = (&self.info.requires, &self.info, store.meta());
        let path = store.path().display();
        let prepare = format!("tools/prepare --from DIR --name {}", info.dataset);
        let name = &info.name;
        ensure!(
            !r.edge_features || store.edge_features().is_some(),
            "recipe {name} needs edge features (its convolutions encode them); {path} has none: it is for {} \
             ({prepare})",
            info.dataset
        );
        ensure!(
            !r.node_features_from_edge_sums
                || meta.node_feat_from.as_deref() == Some(mille_pipeline::store::NODE_FEAT_FROM_EDGE_SUMS),
            "recipe {name} takes as node features each node's full-graph sum of its edges' features (the \
             authors' input); {path} {}: prepare it again with this version ({prepare})",
            if store.features().is_some() { "has other node features" } else { "has no node features" }
        );
        for a in &r.node_arrays {
            ensure!(
                store.node_array(a).is_ok(),
                "recipe {name} reads the node array {a:?}; {path} has none (its node arrays: {}): prepare it from \
                 the dataset's raw folder, which holds node_{a}.csv.gz ({prepare})",
                if meta.arrays.keys().any(|k| k.starts_with("node/")) {
                    store.node_array_names().join(", ")
                } else {
                    "none".into()
                }
            );
        }
        ensure!(
            !r.inverse_edges || meta.add_inverse_edge,
            "recipe {name} needs the graph with inverse edges (each undirected edge both ways, as OGB's loader \
             makes it); {path} was prepared directed: {prepare} (the catalog adds them), or --add-inverse-edge"
        );
        ensure!(
            !r.undirected || meta.undirected,
            "recipe {name} needs a bidirected graph without duplicate edges (the authors' to_undirected); {path} \
             was prepared {}: {prepare} --to-undirected",
            if meta.add_inverse_edge { "with inverse edges but duplicates kept" } else { "directed" }
        );
        if let Some(kind) = &r.labels {
            let have = match meta.label_kind {
                Some(mille_pipeline::store::LabelKind::MultiClass) => "multi-class",
                Some(mille_pipeline::store::LabelKind::MultiLabel) => "multi-label",
                None => "none",
            };
            ensure!(have == kind, "recipe {name} trains on {kind} labels ({}); {path} has {have} labels", info.dataset);
        }
        Ok(())
    }
}

/// The built-in recipes' names.
pub fn names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mille_loader::SamplerSetting;

    #[test]
    fn a_run_config_read_as_settings_repeats_the_run_and_old_flat_sampler_keys_fold() {
        // `--config RUN/config.toml` of a run made from a recipe (`recipe = "NAME"`, a string).
        let mut run = Recipe::find("cora-revgat").unwrap().apply(RunConfig::new("a/cora"), "recipe").unwrap();
        run.seed = 4;
        let again = Recipe::parse(&run.to_toml(), "RUN/config.toml").unwrap().apply(RunConfig::new("b"), "c").unwrap();
        assert_eq!(again, run);
        // A version 2 run's flat keys: every one written, those of another sampler dropped.
        let v2 = "batching = \"metis\"\nparts = 4\nmetis_parts = 40\nfanouts = [25, 10]\nbudget = 8000\n";
        let c = Recipe::parse(v2, "old.toml").unwrap().apply(RunConfig::new("b"), "old.toml").unwrap();
        assert_eq!(c.sampler, SamplerSetting::Metis { parts: 4, clusters: Some(40) });
        let bad = Recipe::parse("batching = \"walk\"\n", "bad.toml").unwrap().apply(RunConfig::new("b"), "bad.toml");
        assert!(format!("{:#}", bad.unwrap_err()).contains("batching = \"walk\": expected cluster"));
    }
}
