//! A loader batch as tensors: features, labels, masks, and the batch graph in the forms the
//! convolutions need (sparse CSR operators, so SAGE/GCN aggregation is one sparse-dense product
//! and never an E x D temporary; entry rows/columns for the attention-style operators).

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
    crow: Tensor,
    /// Entries per row (int64 `[n]`).
    counts: Tensor,
    kind: Kind,
    mean: OnceCell<Tensor>,
    sym: OnceCell<Tensor>,
    row: OnceCell<Tensor>,
}

impl Adjacency {
    /// From a local CSR.
    pub fn new(indptr: &[u64], indices: &[u32], edge_attr: Option<(&[f32], usize)>, device: Device) -> Adjacency {
        let n = (indptr.len() - 1) as i64;
        let counts: Vec<i64> = indptr.windows(2).map(|w| (w[1] - w[0]) as i64).collect();
        let deg: Vec<f32> = counts.iter().map(|&c| (c as f32).max(1.0)).collect();
        let crow = Tensor::from_slice(&indptr.iter().map(|&p| p as i64).collect::<Vec<_>>()).up(device);
        let col = Tensor::from_slice(&indices.iter().map(|&c| c as i64).collect::<Vec<_>>()).up(device);
        Adjacency {
            n,
            col,
            deg: Tensor::from_slice(&deg).reshape([n, 1]).up(device),
            edge_attr: edge_attr.map(|(v, d)| Tensor::from_slice(v).reshape([-1, d as i64]).up(device)),
            crow,
            counts: Tensor::from_slice(&counts).up(device),
            kind: Kind::Float,
            mean: OnceCell::new(),
            sym: OnceCell::new(),
            row: OnceCell::new(),
        }
    }

    /// Number of entries (edges, self loops included).
    pub fn num_entries(&self) -> i64 {
        self.col.size()[0]
    }

    /// A per-row value repeated over the row's entries: `[n] -> [E]`, without per-entry row ids.
    fn per_entry(&self, v: &Tensor) -> Tensor {
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

    /// Mean aggregation operator, sparse CSR `[n, n]` with values `1/deg(i)`.
    pub fn mean(&self) -> &Tensor {
        self.mean.get_or_init(|| self.csr(&self.per_entry(&self.deg.reciprocal().reshape([-1]))))
    }

    /// Symmetric GCN operator, values `1/sqrt(deg(i) deg(j))`.
    pub fn sym(&self) -> &Tensor {
        self.sym.get_or_init(|| {
            let d = self.deg.rsqrt().reshape([-1]);
            self.csr(&(self.per_entry(&d) * d.index_select(0, &self.col)))
        })
    }

    /// Destination of each entry (int64 `[E]`), ascending.
    pub fn row(&self) -> &Tensor {
        self.row.get_or_init(|| {
            let ids = Tensor::arange(self.n, (Kind::Int64, self.col.device()));
            self.per_entry(&ids)
        })
    }

    /// The same graph with float values of `kind` (e.g. double for finite-difference checks).
    pub fn to_kind(&self, kind: Kind) -> Adjacency {
        Adjacency {
            n: self.n,
            col: self.col.shallow_clone(),
            deg: self.deg.to_kind(kind),
            edge_attr: self.edge_attr.as_ref().map(|e| e.to_kind(kind)),
            crow: self.crow.shallow_clone(),
            counts: self.counts.shallow_clone(),
            kind,
            mean: OnceCell::new(),
            sym: OnceCell::new(),
            row: OnceCell::new(),
        }
    }

    /// Per-row softmax of entry scores `[E, k]` (max-shifted for stability).
    pub fn softmax(&self, scores: &Tensor) -> Tensor {
        let shape = [self.n, scores.size()[1]];
        let zeros = Tensor::zeros(shape, (scores.kind(), scores.device()));
        let max = zeros.index_reduce(0, self.row(), &scores.detach(), "amax", false);
        let w = (scores - max.index_select(0, self.row())).exp();
        let den = zeros.index_add(0, self.row(), &w);
        w / den.index_select(0, self.row()).clamp_min(1e-16)
    }

    /// Sum of entry values `[E, d]` into their destination rows: `[n, d]`.
    pub fn sum_rows(&self, values: &Tensor) -> Tensor {
        Tensor::zeros([self.n, values.size()[1]], (values.kind(), values.device())).index_add(0, self.row(), values)
    }
}

trait Up {
    fn up(self, device: Device) -> Tensor;
}

impl Up for Tensor {
    fn up(self, device: Device) -> Tensor {
        upload(self, device)
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
        let masks = [&b.train_mask[..], &b.valid_mask[..], &b.test_mask[..]];
        let edges = (b.edge_feature_dim > 0).then_some((&b.edge_features[..], b.edge_feature_dim));
        let mut g =
            GraphTensors::from_parts(&b.indptr, &b.indices, &b.features, b.feature_dim, None, masks, edges, device);
        g.targets = match &b.labels {
            BatchLabels::None => Targets::None,
            BatchLabels::MultiClass(y) => Targets::Classes(Tensor::from_slice(y).to_kind(Kind::Int64).up(device)),
            BatchLabels::MultiLabel { tasks, values } => {
                let v = Tensor::from_slice(values).reshape([-1, *tasks as i64]).up(device);
                Targets::Binary { y: v.clamp_min(0).to_kind(Kind::Float), present: v.ge(0) }
            }
        };
        g
    }

    /// From plain arrays: a local CSR by destination, row-major features, optional classes, the
    /// three masks and optional edge features (one row per CSR entry).
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        indptr: &[u64],
        indices: &[u32],
        features: &[f32],
        dim: usize,
        labels: Option<&[i32]>,
        masks: [&[bool]; 3],
        edge_features: Option<(&[f32], usize)>,
        device: Device,
    ) -> GraphTensors {
        let adj = Adjacency::new(indptr, indices, edge_features, device);
        let n = adj.n;
        let x = match (&adj.edge_attr, dim) {
            (Some(e), 0) => adj.sum_rows(e) / &adj.deg,
            _ => Tensor::from_slice(features).reshape([n, dim as i64]).up(device),
        };
        let targets = match labels {
            Some(y) => Targets::Classes(Tensor::from_slice(y).to_kind(Kind::Int64).up(device)),
            None => Targets::None,
        };
        let mask = |m: &[bool]| Tensor::from_slice(m).up(device);
        GraphTensors { n, x, targets, train: mask(masks[0]), valid: mask(masks[1]), test: mask(masks[2]), adj }
    }

    /// Classes, for multi-class batches.
    pub fn classes(&self) -> Option<&Tensor> {
        match &self.targets {
            Targets::Classes(y) => Some(y),
            _ => None,
        }
    }
}
