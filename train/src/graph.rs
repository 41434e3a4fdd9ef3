//! A loader batch as tensors: features, labels, masks, and the batch graph in the forms the
//! convolutions need (sparse CSR operators, so SAGE/GCN aggregation is one sparse-dense product
//! and never an E x D temporary; entry columns and per-row reductions for GEN and GAT).
//!
//! Per-entry values are reduced into their rows with `segment_reduce` over the CSR row lengths
//! ([`RowReduce`]): the rows are sorted and their lengths known, so each row is reduced in order
//! by one thread, and the result repeats bit for bit. On CUDA that replaces `index_add`, whose
//! atomics make two runs differ in the last bits. On the CPU both are deterministic and the
//! faster one is taken per operation and width, as `tools/bench aggregate` measured them (see
//! [`RowReduce::Auto`]), so no CPU run got slower.
//!
//! A batch becomes tensors in two steps, so that a GPU upload can run on a side stream between
//! them ([`crate::feed`]): [`HostBatch`] holds the host tensors, [`HostBatch::assemble`] derives
//! what is computed on the device once they are there.

mod scatter;

use mille_loader::{Batch, BatchLabels};
use std::cell::OnceCell;
use tch::{Device, Kind, Tensor};

/// Labels of a batch as tensors.
#[derive(Debug)]
pub enum Targets {
    /// No labels.
    None,
    /// Class per node (int64, `-1` unlabelled).
    Classes(Tensor),
    /// Binary labels `[n, tasks]` as floats, with `[n, tasks]` bool "present" (not -1).
    Binary {
        /// Values 0/1.
        y: Tensor,
        /// Present entries.
        present: Tensor,
    },
}

/// One batch on a device.
#[derive(Debug)]
pub struct GraphTensors {
    /// Nodes.
    pub n: i64,
    /// Node features `[n, d]` (when the store has none but edge features exist: the mean of
    /// each node's incoming edge features, as DeeperGCN does for ogbn-proteins).
    pub x: Tensor,
    /// Labels.
    pub targets: Targets,
    /// Train / valid / test masks (bool `[n]`).
    pub train: Tensor,
    /// Validation mask.
    pub valid: Tensor,
    /// Test mask.
    pub test: Tensor,
    /// The batch graph.
    pub adj: Adjacency,
    /// Per-node loss weights (GraphSAINT's `S / (C_v T)`), when the batch has them: the loss is
    /// then their weighted sum over the training nodes instead of a mean.
    pub loss_weight: Option<Tensor>,
    /// With labels as input (`--use-labels`): the rows whose one-hot label is in `x` (bool
    /// `[n]`); the loss leaves them out, and label reuse rewrites the others' columns.
    pub labelled: Option<Tensor>,
}

/// The batch graph: CSR by destination (row `i` = edges into `i`). The operators a convolution
/// needs are built on first use and kept: SAGE never pays for GCN's operator or the per-entry
/// row ids (at ogbn-products scale each is a gigabyte).
#[derive(Debug)]
pub struct Adjacency {
    /// Nodes.
    pub n: i64,
    /// Source of each entry (int64 `[E]`).
    pub col: Tensor,
    /// In-degree `[n, 1]`, at least 1.
    pub deg: Tensor,
    /// Edge features `[E, d_e]`, when the batch has them.
    pub edge_attr: Option<Tensor>,
    /// Per-entry aggregator weights `[E]` (GraphSAINT's `1 / α`), when the batch has them: the
    /// SAGE and GCN operators multiply their values by them, and `deg` is then each node's
    /// full-graph degree, so both estimate the full graph's aggregation.
    pub weight: Option<Tensor>,
    /// Entries kept by edge drop (bool `[E]`), in a training pass that drops edges (RevGAT's
    /// `--edge-drop`): the attention's softmax runs over the kept entries only. Degrees stay
    /// the whole graph's.
    pub keep: Option<Tensor>,
    crow: Tensor,
    /// Entries per row (int64 `[n]`).
    counts: Tensor,
    /// Rows without entries (bool `[n, 1]`).
    empty: Tensor,
    kind: Kind,
    /// How rows are reduced.
    pub reduce: RowReduce,
    mean: OnceCell<Tensor>,
    sym: OnceCell<Tensor>,
    /// The operators' transposes, for their products' backward.
    mean_t: OnceCell<Tensor>,
    sym_t: OnceCell<Tensor>,
    /// Destination row of each entry, for [`RowReduce::IndexAdd`].
    row: OnceCell<Tensor>,
}

