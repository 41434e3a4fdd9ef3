//! Training runs on real Cora (public split) through the trainer: a RevGNN reaches the published
//! GCN's neighbourhood.

mod common;

use cora_setup::cora_config;

#[path = "common/cora_setup.rs"]
mod cora_setup;

use mille_train::run::SamplerSetting::{Neighbor, SaintNode, SaintWalk};
use mille_train::run::Trainer;

/// libtorch's RNG is process-wide: the seeded runs of this file take turns, or their dropout
/// draws interleave and neither result is its seed's.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn revgnn_reaches_78_percent_on_cora() {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    // Three seeds: one seed's test accuracy moves by 1-3 points with the dropout draws (per-group
    // masks: 0.777 / 0.789 / 0.805 for seeds 0-2 here; one shared mask: 0.796 / 0.780 / 0.814).
    let mut tests = Vec::new();
    for seed in 1..3 {
        let run = tempfile::tempdir().unwrap();
        let mut c = cora_config(&store);
        c.seed = seed;
        tests.push(Trainer::new(c, run.path(), false).unwrap().fit().unwrap().test);
    }
    let run = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(cora_config(&store), run.path(), false).unwrap();
    let s = t.fit().unwrap();
    tests.push(s.test);
    let mean = tests.iter().sum::<f64>() / 3.0;
    eprintln!("Cora RevGNN (8 x 64, GCN, 2 groups), seeds 1, 2, 0: test {tests:?}, mean {mean:.4}; seed 0: {s:?}");
    assert!(mean >= 0.78, "mean test accuracy {mean} ({tests:?})");
    // The run folder has what a person looks at.
    for f in ["config.toml", "metrics.jsonl", "summary.json", "predictions.npy", "best.safetensors", "checkpoint.json"]
    {
        assert!(run.path().join(f).exists(), "{f} missing");
    }
    let lines = std::fs::read_to_string(run.path().join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 150);
    let pred = tch::Tensor::read_npy(run.path().join("predictions.npy")).unwrap();
    assert_eq!(pred.size(), [2708, 7]);
}

#[test]
fn sage_blocks_on_neighbour_sampled_batches_reach_78_percent_on_cora() {
    use mille_train::conv::ConvKind;
    // GraphSAGE's sampling: one SAGE block per hop (RevGNN's, 2 groups), fan-outs 25 then 10,
    // 32 seeds a batch. (ResGNN's blocks reach 0.776-0.779 here, PyG's plain SAGEConv 0.808:
    // python/examples/pyg_sage.py on the same sampler.)
    let tests = three_seeds("neighbor", |c| {
        (c.conv, c.sampler) = (ConvKind::Sage, Neighbor { fanouts: vec![25, 10], batch_size: 32, replace: false });
    });
    let mean = tests.iter().sum::<f64>() / 3.0;
    eprintln!("Cora RevGNN/SAGE on fan-outs 25,10, seeds 0-2: test {tests:?}, mean {mean:.4}");
    assert!(mean >= 0.78, "mean test accuracy {mean} ({tests:?})");
}

/// Three seeded runs of `setup` on Cora (RevGNN, 2 groups; 2 blocks of 64 unless `setup` says
/// otherwise: one per hop for the samplers); their test accuracies.
fn three_seeds(batching: &str, setup: impl Fn(&mut mille_train::run::RunConfig)) -> Vec<f64> {
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let mut tests = Vec::new();
    for seed in 0..3 {
        let run = tempfile::tempdir().unwrap();
        let mut c = cora_config(&store);
        (c.layers, c.hidden, c.seed) = (2, 64, seed);
        setup(&mut c);
        let epochs = c.epochs;
        let s = Trainer::new(c, run.path(), false).unwrap().fit().unwrap();
        assert_eq!(s.batching, batching);
        let lines = std::fs::read_to_string(run.path().join("metrics.jsonl")).unwrap();
        assert_eq!(lines.lines().count() as u64, epochs);
        tests.push(s.test);
    }
    tests
}

#[test]
fn gat_blocks_on_neighbour_sampled_batches_reach_78_percent_on_cora() {
    use mille_train::conv::ConvKind;
    let tests = three_seeds("neighbor", |c| {
        (c.conv, c.sampler) = (ConvKind::Gat(4), Neighbor { fanouts: vec![25, 10], batch_size: 32, replace: false });
        c.epochs = 100;
    });
    let mean = tests.iter().sum::<f64>() / 3.0;
    eprintln!("Cora RevGNN/GAT (4 heads) on fan-outs 25,10, seeds 0-2: test {tests:?}, mean {mean:.4}");
    assert!(mean >= 0.78, "mean test accuracy {mean} ({tests:?})");
}

