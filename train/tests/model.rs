//! Model shapes: the weight-tied RevGNN's parameters do not depend on depth; the others grow
//! linearly; every model trains a step and predicts on a real batch.

use mille_train::conv::ConvKind;
use mille_train::graph::{GraphTensors, Norm};
use mille_train::model::{Model, ModelConfig, ModelKind, num_params};
use tch::Device;
use tch::nn::{self, OptimizerConfig};

fn params(kind: ModelKind, layers: usize) -> i64 {
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg =
        ModelConfig { kind, conv: ConvKind::Sage, layers, hidden: 32, groups: 2, dropout: 0.1, in_dim: 10, out_dim: 3 };
    let _m = Model::new(&vs.root(), cfg);
    num_params(&vs)
}

#[test]
fn weight_tied_parameters_do_not_grow_with_depth() {
    assert_eq!(params(ModelKind::WtRevGnn, 2), params(ModelKind::WtRevGnn, 200));
    let (r2, r200) = (params(ModelKind::RevGnn, 2), params(ModelKind::RevGnn, 200));
    let per_block = (r200 - r2) / 198;
    assert_eq!(r2 + 198 * per_block, r200, "RevGNN grows by one block's parameters per layer");
    assert_eq!(params(ModelKind::WtRevGnn, 7), params(ModelKind::RevGnn, 1));
    assert!(params(ModelKind::ResGnn, 8) > params(ModelKind::RevGnn, 8), "groups shrink each convolution");
}

#[test]
fn every_model_takes_a_step_and_the_loss_falls() {
    tch::manual_seed(3);
    // A tiny two-community graph: 0..10 and 10..20, features hinting the community.
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
    let g = GraphTensors::from_parts(&indptr, &indices, &feats, 4, Some(&labels), [&all, &all, &all], Device::Cpu);
    let adj = g.operator(Norm::Mean);
    let y = g.y.as_ref().unwrap();
    for kind in [ModelKind::ResGnn, ModelKind::RevGnn, ModelKind::WtRevGnn] {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = ModelConfig {
            kind,
            conv: ConvKind::Gcn,
            layers: 4,
            hidden: 8,
            groups: 2,
            dropout: 0.0,
            in_dim: 4,
            out_dim: 2,
        };
        let m = Model::new(&vs.root(), cfg);
        let mut opt = nn::Adam::default().build(&vs, 0.05).unwrap();
        let mut losses = Vec::new();
        for _ in 0..30 {
            opt.zero_grad();
            losses.push(m.backward(&adj, &g.x, |logits| logits.cross_entropy_for_logits(y)));
            opt.step();
        }
        assert!(losses[29] < 0.5 * losses[0], "{kind:?}: {losses:?}");
        let acc = m
            .logits(&adj, &g.x)
            .argmax(1, false)
            .eq_tensor(y)
            .to_kind(tch::Kind::Float)
            .mean(tch::Kind::Float)
            .double_value(&[]);
        assert_eq!(acc, 1.0, "{kind:?}");
    }
}
