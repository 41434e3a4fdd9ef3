//! Checkpoints: `RUN/checkpoint-EPOCH/` holds the weights and the optimiser's moments (safetensors;
//! the moments file keeps its first name, `adam.safetensors`, under RMSprop too) and the loop's
//! state (JSON); `RUN/checkpoint.json` names the latest and is replaced atomically,
//! so a run killed at any moment resumes from a complete checkpoint.

use crate::infer::Scores;
use crate::optim::Optimizer;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn;

/// What the training loop needs besides weights and optimiser moments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: u64,
    /// Optimiser steps taken.
    pub step: i64,
    /// Best validation score so far, and the epoch and scores it came with.
    pub best: Option<(u64, Scores)>,
    /// Seconds of every completed epoch (training loop only).
    pub epoch_seconds: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct Pointer {
    dir: String,
}

use mille_pipeline::durable::{sync_dir, sync_file, write_atomic};

/// Saves a checkpoint of `epoch` and points `RUN/checkpoint.json` at it; removes the previous.
pub fn save(run: &Path, vs: &nn::VarStore, opt: &Optimizer, state: &LoopState) -> anyhow::Result<()> {
    let name = format!("checkpoint-{:05}", state.epoch);
    let dir = run.join(&name);
    // Written whole under a hidden name, then renamed: a full disk or a kill mid-way never
    // leaves a checkpoint folder with truncated files under its final name.
    let tmp = run.join(format!(".{name}.partial"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let written = (|| -> anyhow::Result<()> {
        let (model, moments) = (tmp.join("model.safetensors"), tmp.join("adam.safetensors"));
        vs.save(&model).with_context(|| format!("writing {}", dir.join("model.safetensors").display()))?;
        opt.save(&moments).with_context(|| format!("writing {}", dir.join("adam.safetensors").display()))?;
        // Durable before the pointer names it: a power cut never leaves a pointer to empty files.
        sync_file(&model)?;
        sync_file(&moments)?;
        write_atomic(&tmp.join("state.json"), &serde_json::to_vec_pretty(state)?)
            .with_context(|| format!("writing {}", dir.join("state.json").display()))?;
        sync_dir(&tmp)?;
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).with_context(|| format!("renaming {} to {}", tmp.display(), dir.display()))?;
        Ok(sync_dir(run)?)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written?;
    let previous = latest_dir(run);
    write_atomic(&run.join("checkpoint.json"), &serde_json::to_vec(&Pointer { dir: name })?)
        .with_context(|| format!("writing {}", run.join("checkpoint.json").display()))?;
    if let Some(p) = previous.filter(|p| *p != dir) {
        let _ = std::fs::remove_dir_all(p);
    }
    Ok(())
}

fn latest_dir(run: &Path) -> Option<PathBuf> {
    pointed_dir(run).ok().flatten()
}

/// The folder `RUN/checkpoint.json` names: `None` without that file, an error naming it when
/// it cannot be read or parsed, or names no folder there.
fn pointed_dir(run: &Path) -> anyhow::Result<Option<PathBuf>> {
    let path = run.join("checkpoint.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("{}: {e}", path.display()),
    };
    let p: Pointer = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a checkpoint pointer; the run cannot resume", path.display()))?;
    let dir = run.join(&p.dir);
    anyhow::ensure!(
        !p.dir.contains('/') && dir.is_dir(),
        "{}: names checkpoint folder {:?}, which is not in {}",
        path.display(),
        p.dir,
        run.display()
    );
    Ok(Some(dir))
}

/// Loads the latest checkpoint into `vs` and `opt`; `None` when the run has none
/// (`RUN/checkpoint.json` absent); an error naming the file when it is there but broken.
pub fn load(run: &Path, vs: &mut nn::VarStore, opt: &mut Optimizer) -> anyhow::Result<Option<LoopState>> {
    let Some(dir) = pointed_dir(run)? else { return Ok(None) };
    let state_path = dir.join("state.json");
    let state: LoopState = serde_json::from_slice(
        &std::fs::read(&state_path).with_context(|| format!("reading {}", state_path.display()))?,
    )
    .with_context(|| format!("reading {}", state_path.display()))?;
    let model = dir.join("model.safetensors");
    vs.load(&model).with_context(|| super::weights_mismatch(&model))?;
    opt.load(&dir.join("adam.safetensors"), state.step)
        .with_context(|| format!("reading {}", dir.join("adam.safetensors").display()))?;
    Ok(Some(state))
}
