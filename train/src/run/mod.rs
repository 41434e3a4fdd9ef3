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

mod checkpoint;
mod config;
pub mod folder;
pub mod memory;
mod metrics;
mod parallel;
mod progress;
pub mod recipe;
mod teacher;

pub use checkpoint::LoopState;
pub use config::{Batching, NodeFeatures, RunConfig, Select, TeacherConfig};
pub use memory::peak_rss_bytes;
pub use metrics::EpochMetrics;
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
    /// How training batches were drawn (`random`, `metis`, `store-parts`); empty in summaries
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
    /// The last evaluation loader and its (views, parts): evaluating every epoch reuses it.
    eval_loader: Option<((u32, u32), Loader)>,
    state: LoopState,
    /// The device as runs record it (`cuda:0 (NVIDIA H200)`).
    device_name: String,
    /// Most GPU memory allocated at once in this process's epochs and inference so far.
    gpu_peak: Option<u64>,
    /// Samples the anonymous RSS while the trainer lives.
    anon: memory::AnonPeak,
    /// How the store's runs are scored (checked against its labels when built).
    metric: infer::Metric,
    /// What the model's node input is made of (feature normalisation, categorical arrays).
    inputs: crate::graph::NodeInputs,
    /// Where progress goes (nothing by default; `tools/train` draws bars and prints lines).
    pub progress: Box<dyn Progress>,
    /// Whether a data-parallel step reduces RevGNN's block gradients while the backward goes on
    /// (the default) or all at once after it (`tools/train --no-overlap`, to measure what the
    /// overlap gains; the sums are the same either way).
    pub overlap: bool,
    /// The data-parallel ranks this one trains with (one process unless launched by MPI).
    world: World,
    /// The GPU stream NCCL reduces gradients on, once [`Trainer::use_nccl`] set it up.
    comm: Option<crate::stream::SideStream>,
    /// Whether this process writes the run folder (rank 0).
    writes: bool,
    /// On the ranks that do not write: the best-validation weights, kept in memory.
    best_copy: Option<Vec<(String, Tensor)>>,
    /// The writing rank's hold on the run folder (released when the trainer drops).
    _lock: Option<folder::RunLock>,
    /// For a run on a shard set: its manifest (this rank's `store` is its shard).
    shards: Option<mille_partition::ShardManifest>,
    /// Nodes the last evaluation predicted, over every rank.
    evaluated: u64,
    /// A student's teacher (`--teacher RUN`): its logits, blended into every batch's loss.
    teacher: Option<teacher::Teacher>,
}

/// What one training epoch measured.
struct EpochStats {
    /// Mean loss over its batches.
    loss: f64,
    /// Wall seconds (batches, forward, backward, step).
    seconds: f64,
    /// Batches (every rank's).
    batches: usize,
    /// Training rows the loss was taken over (every rank's).
    train_rows: u64,
    /// Seconds of it spent waiting for the loader (what prefetching did not hide).
    wait_seconds: f64,
    /// Bytes of batch tensors moved to the device.
    bytes: usize,
    /// On CUDA, the epoch's peak allocated GPU memory.
    gpu_peak: Option<u64>,
}

impl Trainer {
    /// A new run writing into `out`, or (with `resume`) the run already there continued from
    /// its latest checkpoint, with the settings it was started with except `cfg.epochs`.
    pub fn new(cfg: RunConfig, out: &Path, resume: bool) -> anyhow::Result<Trainer> {
        Trainer::new_in(cfg, out, resume, World::single())
    }

    /// [`Trainer::new`] as one rank of `world`: every rank starts from rank 0's weights, trains
    /// on its share of each epoch's batches with gradients averaged over the ranks, and only
    /// rank 0 writes the run folder.
    pub fn new_in(cfg: RunConfig, out: &Path, resume: bool, world: World) -> anyhow::Result<Trainer> {
        Trainer::start(cfg, out, if resume { Start::Resume } else { Start::Fresh }, world)
    }

    /// [`Trainer::new_in`], saying what to do with a run already in `out`.
    pub fn start(mut cfg: RunConfig, out: &Path, start: Start, world: World) -> anyhow::Result<Trainer> {
        cfg.nproc = world.size();
        Trainer::build(cfg, out, start, true, world)
    }

