//! Models: input encoder -> L blocks -> LayerNorm -> ReLU -> dropout -> linear head.
//! ResGNN (pre-activation residual blocks, plain autograd), RevGNN (grouped reversible blocks,
//! reversible backward), WT-RevGNN (one reversible block's weights shared by every layer) and
//! DEQ-GNN (one block iterated to its fixed point, implicit backward).

use crate::conv::{Conv, ConvKind};
use crate::deq::{DeqBlock, SolveStats, SolverOptions};
use crate::graph::Adjacency;
use crate::layers::linear;
use crate::rev::{RevBlock, dropout_mask, reversible_backward, reversible_backward_with};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use tch::Tensor;
use tch::nn::{self, Module};

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Pre-activation residual GNN: every activation is kept for autograd.
    Resgnn,
    /// Grouped reversible GNN.
    Revgnn,
    /// Weight-tied reversible GNN: parameters independent of depth.
    WtRevgnn,
    /// Deep-equilibrium GNN.
    Deq,
}

mille_pipeline::choices!(ModelKind { Resgnn => "resgnn", Revgnn => "revgnn", WtRevgnn => "wt-revgnn", Deq => "deq" });

/// Model shape.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Model kind.
    pub kind: ModelKind,
    /// Convolution in each block.
    pub conv: ConvKind,
    /// Blocks L (0: an MLP, encoder and head only).
    pub layers: usize,
    /// Hidden channels H.
    pub hidden: i64,
    /// Groups C (reversible models).
    pub groups: i64,
    /// Dropout probability.
    pub dropout: f64,
    /// Input feature width.
    pub in_dim: i64,
    /// Output classes (or tasks).
    pub out_dim: i64,
    /// Edge feature width the convolutions encode (0: none).
    pub edge_dim: i64,
    /// DEQ: most Broyden iterations (forward and adjoint).
    pub deq_max_iter: usize,
    /// DEQ: relative residual tolerance.
    pub deq_tol: f64,
}

impl ModelConfig {
    /// A configuration with the defaults of everything but the shape.
    pub fn new(kind: ModelKind, conv: ConvKind, layers: usize, hidden: i64, in_dim: i64, out_dim: i64) -> Self {
        let solver = SolverOptions::default();
        ModelConfig {
            kind,
            conv,
            layers,
            hidden,
            groups: 2,
            dropout: 0.0,
            in_dim,
            out_dim,
            edge_dim: 0,
            deq_max_iter: solver.max_iter,
            deq_tol: solver.tol,
        }
    }

    fn solver(&self) -> SolverOptions {
        SolverOptions { max_iter: self.deq_max_iter, tol: self.deq_tol }
    }
}

/// `x + Conv(Dropout(ReLU(Norm(x))))`.
#[derive(Debug)]
struct ResBlock {
    norm: nn::LayerNorm,
    conv: Conv,
}

#[derive(Debug)]
enum Blocks {
    Res(Vec<ResBlock>),
    Rev(Vec<RevBlock>),
    Tied(RevBlock),
    Deq(Box<DeqBlock>),
}

/// A model.
#[derive(Debug)]
pub struct Model {
    cfg: ModelConfig,
    enc: nn::Linear,
    blocks: Blocks,
    norm: nn::LayerNorm,
    head: nn::Linear,
    solves: Cell<Option<(SolveStats, SolveStats)>>,
}

