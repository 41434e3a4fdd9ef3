//! The student's side of self-knowledge distillation: the teacher run's logits, read and checked
//! against the student's store and settings before anything is written, then their rows per batch.

use super::config::{RunConfig, TeacherConfig};
use crate::loss::kd;
use anyhow::Context;
use mille_pipeline::{Labels, Store};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The teacher's logits of every node, on the training device.
pub struct Teacher {
    logits: Tensor,
    alpha: f64,
    temperature: f64,
    reduction: crate::loss::KdReduction,
}

impl Teacher {
    /// Reads `cfg.run`'s `predictions.npy` for a student of `classes` classes on `store`
    /// (split `split`), checking it fits; records (or, resuming, checks) its checksum in `cfg`.
    pub fn open(
        cfg: &mut TeacherConfig,
        store: &Store,
        split: Option<&str>,
        classes: i64,
        device: Device,
    ) -> anyhow::Result<Teacher> {
        let run = cfg.run.clone();
        let saved = run.join("config.toml");
        anyhow::ensure!(
            saved.exists(),
            "--teacher {}: not a run folder (no config.toml); give the folder of a finished run (tools/train --out)",
            run.display()
        );
        let theirs = RunConfig::load(&saved).with_context(|| format!("--teacher {}", run.display()))?;
        anyhow::ensure!(
            matches!(store.labels(), Some(Labels::MultiClass(_))),
            "--teacher: self-distillation matches class distributions; store {} has binary tasks",
            store.path().display()
        );
        super::folder::check_store(&run, store).context("--teacher: the teacher trained on another store")?;
        anyhow::ensure!(
            theirs.split.as_deref() == split,
            "--teacher {}: it trained on split {:?}, this run on {:?}; a teacher that saw this run's validation or \
             test labels would leak them",
            run.display(),
            theirs.split.as_deref().unwrap_or("(the store's first)"),
            split.unwrap_or("(the store's first)")
        );
        let file = run.join("predictions.npy");
        anyhow::ensure!(
            file.exists(),
            "--teacher {}: {} is missing: the teacher has not finished (its final inference writes it)",
            run.display(),
            file.display()
        );
        let sum = mille_pipeline::store::checksum_file(&file)?;
        if let Some(want) = &cfg.checksum {
            anyhow::ensure!(
                *want == sum,
                "--teacher: {} changed since this student started (checksum {sum}, config.toml records {want}); \
                 a resumed student learns from the same teacher or starts again",
                file.display()
            );
        }
        let logits = read_logits(&file, store.num_nodes() as i64, classes)?;
        cfg.checksum = Some(sum);
        if let Ok(abs) = std::fs::canonicalize(&cfg.run) {
            cfg.run = abs;
        }
        Ok(Teacher {
            logits: logits.to_device(device),
            alpha: cfg.alpha,
            temperature: cfg.temperature,
            reduction: cfg.reduction,
        })
    }

    /// The student's loss on a batch of store nodes `nodes` (the rows of `logits`): `loss`
    /// weighed by `1 - alpha`, plus `alpha` times the KD term over all of them.
    pub fn blend(&self, loss: Tensor, logits: &Tensor, nodes: &Tensor) -> Tensor {
        let t = self.logits.index_select(0, nodes);
        loss * (1.0 - self.alpha) + kd(logits, &t, self.temperature, self.reduction) * self.alpha
    }
}

/// A float32 `[nodes, classes]` array from an `.npy` file, or an error naming the file and what
/// it holds instead.
fn read_logits(file: &Path, nodes: i64, classes: i64) -> anyhow::Result<Tensor> {
    let t = Tensor::read_npy(file).map_err(|e| anyhow::anyhow!("--teacher: reading {}: {e}", file.display()))?;
    anyhow::ensure!(
        t.kind() == Kind::Float && t.size() == [nodes, classes],
        "--teacher: {} holds {:?} {:?}; this student needs float32 logits [{nodes}, {classes}] (one row per node of \
         its store, one column per class)",
        file.display(),
        t.kind(),
        t.size()
    );
    anyhow::ensure!(
        t.isfinite().all().int64_value(&[]) == 1,
        "--teacher: {} holds a NaN or infinite logit (the teacher diverged)",
        file.display()
    );
    Ok(t)
}