#[test]
fn gcn_blocks_on_graphsaint_subgraphs_reach_78_percent_on_cora() {
    // 20 walks of 2 steps from Cora's 140 training nodes: 3 subgraphs an epoch.
    let tests = three_seeds("saint-walk", |c| c.sampler = SaintWalk { roots: 20, walk_length: 2, coverage: 50 });
    let mean = tests.iter().sum::<f64>() / 3.0;
    eprintln!("Cora RevGNN/GCN on GraphSAINT walks (20 roots x 2 steps), seeds 0-2: test {tests:?}, mean {mean:.4}");
    assert!(mean >= 0.78, "mean test accuracy {mean} ({tests:?})");
}

#[test]
fn gcn_blocks_on_graphsaint_node_samples_reach_72_percent_on_cora() {
    // 60 training nodes drawn by in-degree per subgraph: 3 subgraphs an epoch. The loader draws
    // them among the training nodes only, so a subgraph holds few of Cora's edges and training
    // is close to a per-node one; evaluation runs on whole views. Measured: 0.744 / 0.756 /
    // 0.741 (mean 0.747), against 0.793 on the walks above, whose subgraphs reach neighbours.
    let tests = three_seeds("saint-node", |c| c.sampler = SaintNode { budget: 60, coverage: 50 });
    let mean = tests.iter().sum::<f64>() / 3.0;
    eprintln!("Cora RevGNN/GCN on GraphSAINT node samples (budget 60), seeds 0-2: test {tests:?}, mean {mean:.4}");
    assert!(mean >= 0.72, "mean test accuracy {mean} ({tests:?})");
}

#[test]
fn reversible_gcnii_blocks_at_16_layers_pass_a_floor_the_plain_block_cannot_reach_on_cora() {
    use mille_train::conv::GCNII_DEFAULT;
    use mille_train::model::DropoutMask;
    // GCNII's Cora settings (recipes/cora-revgcnii-64.toml) at 16 layers and 150 epochs, seeds
    // 0-2. Measured here: the GCNII block 0.806 / 0.811 / 0.801 (mean 0.806); the plain GCN block
    // with the same settings (tools/train --conv gcn, docs/RESULTS.md section 7) 0.701 / 0.802 /
    // 0.705 (mean 0.736), and 0.771 / 0.782 with the authors' one mask for all blocks (seeds 0,
    // 1): a mean of 0.80 is out of its reach.
    let tests = three_seeds("cluster", |c| {
        (c.conv, c.layers, c.dropout_mask) = (GCNII_DEFAULT, 16, DropoutMask::PerBlock);
        (c.dropout, c.input_dropout, c.lr, c.weight_decay, c.conv_weight_decay) = (0.6, 0.6, 0.01, 5e-4, Some(0.01));
    });
    let mean = tests.iter().sum::<f64>() / 3.0;
    eprintln!("Cora RevGNN-GCNII (16 x 64, 2 groups), seeds 0-2: test {tests:?}, mean {mean:.4}");
    assert!(mean >= 0.80, "mean test accuracy {mean} ({tests:?})");
}

#[test]
fn the_cora_revgat_recipe_and_its_self_kd_student_pass_a_floor_revgnn_gat_cannot_reach() {
    use mille_train::run::{RunConfig, TeacherConfig, recipe::Recipe};
    // recipes/cora-revgat.toml (LayerNorm group functions), seeds 0-2, one thread: teacher
    // 0.793 / 0.791 / 0.799 (mean 0.794), its self-KD student 0.804 / 0.794 / 0.803 (mean
    // 0.800). mille's RevGNN with GAT blocks reaches 79.2 %: the student's floor, 79.5 %, is
    // above it. One thread, because on two the order of a row's sums moves a seed by up to 2
    // points (docs/RESULTS.md section 8); on one these runs repeat exactly.
    struct Threads(i32);
    impl Drop for Threads {
        fn drop(&mut self) {
            tch::set_num_threads(self.0);
        }
    }
    let _rng = RNG.lock().unwrap_or_else(|p| p.into_inner());
    let _threads = Threads(tch::get_num_threads());
    tch::set_num_threads(1);
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let recipe = Recipe::find("cora-revgat").unwrap();
    let (mut teachers, mut students) = (Vec::new(), Vec::new());
    for seed in 0..3 {
        let (teacher, student) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut c = recipe.apply(RunConfig::new(&store), "recipe cora-revgat").unwrap();
        (c.seed, c.device) = (seed, "cpu".into());
        teachers.push(Trainer::new(c.clone(), teacher.path(), false).unwrap().fit().unwrap().test);
        c.teacher = Some(TeacherConfig::new(teacher.path()));
        students.push(Trainer::new(c, student.path(), false).unwrap().fit().unwrap().test);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (t, s) = (mean(&teachers), mean(&students));
    eprintln!(
        "Cora RevGAT recipe, seeds 0-2: teachers {teachers:?} (mean {t:.4}), students {students:?} (mean {s:.4})"
    );
    assert!(t >= 0.79, "the recipe's mean test accuracy {t} ({teachers:?})");
    assert!(s >= 0.795, "the self-KD students' mean test accuracy {s} ({students:?})");
}