impl Model {
    /// A new model whose parameters live under `path`.
    pub fn new(path: &nn::Path, cfg: ModelConfig) -> Model {
        crate::cpu_math::warm_up();
        let (h, e) = (cfg.hidden, cfg.edge_dim);
        let enc = linear(path / "enc", cfg.in_dim, h, true);
        let blocks = match cfg.kind {
            ModelKind::Resgnn => Blocks::Res(
                (0..cfg.layers)
                    .map(|i| {
                        let p = path / format!("block{i}");
                        ResBlock {
                            norm: nn::layer_norm(&p / "norm", vec![h], Default::default()),
                            conv: Conv::new(&(&p / "conv"), cfg.conv, h, e),
                        }
                    })
                    .collect(),
            ),
            ModelKind::Revgnn => Blocks::Rev(
                (0..cfg.layers)
                    .map(|i| RevBlock::new(&(path / format!("block{i}")), cfg.conv, h, cfg.groups, e))
                    .collect(),
            ),
            ModelKind::WtRevgnn => Blocks::Tied(RevBlock::new(&(path / "block"), cfg.conv, h, cfg.groups, e)),
            ModelKind::Deq => Blocks::Deq(Box::new(DeqBlock::new(&(path / "deq"), cfg.conv, h, e))),
        };
        let norm = nn::layer_norm(path / "norm", vec![h], Default::default());
        let head = linear(path / "head", h, cfg.out_dim, true);
        Model { cfg, enc, blocks, norm, head, solves: Cell::new(None) }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// DEQ only: the last training step's forward and adjoint solves.
    pub fn last_solves(&self) -> Option<(SolveStats, SolveStats)> {
        self.solves.get()
    }

    fn rev_blocks(&self) -> Vec<&RevBlock> {
        match &self.blocks {
            Blocks::Rev(b) => b.iter().collect(),
            Blocks::Tied(b) => vec![b; self.cfg.layers],
            _ => Vec::new(),
        }
    }

    fn top(&self, h: &Tensor, train: bool) -> Tensor {
        self.head.forward(&self.norm.forward(h).relu().dropout(self.cfg.dropout, train))
    }

    fn deep(&self, adj: &Adjacency, h0: Tensor) -> Tensor {
        if self.cfg.layers == 0 {
            return h0;
        }
        match &self.blocks {
            Blocks::Res(bs) => bs.iter().fold(h0, |h, b| &h + b.conv.forward(adj, &b.norm.forward(&h).relu())),
            Blocks::Deq(b) => b.solve(adj, &h0, None, self.cfg.solver()).0,
            _ => self.rev_blocks().iter().fold(h0, |h, b| b.forward(adj, &h, None)),
        }
    }

    /// Logits `[n, out_dim]` (evaluation: no dropout, no graph kept).
    pub fn logits(&self, adj: &Adjacency, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.top(&self.deep(adj, self.enc.forward(x)), false))
    }

    /// One training step's forward and backward: gradients accumulate in the parameters;
    /// returns the loss. `loss_of` maps logits to the loss.
    pub fn backward(&self, adj: &Adjacency, x: &Tensor, loss_of: impl Fn(&Tensor) -> Tensor) -> f64 {
        self.backward_with(adj, x, loss_of, &mut |_| {})
    }

    /// [`Model::backward`], calling `after_block(i)` when RevGNN's block `i` (parameters
    /// `block{i}.*`) has its gradients complete, last block first; the other models never call
    /// it (their gradients are complete only at the end).
    pub fn backward_with(
        &self,
        adj: &Adjacency,
        x: &Tensor,
        loss_of: impl Fn(&Tensor) -> Tensor,
        after_block: &mut dyn FnMut(usize),
    ) -> f64 {
        let p = self.cfg.dropout;
        let h0 = self.enc.forward(x);
        let n = h0.size()[0];
        match &self.blocks {
            _ if self.cfg.layers == 0 => {
                let loss = loss_of(&self.top(&h0, true));
                loss.backward();
                loss.double_value(&[])
            }
            Blocks::Res(bs) => {
                let h =
                    bs.iter().fold(h0, |h, b| &h + b.conv.forward(adj, &b.norm.forward(&h).relu().dropout(p, true)));
                let loss = loss_of(&self.top(&h, true));
                loss.backward();
                loss.double_value(&[])
            }
            Blocks::Deq(b) => {
                let mask = dropout_mask(n, self.cfg.hidden, p, h0.device());
                let (z, fwd) = b.solve(adj, &h0, mask.as_ref(), self.cfg.solver());
                let z = z.set_requires_grad(true);
                let loss = loss_of(&self.top(&z, true));
                loss.backward();
                let adjoint = b.backward(adj, &z, &h0, &z.grad(), mask.as_ref(), self.cfg.solver());
                self.solves.set(Some((fwd, adjoint)));
                loss.double_value(&[])
            }
            _ => {
                let mask = dropout_mask(n, self.cfg.hidden / self.cfg.groups, p, h0.device());
                let blocks = self.rev_blocks();
                let top = |h: &Tensor| loss_of(&self.top(h, true));
                let (loss, g) = match &self.blocks {
                    Blocks::Rev(_) => reversible_backward_with(&blocks, adj, &h0, mask.as_ref(), top, after_block),
                    // Tied blocks share one set of weights, complete only after the last pass.
                    _ => reversible_backward(&blocks, adj, &h0, mask.as_ref(), top),
                };
                let kind = g.kind();
                (h0 * g).sum(kind).backward();
                loss
            }
        }
    }
}

/// Number of trainable scalars in a var store.
pub fn num_params(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}
