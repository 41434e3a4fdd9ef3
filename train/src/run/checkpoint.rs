//! Checkpoints: `RUN/checkpoint-EPOCH/` holds the weights and Adam's moments (safetensors) and
//! the loop's state (JSON); `RUN/checkpoint.json` names the latest and is replaced atomically,
//! so a run killed at any moment resumes from a complete checkpoint.

use crate::infer::Scores;
use crate::optim::Adam;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::nn;

/// What the training loop needs besides weights and optimiser moments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    /// Epochs completed.
    pub epoch: u64,
    /// Adam steps taken.
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
pub fn save(run: &Path, vs: &nn::VarStore, adam: &Adam, state: &LoopState) -> anyhow::Result<()> {
    let name = format!("checkpoint-{:05}", state.epoch);
    let dir = run.join(&name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    vs.save(dir.join("model.safetensors"))?;
    adam.save(&dir.join("adam.safetensors"))?;
    // Durable before the pointer names it: a power cut never leaves a pointer to empty files.
    sync_file(&dir.join("model.safetensors"))?;
    sync_file(&dir.join("adam.safetensors"))?;
    write_atomic(&dir.join("state.json"), &serde_json::to_vec_pretty(state)?)?;
    sync_dir(run)?;
    let previous = latest_dir(run);
    write_atomic(&run.join("checkpoint.json"), &serde_json::to_vec(&Pointer { dir: name })?)?;
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

/// Loads the latest checkpoint into `vs` and `adam`; `None` when the run has none
/// (`RUN/checkpoint.json` absent); an error naming the file when it is there but broken.
pub fn load(run: &Path, vs: &mut nn::VarStore, adam: &mut Adam) -> anyhow::Result<Option<LoopState>> {
    let Some(dir) = pointed_dir(run)? else { return Ok(None) };
    let state_path = dir.join("state.json");
    let state: LoopState = serde_json::from_slice(&std::fs::read(&state_path)?)
        .with_context(|| format!("reading {}", state_path.display()))?;
    vs.load(dir.join("model.safetensors"))?;
    adam.load(&dir.join("adam.safetensors"), state.step)?;
    Ok(Some(state))
}
