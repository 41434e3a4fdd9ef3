//! The training loop: epochs of loader batches, Adam or RMSprop with clipping, evaluation and best-validation
//! selection, checkpoints that a killed run resumes from exactly, metrics as JSON lines, and a
//! final multi-view inference whose predictions and summary land in the run folder.
//!
//! Run folder: `config.toml` (the exact settings), `metrics.jsonl` (one line per epoch),
//! `checkpoint.json` + `checkpoint-EPOCH/`, `best.safetensors` (best-validation weights),
//! `predictions.npy` (multi-view logits of every node; on a shard set, each rank's
//! `predictions-shard-R.npy` of its shard's nodes), `summary.json`.
//!
//! Randomness is drawn from (seed, epoch) alone: the loader's plan and libtorch's generator are
//! reseeded at the start of every epoch, so the RNG state to resume is the epoch number.
//!
//! The trainer's rooms: `build.rs` starts a run (fresh, resumed, or reopened to evaluate),
//! `epoch.rs` trains one epoch, `evaluate.rs` scores weights and keeps the best, `fit.rs` runs
//! the epochs and ends the run; `folder.rs`, `checkpoint.rs`, `metrics.rs` own what goes on disk.

mod build;
mod checkpoint;
mod config;
mod epoch;
mod evaluate;
mod fit;
pub mod folder;
pub mod memory;
mod metrics;
mod parallel;
mod progress;
pub mod recipe;
mod teacher;

pub use checkpoint::LoopState;
pub use config::{CONFIG_VERSION, NodeFeatures, RunConfig, Select, TeacherConfig};
pub use memory::peak_rss_bytes;
pub use metrics::EpochMetrics;
/// The sampler setting a run config holds (the loader's, re-exported for its users).
pub use mille_loader::{SamplerKind, SamplerSetting};
pub use progress::{EpochReport, Progress, Silent};

use crate::feed::{Fed, Feed};
use crate::infer::{self, Scores};
use crate::model::{Model, ModelConfig, num_params};
use crate::optim::Optimizer;
use anyhow::Context;
pub use mille_dist::World;
use mille_loader::{Loader, LoaderConfig, PlanSpec};
use mille_pipeline::seed::Seed;
use mille_pipeline::{Labels, Store};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Tensor, nn};

/// What a finished run reports (`RUN/summary.json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Metric name (`acc` or `rocauc`).
    pub metric: String,
    /// Single-view train score of the best-validation model.
    pub train: f64,
    /// Its validation score.
    pub valid: f64,
    /// Its test score.
    pub test: f64,
    /// Epoch the best validation score came from.
    pub best_epoch: u64,
    /// How that epoch was chosen: by the best validation score, or (when the validation
    /// score is undefined: no labelled validation node, or a single class under ROC-AUC) the
    /// last evaluated epoch, saying why.
    #[serde(default)]
    pub selection: String,
    /// Multi-view scores of the best-validation model.
    pub multi_view: Scores,
    /// Views and parts per view of that inference.
    pub views: u32,
    /// Parts per evaluation view.
    pub eval_parts: u32,
    /// Trainable parameters.
    pub params: i64,
    /// Peak memory: the process's peak RSS on the CPU.
    pub peak_memory_bytes: u64,
    /// The largest anonymous RSS sampled while training and evaluating (the model and the
    /// batches in flight, without a mapped store's page cache).
    #[serde(default)]
    pub peak_anon_rss_bytes: u64,
    /// On CUDA: the most GPU memory the caching allocator had allocated at once during the
    /// run's training epochs and final inference (`null` on the CPU).
    #[serde(default)]
    pub gpu_peak_memory_bytes: Option<u64>,
    /// Seconds of every training epoch (batches, forward, backward, step; no evaluation).
    pub epoch_seconds: Vec<f64>,
    /// Their median.
    pub epoch_seconds_median: f64,
    /// Device trained on: `cpu`, or `cuda:N (GPU name)`.
    pub device: String,
    /// Model and convolution.
    pub model: String,
    /// How training batches were drawn: the sampler's kind (`cluster`, `metis`, `neighbor`, ...;
    /// `random` and `saint` in summaries written before config version 3); empty in summaries
    /// written before it was recorded.
    #[serde(default)]
    pub batching: String,
    /// Blocks.
    pub layers: usize,
    /// Hidden channels.
    pub hidden: i64,
    /// Data-parallel ranks it trained on.
    #[serde(default = "one")]
    pub world_size: usize,
    /// Nodes the final inference predicted (every rank's, added up): the store's node count, or
    /// for a sharded run the source store's.
    #[serde(default)]
    pub evaluated_nodes: u64,
    /// For a run on a shard set: what the cut cost.
    #[serde(default)]
    pub sharding: Option<Sharding>,
}

