//! Model shapes and DEQ-GNN: the weight-tied RevGNN's parameters do not depend on depth; every
//! model trains a step and predicts; DEQ's forward converges below its tolerance and its
//! implicit gradient matches finite differences.

mod common;

use mille_train::conv::ConvKind;
use mille_train::deq::{DeqBlock, SolverOptions};
use mille_train::graph::{GraphTensors, HostBatch};
use mille_train::model::{Model, ModelConfig, ModelKind, num_params};
use mille_train::optim::Optimizer;
use tch::nn::{self, Module};
use tch::{Device, Kind};

fn params(kind: ModelKind, layers: usize) -> i64 {
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = Model::new(&vs.root(), ModelConfig::new(kind, ConvKind::Sage, layers, 32, 10, 3));
    num_params(&vs)
}

#[test]
fn weight_tied_parameters_do_not_grow_with_depth() {
    assert_eq!(params(ModelKind::WtRevgnn, 2), params(ModelKind::WtRevgnn, 200));
    assert_eq!(params(ModelKind::Deq, 2), params(ModelKind::Deq, 200));
    let (r2, r200) = (params(ModelKind::Revgnn, 2), params(ModelKind::Revgnn, 200));
    let per_block = (r200 - r2) / 198;
    assert_eq!(r2 + 198 * per_block, r200, "RevGNN grows by one block's parameters per layer");
    assert_eq!(params(ModelKind::WtRevgnn, 7), params(ModelKind::Revgnn, 1));
    assert!(params(ModelKind::Resgnn, 8) > params(ModelKind::Revgnn, 8), "groups shrink each convolution");
}

/// A tiny two-community graph: 0..10 and 10..20, features hinting the community.
fn communities() -> GraphTensors {
    let n = 20usize;
    let mut indptr = vec![0u64];
    let mut indices = Vec::new();
    for v in 0..n {
        let base = if v < 10 { 0 } else { 10 };
        indices.extend((base..base + 10).map(|u| u as u32));
        indptr.push(indices.len() as u64);
    }
    let feats: Vec<f32> = (0..n * 4).map(|i| if (i / 4 < 10) == (i % 2 == 0) { 1.0 } else { 0.0 }).collect();
    let labels: Vec<i32> = (0..n).map(|v| (v >= 10) as i32).collect();
    let all = vec![true; n];
    HostBatch::from_parts(&indptr, &indices, &feats, 4, Some(&labels), [&all, &all, &all], None).to_device(Device::Cpu)
}

#[test]
fn every_model_takes_a_step_and_the_loss_falls() {
    tch::manual_seed(3);
    let g = communities();
    let y = g.classes().unwrap();
    for kind in [ModelKind::Resgnn, ModelKind::Revgnn, ModelKind::WtRevgnn, ModelKind::Deq] {
        let gcnii = [mille_train::conv::GCNII_DEFAULT];
        let convs = [ConvKind::Gcn, ConvKind::Gen(mille_train::conv::Aggr::Softmax), ConvKind::Gat(2)];
        // GCNII reads an initial representation per layer, which DEQ's fixed point has not.
        let extra = if kind == ModelKind::Deq { &[][..] } else { &gcnii[..] };
        for conv in convs.into_iter().chain(extra.iter().copied()) {
            let vs = nn::VarStore::new(Device::Cpu);
            let mut cfg = ModelConfig::new(kind, conv, 4, 8, 4, 2);
            cfg.deq_max_iter = 80;
            let m = Model::new(&vs.root(), cfg);
            let mut opt = Optimizer::new(&vs, 0.01);
            let mut losses = Vec::new();
            for _ in 0..40 {
                opt.zero_grad();
                losses.push(m.backward(&g.adj, &g.x, |logits| logits.cross_entropy_for_logits(y)));
                opt.step();
            }
            assert!(losses[39] < 0.5 * losses[0], "{kind:?} {conv:?}: {losses:?}");
            let pred = m.logits(&g.adj, &g.x).argmax(1, false);
            let acc = pred.eq_tensor(y).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
            assert_eq!(acc, 1.0, "{kind:?} {conv:?}");
        }
    }
}

