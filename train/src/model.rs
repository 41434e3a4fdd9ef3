//! Models: input encoder -> L blocks -> LayerNorm -> ReLU -> dropout -> linear head.
//! ResGNN (pre-activation residual blocks, plain autograd), RevGNN (grouped reversible blocks,
//! reversible backward), WT-RevGNN (one reversible block's weights shared by every layer) and
//! DEQ-GNN (one block iterated to its fixed point, implicit backward).

use crate::conv::{Conv, ConvKind, Initial};
use crate::deq::{DeqBlock, SolveStats, SolverOptions};
use crate::graph::Adjacency;
use crate::layers::linear;
use crate::rev::{
    BlockInit, BlockMasks, EdgeDraw, EdgeWindows, RevBlock, StackPass, dropout_mask, mask_shifts,
    reversible_backward_init,
};
use crate::revgat::{BlockNorm, GatLayer, GatNorm, GatOptions, Norm, NormMode};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use tch::nn::{self, Module};
use tch::{Device, Tensor};

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
    /// The authors' RevGAT (ogbn-arxiv, `model_rev.py`): an input GAT layer, `layers - 2`
    /// reversible blocks of BatchNorm -> ReLU -> dropout -> their GAT layer, then BatchNorm ->
    /// ReLU -> dropout -> an output GAT layer of one head and a bias. `layers` counts every GAT
    /// layer, as their `--n-layers` does; `hidden` is the full width, heads x per-head channels.
    Revgat,
}

mille_pipeline::choices!(ModelKind {
    Resgnn => "resgnn",
    Revgnn => "revgnn",
    WtRevgnn => "wt-revgnn",
    Deq => "deq",
    Revgat => "revgat"
});

/// How a reversible model draws its shared dropout mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DropoutMask {
    /// One `[N, H]` mask per forward, chunked per group (group i multiplies by chunk i), the same
    /// in every block: the authors' code (`model_rev.py`, `GroupAdditiveCoupling` chunks every
    /// argument) and PyG's `GroupAddRev`.
    #[default]
    PerGroup,
    /// One `[N, H/G]` mask per forward that every group and block multiplies by.
    Shared,
    /// A different `[N, H]` mask in every block, as a plain deep GNN's per-layer dropout
    /// (GCNII's `F.dropout` before each layer): one draw per forward rolled by two integers per
    /// block ([`crate::rev::BlockMasks::Rolled`]), so the backward rebuilds each block's mask
    /// without keeping any. A departure from the authors' RevGNN, for the GCNII recipes.
    PerBlock,
}

mille_pipeline::choices!(DropoutMask { PerGroup => "per-group", Shared => "shared", PerBlock => "per-block" });

/// How GEN convolutions encode edge features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeEncoder {
    /// Each convolution encodes the raw edge features itself, `Linear(E, H/G)`.
    #[default]
    PerConv,
    /// One `Linear(E, H)` for the whole network, computed once per forward; each convolution
    /// then maps it with its own `Linear(H, H/G)` (the authors' ogbn-proteins `RevGCN`:
    /// `edge_encoder` in `model_rev.py`, `edge_feat_dim=hidden_channels` in its `GENBlock`s).
    Network,
}

mille_pipeline::choices!(EdgeEncoder { PerConv => "per-conv", Network => "network" });

/// How a reversible block's group functions are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum GroupInit {
    /// Each group drawn on its own (PyG's `GroupAddRev` resets every copy).
    #[default]
    Independent,
    /// Every group starts as a copy of group 1 (`copy.deepcopy(fm)` in the authors' `model_rev.py`).
    Copy,
}