/// How per-entry values are reduced into their rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowReduce {
    /// `segment_reduce` on CUDA (deterministic). On the CPU, where both are deterministic, the
    /// faster of the two by `tools/bench aggregate` (50k nodes, 2.05M entries; segment time over
    /// index_add time, forward + backward / forward alone, for the whole GEN or GAT conv):
    /// - sums by `index_add` at any width (GEN sum conv: 1.25 / 1.37 at 16 channels, 1.33 / 1.54
    ///   at 32: a segment sum's forward is 1.5-2.6x slower);
    /// - maxima by segments up to [`RowReduce::MAX_SEGMENT_WIDTH`] channels (GEN max conv: 0.76 /
    ///   0.53 at 16, 0.87 / 0.82 at 32);
    /// - softmax by segments up to [`RowReduce::SOFTMAX_SEGMENT_WIDTH`] channels (GEN softmax
    ///   conv 0.97 / 0.96 at 16, 1.14 / 1.10 at 32; GAT's 4-head scores 0.74 / 0.55).
    Auto,
    /// Always `segment_reduce` over the CSR row lengths.
    Segment,
    /// Always `index_add` / `index_reduce` through per-entry row ids (the private `scatter` module).
    IndexAdd,
}

impl RowReduce {
    /// Widest values whose per-row maximum the CPU takes by segments under `Auto`.
    pub const MAX_SEGMENT_WIDTH: i64 = 32;
    /// Widest scores whose per-row softmax the CPU takes by segments under `Auto`.
    pub const SOFTMAX_SEGMENT_WIDTH: i64 = 16;
}

impl Adjacency {
    /// From a local CSR (entries by destination row), on `device`.
    pub fn new(indptr: &[u64], indices: &[u32], edge_attr: Option<(&[f32], usize)>, device: Device) -> Adjacency {
        HostGraph::new(indptr, indices, edge_attr).upload_with(&|t| upload(t, device)).assemble()
    }

    /// Number of entries (edges, self loops included).
    pub fn num_entries(&self) -> i64 {
        self.col.size()[0]
    }

    /// A per-row value repeated over the row's entries: `[n, ..] -> [E, ..]`, without per-entry
    /// row ids.
    pub fn per_entry(&self, v: &Tensor) -> Tensor {
        v.repeat_interleave_self_tensor(&self.counts, 0, self.num_entries())
    }

    fn csr(&self, values: &Tensor) -> Tensor {
        Tensor::sparse_csr_tensor_crow_col_value_size(
            &self.crow,
            &self.col,
            values,
            [self.n, self.n],
            (self.kind, self.col.device()),
        )
    }

    /// Entry values times the aggregator weights, when there are any.
    fn weighted(&self, values: Tensor) -> Tensor {
        match &self.weight {
            Some(w) => values * w,
            None => values,
        }
    }

    /// Mean aggregation operator, sparse CSR `[n, n]` with values `1/deg(i)` (times the entry's
    /// weight, if any).
    pub fn mean(&self) -> &Tensor {
        self.mean.get_or_init(|| self.csr(&self.weighted(self.per_entry(&self.deg.reciprocal().reshape([-1])))))
    }

    /// Symmetric GCN operator, values `1/sqrt(deg(i) deg(j))` (times the entry's weight, if any).
    pub fn sym(&self) -> &Tensor {
        self.sym.get_or_init(|| {
            let d = self.deg.rsqrt().reshape([-1]);
            self.csr(&self.weighted(self.per_entry(&d) * d.index_select(0, &self.col)))
        })
    }

