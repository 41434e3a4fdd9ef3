//! A run's settings: everything that decides its result, saved as `RUN/config.toml` so the run
//! can be reproduced or resumed.

use crate::conv::ConvKind;
use crate::graph::FeatureNorm;
use crate::loss::{KdReduction, LossKind};
use crate::model::{DropoutMask, EdgeEncoder, GroupInit, ModelKind};
use crate::optim::Rule;
use crate::rev::EdgeDraw;
use crate::revgat::{BlockNorm, GatNorm};
use mille_loader::{SamplerKind, SamplerOptions, SamplerSetting};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Which evaluated epoch's weights a run keeps as its best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Select {
    /// The highest validation score in the store's metric (accuracy or ROC-AUC; `valid-acc`
    /// reads the same): mille's default, and the authors' ogbn-proteins and products code.
    #[default]
    #[serde(alias = "valid-acc")]
    ValidMetric,
    /// The lowest validation loss (the run's `--loss`), ties keeping the earlier epoch: the
    /// authors' ogbn-arxiv code (`examples/ogb_eff/ogbn_arxiv_dgl/main.py`,
    /// `if val_loss < best_val_loss`).
    ValidLoss,
}

mille_pipeline::choices!(Select { ValidMetric => "valid-metric", ValidLoss => "valid-loss" });

impl Select {
    /// Reads `valid-acc` as `valid-metric` too (the name the authors' tables use).
    pub fn parse(s: &str) -> Result<Select, String> {
        if s == "valid-acc" { Ok(Select::ValidMetric) } else { s.parse() }
    }
}

/// Self-knowledge distillation from a finished run of the same task (`config.toml`'s
/// `[teacher]`): the student's loss is `(1 - alpha) loss + alpha T^2 KL(teacher || student)` at
/// temperature T over every node of each batch (the authors' `--mode student`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeacherConfig {
    /// The teacher's run folder; its `predictions.npy` (the logits of its selected epoch's
    /// weights) is what the student learns from.
    pub run: PathBuf,
    /// The KD term's weight (the authors' SelfKD command: 0.95).
    #[serde(default = "kd_alpha_default")]
    pub alpha: f64,
    /// The softmax temperature (the authors' SelfKD command: 0.7).
    #[serde(default = "kd_temperature_default")]
    pub temperature: f64,
    /// How the KL divergence is averaged: `mean` over nodes x classes (PyTorch's `KLDivLoss()`
    /// default, the authors') or `batchmean` over nodes (a departure).
    #[serde(default)]
    pub reduction: KdReduction,
    /// xxh3-64 of the teacher's `predictions.npy` when the student started: a resumed student
    /// refuses a teacher that changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// The authors' `--alpha 0.95` (`examples/ogb_eff/ogbn_arxiv_dgl/README.md`, SelfKD).
pub fn kd_alpha_default() -> f64 {
    0.95
}

/// The authors' `--temp 0.7` (same command).
pub fn kd_temperature_default() -> f64 {
    0.7
}

impl TeacherConfig {
    /// Distillation from `run` with the authors' SelfKD settings.
    pub fn new(run: impl Into<PathBuf>) -> TeacherConfig {
        TeacherConfig {
            run: run.into(),
            alpha: kd_alpha_default(),
            temperature: kd_temperature_default(),
            reduction: KdReduction::Mean,
            checksum: None,
        }
    }
}

/// Where a model's node features come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NodeFeatures {
    /// The store's `node_feat`.
    #[default]
    Stored,
    /// Each node's mean of its in-batch edges' features (needs edge features).
    BatchEdgeMean,
}

mille_pipeline::choices!(NodeFeatures { Stored => "stored", BatchEdgeMean => "batch-edge-mean" });

fn one() -> usize {
    1
}

fn three() -> i64 {
    3
}

fn half() -> f64 {
    0.5
}

fn yes() -> bool {
    true
}

/// What a `config.toml` written before these settings existed meant: one dropout mask of a
/// group's width shared by every group (new runs default to the authors' per-group chunks).
fn dropout_mask_before() -> DropoutMask {
    DropoutMask::Shared
}

