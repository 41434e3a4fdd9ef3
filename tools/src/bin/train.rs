//! `tools/train`: train a RevGNN (or WT-RevGNN, DEQ-GNN, ResGNN, MLP with `--layers 0`) on a
//! prepared store, evaluate it with multi-view inference, and leave a run folder to look at.

use anyhow::Context;
use clap::Parser;
use mille_loader::{SamplerKind, SamplerOptions};
use mille_train::conv::ConvKind;
use mille_train::graph::FeatureNorm;
use mille_train::loss::{KdReduction, LossKind};
use mille_train::model::{DropoutMask, EdgeEncoder, GroupInit, ModelKind};
use mille_train::optim::Rule;
use mille_train::rev::EdgeDraw;
use mille_train::revgat::{BlockNorm, GatNorm};
use mille_train::run::recipe::Recipe;
use mille_train::run::{NodeFeatures, RunConfig, Select, Start, TeacherConfig, Trainer};
use std::path::PathBuf;

// Kept out of the mille-tools library: code there that names the trainer's types ends up in
// the objects every data program links, and pulled libtorch into them (tools/tests/link.rs).
#[path = "../run_progress.rs"]
mod run_progress;

/// Train a deep GNN on subgraph batches of a store and evaluate it with multi-view inference.
///
/// Writes RUN/config.toml (the exact settings), RUN/metrics.jsonl (one JSON line per epoch),
/// checkpoints (RUN/checkpoint-EPOCH, resumable with --resume), RUN/best.safetensors,
/// RUN/predictions.npy (multi-view logits of every node), RUN/summary.json, and PNG plots of
/// loss and accuracy. Settings come from the defaults, then --recipe NAME (one row of the
/// paper's tables, `recipes/NAME.toml`) or --config FILE (TOML, keys as in RUN/config.toml, any
/// subset), then the flags given: `--recipe ogbn-proteins-revgnn-deep --layers 28 --epochs 20`
/// runs that recipe smaller. A recipe checks the store is the kind it needs first.
///
/// Recipes: ogbn-proteins-revgnn-deep, ogbn-proteins-revgnn-wide, ogbn-proteins-wt-revgnn,
/// ogbn-proteins-deq, ogbn-proteins-resgnn-112, ogbn-arxiv-revgcn-deep, ogbn-arxiv-revgat-wide,
/// ogbn-arxiv-revgat-teacher, ogbn-arxiv-revgat-selfkd (after the teacher: it reads
/// runs/ogbn-arxiv-revgat-teacher, or --teacher RUN), ogbn-products-revgnn-112,
/// ogbn-products-revgnn-56, cora-revgcnii-64, citeseer-revgcnii-32, cora-revgat.
#[derive(Parser)]
#[command(name = "train", version)]
struct Args {
    /// The prepared store (`tools/prepare`); optional with --config, --resume or --shards.
    #[arg(conflicts_with = "shards")]
    store: Option<PathBuf>,
    /// Train on a shard set (`tools/partition STORE --shards OUT`), one rank per shard: rank r
    /// opens only shard r, draws its batches inside it and evaluates its nodes. --nproc defaults
    /// to the shard count.
    #[arg(long, value_name = "OUT")]
    shards: Option<PathBuf>,
    /// Run settings, each replacing the base's (defaults, --recipe or --config).
    #[command(flatten)]
    settings: Settings,
    /// Start from a recipe: a name (see above) or a recipe file; flags given beside it win.
    #[arg(long, conflicts_with = "config")]
    recipe: Option<String>,
    /// Run folder.
    #[arg(long, default_value = "runs/latest")]
    out: PathBuf,
    /// Settings file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in --out from its latest checkpoint, with its own settings: --epochs,
    /// --device, --workers and the STORE's location may change; another value of any other
    /// setting is an error naming it.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Replace whatever run --out holds (all its files); without it a folder holding another run
    /// is refused.
    #[arg(long)]
    overwrite: bool,
    /// Print the summary as one JSON line.
    #[arg(long)]
    json: bool,
    /// Train data-parallel on N local ranks: starts N copies of this command through `mpirun`
    /// (oversubscribed as needed, allowed as root), each taking its share of every epoch's
    /// batches; gradients are averaged over the ranks. For several machines, start the ranks
    /// with the launcher yourself (`mpirun -np N --hostfile FILE tools/train ...` or Slurm's
    /// `srun -n N tools/train ...`) and leave --nproc out. Needs a build with MPI.
    #[arg(long, value_name = "N")]
    nproc: Option<usize>,
    /// libtorch intra-op threads of this process (default: libtorch's own; under a launcher,
    /// the cores divided among the machine's ranks).
    #[arg(long)]
    threads: Option<usize>,
    /// Seconds a rank waits in one collective for the others before it stops the job with an
    /// error (a rank lost or stuck).
    #[arg(long, default_value_t = 300)]
    dist_timeout: u64,
    /// How data-parallel ranks sum gradients: `mpi` through host memory (the default; any
    /// device), or `nccl` on the GPU, one GPU a rank (CUDA devices only; `--device cuda` gives
    /// local rank l the GPU l). The weights' broadcast and evaluation's sums use MPI either way.
    #[arg(long, value_enum, default_value_t = DistBackend::Mpi)]
    dist_backend: DistBackend,
    /// Reduce the gradients after the backward instead of overlapping the reduction of the
    /// reversible blocks' (RevGNN's, RevGAT's) with it (the same sums; for measuring what the
    /// overlap gains).
    #[arg(long)]
    no_overlap: bool,
    /// Write the weights the run starts from (drawn from --seed, after --group-init; a resumed
    /// run's are its checkpoint's) to FILE (safetensors, the names of RUN/best.safetensors)
    /// before training: to start another implementation from the same weights
    /// (tools/peers/revgat_reference.py --init-weights).
    #[arg(long, value_name = "FILE")]
    save_init: Option<std::path::PathBuf>,
}