    /// The same graph with float values of `kind` (e.g. double for finite-difference checks).
    pub fn to_kind(&self, kind: Kind) -> Adjacency {
        Adjacency {
            n: self.n,
            col: self.col.shallow_clone(),
            deg: self.deg.to_kind(kind),
            edge_attr: self.edge_attr.as_ref().map(|e| e.to_kind(kind)),
            weight: self.weight.as_ref().map(|w| w.to_kind(kind)),
            keep: self.keep.as_ref().map(Tensor::shallow_clone),
            crow: self.crow.shallow_clone(),
            counts: self.counts.shallow_clone(),
            empty: self.empty.shallow_clone(),
            kind,
            reduce: self.reduce,
            mean: OnceCell::new(),
            sym: OnceCell::new(),
            mean_t: OnceCell::new(),
            sym_t: OnceCell::new(),
            row: OnceCell::new(),
        }
    }

    /// `mean() @ h`, differentiable in `h`: when a gradient will flow, the backward multiplies
    /// by the operator's transpose, built once per batch (libtorch's own backward transposes
    /// the operator at every call: a sort of its entries; SAGE RevGNN-7 epochs 0.77 s instead
    /// of 1.0 s on a 50k-node graph, `../shared/peers/compare train`).
    pub fn mean_of(&self, h: &Tensor) -> Tensor {
        self.product(self.mean(), &self.mean_t, h)
    }

    /// `sym() @ h`, differentiable in `h` (as [`Adjacency::mean_of`]).
    pub fn sym_of(&self, h: &Tensor) -> Tensor {
        self.product(self.sym(), &self.sym_t, h)
    }

    fn product(&self, a: &Tensor, transposed: &OnceCell<Tensor>, h: &Tensor) -> Tensor {
        if !h.requires_grad() {
            return a.matmul(h);
        }
        let t = transposed.get_or_init(|| crate::autograd::csr_transpose(a));
        crate::autograd::csr_mm(a, t, h)
    }

    /// The same graph with only the entries `keep` (bool `[E]`) attended to (edge drop).
    pub fn with_keep(&self, keep: Tensor) -> Adjacency {
        Adjacency { keep: Some(keep), ..self.view() }
    }

    /// Out-degree of every node (entries whose source it is), as floats `[n]`.
    pub fn out_degrees(&self) -> Tensor {
        self.col.bincount::<Tensor>(None, self.n).to_kind(self.kind)
    }

    /// In-degree of every node (its row's entries), as floats `[n]`.
    pub fn in_degrees(&self) -> Tensor {
        self.counts.to_kind(self.kind)
    }

    /// The same graph with `edge_attr` as its edge features (a network-level edge encoding);
    /// the operators built so far are shared.
    pub fn with_edge_attr(&self, edge_attr: Tensor) -> Adjacency {
        Adjacency { edge_attr: Some(edge_attr), ..self.view() }
    }

    /// The same graph as a second value sharing its tensors and the operators built so far.
    fn view(&self) -> Adjacency {
        let keep = |c: &OnceCell<Tensor>| {
            let out = OnceCell::new();
            if let Some(t) = c.get() {
                let _ = out.set(t.shallow_clone());
            }
            out
        };
        Adjacency {
            n: self.n,
            col: self.col.shallow_clone(),
            deg: self.deg.shallow_clone(),
            edge_attr: self.edge_attr.as_ref().map(Tensor::shallow_clone),
            weight: self.weight.as_ref().map(Tensor::shallow_clone),
            keep: self.keep.as_ref().map(Tensor::shallow_clone),
            crow: self.crow.shallow_clone(),
            counts: self.counts.shallow_clone(),
            empty: self.empty.shallow_clone(),
            kind: self.kind,
            reduce: self.reduce,
            mean: keep(&self.mean),
            sym: keep(&self.sym),
            mean_t: keep(&self.mean_t),
            sym_t: keep(&self.sym_t),
            row: keep(&self.row),
        }
    }

