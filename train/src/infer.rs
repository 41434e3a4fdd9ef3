//! Multi-view inference: every view is an independent partition of the graph; a node's logits
//! are averaged over the views it was predicted in, then scored with the dataset's metric.

use crate::feed::{Fed, Feed};
use crate::graph::NodeInputs;
use crate::metric;
use crate::model::Model;
use mille_loader::Loader;
use mille_pipeline::{Labels, Store};
use tch::{Device, Kind, Tensor};

/// Sums of per-view logits and how many views saw each node.
#[derive(Debug, Clone)]
pub struct ViewAverage {
    /// Output width.
    pub dim: usize,
    sum: Vec<f32>,
    count: Vec<u32>,
}

impl ViewAverage {
    /// Empty, for `n` nodes of `dim` outputs.
    pub fn new(n: usize, dim: usize) -> ViewAverage {
        ViewAverage { dim, sum: vec![0.0; n * dim], count: vec![0; n] }
    }

    /// Adds one batch's logits (`nodes.len() x dim`, row-major) for global `nodes`.
    pub fn add(&mut self, nodes: &[u32], logits: &[f32]) {
        for (i, &v) in nodes.iter().enumerate() {
            let v = v as usize;
            for (s, l) in self.sum[v * self.dim..(v + 1) * self.dim].iter_mut().zip(&logits[i * self.dim..]) {
                *s += l;
            }
            self.count[v] += 1;
        }
    }

    /// Every rank's sums and counts added up (each rank predicted its share of the batches), so
    /// every rank holds the whole average.
    pub fn all_reduce(&mut self, world: &mille_dist::World) {
        if world.size() == 1 {
            return;
        }
        world.all_reduce_sum(&mut self.sum);
        // Counts are at most the number of views: exact as floats.
        let mut count: Vec<f32> = self.count.iter().map(|&c| c as f32).collect();
        world.all_reduce_sum(&mut count);
        self.count = count.into_iter().map(|c| c as u32).collect();
    }

    /// Nodes predicted in at least one view.
    pub fn seen(&self) -> usize {
        self.count.iter().filter(|&&c| c > 0).count()
    }

    /// Per-node mean logits (`n x dim`); nodes never seen stay 0. Divides the sums in place:
    /// at ogbn-products scale they are half a gigabyte.
    pub fn into_mean(mut self) -> Vec<f32> {
        for (v, &c) in self.count.iter().enumerate() {
            if c > 1 {
                for x in &mut self.sum[v * self.dim..(v + 1) * self.dim] {
                    *x /= c as f32;
                }
            }
        }
        self.sum
    }
}

/// Runs `model` over every batch of `loader`'s epoch `epoch` (a [`mille_loader::PlanSpec::Views`]
/// plan for multi-view inference) and averages each node's logits over the views.
pub fn predict(
    model: &Model,
    loader: &Loader,
    epoch: u64,
    device: Device,
    inputs: impl Into<NodeInputs>,
    each: impl FnMut(),
) -> anyhow::Result<ViewAverage> {
    predict_in(&mille_dist::World::single(), model, loader, epoch, device, inputs, each)
}

/// [`predict`] as one rank of `world`: rank r predicts batches r, r + W, ... and the sums are
/// added up over the ranks, so each rank ends with every node's average.
pub fn predict_in(
    world: &mille_dist::World,
    model: &Model,
    loader: &Loader,
    epoch: u64,
    device: Device,
    inputs: impl Into<NodeInputs>,
    mut each: impl FnMut(),
) -> anyhow::Result<ViewAverage> {
    let n = loader.store().num_nodes();
    let mut avg = ViewAverage::new(n, model.config().out_dim as usize);
    let inputs: NodeInputs = inputs.into();
    let labels = inputs.labels.clone();
    let mut feed = Feed::new(loader.epoch_share(epoch, world.rank(), world.size()), device, inputs)?;
    while let Some(fed) = feed.next_batch() {
        let Fed { batch, graph: g } = fed?;
        let x = crate::labels::reused_input(&g, labels.as_deref(), |x| model.logits(&g.adj, x));
        let logits = model.logits(&g.adj, &x).to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
        let flat: Vec<f32> = logits.reshape([-1]).try_into().expect("float logits");
        avg.add(&batch.nodes, &flat);
        feed.recycle(batch);
        each();
    }
    avg.all_reduce(world);
    Ok(avg)
}