    fn build(mut cfg: RunConfig, out: &Path, start: Start, write: bool, world: World) -> anyhow::Result<Trainer> {
        let resume = start == Start::Resume;
        // Only rank 0 writes; the others read what it wrote before (a resumed run's checkpoint).
        let writes = write && world.is_root();
        let saved = out.join("config.toml");
        if resume && saved.exists() {
            cfg = RunConfig::load(&saved)?.resumed_with(&cfg, &saved)?;
        }
        cfg.check()?;
        let device = crate::device::for_local_rank(
            crate::device::resolve(&cfg.device)?,
            &cfg.device,
            (world.size() > 1).then(mille_dist::launched_local_rank).flatten(),
            if tch::Cuda::is_available() { tch::Cuda::device_count() as usize } else { 0 },
        );
        if device.is_cuda() {
            crate::device::set_current(device)?;
            crate::device::set_deterministic(device)?;
        }
        let (store, shards) = if cfg.sharded {
            let set = mille_partition::ShardSet::open(&cfg.store)?;
            anyhow::ensure!(
                set.len() == world.size(),
                "{} holds {} shards, one per rank: train it with --nproc {} (this job has {} rank{})",
                cfg.store.display(),
                set.len(),
                set.len(),
                world.size(),
                if world.size() == 1 { "" } else { "s" }
            );
            (set.open_shard(world.rank())?, Some(set.manifest().clone()))
        } else {
            (Store::open(&cfg.store)?, None)
        };
        let store = Arc::new(store);
        // How the run will be scored, checked now rather than after training.
        let metric = infer::metric(&store)?;
        // Saved absolute, so that the run resumes (or is evaluated) from any working folder.
        if let Ok(abs) = std::fs::canonicalize(&cfg.store) {
            cfg.store = abs;
        }
        let edge_mean = cfg.node_features == NodeFeatures::BatchEdgeMean;
        anyhow::ensure!(
            !edge_mean || store.edge_features().is_some(),
            "--node-features batch-edge-mean averages edge features; store {} has none",
            store.path().display()
        );
        let (in_dim, edge_dim) = match (store.features().filter(|_| !edge_mean), store.edge_features()) {
            (Some(f), e) => (f.cols as i64, e.map_or(0, |e| e.cols as i64)),
            (None, Some(e)) if edge_mean => (e.cols as i64, e.cols as i64),
            (None, Some(e)) => {
                tracing::warn!(
                    "store {} has edge features but no node features: each batch's nodes get the mean of their \
                     in-batch edges' features (prepare it again to store the full-graph sums the authors use)",
                    store.path().display()
                );
                (e.cols as i64, e.cols as i64)
            }
            (None, None) => anyhow::bail!("store {} has neither node nor edge features", store.path().display()),
        };
        let categorical = cfg
            .node_categorical
            .iter()
            .map(|name| crate::graph::Categorical::from_store(&store, name).map(Arc::new))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut inputs = crate::graph::NodeInputs { norm: cfg.feature_norm, categorical, edge_mean, labels: None };
        let out_dim = match store.labels() {
            Some(Labels::MultiClass(_)) => class_count(&store)?,
            Some(Labels::MultiLabel(_)) if cfg.loss == crate::loss::LossKind::Logce => anyhow::bail!(
                "--loss logce bends the per-node cross-entropy of one class per node; store {} has binary tasks \
                 (use --loss ce)",
                store.path().display()
            ),
            Some(Labels::MultiLabel(y)) => y.cols as i64,
            None => anyhow::bail!("store {} has no labels to train on", store.path().display()),
        };
        if !cfg.sharded {
            let name = cfg.split.clone().or_else(|| store.meta().splits.first().cloned());
            if let Some(split) = name.as_deref().and_then(|n| store.split(n).ok()) {
                anyhow::ensure!(
                    !split.train.is_empty(),
                    "split {:?} of store {} has no training nodes: nothing to train on",
                    name.unwrap_or_default(),
                    store.path().display()
                );
            }
        }
        // Labels as input: their one-hot columns follow the node features, so the model's input
        // is that much wider (the authors' `n_node_feats + n_classes`).
        let in_dim = if cfg.use_labels {
            let l = crate::labels::from_store(&store, cfg.split.as_deref(), in_dim, out_dim, cfg.label_reuse)?;
            inputs.labels = Some(Arc::new(l));
            in_dim + out_dim
        } else {
            in_dim
        };
        let mut mc = ModelConfig::new(cfg.model, cfg.conv, cfg.layers, cfg.hidden, in_dim, out_dim);
        mc.groups = cfg.groups;
        mc.dropout = cfg.dropout;
        mc.edge_dim = edge_dim;
        mc.deq_max_iter = cfg.deq_max_iter;
        mc.deq_tol = cfg.deq_tol;
        mc.categorical = inputs.widths();
        mc.dropout_mask = cfg.dropout_mask;
        mc.edge_encoder = cfg.edge_encoder;
        mc.input_dropout = cfg.input_dropout;
        mc.gat = crate::revgat::GatOptions {
            heads: cfg.heads,
            attn_dst: cfg.attn_dst,
            norm: cfg.gat_norm,
            residual: cfg.gat_residual,
        };
        mc.edge_drop = cfg.edge_drop;
        if !device.is_cuda() {
            memory::check_fits(&mc, &cfg)?;
        }
        // A student's teacher is read and checked before the run folder is made; evaluating a
        // finished student needs no teacher.
        let teacher = match (&mut cfg.teacher, write) {
            (Some(t), true) => {
                anyhow::ensure!(
                    !cfg.sharded,
                    "--teacher: a shard set numbers its nodes per shard; distil on the whole store"
                );
                Some(teacher::Teacher::open(t, &store, cfg.split.as_deref(), out_dim, device)?)
            }
            _ => None,
        };
        tch::manual_seed(cfg.seed as i64);
        let mut vs = nn::VarStore::new(device);
        let model = Model::new(&vs.root(), mc);
        if cfg.group_init == crate::model::GroupInit::Copy {
            crate::model::copy_group_init(&vs);
        }
        let mut opt = Optimizer::with_rule(&vs, cfg.lr, cfg.optimizer);
        opt.weight_decay = cfg.weight_decay;
        opt.conv_weight_decay = cfg.conv_weight_decay;

        // The writing rank holds the folder from here to the end of the run; a folder this call
        // made is removed again if the start fails (a refused run leaves nothing behind).
        let (lock, made) = if writes { hold(out)? } else { (None, None) };
        let state = (|| -> anyhow::Result<LoopState> {
            if resume || !write {
                folder::check_store(out, &store)?;
            }
            if !resume && writes && folder::holds_run(out) {
                anyhow::ensure!(
                    start == Start::Overwrite,
                    "{} holds a run already: --resume continues it, --overwrite replaces all of it, or choose \
                     another --out",
                    out.display()
                );
                folder::clear(out)?;
            }
            if !resume {
                return Ok(LoopState::default());
            }
            match checkpoint::load(out, &mut vs, &mut opt)? {
                Some(state) => Ok(state),
                // Evaluating a run that never finished an epoch: its best weights, if any.
                None if !write => Ok(LoopState::default()),
                None => anyhow::bail!(
                    "--resume: {} has no checkpoint ({} is missing: no epoch of that run finished); \
                     start it again without --resume",
                    out.display(),
                    out.join("checkpoint.json").display()
                ),
            }
        })();
        let state = state.inspect_err(|_| unmake(made.as_deref()))?;
        parallel::broadcast_weights(&world, &vs);
        if writes {
            let written = (|| -> anyhow::Result<()> {
                mille_pipeline::durable::write_atomic(&saved, cfg.to_toml().as_bytes())
                    .with_context(|| format!("writing {}", saved.display()))?;
                if !resume {
                    folder::record_store(out, &store)?;
                }
                truncate_metrics(&out.join("metrics.jsonl"), state.epoch)
            })();
            written.inspect_err(|_| unmake(made.as_deref()))?;
        }
        Ok(Trainer {
            cfg,
            out: out.to_path_buf(),
            store,
            device,
            vs,
            model,
            opt,
            train_loader: None,
            eval_loader: None,
            state,
            device_name: crate::device::describe(device),
            gpu_peak: None,
            anon: memory::AnonPeak::start(),
            progress: Box::new(Silent),
            overlap: true,
            metric,
            inputs,
            world,
            comm: None,
            writes,
            best_copy: None,
            _lock: lock,
            shards,
            evaluated: 0,
            teacher,
        })
    }

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

