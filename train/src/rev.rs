//! Grouped reversible blocks (RevGNN) and the backward pass that reconstructs activations
//! instead of storing them: activation memory O(N·D) whatever the depth.
//!
//! Channels are split into C groups X_1..X_C. Forward: `X'_0 = sum_{i>=2} X_i`,
//! `X'_i = F_i(X'_{i-1}) + X_i`. Inverse: `X_i = X'_i - F_i(X'_{i-1})` for i = C..2, then
//! `X'_0 = sum_{i>=2} X_i`, `X_1 = X'_1 - F_1(X'_0)`. `F_i` = LayerNorm -> ReLU -> dropout with
//! a mask drawn once per forward pass and used by every layer (group i its own chunk of an
//! `[N, H]` mask, as the authors and PyG do, or one group-wide mask for all) -> convolution.
//!
//! The backward ([`RevBlock::backward`]) evaluates each `F_i` once, with autograd: for i >= 2 its
//! input `X'_{i-1}` is a chunk of the block's *output*, known before anything is reconstructed,
//! so one evaluation both reconstructs `X_i = X'_i - F_i(X'_{i-1})` and holds the graph the
//! gradients need; only `F_1` waits for the reconstructed `X'_0`. That is C evaluations per
//! block in the backward instead of 2C (an inverse, then the forward again with autograd).

use crate::conv::{Conv, ConvKind, Initial};
use crate::graph::Adjacency;
use crate::revgat::{BlockNorm, GatLayer, GatOptions, Norm, NormMode};
use std::cell::Cell;
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// One `F_i`: norm -> ReLU -> dropout -> convolution.
#[derive(Debug)]
enum GroupFn {
    /// LayerNorm and one of mille's convolutions (RevGNN; boxed, as the larger variant).
    Plain { norm: nn::LayerNorm, conv: Box<Conv> },
    /// BatchNorm (or, `--norm layer`, LayerNorm) and the authors' GAT layer (RevGAT's
    /// `RevGATBlock`).
    Gat { norm: Norm, conv: GatLayer },
}

impl GroupFn {
    fn forward(&self, adj: &Adjacency, h: &Tensor, mask: Option<&Tensor>, init: Option<Initial<'_>>) -> Tensor {
        let z = match self {
            GroupFn::Plain { norm, .. } => norm.forward(h).relu(),
            GroupFn::Gat { norm, .. } => norm.forward(h).relu(),
        };
        let z = match mask {
            Some(m) => z * m,
            None => z,
        };
        match self {
            GroupFn::Plain { conv, .. } => conv.forward_with(adj, &z, init),
            GroupFn::Gat { conv, .. } => conv.forward(adj, &z),
        }
    }
}

/// What a block whose convolutions read the initial representation (GCNII) is given: `h0` at
/// the block's full width (group `i` reads its `i`-th chunk) and the block's depth, from 1.
#[derive(Debug, Clone, Copy)]
pub struct BlockInit<'a> {
    /// The network's first hidden representation, `[N, D]`.
    pub h0: &'a Tensor,
    /// This block's depth `l` (1-based; a weight-tied block is called at every depth).
    pub layer: usize,
}

/// A reversible block of `groups` group functions over `dim` channels.
#[derive(Debug)]
pub struct RevBlock {
    fns: Vec<GroupFn>,
    groups: i64,
    /// Group-function evaluations so far (forward, inverse and backward alike): what the tests
    /// count to show the backward's cost.
    evals: Cell<u64>,
}

impl RevBlock {
    /// A new block under `path`; `dim` must be divisible by `groups` (at least 2); `edge_dim`:
    /// width of the batches' edge features (0: none).
    pub fn new(path: &nn::Path, kind: ConvKind, dim: i64, groups: i64, edge_dim: i64) -> RevBlock {
        assert!(groups >= 2 && dim % groups == 0, "{dim} channels do not split into {groups} groups");
        let g = dim / groups;
        let fns = (0..groups)
            .map(|i| {
                let p = path / format!("f{i}");
                GroupFn::Plain {
                    norm: nn::layer_norm(&p / "norm", vec![g], Default::default()),
                    conv: Box::new(Conv::new(&(&p / "conv"), kind, g, edge_dim)),
                }
            })
            .collect();
        RevBlock { fns, groups, evals: Cell::new(0) }
    }

