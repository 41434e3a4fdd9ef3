//! `tools/report`: the summaries of several run folders side by side.

use clap::Parser;
use mille_train::run::Summary;
use std::path::PathBuf;

/// Print the summaries (RUN/summary.json) of run folders as one table: model, depth, width,
/// parameters, seconds per epoch, peak memory, and single-view and multi-view scores.
#[derive(Parser)]
#[command(name = "report", version)]
struct Args {
    /// Run folders written by `tools/train`.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// One JSON list instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() {
    mille_tools::run(|| {
        let a = Args::parse();
        let mut rows = Vec::new();
        for r in &a.runs {
            let path = r.join("summary.json");
            let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let s: Summary = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            rows.push((r, s));
        }
        if a.json {
            let list: Vec<_> = rows.iter().map(|(r, s)| serde_json::json!({"run": r, "summary": s})).collect();
            println!("{}", serde_json::Value::Array(list));
            return Ok(());
        }
        let metric = rows.first().map_or("acc".to_string(), |(_, s)| s.metric.clone());
        println!(
            "{:<22} {:>6} {:>6} {:>9} {:>8} {:>10} | {:>22} | {:>22}",
            "model",
            "layers",
            "hidden",
            "params",
            "s/epoch",
            "peak mem",
            format!("single view {metric}"),
            format!("multi-view {metric}")
        );
        println!(
            "{:<22} {:>6} {:>6} {:>9} {:>8} {:>10} | {:>22} | {:>22}",
            "", "", "", "", "", "", "train  valid   test", "train  valid   test"
        );
        for (_, s) in &rows {
            println!(
                "{:<22} {:>6} {:>6} {:>9} {:>8.2} {:>10} | {:>6.4} {:>6.4} {:>6.4} | {:>6.4} {:>6.4} {:>6.4}",
                match (s.layers, s.batching.as_str()) {
                    (0, _) => "mlp".to_string(),
                    (_, "" | "random" | "cluster") => s.model.clone(),
                    (_, b) => format!("{} ({b})", s.model),
                },
                s.layers,
                s.hidden,
                s.params,
                s.epoch_seconds_median,
                mille_tools::human_bytes(s.peak_memory_bytes),
                s.train,
                s.valid,
                s.test,
                s.multi_view.train,
                s.multi_view.valid,
                s.multi_view.test
            );
        }
        for (r, s) in &rows {
            println!(
                "  {}: single view = best-validation epoch {} with 1 view x {} parts; multi-view = {} views x {} parts",
                r.display(),
                s.best_epoch,
                s.eval_parts,
                s.views,
                s.eval_parts
            );
        }
        Ok(())
    })
}
