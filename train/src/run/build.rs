//! Starting a run: a fresh one, a resumed one, or a finished one reopened to evaluate; the
//! run folder held and its settings resolved once.

use super::fit::truncate_metrics;
use super::*;

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

    /// Starts a run in `out`: `training` when it will train (a reopened finished run, for
    /// evaluation, does not, and so needs no teacher and writes nothing).
    pub(super) fn build(
        cfg: RunConfig,
        out: &Path,
        start: Start,
        training: bool,
        world: World,
    ) -> anyhow::Result<Trainer> {
        // Only rank 0 writes; the others read what it wrote before (a resumed run's checkpoint).
        let writes = training && world.is_root();
        let mut cfg = resolve_config(cfg, out, start == Start::Resume)?;
        let device = pick_device(&cfg, &world)?;
        let (store, shards) = open_store(&cfg, &world)?;
        // How the run will be scored, checked now rather than after training.
        let metric = infer::metric(&store)?;
        // Saved absolute, so that the run resumes (or is evaluated) from any working folder.
        if let Ok(abs) = std::fs::canonicalize(&cfg.store) {
            cfg.store = abs;
        }
        let (inputs, mc) = model_inputs(&cfg, &store)?;
        if !device.is_cuda() {
            memory::check_fits(&mc, &cfg)?;
        }
        // A student's teacher is read and checked before the run folder is made; evaluating a
        // finished student needs no teacher.
        let teacher = if training { open_teacher(&mut cfg, &store, mc.out_dim, device)? } else { None };
        let (mut vs, model, mut opt) = make_model(&cfg, device, mc);
        // The writing rank holds the folder from here to the end of the run; a folder this call
        // made is removed again if the start fails (a refused run leaves nothing behind).
        let (lock, made) = if writes { hold(out)? } else { (None, None) };
        let folder = RunFolder { out, start, training, writes };
        let state = folder.loop_state(&store, &mut vs, &mut opt).inspect_err(|_| unmake(made.as_deref()))?;
        parallel::broadcast_weights(&world, &vs);
        if writes {
            folder.record(&cfg, &store, state.epoch).inspect_err(|_| unmake(made.as_deref()))?;
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
            state,
            device_name: crate::device::describe(device),
            usage: Usage { gpu_peak: None, anon: memory::AnonPeak::start() },
            progress: Box::new(Silent),
            overlap: true,
            eval: Evaluation { metric, loader: None, best_copy: None, evaluated: 0 },
            inputs,
            world,
            comm: None,
            writes,
            _lock: lock,
            shards,
            teacher,
        })
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
}