    /// A RevGAT block under `path`: each group function `norm` (BatchNorm, the authors') ->
    /// ReLU -> dropout -> the authors' GAT layer from `dim / groups` channels to `opts.heads` heads of
    /// `dim / groups / heads` (the width it came in with).
    pub fn new_gat(path: &nn::Path, dim: i64, groups: i64, opts: GatOptions, norm: BlockNorm) -> RevBlock {
        assert!(groups >= 2 && dim % groups == 0, "{dim} channels do not split into {groups} groups");
        let g = dim / groups;
        assert!(g % opts.heads == 0, "a group of {g} channels does not split into {} heads", opts.heads);
        let fns = (0..groups)
            .map(|i| {
                let p = path / format!("f{i}");
                GroupFn::Gat {
                    norm: Norm::new(&(&p / "norm"), g, norm),
                    conv: GatLayer::new(&(&p / "conv"), g, g / opts.heads, opts),
                }
            })
            .collect();
        RevBlock { fns, groups, evals: Cell::new(0) }
    }

    /// Sets how the group functions' BatchNorms treat their statistics (RevGAT; LayerNorm has
    /// none).
    pub fn set_norm_mode(&self, mode: NormMode) {
        for f in &self.fns {
            if let GroupFn::Gat { norm, .. } = f {
                norm.set_mode(mode);
            }
        }
    }

    /// The mode of the group functions' BatchNorms, if they have any.
    fn norm_mode(&self) -> Option<NormMode> {
        self.fns.iter().find_map(|f| match f {
            GroupFn::Gat { norm, .. } => norm.mode(),
            GroupFn::Plain { .. } => None,
        })
    }

    /// Group-function evaluations this block has run (every pass that reuses the block counts).
    pub fn evaluations(&self) -> u64 {
        self.evals.get()
    }

    /// Group function `i` on `h`. A mask as wide as a group is shared by every group; a mask
    /// `groups` times wider (the authors' `[N, H]`) gives group `i` its `i`-th chunk.
    fn eval(
        &self,
        i: usize,
        adj: &Adjacency,
        h: &Tensor,
        mask: Option<&Tensor>,
        init: Option<BlockInit<'_>>,
    ) -> Tensor {
        self.evals.set(self.evals.get() + 1);
        let width = h.size()[1];
        let chunk;
        let mask = match mask {
            Some(m) if m.size()[1] != width => {
                chunk = m.narrow(1, i as i64 * width, width);
                Some(&chunk)
            }
            m => m,
        };
        let h0;
        let init = match init {
            Some(b) => {
                h0 = b.h0.narrow(1, i as i64 * width, width);
                Some(Initial { h0: &h0, layer: b.layer })
            }
            None => None,
        };
        self.fns[i].forward(adj, h, mask, init)
    }

    /// `X -> X'`. `mask` is the shared dropout mask of one group's width (or none).
    pub fn forward(&self, adj: &Adjacency, x: &Tensor, mask: Option<&Tensor>) -> Tensor {
        self.forward_with(adj, x, mask, None)
    }

    /// [`RevBlock::forward`] with the initial representation GCNII group functions read.
    pub fn forward_with(
        &self,
        adj: &Adjacency,
        x: &Tensor,
        mask: Option<&Tensor>,
        init: Option<BlockInit<'_>>,
    ) -> Tensor {
        let xs = x.chunk(self.groups, 1);
        let mut prev = xs[1..].iter().fold(xs[1].zeros_like(), |acc, t| acc + t);
        let mut out = Vec::with_capacity(xs.len());
        for (i, x) in xs.iter().enumerate() {
            let y = self.eval(i, adj, &prev, mask, init) + x;
            out.push(y.shallow_clone());
            prev = y;
        }
        Tensor::cat(&out, 1)
    }

    /// `X' -> X`, the exact inverse of [`RevBlock::forward`] (same mask).
    pub fn inverse(&self, adj: &Adjacency, y: &Tensor, mask: Option<&Tensor>) -> Tensor {
        self.inverse_with(adj, y, mask, None)
    }

    /// [`RevBlock::inverse`] of [`RevBlock::forward_with`] (same mask and initial representation).
    pub fn inverse_with(
        &self,
        adj: &Adjacency,
        y: &Tensor,
        mask: Option<&Tensor>,
        init: Option<BlockInit<'_>>,
    ) -> Tensor {
        let ys = y.chunk(self.groups, 1);
        let c = ys.len();
        let mut xs: Vec<Tensor> = (0..c).map(|_| Tensor::new()).collect();
        for i in (1..c).rev() {
            xs[i] = &ys[i] - self.eval(i, adj, &ys[i - 1], mask, init);
        }
        let prev0 = xs[1..].iter().fold(xs[1].zeros_like(), |acc, t| acc + t);
        xs[0] = &ys[0] - self.eval(0, adj, &prev0, mask, init);
        Tensor::cat(&xs, 1)
    }

