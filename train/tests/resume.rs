//! A killed and resumed run ends exactly as an uninterrupted one. (Alone in its test binary:
//! libtorch's random generator is process-wide, so a concurrent test would draw from it.)

mod common;

#[path = "common/cora_setup.rs"]
mod cora_setup;

use cora_setup::cora_config;
use mille_train::conv::ConvKind;
use mille_train::run::Trainer;
use std::path::Path;

#[test]
fn a_killed_run_resumes_to_the_same_result() {
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let mut cfg = cora_config(&store);
    cfg.conv = ConvKind::Sage;
    cfg.layers = 3;
    cfg.sampler = mille_train::run::SamplerSetting::Cluster { parts: 3 };
    cfg.eval_parts = 2;
    cfg.views = 2;
    cfg.epochs = 6;
    cfg.workers = 2;

    let straight = tempfile::tempdir().unwrap();
    let a = Trainer::new(cfg.clone(), straight.path(), false).unwrap().fit().unwrap();

    // "Killed" after epoch 3: a run that only had 3 epochs to do, then resumed to 6.
    let resumed = tempfile::tempdir().unwrap();
    let mut first = cfg.clone();
    first.epochs = 3;
    Trainer::new(first, resumed.path(), false).unwrap().fit().unwrap();
    // A line the killed run wrote after its last checkpoint must not survive.
    std::fs::write(
        resumed.path().join("metrics.jsonl"),
        std::fs::read_to_string(resumed.path().join("metrics.jsonl")).unwrap() + "{\"epoch\": 4, \"loss\": 9}\n",
    )
    .unwrap();
    let b = Trainer::new(cfg, resumed.path(), true).unwrap().fit().unwrap();

    let metrics = |d: &Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(d.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                for k in [
                    "seconds",
                    "batches_per_second",
                    "batch_wait_seconds",
                    "peak_memory_bytes",
                    "peak_anon_rss_bytes",
                    "rss_file_bytes",
                ] {
                    v.as_object_mut().unwrap().remove(k);
                }
                v
            })
            .collect()
    };
    assert_eq!(metrics(straight.path()), metrics(resumed.path()));
    assert_eq!((a.train, a.valid, a.test, a.best_epoch), (b.train, b.valid, b.test, b.best_epoch));
    assert_eq!(a.multi_view, b.multi_view);
    // The final weights and the best-validation ones are bit for bit the same.
    for file in ["checkpoint-00006/model.safetensors", "checkpoint-00006/adam.safetensors", "best.safetensors"] {
        let w = |d: &Path| {
            let mut v = tch::Tensor::read_safetensors(d.join(file)).unwrap();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        let (wa, wb) = (w(straight.path()), w(resumed.path()));
        assert_eq!(wa.len(), wb.len());
        for ((na, ta), (nb, tb)) in wa.iter().zip(wb.iter()) {
            assert_eq!(na, nb);
            assert!(ta.equal(tb), "{file}: {na} differs");
        }
    }
}