    /// The loader of training epochs, drawn by the run's sampler (`RunConfig::sampler`; a
    /// METIS partition computed on rank 0 and cached for the others).
    fn train_loader(&mut self) -> anyhow::Result<&Loader> {
        if self.train_loader.is_none() {
            let (cfg, store) = (&self.cfg, &self.store);
            let plan = cfg.sampler().resolve_with(store, |k| {
                let method = mille_partition::Method::Metis(Default::default());
                let get = || mille_partition::cached_or_compute_or_keep(store, &method, k, cfg.seed);
                // One rank partitions and caches; the others wait, then read the cache
                // (or, on a read-only store, compute the same partition themselves).
                let world = &self.world;
                let alone = world.size() == 1 || self.shards.is_some(); // a shard's ranks each have their own
                let first = if world.is_root() || alone { Some(get()) } else { None };
                let mut failed = [first.as_ref().is_some_and(|r| r.is_err()) as u8 as f64];
                if !alone {
                    world.all_reduce_sum_f64(&mut failed);
                }
                Ok(match first {
                    Some(r) => r?.0,
                    None if failed[0] > 0.0 => {
                        let why = "rank 0 could not partition the store (its error says why)";
                        return Err(mille_loader::Error::Invalid(why.into()));
                    }
                    None => get()?.0,
                })
            })?;
            self.train_loader = Some(Loader::new(store.clone(), loader_config(cfg, plan))?);
        }
        Ok(self.train_loader.as_ref().expect("just built"))
    }