fn edge_encoder_before() -> EdgeEncoder {
    EdgeEncoder::PerConv
}

fn pretrain_steps_default() -> usize {
    3
}

/// The deepest model a run may build: ten times the paper's deepest.
pub const MAX_LAYERS: usize = 10_000;

/// The `config.toml` format this build writes. 1: files without a `version` key (before
/// GraphSAINT's node sampler); 2: `version` and `budget` added; 3: the sampler in one
/// `[sampler]` table (the loader's [`SamplerSetting`]) instead of nine flat keys. Older files
/// load and are upgraded (a key added since takes its default, which is what the older build
/// did; flat sampler keys fold into the table, those of another sampler dropped as the older
/// build ignored them); a newer one is refused by name.
pub const CONFIG_VERSION: u32 = 3;

/// The keys versions 1 and 2 held the sampler in, beside the other settings, with the option
/// each sets (`batching` the kind).
const FLAT_SAMPLER_KEYS: [&str; 9] =
    ["batching", "parts", "metis_parts", "fanouts", "batch_size", "roots", "walk_length", "coverage", "budget"];

/// Brings a run config's table (a `config.toml` read whole, or settings laid over one) to
/// [`CONFIG_VERSION`]: a newer one refused by name, flat sampler keys folded into `[sampler]`
/// over `base` (a version 3 table has none), `version` set.
pub(super) fn upgrade(table: &mut toml::Table, base: &SamplerSetting, origin: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let version = table.get("version").and_then(toml::Value::as_integer).unwrap_or(1);
    anyhow::ensure!(
        version <= CONFIG_VERSION as i64,
        "{origin}: a version {version} run config, written by a newer mille (this one reads up to version \
         {CONFIG_VERSION})"
    );
    if version < CONFIG_VERSION as i64 {
        tracing::debug!("{origin}: version {version} run config upgraded to {CONFIG_VERSION}");
    }
    fold_flat_sampler(table, base).with_context(|| format!("{origin}: not a run config"))?;
    table.insert("version".into(), toml::Value::Integer(CONFIG_VERSION as i64));
    Ok(())
}

/// Folds flat sampler keys (version 1 and 2 files; a recipe or settings file written by hand
/// may still use them) into `table`'s `[sampler]`, laid over the one there or `base`. A key of
/// another sampler than the one named is dropped: old files held every key, and the builds
/// that wrote them ignored those.
fn fold_flat_sampler(table: &mut toml::Table, base: &SamplerSetting) -> anyhow::Result<()> {
    use anyhow::Context;
    if !FLAT_SAMPLER_KEYS.iter().any(|k| table.contains_key(*k)) {
        return Ok(());
    }
    let mut flat = toml::Table::new();
    for k in FLAT_SAMPLER_KEYS {
        if let Some(v) = table.remove(k) {
            flat.insert(k.to_string(), v);
        }
    }
    fn get<T: serde::de::DeserializeOwned>(flat: &toml::Table, key: &str) -> anyhow::Result<Option<T>> {
        flat.get(key).map(|v| v.clone().try_into::<T>().with_context(|| format!("{key} = {v}"))).transpose()
    }
    let kind = match get::<String>(&flat, "batching")? {
        Some(name) => Some(name.parse::<SamplerKind>().map_err(|e| anyhow::anyhow!("batching = {e}"))?),
        None => None,
    };
    let options = SamplerOptions {
        kind,
        parts: get(&flat, "parts")?,
        metis_parts: get(&flat, "metis_parts")?,
        fanouts: get(&flat, "fanouts")?,
        batch_size: get(&flat, "batch_size")?,
        replace: None,
        roots: get(&flat, "roots")?,
        walk_length: get(&flat, "walk_length")?,
        coverage: get(&flat, "coverage")?,
        budget: get(&flat, "budget")?,
    };
    let under: SamplerSetting = match table.remove("sampler") {
        Some(v) => v.try_into().context("[sampler]")?,
        None => base.clone(),
    };
    let folded = under.with(&options, false).map_err(|e| anyhow::anyhow!("{e}"))?;
    table.insert("sampler".into(), toml::Value::try_from(&folded)?);
    Ok(())
}