    /// The same graph reduced by `reduce`.
    pub fn with_reduce(mut self, reduce: RowReduce) -> Adjacency {
        self.reduce = reduce;
        self
    }

    /// Destination of each entry (int64 `[E]`), ascending.
    pub fn row(&self) -> &Tensor {
        self.row.get_or_init(|| scatter::row_ids(self))
    }

    /// Whether `values` are reduced by segments; under `Auto` on the CPU, when they are at most
    /// `cpu_width` wide.
    fn by_segments(&self, values: &Tensor, cpu_width: i64) -> bool {
        match self.reduce {
            RowReduce::Segment => true,
            RowReduce::IndexAdd => false,
            RowReduce::Auto => values.device().is_cuda() || values.size().get(1).is_none_or(|&w| w <= cpu_width),
        }
    }

    /// Reduces entry values `[E, ..]` over each row's entries, in order: `[n, ..]`. `initial`
    /// starts every row's reduction (and is the value of rows without entries).
    fn segments(&self, values: &Tensor, reduce: &str, initial: f64) -> Tensor {
        // unsafe_ = true skips the check that the lengths add up to E (a device-to-host sync on
        // CUDA): `counts` comes from the CSR itself.
        Tensor::segment_reduce(values, reduce, Some(&self.counts), None, None, 0, true, initial)
    }

    /// Per-row softmax of entry scores `[E, k]` (max-shifted for stability).
    pub fn softmax(&self, scores: &Tensor) -> Tensor {
        if !self.by_segments(scores, RowReduce::SOFTMAX_SEGMENT_WIDTH) {
            return scatter::softmax(self, self.row(), scores);
        }
        let max = self.segments(&scores.detach(), "max", f64::NEG_INFINITY);
        let w = (scores - self.per_entry(&max)).exp();
        let den = self.segments(&w, "sum", 0.0);
        w / self.per_entry(&den).clamp_min(1e-16)
    }

    /// Sum of entry values `[E, d]` into their destination rows: `[n, d]`.
    pub fn sum_rows(&self, values: &Tensor) -> Tensor {
        if !self.by_segments(values, 0) {
            return scatter::sum_rows(self, self.row(), values);
        }
        self.segments(values, "sum", 0.0)
    }

    /// Channel-wise maximum of entry values `[E, d]` per destination row: `[n, d]`; rows without
    /// entries are 0. Ties share the gradient equally.
    pub fn max_rows(&self, values: &Tensor) -> Tensor {
        if !self.by_segments(values, RowReduce::MAX_SEGMENT_WIDTH) {
            return scatter::max_rows(self, self.row(), values);
        }
        self.segments(values, "max", f64::NEG_INFINITY).masked_fill(&self.empty, 0.0)
    }
}

/// The batch graph as host tensors, before upload.
#[derive(Debug)]
pub struct HostGraph {
    crow: Tensor,
    col: Tensor,
    counts: Tensor,
    deg: Tensor,
    empty: Tensor,
    edge_attr: Option<Tensor>,
    weight: Option<Tensor>,
}

impl HostGraph {
    /// From a local CSR (entries by destination row) and optional per-entry features.
    pub fn new(indptr: &[u64], indices: &[u32], edge_attr: Option<(&[f32], usize)>) -> HostGraph {
        let n = (indptr.len() - 1) as i64;
        let counts: Vec<i64> = indptr.windows(2).map(|w| (w[1] - w[0]) as i64).collect();
        let deg: Vec<f32> = counts.iter().map(|&c| (c as f32).max(1.0)).collect();
        let empty: Vec<bool> = counts.iter().map(|&c| c == 0).collect();
        HostGraph {
            crow: Tensor::from_slice(&indptr.iter().map(|&p| p as i64).collect::<Vec<_>>()),
            col: Tensor::from_slice(&indices.iter().map(|&c| c as i64).collect::<Vec<_>>()),
            counts: Tensor::from_slice(&counts),
            deg: Tensor::from_slice(&deg).reshape([n, 1]),
            empty: Tensor::from_slice(&empty).reshape([n, 1]),
            edge_attr: edge_attr.map(|(v, d)| Tensor::from_slice(v).reshape([-1, d as i64])),
            weight: None,
        }
    }