/// The flags that set run settings (`RunConfig`'s fields, same names): each given one replaces
/// the base's value ([`Settings::apply`]).
#[derive(clap::Args)]
struct Settings {
    /// Model: revgnn, wt-revgnn, deq, resgnn or revgat (the authors' ogbn-arxiv RevGAT: --layers
    /// counts its input and output GAT layers, --hidden is heads x per-head channels; --conv plays
    /// no part).
    #[arg(long)]
    model: Option<ModelKind>,
    /// Convolution: sage, gcn, gat[:HEADS], gen[:softmax|max|mean|sum] or gcnii[:ALPHA:LAMBDA] (GCN
    /// with an initial residual and an identity map; default 0.1:0.5).
    #[arg(long)]
    conv: Option<ConvKind>,
    /// Blocks (0: an MLP of encoder and head).
    #[arg(long)]
    layers: Option<usize>,
    /// Hidden channels.
    #[arg(long)]
    hidden: Option<i64>,
    /// Groups of the reversible models.
    #[arg(long)]
    groups: Option<i64>,
    /// Dropout probability.
    #[arg(long, allow_negative_numbers = true)]
    dropout: Option<f64>,
    /// Learning rate.
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Optimiser: adam (the default) or rmsprop (PyTorch's defaults: alpha 0.99, eps 1e-8; the
    /// authors' ogbn-arxiv RevGAT).
    #[arg(long)]
    optimizer: Option<Rule>,
    /// Epochs of linear learning-rate warm-up: epoch e of the first N trains with lr * e / N
    /// (the authors' ogbn-arxiv code: 50). Default 0, none.
    #[arg(long, value_name = "EPOCHS")]
    warmup: Option<u64>,
    /// Per-node loss of multi-class nodes: ce (the default) or logce (ln(eps + CE) - ln(eps),
    /// eps = 1 - ln 2: the authors' ogbn-arxiv loss).
    #[arg(long)]
    loss: Option<LossKind>,
    /// Which evaluated epoch's weights are kept: valid-metric (the highest validation accuracy
    /// or ROC-AUC; valid-acc says the same; the default) or valid-loss (the lowest validation
    /// loss, the authors' ogbn-arxiv selection).
    #[arg(long, value_parser = Select::parse)]
    select: Option<Select>,
    /// RevGAT: attention heads (default 3).
    #[arg(long)]
    heads: Option<i64>,
    /// RevGAT: the share of edges every GAT layer drops in a training pass (the authors' 0.3;
    /// default 0).
    #[arg(long, value_name = "RATE", allow_negative_numbers = true)]
    edge_drop: Option<f64>,
    /// RevGAT: how its reversible blocks draw the edges they drop: windows (one permutation a
    /// pass, each block a rotated window of it: memory flat in depth; the default, a departure)
    /// or per-block (a permutation per block, the authors'; the kept entries of every block
    /// held for the backward, one byte an edge a block).
    #[arg(long, value_name = "HOW")]
    edge_drop_draw: Option<EdgeDraw>,
    /// RevGAT: the norm of its group functions and before its head: batch (BatchNorm, the
    /// authors'; the default) or layer (LayerNorm, a departure for ablations).
    #[arg(long)]
    norm: Option<BlockNorm>,
    /// RevGAT: degree scaling of the GAT layers: symmetric (sources by out-degree^-1/2 before
    /// the scores, results by in-degree^1/2: the authors' --use-norm; the default) or none.
    #[arg(long)]
    gat_norm: Option<GatNorm>,
    /// RevGAT: give the attention score a destination term (the authors' ogbn-arxiv commands
    /// leave it out, --no-attn-dst; default false).
    #[arg(long, value_name = "BOOL")]
    attn_dst: Option<bool>,
    /// RevGAT: every GAT layer adds a bias-free linear map of its input (the authors'; default
    /// true).
    #[arg(long, value_name = "BOOL")]
    gat_residual: Option<bool>,
    /// Labels as input (the authors' ogbn-arxiv trick): each epoch the one-hot labels of a
    /// random --mask-rate share of the training nodes are appended to the input and the loss is
    /// taken on the other training nodes; evaluation and multi-view inference show every
    /// training label. Multi-class stores. `--use-labels false` turns a recipe's off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    use_labels: Option<bool>,
    /// With --use-labels: the share of training nodes whose labels are shown each epoch (default
    /// 0.5, the authors').
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    mask_rate: Option<f64>,
    /// Label reuse passes (the authors' --n-label-iters, 1 on ogbn-arxiv): the model's class
    /// probabilities of the nodes whose labels are hidden go into their label columns and the
    /// model runs again; in training the passes before the last keep no gradients. Needs
    /// --use-labels.
    #[arg(long, value_name = "N")]
    label_reuse: Option<usize>,
    /// Self-knowledge distillation: learn from this finished run's predictions.npy (its
    /// selected epoch's logits) as well as the labels, over every node of each batch. The
    /// teacher must have trained on the same store and split; its path and checksum go into
    /// this run's config.toml. Train the teacher first, then the student with the same
    /// settings and seed (the authors' SelfKD).
    #[arg(long, value_name = "RUN")]
    teacher: Option<PathBuf>,
    /// With --teacher: the KD term's weight alpha in (1 - alpha) loss + alpha T^2 KL (default
    /// 0.95, the authors' SelfKD command).
    #[arg(long, value_name = "A", allow_negative_numbers = true)]
    kd_alpha: Option<f64>,
    /// With --teacher: the softmax temperature T (default 0.7, the authors').
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    kd_temperature: Option<f64>,
    /// With --teacher: how the KL divergence is averaged: mean (over nodes x classes: PyTorch's
    /// KLDivLoss() default, the authors'; the default) or batchmean (over nodes, a departure).
    #[arg(long)]
    kd_reduction: Option<KdReduction>,
    /// L2 weight decay.
    #[arg(long, allow_negative_numbers = true)]
    weight_decay: Option<f64>,
    /// L2 weight decay of the convolutions alone (--weight-decay then applies to the rest):
    /// GCNII's 0.01 beside 5e-4.
    #[arg(long, allow_negative_numbers = true)]
    conv_weight_decay: Option<f64>,
    /// Dropout on the input features before the encoder (GCNII's first dropout; default 0).
    #[arg(long, allow_negative_numbers = true)]
    input_dropout: Option<f64>,
    /// Gradient-norm clipping (0: off).
    #[arg(long, allow_negative_numbers = true)]
    clip: Option<f64>,
    /// Epochs.
    #[arg(long)]
    epochs: Option<u64>,
    /// Training batches (parts) per epoch: cluster, metis and store-parts batching (default 10).
    #[arg(long)]
    parts: Option<u32>,
    /// cluster or random (random clusters redrawn every epoch, --parts), metis (METIS clusters,
    /// Cluster-GCN: --parts, --metis-parts), store-parts (the parts of a store relabelled by
    /// `tools/partition --relabel`, read part by part: for stores whose features do not fit in
    /// memory; evaluation then uses the same parts), full (the whole graph), neighbor
    /// (GraphSAGE's neighbour sampling from the training nodes, with --fanouts and --batch-size;
    /// evaluation stays multi-view), saint-walk or saint (GraphSAINT's random-walk subgraphs
    /// with its loss and aggregator normalisation, with --roots, --walk-length and --coverage;
    /// sage or gcn convolutions), or saint-node (GraphSAINT's node sampler, with --budget and
    /// --coverage). Another sampler than the base's (a recipe's, a resumed run's) starts from
    /// its defaults; a flag of another sampler is an error. `--sampler` says the same.
    #[arg(long, alias = "sampler")]
    batching: Option<SamplerKind>,
    /// Neighbour sampling: in-neighbours drawn per node, hop by hop (default 25,10).
    #[arg(long, value_delimiter = ',')]
    fanouts: Option<Vec<u32>>,
    /// Neighbour sampling: seed nodes per batch (default 1024).
    #[arg(long)]
    batch_size: Option<usize>,
    /// GraphSAINT: random walks (from training nodes) per batch (default 3000).
    #[arg(long)]
    roots: Option<usize>,
    /// GraphSAINT: steps per walk (default 2).
    #[arg(long)]
    walk_length: Option<usize>,
    /// GraphSAINT: subgraphs pre-sampled for the normalisation, as multiples of the node count
    /// in subgraph nodes (default 50).
    #[arg(long)]
    coverage: Option<u32>,
    /// GraphSAINT's node sampler: training nodes drawn (by in-degree) per batch (default 8000).
    #[arg(long)]
    budget: Option<usize>,
    /// METIS clusters, with --batching metis (default 10 x --parts).
    #[arg(long)]
    metis_parts: Option<u32>,
    /// Views of the final multi-view inference.
    #[arg(long)]
    views: Option<u32>,
    /// Parts per evaluation view.
    #[arg(long)]
    eval_parts: Option<u32>,
    /// Evaluate (single view) every N epochs.
    #[arg(long)]
    eval_every: Option<u64>,
    /// Seed.
    #[arg(long)]
    seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long)]
    device: Option<String>,
    /// Loader worker threads.
    #[arg(long)]
    workers: Option<usize>,
    /// Split to train on (default: the store's first).
    #[arg(long)]
    split: Option<String>,
    /// Feature normalisation: none or row.
    #[arg(long)]
    feature_norm: Option<FeatureNorm>,
    /// DEQ: most Broyden iterations.
    #[arg(long)]
    deq_max_iter: Option<usize>,
    /// DEQ: relative residual tolerance.
    #[arg(long)]
    deq_tol: Option<f64>,
    /// DEQ: epochs trained first with the block unrolled --pretrain-steps times under plain
    /// autograd (the authors' pretraining) before the equilibrium solver takes over.
    #[arg(long)]
    pretrain_epochs: Option<u64>,
    /// DEQ: unrolled steps during the pretraining epochs (default 3).
    #[arg(long)]
    pretrain_steps: Option<usize>,
    /// Add a self loop to every node of every batch: true (PyG's products example) or false
    /// (the authors' ogbn-proteins code). Default true.
    #[arg(long, value_name = "BOOL")]
    self_loops: Option<bool>,
    /// Node input: stored (the store's node features; for ogbn-proteins' layout the full-graph
    /// sums of edge features) or batch-edge-mean (each node's mean of its in-batch edges'
    /// features: mille's ogbn-proteins input before).
    #[arg(long)]
    node_features: Option<NodeFeatures>,
    /// Reversible models' dropout mask: per-group (one [N, H] mask per forward, a chunk per
    /// group, the same in every block: the authors' and PyG's; the default), shared (one
    /// [N, H/G] mask for every group) or per-block (every block its own, as GCNII's per-layer
    /// dropout: one draw rolled per block, rebuilt in the backward).
    #[arg(long)]
    dropout_mask: Option<DropoutMask>,
    /// Node arrays fed as one-hot inputs through their own Linear(C, C), e.g. species
    /// (comma-separated; the store's node/<name> arrays).
    #[arg(long, value_delimiter = ',')]
    node_categorical: Option<Vec<String>>,
    /// How GEN encodes edge features: per-conv (each convolution's own Linear; the default) or
    /// network (one Linear(E, H) for the network, then each convolution's Linear(H, H/G): the
    /// authors' ogbn-proteins model).
    #[arg(long)]
    edge_encoder: Option<EdgeEncoder>,
    /// Reversible blocks' groups: independent initialisations (the default) or copy (each group
    /// starts as a copy of the first, as the authors' code does).
    #[arg(long)]
    group_init: Option<GroupInit>,
    /// Parts of the single-view evaluation during training (default --eval-parts; the authors
    /// select on 5 parts and report 10 views x 3).
    #[arg(long)]
    train_eval_parts: Option<u32>,
    /// Batches whose gradients are averaged per optimiser step (per rank; default 1).
    #[arg(long)]
    accumulate: Option<usize>,
}

