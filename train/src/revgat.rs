//! The parts of the authors' RevGAT (`examples/ogb_eff/ogbn_arxiv_dgl/model_rev.py`) that
//! mille's other models do not have: their GAT layer (degree-scaled sources, source-only scores,
//! a bias-free residual, edge drop), a BatchNorm whose running statistics a reversible backward
//! leaves alone, and the output bias.

use crate::graph::Adjacency;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use tch::{Tensor, nn};

/// Degree scaling of the authors' GAT layer (`--use-norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GatNorm {
    /// Source rows times out-degree^(-1/2) before the scores, the result times in-degree^(+1/2)
    /// (degrees clamped at 1): the authors' `use_symmetric_norm` (the ogbn-arxiv commands).
    #[default]
    Symmetric,
    /// No degree scaling (DGL's plain GAT).
    None,
}

mille_pipeline::choices!(GatNorm { Symmetric => "symmetric", None => "none" });

/// The options of a RevGAT GAT layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatOptions {
    /// Heads.
    pub heads: i64,
    /// Whether the score has a destination term `a_r . W h_i` (`--no-attn-dst` leaves it out).
    pub attn_dst: bool,
    /// Degree scaling.
    pub norm: GatNorm,
    /// A bias-free linear map of the layer's input added to its output (every layer of the
    /// authors' RevGAT has it).
    pub residual: bool,
}

/// `xavier_normal_` with ReLU's gain for a tensor whose PyTorch fans are `fan_in`, `fan_out`.
fn xavier_relu(fan_in: i64, fan_out: i64) -> nn::Init {
    let stdev = 2f64.sqrt() * (2.0 / (fan_in + fan_out) as f64).sqrt();
    nn::Init::Randn { mean: 0.0, stdev }
}

/// The authors' `GATConv`: `heads` heads of `out` channels, concatenated.
#[derive(Debug)]
pub struct GatLayer {
    /// `fc`: `[heads * out, in]`, no bias.
    fc: Tensor,
    /// `attn_l`: `[1, heads, out]`.
    attn_l: Tensor,
    /// `attn_r`, with a destination term.
    attn_r: Option<Tensor>,
    /// `res_fc`: `[heads * out, in]`, no bias.
    res: Option<Tensor>,
    heads: i64,
    out: i64,
    norm: GatNorm,
}

impl GatLayer {
    /// A layer from `input` channels to `opts.heads` heads of `out`, under `path`; every weight
    /// xavier-normal with ReLU's gain (`reset_parameters`).
    pub fn new(path: &nn::Path, input: i64, out: i64, opts: GatOptions) -> GatLayer {
        let h = opts.heads;
        GatLayer {
            fc: path.var("fc", &[h * out, input], xavier_relu(input, h * out)),
            attn_l: path.var("attn_l", &[1, h, out], xavier_relu(h * out, out)),
            attn_r: opts.attn_dst.then(|| path.var("attn_r", &[1, h, out], xavier_relu(h * out, out))),
            res: opts.residual.then(|| path.var("res_fc", &[h * out, input], xavier_relu(input, h * out))),
            heads: h,
            out,
            norm: opts.norm,
        }
    }

    /// Output channels (`heads * out`).
    pub fn width(&self) -> i64 {
        self.heads * self.out
    }

    /// `[n, in] -> [n, heads * out]`: `e_ij = LeakyReLU_0.2(a_l . s_j W h_j [+ a_r . W h_i])`
    /// over `i`'s in-entries (those `adj.keep` keeps, when edges are dropped), softmax per row,
    /// `out_i = d_i sum_j alpha_ij s_j W h_j [+ R h_i]` with `s_j = outdeg_j^-1/2` and
    /// `d_i = indeg_i^1/2` under the symmetric norm (1 otherwise).
    pub fn forward(&self, adj: &Adjacency, h: &Tensor) -> Tensor {
        let n = adj.n;
        let z = h.matmul(&self.fc.tr()).reshape([n, self.heads, self.out]);
        let src = match self.norm {
            GatNorm::Symmetric => &z * adj.out_degrees().clamp_min(1.0).pow_tensor_scalar(-0.5).reshape([n, 1, 1]),
            GatNorm::None => z.shallow_clone(),
        };
        let el = (&src * &self.attn_l).sum_dim_intlist(-1, false, src.kind());
        let raw = match &self.attn_r {
            // The destination term reads the unscaled rows (`feat_dst` is taken before the norm).
            Some(r) => el.index_select(0, &adj.col) + adj.per_entry(&(&z * r).sum_dim_intlist(-1, false, z.kind())),
            None => el.index_select(0, &adj.col),
        };
        let score = raw.relu() - (-&raw).relu() * 0.2; // LeakyReLU(0.2)
        let alpha = match &adj.keep {
            // Dropped entries take no weight; the softmax runs over the kept ones (a row whose
            // entries are all dropped gets none: its finite fill makes no NaN, the mask zeroes it).
            Some(keep) => {
                let dropped = keep.logical_not().unsqueeze(1);
                adj.softmax(&score.masked_fill(&dropped, -1e30)) * keep.unsqueeze(1).to_kind(score.kind())
            }
            None => adj.softmax(&score),
        };
        let msg = src.index_select(0, &adj.col) * alpha.unsqueeze(-1);
        let rst = adj.sum_rows(&msg.reshape([-1, self.heads * self.out])).reshape([n, self.heads, self.out]);
        let rst = match self.norm {
            GatNorm::Symmetric => rst * adj.in_degrees().clamp_min(1.0).sqrt().reshape([n, 1, 1]),
            GatNorm::None => rst,
        };
        let rst = rst.reshape([n, self.heads * self.out]);
        match &self.res {
            Some(r) => rst + h.matmul(&r.tr()),
            None => rst,
        }
    }
}