mille_pipeline::choices!(GroupInit { Independent => "independent", Copy => "copy" });

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
    /// One-hot widths of the categorical inputs that follow the `in_dim` feature columns of
    /// `x`; each goes through its own `Linear(C, C)` before the encoder.
    pub categorical: Vec<i64>,
    /// Reversible models: how the dropout mask is drawn.
    pub dropout_mask: DropoutMask,
    /// How GEN encodes edge features.
    pub edge_encoder: EdgeEncoder,
    /// Dropout on the input features before the encoder (training only).
    pub input_dropout: f64,
    /// RevGAT: its GAT layers' heads, destination term and degree scaling (every layer has the
    /// residual).
    pub gat: GatOptions,
    /// RevGAT: the norm of its group functions and before its head (BatchNorm, the authors').
    pub block_norm: BlockNorm,
    /// RevGAT: the share of edges each GAT layer drops in a training pass (the authors' 0.3 on
    /// ogbn-arxiv).
    pub edge_drop: f64,
    /// RevGAT: how the reversible blocks draw the edges they drop.
    pub edge_draw: EdgeDraw,
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
            categorical: Vec::new(),
            dropout_mask: DropoutMask::PerGroup,
            edge_encoder: EdgeEncoder::PerConv,
            input_dropout: 0.0,
            gat: GatOptions { heads: 3, attn_dst: false, norm: GatNorm::Symmetric, residual: true },
            block_norm: BlockNorm::Batch,
            edge_drop: 0.0,
            edge_draw: EdgeDraw::Windows,
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

impl ResBlock {
    /// The block at depth `k + 1`; `h0` is read by GCNII convolutions.
    fn forward(&self, adj: &Adjacency, h: &Tensor, h0: &Tensor, k: usize, p: f64, train: bool) -> Tensor {
        let z = self.norm.forward(h).relu().dropout(p, train);
        h + self.conv.forward_with(adj, &z, Some(Initial { h0, layer: k + 1 }))
    }
}

/// The input encoder or the output head: a linear map, or (RevGAT) a GAT layer.
#[derive(Debug)]
enum Stem {
    Linear(nn::Linear),
    Gat(GatLayer),
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
    /// One `Linear(C, C)` per categorical input (its one-hot columns).
    cat: Vec<nn::Linear>,
    enc: Stem,
    /// The network-level edge encoder ([`EdgeEncoder::Network`]).
    edge: Option<nn::Linear>,
    blocks: Blocks,
    norm: Norm,
    head: Stem,
    /// RevGAT's output bias (`bias_last`).
    head_bias: Option<Tensor>,
    solves: Cell<Option<(SolveStats, SolveStats)>>,
    /// The variable-name prefix of each block whose gradients [`Model::backward_with`]
    /// reports complete one by one (RevGNN's and RevGAT's; empty for the other models).
    block_prefixes: Vec<String>,
    /// DEQ: the block is unrolled `Some(steps)` times under plain autograd instead of solved.
    unrolled: Cell<Option<usize>>,
}