/// `--dist-backend`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DistBackend {
    Mpi,
    Nccl,
}

/// Starts `nproc` ranks of this very command through `mpirun` (without `--nproc`), and exits
/// with the job's status.
fn launch(nproc: usize) -> anyhow::Result<()> {
    anyhow::ensure!(mille_dist::HAS_MPI, "--nproc {nproc}: {}", mille_dist::HOW_TO_GET_MPI);
    let exe = std::env::current_exe()?;
    let mut args = Vec::new();
    let mut skip = false;
    for a in std::env::args_os().skip(1) {
        let s = a.to_string_lossy();
        if skip {
            skip = false;
        } else if s == "--nproc" {
            skip = true;
        } else if !s.starts_with("--nproc=") {
            args.push(a);
        }
    }
    let status = mille_dist::launch_command(nproc, &exe, &args)
        .status()
        .map_err(|e| anyhow::anyhow!("--nproc {nproc}: could not start mpirun ({e}); install OpenMPI's openmpi-bin"))?;
    std::process::exit(status.code().unwrap_or(1));
}

impl Settings {
    /// Every flag given replaces the setting in `c`; on --resume the trainer then refuses any
    /// that differs from the run's saved value where it decides the result
    /// (`RunConfig::resumed_with`).
    fn apply(&self, c: &mut RunConfig) -> anyhow::Result<()> {
        let a = self;
        macro_rules! set {
            ($($f:ident),*) => { $(if let Some(v) = &a.$f { c.$f = v.clone(); })* };
        }
        set!(model, conv, layers, hidden, groups, dropout, lr, weight_decay, clip, epochs, views);
        set!(eval_parts, eval_every, seed, device, workers, deq_max_iter, deq_tol, feature_norm, accumulate);
        set!(pretrain_epochs, pretrain_steps, self_loops, dropout_mask, node_categorical, edge_encoder, group_init);
        set!(node_features, input_dropout, optimizer, warmup, loss, select, mask_rate, label_reuse);
        set!(heads, edge_drop, edge_drop_draw, gat_norm, attn_dst, gat_residual, use_labels);
        // The settings that are themselves optional are replaced only when given.
        macro_rules! set_some {
            ($($f:ident),*) => { $(if a.$f.is_some() { c.$f = a.$f.clone(); })* };
        }
        set_some!(conv_weight_decay, train_eval_parts, split, norm);
        let sampler = SamplerOptions {
            kind: a.batching,
            parts: a.parts,
            metis_parts: a.metis_parts,
            fanouts: a.fanouts.clone(),
            batch_size: a.batch_size,
            replace: None,
            roots: a.roots,
            walk_length: a.walk_length,
            coverage: a.coverage,
            budget: a.budget,
        };
        c.sampler = c.sampler.clone().with(&sampler, true).map_err(|e| anyhow::anyhow!("{e}"))?;
        // `--node-categorical ''` clears a recipe's list.
        c.node_categorical.retain(|n| !n.is_empty());
        if let Some(run) = a.teacher.clone() {
            // A resumed student given its teacher again keeps the recorded checksum; another
            // run keeps a recipe's alpha, temperature and reduction.
            let same = |t: &TeacherConfig| t.run == run || std::fs::canonicalize(&run).ok().as_ref() == Some(&t.run);
            c.teacher = Some(match c.teacher.take() {
                Some(t) if same(&t) => t,
                Some(t) => TeacherConfig { run, checksum: None, ..t },
                None => TeacherConfig::new(run),
            });
        }
        match &mut c.teacher {
            Some(t) => {
                (t.alpha, t.temperature) = (a.kd_alpha.unwrap_or(t.alpha), a.kd_temperature.unwrap_or(t.temperature));
                t.reduction = a.kd_reduction.unwrap_or(t.reduction);
            }
            None => anyhow::ensure!(
                a.kd_alpha.is_none() && a.kd_temperature.is_none() && a.kd_reduction.is_none(),
                "--kd-alpha, --kd-temperature and --kd-reduction set the distillation from a --teacher RUN; give one"
            ),
        }
        Ok(())
    }
}

