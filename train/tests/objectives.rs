//! The authors' ogbn-arxiv training settings as run settings: RMSprop, the log-CE loss, the
//! learning-rate warm-up and selection by the lowest validation loss. (Its tests take libtorch's
//! process-wide random generator in turns, through `RNG`: a concurrent run would draw from it.)

mod common;

#[path = "common/cora_setup.rs"]
mod cora_setup;

use cora_setup::cora_config;
use mille_train::loss::LossKind;
use mille_train::optim::Rule;
use mille_train::run::{RunConfig, Select, Trainer};
use std::path::Path;
use std::sync::Mutex;

static RNG: Mutex<()> = Mutex::new(());

fn arxiv_style(store: &Path) -> RunConfig {
    let mut cfg = cora_config(store);
    cfg.layers = 2;
    cfg.epochs = 8;
    cfg.optimizer = Rule::Rmsprop;
    cfg.loss = LossKind::Logce;
    cfg.warmup = 4;
    cfg.select = Select::ValidLoss;
    cfg.lr = 0.01;
    cfg
}

fn metric_lines(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_lowest_validation_loss_is_kept_and_a_resumed_rmsprop_run_ends_as_a_straight_one() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let cfg = arxiv_style(&store);

    let straight = tempfile::tempdir().unwrap();
    let a = Trainer::new(cfg.clone(), straight.path(), false).unwrap().fit().unwrap();
    let lines = metric_lines(straight.path());
    assert_eq!(lines.len(), 8);
    let losses: Vec<f64> = lines.iter().map(|l| l["valid_loss"].as_f64().unwrap()).collect();
    // The kept epoch is the first with the lowest validation loss, not the best accuracy's.
    let lowest = losses.iter().copied().fold(f64::INFINITY, f64::min);
    let want = 1 + losses.iter().position(|&l| l == lowest).unwrap() as u64;
    assert_eq!(a.best_epoch, want, "{losses:?}");
    assert_eq!(a.valid, lines[want as usize - 1]["valid"].as_f64().unwrap());
    assert_eq!(a.selection, "lowest validation loss (logce)");
    // On the final weights' one view the loss is the best epoch's again.
    assert!((a.multi_view.valid_loss.unwrap() - lowest).abs() < 1e-6, "{:?} vs {lowest}", a.multi_view);
    let saved = RunConfig::load(&straight.path().join("config.toml")).unwrap();
    assert_eq!((saved.optimizer, saved.loss, saved.warmup, saved.select), (cfg.optimizer, cfg.loss, 4, cfg.select));

    // Killed inside the warm-up (after epoch 3 of 4): the resumed run takes the same learning
    // rates and RMSprop state, so it ends bit for bit where the straight one did.
    let resumed = tempfile::tempdir().unwrap();
    let mut first = cfg.clone();
    first.epochs = 3;
    Trainer::new(first, resumed.path(), false).unwrap().fit().unwrap();
    let b = Trainer::new(cfg, resumed.path(), true).unwrap().fit().unwrap();
    assert_eq!((a.best_epoch, a.valid, a.test), (b.best_epoch, b.valid, b.test));
    let strip = |v: &serde_json::Value| (v["loss"].as_f64(), v["valid_loss"].as_f64(), v["test"].as_f64());
    let again = metric_lines(resumed.path());
    assert_eq!(lines.iter().map(strip).collect::<Vec<_>>(), again.iter().map(strip).collect::<Vec<_>>());
}

#[test]
fn warm_up_and_rmsprop_change_the_first_epochs_as_the_authors_schedule_says() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    // One epoch of RMSprop at lr / 1000 (the first warm-up epoch of 1000) moves the weights
    // 1000 times less than at lr: the first step of RMSprop is lr * g / (sqrt(0.01) |g|) per
    // weight, linear in lr.
    let moved = |warmup: u64| {
        let mut cfg = arxiv_style(&store);
        (cfg.epochs, cfg.warmup, cfg.dropout, cfg.weight_decay, cfg.layers) = (1, warmup, 0.0, 0.0, 0);
        let dir = tempfile::tempdir().unwrap();
        let t = Trainer::new(cfg.clone(), dir.path(), false).unwrap();
        let before: Vec<(String, tch::Tensor)> =
            t.var_store().variables().into_iter().map(|(n, v)| (n, v.detach().copy())).collect();
        let mut t = t;
        t.fit().unwrap();
        let after = t.var_store().variables();
        before.iter().map(|(n, v)| (&after[n] - v).abs().max().double_value(&[])).fold(0.0, f64::max)
    };
    let (full, tiny) = (moved(0), moved(1000));
    assert!(full > 0.0 && (full / tiny - 1000.0).abs() < 1.0, "lr moved {full}, lr/1000 moved {tiny}");
}

#[test]
fn logce_is_refused_for_binary_tasks_before_a_folder_is_made() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (store, _tmp) = common::store(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/proteins_like"), true);
    let mut cfg = RunConfig::new(&store);
    (cfg.loss, cfg.device, cfg.layers) = (LossKind::Logce, "cpu".into(), 1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let e = Trainer::new(cfg, &out, false).err().expect("refused").to_string();
    assert!(e.starts_with("--loss logce bends the per-node cross-entropy"), "{e}");
    assert!(!out.exists());
}