impl Model {
    /// A new model whose parameters live under `path`.
    pub fn new(path: &nn::Path, cfg: ModelConfig) -> Model {
        crate::cpu_math::warm_up();
        let h = cfg.hidden;
        let network_edges = cfg.edge_encoder == EdgeEncoder::Network && cfg.edge_dim > 0;
        // With a network-level encoder every convolution reads its `[E, H]` output.
        let e = if network_edges { h } else { cfg.edge_dim };
        let cat: Vec<nn::Linear> =
            cfg.categorical.iter().enumerate().map(|(i, &c)| linear(path / format!("cat{i}"), c, c, true)).collect();
        let input = cfg.in_dim + cfg.categorical.iter().sum::<i64>();
        let revgat = cfg.kind == ModelKind::Revgat;
        let gat = cfg.gat;
        let enc = match revgat {
            true => Stem::Gat(GatLayer::new(&(path / "enc"), input, h / gat.heads, gat)),
            false => Stem::Linear(linear(path / "enc", input, h, true)),
        };
        let edge = network_edges.then(|| linear(path / "edge_enc", cfg.edge_dim, h, true));
        // The reversible backward completes one block's gradients at a time (RevGNN's and
        // RevGAT's), so the data-parallel step (run/parallel.rs) reduces them while the blocks
        // before them run backward.
        let reversible = match cfg.kind {
            ModelKind::Revgnn => cfg.layers,
            ModelKind::Revgat => cfg.layers.saturating_sub(2),
            _ => 0,
        };
        let block_prefixes = (0..reversible).map(|i| (path / format!("block{i}")).path("")).collect();
        let blocks = make_blocks(path, &cfg, e);
        let (norm, head, head_bias) = match revgat {
            true => (
                Norm::new(&(path / "norm"), h, cfg.block_norm),
                Stem::Gat(GatLayer::new(&(path / "head"), h, cfg.out_dim, GatOptions { heads: 1, ..gat })),
                Some(path.var("head_bias", &[cfg.out_dim], nn::Init::Const(0.0))),
            ),
            false => (
                Norm::new(&(path / "norm"), h, BlockNorm::Layer),
                Stem::Linear(linear(path / "head", h, cfg.out_dim, true)),
                None,
            ),
        };
        Model {
            cfg,
            cat,
            enc,
            edge,
            blocks,
            norm,
            head,
            head_bias,
            solves: Cell::new(None),
            block_prefixes,
            unrolled: Cell::new(None),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// DEQ only: the last training step's forward and adjoint solves.
    pub fn last_solves(&self) -> Option<(SolveStats, SolveStats)> {
        self.solves.get()
    }

    /// DEQ: run the block unrolled `steps` times under plain autograd (the authors'
    /// pretraining epochs) instead of solving for its equilibrium; `None` goes back to solving.
    pub fn set_unrolled(&self, steps: Option<usize>) {
        self.unrolled.set(steps.filter(|_| self.cfg.kind == ModelKind::Deq));
    }

    fn rev_blocks(&self) -> Vec<&RevBlock> {
        match &self.blocks {
            Blocks::Rev(b) => b.iter().collect(),
            Blocks::Tied(b) => vec![b; self.cfg.layers],
            _ => Vec::new(),
        }
    }

    /// The input encoder: the node features, then each categorical input's one-hot columns
    /// through their own linear map, concatenated (the authors' sums, then species), then the
    /// encoder to `H` channels.
    fn encode(&self, adj: &Adjacency, x: &Tensor, train: bool) -> Tensor {
        let dropped;
        let x = if train && self.cfg.input_dropout > 0.0 {
            dropped = x.dropout(self.cfg.input_dropout, true);
            &dropped
        } else {
            x
        };
        if self.cat.is_empty() {
            return self.stem(&self.enc, adj, x, train);
        }
        let mut parts = vec![x.narrow(1, 0, self.cfg.in_dim)];
        let mut at = self.cfg.in_dim;
        for (lin, &c) in self.cat.iter().zip(&self.cfg.categorical) {
            parts.push(lin.forward(&x.narrow(1, at, c)));
            at += c;
        }
        self.stem(&self.enc, adj, &Tensor::cat(&parts, 1), train)
    }

    /// The encoder or head on `x`: a GAT layer drops its own edges in training (a fresh
    /// permutation per layer and pass, the authors' `self.perms`).
    fn stem(&self, stem: &Stem, adj: &Adjacency, x: &Tensor, train: bool) -> Tensor {
        match stem {
            Stem::Linear(l) => l.forward(x),
            Stem::Gat(g) => {
                let rate = if train { self.cfg.edge_drop } else { 0.0 };
                match EdgeWindows::draw(adj.num_entries(), rate, 1, x.device()) {
                    Some(e) => g.forward(&adj.with_keep(e.keep(0)), x),
                    None => g.forward(adj, x),
                }
            }
        }
    }

    /// Sets how every BatchNorm treats its statistics in the passes that follow (RevGAT).
    fn set_norm_mode(&self, mode: NormMode) {
        self.norm.set_mode(mode);
        for b in self.rev_blocks() {
            b.set_norm_mode(mode);
        }
    }

    /// The network-level edge encoding of `adj`'s edge features, when the model has one.
    fn edge_embedding(&self, adj: &Adjacency) -> Option<Tensor> {
        Some(self.edge.as_ref()?.forward(adj.edge_attr.as_ref()?))
    }

    fn top(&self, adj: &Adjacency, h: &Tensor, train: bool) -> Tensor {
        let normed = self.norm.forward(h);
        let out = self.stem(&self.head, adj, &normed.relu().dropout(self.cfg.dropout, train), train);
        match &self.head_bias {
            Some(b) => out + b,
            None => out,
        }
    }

    /// Whether the blocks read the initial representation (GCNII).
    fn initial(&self) -> bool {
        self.cfg.conv.gcnii().is_some()
    }

    fn deep(&self, adj: &Adjacency, h0: Tensor) -> Tensor {
        if self.cfg.layers == 0 {
            return h0;
        }
        let init = |k: usize| self.initial().then_some(BlockInit { h0: &h0, layer: k + 1 });
        match &self.blocks {
            Blocks::Res(bs) => {
                bs.iter().enumerate().fold(h0.shallow_clone(), |h, (k, b)| b.forward(adj, &h, &h0, k, 0.0, false))
            }
            Blocks::Deq(b) => match self.unrolled.get() {
                Some(steps) => (0..steps).fold(h0.zeros_like(), |z, _| b.f(adj, &z, &h0, None)),
                None => b.solve(adj, &h0, None, self.cfg.solver()).0,
            },
            _ => self
                .rev_blocks()
                .iter()
                .enumerate()
                .fold(h0.shallow_clone(), |h, (k, b)| b.forward_with(adj, &h, None, init(k))),
        }
    }

    /// Logits `[n, out_dim]` (evaluation: no dropout, no graph kept).
    pub fn logits(&self, adj: &Adjacency, x: &Tensor) -> Tensor {
        self.no_grad_pass(adj, |adj| {
            self.set_norm_mode(NormMode::Eval);
            self.top(adj, &self.deep(adj, self.encode(adj, x, false)), false)
        })
    }

    /// `pass` without a graph, on `adj` with its network-level edge encoding, if the model has one.
    fn no_grad_pass(&self, adj: &Adjacency, pass: impl FnOnce(&Adjacency) -> Tensor) -> Tensor {
        tch::no_grad(|| match self.edge_embedding(adj) {
            Some(e) => pass(&adj.with_edge_attr(e)),
            None => pass(adj),
        })
    }

    /// Logits with dropout drawn as in training, but no graph kept: label reuse's first pass
    /// (the authors run it under `torch.no_grad()` with the model in training mode).
    pub fn logits_train(&self, adj: &Adjacency, x: &Tensor) -> Tensor {
        self.no_grad_pass(adj, |adj| {
            self.set_norm_mode(NormMode::Train);
            let h0 = self.encode(adj, x, true);
            self.top(adj, &self.deep_train(adj, h0), true)
        })
    }

    /// [`Model::deep`] with training's dropout, drawn as the backward draws it.
    fn deep_train(&self, adj: &Adjacency, h0: Tensor) -> Tensor {
        if self.cfg.layers == 0 {
            return h0;
        }
        let (p, n) = (self.cfg.dropout, h0.size()[0]);
        let init = |k: usize| self.initial().then_some(BlockInit { h0: &h0, layer: k + 1 });
        match &self.blocks {
            Blocks::Res(bs) => {
                bs.iter().enumerate().fold(h0.shallow_clone(), |h, (k, b)| b.forward(adj, &h, &h0, k, p, true))
            }
            Blocks::Deq(b) => {
                let mask = dropout_mask(n, self.cfg.hidden, p, h0.device());
                match self.unrolled.get() {
                    Some(steps) => (0..steps).fold(h0.zeros_like(), |z, _| b.f(adj, &z, &h0, mask.as_ref())),
                    None => b.solve(adj, &h0, mask.as_ref(), self.cfg.solver()).0,
                }
            }
            _ => {
                let blocks = self.rev_blocks();
                let (mask, shifts) = self.draw_masks(n, blocks.len(), h0.device());
                let edges = self.draw_edges(adj, blocks.len(), h0.device());
                let pass = StackPass { masks: block_masks(&mask, shifts), initial: self.initial(), edges };
                blocks.iter().enumerate().fold(h0.shallow_clone(), |h, (k, b)| {
                    let view = pass.dropping(adj, k);
                    b.forward_with(view.as_ref().unwrap_or(adj), &h, pass.masks.of(k).as_ref(), init(k))
                })
            }
        }
    }

    /// A training pass's dropped edges for `blocks` reversible blocks (none without edge drop).
    fn draw_edges(&self, adj: &Adjacency, blocks: usize, device: Device) -> Option<EdgeWindows> {
        EdgeWindows::draw_as(self.cfg.edge_draw, adj.num_entries(), self.cfg.edge_drop, blocks, device)
    }

    /// A training forward's dropout for `blocks` reversible blocks: the mask (none at p = 0)
    /// and, for per-block masks, each block's roll.
    fn draw_masks(&self, n: i64, blocks: usize, device: Device) -> (Option<Tensor>, Option<Vec<(i64, i64)>>) {
        let width = match self.cfg.dropout_mask {
            DropoutMask::PerGroup | DropoutMask::PerBlock => self.cfg.hidden,
            DropoutMask::Shared => self.cfg.hidden / self.cfg.groups,
        };
        let mask = dropout_mask(n, width, self.cfg.dropout, device);
        let shifts =
            (mask.is_some() && self.cfg.dropout_mask == DropoutMask::PerBlock).then(|| mask_shifts(blocks, n, width));
        (mask, shifts)
    }

    /// The positions in `names` (the optimiser's parameter names, in its order) grouped as
    /// [`Model::backward_with`] completes their gradients: one group per block whose
    /// `after_block(i)` it calls (group `blocks - 1 - i`: last block first), then one group of
    /// everything else. A model that completes nothing early gives that one group alone.
    pub fn gradient_groups(&self, names: &[String]) -> Vec<Vec<usize>> {
        let blocks = self.block_prefixes.len();
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); blocks + 1];
        for (k, name) in names.iter().enumerate() {
            let block = self.block_prefixes.iter().position(|p| name.starts_with(p.as_str()));
            groups[block.map_or(blocks, |i| blocks - 1 - i)].push(k);
        }
        groups
    }

