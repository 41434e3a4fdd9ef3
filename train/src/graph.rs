//! A loader batch as tensors: features, labels, masks, and the batch graph as sparse CSR
//! operators (so aggregation is one sparse-dense product, never an E x D temporary).

use mille_loader::{Batch, BatchLabels};
use tch::{Device, Kind, Tensor};

/// Which normalisation the aggregation operator applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Mean over in-neighbours (GraphSAGE): `1 / deg(i)`.
    Mean,
    /// Symmetric GCN normalisation `1 / sqrt(deg(i) deg(j))` (self loops come from the loader).
    Symmetric,
}

/// One batch on a device.
pub struct GraphTensors {
    /// Nodes.
    pub n: i64,
    /// Node features `[n, d]`.
    pub x: Tensor,
    /// Class per node (`-1` unlabelled), multi-class batches only.
    pub y: Option<Tensor>,
    /// Train / valid / test masks (bool `[n]`).
    pub train: Tensor,
    /// Validation mask.
    pub valid: Tensor,
    /// Test mask.
    pub test: Tensor,
    crow: Tensor,
    /// Row pointers on the host too, so building an operator never copies them back.
    crow_host: Vec<i64>,
    col: Tensor,
    deg: Vec<f32>,
    cols: Vec<i64>,
    device: Device,
}

impl GraphTensors {
    /// Moves a batch to `device`.
    pub fn new(b: &Batch, device: Device) -> GraphTensors {
        let labels = match &b.labels {
            BatchLabels::MultiClass(y) => Some(&y[..]),
            _ => None,
        };
        let masks = [&b.train_mask[..], &b.valid_mask[..], &b.test_mask[..]];
        GraphTensors::from_parts(&b.indptr, &b.indices, &b.features, b.feature_dim, labels, masks, device)
    }

    /// From plain arrays: a local CSR by destination, row-major features, optional classes and
    /// the three masks.
    pub fn from_parts(
        indptr: &[u64],
        indices: &[u32],
        features: &[f32],
        dim: usize,
        labels: Option<&[i32]>,
        masks: [&[bool]; 3],
        device: Device,
    ) -> GraphTensors {
        let n = (indptr.len() - 1) as i64;
        let x = Tensor::from_slice(features).reshape([n, dim as i64]).to_device(device);
        let y = labels.map(|y| Tensor::from_slice(y).to_kind(Kind::Int64).to_device(device));
        let mask = |m: &[bool]| Tensor::from_slice(m).to_device(device);
        let crow: Vec<i64> = indptr.iter().map(|&p| p as i64).collect();
        let cols: Vec<i64> = indices.iter().map(|&c| c as i64).collect();
        let deg = indptr.windows(2).map(|w| (w[1] - w[0]) as f32).collect();
        GraphTensors {
            n,
            x,
            y,
            train: mask(masks[0]),
            valid: mask(masks[1]),
            test: mask(masks[2]),
            crow: Tensor::from_slice(&crow).to_device(device),
            crow_host: crow,
            col: Tensor::from_slice(&cols).to_device(device),
            deg,
            cols,
            device,
        }
    }

    /// The aggregation operator `A` (sparse CSR `[n, n]`): `A h` aggregates in-neighbours.
    pub fn operator(&self, norm: Norm) -> Tensor {
        let mut vals = Vec::with_capacity(self.cols.len());
        let crow = &self.crow_host;
        for i in 0..self.n as usize {
            for p in crow[i] as usize..crow[i + 1] as usize {
                let j = self.cols[p] as usize;
                vals.push(match norm {
                    Norm::Mean => 1.0 / self.deg[i].max(1.0),
                    Norm::Symmetric => 1.0 / (self.deg[i].max(1.0) * self.deg[j].max(1.0)).sqrt(),
                });
            }
        }
        let vals = Tensor::from_slice(&vals).to_device(self.device);
        Tensor::sparse_csr_tensor_crow_col_value_size(
            &self.crow,
            &self.col,
            &vals,
            [self.n, self.n],
            (Kind::Float, self.device),
        )
    }
}
