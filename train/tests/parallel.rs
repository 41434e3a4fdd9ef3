//! Data-parallel training across real processes (`mpirun` over shared memory): two ranks hold
//! bit-identical weights, equal to one process accumulating two batches per step.
//!
//! The test starts this very test binary as the ranks (`mpirun -np 2 <this binary> <test>`): a
//! process started by a launcher plays its rank and writes its weights; the one started by
//! `cargo test` compares them.
#![cfg(feature = "mpi")]

mod common;

#[path = "common/cora_setup.rs"]
mod cora_setup;

use mille_train::conv::ConvKind;
use mille_train::run::{RunConfig, Trainer, World};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// RevGNN (SAGE, 3 blocks of 32, dropout 0.5) on Cora's random clusters, 5 batches an epoch:
/// every step of a 2-way split has a short last step (5 = 2 + 2 + 1).
fn config(store: &Path) -> RunConfig {
    let mut c = cora_setup::cora_config(store);
    (c.conv, c.layers, c.hidden, c.epochs, c.eval_every) = (ConvKind::Sage, 3, 32, 4, 2);
    c.sampler = mille_train::run::SamplerSetting::Cluster { parts: 5 };
    c
}

/// Runs test `name` of this binary as two MPI ranks with `env`, and checks they succeeded.
fn ranks(name: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let exe = std::env::current_exe().unwrap();
    let args: Vec<std::ffi::OsString> = [name, "--exact", "--nocapture"].iter().map(Into::into).collect();
    let mut c = mille_dist::launch_command(2, &exe, &args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("mpirun runs");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

/// Two ranks' run, seen from the test process: the store (and the folder holding it), the
/// ranks' folder, and rank 0's and rank 1's final weights.
struct TwoRanks {
    store: PathBuf,
    _store_dir: tempfile::TempDir,
    dir: tempfile::TempDir,
    r0: Vec<(String, tch::Tensor)>,
    r1: Vec<(String, tch::Tensor)>,
}

/// Cora prepared, then test `name` run as two ranks writing into a fresh folder.
fn two_ranks(name: &str) -> TwoRanks {
    let (store, store_dir) = common::store(&common::dataset("cora"), false);
    let dir = tempfile::tempdir().unwrap();
    ranks(name, &[("MILLE_TEST_STORE", store.as_os_str()), ("MILLE_TEST_DIR", dir.path().as_os_str())]);
    let (r0, r1) = (weights(&dir.path().join("rank-0.safetensors")), weights(&dir.path().join("rank-1.safetensors")));
    TwoRanks { store, _store_dir: store_dir, dir, r0, r1 }
}

fn weights(path: &Path) -> Vec<(String, tch::Tensor)> {
    let mut w = tch::Tensor::read_safetensors(path).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn assert_bit_identical(a: &[(String, tch::Tensor)], b: &[(String, tch::Tensor)], what: &str) {
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{what}: {na} differs (max |diff| {})", (ta - tb).abs().max().double_value(&[]));
    }
}

#[test]
fn two_ranks_take_the_steps_of_one_process_accumulating_two_batches() {
    tch::set_num_threads(1); // the same intra-op reductions in every process
    if mille_dist::launched_ranks().is_some() {
        // A rank: train, then leave this rank's final weights for the test to compare.
        let (store, dir) = (std::env::var("MILLE_TEST_STORE").unwrap(), std::env::var("MILLE_TEST_DIR").unwrap());
        // Small buckets: the blocks' gradients go out while earlier blocks run backward.
        let world = World::from_env(Duration::from_secs(120)).unwrap().with_bucket(1000);
        let rank = world.rank();
        let run = Path::new(&dir).join("run");
        let mut t = Trainer::new_in(config(Path::new(&store)), &run, false, world).unwrap();
        let s = t.fit().unwrap();
        assert_eq!(s.world_size, 2);
        t.var_store().save(Path::new(&dir).join(format!("rank-{rank}.safetensors"))).unwrap();
        return;
    }
    let TwoRanks { store, _store_dir, dir, r0, r1 } =
        two_ranks("two_ranks_take_the_steps_of_one_process_accumulating_two_batches");
    assert_bit_identical(&r0, &r1, "rank 1 against rank 0");
    // Only rank 0 wrote the run folder, and it says how many ranks trained.
    let summary = std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap();
    assert!(summary.contains("\"world_size\": 2"), "{summary}");
    let saved = RunConfig::load(&dir.path().join("run/config.toml")).unwrap();
    assert_eq!(saved.nproc, 2);

    let one = tempfile::tempdir().unwrap();
    let mut c = config(&store);
    c.accumulate = 2;
    let mut t = Trainer::new(c, one.path(), false).unwrap();
    let single = t.fit().unwrap();
    // The ranks split every evaluation's batches and add up their logits: the same scores.
    let ranks: serde_json::Value = serde_json::from_str(&summary).unwrap();
    for (k, v) in [("train", single.train), ("valid", single.valid), ("test", single.test)] {
        assert_eq!(ranks[k].as_f64().unwrap(), v, "{k} score");
        assert_eq!(ranks["multi_view"][k].as_f64().unwrap(), v, "multi-view {k} score");
    }
    assert_eq!(ranks["best_epoch"].as_u64().unwrap(), single.best_epoch);
    let acc: Vec<(String, tch::Tensor)> = {
        let mut v: Vec<_> = t.var_store().variables().into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    // Bit for bit: per step each parameter receives one gradient per batch, and two ranks' sum
    // is the one addition accumulating the second batch onto the first makes.
    assert_bit_identical(&acc, &r0, "2 ranks against --accumulate 2");
    // The final weights are the best-validation ones on both (loaded by finish()).
    let best = weights(&one.path().join("best.safetensors"));
    assert_bit_identical(&acc, &best, "one process's final weights against its best.safetensors");
}

/// RevGAT (4 layers: 2 reversible blocks of 2 groups, BatchNorm, edge drop, labels as input
/// with one reuse pass) on the same clusters, evaluated once, after its last epoch.
fn revgat_config(store: &Path) -> RunConfig {
    use mille_train::model::{GroupInit, ModelKind};
    let mut c = config(store);
    (c.model, c.layers, c.hidden, c.heads, c.group_init) = (ModelKind::Revgat, 4, 24, 2, GroupInit::Copy);
    c.norm = Some(mille_train::revgat::BlockNorm::Batch);
    (c.edge_drop, c.input_dropout, c.use_labels, c.label_reuse) = (0.3, 0.25, true, 1);
    c.eval_every = c.epochs;
    c
}

/// The run's tensors that take gradients (`train`) or the others (BatchNorm's statistics).
fn split_trainable(all: &[(String, tch::Tensor)], train: bool) -> Vec<(String, tch::Tensor)> {
    all.iter().filter(|(n, _)| n.contains("running_") != train).map(|(n, t)| (n.clone(), t.shallow_clone())).collect()
}

#[test]
fn two_revgat_ranks_overlap_their_block_gradients_and_share_batchnorm_statistics() {
    tch::set_num_threads(1);
    if mille_dist::launched_ranks().is_some() {
        let (store, dir) = (std::env::var("MILLE_TEST_STORE").unwrap(), std::env::var("MILLE_TEST_DIR").unwrap());
        // One float a bucket: every block's gradients go on the wire as its backward ends.
        let world = World::from_env(Duration::from_secs(120)).unwrap().with_bucket(1);
        let rank = world.rank();
        let mut t =
            Trainer::new_in(revgat_config(Path::new(&store)), &Path::new(&dir).join("run"), false, world).unwrap();
        // RevGAT's blocks reduce in groups of their own, last block first.
        let names: Vec<String> =
            t.var_store().variables().into_iter().filter(|(_, v)| v.requires_grad()).map(|(n, _)| n).collect();
        let groups = t.model().gradient_groups(&names);
        assert_eq!(groups.len(), 3, "2 blocks, then the rest");
        assert!(groups.iter().all(|g| !g.is_empty()), "{groups:?}");
        t.fit().unwrap();
        t.var_store().save(Path::new(&dir).join(format!("rank-{rank}.safetensors"))).unwrap();
        return;
    }
    let TwoRanks { store, _store_dir, dir: _, r0, r1 } =
        two_ranks("two_revgat_ranks_overlap_their_block_gradients_and_share_batchnorm_statistics");
    assert!(r0.iter().any(|(n, _)| n.contains("running_mean")), "a BatchNorm run");
    // Statistics included: without their mean over the ranks each rank would keep its own.
    assert_bit_identical(&r0, &r1, "rank 1 against rank 0");

    let one = tempfile::tempdir().unwrap();
    let mut c = revgat_config(&store);
    c.accumulate = 2;
    let mut t = Trainer::new(c, one.path(), false).unwrap();
    t.fit().unwrap();
    let mut acc: Vec<(String, tch::Tensor)> = t.var_store().variables().into_iter().collect();
    acc.sort_by(|a, b| a.0.cmp(&b.0));
    // The weights bit for bit (the blocks' gradients reduced in groups during the backward);
    // the statistics, moved once by the mean of two batches' instead of twice in a row, not.
    assert_bit_identical(&split_trainable(&acc, true), &split_trainable(&r0, true), "2 ranks against --accumulate 2");
    let (ra, aa) = (split_trainable(&r0, false), split_trainable(&acc, false));
    assert!(ra.iter().zip(&aa).any(|((_, a), (_, b))| !a.equal(b)), "the statistics move differently");
}

/// Deterministic logits of node `g` (a row of the source store), the same in every process.
fn fake_logits(g: usize, dim: usize) -> impl Iterator<Item = f32> {
    // Few distinct values, so ROC-AUC meets ties too.
    (0..dim).map(move |t| ((g * 31 + t * 17) % 23) as f32 / 4.0 - 2.0)
}

#[test]
fn shards_scored_together_equal_the_whole_store_scored_at_once() {
    use mille_pipeline::Store;
    if mille_dist::launched_ranks().is_some() {
        // A rank: score its shard's logits with the others', leave the scores.
        let (sets, dir) = (std::env::var("MILLE_TEST_SHARDS").unwrap(), std::env::var("MILLE_TEST_DIR").unwrap());
        let world = World::from_env(Duration::from_secs(120)).unwrap();
        let mut scores = Vec::new();
        for set in sets.split(',') {
            let set = mille_partition::ShardSet::open(Path::new(set)).unwrap();
            let shard = set.open_shard(world.rank()).unwrap();
            let dim = label_width(&shard);
            let global: &[u32] = shard.array(mille_partition::GLOBAL_ID).unwrap();
            let logits: Vec<f32> = global.iter().flat_map(|&g| fake_logits(g as usize, dim)).collect();
            scores.push(mille_train::infer::score_shards(&world, &shard, None, &logits, dim).unwrap());
        }
        let path = Path::new(&dir).join(format!("scores-{}.json", world.rank()));
        std::fs::write(path, serde_json::to_vec(&scores).unwrap()).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Cora (accuracy) and the proteins-like fixture (ROC-AUC over its tasks).
    let sources = [
        common::store(&common::dataset("cora"), false),
        common::store(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/proteins_like"), true),
    ];
    let mut sets = Vec::new();
    let mut want = Vec::new();
    for (i, (path, _)) in sources.iter().enumerate() {
        let s = Store::open(path).unwrap();
        let method = mille_partition::Method::Metis(Default::default());
        let p = mille_partition::compute(&s, &method, 2, 0).unwrap();
        let out = dir.path().join(format!("set-{i}"));
        mille_partition::shard(&s, &p, "metis", &out, |_| {}).unwrap();
        sets.push(out.display().to_string());
        let dim = label_width(&s);
        let logits: Vec<f32> = (0..s.num_nodes()).flat_map(|g| fake_logits(g, dim)).collect();
        want.push(mille_train::infer::score(&s, None, &logits, dim).unwrap());
    }
    let sets = sets.join(",");
    ranks(
        "shards_scored_together_equal_the_whole_store_scored_at_once",
        &[("MILLE_TEST_SHARDS", sets.as_ref()), ("MILLE_TEST_DIR", dir.path().as_os_str())],
    );
    for r in 0..2 {
        let got: Vec<mille_train::infer::Scores> =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("scores-{r}.json"))).unwrap()).unwrap();
        for (g, w) in got.iter().zip(&want) {
            for (a, b) in [(g.train, w.train), (g.valid, w.valid), (g.test, w.test)] {
                assert!((a - b).abs() < 1e-12, "rank {r}: {g:?} against the whole store's {w:?}");
            }
        }
    }
    assert!(want[1].test > 0.0 && want[1].test < 1.0, "ROC-AUC scored: {:?}", want[1]);
}

/// Columns of the model's output for the store's labels: classes or tasks.
fn label_width(s: &mille_pipeline::Store) -> usize {
    match s.labels().unwrap() {
        mille_pipeline::Labels::MultiClass(_) => s.meta().num_classes.unwrap() as usize,
        mille_pipeline::Labels::MultiLabel(y) => y.cols,
    }
}