    /// One training step's forward and backward: gradients accumulate in the parameters;
    /// returns the loss. `loss_of` maps logits to the loss.
    pub fn backward(&self, adj: &Adjacency, x: &Tensor, loss_of: impl Fn(&Tensor) -> Tensor) -> f64 {
        self.backward_with(adj, x, loss_of, &mut |_| {})
    }

    /// [`Model::backward`], calling `after_block(i)` when block `i` has its gradients complete
    /// (RevGNN's and RevGAT's blocks, last block first; [`Model::gradient_groups`] says which
    /// parameters each holds); the other models never call it (their gradients are complete
    /// only at the end).
    pub fn backward_with(
        &self,
        adj: &Adjacency,
        x: &Tensor,
        loss_of: impl Fn(&Tensor) -> Tensor,
        after_block: &mut dyn FnMut(usize),
    ) -> f64 {
        // A network-level edge encoding is computed once; the blocks read a detached copy
        // whose gradient, gathered over every block's backward, is sent into the encoder last
        // (the reversible and implicit backward passes cannot keep one graph through it).
        let embedded = self.edge_embedding(adj).map(|e| {
            let leaf = e.detach().set_requires_grad(true);
            let view = adj.with_edge_attr(leaf.shallow_clone());
            (e, leaf, view)
        });
        let graph = embedded.as_ref().map_or(adj, |(_, _, view)| view);
        let loss = self.blocks_backward(graph, x, loss_of, after_block);
        if let Some((e, leaf, _)) = embedded {
            let g = leaf.grad();
            if g.defined() {
                crate::autograd::backward_with(&e, &g);
            }
        }
        loss
    }

