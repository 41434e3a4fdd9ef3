//! GAT: multi-head attention over in-neighbours, heads concatenated.

use super::{Initial, Operator, linear_params};
use crate::graph::Adjacency;
use crate::layers::glorot_linear;
use tch::Tensor;
use tch::nn::{self, Module};

/// A GAT convolution of `dim` channels as `heads` heads of `dim / heads`.
#[derive(Debug)]
pub struct Gat {
    heads: i64,
    pub(crate) lin: nn::Linear,
    att_src: Tensor,
    att_dst: Tensor,
    pub(crate) bias: Tensor,
}

impl Gat {
    /// New weights under `path`. The head count falls to the largest divisor of `dim` not above
    /// `heads`, so narrow groups of a reversible block still split evenly.
    pub fn new(path: &nn::Path, dim: i64, heads: i64) -> Gat {
        let heads = (1..=heads.clamp(1, dim)).rev().find(|h| dim % h == 0).unwrap_or(1);
        let per = dim / heads;
        let glorot = nn::Init::Uniform { lo: -(6.0 / (per + 1) as f64).sqrt(), up: (6.0 / (per + 1) as f64).sqrt() };
        Gat {
            heads,
            lin: glorot_linear(path / "lin", dim, dim, false),
            att_src: path.var("att_src", &[1, heads, per], glorot),
            att_dst: path.var("att_dst", &[1, heads, per], glorot),
            bias: path.var("bias", &[dim], nn::Init::Const(0.0)),
        }
    }

    /// Heads actually used.
    pub fn heads(&self) -> i64 {
        self.heads
    }

    /// Applies it: `alpha_ij = softmax_j LeakyReLU(a_s . W h_j + a_d . W h_i)`,
    /// `out_i = concat_heads sum_j alpha_ij W h_j + b`.
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        let dim = h.size()[1];
        let z = self.lin.forward(h).reshape([adj.n, self.heads, dim / self.heads]);
        let a_src = (&z * &self.att_src).sum_dim_intlist(-1, false, z.kind());
        let a_dst = (&z * &self.att_dst).sum_dim_intlist(-1, false, z.kind());
        let score = a_src.index_select(0, &adj.col) + adj.per_entry(&a_dst);
        let score = score.relu() - (-&score).relu() * 0.2; // LeakyReLU(0.2)
        let alpha = adj.softmax(&score);
        let msg = z.index_select(0, &adj.col) * alpha.unsqueeze(-1);
        adj.sum_rows(&msg.reshape([-1, dim])) + &self.bias
    }
}

impl Operator for Gat {
    fn apply(&self, adj: &Adjacency, h: &Tensor, _: Option<Initial<'_>>) -> Tensor {
        self.forward(adj, h)
    }
    fn output_params(&self) -> Vec<Tensor> {
        linear_params(&self.lin).into_iter().chain([self.bias.shallow_clone()]).collect()
    }
}
