//! SAGE and GCN: one sparse CSR product each, no E x D temporary.

use crate::graph::Adjacency;
use tch::Tensor;
use tch::nn::{self, Module};

/// GraphSAGE, mean aggregation: `W_l mean_{j in N(i)} h_j + W_r h_i`.
#[derive(Debug)]
pub struct Sage {
    lin: nn::Linear,
    root: nn::Linear,
}

impl Sage {
    /// New weights under `path`.
    pub fn new(path: &nn::Path, dim: i64) -> Sage {
        let lin = nn::linear(path / "lin", dim, dim, Default::default());
        let root = nn::linear(path / "root", dim, dim, nn::LinearConfig { bias: false, ..Default::default() });
        Sage { lin, root }
    }

    /// Applies it.
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        self.lin.forward(&adj.mean.matmul(h)) + self.root.forward(h)
    }
}

/// GCN: `W (D^-1/2 A D^-1/2 h) + b`.
#[derive(Debug)]
pub struct Gcn {
    lin: nn::Linear,
}

impl Gcn {
    /// New weights under `path`.
    pub fn new(path: &nn::Path, dim: i64) -> Gcn {
        Gcn { lin: nn::linear(path / "lin", dim, dim, Default::default()) }
    }

    /// Applies it. Transforming first keeps the sparse product at the (equal) output width.
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        adj.sym.matmul(&h.matmul(&self.lin.ws.tr())) + self.lin.bs.as_ref().expect("GCN has a bias")
    }
}