mille_tools::use_jemalloc!();

fn main() {
    mille_tools::run(|| {
        let mut a = Args::parse();
        anyhow::ensure!(a.threads != Some(0), "--threads must be at least 1 (libtorch's intra-op threads)");
        anyhow::ensure!(a.nproc != Some(0), "--nproc must be at least 1 (data-parallel ranks)");
        let launched = mille_dist::launched_ranks();
        if let Some(n) = ranks_to_start(&mut a, launched)? {
            return launch(n);
        }
        let world = mille_dist::World::from_env(std::time::Duration::from_secs(a.dist_timeout))?;
        set_threads(a.threads, &world);
        let c = resolve(&a)?;
        run(&a, c, world)
    })
}

/// How many ranks this command must start itself (`--nproc`, a shard set's shard count, or a
/// resumed shard run's), or `None` to train here: alone, or as a rank a launcher started.
fn ranks_to_start(a: &mut Args, launched: Option<usize>) -> anyhow::Result<Option<usize>> {
    // A shard set needs one rank per shard: started alone, start them.
    if let (Some(dir), None, None) = (&a.shards, a.nproc, launched) {
        a.nproc = Some(mille_partition::ShardSet::open(dir)?.len());
    }
    let saved = a.out.join("config.toml");
    if let (true, None, None, true) = (a.resume, a.nproc, launched, saved.exists()) {
        let c = RunConfig::load(&saved)?;
        if c.sharded {
            a.nproc = Some(c.nproc);
        }
    }
    match (a.nproc, launched) {
        (Some(n), None) if n > 1 => Ok(Some(n)),
        (Some(n), Some(m)) if n != m => {
            anyhow::bail!("--nproc {n}, but the launcher started {m} ranks (leave --nproc out under a launcher)")
        }
        _ => Ok(None),
    }
}

