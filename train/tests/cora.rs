//! A RevGNN trained on real Cora (public split) through the loader and the reversible backward.

use mille_loader::{Loader, LoaderConfig, PlanSpec};
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use mille_train::conv::ConvKind;
use mille_train::graph::{GraphTensors, Norm};
use mille_train::rev::{RevBlock, dropout_mask, reversible_backward};
use std::path::Path;
use std::sync::Arc;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

fn accuracy(logits: &Tensor, y: &Tensor, mask: &Tensor) -> f64 {
    let pred = logits.argmax(1, false);
    let hits = pred.eq_tensor(y).logical_and(mask).sum(Kind::Float).double_value(&[]);
    hits / mask.sum(Kind::Float).double_value(&[])
}

#[test]
fn revgnn_reaches_78_percent_on_cora() {
    tch::manual_seed(0);
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/cora");
    let opts = PrepareOptions::new("cora", false);
    let s = Arc::new(
        mille_pipeline::Store::open(prepare_dir(&src, &tmp.path().join("cora"), &opts).unwrap().path).unwrap(),
    );
    let l = Loader::new(s, LoaderConfig { plan: PlanSpec::Full, self_loops: true, ..Default::default() }).unwrap();
    let b = l.epoch(0).next().unwrap().unwrap();
    let g = GraphTensors::new(&b, Device::Cpu);
    // Row-normalised bag-of-words, as the published GCN setup.
    let x = &g.x / g.x.sum_dim_intlist(1, true, Kind::Float).clamp_min(1.0);
    let adj = g.operator(Norm::Symmetric);
    let y = g.y.as_ref().unwrap();

    let (dim, groups, layers, p) = (64i64, 2i64, 8usize, 0.5);
    let vs = nn::VarStore::new(Device::Cpu);
    let enc = nn::linear(vs.root() / "enc", x.size()[1], dim, Default::default());
    let norm = nn::layer_norm(vs.root() / "norm", vec![dim], Default::default());
    let head = nn::linear(vs.root() / "head", dim, 7, Default::default());
    let blocks: Vec<RevBlock> =
        (0..layers).map(|i| RevBlock::new(&(vs.root() / format!("b{i}")), ConvKind::Gcn, dim, groups)).collect();
    let refs: Vec<&RevBlock> = blocks.iter().collect();
    let mut opt = nn::Adam { wd: 5e-4, ..Default::default() }.build(&vs, 0.005).unwrap();
    let top = |h: &Tensor, train: bool| head.forward(&norm.forward(h).relu().dropout(p, train));
    let (mut best_valid, mut test_at_best) = (0.0, 0.0);
    for _epoch in 0..150 {
        opt.zero_grad();
        let x0 = enc.forward(&x.dropout(p, true));
        let mask = dropout_mask(g.n, dim / groups, p, Device::Cpu);
        let (_, g0) = reversible_backward(&refs, &adj, &x0, mask.as_ref(), |h| {
            let logits = top(h, true);
            logits
                .index_select(0, &g.train.nonzero().squeeze_dim(1))
                .cross_entropy_for_logits(&y.index_select(0, &g.train.nonzero().squeeze_dim(1)))
        });
        (x0 * g0).sum(Kind::Float).backward();
        opt.clip_grad_norm(1.0);
        opt.step();
        let logits = tch::no_grad(|| {
            let h = refs.iter().fold(enc.forward(&x), |h, b| b.forward(&adj, &h, None));
            top(&h, false)
        });
        let valid = accuracy(&logits, y, &g.valid);
        if valid > best_valid {
            best_valid = valid;
            test_at_best = accuracy(&logits, y, &g.test);
        }
    }
    eprintln!(
        "Cora RevGNN (8 layers x 64, GCN, 2 groups): valid {best_valid:.3}, test at best valid {test_at_best:.3}"
    );
    assert!(test_at_best >= 0.78, "test accuracy {test_at_best}");
}
