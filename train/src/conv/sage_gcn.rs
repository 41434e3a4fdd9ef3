//! SAGE and GCN: one sparse CSR product each, no E x D temporary.

use super::{Initial, Operator, linear_params};
use crate::graph::Adjacency;
use crate::layers::{glorot_linear, linear};
use tch::Tensor;
use tch::nn::{self, Module};

/// GraphSAGE, mean aggregation: `W_l mean_{j in N(i)} h_j + W_r h_i`.
#[derive(Debug)]
pub struct Sage {
    pub(crate) lin: nn::Linear,
    pub(crate) root: nn::Linear,
}

impl Sage {
    /// New weights under `path`.
    pub fn new(path: &nn::Path, dim: i64) -> Sage {
        let lin = linear(path / "lin", dim, dim, true);
        let root = linear(path / "root", dim, dim, false);
        Sage { lin, root }
    }

    /// Applies it.
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        self.lin.forward(&adj.mean_of(h)) + self.root.forward(h)
    }
}

impl Operator for Sage {
    fn apply(&self, adj: &Adjacency, h: &Tensor, _: Option<Initial<'_>>) -> Tensor {
        self.forward(adj, h)
    }
    fn output_params(&self) -> Vec<Tensor> {
        linear_params(&self.lin).into_iter().chain(linear_params(&self.root)).collect()
    }
}

/// GCN: `W (D^-1/2 A D^-1/2 h) + b`.
#[derive(Debug)]
pub struct Gcn {
    pub(crate) lin: nn::Linear,
}

impl Gcn {
    /// New weights under `path`.
    pub fn new(path: &nn::Path, dim: i64) -> Gcn {
        Gcn { lin: glorot_linear(path / "lin", dim, dim, true) }
    }

    /// Applies it. Transforming first keeps the sparse product at the (equal) output width.
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        adj.sym_of(&h.matmul(&self.lin.ws.tr())) + self.lin.bs.as_ref().expect("GCN has a bias")
    }
}

impl Operator for Gcn {
    fn apply(&self, adj: &Adjacency, h: &Tensor, _: Option<Initial<'_>>) -> Tensor {
        self.forward(adj, h)
    }
    fn output_params(&self) -> Vec<Tensor> {
        linear_params(&self.lin)
    }
}