/// The flag and the two values that name how two `[sampler]` tables differ: the kind, else the
/// first option that differs.
fn sampler_difference(a: &toml::Table, b: &toml::Table) -> (String, Option<toml::Value>, Option<toml::Value>) {
    let pick = |key: &str| (a.get(key).cloned(), b.get(key).cloned());
    if a.get("kind") != b.get("kind") {
        let (x, y) = pick("kind");
        return ("batching".into(), x, y);
    }
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let key = keys.into_iter().find(|k| a.get(k.as_str()) != b.get(k.as_str())).map_or("sampler", |k| k.as_str());
    let flag = if key == "clusters" { "metis-parts".to_string() } else { key.replace('_', "-") };
    let (x, y) = pick(key);
    (flag, x, y)
}

fn unversioned() -> u32 {
    1
}

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The format version (see [`CONFIG_VERSION`]).
    #[serde(default = "unversioned")]
    pub version: u32,
    /// The prepared store.
    pub store: PathBuf,
    /// Model kind.
    pub model: ModelKind,
    /// Convolution.
    pub conv: ConvKind,
    /// Blocks (0: an MLP).
    pub layers: usize,
    /// Hidden channels.
    pub hidden: i64,
    /// Groups of the reversible models.
    pub groups: i64,
    /// Dropout probability.
    pub dropout: f64,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// L2 weight decay of the convolutions' parameters, when it differs from `weight_decay`
    /// (which then applies to the rest: encoder, norms, head). GCNII decays its convolutions by
    /// 0.01 and its dense layers by 5e-4 (`chennnM/GCNII` `train.py`, `--wd1`, `--wd2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv_weight_decay: Option<f64>,
    /// Dropout on the input features, before the encoder (GCNII's first dropout). 0: none.
    #[serde(default)]
    pub input_dropout: f64,
    /// Gradient-norm clipping (0: off).
    pub clip: f64,
    /// Training epochs.
    pub epochs: u64,
    /// Batches whose gradients are averaged per optimiser step, per rank.
    #[serde(default = "one")]
    pub accumulate: usize,
    /// `store` is a shard set (`tools/partition --shards`): rank r opens only shard r, trains on
    /// batches drawn inside it and evaluates its nodes; the job needs one rank per shard.
    #[serde(default)]
    pub sharded: bool,
    /// Data-parallel ranks the run trains on (set from the launcher, not chosen here: a resumed
    /// run keeps it, since W ranks average W batches per step).
    #[serde(default = "one")]
    pub nproc: usize,
    /// Views of the final multi-view inference.
    pub views: u32,
    /// Parts per evaluation view.
    pub eval_parts: u32,
    /// Evaluate every this many epochs (single view); the last epoch always is.
    pub eval_every: u64,
    /// Parts of those single-view evaluations during training, when not `eval_parts` (the
    /// authors select on 1 view x 5 parts, drawn once, and report 10 views x 3 parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_eval_parts: Option<u32>,
    /// Seed of partitions, initialisation and dropout.
    pub seed: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Loader worker threads.
    pub workers: usize,
    /// Split (default: the store's first).
    pub split: Option<String>,
    /// Feature normalisation.
    pub feature_norm: FeatureNorm,
    /// DEQ: most Broyden iterations.
    pub deq_max_iter: usize,
    /// DEQ: relative residual tolerance.
    pub deq_tol: f64,
    /// Add a self loop to every node of every batch (PyG's products example does; the
    /// authors' ogbn-proteins code does not). Absent from an older `config.toml`: on.
    #[serde(default = "yes")]
    pub self_loops: bool,
    /// Reversible models' dropout mask: `per-group` (one `[N, H]` mask per forward, chunk i for
    /// group i, the same in every block: the authors' and PyG's) or `shared` (one `[N, H/G]`
    /// mask for every group: mille before; what an older `config.toml` without the key means).
    #[serde(default = "dropout_mask_before")]
    pub dropout_mask: DropoutMask,
    /// Node input: `stored` (the store's node features; for ogbn-proteins' layout each node's
    /// full-graph sum of its edges' features) or `batch-edge-mean` (each node's mean of its
    /// in-batch edges' features, recomputed per batch: mille's ogbn-proteins input before).
    #[serde(default)]
    pub node_features: NodeFeatures,
    /// Extra node arrays (`node/<name>`, one integer column) fed to the model as one-hot
    /// columns through a `Linear(C, C)` each, concatenated after the node features (the
    /// authors' ogbn-proteins species: `["species"]`).
    #[serde(default)]
    pub node_categorical: Vec<String>,
    /// How GEN encodes edge features: `per-conv` (each convolution's own `Linear(E, H/G)` on
    /// the raw features; an older `config.toml`) or `network` (one `Linear(E, H)` for the whole
    /// network, then each convolution's `Linear(H, H/G)`: the authors' ogbn-proteins model).
    #[serde(default = "edge_encoder_before")]
    pub edge_encoder: EdgeEncoder,
    /// Reversible blocks' group functions: `independent` initialisations (PyG's `GroupAddRev`)
    /// or `copy` (every group starts as a copy of group 1: the authors' code).
    #[serde(default)]
    pub group_init: GroupInit,
    /// DEQ: epochs trained first with the block unrolled `pretrain_steps` times under plain
    /// autograd, before the equilibrium solver takes over (the authors' `--pretrain_epochs`).
    #[serde(default)]
    pub pretrain_epochs: u64,
    /// DEQ: unrolled steps during those epochs (the authors' `--num_steps`, default 3).
    #[serde(default = "pretrain_steps_default")]
    pub pretrain_steps: usize,
    /// The per-node loss of multi-class nodes: `ce` (the default) or `logce` (the authors'
    /// ogbn-arxiv `ln(eps + CE) - ln(eps)`).
    #[serde(default)]
    pub loss: LossKind,
    /// The optimiser: `adam` (the default) or `rmsprop` (the authors' ogbn-arxiv RevGAT).
    #[serde(default)]
    pub optimizer: Rule,
    /// Epochs of linear learning-rate warm-up: epoch e (1-based) of the first `warmup` trains
    /// with `lr * e / warmup` (the authors' ogbn-arxiv `adjust_learning_rate`, 50). 0: none.
    #[serde(default)]
    pub warmup: u64,
    /// Which evaluated epoch is kept: `valid-metric` (the highest validation score, the default)
    /// or `valid-loss` (the lowest validation loss: the authors' ogbn-arxiv selection).
    #[serde(default)]
    pub select: Select,
    /// RevGAT: attention heads of its GAT layers (`hidden` is heads x per-head channels).
    #[serde(default = "three")]
    pub heads: i64,
    /// RevGAT: the share of edges every GAT layer drops in a training pass (0: none).
    #[serde(default)]
    pub edge_drop: f64,
    /// RevGAT: how its reversible blocks draw the edges they drop: `windows` (one permutation
    /// per pass, a rotated window per block: memory flat in depth, a departure) or `per-block`
    /// (a permutation per block, the authors'; `E` bytes a block kept for the backward).
    #[serde(default)]
    pub edge_drop_draw: EdgeDraw,
    /// RevGAT: the norm of its group functions and before its head, `batch` (the authors'
    /// BatchNorm; unset means that) or `layer` (LayerNorm, a departure for the ablation).
    /// Refused for the other models, whose norm is LayerNorm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<BlockNorm>,
    /// RevGAT: degree scaling of its GAT layers, `symmetric` (the authors' `--use-norm`) or
    /// `none`.
    #[serde(default)]
    pub gat_norm: GatNorm,
    /// RevGAT: whether the attention score has a destination term (the authors' ogbn-arxiv
    /// commands leave it out, `--no-attn-dst`).
    #[serde(default)]
    pub attn_dst: bool,
    /// RevGAT: whether every GAT layer adds a bias-free linear map of its input (the authors'
    /// `residual=True`; the default).
    #[serde(default = "yes")]
    pub gat_residual: bool,
    /// Labels as input (`--use-labels`): each epoch the one-hot labels of a random `mask_rate`
    /// share of the training nodes are appended to the input and the loss is taken on the
    /// others; evaluation shows every training label (the authors' ogbn-arxiv trick).
    #[serde(default)]
    pub use_labels: bool,
    /// With `use_labels`: the share of training nodes whose labels are shown each epoch.
    #[serde(default = "half")]
    pub mask_rate: f64,
    /// Label reuse passes (`--label-reuse`, the authors' `--n-label-iters`): the model's class
    /// probabilities of the nodes whose labels are hidden go into their label columns and it
    /// runs again (the passes before the last without gradients). Needs `use_labels`.
    #[serde(default)]
    pub label_reuse: usize,
    /// Self-knowledge distillation from a teacher run (`--teacher RUN`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher: Option<TeacherConfig>,
    /// The recipe these settings started from (`recipes/NAME.toml`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// How training batches are drawn: the loader's one sampler setting, `config.toml`'s
    /// `[sampler]` table (`kind = "cluster"`, `parts = 10`, ...).
    pub sampler: SamplerSetting,
}