/// libtorch's intra-op threads: `--threads`, or under a launcher the machine's cores divided
/// among its ranks (libtorch's threads spin, and two processes each using every core slow each
/// other 10-20x).
fn set_threads(threads: Option<usize>, world: &mille_dist::World) {
    let threads = threads.or_else(|| {
        let local = std::env::var("OMPI_COMM_WORLD_LOCAL_SIZE").ok().and_then(|v| v.parse::<usize>().ok());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (world.size() > 1).then(|| (cores / local.unwrap_or(world.size())).max(1))
    });
    if let Some(t) = threads {
        tch::set_num_threads(t as i32);
    }
}

/// The run's settings, resolved once from the command line: the base (defaults, a recipe, a
/// settings file, or on --resume the run's saved config.toml), then the flags given. The
/// trainer only merges them with the saved run's on --resume. A recipe's store is checked here,
/// before anything is written.
fn resolve(a: &Args) -> anyhow::Result<RunConfig> {
    let saved = a.out.join("config.toml");
    let given_store = a.store.as_ref().or(a.shards.as_ref());
    let (mut c, recipe) = match (&a.config, &a.recipe, a.resume && saved.exists()) {
        (_, _, true) => (RunConfig::load(&saved)?, None),
        (Some(f), None, false) => {
            // A whole config.toml names its store; a partial one needs the STORE argument.
            let base = RunConfig::new(given_store.cloned().unwrap_or_default());
            let c = Recipe::load(f)?.apply(base, &f.display().to_string())?;
            anyhow::ensure!(
                !c.store.as_os_str().is_empty(),
                "{} names no store: give the STORE to train on",
                f.display()
            );
            (c, None)
        }
        (None, Some(name), false) => {
            let Some(s) = given_store else {
                anyhow::bail!("--recipe {name}: give the STORE to train on");
            };
            let r = Recipe::find(name)?;
            (r.apply(RunConfig::new(s), &format!("recipe {name}"))?, Some(r))
        }
        (None, None, false) => match given_store {
            Some(s) => (RunConfig::new(s), None),
            None => anyhow::bail!("give the STORE to train on (or --config FILE, --recipe NAME, or --resume)"),
        },
        (Some(_), Some(_), false) => unreachable!("clap refuses --config with --recipe"),
    };
    if let Some(s) = a.store.clone() {
        c.store = s;
    }
    if let Some(s) = a.shards.clone() {
        (c.store, c.sharded) = (s, true);
    }
    a.settings.apply(&mut c)?;
    if let Some(r) = &recipe {
        // The wrong kind of store is refused before anything is written.
        let store = match c.sharded {
            true => mille_partition::ShardSet::open(&c.store)?.open_shard(0)?,
            false => mille_pipeline::Store::open(&c.store)?,
        };
        r.check_store(&store)?;
    }
    Ok(c)
}