    /// Aggregates with per-entry `weight`s, normalised by each node's full-graph `degree`
    /// (GraphSAINT's aggregator).
    pub fn with_saint(mut self, degree: &[u32], weight: &[f32]) -> HostGraph {
        let n = degree.len() as i64;
        let deg: Vec<f32> = degree.iter().map(|&d| (d as f32).max(1.0)).collect();
        self.deg = Tensor::from_slice(&deg).reshape([n, 1]);
        self.weight = Some(Tensor::from_slice(weight));
        self
    }

    /// Every tensor through `f`: the upload to the device (plain, or on a side stream).
    pub fn upload_with(self, f: &impl Fn(Tensor) -> Tensor) -> HostGraph {
        HostGraph {
            crow: f(self.crow),
            col: f(self.col),
            counts: f(self.counts),
            deg: f(self.deg),
            empty: f(self.empty),
            edge_attr: self.edge_attr.map(f),
            weight: self.weight.map(f),
        }
    }

    /// The [`Adjacency`] of these (uploaded) tensors.
    pub fn assemble(self) -> Adjacency {
        Adjacency {
            n: self.counts.size()[0],
            col: self.col,
            deg: self.deg,
            edge_attr: self.edge_attr,
            weight: self.weight,
            keep: None,
            crow: self.crow,
            counts: self.counts,
            empty: self.empty,
            kind: Kind::Float,
            reduce: RowReduce::Auto,
            mean: OnceCell::new(),
            sym: OnceCell::new(),
            mean_t: OnceCell::new(),
            sym_t: OnceCell::new(),
            row: OnceCell::new(),
        }
    }
}

/// Labels as host tensors, before upload.
#[derive(Debug)]
enum HostTargets {
    None,
    Classes(Tensor),
    /// Binary task values `[n, tasks]`, -1 missing.
    Binary(Tensor),
}

/// A whole batch as host tensors: what crosses to the device. [`HostBatch::upload_with`] uploads it,
/// [`HostBatch::assemble`] then derives the device-side pieces.
#[derive(Debug)]
pub struct HostBatch {
    graph: HostGraph,
    /// `None` when the store has no node features (they are derived from edge features).
    x: Option<Tensor>,
    targets: HostTargets,
    masks: [Tensor; 3],
    loss_weight: Option<Tensor>,
    /// Each categorical input's codes for the batch's nodes (int64 `[n]`) and class count.
    categorical: Vec<(Tensor, i64)>,
    /// With labels as input: each node's class where its label is shown, else -1 (int64 `[n]`),
    /// and the class count.
    label_codes: Option<(Tensor, i64)>,
}

impl HostBatch {
    /// From a loader batch.
    pub fn from_batch(b: &Batch) -> HostBatch {
        // A neighbour-sampled batch trains on its seeds only: the other training nodes in it
        // have truncated neighbourhoods.
        let seeds: Vec<bool>;
        let train = if b.hops.is_none() {
            &b.train_mask[..]
        } else {
            seeds = (0..b.nodes.len()).map(|i| i < b.num_seeds() && b.train_mask[i]).collect();
            &seeds[..]
        };
        let masks = [train, &b.valid_mask[..], &b.test_mask[..]];
        let edges = (b.edge_feature_dim > 0).then_some((&b.edge_features[..], b.edge_feature_dim));
        let mut h = HostBatch::from_parts(&b.indptr, &b.indices, &b.features, b.feature_dim, None, masks, edges);
        h.targets = match &b.labels {
            BatchLabels::None => HostTargets::None,
            BatchLabels::MultiClass(y) => HostTargets::Classes(Tensor::from_slice(y).to_kind(Kind::Int64)),
            BatchLabels::MultiLabel { tasks, values } => {
                HostTargets::Binary(Tensor::from_slice(values).reshape([-1, *tasks as i64]))
            }
        };
        if let Some(w) = &b.saint {
            // A GraphSAINT batch: its normalisation in the loss and the aggregators.
            h.graph = h.graph.with_saint(&w.degree, &w.edge_norm);
            h.loss_weight = Some(Tensor::from_slice(&w.node_norm));
        }
        h
    }