/// Creates `out` if needed and locks it: the lock, and the folder if this call made it.
pub(super) fn hold(out: &Path) -> anyhow::Result<(Option<folder::RunLock>, Option<PathBuf>)> {
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
pub(super) fn unmake(made: Option<&Path>) {
    if let Some(dir) = made {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// The store's class count (`meta.json`'s `num_classes`: the catalog's or prepare's), with every
/// label checked against it in one pass: a label outside it would silently train a different
/// head, and a huge one would allocate it.
/// The head's width: the store's `num_classes` (`Store::open` has checked every label against it).
pub(super) fn class_count(store: &Store) -> anyhow::Result<i64> {
    let classes = store.meta().num_classes.ok_or_else(|| {
        anyhow::anyhow!("{}: multi-class labels but no num_classes", store.path().join("meta.json").display())
    })?;
    Ok(classes as i64)
}

/// The settings a run goes with: `cfg`, or on `resume` the saved ones with what may change
/// taken from `cfg`; checked.
fn resolve_config(mut cfg: RunConfig, out: &Path, resume: bool) -> anyhow::Result<RunConfig> {
    let saved = out.join("config.toml");
    if resume && saved.exists() {
        cfg = RunConfig::load(&saved)?.resumed_with(&cfg, &saved)?;
    }
    cfg.check()?;
    Ok(cfg)
}

/// A student's teacher, read and checked against the store.
fn open_teacher(
    cfg: &mut RunConfig,
    store: &Store,
    classes: i64,
    device: Device,
) -> anyhow::Result<Option<teacher::Teacher>> {
    let Some(t) = &mut cfg.teacher else { return Ok(None) };
    anyhow::ensure!(!cfg.sharded, "--teacher: a shard set numbers its nodes per shard; distil on the whole store");
    Ok(Some(teacher::Teacher::open(t, store, cfg.split.as_deref(), classes, device)?))
}

/// The model's parameters, drawn from the run's seed, and its optimiser.
fn make_model(cfg: &RunConfig, device: Device, mc: ModelConfig) -> (nn::VarStore, Model, Optimizer) {
    tch::manual_seed(cfg.seed as i64);
    let vs = nn::VarStore::new(device);
    let model = Model::new(&vs.root(), mc);
    if cfg.group_init == crate::model::GroupInit::Copy {
        crate::model::copy_group_init(&vs);
    }
    let mut opt = Optimizer::with_rule(&vs, cfg.lr, cfg.optimizer);
    opt.weight_decay = cfg.weight_decay;
    opt.conv_weight_decay = cfg.conv_weight_decay;
    (vs, model, opt)
}

/// The device the settings name (a launched rank's own GPU under `auto`), set up for
/// deterministic kernels when it is a GPU.
fn pick_device(cfg: &RunConfig, world: &World) -> anyhow::Result<Device> {
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
    Ok(device)
}

/// The store, or on a shard set this rank's shard and the set's manifest.
fn open_store(cfg: &RunConfig, world: &World) -> anyhow::Result<(Arc<Store>, Option<mille_partition::ShardManifest>)> {
    if !cfg.sharded {
        return Ok((Arc::new(Store::open(&cfg.store)?), None));
    }
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
    Ok((Arc::new(set.open_shard(world.rank())?), Some(set.manifest().clone())))
}

/// What the model reads beside the features (normalisation, categorical arrays, labels as input)
/// and the model's configuration, its widths taken from the store.
fn model_inputs(cfg: &RunConfig, store: &Arc<Store>) -> anyhow::Result<(crate::graph::NodeInputs, ModelConfig)> {
    let edge_mean = cfg.node_features == NodeFeatures::BatchEdgeMean;
    let (in_dim, edge_dim) = input_widths(store, edge_mean)?;
    let categorical = cfg
        .node_categorical
        .iter()
        .map(|name| crate::graph::Categorical::from_store(store, name).map(Arc::new))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut inputs = crate::graph::NodeInputs { norm: cfg.feature_norm, categorical, edge_mean, labels: None };
    let out_dim = output_width(cfg, store)?;
    check_training_nodes(cfg, store)?;
    // Labels as input: their one-hot columns follow the node features, so the model's input is
    // that much wider (the authors' `n_node_feats + n_classes`).
    let in_dim = if cfg.use_labels {
        let l = crate::labels::from_store(store, cfg.split.as_deref(), in_dim, out_dim, cfg.label_reuse)?;
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
    mc.block_norm = cfg.norm.unwrap_or_default();
    mc.edge_drop = cfg.edge_drop;
    mc.edge_draw = cfg.edge_drop_draw;
    Ok((inputs, mc))
}

/// The node input's and the edge features' widths (`edge_mean`: nodes take the mean of their
/// in-batch edges' features instead of stored features).
fn input_widths(store: &Store, edge_mean: bool) -> anyhow::Result<(i64, i64)> {
    anyhow::ensure!(
        !edge_mean || store.edge_features().is_some(),
        "--node-features batch-edge-mean averages edge features; store {} has none",
        store.path().display()
    );
    Ok(match (store.features().filter(|_| !edge_mean), store.edge_features()) {
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
    })
}

/// The head's width: the class count, or the binary task count.
fn output_width(cfg: &RunConfig, store: &Store) -> anyhow::Result<i64> {
    Ok(match store.labels() {
        Some(Labels::MultiClass(_)) => class_count(store)?,
        Some(Labels::MultiLabel(_)) if cfg.loss == crate::loss::LossKind::Logce => anyhow::bail!(
            "--loss logce bends the per-node cross-entropy of one class per node; store {} has binary tasks \
             (use --loss ce)",
            store.path().display()
        ),
        Some(Labels::MultiLabel(y)) => y.cols as i64,
        None => anyhow::bail!("store {} has no labels to train on", store.path().display()),
    })
}

/// Refuses a split without training nodes (a shard's split is its own, checked by its rank).
fn check_training_nodes(cfg: &RunConfig, store: &Store) -> anyhow::Result<()> {
    if cfg.sharded {
        return Ok(());
    }
    let name = cfg.split.clone().or_else(|| store.meta().splits.first().cloned());
    if let Some(split) = name.as_deref().and_then(|n| store.split(n).ok()) {
        anyhow::ensure!(
            !split.train.is_empty(),
            "split {:?} of store {} has no training nodes: nothing to train on",
            name.unwrap_or_default(),
            store.path().display()
        );
    }
    Ok(())
}

/// The run folder as a starting run sees it.
struct RunFolder<'a> {
    out: &'a Path,
    start: Start,
    training: bool,
    writes: bool,
}

impl RunFolder<'_> {
    /// Where the loop starts: a fresh state (an earlier run replaced only on `--overwrite`), or
    /// the latest checkpoint's weights, optimiser state and loop state.
    fn loop_state(&self, store: &Store, vs: &mut nn::VarStore, opt: &mut Optimizer) -> anyhow::Result<LoopState> {
        let (out, resume) = (self.out, self.start == Start::Resume);
        if resume || !self.training {
            folder::check_store(out, store)?;
        }
        if !resume && self.writes && folder::holds_run(out) {
            anyhow::ensure!(
                self.start == Start::Overwrite,
                "{} holds a run already: --resume continues it, --overwrite replaces all of it, or choose \
                 another --out",
                out.display()
            );
            folder::clear(out)?;
        }
        if !resume {
            return Ok(LoopState::default());
        }
        match checkpoint::load(out, vs, opt)? {
            Some(state) => Ok(state),
            // Evaluating a run that never finished an epoch: its best weights, if any.
            None if !self.training => Ok(LoopState::default()),
            None => anyhow::bail!(
                "--resume: {} has no checkpoint ({} is missing: no epoch of that run finished); \
                 start it again without --resume",
                out.display(),
                out.join("checkpoint.json").display()
            ),
        }
    }

    /// Writes the settings (and for a fresh run the store's shape), and drops metrics lines past
    /// the checkpoint's epoch.
    fn record(&self, cfg: &RunConfig, store: &Store, epoch: u64) -> anyhow::Result<()> {
        let saved = self.out.join("config.toml");
        mille_pipeline::durable::write_atomic(&saved, cfg.to_toml().as_bytes())
            .with_context(|| format!("writing {}", saved.display()))?;
        if self.start != Start::Resume {
            folder::record_store(self.out, store)?;
        }
        truncate_metrics(&self.out.join("metrics.jsonl"), epoch)
    }
}