    /// Backpropagates `gy`, the loss's gradient at this block's output `y`, through the block:
    /// parameter gradients accumulate in their `.grad()`; returns the reconstructed input `x`
    /// and the gradient at it. Each group function runs once, on a detached copy of its input
    /// (a leaf): its value reconstructs one input chunk, and its graph is the forward's, so the
    /// vector-Jacobian products are the forward map's. Groups go last to first, each one's graph
    /// freed before the next is built: with `gY` the output gradient, for i = C..2 backpropagate
    /// `gY_i` through `F_i`, which adds into `gY_{i-1}`; then `gY_1` through `F_1` gives the
    /// gradient at `X'_0`, `g0`. The input's gradient is `gY_1` for chunk 1 and `gY_i + g0` for
    /// i >= 2 (each `X_i` reaches the loss directly and through `X'_0`).
    pub fn backward(&self, adj: &Adjacency, y: &Tensor, gy: &Tensor, mask: Option<&Tensor>) -> (Tensor, Tensor) {
        let (xs, gx) =
            self.backward_chunks(adj, y.detach().chunk(self.groups, 1), gy.chunk(self.groups, 1), mask, None);
        (Tensor::cat(&xs, 1), Tensor::cat(&gx, 1))
    }

    /// [`RevBlock::backward`] on the group chunks of `y` and `gy`, returning those of the input
    /// and its gradient: consecutive blocks hand chunks on without concatenating them (two
    /// copies of `[N, D]` per block saved). With `init`, its `h0` should be a leaf that requires
    /// its gradient: every group function's share of it accumulates there.
    fn backward_chunks(
        &self,
        adj: &Adjacency,
        ys: Vec<Tensor>,
        mut gys: Vec<Tensor>,
        mask: Option<&Tensor>,
        init: Option<BlockInit<'_>>,
    ) -> (Vec<Tensor>, Vec<Tensor>) {
        let c = ys.len();
        assert!(c == self.fns.len() && gys.len() == c, "{c} chunks for a block of {} groups", self.fns.len());
        // The forward updated the BatchNorm statistics already: this recomputation normalises
        // by the batch's own, as that forward did, and moves them no further.
        let mode = self.norm_mode();
        if mode == Some(NormMode::Train) {
            self.set_norm_mode(NormMode::TrainFrozen);
        }
        let mut xs: Vec<Tensor> = (0..c).map(|_| Tensor::new()).collect();
        // One group: value, then its vector-Jacobian product. Returns the gradient at its input.
        let through = |i: usize, input: &Tensor, g: &Tensor, xs: &mut [Tensor]| {
            let leaf = input.detach().set_requires_grad(true);
            let z = self.eval(i, adj, &leaf, mask, init);
            xs[i] = &ys[i] - z.detach();
            crate::autograd::backward_with(&z, g);
            leaf.grad()
        };
        for i in (1..c).rev() {
            let g_in = through(i, &ys[i - 1], &gys[i], &mut xs);
            gys[i - 1] = &gys[i - 1] + g_in;
        }
        let prev0 = xs[1..].iter().fold(xs[1].zeros_like(), |acc, t| acc + t);
        let g0 = through(0, &prev0, &gys[0], &mut xs);
        if let Some(m) = mode {
            self.set_norm_mode(m);
        }
        let gx = gys.iter().enumerate().map(|(i, g)| if i == 0 { g.shallow_clone() } else { g + &g0 }).collect();
        (xs, gx)
    }
}

/// The dropout mask each block of a reversible stack multiplies by (its group functions chunk
/// it as [`RevBlock::forward`] says).
#[derive(Debug)]
pub enum BlockMasks<'a> {
    /// One mask (or none) for every block: the authors' RevGNN (`model_rev.py` draws it once per
    /// forward and hands it to every block) and PyG's.
    Same(Option<&'a Tensor>),
    /// Block `k` multiplies by `base` rolled by `shifts[k]` (rows, columns): a fresh-looking mask
    /// per block, as a plain deep GNN's per-layer dropout (GCNII's), that the backward
    /// reconstructs exactly from two integers per block instead of keeping L masks
    /// (O(L N H) bytes). Each element of a rolled mask is another element of the i.i.d. base,
    /// so two blocks' masks at one position are independent draws unless their shifts agree.
    Rolled {
        /// The `[N, W]` mask drawn once per forward.
        base: &'a Tensor,
        /// Block `k`'s (row, column) shift.
        shifts: Vec<(i64, i64)>,
    },
}

