//! Training runs on real Cora (public split) through the trainer: a RevGNN reaches the published
//! GCN's neighbourhood.

mod common;

use cora_setup::cora_config;

#[path = "common/cora_setup.rs"]
mod cora_setup;

use mille_train::run::Trainer;

#[test]
fn revgnn_reaches_78_percent_on_cora() {
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let run = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(cora_config(&store), run.path(), false).unwrap();
    let s = t.fit().unwrap();
    eprintln!("Cora RevGNN (8 x 64, GCN, 2 groups): {s:?}");
    assert!(s.test >= 0.78, "test accuracy {}", s.test);
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
