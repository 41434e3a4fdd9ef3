//! RevGAT's parts against references written from the authors' formulas: their GAT layer
//! against a dense loop (degrees, the +1/2 scaling, the residual, edge drop by a given mask),
//! and its reversible blocks' gradients and BatchNorm statistics against plain autograd.

mod common;

use mille_train::graph::Adjacency;
use mille_train::rev::{
    BlockMasks, EdgeDraw, EdgeWindows, RevBlock, StackPass, dropout_mask, reversible_backward_init,
};
use mille_train::revgat::{BlockNorm, GatLayer, GatNorm, GatOptions, NormMode};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// The tests take libtorch's process-wide generator in turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeded(seed: i64) -> std::sync::MutexGuard<'static, ()> {
    let guard = RNG.lock().unwrap_or_else(|p| p.into_inner());
    tch::manual_seed(seed);
    guard
}

/// A 6-node graph by destination (self loops included): node 5 has no in-entries but its own,
/// node 0 has a source (4) of out-degree 3.
fn graph() -> (Vec<u64>, Vec<u32>) {
    let rows: [&[u32]; 6] = [&[0, 1, 4], &[1, 0, 2], &[2, 4], &[3, 4, 1], &[4, 0], &[5]];
    let mut indptr = vec![0u64];
    let mut indices = Vec::new();
    for r in rows {
        indices.extend_from_slice(r);
        indptr.push(indices.len() as u64);
    }
    (indptr, indices)
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

/// The layer from the formula, by loops in f64: `W`, `a_l`, `R` read from the var store.
fn dense(
    vs: &nn::VarStore,
    (indptr, indices): &(Vec<u64>, Vec<u32>),
    h: &Tensor,
    keep: Option<&[bool]>,
    heads: usize,
    out: usize,
    norm: bool,
) -> Vec<f64> {
    let vars = vs.variables();
    let n = indptr.len() - 1;
    let w = values(&vars["gat.fc"]); // [heads*out, in]
    let a = values(&vars["gat.attn_l"]); // [1, heads, out]
    let r = values(&vars["gat.res_fc"]);
    let input = h.size()[1] as usize;
    let hv = values(h);
    let lin = |m: &[f64], v: usize| -> Vec<f64> {
        (0..heads * out).map(|o| (0..input).map(|i| m[o * input + i] * hv[v * input + i]).sum()).collect()
    };
    let mut outdeg = vec![0.0f64; n];
    for &j in indices {
        outdeg[j as usize] += 1.0;
    }
    let mut result = vec![0.0f64; n * heads * out];
    for i in 0..n {
        let entries: Vec<usize> = (indptr[i] as usize..indptr[i + 1] as usize).collect();
        let indeg = entries.len() as f64;
        for hd in 0..heads {
            let mut scores = Vec::new();
            let mut rows = Vec::new();
            for &e in &entries {
                if keep.is_some_and(|k| !k[e]) {
                    continue;
                }
                let j = indices[e] as usize;
                let s = if norm { outdeg[j].max(1.0).powf(-0.5) } else { 1.0 };
                let wh: Vec<f64> = lin(&w, j)[hd * out..(hd + 1) * out].iter().map(|x| x * s).collect();
                let raw: f64 = (0..out).map(|c| a[hd * out + c] * wh[c]).sum();
                scores.push(if raw > 0.0 { raw } else { 0.2 * raw });
                rows.push(wh);
            }
            let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let den: f64 = scores.iter().map(|s| (s - top).exp()).sum();
            let d = if norm { indeg.max(1.0).sqrt() } else { 1.0 };
            for (s, wh) in scores.iter().zip(&rows) {
                for c in 0..out {
                    result[i * heads * out + hd * out + c] += d * (s - top).exp() / den * wh[c];
                }
            }
        }
        for (o, v) in lin(&r, i).iter().enumerate() {
            result[i * heads * out + o] += v;
        }
    }
    result
}

#[test]
fn the_gat_layer_is_the_authors_formula_with_and_without_dropped_edges() {
    let _g = seeded(1);
    let csr = graph();
    for norm in [GatNorm::Symmetric, GatNorm::None] {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let opts = GatOptions { heads: 2, attn_dst: false, norm, residual: true };
        let layer = GatLayer::new(&(vs.root() / "gat"), 5, 3, opts);
        vs.double();
        let adj = Adjacency::new(&csr.0, &csr.1, None, Device::Cpu).to_kind(Kind::Double);
        let h = Tensor::randn([6, 5], (Kind::Double, Device::Cpu));
        let got = values(&layer.forward(&adj, &h));
        let want = dense(&vs, &csr, &h, None, 2, 3, norm == GatNorm::Symmetric);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-10, "{norm}: {got:?} vs {want:?}");
        }
        // Edge drop: entries 2 (0 <- 4), 5 (2 <- 4) and 6 (2 <- 2) dropped, so node 2 keeps none.
        let keep: Vec<bool> = (0..csr.1.len()).map(|e| ![2, 5, 6].contains(&e)).collect();
        let got = values(&layer.forward(&adj.with_keep(Tensor::from_slice(&keep)), &h));
        let want = dense(&vs, &csr, &h, Some(&keep), 2, 3, norm == GatNorm::Symmetric);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-10, "{norm} with dropped edges: {got:?} vs {want:?}");
        }
        // Node 2 with every entry dropped gets its residual alone (no NaN from an empty softmax).
        assert!(got.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn edge_windows_drop_exactly_the_authors_share_differently_per_block() {
    for how in [EdgeDraw::Windows, EdgeDraw::PerBlock] {
        let _g = seeded(2);
        let w = EdgeWindows::draw_as(how, 1000, 0.3, 4, Device::Cpu).unwrap();
        let keeps: Vec<Vec<bool>> = (0..4).map(|k| Vec::<bool>::try_from(w.keep(k)).unwrap()).collect();
        for k in &keeps {
            assert_eq!(k.iter().filter(|&&x| !x).count(), 300, "{how}: floor(0.3 x 1000) dropped");
        }
        assert!(keeps.windows(2).any(|p| p[0] != p[1]), "{how}: blocks drop different entries");
        // The same block's mask again (the backward's) is the forward's.
        assert_eq!(Vec::<bool>::try_from(w.keep(2)).unwrap(), keeps[2]);
        assert!(EdgeWindows::draw_as(how, 1000, 0.0, 4, Device::Cpu).is_none());
    }
}

/// Windows of one cyclic order: two blocks' dropped sets overlap by `max(0, bound - d)` for
/// shifts `d` apart, so over many draws the overlap spreads from none to all (mean 0.09 E, the
/// independent draws' too); per-block permutations overlap close to 0.09 E every time.
#[test]
fn per_block_edge_draws_are_independent_and_windows_are_not() {
    let _g = seeded(4);
    let (e, draws) = (1000i64, 200);
    let overlaps = |how: EdgeDraw| -> Vec<f64> {
        (0..draws)
            .map(|_| {
                let w = EdgeWindows::draw_as(how, e, 0.3, 2, Device::Cpu).unwrap();
                let both = w.keep(0).logical_not().logical_and(&w.keep(1).logical_not());
                both.sum(Kind::Int64).int64_value(&[]) as f64 / e as f64
            })
            .collect()
    };
    let spread = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (m, (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt())
    };
    let (wm, ws) = spread(&overlaps(EdgeDraw::Windows));
    let (pm, ps) = spread(&overlaps(EdgeDraw::PerBlock));
    assert!((wm - 0.09).abs() < 0.02 && (pm - 0.09).abs() < 0.01, "mean overlaps {wm:.3}, {pm:.3}");
    // Hypergeometric: sd ~ 0.009 at E = 1000; the windows' ~0.09.
    assert!(ps < 0.02 && ws > 0.05, "overlap sd: per-block {ps:.4}, windows {ws:.4}");
}

/// RevGAT blocks' parameter gradients and input gradient through the reversible backward, with
/// BatchNorm in training mode, dropout and edge drop, against autograd on a plain forward of
/// the same blocks; and the BatchNorm statistics after the step equal the plain forward's.
#[test]
fn revgat_blocks_backward_equals_autograd_and_moves_batchnorm_statistics_once() {
    blocks_backward_against_autograd(BlockNorm::Batch, EdgeDraw::Windows, 3);
}

/// `--norm layer`: the same with LayerNorm in the group functions (no statistics kept).
#[test]
fn revgat_blocks_with_layernorm_backward_equals_autograd() {
    blocks_backward_against_autograd(BlockNorm::Layer, EdgeDraw::Windows, 5);
}

/// `--edge-drop-draw per-block`: the same with a permutation of its own per block.
#[test]
fn revgat_blocks_with_per_block_edge_draws_backward_equals_autograd() {
    blocks_backward_against_autograd(BlockNorm::Batch, EdgeDraw::PerBlock, 6);
}

fn blocks_backward_against_autograd(norm: BlockNorm, draw: EdgeDraw, seed: i64) {
    let _g = seeded(seed);
    let (g, _tmp) = common::fixture_batch();
    let adj = g.adj.to_kind(Kind::Double);
    let x = g.x.to_kind(Kind::Double);
    let dim = 12;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let enc = nn::linear(vs.root() / "enc", x.size()[1], dim, Default::default());
    let head = nn::linear(vs.root() / "head", dim, 4, Default::default());
    let opts = GatOptions { heads: 2, attn_dst: false, norm: GatNorm::Symmetric, residual: true };
    let blocks: Vec<RevBlock> =
        (0..3).map(|i| RevBlock::new_gat(&(vs.root() / format!("b{i}")), dim, 2, opts, norm)).collect();
    let refs: Vec<&RevBlock> = blocks.iter().collect();
    vs.double();
    let mask = dropout_mask(g.n, dim, 0.4, Device::Cpu).map(|m| m.to_kind(Kind::Double));
    let edges = EdgeWindows::draw_as(draw, adj.num_entries(), 0.3, 3, Device::Cpu);
    let pass = StackPass { masks: BlockMasks::Same(mask.as_ref()), initial: false, edges };
    let y = Tensor::arange(g.n, (Kind::Int64, Device::Cpu)).remainder(4);
    let loss_of = |h: &Tensor| head.forward(h).cross_entropy_for_logits(&y);
    let stats = |vs: &nn::VarStore| -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> =
            vs.variables().into_iter().filter(|(n, _)| n.contains("running")).map(|(n, t)| (n, t.copy())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let start = stats(&vs);
    let batch = norm == BlockNorm::Batch;
    let kept = if batch { 3 * 2 * 2 } else { 0 };
    assert_eq!(start.len(), kept, "running mean and variance per group function's BatchNorm, none for LayerNorm");

    // Plain autograd, training mode: every activation kept, statistics moved once.
    for b in &blocks {
        b.set_norm_mode(NormMode::Train);
    }
    let x0 = enc.forward(&x);
    let leaf = x0.detach().set_requires_grad(true);
    let h = refs.iter().enumerate().fold(leaf.shallow_clone(), |h, (k, b)| {
        let view = pass.dropping(&adj, k);
        b.forward_with(view.as_ref().unwrap(), &h, pass.masks.of(k).as_ref(), None)
    });
    loss_of(&h).backward();
    let want_g0 = leaf.grad().copy();
    (x0 * &want_g0).sum(Kind::Double).backward();
    let want: Vec<Tensor> = vs.trainable_variables().iter().map(|v| v.grad().copy()).collect();
    let want_stats = stats(&vs);
    for mut v in vs.trainable_variables() {
        v.zero_grad();
    }
    // Back to the starting statistics.
    let now = vs.variables();
    tch::no_grad(|| {
        for (n, t) in &start {
            now[n].shallow_clone().copy_(t);
        }
    });

    // Reversible: the forward moves the statistics, the backward's recomputation does not.
    let x0 = enc.forward(&x);
    let (_, g0) = reversible_backward_init(&refs, &adj, &x0, &pass, loss_of, &mut |_| {});
    assert!(blocks.iter().all(|b| b.evaluations() > 0));
    let mut worst = common::max_rel(&g0, &want_g0);
    (x0 * g0).sum(Kind::Double).backward();
    for (v, w) in vs.trainable_variables().iter().zip(&want) {
        let diff = (v.grad() - w).abs().max().double_value(&[]);
        worst = worst.max(diff / w.abs().max().double_value(&[]).max(1e-12));
    }
    assert!(worst < 1e-4, "reversible RevGAT gradients differ from autograd's by {worst:.2e}");
    for ((n, got), (_, want)) in stats(&vs).iter().zip(&want_stats) {
        let diff = (got - want).abs().max().double_value(&[]);
        assert!(diff < 1e-10, "{n}: running statistic differs from a plain forward's by {diff:.2e}");
    }
    assert!(
        !batch || stats(&vs).iter().zip(&start).any(|((_, a), (_, b))| (a - b).abs().max().double_value(&[]) > 1e-6),
        "the step moved the statistics"
    );
}

#[path = "common/cora_setup.rs"]
mod cora_setup;

/// A small RevGAT with every trick of the authors' arxiv recipe on Cora.
fn revgat_config(store: &std::path::Path) -> mille_train::run::RunConfig {
    use mille_train::model::{GroupInit, ModelKind};
    let mut cfg = cora_setup::cora_config(store);
    cfg.model = ModelKind::Revgat;
    (cfg.layers, cfg.hidden, cfg.heads, cfg.epochs) = (4, 24, 2, 4);
    (cfg.edge_drop, cfg.input_dropout, cfg.group_init) = (0.3, 0.25, GroupInit::Copy);
    (cfg.use_labels, cfg.label_reuse) = (true, 1);
    cfg.loss = mille_train::loss::LossKind::Logce;
    cfg.optimizer = mille_train::optim::Rule::Rmsprop;
    (cfg.warmup, cfg.select) = (2, mille_train::run::Select::ValidLoss);
    cfg
}

#[test]
fn a_killed_revgat_run_resumes_to_the_same_weights_and_batchnorm_statistics() {
    let _g = seeded(4);
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let cfg = revgat_config(&store);
    let straight = tempfile::tempdir().unwrap();
    let mut a = mille_train::run::Trainer::new(cfg.clone(), straight.path(), false).unwrap();
    let sa = a.fit().unwrap();
    assert_eq!(sa.model, "revgat/gat:2");
    let resumed = tempfile::tempdir().unwrap();
    let mut first = cfg.clone();
    first.epochs = 2;
    mille_train::run::Trainer::new(first, resumed.path(), false).unwrap().fit().unwrap();
    let mut b = mille_train::run::Trainer::new(cfg, resumed.path(), true).unwrap();
    let sb = b.fit().unwrap();
    assert_eq!((sa.best_epoch, sa.valid, sa.test, sa.multi_view), (sb.best_epoch, sb.valid, sb.test, sb.multi_view));
    // The kept weights carry the BatchNorms' statistics of their own epoch.
    let best = Tensor::read_safetensors(straight.path().join("best.safetensors")).unwrap();
    assert!(best.iter().any(|(n, _)| n.ends_with("norm.running_mean")), "best.safetensors holds the statistics");
    // Every variable, the BatchNorms' running statistics included, is the straight run's.
    let (va, vb) = (a.var_store().variables(), b.var_store().variables());
    assert!(va.keys().any(|n| n.ends_with("running_var")));
    for (name, t) in &va {
        assert!(t.equal(&vb[name]), "{name} differs after the resume");
    }
}