/// Starts (or resumes) the run `c` in --out, trains it and reports.
fn run(a: &Args, c: RunConfig, world: mille_dist::World) -> anyhow::Result<()> {
    if a.dist_backend == DistBackend::Nccl {
        // Refused before the run folder is made (the trainer checks again, after a resume
        // has read the saved device).
        mille_train::device::nccl_gpu(mille_train::device::resolve(&c.device)?)?;
    }
    let asked = c.device.clone();
    let fresh = !a.out.exists();
    let root = world.is_root();
    if fresh && root {
        // Killed before its first checkpoint, a new run leaves nothing behind.
        mille_tools::signals::remove_on_signal(&a.out, Some(&a.out.join("checkpoint.json")));
    }
    let start = match (a.resume, a.overwrite) {
        (true, _) => Start::Resume,
        (false, true) => Start::Overwrite,
        (false, false) => Start::Fresh,
    };
    let mut t = Trainer::start(c, &a.out, start, world)?;
    t.overlap = !a.no_overlap;
    if a.dist_backend == DistBackend::Nccl {
        t.use_nccl()?;
    }
    if !root {
        // Rank 0 reports for the job; the others train quietly.
        t.fit()?;
        return Ok(());
    }
    t.progress = Box::new(run_progress::RunProgress::new(mille_tools::interactive() && !a.json, a.json));
    fit_and_report(t, a, &asked, fresh)
}