impl BlockMasks<'_> {
    /// Block `k`'s mask.
    pub fn of(&self, k: usize) -> Option<Tensor> {
        match self {
            BlockMasks::Same(m) => m.map(|m| m.shallow_clone()),
            BlockMasks::Rolled { base, shifts } => {
                let (r, c) = shifts[k];
                Some(base.roll([r, c], [0, 1]))
            }
        }
    }
}

/// Block shifts for [`BlockMasks::Rolled`]: `blocks` (row, column) pairs drawn from libtorch's
/// generator (so a seeded run draws the same), each row shift in `0..n`, column in `0..width`.
pub fn mask_shifts(blocks: usize, n: i64, width: i64) -> Vec<(i64, i64)> {
    let draw = |hi: i64| Tensor::randint(hi.max(1), [blocks as i64], (Kind::Int64, tch::Device::Cpu));
    let (r, c) = (draw(n), draw(width));
    (0..blocks as i64).map(|k| (r.int64_value(&[k]), c.int64_value(&[k]))).collect()
}

/// What one training pass through a reversible stack draws and reads besides its input.
#[derive(Debug)]
pub struct StackPass<'a> {
    /// Each block's dropout mask.
    pub masks: BlockMasks<'a>,
    /// Whether the blocks read the stack's input as their initial representation (GCNII).
    pub initial: bool,
    /// Each block's dropped edges (RevGAT's edge drop), if any.
    pub edges: Option<EdgeWindows>,
}

impl StackPass<'_> {
    /// Block `k`'s view of the graph when edges drop (its dropped entries marked); `None`:
    /// the stack's graph itself, whose operators stay cached across blocks.
    pub fn dropping(&self, adj: &Adjacency, k: usize) -> Option<Adjacency> {
        self.edges.as_ref().map(|e| adj.with_keep(e.keep(k)))
    }
}

/// How the blocks of a reversible stack draw the edges they drop (RevGAT's edge drop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeDraw {
    /// One random permutation of the `E` entries per pass, and block `k` drops the
    /// `floor(rate E)` entries whose permuted position, rotated by the block's own random
    /// shift, falls below that bound: a uniformly random subset of exactly that size per block,
    /// each entry dropped by two blocks independently (the shifts are), which the backward
    /// rebuilds from one integer per block. Two blocks' subsets are windows of one cyclic
    /// order, though, not independent draws: a departure from the authors, for memory flat in
    /// depth.
    #[default]
    Windows,
    /// A permutation of its own per block, as the authors (`model_rev.py` draws one per layer):
    /// each block's kept entries are held for the backward, `E` bytes a block.
    PerBlock,
}

mille_pipeline::choices!(EdgeDraw { Windows => "windows", PerBlock => "per-block" });

/// Edge drop in a reversible stack, drawn as [`EdgeDraw`] says: block `k` drops `floor(rate E)`
/// of the `E` entries (the authors draw a permutation per layer and drop its first that many).
/// Both groups of a block drop the same entries, as the authors' stacked permutation does.
#[derive(Debug)]
pub struct EdgeWindows(Drawn);

#[derive(Debug)]
enum Drawn {
    /// [`EdgeDraw::Windows`]: one permutation, one shift per block.
    Rotated { perm: Tensor, shifts: Vec<i64>, bound: i64 },
    /// [`EdgeDraw::PerBlock`]: each block's kept entries (bool `[E]`).
    Kept(Vec<Tensor>),
}

impl EdgeWindows {
    /// A draw for `blocks` blocks over `entries` entries at `rate` (none when `rate` is 0 or
    /// the graph has no entries), from libtorch's generator.
    pub fn draw(entries: i64, rate: f64, blocks: usize, device: tch::Device) -> Option<EdgeWindows> {
        EdgeWindows::draw_as(EdgeDraw::Windows, entries, rate, blocks, device)
    }

    /// [`EdgeWindows::draw`] the way `how` says.
    pub fn draw_as(how: EdgeDraw, entries: i64, rate: f64, blocks: usize, device: tch::Device) -> Option<EdgeWindows> {
        let bound = (entries as f64 * rate) as i64;
        if rate <= 0.0 || entries == 0 {
            return None;
        }
        Some(EdgeWindows(match how {
            EdgeDraw::Windows => {
                let perm = Tensor::randperm(entries, (Kind::Int64, device));
                let s = Tensor::randint(entries, [blocks as i64], (Kind::Int64, tch::Device::Cpu));
                let shifts = (0..blocks as i64).map(|k| s.int64_value(&[k])).collect();
                Drawn::Rotated { perm, shifts, bound }
            }
            EdgeDraw::PerBlock => {
                Drawn::Kept((0..blocks).map(|_| Tensor::randperm(entries, (Kind::Int64, device)).ge(bound)).collect())
            }
        }))
    }

