//! The reversible backward equals plain autograd, and the inverse reconstructs inputs.

use mille_loader::{Loader, LoaderConfig, PlanSpec};
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use mille_train::conv::ConvKind;
use mille_train::graph::{GraphTensors, Norm};
use mille_train::rev::{RevBlock, dropout_mask, reversible_backward};
use std::path::Path;
use std::sync::Arc;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

fn batch() -> (GraphTensors, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/products_like");
    let opts = PrepareOptions::new("p", true);
    let s =
        Arc::new(mille_pipeline::Store::open(prepare_dir(&src, &tmp.path().join("p"), &opts).unwrap().path).unwrap());
    let l = Loader::new(s, LoaderConfig { plan: PlanSpec::Full, self_loops: true, ..Default::default() }).unwrap();
    let b = l.epoch(0).next().unwrap().unwrap();
    (GraphTensors::new(&b, Device::Cpu), tmp)
}

fn max_rel(a: &Tensor, b: &Tensor) -> f64 {
    let diff = (a - b).abs().max().double_value(&[]);
    diff / b.abs().max().double_value(&[]).max(1e-12)
}

#[test]
fn reversible_gradients_equal_autograd() {
    tch::manual_seed(0);
    let (g, _tmp) = batch();
    for kind in [ConvKind::Sage, ConvKind::Gcn] {
        let adj = g.operator(if kind == ConvKind::Sage { Norm::Mean } else { Norm::Symmetric });
        for groups in [2i64, 3] {
            for layers in [2usize, 8, 32] {
                let dim = 12;
                let vs = nn::VarStore::new(Device::Cpu);
                let enc = nn::linear(vs.root() / "enc", g.x.size()[1], dim, Default::default());
                let head = nn::linear(vs.root() / "head", dim, 4, Default::default());
                let blocks: Vec<RevBlock> =
                    (0..layers).map(|i| RevBlock::new(&(vs.root() / format!("b{i}")), kind, dim, groups)).collect();
                let refs: Vec<&RevBlock> = blocks.iter().collect();
                let mask = dropout_mask(g.n, dim / groups, 0.3, Device::Cpu);
                let y = g.y.as_ref().unwrap();
                let loss_of = |h: &Tensor| head.forward(h).cross_entropy_for_logits(y);

                // Plain autograd: every activation kept.
                let x0 = enc.forward(&g.x);
                let h = refs.iter().fold(x0, |h, b| b.forward(&adj, &h, mask.as_ref()));
                loss_of(&h).backward();
                let want: Vec<Tensor> = vs.trainable_variables().iter().map(|v| v.grad().copy()).collect();
                for mut v in vs.trainable_variables() {
                    v.zero_grad();
                }

                // Reversible: blocks forward without a graph, then reconstructed.
                let x0 = enc.forward(&g.x);
                let (_, g0) = reversible_backward(&refs, &adj, &x0, mask.as_ref(), loss_of);
                (x0 * g0).sum(Kind::Float).backward();
                for (v, w) in vs.trainable_variables().iter().zip(&want) {
                    let e = max_rel(&v.grad(), w);
                    assert!(e <= 1e-4, "{kind:?} groups {groups} layers {layers}: relative error {e}");
                }
            }
        }
    }
}

#[test]
fn the_inverse_reconstructs_the_input_after_100_layers() {
    tch::manual_seed(1);
    let (g, _tmp) = batch();
    let adj = g.operator(Norm::Mean);
    let vs = nn::VarStore::new(Device::Cpu);
    let dim = 16;
    let blocks: Vec<RevBlock> =
        (0..100).map(|i| RevBlock::new(&(vs.root() / format!("b{i}")), ConvKind::Sage, dim, 2)).collect();
    let mask = dropout_mask(g.n, dim / 2, 0.2, Device::Cpu);
    tch::no_grad(|| {
        let x = Tensor::randn([g.n, dim], (Kind::Float, Device::Cpu));
        let y = blocks.iter().fold(x.shallow_clone(), |h, b| b.forward(&adj, &h, mask.as_ref()));
        // float32 rounding grows with the activations' scale, so the error is measured relative
        // to the largest activation the inverse had to undo.
        let scale = y.abs().max().double_value(&[]);
        let back = blocks.iter().rev().fold(y, |h, b| b.inverse(&adj, &h, mask.as_ref()));
        let err = (&back - &x).abs().max().double_value(&[]);
        eprintln!("100-layer reconstruction: max error {err:.3e}, activation scale {scale:.3}");
        assert!(err / scale <= 1e-4, "reconstruction error {err} at scale {scale}");
    });
}
