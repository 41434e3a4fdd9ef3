//! GCNII (Chen et al., ICML 2020): a GCN layer with an initial residual and an identity map,
//! `((1 - alpha) Â h + alpha h0) ((1 - beta_l) I + beta_l W)`, `beta_l = ln(lambda / l + 1)`
//! (`GraphConvolution` in the authors' `chennnM/GCNII` `model.py`: `theta = log(lamda / l + 1)`,
//! `support = (1 - alpha) * spmm(adj, input) + alpha * h0`, `theta * support @ W + (1 - theta) *
//! support`, no bias, weights uniform in ±1/sqrt(out)).
//!
//! `h0` is the network's first hidden representation (after the input layer), the same in every
//! layer; inside a reversible block group `i` reads its `i`-th chunk. Since `h0` does not change
//! through the blocks, the coupling `X'_i = X_i + F_i(X'_{i-1}, h0)` stays exactly invertible.

use super::{Operator, linear_params};
use crate::graph::Adjacency;
use crate::layers::linear;
use tch::{Tensor, nn};

/// The initial representation a GCNII layer mixes in, and the layer's depth (1-based) that sets
/// its identity-map strength.
#[derive(Debug, Clone, Copy)]
pub struct Initial<'a> {
    /// `h0`, as wide as the convolution (a group's chunk inside a reversible block).
    pub h0: &'a Tensor,
    /// Depth `l` of the layer, from 1.
    pub layer: usize,
}

/// One GCNII layer of `dim -> dim` channels.
#[derive(Debug)]
pub struct Gcnii {
    pub(crate) lin: nn::Linear,
    alpha: f64,
    lambda: f64,
}

impl Gcnii {
    /// New weights under `path`; `alpha` the initial residual's share, `lambda` the identity
    /// map's scale.
    pub fn new(path: &nn::Path, dim: i64, alpha: f64, lambda: f64) -> Gcnii {
        Gcnii { lin: linear(path / "lin", dim, dim, false), alpha, lambda }
    }

    /// `beta_l` of layer `l` (1-based).
    pub fn beta(&self, layer: usize) -> f64 {
        (self.lambda / layer.max(1) as f64 + 1.0).ln()
    }

    /// Applies it to `h` with the initial representation and depth of `init`.
    pub fn forward(&self, adj: &Adjacency, h: &Tensor, init: Initial<'_>) -> Tensor {
        let support = adj.sym_of(h) * (1.0 - self.alpha) + init.h0 * self.alpha;
        let beta = self.beta(init.layer);
        support.matmul(&self.lin.ws.tr()) * beta + support * (1.0 - beta)
    }
}

impl Operator for Gcnii {
    fn apply(&self, adj: &Adjacency, h: &Tensor, init: Option<Initial<'_>>) -> Tensor {
        // The models always pass it (and refuse GCNII where they cannot, the DEQ block).
        self.forward(adj, h, init.expect("a GCNII layer is given its initial representation"))
    }
    fn output_params(&self) -> Vec<Tensor> {
        linear_params(&self.lin)
    }
}