    /// One training epoch. Each optimiser step takes `accumulate x ranks` consecutive batches
    /// of the epoch's plan, `accumulate` of them on each rank (rank r the r-th of every `ranks`),
    /// and averages their gradients over the batches that hold a training node; each batch's
    /// dropout comes from (seed, epoch, batch index). So W ranks and one process with
    /// `--accumulate W` take the same steps. On a shard set every rank draws its own plan over
    /// its shard and a step takes `accumulate` of its batches on each rank; the ranks take as
    /// many steps as the longest plan needs (a rank whose plan ran out adds nothing).
    fn train_epoch(&mut self, epoch: u64) -> anyhow::Result<EpochStats> {
        tch::manual_seed(Seed::new(self.cfg.seed).torch_epoch(epoch));
        self.opt.lr = lr_at(&self.cfg, epoch);
        crate::device::reset_gpu_peak(self.device);
        let t0 = Instant::now();
        let (device, mut inputs, seed, kind) = (self.device, self.inputs.clone(), self.cfg.seed, self.cfg.loss);
        // This epoch's shown labels, drawn first from the epoch's generator.
        inputs.labels = inputs.labels.map(|l| Arc::new(l.epoch(self.cfg.mask_rate)));
        let labels = inputs.labels.clone();
        let (ranks, rank, k) = (self.world.size(), self.world.rank(), self.cfg.accumulate.max(1));
        let sharded = self.shards.is_some();
        let loader = self.train_loader()?;
        // One draw of the plan: its length sizes the steps, and the rank's share comes from it.
        let plan = loader.plan(epoch);
        let total = plan.len();
        let (share_rank, share_ranks) = if sharded { (0, 1) } else { (rank, ranks) };
        let mut batches = Feed::new(loader.run_rank(plan, share_rank, share_ranks), device, inputs)?;
        let (group, steps, all_batches) = if sharded {
            let mut totals = vec![0.0f64; ranks];
            totals[rank] = total as f64;
            self.world.all_reduce_sum_f64(&mut totals);
            let most = totals.iter().map(|&t| t as usize).max().unwrap_or(0);
            (k, most.div_ceil(k), totals.iter().sum::<f64>() as usize)
        } else {
            (k * ranks, total.div_ceil(k * ranks), total)
        };
        self.progress.begin(&format!("epoch {}", epoch + 1), steps as u64);
        let (mut loss_sum, mut counted, mut train_rows) = (0.0, 0usize, 0.0f64);
        let per_block = self.overlap && self.cfg.model == crate::model::ModelKind::Revgnn;
        let blocks = if per_block { self.cfg.layers } else { 0 };
        let grads = parallel::GradGroups::new(self.opt.names(), blocks);
        // With NCCL set up even one rank sums (over itself): a one-GPU machine can then run the
        // whole device path, which must leave the weights as they would be without it.
        let parallel = ranks > 1 || self.comm.is_some();
        for step in 0..steps {
            self.opt.zero_grad();
            let (mut step_loss, mut used, mut rows_used) = (0.0, 0usize, 0usize);
            let position = |j: usize| step * group + j * share_ranks + share_rank;
            // The step's last batch here: its blocks' gradients are final as its backward
            // completes them, so their all-reduce starts then.
            let last = (0..k).rev().find(|&j| position(j) < total);
            let mut reduce = parallel.then(|| parallel::StepReduce::new(&self.world, self.comm.as_ref()));
            let mut wire_error = None;
            for j in 0..k {
                if position(j) >= total {
                    break; // the epoch's last step is short
                }
                let Fed { batch, g } = batches.next_batch().context("the loader ended before its plan")??;
                let index = batch.index;
                // The teacher's rows are the batch's store node ids.
                let nodes = self.teacher.as_ref().map(|_| {
                    let ids: Vec<i64> = batch.nodes.iter().map(|&v| v as i64).collect();
                    Tensor::from_slice(&ids).to_device(device)
                });
                batches.recycle(batch);
                let rows = crate::labels::loss_rows(&g);
                if rows.size()[0] == 0 {
                    continue;
                }
                // Shards number their batches alike: the rank tells theirs apart.
                let index = if sharded { index * ranks + rank } else { index };
                tch::manual_seed(Seed::new(seed).epoch(epoch).torch_batch(index));
                let x = crate::labels::reused_input(&g, labels.as_deref(), |x| self.model.logits_train(&g.adj, x));
                let teacher = self.teacher.as_ref();
                let loss = |logits: &Tensor| {
                    let l = crate::loss::on_rows(kind, logits, &g, &rows);
                    match (teacher, &nodes) {
                        (Some(t), Some(n)) => t.blend(l, logits, n),
                        _ => l,
                    }
                };
                step_loss += match (&mut reduce, Some(j) == last) {
                    (Some(r), true) => {
                        let params = self.opt.params();
                        self.model.backward_with(&g.adj, &x, loss, &mut |b| {
                            if let Err(e) = r.block_done(&grads, params, b) {
                                wire_error.get_or_insert(e);
                            }
                        })
                    }
                    _ => self.model.backward(&g.adj, &x, loss),
                };
                used += 1;
                rows_used += rows.size()[0] as usize;
            }
            if let Some(e) = wire_error {
                return Err(e.context("reducing the gradients"));
            }
            if let Some(r) = reduce {
                r.finish(&grads, self.opt.params()).context("reducing the gradients")?;
            }
            let mut sums = [step_loss, used as f64, rows_used as f64];
            self.world.all_reduce_sum_f64(&mut sums);
            train_rows += sums[2];
            let used = sums[1] as usize;
            if used == 0 {
                self.progress.step(None);
                continue;
            }
            parallel::scale_gradients(self.opt.params(), used);
            self.opt.clip_grad_norm(self.cfg.clip);
            self.opt.step();
            loss_sum += sums[0];
            counted += used;
            self.progress.step(Some(sums[0] / used as f64));
        }
        self.progress.end();
        crate::device::synchronize(self.device);
        Ok(EpochStats {
            loss: loss_sum / counted.max(1) as f64,
            seconds: t0.elapsed().as_secs_f64(),
            batches: all_batches,
            train_rows: train_rows as u64,
            wait_seconds: batches.waited().as_secs_f64(),
            bytes: batches.bytes(),
            gpu_peak: crate::device::gpu_memory(self.device).map(|m| m.peak_allocated),
        })
    }