    /// From plain arrays: a local CSR by destination, row-major features, optional classes, the
    /// three masks and optional edge features (one row per CSR entry).
    pub fn from_parts(
        indptr: &[u64],
        indices: &[u32],
        features: &[f32],
        dim: usize,
        labels: Option<&[i32]>,
        masks: [&[bool]; 3],
        edge_features: Option<(&[f32], usize)>,
    ) -> HostBatch {
        let graph = HostGraph::new(indptr, indices, edge_features);
        let n = (indptr.len() - 1) as i64;
        let x = (dim > 0 || edge_features.is_none()).then(|| Tensor::from_slice(features).reshape([n, dim as i64]));
        let targets = match labels {
            Some(y) => HostTargets::Classes(Tensor::from_slice(y).to_kind(Kind::Int64)),
            None => HostTargets::None,
        };
        HostBatch {
            graph,
            x,
            targets,
            masks: masks.map(Tensor::from_slice),
            loss_weight: None,
            categorical: Vec::new(),
            label_codes: None,
        }
    }

    /// Applies `inputs` to the batch of store nodes `nodes`: node features replaced by the
    /// mean of each node's in-batch edge features if asked, and the categorical codes added.
    pub fn with_categorical(mut self, nodes: &[u32], inputs: &NodeInputs) -> HostBatch {
        if inputs.edge_mean && self.graph.edge_attr.is_some() {
            self.x = None;
        }
        self.categorical = inputs
            .categorical
            .iter()
            .map(|c| {
                let codes: Vec<i64> = nodes.iter().map(|&v| c.codes[v as usize] as i64).collect();
                (Tensor::from_slice(&codes), c.classes)
            })
            .collect();
        self.label_codes = inputs.labels.as_ref().map(|l| {
            let codes: Vec<i64> =
                nodes.iter().map(|&v| if l.shown[v as usize] { l.y[v as usize] as i64 } else { -1 }).collect();
            (Tensor::from_slice(&codes), l.classes)
        });
        self
    }

    /// Bytes of tensor data that cross to the device.
    pub fn bytes(&self) -> usize {
        let t = |t: &Tensor| t.numel() * t.kind().elt_size_in_bytes();
        let g = &self.graph;
        let mut b = [&g.crow, &g.col, &g.counts, &g.deg, &g.empty].iter().map(|x| t(x)).sum::<usize>();
        b += g.edge_attr.as_ref().map_or(0, t) + self.x.as_ref().map_or(0, t);
        b += g.weight.as_ref().map_or(0, t) + self.loss_weight.as_ref().map_or(0, t);
        b += self.masks.iter().map(t).sum::<usize>();
        b += self.categorical.iter().map(|(c, _)| t(c)).sum::<usize>();
        b += self.label_codes.as_ref().map_or(0, |(c, _)| t(c));
        b + match &self.targets {
            HostTargets::None => 0,
            HostTargets::Classes(y) | HostTargets::Binary(y) => t(y),
        }
    }

    /// Uploads it to `device` (on the compute stream) and assembles it there.
    pub fn to_device(self, device: Device) -> GraphTensors {
        self.upload_with(&|t| upload(t, device)).assemble()
    }

    /// Every tensor through `f`: the upload to the device (plain, or on a side stream).
    pub fn upload_with(self, f: &impl Fn(Tensor) -> Tensor) -> HostBatch {
        let [a, b, c] = self.masks;
        HostBatch {
            graph: self.graph.upload_with(f),
            x: self.x.map(f),
            targets: match self.targets {
                HostTargets::None => HostTargets::None,
                HostTargets::Classes(y) => HostTargets::Classes(f(y)),
                HostTargets::Binary(y) => HostTargets::Binary(f(y)),
            },
            masks: [f(a), f(b), f(c)],
            loss_weight: self.loss_weight.map(f),
            categorical: self.categorical.into_iter().map(|(c, k)| (f(c), k)).collect(),
            label_codes: self.label_codes.map(|(c, k)| (f(c), k)),
        }
    }