/// Scores on train / valid / test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scores {
    /// Training nodes.
    pub train: f64,
    /// Validation nodes.
    pub valid: f64,
    /// Test nodes.
    pub test: f64,
    /// The validation nodes' mean loss (the run's `--loss`), where the trainer computed it:
    /// what `--select valid-loss` keeps the lowest of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_loss: Option<f64>,
}

/// How a dataset is scored (OGB's metric names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Accuracy of the arg-max class (multi-class labels).
    Acc,
    /// Mean ROC-AUC over tasks (multi-label, binary tasks).
    Rocauc,
}

mille_pipeline::choices!(Metric { Acc => "acc", Rocauc => "rocauc" });

/// The store's metric (`meta.metric`, the catalog's), checked against its labels: mille scores
/// `acc` on one class per node and `rocauc` on binary tasks. Without one, the labels decide.
pub fn metric(store: &Store) -> anyhow::Result<Metric> {
    let fits = match store.labels() {
        Some(Labels::MultiLabel(_)) => Metric::Rocauc,
        _ => Metric::Acc,
    };
    let Some(name) = &store.meta().metric else { return Ok(fits) };
    let meta = store.path().join(mille_pipeline::store::META_FILE);
    let m: Metric = name.parse().map_err(|e| anyhow::anyhow!("{}: metric {e}", meta.display()))?;
    anyhow::ensure!(
        m == fits,
        "{}: metric {m} does not fit the store's {} labels (expected {fits})",
        meta.display(),
        if fits == Metric::Acc { "multi-class" } else { "multi-label" }
    );
    Ok(m)
}

/// The store's metric name, `acc` or `rocauc` (see [`crate::metric`]).
pub fn metric_name(store: &Store) -> anyhow::Result<&'static str> {
    Ok(metric(store)?.name())
}

/// Scores `logits` (`n x dim`) on the split's three sets with the dataset's metric.
pub fn score(store: &Store, split: Option<&str>, logits: &[f32], dim: usize) -> anyhow::Result<Scores> {
    let split = split_of(store, split)?;
    let rows = |ids: &[u32]| ids.iter().map(|&v| v as usize).collect::<Vec<_>>();
    let labels = store.labels().ok_or_else(|| anyhow::anyhow!("store {} has no labels", store.path().display()))?;
    let f = |ids: &[u32]| match labels {
        Labels::MultiClass(y) => metric::accuracy(logits, dim, y, &rows(ids)),
        Labels::MultiLabel(y) => metric::mean_roc_auc(logits, y.data, y.cols, &rows(ids)),
    };
    Ok(Scores { train: f(split.train), valid: f(split.valid), test: f(split.test), valid_loss: None })
}

/// The split `split` of `store`, or its first.
fn split_of<'a>(store: &'a Store, split: Option<&str>) -> anyhow::Result<mille_pipeline::Split<'a>> {
    match split {
        Some(s) => Ok(store.split(s)?),
        None => store.default_split().ok_or_else(|| anyhow::anyhow!("store {} has no split", store.path().display())),
    }
}