    /// Keeps the current weights as the best: in `best.safetensors` on the writing rank, in
    /// memory on the others.
    fn save_best(&mut self) -> anyhow::Result<()> {
        if self.writes {
            // Under a hidden name, then renamed: a failed write never leaves truncated weights.
            // The name keeps its `.safetensors` ending: tch picks the format from it.
            let (best, tmp) = (self.out.join("best.safetensors"), self.out.join(".best.partial.safetensors"));
            let saved = self
                .vs
                .save(&tmp)
                .map_err(anyhow::Error::from)
                .and_then(|()| std::fs::rename(&tmp, &best).map_err(anyhow::Error::from));
            if saved.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            saved.with_context(|| format!("writing {}", best.display()))?;
        } else {
            let vars = self.vs.variables().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
            self.best_copy = Some(vars);
        }
        Ok(())
    }

    /// Loads the best weights kept by [`Trainer::save_best`], if any.
    fn load_best(&mut self) -> anyhow::Result<()> {
        match &self.best_copy {
            Some(vars) => {
                let mut now = self.vs.variables();
                tch::no_grad(|| {
                    for (n, t) in vars {
                        if let Some(v) = now.get_mut(n) {
                            v.copy_(t);
                        }
                    }
                });
            }
            None => {
                let best = self.out.join("best.safetensors");
                if best.exists() {
                    self.vs.load(&best).with_context(|| weights_mismatch(&best))?;
                }
            }
        }
        Ok(())
    }

    /// DEQ: weights of epoch `epoch` (1-based) run the way that epoch trained them: the block
    /// unrolled during the `pretrain_epochs`, solved after.
    fn set_pretraining(&self, epoch: u64) {
        let unrolled = epoch <= self.cfg.pretrain_epochs;
        self.model.set_unrolled(unrolled.then_some(self.cfg.pretrain_steps));
    }

