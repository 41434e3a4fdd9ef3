//! GEN (DeeperGCN): message `ReLU(h_j + e_ij) + eps`, a generalised aggregation, and the update
//! `MLP(h_i + m_i)` (two layers, expansion 2, LayerNorm between).

use super::{Initial, Operator, linear_params};
use crate::graph::Adjacency;
use crate::layers::linear;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// How GEN aggregates messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggr {
    /// Softmax with a learnable temperature `t`: `sum_j softmax_j(t m_j) m_j`, per channel.
    Softmax,
    /// Channel-wise maximum.
    Max,
    /// Mean.
    Mean,
    /// Sum.
    Sum,
}

mille_pipeline::choices!(Aggr { Softmax => "softmax", Max => "max", Mean => "mean", Sum => "sum" });

/// Keeps messages strictly positive (DeeperGCN's epsilon).
pub const MESSAGE_EPS: f64 = 1e-7;

/// A GEN convolution.
#[derive(Debug)]
pub struct Gen {
    aggr: Aggr,
    t: Option<Tensor>,
    edge: Option<nn::Linear>,
    lin1: nn::Linear,
    norm: nn::LayerNorm,
    pub(crate) lin2: nn::Linear,
}

impl Gen {
    /// New weights under `path`; `edge_dim > 0` adds an edge encoder `Linear(edge_dim, dim)`.
    pub fn new(path: &nn::Path, dim: i64, aggr: Aggr, edge_dim: i64) -> Gen {
        let t = (aggr == Aggr::Softmax).then(|| path.var("t", &[1], nn::Init::Const(1.0)));
        let edge = (edge_dim > 0).then(|| linear(path / "edge", edge_dim, dim, true));
        Gen {
            aggr,
            t,
            edge,
            lin1: linear(path / "mlp1", dim, 2 * dim, true),
            norm: nn::layer_norm(path / "mlp_norm", vec![2 * dim], Default::default()),
            lin2: linear(path / "mlp2", 2 * dim, dim, true),
        }
    }

    /// Applies it.
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        let mut msg = h.index_select(0, &adj.col);
        if let (Some(enc), Some(e)) = (&self.edge, &adj.edge_attr) {
            msg += enc.forward(e);
        }
        let msg = msg.relu() + MESSAGE_EPS;
        let m = match self.aggr {
            Aggr::Sum => adj.sum_rows(&msg),
            Aggr::Mean => adj.sum_rows(&msg) / &adj.deg,
            Aggr::Max => adj.max_rows(&msg),
            Aggr::Softmax => {
                let t = self.t.as_ref().expect("softmax aggregation has a temperature");
                let alpha = adj.softmax(&(&msg * t));
                adj.sum_rows(&(alpha * msg))
            }
        };
        let z = self.lin1.forward(&(h + m));
        self.lin2.forward(&self.norm.forward(&z).relu())
    }

    /// The softmax temperature, when the aggregation has one.
    pub fn temperature(&self) -> Option<f64> {
        self.t.as_ref().map(|t| t.to_kind(Kind::Double).double_value(&[0]))
    }
}

impl Operator for Gen {
    fn apply(&self, adj: &Adjacency, h: &Tensor, _: Option<Initial<'_>>) -> Tensor {
        self.forward(adj, h)
    }
    fn output_params(&self) -> Vec<Tensor> {
        linear_params(&self.lin2)
    }
}