/// The trainer's current weights into `file` as safetensors, whole or not at all (written
/// beside it, then renamed; tch picks the format by the extension, so the partial file keeps
/// `.safetensors`).
fn save_weights(t: &Trainer, file: &std::path::Path) -> anyhow::Result<()> {
    let name = file.file_name().with_context(|| format!("--save-init {}: not a file name", file.display()))?;
    let partial = file.with_file_name(format!(".{}.partial.safetensors", name.to_string_lossy()));
    t.var_store().save(&partial).with_context(|| format!("--save-init: writing {}", file.display()))?;
    std::fs::rename(&partial, file).with_context(|| format!("--save-init: writing {}", file.display()))
}

/// Rank 0's part: says which device trains, trains, and prints the summary and plots; a run
/// that failed before its first checkpoint is removed.
fn fit_and_report(mut t: Trainer, a: &Args, asked: &str, fresh: bool) -> anyhow::Result<()> {
    if asked == "auto" {
        let why =
            if t.device().is_cuda() { String::new() } else { format!(": {}", mille_train::device::cuda_status()) };
        eprintln!("device: auto chose {}{why}", t.device_name());
    } else {
        eprintln!("device: {}", t.device_name());
    }
    let saved = a.save_init.as_deref().map_or(Ok(()), |file| save_weights(&t, file));
    let s = match saved.and_then(|()| t.fit()) {
        Ok(s) => s,
        Err(e) => {
            // A run that failed before its first checkpoint leaves nothing behind: the
            // folder this call made holds only its config and would look resumable.
            if fresh && !a.out.join("checkpoint.json").exists() {
                drop(t);
                let _ = std::fs::remove_dir_all(&a.out);
            }
            return Err(e);
        }
    };
    let plots = mille_tools::plot::run_plots(&a.out, &s.metric)?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        print_summary(&s, &a.out);
        for p in plots {
            println!("  plot: {}", p.display());
        }
    }
    Ok(())
}

