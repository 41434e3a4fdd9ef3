//! The authors' inputs and model options: categorical node arrays as one-hot columns, GEN's max
//! without self loops, per-group dropout chunks, group functions copied at initialisation, the
//! network-level edge encoder and DEQ's unrolled pretraining (gradients against finite
//! differences).

mod common;

use mille_loader::{Loader, LoaderConfig, PlanSpec};
use mille_pipeline::Store;
use mille_train::conv::{Aggr, Conv, ConvKind};
use mille_train::feed::Feed;
use mille_train::graph::{Categorical, HostBatch, NodeInputs};
use mille_train::model::{DropoutMask, EdgeEncoder, Model, ModelConfig, ModelKind, copy_group_init};
use mille_train::rev::RevBlock;
use std::path::Path;
use std::sync::Arc;
use tch::{Device, Kind, Tensor, nn};

fn proteins_store() -> (Arc<Store>, tempfile::TempDir) {
    let (path, tmp) = common::store(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/proteins_like"), true);
    (Arc::new(Store::open(path).unwrap()), tmp)
}

#[test]
fn species_one_hot_columns_follow_each_batch_node_from_the_raw_file() {
    let (store, _tmp) = proteins_store();
    let species = Categorical::from_store(&store, "species").unwrap();
    // Brute force from the raw file, with the authors' encoding: value modulo the largest,
    // ranked among the distinct results.
    let raw: Vec<i64> = {
        let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/proteins_like/raw/node_species.csv.gz");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(f).unwrap()), &mut text)
            .unwrap();
        text.lines().map(|l| l.trim().parse().unwrap()).collect()
    };
    let max = *raw.iter().max().unwrap();
    let mut keys: Vec<i64> = raw.iter().map(|v| v % max).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(species.classes as usize, keys.len());
    let inputs = NodeInputs { categorical: vec![Arc::new(species)], ..Default::default() };
    let loader =
        Loader::new(store.clone(), LoaderConfig { plan: PlanSpec::RandomParts { parts: 3 }, ..Default::default() })
            .unwrap();
    let mut feed = Feed::new(loader.epoch(0), Device::Cpu, inputs).unwrap();
    let features = store.features().unwrap();
    let mut seen = 0;
    while let Some(fed) = feed.next_batch() {
        let fed = fed.unwrap();
        let d = features.cols as i64;
        assert_eq!(fed.graph.x.size()[1], d + keys.len() as i64);
        for (i, &v) in fed.batch.nodes.iter().enumerate() {
            let row = fed.graph.x.get(i as i64);
            let sums: Vec<f32> = row.narrow(0, 0, d).try_into().unwrap();
            assert_eq!(&sums[..], features.row(v as usize), "node {v}'s features");
            let one_hot: Vec<f32> = row.narrow(0, d, keys.len() as i64).try_into().unwrap();
            let code = keys.binary_search(&(raw[v as usize] % max)).unwrap();
            let want: Vec<f32> = (0..keys.len()).map(|k| (k == code) as u8 as f32).collect();
            assert_eq!(one_hot, want, "node {v} (species {})", raw[v as usize]);
            seen += 1;
        }
        feed.recycle(fed.batch);
    }
    assert_eq!(seen, store.num_nodes());
}

#[test]
fn a_categorical_input_that_is_not_one_column_of_codes_is_refused_by_name() {
    let (store, _tmp) = proteins_store();
    let e = Categorical::from_store(&store, "nosuch").unwrap_err().to_string();
    assert!(e.contains("categorical input \"nosuch\"") && e.contains("species"), "{e}");
}

#[test]
fn gen_max_over_a_node_without_in_batch_neighbours_aggregates_the_zero_vector() {
    // Node 2 has no in-edges (no self loops added): its max over nothing is 0, as the authors'
    // scatter-max (PyG's fill value) gives, so GEN returns MLP(h_2 + 0).
    tch::manual_seed(5);
    let indptr = [0u64, 2, 3, 3];
    let indices = [1u32, 2, 0];
    let all = [true; 3];
    let feats: Vec<f32> = (0..12).map(|i| i as f32 / 7.0 - 0.5).collect();
    let g = HostBatch::from_parts(&indptr, &indices, &feats, 4, None, [&all, &all, &all], None).to_device(Device::Cpu);
    let empty =
        HostBatch::from_parts(&[0, 0, 0, 0], &[], &feats, 4, None, [&all, &all, &all], None).to_device(Device::Cpu);
    let m = g.adj.max_rows(&Tensor::ones([3, 4], (Kind::Float, Device::Cpu)));
    assert!(m.get(2).equal(&Tensor::zeros([4], (Kind::Float, Device::Cpu))), "{m}");
    let vs = nn::VarStore::new(Device::Cpu);
    let conv = Conv::new(&vs.root(), ConvKind::Gen(Aggr::Max), 4, 0);
    let (full, alone) = (conv.forward(&g.adj, &g.x), conv.forward(&empty.adj, &empty.x));
    assert!(full.get(2).allclose(&alone.get(2), 1e-6, 1e-7, false), "{full} vs {alone}");
    assert!(!full.get(0).allclose(&alone.get(0), 1e-6, 1e-7, false), "node 0 has neighbours");
}

#[test]
fn a_full_width_mask_gives_each_group_its_own_chunk() {
    tch::manual_seed(6);
    let (g, _tmp) = common::fixture_batch();
    let vs = nn::VarStore::new(Device::Cpu);
    let b = RevBlock::new(&vs.root(), ConvKind::Sage, 8, 2, 0);
    let x = Tensor::randn([g.n, 8], (Kind::Float, Device::Cpu));
    let a = Tensor::rand([g.n, 4], (Kind::Float, Device::Cpu)).ge(0.3).to_kind(Kind::Float);
    let c = Tensor::rand([g.n, 4], (Kind::Float, Device::Cpu)).ge(0.3).to_kind(Kind::Float);
    tch::no_grad(|| {
        let shared = b.forward(&g.adj, &x, Some(&a));
        let same = b.forward(&g.adj, &x, Some(&Tensor::cat(&[&a, &a], 1)));
        let own = b.forward(&g.adj, &x, Some(&Tensor::cat(&[&a, &c], 1)));
        assert!(shared.equal(&same), "[A | A] is the shared mask A");
        assert!(!own.equal(&same), "[A | C]: group 2 multiplies by C");
        // Group 1's output chunk depends only on its own chunk A.
        assert!(own.narrow(1, 0, 4).equal(&same.narrow(1, 0, 4)));
    });
}

#[test]
fn copied_groups_start_equal_and_independent_ones_do_not() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = Model::new(&vs.root(), ModelConfig::new(ModelKind::Revgnn, ConvKind::Gen(Aggr::Max), 3, 12, 5, 2));
    let vars = vs.variables();
    let pair = |v: &std::collections::HashMap<String, Tensor>| {
        (v["block1.f0.conv.mlp1.weight"].copy(), v["block1.f1.conv.mlp1.weight"].copy())
    };
    let (a, b) = pair(&vars);
    assert!(!a.equal(&b), "independent by default");
    copy_group_init(&vs);
    let vars = vs.variables();
    for (name, t) in &vars {
        if let Some(rest) = name.strip_prefix("block2.f1.") {
            assert!(t.equal(&vars[&format!("block2.f0.{rest}")]), "{name}");
        }
    }
    let (a, b) = pair(&vars);
    assert!(a.equal(&b));
    assert_eq!(vars.keys().filter(|k| k.contains(".f1.")).count(), vars.keys().filter(|k| k.contains(".f0.")).count());
}