/// The norm of RevGAT's group functions and of the layer before its head (`--norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockNorm {
    /// `BatchNorm1d`: the authors' (`model_rev.py`, `nn.BatchNorm1d` in every group function
    /// and before the output layer).
    #[default]
    Batch,
    /// LayerNorm, as mille's RevGNN has it (a departure, for the ablation).
    Layer,
}

mille_pipeline::choices!(BlockNorm { Batch => "batch", Layer => "layer" });

/// A LayerNorm or a [`BatchNorm`] over `[n, channels]`.
#[derive(Debug)]
pub enum Norm {
    /// LayerNorm (no statistics kept).
    Layer(nn::LayerNorm),
    /// BatchNorm (running statistics, moved as its [`NormMode`] says).
    Batch(BatchNorm),
}

impl Norm {
    /// `channels` channels of `kind` under `path`.
    pub fn new(path: &nn::Path, channels: i64, kind: BlockNorm) -> Norm {
        match kind {
            BlockNorm::Batch => Norm::Batch(BatchNorm::new(path, channels)),
            BlockNorm::Layer => Norm::Layer(nn::layer_norm(path, vec![channels], Default::default())),
        }
    }

    /// Normalises `[n, channels]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Norm::Layer(n) => x.apply(n),
            Norm::Batch(n) => n.forward(x),
        }
    }

    /// Sets how a BatchNorm's next passes treat its statistics (a LayerNorm has none).
    pub fn set_mode(&self, mode: NormMode) {
        if let Norm::Batch(b) = self {
            b.set_mode(mode);
        }
    }

    /// A BatchNorm's current mode (`None`: a LayerNorm).
    pub fn mode(&self) -> Option<NormMode> {
        match self {
            Norm::Batch(b) => Some(b.mode()),
            Norm::Layer(_) => None,
        }
    }
}

/// What a BatchNorm does with its statistics in the current pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormMode {
    /// Normalise by the running statistics (evaluation).
    Eval,
    /// Normalise by the batch's statistics and update the running ones (a training forward).
    Train,
    /// Normalise by the batch's statistics and leave the running ones alone: a reversible
    /// backward's recomputation of a block the forward already ran, so the statistics move once
    /// per step as a plain forward's would. (The authors' `InvertibleModuleWrapper` re-runs
    /// the blocks in its backward with the module in training mode, so theirs move twice.)
    TrainFrozen,
}

/// `BatchNorm1d` (PyTorch's defaults: momentum 0.1, eps 1e-5, affine, running statistics kept
/// in the var store beside the weights, so checkpoints and best weights hold them).
#[derive(Debug)]
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    mode: Cell<NormMode>,
}

impl BatchNorm {
    /// `channels` channels under `path`.
    pub fn new(path: &nn::Path, channels: i64) -> BatchNorm {
        BatchNorm {
            weight: path.var("weight", &[channels], nn::Init::Const(1.0)),
            bias: path.var("bias", &[channels], nn::Init::Const(0.0)),
            running_mean: path.zeros_no_train("running_mean", &[channels]),
            running_var: path.ones_no_train("running_var", &[channels]),
            mode: Cell::new(NormMode::Eval),
        }
    }

    /// Sets how the next passes treat the statistics.
    pub fn set_mode(&self, mode: NormMode) {
        self.mode.set(mode);
    }

    /// The current mode.
    pub fn mode(&self) -> NormMode {
        self.mode.get()
    }

    /// Normalises `[n, channels]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (w, b) = (Some(&self.weight), Some(&self.bias));
        match self.mode.get() {
            NormMode::Eval => {
                x.batch_norm(w, b, Some(&self.running_mean), Some(&self.running_var), false, 0.1, 1e-5, false)
            }
            NormMode::Train => {
                // In place, as PyTorch does; never part of the graph.
                let (rm, rv) = (self.running_mean.shallow_clone(), self.running_var.shallow_clone());
                x.batch_norm(w, b, Some(&rm), Some(&rv), true, 0.1, 1e-5, false)
            }
            NormMode::TrainFrozen => x.batch_norm::<&Tensor>(w, b, None, None, true, 0.1, 1e-5, false),
        }
    }
}