    fn blocks_backward(
        &self,
        adj: &Adjacency,
        x: &Tensor,
        loss_of: impl Fn(&Tensor) -> Tensor,
        after_block: &mut dyn FnMut(usize),
    ) -> f64 {
        let p = self.cfg.dropout;
        self.set_norm_mode(NormMode::Train);
        let h0 = self.encode(adj, x, true);
        let n = h0.size()[0];
        let plain = |h: Tensor| {
            let loss = loss_of(&self.top(adj, &h, true));
            loss.backward();
            loss.double_value(&[])
        };
        match &self.blocks {
            _ if self.cfg.layers == 0 => plain(h0),
            Blocks::Res(bs) => {
                plain(bs.iter().enumerate().fold(h0.shallow_clone(), |h, (k, b)| b.forward(adj, &h, &h0, k, p, true)))
            }
            Blocks::Deq(b) => {
                let mask = dropout_mask(n, self.cfg.hidden, p, h0.device());
                if let Some(steps) = self.unrolled.get() {
                    let z = (0..steps).fold(h0.zeros_like(), |z, _| b.f(adj, &z, &h0, mask.as_ref()));
                    return plain(z);
                }
                let (z, fwd) = b.solve(adj, &h0, mask.as_ref(), self.cfg.solver());
                let z = z.set_requires_grad(true);
                let loss = loss_of(&self.top(adj, &z, true));
                loss.backward();
                let adjoint = b.backward(adj, &z, &h0, &z.grad(), mask.as_ref(), self.cfg.solver());
                self.solves.set(Some((fwd, adjoint)));
                loss.double_value(&[])
            }
            _ => {
                let blocks = self.rev_blocks();
                let (mask, shifts) = self.draw_masks(n, blocks.len(), h0.device());
                let edges = self.draw_edges(adj, blocks.len(), h0.device());
                let pass = StackPass { masks: block_masks(&mask, shifts), initial: self.initial(), edges };
                let top = |h: &Tensor| loss_of(&self.top(adj, h, true));
                let (loss, g) = match &self.blocks {
                    Blocks::Rev(_) => reversible_backward_init(&blocks, adj, &h0, &pass, top, after_block),
                    // Tied blocks share one set of weights, complete only after the last pass.
                    _ => reversible_backward_init(&blocks, adj, &h0, &pass, top, &mut |_| {}),
                };
                crate::autograd::backward_with(&h0, &g);
                loss
            }
        }
    }
}