impl RunConfig {
    /// The paper's products setup at a small size: RevGNN, SAGE, 2 groups, dropout 0.5, lr 0.003,
    /// 10 random parts.
    pub fn new(store: impl Into<PathBuf>) -> RunConfig {
        let solver = crate::deq::SolverOptions::default();
        RunConfig {
            version: CONFIG_VERSION,
            store: store.into(),
            model: ModelKind::Revgnn,
            conv: ConvKind::Sage,
            layers: 7,
            hidden: 64,
            groups: 2,
            dropout: 0.5,
            lr: 0.003,
            weight_decay: 0.0,
            conv_weight_decay: None,
            input_dropout: 0.0,
            clip: 1.0,
            epochs: 20,
            accumulate: 1,
            sharded: false,
            nproc: 1,
            views: 1,
            eval_parts: 1,
            eval_every: 1,
            train_eval_parts: None,
            seed: 0,
            device: "auto".into(),
            workers: 1,
            split: None,
            feature_norm: FeatureNorm::None,
            deq_max_iter: solver.max_iter,
            deq_tol: solver.tol,
            self_loops: true,
            node_features: NodeFeatures::Stored,
            dropout_mask: DropoutMask::PerGroup,
            node_categorical: Vec::new(),
            edge_encoder: EdgeEncoder::PerConv,
            group_init: GroupInit::Independent,
            pretrain_epochs: 0,
            pretrain_steps: pretrain_steps_default(),
            loss: LossKind::Ce,
            optimizer: Rule::Adam,
            warmup: 0,
            select: Select::ValidMetric,
            heads: three(),
            edge_drop: 0.0,
            edge_drop_draw: EdgeDraw::Windows,
            norm: None,
            gat_norm: GatNorm::Symmetric,
            attn_dst: false,
            gat_residual: true,
            use_labels: false,
            mask_rate: half(),
            label_reuse: 0,
            teacher: None,
            recipe: None,
            sampler: SamplerSetting::Cluster { parts: 10 },
        }
    }