/// What sharding a run's store cost (`RUN/summary.json`'s `sharding`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sharding {
    /// Shards (one per rank).
    pub shards: usize,
    /// CSR entries of the source store.
    pub edges: u64,
    /// Entries whose ends fell in different shards, so no rank trained or evaluated over them.
    pub lost_edges: u64,
    /// `lost_edges / edges`.
    pub lost_fraction: f64,
}

fn one() -> usize {
    1
}

/// A training run.
pub struct Trainer {
    cfg: RunConfig,
    out: PathBuf,
    store: Arc<Store>,
    device: Device,
    vs: nn::VarStore,
    model: Model,
    opt: Optimizer,
    /// Built on the first training epoch (evaluating a saved run never needs it, nor its METIS
    /// partition).
    train_loader: Option<Loader>,
    state: LoopState,
    /// Evaluation's room: its loader, metric, best weights on the ranks that do not write.
    eval: Evaluation,
    /// What the run's memory use is measured by.
    usage: Usage,
    /// The device as runs record it (`cuda:0 (NVIDIA H200)`).
    device_name: String,
    /// What the model's node input is made of (feature normalisation, categorical arrays).
    inputs: crate::graph::NodeInputs,
    /// Where progress goes (nothing by default; `tools/train` draws bars and prints lines).
    pub progress: Box<dyn Progress>,
    /// Whether a data-parallel step reduces the reversible blocks' gradients (RevGNN's and
    /// RevGAT's) while the backward goes on (the default) or all at once after it
    /// (`tools/train --no-overlap`, to measure what the overlap gains; the sums are the same
    /// either way).
    pub overlap: bool,
    /// The data-parallel ranks this one trains with (one process unless launched by MPI).
    world: World,
    /// The GPU stream NCCL reduces gradients on, once [`Trainer::use_nccl`] set it up.
    comm: Option<crate::stream::SideStream>,
    /// Whether this process writes the run folder (rank 0).
    writes: bool,
    /// The writing rank's hold on the run folder (released when the trainer drops).
    _lock: Option<folder::RunLock>,
    /// For a run on a shard set: its manifest (this rank's `store` is its shard).
    shards: Option<mille_partition::ShardManifest>,
    /// A student's teacher (`--teacher RUN`): its logits, blended into every batch's loss.
    teacher: Option<teacher::Teacher>,
}

/// What evaluation keeps between epochs.
struct Evaluation {
    /// How the store's runs are scored (checked against its labels when built).
    metric: infer::Metric,
    /// The last evaluation loader and its (views, parts): evaluating every epoch reuses it.
    loader: Option<((u32, u32), Loader)>,
    /// On the ranks that do not write: the best-validation weights, kept in memory.
    best_copy: Option<Vec<(String, Tensor)>>,
    /// Nodes the last evaluation predicted, over every rank.
    evaluated: u64,
}

/// The run's memory peaks, measured as it goes.
struct Usage {
    /// Most GPU memory allocated at once in this process's epochs and inference so far.
    gpu_peak: Option<u64>,
    /// Samples the anonymous RSS while the trainer lives.
    anon: memory::AnonPeak,
}

impl Trainer {
    /// The data-parallel ranks this trainer is one of.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Sums the gradients with NCCL on the GPU, on a stream of their own, instead of through
    /// host memory and MPI (`tools/train --dist-backend nccl`). Needs a CUDA device, one per
    /// rank (NCCL refuses two ranks on one GPU); the weights' broadcast and evaluation's sums
    /// still go over MPI (once per run and per evaluation).
    pub fn use_nccl(&mut self) -> anyhow::Result<()> {
        let index = crate::device::nccl_gpu(self.device)?;
        crate::device::set_current(self.device)?;
        self.world.start_nccl()?;
        self.comm = Some(crate::stream::SideStream::new(index)?);
        Ok(())
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The weights.
    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The loop state (epochs done, best validation).
    pub fn state(&self) -> &LoopState {
        &self.state
    }

    /// The device it runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// The device as runs record it: `cpu` or `cuda:N (GPU name)`.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// The settings.
    pub fn config(&self) -> &RunConfig {
        &self.cfg
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// How a run starts in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new run; a folder that holds another run is refused.
    Fresh,
    /// The run in the folder, from its latest checkpoint.
    Resume,
    /// A new run replacing whatever the folder holds (`tools/train --overwrite`).
    Overwrite,
}

/// The message for weights that do not load into the model built for the run's settings.
pub(crate) fn weights_mismatch(file: &Path) -> String {
    format!(
        "loading {}: its tensors do not fit the model this run's config.toml and store build (was the store or \
         config.toml changed since?)",
        file.display()
    )
}