    /// A finished (or interrupted) run opened for evaluation: its settings, its best-validation
    /// weights (else its latest checkpoint's), on `device` if given.
    pub fn open(run: &Path, device: Option<&str>) -> anyhow::Result<Trainer> {
        let saved = run.join("config.toml");
        anyhow::ensure!(saved.exists(), "{} is not a run folder (no config.toml)", run.display());
        anyhow::ensure!(
            run.join("best.safetensors").exists() || run.join("checkpoint.json").exists(),
            "{} has no trained weights (no best.safetensors, no checkpoint.json): no epoch of that run finished, \
             so there is nothing to evaluate",
            run.display()
        );
        let mut cfg = RunConfig::load(&saved)?;
        anyhow::ensure!(
            !cfg.sharded,
            "{} trained on a shard set, which only its {} ranks can evaluate together: \
             `tools/train --resume --out {}` repeats its final multi-view inference",
            run.display(),
            cfg.nproc,
            run.display()
        );
        if let Some(d) = device {
            cfg.device = d.to_string();
        }
        let mut t = Trainer::build(cfg, run, Start::Resume, false, World::single())?;
        let best = run.join("best.safetensors");
        if best.exists() {
            t.vs.load(&best).with_context(|| weights_mismatch(&best))?;
        }
        t.set_pretraining(t.state.best.map_or(t.state.epoch, |(e, _)| e));
        Ok(t)
    }

    /// Scores of the current weights with `views` views of `eval_parts` parts, and the averaged
    /// logits.
    pub fn evaluate(&mut self, views: u32) -> anyhow::Result<(Scores, Vec<f32>)> {
        self.evaluate_with(views, self.cfg.eval_parts)
    }

    /// Scores with `views` views of `parts` parts each, and the averaged logits.
    pub fn evaluate_with(&mut self, views: u32, parts: u32) -> anyhow::Result<(Scores, Vec<f32>)> {
        anyhow::ensure!(views >= 1 && parts >= 1, "views and parts must be at least 1");
        if self.eval_loader.as_ref().is_none_or(|(key, _)| *key != (views, parts)) {
            let plan = match self.cfg.batching {
                Batching::StoreParts => {
                    let p = mille_loader::stored_parts(&self.store)?;
                    PlanSpec::ClusterViews { views, per_batch: p.k().div_ceil(parts), partition: p }
                }
                _ => PlanSpec::Views { views, parts },
            };
            let loader = Loader::new(self.store.clone(), loader_config(&self.cfg, plan))?;
            self.eval_loader = Some(((views, parts), loader));
        }
        let loader = &self.eval_loader.as_ref().expect("just built").1;
        let progress = &mut self.progress;
        // On a shard set each rank predicts all of its own shard and the ranks score together;
        // else the ranks split the views and each scores the whole average.
        let single = World::single();
        let (predicting, scoring) = if self.shards.is_some() { (&single, &self.world) } else { (&self.world, &single) };
        let share = ((views * parts) as usize).div_ceil(predicting.size());
        progress.begin("evaluate", share as u64);
        let (model, device, inputs) = (&self.model, self.device, self.inputs.clone());
        let avg = infer::predict_in(predicting, model, loader, 0, device, inputs, || progress.step(None))?;
        progress.end();
        let dim = avg.dim;
        let mut seen = [avg.seen() as f64];
        scoring.all_reduce_sum_f64(&mut seen);
        self.evaluated = seen[0] as u64;
        let logits = avg.into_mean();
        let split = self.cfg.split.as_deref();
        let mut scores = infer::score_shards(scoring, &self.store, split, &logits, dim)?;
        let loss = infer::valid_loss_shards(scoring, &self.store, split, &logits, dim, self.cfg.loss)?;
        scores.valid_loss = Some(loss);
        Ok((scores, logits))
    }