    /// The [`GraphTensors`] of these (uploaded) tensors: node features from edge features where
    /// the store has none, binary targets split into values and presence.
    pub fn assemble(self) -> GraphTensors {
        self.assemble_with(FeatureNorm::None)
    }

    /// [`HostBatch::assemble`] with the node features normalised by `norm`, then the shown
    /// labels' one-hot columns (zeros where hidden; the authors' `add_labels`), then each
    /// categorical input's one-hot columns.
    pub fn assemble_with(self, norm: FeatureNorm) -> GraphTensors {
        let adj = self.graph.assemble();
        let x = match (self.x, &adj.edge_attr) {
            (Some(x), _) => x,
            (None, Some(e)) => adj.sum_rows(e) / &adj.deg,
            (None, None) => unreachable!("x is kept unless edge features replace it"),
        };
        let x = normalised(x, norm);
        let labelled = self.label_codes.as_ref().map(|(c, _)| c.ge(0));
        let x = if self.categorical.is_empty() && self.label_codes.is_none() {
            x
        } else {
            let mut parts = vec![x];
            if let Some((c, k)) = &self.label_codes {
                let shown = c.ge(0).unsqueeze(1).to_kind(Kind::Float);
                parts.push(c.clamp_min(0).one_hot(*k).to_kind(Kind::Float) * shown);
            }
            parts.extend(self.categorical.iter().map(|(c, k)| c.one_hot(*k).to_kind(Kind::Float)));
            Tensor::cat(&parts, 1)
        };
        let targets = match self.targets {
            HostTargets::None => Targets::None,
            HostTargets::Classes(y) => Targets::Classes(y),
            HostTargets::Binary(v) => Targets::Binary { y: v.clamp_min(0).to_kind(Kind::Float), present: v.ge(0) },
        };
        let [train, valid, test] = self.masks;
        GraphTensors { n: adj.n, x, targets, train, valid, test, adj, loss_weight: self.loss_weight, labelled }
    }
}

/// Copies a host tensor to `device`: straight for the CPU; for CUDA through pinned memory with
/// a non-blocking copy, so the transfer overlaps the work already queued on the GPU.
pub fn upload(t: Tensor, device: Device) -> Tensor {
    match device {
        Device::Cpu => t,
        _ => t.pin_memory(device).to_device_(device, t.kind(), true, false),
    }
}

impl GraphTensors {
    /// Moves a batch to `device`.
    pub fn new(b: &Batch, device: Device) -> GraphTensors {
        HostBatch::from_batch(b).to_device(device)
    }

    /// Classes, for multi-class batches.
    pub fn classes(&self) -> Option<&Tensor> {
        match &self.targets {
            Targets::Classes(y) => Some(y),
            _ => None,
        }
    }
}

/// How batches become model inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureNorm {
    /// Features as stored.
    #[default]
    None,
    /// Each row divided by its sum (bag-of-words features such as Cora's).
    Row,
}

mille_pipeline::choices!(FeatureNorm { None => "none", Row => "row" });

/// A batch as tensors, with its features normalised.
pub fn batch_tensors(b: &Batch, device: Device, norm: FeatureNorm) -> GraphTensors {
    batch_inputs(b, device, &norm.into())
}

/// A batch as tensors with the model inputs `inputs` describes.
pub fn batch_inputs(b: &Batch, device: Device, inputs: &NodeInputs) -> GraphTensors {
    HostBatch::from_batch(b)
        .with_categorical(&b.nodes, inputs)
        .upload_with(&|t| upload(t, device))
        .assemble_with(inputs.norm)
}

fn normalised(x: Tensor, norm: FeatureNorm) -> Tensor {
    match norm {
        FeatureNorm::Row => &x / x.sum_dim_intlist(1, true, Kind::Float).clamp_min(1e-12),
        FeatureNorm::None => x,
    }
}