/// Analytic gradients of one training step against central finite differences of the loss,
/// in f64, for a handful of entries of each listed parameter.
fn check_gradients(kind: ModelKind, unrolled: Option<usize>) {
    let (store, _tmp) = proteins_store();
    let species = Arc::new(Categorical::from_store(&store, "species").unwrap());
    let loader = Loader::new(store.clone(), LoaderConfig { plan: PlanSpec::Full, ..Default::default() }).unwrap();
    let inputs = NodeInputs { categorical: vec![species.clone()], ..Default::default() };
    let mut feed = Feed::new(loader.epoch(0), Device::Cpu, inputs).unwrap();
    let g = feed.next_batch().unwrap().unwrap().graph;
    let (adj, x) = (g.adj.to_kind(Kind::Double), g.x.to_kind(Kind::Double));
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut cfg = ModelConfig::new(kind, ConvKind::Gen(Aggr::Max), 3, 8, store.features().unwrap().cols as i64, 5);
    cfg.edge_dim = 3;
    cfg.edge_encoder = EdgeEncoder::Network;
    cfg.categorical = vec![species.classes];
    cfg.dropout_mask = DropoutMask::PerGroup;
    let m = Model::new(&vs.root(), cfg);
    vs.double();
    m.set_unrolled(unrolled);
    let (y, present) = match &g.targets {
        mille_train::graph::Targets::Binary { y, present } => (y.to_kind(Kind::Double), present.to_kind(Kind::Double)),
        _ => panic!("binary tasks"),
    };
    let loss_of = |logits: &Tensor| {
        logits.binary_cross_entropy_with_logits::<Tensor>(&y, Some(present.shallow_clone()), None, tch::Reduction::Mean)
    };
    m.backward(&adj, &x, loss_of);
    let vars = vs.variables();
    for name in ["edge_enc.weight", "cat0.weight", "enc.weight", "head.bias"] {
        let p = &vars[name];
        let grad = p.grad();
        let flat = p.view([-1]);
        for k in [0i64, flat.size()[0] / 2, flat.size()[0] - 1] {
            let at = flat.double_value(&[k]);
            let loss_at = |v: f64| {
                tch::no_grad(|| {
                    let _ = flat.get(k).fill_(v);
                });
                loss_of(&m.logits(&adj, &x)).double_value(&[])
            };
            let eps = 1e-6;
            let fd = (loss_at(at + eps) - loss_at(at - eps)) / (2.0 * eps);
            loss_at(at);
            let an = grad.view([-1]).double_value(&[k]);
            assert!((an - fd).abs() <= 1e-6 * fd.abs().max(1e-3), "{kind:?} {name}[{k}]: analytic {an} vs {fd}");
        }
    }
}

#[test]
fn network_edge_encoder_and_categorical_encoder_gradients_equal_finite_differences() {
    tch::manual_seed(7);
    for kind in [ModelKind::Revgnn, ModelKind::WtRevgnn, ModelKind::Resgnn] {
        check_gradients(kind, None);
    }
}

#[test]
fn deq_unrolled_pretraining_gradients_equal_finite_differences() {
    tch::manual_seed(8);
    check_gradients(ModelKind::Deq, Some(3));
}
