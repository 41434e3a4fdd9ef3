//! `tools/evaluate`: re-evaluate a saved run (its best-validation weights) with multi-view
//! inference.

use clap::Parser;

// Out of the mille-tools library, as in train.rs (it names the trainer's types).
#[path = "../run_progress.rs"]
mod run_progress;
use mille_train::run::Trainer;
use serde_json::json;
use std::path::PathBuf;

/// Re-evaluate a run folder written by `tools/train`: V views, each an independent random
/// partition into Q parts; every node's logits averaged over the views; the dataset's metric
/// (acc or rocauc) on train / valid / test. Writes nothing unless --predictions is given.
#[derive(Parser)]
#[command(name = "evaluate", version)]
struct Args {
    /// The run folder.
    run: PathBuf,
    /// Views.
    #[arg(long, default_value_t = 1)]
    views: u32,
    /// Parts per view.
    #[arg(long, default_value_t = 1)]
    eval_parts: u32,
    /// auto, cpu, cuda or cuda:N (default: the run's).
    #[arg(long)]
    device: Option<String>,
    /// Also write the averaged logits here (.npy).
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// One JSON line.
    #[arg(long)]
    json: bool,
}

mille_tools::use_jemalloc!();

fn main() {
    mille_tools::run(|| {
        let a = Args::parse();
        // Writing predictions: hold the run folder, so a run still training cannot change its
        // weights under the evaluation (reading alone needs no hold).
        let _lock = match &a.predictions {
            Some(_) if a.run.is_dir() => Some(mille_train::run::folder::RunLock::acquire(&a.run)?),
            _ => None,
        };
        let mut t = Trainer::open(&a.run, a.device.as_deref())?;
        t.progress = Box::new(run_progress::RunProgress::new(mille_tools::interactive() && !a.json, a.json));
        let start = std::time::Instant::now();
        let (s, logits) = t.evaluate_with(a.views, a.eval_parts)?;
        let metric = mille_train::infer::metric_name(t.store())?;
        if let Some(p) = &a.predictions {
            let dim = t.model().config().out_dim as usize;
            mille_train::infer::write_npy(p, &logits, dim)?;
        }
        let out = json!({
            "metric": metric, "views": a.views, "eval_parts": a.eval_parts,
            "train": s.train, "valid": s.valid, "test": s.test,
            "seconds": start.elapsed().as_secs_f64(),
        });
        if a.json {
            println!("{out}");
        } else {
            println!("{} with {} view(s) x {} part(s):", a.run.display(), a.views, a.eval_parts);
            println!("  {metric}  train {:.4}  valid {:.4}  test {:.4}", s.train, s.valid, s.test);
        }
        Ok(())
    })
}