/// The reversible blocks' masks from a draw of [`Model::draw_masks`].
fn block_masks(mask: &Option<Tensor>, shifts: Option<Vec<(i64, i64)>>) -> BlockMasks<'_> {
    match (mask, shifts) {
        (Some(base), Some(shifts)) => BlockMasks::Rolled { base, shifts },
        _ => BlockMasks::Same(mask.as_ref()),
    }
}

/// The model's blocks under `path` (`e`: the edge-feature width each convolution reads).
fn make_blocks(path: &nn::Path, cfg: &ModelConfig, e: i64) -> Blocks {
    let (h, gat) = (cfg.hidden, cfg.gat);
    match cfg.kind {
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
            (0..cfg.layers).map(|i| RevBlock::new(&(path / format!("block{i}")), cfg.conv, h, cfg.groups, e)).collect(),
        ),
        ModelKind::WtRevgnn => Blocks::Tied(RevBlock::new(&(path / "block"), cfg.conv, h, cfg.groups, e)),
        ModelKind::Deq => Blocks::Deq(Box::new(DeqBlock::new(&(path / "deq"), cfg.conv, h, e))),
        ModelKind::Revgat => Blocks::Rev(
            (0..cfg.layers.saturating_sub(2))
                .map(|i| RevBlock::new_gat(&(path / format!("block{i}")), h, cfg.groups, gat, cfg.block_norm))
                .collect(),
        ),
    }
}

/// Makes every reversible block's group functions start as copies of its first
/// ([`GroupInit::Copy`]): each variable `...block<k>.f<i>.<rest>` with `i >= 1` (or
/// `block.f<i>.<rest>` of a weight-tied model) takes the value of its `f0` twin.
pub fn copy_group_init(vs: &nn::VarStore) {
    let vars = vs.variables();
    tch::no_grad(|| {
        for (name, t) in &vars {
            let parts: Vec<&str> = name.split('.').collect();
            let Some(at) =
                parts.iter().position(|p| p.starts_with('f') && p[1..].parse::<usize>().is_ok_and(|i| i >= 1))
            else {
                continue;
            };
            if at == 0 || !parts[at - 1].starts_with("block") {
                continue;
            }
            let mut twin = parts.clone();
            twin[at] = "f0";
            if let Some(src) = vars.get(&twin.join(".")) {
                t.shallow_clone().copy_(src);
            }
        }
    });
}

/// Number of trainable scalars in a var store.
pub fn num_params(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}