    /// Reads a TOML file, upgraded to [`CONFIG_VERSION`].
    pub fn load(path: &Path) -> anyhow::Result<RunConfig> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let not_one = || format!("{}: not a run config", path.display());
        let mut table: toml::Table = toml::from_str(&text).with_context(not_one)?;
        upgrade(&mut table, &SamplerSetting::default(), &path.display().to_string())?;
        toml::Value::Table(table).try_into().with_context(not_one)
    }

    /// The TOML text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a run config serialises")
    }

    /// The settings a resumed run keeps from `self` (its saved config, read from `saved`) and
    /// takes from `given`: how long, where and with what it runs (`epochs`, `device`, `workers`)
    /// and where its store lives now (`store`) come from `given`; every other setting decides
    /// the result, so one that differs in `given` is an error naming it, never silently dropped.
    pub fn resumed_with(self, given: &RunConfig, saved: &Path) -> anyhow::Result<RunConfig> {
        const MAY_CHANGE: [&str; 4] = ["epochs", "device", "workers", "store"];
        let table = |c: &RunConfig| match toml::Value::try_from(c) {
            Ok(toml::Value::Table(t)) => t,
            _ => unreachable!("a run config serialises to a table"),
        };
        // The teacher's checksum is recorded when the student starts, never given: the given
        // settings take the saved one, and the trainer checks the file still matches it.
        let mut given_filled = given.clone();
        if let (Some(g), Some(s)) = (&mut given_filled.teacher, &self.teacher)
            && g.checksum.is_none()
        {
            g.checksum = s.checksum.clone();
        }
        let (old, new) = (table(&self), table(&given_filled));
        let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for key in keys {
            let (a, b) = (old.get(key.as_str()), new.get(key.as_str()));
            if a != b && !MAY_CHANGE.contains(&key.as_str()) {
                let (flag, a, b) = match (a, b) {
                    (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) if key == "sampler" => {
                        sampler_difference(x, y)
                    }
                    _ => (key.replace('_', "-"), a.cloned(), b.cloned()),
                };
                let show = |v: Option<toml::Value>| v.map_or("unset".to_string(), |v| v.to_string());
                anyhow::bail!(
                    "--resume: --{} {} differs from the run's {} ({}): a resumed run keeps the settings that \
                     decide its result (only --epochs, --device, --workers and the STORE's location may change); \
                     start a new run (another --out) to change it",
                    flag,
                    show(b),
                    show(a),
                    saved.display()
                );
            }
        }
        let mut cfg = self;
        (cfg.epochs, cfg.device, cfg.workers, cfg.store) =
            (given.epochs, given.device.clone(), given.workers, given.store.clone());
        Ok(cfg)
    }

    /// Rejects settings that cannot work, naming the setting.
    pub fn check(&self) -> anyhow::Result<()> {
        self.check_model()?;
        self.check_optimiser()?;
        self.check_loop()?;
        self.check_sampling()?;
        self.check_inputs()?;
        crate::device::resolve(&self.device)?;
        Ok(())
    }

    /// The model's shape: widths, groups, heads, dropouts, the convolution it can hold.
    fn check_model(&self) -> anyhow::Result<()> {
        use anyhow::ensure;
        ensure!(self.hidden > 0, "--hidden must be positive");
        let reversible = matches!(self.model, ModelKind::Revgnn | ModelKind::WtRevgnn | ModelKind::Revgat);
        if self.model == ModelKind::Revgat {
            ensure!(
                self.layers >= 2,
                "--model revgat --layers {}: RevGAT counts its input and output GAT layers, so at least 2 (the \
                 authors' ogbn-arxiv model has 5: 3 reversible blocks)",
                self.layers
            );
            ensure!(
                self.heads >= 1 && self.hidden % (self.heads * self.groups.max(1)) == 0,
                "--model revgat: --hidden {} must split into --heads {} x --groups {} (the hidden width is all \
                 heads' channels: the authors' 3 heads of 256 are --hidden 768)",
                self.hidden,
                self.heads,
                self.groups
            );
        }
        ensure!(
            self.norm.is_none() || self.model == ModelKind::Revgat,
            "--norm sets RevGAT's norms (BatchNorm or LayerNorm): it needs --model revgat (this run is {}, whose \
             norm is LayerNorm)",
            self.model
        );
        ensure!((0.0..1.0).contains(&self.edge_drop), "--edge-drop must be in [0, 1), got {}", self.edge_drop);
        ensure!(
            self.edge_drop_draw == EdgeDraw::Windows || (self.edge_drop > 0.0 && self.model == ModelKind::Revgat),
            "--edge-drop-draw {} says how RevGAT's blocks draw the edges they drop: it needs --model revgat and \
             --edge-drop above 0 (this run is {}, --edge-drop {})",
            self.edge_drop_draw,
            self.model,
            self.edge_drop
        );
        ensure!(
            self.edge_drop == 0.0 || self.model == ModelKind::Revgat,
            "--edge-drop {} drops attention entries of RevGAT's GAT layers: it needs --model revgat (this run is {})",
            self.edge_drop,
            self.model
        );
        ensure!(
            !reversible || (self.groups >= 2 && self.hidden % self.groups == 0),
            "--hidden {} must split into --groups {} (at least 2) for a reversible model",
            self.hidden,
            self.groups
        );
        ensure!((0.0..1.0).contains(&self.dropout), "--dropout must be in [0, 1), got {}", self.dropout);
        ensure!(
            (0.0..1.0).contains(&self.input_dropout),
            "--input-dropout must be in [0, 1), got {}",
            self.input_dropout
        );
        ensure!(
            self.conv.gcnii().is_none() || self.model != ModelKind::Deq,
            "--conv {} reads the initial representation in every layer; the DEQ block's fixed point has no \
             layers to count (use resgnn, revgnn or wt-revgnn)",
            self.conv
        );
        Ok(())
    }

    /// The optimiser's settings.
    fn check_optimiser(&self) -> anyhow::Result<()> {
        use anyhow::ensure;
        if let Some(d) = self.conv_weight_decay {
            ensure!(d.is_finite() && d >= 0.0, "--conv-weight-decay must be a finite number >= 0, got {d}");
        }
        ensure!(self.lr > 0.0, "--lr must be positive");
        ensure!(
            self.weight_decay.is_finite() && self.weight_decay >= 0.0,
            "--weight-decay must be a finite number >= 0, got {}",
            self.weight_decay
        );
        ensure!(
            self.clip.is_finite() && self.clip >= 0.0,
            "--clip must be a finite number >= 0 (0: off), got {}",
            self.clip
        );
        Ok(())
    }

    /// The loop's counts: workers, depth, parts and views, epochs, steps.
    fn check_loop(&self) -> anyhow::Result<()> {
        use anyhow::ensure;
        ensure!(self.workers >= 1, "--workers must be >= 1 (loader threads), got 0");
        ensure!(
            self.layers <= MAX_LAYERS,
            "--layers {}: at most {MAX_LAYERS} blocks (the paper's deepest model has 1001; building {} blocks \
             alone would take minutes)",
            self.layers,
            self.layers
        );
        ensure!(self.eval_parts >= 1 && self.views >= 1, "--eval-parts and --views must be >= 1");
        ensure!(self.eval_every >= 1, "--eval-every must be >= 1");
        ensure!(self.train_eval_parts != Some(0), "--train-eval-parts must be >= 1");
        ensure!(self.epochs >= 1, "--epochs must be >= 1 (a run trains at least one epoch)");
        ensure!(self.accumulate >= 1 && self.nproc >= 1, "--accumulate and --nproc must be >= 1");
        Ok(())
    }

    /// The sampler's settings and what it asks of the model and the store.
    fn check_sampling(&self) -> anyhow::Result<()> {
        use anyhow::ensure;
        let kind = self.sampler.kind();
        if let Err(e) = self.sampler.validate() {
            anyhow::bail!("--batching {kind}: {e}");
        }
        if self.sampler.is_saint() {
            ensure!(
                matches!(self.conv, ConvKind::Sage | ConvKind::Gcn),
                "--batching {kind} normalises the SAGE and GCN aggregators; --conv {} has no GraphSAINT \
                 normalisation here (use sage or gcn)",
                self.conv
            );
        }
        ensure!(
            !(self.sharded && matches!(self.sampler, SamplerSetting::StoreParts { .. })),
            "--shards: a shard has no stored parts (--batching store-parts); use cluster, metis, neighbor or saint"
        );
        if let SamplerSetting::Metis { parts, clusters: Some(m) } = self.sampler {
            ensure!(m >= parts, "--metis-parts {m} must be at least --parts {parts}");
        }
        Ok(())
    }

    /// DEQ's warm-up, categorical inputs, labels as input and the teacher.
    fn check_inputs(&self) -> anyhow::Result<()> {
        use anyhow::ensure;
        ensure!(
            self.pretrain_epochs == 0 || self.model == ModelKind::Deq,
            "--pretrain-epochs {} is DEQ's unrolled warm-up: it needs --model deq (this run is {})",
            self.pretrain_epochs,
            self.model
        );
        ensure!(self.pretrain_steps >= 1, "--pretrain-steps must be at least 1");
        let mut seen = std::collections::BTreeSet::new();
        for name in &self.node_categorical {
            ensure!(seen.insert(name), "--node-categorical names {name:?} twice");
        }
        ensure!(
            self.mask_rate > 0.0 && self.mask_rate < 1.0,
            "--mask-rate must be in (0, 1) (the share of training nodes whose labels are shown), got {}",
            self.mask_rate
        );
        ensure!(
            self.label_reuse == 0 || self.use_labels,
            "--label-reuse {} writes predictions into the label columns: it needs --use-labels",
            self.label_reuse
        );
        ensure!(self.label_reuse <= 16, "--label-reuse {}: at most 16 passes", self.label_reuse);
        if let Some(t) = &self.teacher {
            ensure!((0.0..=1.0).contains(&t.alpha), "--kd-alpha must be in [0, 1], got {}", t.alpha);
            ensure!(
                t.temperature.is_finite() && t.temperature > 0.0,
                "--kd-temperature must be a finite number > 0, got {}",
                t.temperature
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_run_takes_only_how_long_where_and_its_store_and_refuses_the_rest_by_name() {
        let saved = RunConfig::new("/data/cora");
        let mut given = saved.clone();
        (given.epochs, given.device, given.workers, given.store) = (50, "cpu".into(), 3, "moved/cora".into());
        let r = saved.clone().resumed_with(&given, Path::new("RUN/config.toml")).unwrap();
        assert_eq!(
            (r.epochs, r.device.as_str(), r.workers, r.store.as_path()),
            (50, "cpu", 3, Path::new("moved/cora"))
        );
        assert_eq!(RunConfig { epochs: 20, device: "auto".into(), workers: 1, store: "/data/cora".into(), ..r }, saved);

        let mut given = saved.clone();
        given.lr = 0.01;
        let e = saved.clone().resumed_with(&given, Path::new("RUN/config.toml")).unwrap_err().to_string();
        assert!(e.starts_with("--resume: --lr 0.01 differs from the run's 0.003 (RUN/config.toml)"), "{e}");
        let mut given = saved.clone();
        given.feature_norm = FeatureNorm::Row;
        let e = saved.clone().resumed_with(&given, Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.starts_with("--resume: --feature-norm \"row\" differs from the run's \"none\""), "{e}");
        let saved = RunConfig { sampler: SamplerSetting::Metis { parts: 10, clusters: None }, ..saved };
        let mut given = saved.clone();
        given.sampler = SamplerSetting::Metis { parts: 10, clusters: Some(40) };
        let e = saved.clone().resumed_with(&given, Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.starts_with("--resume: --metis-parts 40 differs from the run's unset"), "{e}");
        given.sampler = SamplerSetting::Cluster { parts: 10 };
        let e = saved.resumed_with(&given, Path::new("c.toml")).unwrap_err().to_string();
        assert!(e.starts_with("--resume: --batching \"cluster\" differs from the run's \"metis\""), "{e}");
    }

    #[test]
    fn a_config_written_before_versions_loads_upgraded_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let now = RunConfig::new("data/cora");
        // A version 1 file: no `version` key, no `budget` key.
        let old: String = now
            .to_toml()
            .lines()
            .filter(|l| !l.starts_with("version =") && !l.starts_with("budget ="))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, old).unwrap();
        assert_eq!(RunConfig::load(&path).unwrap(), now, "upgraded to the current version, defaults filled");
        // A version 2 file: the sampler in flat keys, every one written whatever the batching.
        let flat = "batching = \"neighbor\"\nparts = 7\nfanouts = [5, 3]\nbatch_size = 64\nroots = 3000\n\
                    walk_length = 2\ncoverage = 50\nbudget = 8000\n";
        let v2: String = now
            .to_toml()
            .replace(&format!("version = {CONFIG_VERSION}"), &format!("version = 2\n{flat}"))
            .split("[sampler]")
            .next()
            .unwrap()
            .into();
        std::fs::write(&path, v2).unwrap();
        let want = SamplerSetting::Neighbor { fanouts: vec![5, 3], batch_size: 64, replace: false };
        assert_eq!(RunConfig::load(&path).unwrap(), RunConfig { sampler: want, ..now.clone() });
        let newer = now.to_toml().replace(&format!("version = {CONFIG_VERSION}"), "version = 99");
        std::fs::write(&path, newer).unwrap();
        let err = RunConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("a version 99 run config, written by a newer mille"), "{err}");
    }
}
