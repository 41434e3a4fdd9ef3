//! Multi-view inference averages per-view logits.

mod common;

use mille_loader::{Loader, LoaderConfig, Plan, PlanSpec};
use mille_pipeline::Store;
use mille_train::conv::ConvKind;
use mille_train::graph::{FeatureNorm, batch_tensors};
use mille_train::infer::{ViewAverage, predict};
use mille_train::model::{Model, ModelConfig, ModelKind};
use std::sync::Arc;
use tch::{Device, nn};

#[test]
fn multi_view_logits_are_the_mean_of_per_view_logits() {
    tch::manual_seed(2);
    let (path, _tmp) = common::fixture_store();
    let s = Arc::new(Store::open(path).unwrap());
    let n = s.num_nodes();
    let views = 3;
    let cfg = LoaderConfig { plan: PlanSpec::Views { views, parts: 4 }, self_loops: true, ..Default::default() };
    let loader = Loader::new(s.clone(), cfg).unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(
        &vs.root(),
        ModelConfig::new(ModelKind::Revgnn, ConvKind::Sage, 3, 8, s.features().unwrap().cols as i64, 5),
    );
    let avg = predict(&model, &loader, 0, Device::Cpu, FeatureNorm::None, || {}).unwrap();
    let got = avg.into_mean();

    // Each view alone: its batches cover every node once.
    let plan = loader.plan(0);
    let mut per_view = Vec::new();
    for v in 0..views {
        let keep: Vec<usize> = (0..plan.len()).filter(|&i| plan.view[i] == v).collect();
        let one = Plan {
            batches: keep.iter().map(|&i| plan.batches[i].clone()).collect(),
            view: vec![0; keep.len()],
            seed: plan.seed,
        };
        let mut acc = ViewAverage::new(n, 5);
        for b in loader.run(one) {
            let b = b.unwrap();
            let g = batch_tensors(&b, Device::Cpu, FeatureNorm::None);
            let l: Vec<f32> = model.logits(&g.adj, &g.x).reshape([-1]).try_into().unwrap();
            acc.add(&b.nodes, &l);
        }
        per_view.push(acc.into_mean());
    }
    // Views differ (different subgraphs), and the average is their mean.
    assert!(per_view[0].iter().zip(&per_view[1]).any(|(a, b)| (a - b).abs() > 1e-4));
    for (i, g) in got.iter().enumerate() {
        let want = per_view.iter().map(|p| p[i]).sum::<f32>() / views as f32;
        assert!((g - want).abs() <= 1e-5 * (1.0 + want.abs()), "entry {i}: {g} vs {want}");
    }
}

#[test]
fn multi_label_training_with_edge_features_scores_rocauc() {
    // The proteins-like fixture: no node features (the trainer averages incoming edge
    // features, as DeeperGCN does), 8 edge features, binary tasks scored by mean ROC-AUC.
    let (store, _tmp) =
        common::store(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/proteins_like"), true);
    let run = tempfile::tempdir().unwrap();
    let mut cfg = mille_train::run::RunConfig::new(&store);
    cfg.conv = "gen:max".parse::<ConvKind>().unwrap();
    cfg.layers = 4;
    cfg.hidden = 16;
    cfg.dropout = 0.1;
    cfg.lr = 0.01;
    cfg.epochs = 5;
    cfg.sampler = mille_train::run::SamplerSetting::Cluster { parts: 2 };
    cfg.eval_parts = 2;
    cfg.views = 2;
    cfg.device = "cpu".into();
    let s = mille_train::run::Trainer::new(cfg, run.path(), false).unwrap().fit().unwrap();
    assert_eq!(s.metric, "rocauc");
    for v in [s.train, s.valid, s.test, s.multi_view.test] {
        assert!((0.0..=1.0).contains(&v), "{s:?}");
    }
    // The stored predictions score the same as the summary says.
    let st = Store::open(&store).unwrap();
    let pred = tch::Tensor::read_npy(run.path().join("predictions.npy")).unwrap();
    let dim = pred.size()[1] as usize;
    let flat: Vec<f32> = pred.reshape([-1]).try_into().unwrap();
    let again = mille_train::infer::score(&st, None, &flat, dim).unwrap();
    assert_eq!(again, mille_train::infer::Scores { valid_loss: None, ..s.multi_view });
}
