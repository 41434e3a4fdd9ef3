//! Graph convolutions over a batch operator: SAGE (mean) and GCN.

use tch::Tensor;
use tch::nn::{self, Module};

/// Which convolution a block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    /// GraphSAGE with mean aggregation: `W_l mean(h_N(i)) + W_r h_i`.
    Sage,
    /// GCN: `W (Â h)`, Â symmetric-normalised with self loops.
    Gcn,
}

/// A convolution of `dim -> dim` channels.
#[derive(Debug)]
pub struct Conv {
    kind: ConvKind,
    lin: nn::Linear,
    root: Option<nn::Linear>,
}

impl Conv {
    /// A new convolution under `path`.
    pub fn new(path: &nn::Path, kind: ConvKind, dim: i64) -> Conv {
        let lin = nn::linear(path / "lin", dim, dim, Default::default());
        let root = (kind == ConvKind::Sage)
            .then(|| nn::linear(path / "root", dim, dim, nn::LinearConfig { bias: false, ..Default::default() }));
        Conv { kind, lin, root }
    }

    /// Applies the convolution with aggregation operator `adj` (mean for SAGE, symmetric for GCN).
    pub fn forward(&self, adj: &Tensor, h: &Tensor) -> Tensor {
        let agg = adj.matmul(h);
        match (&self.kind, &self.root) {
            (ConvKind::Sage, Some(r)) => self.lin.forward(&agg) + r.forward(h),
            _ => self.lin.forward(&agg),
        }
    }
}