#[test]
fn deq_forward_converges_below_its_tolerance() {
    tch::manual_seed(4);
    let (g, _tmp) = common::fixture_batch();
    let vs = nn::VarStore::new(Device::Cpu);
    let block = DeqBlock::new(&(vs.root() / "deq"), ConvKind::Sage, 16, 0);
    let enc = nn::linear(vs.root() / "enc", g.x.size()[1], 16, Default::default());
    let x = tch::no_grad(|| enc.forward(&g.x));
    let opts = SolverOptions { max_iter: 60, tol: 1e-4 };
    let (z, stats) = block.solve(&g.adj, &x, None, opts);
    eprintln!("DEQ forward: {} iterations, residual {:.2e}", stats.iterations, stats.residual);
    assert!(stats.residual < opts.tol, "{stats:?}");
    // The reported residual is the true one.
    let fz = tch::no_grad(|| block.f(&g.adj, &z, &x, None));
    let r = (&fz - &z).norm().double_value(&[]) / fz.norm().double_value(&[]);
    assert!((r - stats.residual).abs() < 1e-6, "{r} vs {stats:?}");
}

#[test]
fn deq_implicit_gradient_matches_finite_differences() {
    tch::manual_seed(6);
    let (g, _tmp) = common::fixture_batch();
    let (adj, x_in) = (g.adj.to_kind(Kind::Double), g.x.to_kind(Kind::Double));
    let y = g.classes().unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let block = DeqBlock::new(&(vs.root() / "deq"), ConvKind::Gcn, 8, 0);
    let enc = nn::linear(vs.root() / "enc", g.x.size()[1], 8, Default::default());
    let head = nn::linear(vs.root() / "head", 8, 4, Default::default());
    vs.double();
    let opts = SolverOptions { max_iter: 200, tol: 1e-11 };
    let loss = |with_grad: bool| -> f64 {
        let x = enc.forward(&x_in);
        let (z, stats) = block.solve(&adj, &x, None, opts);
        assert!(stats.residual < 1e-9, "{stats:?}");
        let z = z.set_requires_grad(with_grad);
        // (tch's cross_entropy_for_logits computes in float32.)
        let l = head.forward(&z).log_softmax(-1, Kind::Double).nll_loss(y);
        if with_grad {
            l.backward();
            let s = block.backward(&adj, &z, &x, &z.grad(), None, opts);
            assert!(s.residual < 1e-8, "adjoint {s:?}");
        }
        l.double_value(&[])
    };
    loss(true);
    let vars = vs.variables();
    let mut checked = 0;
    for name in ["deq.conv1.lin.weight", "deq.norm1.weight", "deq.conv2.lin.bias", "enc.weight"] {
        let mut p = vars[name].shallow_clone();
        let grad = p.grad().copy();
        for k in [0i64, 3] {
            let flat = p.view([-1]);
            let orig = flat.double_value(&[k]);
            let eps = 1e-5;
            let at = |v: f64| {
                tch::no_grad(|| {
                    let _ = p.view([-1]).get(k).fill_(v);
                });
                tch::no_grad(|| loss(false))
            };
            let (a, b) = (at(orig + eps), at(orig - eps));
            let fd = (a - b) / (2.0 * eps);
            at(orig);
            let want = grad.view([-1]).double_value(&[k]);
            assert!(
                (fd - want).abs() <= 1e-5 * (1.0 + fd.abs()),
                "{name}[{k}]: implicit {want}, finite differences {fd}"
            );
            checked += 1;
        }
        let _ = &mut p;
    }
    assert_eq!(checked, 8);
}

