//! Models: input encoder -> L blocks -> LayerNorm -> ReLU -> dropout -> linear head.
//! ResGNN (pre-activation residual blocks, plain autograd), RevGNN (grouped reversible blocks,
//! reversible backward) and WT-RevGNN (one reversible block's weights shared by every layer).

use crate::conv::{Conv, ConvKind};
use crate::rev::{RevBlock, dropout_mask, reversible_backward};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// Pre-activation residual GNN: every activation is kept for autograd.
    ResGnn,
    /// Grouped reversible GNN.
    RevGnn,
    /// Weight-tied reversible GNN: parameters independent of depth.
    WtRevGnn,
}

/// Model shape.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Model kind.
    pub kind: ModelKind,
    /// Convolution in each block.
    pub conv: ConvKind,
    /// Blocks L.
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
}

/// A model.
#[derive(Debug)]
pub struct Model {
    cfg: ModelConfig,
    enc: nn::Linear,
    blocks: Blocks,
    norm: nn::LayerNorm,
    head: nn::Linear,
}

impl Model {
    /// A new model whose parameters live under `path`.
    pub fn new(path: &nn::Path, cfg: ModelConfig) -> Model {
        let h = cfg.hidden;
        let enc = nn::linear(path / "enc", cfg.in_dim, h, Default::default());
        let blocks = match cfg.kind {
            ModelKind::ResGnn => Blocks::Res(
                (0..cfg.layers)
                    .map(|i| {
                        let p = path / format!("block{i}");
                        ResBlock {
                            norm: nn::layer_norm(&p / "norm", vec![h], Default::default()),
                            conv: Conv::new(&(&p / "conv"), cfg.conv, h),
                        }
                    })
                    .collect(),
            ),
            ModelKind::RevGnn => Blocks::Rev(
                (0..cfg.layers)
                    .map(|i| RevBlock::new(&(path / format!("block{i}")), cfg.conv, h, cfg.groups))
                    .collect(),
            ),
            ModelKind::WtRevGnn => Blocks::Tied(RevBlock::new(&(path / "block"), cfg.conv, h, cfg.groups)),
        };
        let norm = nn::layer_norm(path / "norm", vec![h], Default::default());
        let head = nn::linear(path / "head", h, cfg.out_dim, Default::default());
        Model { cfg, enc, blocks, norm, head }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn rev_blocks(&self) -> Vec<&RevBlock> {
        match &self.blocks {
            Blocks::Rev(b) => b.iter().collect(),
            Blocks::Tied(b) => vec![b; self.cfg.layers],
            Blocks::Res(_) => Vec::new(),
        }
    }

    fn top(&self, h: &Tensor, train: bool) -> Tensor {
        self.head.forward(&self.norm.forward(h).relu().dropout(self.cfg.dropout, train))
    }

    /// Logits `[n, out_dim]` (evaluation: no dropout, no graph kept).
    pub fn logits(&self, adj: &Tensor, x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let h0 = self.enc.forward(x);
            let h = match &self.blocks {
                Blocks::Res(bs) => bs.iter().fold(h0, |h, b| &h + b.conv.forward(adj, &b.norm.forward(&h).relu())),
                _ => self.rev_blocks().iter().fold(h0, |h, b| b.forward(adj, &h, None)),
            };
            self.top(&h, false)
        })
    }

    /// One training step's forward and backward: gradients accumulate in the parameters;
    /// returns the loss. `loss_of` maps logits to the loss.
    pub fn backward(&self, adj: &Tensor, x: &Tensor, loss_of: impl Fn(&Tensor) -> Tensor) -> f64 {
        let p = self.cfg.dropout;
        let h0 = self.enc.forward(&x.dropout(p, true));
        match &self.blocks {
            Blocks::Res(bs) => {
                let h =
                    bs.iter().fold(h0, |h, b| &h + b.conv.forward(adj, &b.norm.forward(&h).relu().dropout(p, true)));
                let loss = loss_of(&self.top(&h, true));
                loss.backward();
                loss.double_value(&[])
            }
            _ => {
                let mask = dropout_mask(h0.size()[0], self.cfg.hidden / self.cfg.groups, p, h0.device());
                let blocks = self.rev_blocks();
                let (loss, g) = reversible_backward(&blocks, adj, &h0, mask.as_ref(), |h| loss_of(&self.top(h, true)));
                (h0 * g).sum(Kind::Float).backward();
                loss
            }
        }
    }
}

/// Number of trainable scalars in a var store.
pub fn num_params(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}