    /// Trains the remaining epochs (checkpointing after each), then evaluates the best model
    /// with multi-view inference and writes predictions and the summary.
    pub fn fit(&mut self) -> anyhow::Result<Summary> {
        let metrics_path = self.out.join("metrics.jsonl");
        while self.state.epoch < self.cfg.epochs {
            let epoch = self.state.epoch;
            self.set_pretraining(epoch + 1);
            let st = self.train_epoch(epoch)?;
            let (loss, seconds) = (st.loss, st.seconds);
            anyhow::ensure!(loss.is_finite(), "training diverged at epoch {} (loss {loss})", epoch + 1);
            self.gpu_peak = self.gpu_peak.max(st.gpu_peak);
            let solves = self.model.last_solves();
            let mut line = EpochMetrics {
                epoch: epoch + 1,
                loss,
                seconds,
                batches_per_second: st.batches as f64 / seconds,
                train_rows: st.train_rows,
                batch_wait_seconds: st.wait_seconds,
                batch_bytes: st.bytes,
                peak_memory_bytes: peak_rss_bytes(),
                peak_anon_rss_bytes: self.anon.bytes(),
                rss_file_bytes: memory::status_bytes("RssFile:"),
                device: self.device_name.clone(),
                gpu_peak_memory_bytes: st.gpu_peak,
                deq_forward_iterations: solves.map(|(fwd, _)| fwd.iterations),
                deq_forward_residual: solves.map(|(fwd, _)| fwd.residual),
                deq_adjoint_iterations: solves.map(|(_, adj)| adj.iterations),
                train: None,
                valid: None,
                test: None,
                valid_loss: None,
            };
            let mut scores = None;
            if (epoch + 1).is_multiple_of(self.cfg.eval_every) || epoch + 1 == self.cfg.epochs {
                let (s, _) = self.evaluate_with(1, self.cfg.train_eval_parts.unwrap_or(self.cfg.eval_parts))?;
                scores = Some(s);
                (line.train, line.valid, line.test, line.valid_loss) =
                    (Some(s.train), Some(s.valid), Some(s.test), s.valid_loss);
                if better(self.cfg.select, &s, self.state.best.as_ref().map(|(_, b)| b)) {
                    self.state.best = Some((epoch + 1, s));
                    self.save_best()?;
                }
            }
            if self.writes {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&metrics_path)
                    .with_context(|| format!("opening {}", metrics_path.display()))?;
                writeln!(f, "{line}").with_context(|| format!("writing {}", metrics_path.display()))?;
            }
            tracing::info!("epoch {}: {line}", epoch + 1);
            self.progress.epoch(&EpochReport {
                epoch: epoch + 1,
                epochs: self.cfg.epochs,
                loss,
                seconds,
                batches_per_second: st.batches as f64 / seconds,
                scores,
                best: self.state.best,
                metric: self.metric.name(),
                line: &line,
            });
            self.state.epoch = epoch + 1;
            self.state.step = self.opt.step;
            self.state.epoch_seconds.push(seconds);
            if self.writes {
                checkpoint::save(&self.out, &self.vs, &self.opt, &self.state)?;
            }
        }
        self.finish()
    }

    /// Loads the best weights, runs multi-view inference, writes `predictions.npy` and
    /// `summary.json`.
    pub fn finish(&mut self) -> anyhow::Result<Summary> {
        self.load_best()?;
        self.set_pretraining(self.state.best.map_or(self.state.epoch, |(e, _)| e));
        let (single, best_epoch) = match self.state.best {
            Some((e, s)) => (s, e),
            None => {
                (self.evaluate_with(1, self.cfg.train_eval_parts.unwrap_or(self.cfg.eval_parts))?.0, self.state.epoch)
            }
        };
        crate::device::reset_gpu_peak(self.device);
        let (multi, logits) = self.evaluate(self.cfg.views)?;
        self.gpu_peak = self.gpu_peak.max(crate::device::gpu_memory(self.device).map(|m| m.peak_allocated));
        let dim = self.model.config().out_dim as usize;
        if self.shards.is_some() {
            // Each rank holds only its shard's logits; rows follow the shard's `shard/global_id`.
            std::fs::create_dir_all(&self.out)?;
            infer::write_npy(&self.out.join(format!("predictions-shard-{}.npy", self.world.rank())), &logits, dim)?;
        } else if self.writes {
            infer::write_npy(&self.out.join("predictions.npy"), &logits, dim)?;
        }
        let mut sorted = self.state.epoch_seconds.clone();
        sorted.sort_by(f64::total_cmp);
        let selection = match self.cfg.select {
            Select::ValidMetric if single.valid.is_nan() => format!(
                "last evaluated epoch: the validation {} is undefined (no labelled validation node, or one class)",
                self.metric.name()
            ),
            Select::ValidMetric => format!("best validation {}", self.metric.name()),
            Select::ValidLoss if single.valid_loss.is_none_or(f64::is_nan) => {
                "last evaluated epoch: the validation loss is undefined (no labelled validation node)".to_string()
            }
            Select::ValidLoss => format!("lowest validation loss ({})", self.cfg.loss),
        };
        let summary = Summary {
            metric: self.metric.name().into(),
            train: single.train,
            valid: single.valid,
            test: single.test,
            best_epoch,
            selection,
            multi_view: multi,
            views: self.cfg.views,
            eval_parts: self.cfg.eval_parts,
            params: num_params(&self.vs),
            peak_memory_bytes: peak_rss_bytes(),
            peak_anon_rss_bytes: self.anon.bytes(),
            epoch_seconds: self.state.epoch_seconds.clone(),
            epoch_seconds_median: sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
            gpu_peak_memory_bytes: self.gpu_peak,
            device: self.device_name.clone(),
            model: match self.cfg.model {
                // RevGAT's layers are its own GAT: `--conv` plays no part.
                crate::model::ModelKind::Revgat => format!("revgat/gat:{}", self.cfg.heads),
                m => format!("{m}/{}", self.cfg.conv),
            },
            batching: self.cfg.batching.to_string(),
            layers: self.cfg.layers,
            hidden: self.cfg.hidden,
            world_size: self.world.size(),
            evaluated_nodes: self.evaluated,
            sharding: self.shards.as_ref().map(|m| Sharding {
                shards: m.shards.len(),
                edges: m.edges,
                lost_edges: m.lost_edges,
                lost_fraction: m.lost_fraction(),
            }),
        };
        if self.writes {
            let path = self.out.join("summary.json");
            mille_pipeline::durable::write_atomic(&path, &serde_json::to_vec_pretty(&summary)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(summary)
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

/// Creates `out` if needed and locks it: the lock, and the folder if this call made it.
fn hold(out: &Path) -> anyhow::Result<(Option<folder::RunLock>, Option<PathBuf>)> {
    let made = (!out.exists()).then(|| out.to_path_buf());
    std::fs::create_dir_all(out).with_context(|| format!("creating the run folder {}", out.display()))?;
    match folder::RunLock::acquire(out) {
        Ok(l) => Ok((Some(l), made)),
        Err(e) => {
            unmake(made.as_deref());
            Err(e)
        }
    }
}

/// Removes a run folder this process made, when its start failed.
fn unmake(made: Option<&Path>) {
    if let Some(dir) = made {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The message for weights that do not load into the model built for the run's settings.
pub(crate) fn weights_mismatch(file: &Path) -> String {
    format!(
        "loading {}: its tensors do not fit the model this run's config.toml and store build (was the store or \
         config.toml changed since?)",
        file.display()
    )
}

/// The store's class count (`meta.json`'s `num_classes`: the catalog's or prepare's), with every
/// label checked against it in one pass: a label outside it would silently train a different
/// head, and a huge one would allocate it.
/// The head's width: the store's `num_classes` (`Store::open` has checked every label against it).
fn class_count(store: &Store) -> anyhow::Result<i64> {
    let classes = store.meta().num_classes.ok_or_else(|| {
        anyhow::anyhow!("{}: multi-class labels but no num_classes", store.path().join("meta.json").display())
    })?;
    Ok(classes as i64)
}

fn loader_config(cfg: &RunConfig, plan: PlanSpec) -> LoaderConfig {
    LoaderConfig {
        plan,
        seed: cfg.seed,
        workers: cfg.workers.max(1),
        prefetch: 2,
        self_loops: cfg.self_loops,
        edge_features: true,
        split: cfg.split.clone(),
        // The model, not the loader, bounds a training step (the loader builds batches ~10x
        // faster than RevGNN consumes them), so the loader's in-memory copy would only add its
        // memory; training reads through the store's map.
        residency: mille_loader::Residency::Mapped,
        ..Default::default()
    }
}

/// The learning rate of (0-based) `epoch`: `lr * (epoch + 1) / warmup` during the warm-up
/// epochs, `lr` after (the authors' `adjust_learning_rate`: `lr * epoch / 50` for 1-based
/// epochs up to 50).
fn lr_at(cfg: &RunConfig, epoch: u64) -> f64 {
    if epoch < cfg.warmup { cfg.lr * (epoch + 1) as f64 / cfg.warmup as f64 } else { cfg.lr }
}

/// Whether `s` beats the best kept so far under `select`. An undefined score (NaN) on either
/// side selects the newer epoch: the latest stands until a defined one comes.
fn better(select: Select, s: &Scores, best: Option<&Scores>) -> bool {
    let Some(b) = best else { return true };
    match select {
        Select::ValidMetric => s.valid > b.valid || s.valid.is_nan() || b.valid.is_nan(),
        Select::ValidLoss => {
            let (a, b) = (s.valid_loss.unwrap_or(f64::NAN), b.valid_loss.unwrap_or(f64::NAN));
            a < b || a.is_nan() || b.is_nan()
        }
    }
}

/// Drops metric lines of epochs after `epoch` (written by a run killed before its checkpoint).
fn truncate_metrics(path: &Path, epoch: u64) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["epoch"].as_u64())
                .is_some_and(|e| e <= epoch)
        })
        .collect();
    let mut body = kept.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    std::fs::write(path, body)?;
    Ok(())
}