#[test]
fn gcnii_reads_and_prints_its_alpha_and_lambda_and_refuses_bad_ones() {
    let c: ConvKind = "gcnii".parse().unwrap();
    assert_eq!(c, mille_train::conv::GCNII_DEFAULT);
    assert_eq!(c.to_string(), "gcnii:0.1:0.5");
    assert_eq!(c.gcnii(), Some((0.1, 0.5)));
    let c: ConvKind = "gcnii:0.2:1".parse().unwrap();
    assert_eq!((c.to_string(), c.gcnii()), ("gcnii:0.2:1".into(), Some((0.2, 1.0))));
    assert_eq!(c.to_string().parse::<ConvKind>().unwrap(), c);
    for bad in ["gcnii:0.1", "gcnii:1.5:0.5", "gcnii:0.1:-1", "gcnii:0.12345:0.5", "gcnii:nan:0.5"] {
        let e = bad.parse::<ConvKind>().unwrap_err();
        assert!(e.contains(bad) && (e.contains("ALPHA") || e.contains("both")), "{bad}: {e}");
    }
    // The identity map weakens with depth: beta_l = ln(lambda / l + 1).
    let vs = nn::VarStore::new(Device::Cpu);
    let g = mille_train::conv::Gcnii::new(&vs.root(), 4, 0.1, 0.5);
    assert!((g.beta(1) - 1.5f64.ln()).abs() < 1e-12 && (g.beta(64) - (0.5f64 / 64.0 + 1.0).ln()).abs() < 1e-12);
}

#[test]
fn gcnii_with_deq_is_refused_by_name() {
    let mut c = mille_train::run::RunConfig::new("s");
    (c.model, c.conv) = (ModelKind::Deq, mille_train::conv::GCNII_DEFAULT);
    let e = c.check().unwrap_err().to_string();
    assert!(e.contains("--conv gcnii:0.1:0.5") && e.contains("DEQ"), "{e}");
}

#[test]
fn the_convolutions_weight_decay_applies_to_their_parameters_alone() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = Model::new(&vs.root(), ModelConfig::new(ModelKind::Revgnn, ConvKind::Gcn, 2, 8, 4, 2));
    let mut opt = Optimizer::new(&vs, 0.01);
    (opt.weight_decay, opt.conv_weight_decay) = (0.5, Some(0.0));
    let before: Vec<(String, tch::Tensor)> = vs.variables().into_iter().map(|(n, t)| (n, t.copy())).collect();
    // Zero gradients: only the decay moves a parameter.
    for p in vs.trainable_variables() {
        let loss = (&p * 0.0).sum(Kind::Float);
        loss.backward();
    }
    opt.step();
    let now = vs.variables();
    let mut moved = (0, 0);
    for (name, old) in &before {
        let changed = now[name].not_equal_tensor(old).any().int64_value(&[]) == 1;
        let conv = name.split('.').any(|p| p.starts_with("conv"));
        assert!(!(conv && changed), "{name}: a convolution's parameter decayed by weight_decay");
        if !conv && changed {
            moved.1 += 1;
        }
        moved.0 += usize::from(conv);
    }
    assert!(moved.0 > 0 && moved.1 > 0, "{moved:?}: convolution parameters exist, and the others decayed");
}

#[test]
fn gradient_groups_hold_each_revgnn_block_last_first_then_the_rest() {
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Model::new(&vs.root(), ModelConfig::new(ModelKind::Revgnn, ConvKind::Sage, 11, 8, 4, 2));
    let mut names: Vec<String> = vs.variables().into_keys().collect();
    names.sort();
    let groups = m.gradient_groups(&names);
    assert_eq!(groups.len(), 12, "one group per block and one for the rest");
    let in_block = |i: usize, k: usize| names[k].starts_with(&format!("block{i}."));
    for (g, group) in groups[..11].iter().enumerate() {
        let block = 10 - g;
        assert!(!group.is_empty() && group.iter().all(|&k| in_block(block, k)), "group {g} is block {block}'s");
    }
    // block1's prefix must not take block10's parameters (nor block0 those of block0x).
    let rest = &groups[11];
    assert!(!rest.is_empty() && rest.iter().all(|&k| !names[k].starts_with("block")), "{rest:?}");
    let mut all: Vec<usize> = groups.concat();
    all.sort();
    assert_eq!(all, (0..names.len()).collect::<Vec<_>>(), "every parameter in exactly one group");
    // A model whose gradients complete only at the end gives one group.
    for kind in [ModelKind::Resgnn, ModelKind::WtRevgnn, ModelKind::Deq] {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Model::new(&vs.root(), ModelConfig::new(kind, ConvKind::Sage, 3, 8, 4, 2));
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert_eq!(m.gradient_groups(&names), vec![(0..names.len()).collect::<Vec<_>>()], "{kind:?}");
    }
}