    /// Block `k`'s kept entries (bool `[E]`).
    pub fn keep(&self, k: usize) -> Tensor {
        match &self.0 {
            Drawn::Rotated { perm, shifts, bound } => {
                let e = perm.size()[0];
                (perm + shifts[k]).remainder(e).ge(*bound)
            }
            Drawn::Kept(keeps) => keeps[k].shallow_clone(),
        }
    }
}

/// A dropout mask for `[n, width]` activations, scaled by 1/(1-p); `None` when p = 0.
pub fn dropout_mask(n: i64, width: i64, p: f64, device: tch::Device) -> Option<Tensor> {
    (p > 0.0).then(|| Tensor::rand([n, width], (Kind::Float, device)).ge(p).to_kind(Kind::Float) / (1.0 - p))
}

/// Runs `blocks` forward without keeping activations, then backpropagates `loss_of(h_L)`
/// through them by reconstructing each block's input from its output. Parameter gradients
/// accumulate in their `.grad()`; returns the loss value and the gradient at the blocks' input.
pub fn reversible_backward(
    blocks: &[&RevBlock],
    adj: &Adjacency,
    x0: &Tensor,
    mask: Option<&Tensor>,
    loss_of: impl FnOnce(&Tensor) -> Tensor,
) -> (f64, Tensor) {
    reversible_backward_with(blocks, adj, x0, mask, loss_of, &mut |_| {})
}

/// [`reversible_backward`], calling `after_block(i)` as soon as block `i`'s parameter
/// gradients are complete (last block first): where a data-parallel step starts reducing them.
pub fn reversible_backward_with(
    blocks: &[&RevBlock],
    adj: &Adjacency,
    x0: &Tensor,
    mask: Option<&Tensor>,
    loss_of: impl FnOnce(&Tensor) -> Tensor,
    after_block: &mut dyn FnMut(usize),
) -> (f64, Tensor) {
    let pass = StackPass { masks: BlockMasks::Same(mask), initial: false, edges: None };
    reversible_backward_init(blocks, adj, x0, &pass, loss_of, after_block)
}

/// [`reversible_backward_with`] with each block's own mask (`masks`); with `initial`, the
/// blocks' group functions also read `x0` as their initial representation (GCNII: block `k`,
/// from 0, at depth `k + 1`), and the returned gradient at `x0` includes what flows into it
/// through every block's use of it.
pub fn reversible_backward_init(
    blocks: &[&RevBlock],
    adj: &Adjacency,
    x0: &Tensor,
    pass: &StackPass<'_>,
    loss_of: impl FnOnce(&Tensor) -> Tensor,
    after_block: &mut dyn FnMut(usize),
) -> (f64, Tensor) {
    let masks = &pass.masks;
    // One leaf for h0: each block's backward adds its share into the leaf's gradient.
    let h0 = pass.initial.then(|| x0.detach().set_requires_grad(true));
    let init = |k: usize| h0.as_ref().map(|h0| BlockInit { h0, layer: k + 1 });
    let h = tch::no_grad(|| {
        blocks.iter().enumerate().fold(x0.detach(), |h, (k, b)| {
            let view = pass.dropping(adj, k);
            b.forward_with(view.as_ref().unwrap_or(adj), &h, masks.of(k).as_ref(), init(k))
        })
    });
    let top = h.detach().set_requires_grad(true);
    let loss = loss_of(&top);
    loss.backward();
    let value = loss.double_value(&[]);
    let Some(first) = blocks.first() else { return (value, top.grad()) };
    let (mut ys, mut gs) = (h.chunk(first.groups, 1), top.grad().chunk(first.groups, 1));
    drop(h);
    for (i, b) in blocks.iter().enumerate().rev() {
        let view = pass.dropping(adj, i);
        (ys, gs) = b.backward_chunks(view.as_ref().unwrap_or(adj), ys, gs, masks.of(i).as_ref(), init(i));
        after_block(i);
    }
    let g = Tensor::cat(&gs, 1);
    match h0.map(|h0| h0.grad()) {
        Some(g0) if g0.defined() => (value, g + g0),
        _ => (value, g),
    }
}