/// Prints a finished run's summary as a small table.
fn print_summary(s: &mille_train::run::Summary, run: &std::path::Path) {
    println!("run {} ({} x {} layers, {} channels, {})", run.display(), s.model, s.layers, s.hidden, s.device);
    println!("  {:<28} {:>8} {:>8} {:>8}", s.metric, "train", "valid", "test");
    println!(
        "  {:<28} {:>8.4} {:>8.4} {:>8.4}",
        format!("single view (best epoch {})", s.best_epoch),
        s.train,
        s.valid,
        s.test
    );
    let mv = format!("multi-view ({} x {} parts)", s.views, s.eval_parts);
    println!("  {:<28} {:>8.4} {:>8.4} {:>8.4}", mv, s.multi_view.train, s.multi_view.valid, s.multi_view.test);
    println!(
        "  parameters {}   seconds/epoch (median) {:.2}   peak memory {}",
        s.params,
        s.epoch_seconds_median,
        mille_tools::human_bytes(s.peak_memory_bytes)
    );
    if let Some(sh) = &s.sharding {
        println!(
            "  sharded over {} ranks: {} of {} entries lost to the cut ({:.2} %), {} nodes evaluated",
            sh.shards,
            sh.lost_edges,
            sh.edges,
            100.0 * sh.lost_fraction,
            s.evaluated_nodes
        );
    }
}