/// [`score`] over the shards of a sharded job (one rank alone: [`score`]): each rank holds the logits of its own shard's
/// nodes (`store`), and the scores are those of all nodes together. Accuracy adds up the ranks'
/// hits and counts; ROC-AUC, which ranks all scores together, gathers every rank's rows of the
/// three sets (logits and labels) first.
pub fn score_shards(
    world: &mille_dist::World,
    store: &Store,
    split: Option<&str>,
    logits: &[f32],
    dim: usize,
) -> anyhow::Result<Scores> {
    if world.size() == 1 {
        return score(store, split, logits, dim);
    }
    let split = split_of(store, split)?;
    let sets = [split.train, split.valid, split.test];
    let rows = |ids: &[u32]| ids.iter().map(|&v| v as usize).collect::<Vec<_>>();
    let labels = store.labels().ok_or_else(|| anyhow::anyhow!("store {} has no labels", store.path().display()))?;
    let mut out = [f64::NAN; 3];
    match labels {
        Labels::MultiClass(y) => {
            let mut counts = [0.0f64; 6];
            for (i, ids) in sets.iter().enumerate() {
                counts[2 * i] = metric::hits(logits, dim, y, &rows(ids)) as f64;
                counts[2 * i + 1] = ids.len() as f64;
            }
            world.all_reduce_sum_f64(&mut counts);
            for (i, o) in out.iter_mut().enumerate() {
                if counts[2 * i + 1] > 0.0 {
                    *o = counts[2 * i] / counts[2 * i + 1];
                }
            }
        }
        Labels::MultiLabel(y) => {
            for (i, ids) in sets.iter().enumerate() {
                let mut l = Vec::with_capacity(ids.len() * dim);
                let mut t = Vec::with_capacity(ids.len() * dim);
                for &v in *ids {
                    let v = v as usize;
                    l.extend_from_slice(&logits[v * dim..(v + 1) * dim]);
                    t.extend(y.data[v * dim..(v + 1) * dim].iter().map(|&b| b as f32));
                }
                let (l, t) = (concat(world, &l), concat(world, &t));
                let t: Vec<i8> = t.iter().map(|&b| b as i8).collect();
                let all: Vec<usize> = (0..t.len() / dim).collect();
                out[i] = metric::mean_roc_auc(&l, &t, dim, &all);
            }
        }
    }
    Ok(Scores { train: out[0], valid: out[1], test: out[2], valid_loss: None })
}

/// The mean loss (`kind`, see [`crate::loss::host_sum`]) of `logits` on the split's validation
/// nodes, over every rank's nodes of a sharded job (one rank alone: its own); NaN without any.
pub fn valid_loss_shards(
    world: &mille_dist::World,
    store: &Store,
    split: Option<&str>,
    logits: &[f32],
    dim: usize,
    kind: crate::loss::LossKind,
) -> anyhow::Result<f64> {
    let split = split_of(store, split)?;
    let labels = store.labels().ok_or_else(|| anyhow::anyhow!("store {} has no labels", store.path().display()))?;
    let rows: Vec<usize> = split.valid.iter().map(|&v| v as usize).collect();
    let (sum, count) = crate::loss::host_sum(kind, logits, dim, &labels, &rows);
    let mut both = [sum, count];
    world.all_reduce_sum_f64(&mut both);
    Ok(if both[1] > 0.0 { both[0] / both[1] } else { f64::NAN })
}

/// Every rank's `local` values, concatenated in rank order, on every rank: each rank fills its
/// own range of a zeroed buffer and the buffers are summed (adding zeros is exact).
fn concat(world: &mille_dist::World, local: &[f32]) -> Vec<f32> {
    let mut sizes = vec![0.0f64; world.size()];
    sizes[world.rank()] = local.len() as f64;
    world.all_reduce_sum_f64(&mut sizes);
    let start: usize = sizes[..world.rank()].iter().map(|&s| s as usize).sum();
    let mut all = vec![0.0f32; sizes.iter().map(|&s| s as usize).sum()];
    all[start..start + local.len()].copy_from_slice(local);
    world.all_reduce_sum(&mut all);
    all
}

/// Writes `n x dim` logits as a float32 `.npy` file (readable by numpy and the `ogb` Evaluator).
pub fn write_npy(path: &std::path::Path, logits: &[f32], dim: usize) -> anyhow::Result<()> {
    use anyhow::Context;
    // Written under a hidden name beside it, then renamed: a full disk leaves no truncated file.
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "predictions.npy".into());
    let tmp = path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let t = Tensor::from_slice(logits).reshape([-1, dim as i64]);
    let written = t
        .write_npy(&tmp)
        .map_err(anyhow::Error::from)
        .and_then(|()| mille_pipeline::durable::sync_file(&tmp).map_err(anyhow::Error::from))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(anyhow::Error::from));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}