/// What a model's node input is made of: the store's node features, normalised by `norm`, then
/// the one-hot columns of each categorical node array.
#[derive(Debug, Clone, Default)]
pub struct NodeInputs {
    /// Feature normalisation.
    pub norm: FeatureNorm,
    /// Categorical node arrays, in column order.
    pub categorical: Vec<std::sync::Arc<Categorical>>,
    /// Node features are each node's mean of its in-batch edges' features instead of the
    /// stored ones (mille's input for ogbn-proteins before it stored the full-graph sums).
    pub edge_mean: bool,
    /// Labels as input (`--use-labels`): one-hot columns after the node features.
    pub labels: Option<std::sync::Arc<LabelInput>>,
}

/// Which nodes' labels a model sees as input, and how many label reuse passes follow.
#[derive(Debug, Clone)]
pub struct LabelInput {
    /// Every store node's class.
    pub y: std::sync::Arc<Vec<i32>>,
    /// Class count (the one-hot width).
    pub classes: i64,
    /// Per store node: whether its label is shown. Training shows a random share of the
    /// training nodes each epoch; evaluation shows every training node (the authors'
    /// `add_labels(feat, labels, train_idx)`).
    pub shown: std::sync::Arc<Vec<bool>>,
    /// The first label column of `x` (the node feature width).
    pub column: i64,
    /// Label reuse passes (`--label-reuse`, the authors' `--n-label-iters`).
    pub reuse: usize,
    /// The split's training nodes, in split order (what each epoch draws over).
    pub train: std::sync::Arc<Vec<u32>>,
}

impl From<FeatureNorm> for NodeInputs {
    fn from(norm: FeatureNorm) -> NodeInputs {
        NodeInputs { norm, ..Default::default() }
    }
}

impl NodeInputs {
    /// One-hot widths of the categorical inputs.
    pub fn widths(&self) -> Vec<i64> {
        self.categorical.iter().map(|c| c.classes).collect()
    }
}

/// A node array used as a categorical input: each node's code in `0..classes`.
#[derive(Debug, Clone)]
pub struct Categorical {
    /// The array's name (`node/<name>`).
    pub name: String,
    /// Code per node.
    pub codes: Vec<u16>,
    /// Distinct values.
    pub classes: i64,
}

impl Categorical {
    /// Most distinct values a categorical input may have (one-hot columns).
    pub const MAX_CLASSES: usize = 4096;

    /// Label-encodes node array `name` of `store` (one integer column), as the authors encode
    /// ogbn-proteins' species (`generate_one_hot_encoding` in `dataset.py`: each value taken
    /// modulo the largest, then ranked among the distinct results; for species ids this is a
    /// permutation of the plain ranks).
    pub fn from_store(store: &mille_pipeline::Store, name: &str) -> anyhow::Result<Categorical> {
        let a = store.node_array(name).map_err(|e| {
            anyhow::anyhow!(
                "categorical input {name:?}: {e} (this store's node arrays: {})",
                store.node_array_names().join(", ")
            )
        })?;
        anyhow::ensure!(
            a.cols == 1,
            "categorical input {name:?}: node/{name} has {} columns; a categorical input is one integer per node",
            a.cols
        );
        let max = a.data.iter().copied().max().unwrap_or(0);
        let key = |v: i64| if max > 0 { v.rem_euclid(max) } else { v };
        let mut distinct: Vec<i64> = a.data.iter().map(|&v| key(v)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        anyhow::ensure!(
            distinct.len() <= Self::MAX_CLASSES,
            "categorical input {name:?}: node/{name} has {} distinct values; one-hot inputs take at most {}",
            distinct.len(),
            Self::MAX_CLASSES
        );
        let codes = a.data.iter().map(|&v| distinct.binary_search(&key(v)).expect("listed") as u16).collect();
        Ok(Categorical { name: name.to_string(), codes, classes: distinct.len() as i64 })
    }
}
