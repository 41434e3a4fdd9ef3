//! The reversible backward equals plain autograd for every operator, for RevGNN and WT-RevGNN,
//! and the inverse reconstructs inputs.

mod common;

use common::{fixture_batch, max_rel};
use mille_train::conv::{Aggr, ConvKind};
use mille_train::rev::{RevBlock, dropout_mask, reversible_backward};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

const CONVS: [ConvKind; 6] = [
    ConvKind::Sage,
    ConvKind::Gcn,
    ConvKind::Gen(Aggr::Softmax),
    ConvKind::Gen(Aggr::Max),
    ConvKind::Gen(Aggr::Mean),
    ConvKind::Gat(2),
];

/// Compares parameter gradients of the reversible backward with autograd's on one model whose
/// blocks are `blocks(vs)` (one per layer; the same block repeated for weight tying).
fn check(layers: usize, groups: i64, kind: ConvKind, tied: bool) {
    let (g, _tmp) = fixture_batch();
    // Double precision: the comparison is of the algorithm, not of float32 rounding (which
    // reaches 1e-4 relative after 32 weight-tied layers).
    let (adj, x) = (g.adj.to_kind(Kind::Double), g.x.to_kind(Kind::Double));
    let dim = 12;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let enc = nn::linear(vs.root() / "enc", g.x.size()[1], dim, Default::default());
    let head = nn::linear(vs.root() / "head", dim, 4, Default::default());
    let owned: Vec<RevBlock> = (0..if tied { 1 } else { layers })
        .map(|i| RevBlock::new(&(vs.root() / format!("b{i}")), kind, dim, groups, 0))
        .collect();
    let refs: Vec<&RevBlock> = (0..layers).map(|i| &owned[if tied { 0 } else { i }]).collect();
    vs.double();
    let mask = dropout_mask(g.n, dim / groups, 0.3, Device::Cpu).map(|m| m.to_kind(Kind::Double));
    let y = g.classes().unwrap();
    let loss_of = |h: &Tensor| head.forward(h).cross_entropy_for_logits(y);

    // Plain autograd: every activation kept.
    let x0 = enc.forward(&x);
    let h = refs.iter().fold(x0, |h, b| b.forward(&adj, &h, mask.as_ref()));
    loss_of(&h).backward();
    let want: Vec<Tensor> = vs.trainable_variables().iter().map(|v| v.grad().copy()).collect();
    for mut v in vs.trainable_variables() {
        v.zero_grad();
    }

    // Reversible: blocks forward without a graph, then reconstructed.
    let x0 = enc.forward(&x);
    let (_, g0) = reversible_backward(&refs, &adj, &x0, mask.as_ref(), loss_of);
    (x0 * g0).sum(Kind::Double).backward();
    for (v, w) in vs.trainable_variables().iter().zip(&want) {
        let e = max_rel(&v.grad(), w);
        assert!(e <= 1e-4, "{kind:?} groups {groups} layers {layers} tied {tied}: relative error {e}");
    }
}

#[test]
fn reversible_gradients_equal_autograd_for_every_operator() {
    tch::manual_seed(0);
    for kind in CONVS {
        for groups in [2i64, 3] {
            for layers in [2usize, 8, 32] {
                check(layers, groups, kind, false);
            }
        }
    }
}

#[test]
fn weight_tied_gradients_equal_autograd_for_every_operator() {
    tch::manual_seed(1);
    for kind in CONVS {
        for groups in [2i64, 3] {
            for layers in [2usize, 8, 32] {
                check(layers, groups, kind, true);
            }
        }
    }
}

#[test]
fn the_inverse_reconstructs_the_input_after_100_layers() {
    tch::manual_seed(1);
    let (g, _tmp) = fixture_batch();
    let vs = nn::VarStore::new(Device::Cpu);
    let dim = 16;
    let blocks: Vec<RevBlock> =
        (0..100).map(|i| RevBlock::new(&(vs.root() / format!("b{i}")), ConvKind::Sage, dim, 2, 0)).collect();
    let mask = dropout_mask(g.n, dim / 2, 0.2, Device::Cpu);
    tch::no_grad(|| {
        let x = Tensor::randn([g.n, dim], (Kind::Float, Device::Cpu));
        let y = blocks.iter().fold(x.shallow_clone(), |h, b| b.forward(&g.adj, &h, mask.as_ref()));
        // float32 rounding grows with the activations' scale, so the error is measured relative
        // to the largest activation the inverse had to undo.
        let scale = y.abs().max().double_value(&[]);
        let back = blocks.iter().rev().fold(y, |h, b| b.inverse(&g.adj, &h, mask.as_ref()));
        let err = (&back - &x).abs().max().double_value(&[]);
        eprintln!("100-layer reconstruction: max error {err:.3e}, activation scale {scale:.3}");
        assert!(err / scale <= 1e-4, "reconstruction error {err} at scale {scale}");
    });
}
