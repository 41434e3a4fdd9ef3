//! `bench depth`: accuracy, epoch time and peak memory against depth, each (model, conv, depth,
//! seed) a `tools/train` run in a fresh process; a table of means and spreads, and a PNG of
//! test accuracy against depth (the paper's depth figure, on a graph we have).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What `bench depth` is asked.
#[derive(clap::Args, Debug)]
pub struct DepthArgs {
    /// The store.
    store: PathBuf,
    /// Depths, comma-separated.
    #[arg(long, default_value = "2,4,8,16,32,64")]
    layers: String,
    /// Seeds per point (0, 1, ...).
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Models, comma-separated.
    #[arg(long, default_value = "resgnn,revgnn")]
    models: String,
    /// Convolutions, comma-separated.
    #[arg(long, default_value = "gcn,gcnii")]
    convs: String,
    /// Run folders go here (one per run, replaced); default a temporary folder, removed.
    #[arg(long, value_name = "DIR")]
    runs: Option<PathBuf>,
    /// Write a PNG of test accuracy against depth here.
    #[arg(long, value_name = "PNG")]
    plot: Option<PathBuf>,
    /// Take the runs from this earlier `--json` output instead of training (to re-plot).
    #[arg(long, value_name = "JSON")]
    from_json: Option<PathBuf>,
    /// One JSON list of the runs.
    #[arg(long)]
    json: bool,
    /// Settings for every run, passed to `tools/train` after `--` (a recipe, epochs, lr, ...).
    #[arg(last = true)]
    train_args: Vec<String>,
}

/// One training run's figures.
#[derive(Debug, Serialize, Deserialize)]
struct Row {
    model: String,
    conv: String,
    layers: usize,
    seed: u64,
    test: f64,
    valid: f64,
    best_epoch: u64,
    epoch_seconds_median: f64,
    peak_memory_bytes: u64,
}

/// Runs the benchmark.
pub fn run(a: DepthArgs) -> anyhow::Result<()> {
    let rows: Vec<Row> = match &a.from_json {
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
            serde_json::from_str(&text).with_context(|| format!("{}: not a `bench depth --json` list", f.display()))?
        }
        None => train_all(&a)?,
    };
    if let Some(path) = &a.plot {
        plot(path, &rows, &a.store)?;
        if !a.json {
            eprintln!("plot: {}", path.display());
        }
    }
    if a.json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        print_table(&rows);
    }
    Ok(())
}

fn list<T: std::str::FromStr>(text: &str, flag: &str) -> anyhow::Result<Vec<T>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| anyhow::anyhow!("{flag}: {s:?} is not one of the values it takes")))
        .collect()
}

fn train_all(a: &DepthArgs) -> anyhow::Result<Vec<Row>> {
    let layers: Vec<usize> = list(&a.layers, "--layers")?;
    let models: Vec<String> = list(&a.models, "--models")?;
    // Named as the runs record them (`gcnii` is `gcnii:0.1:0.5`).
    let convs: Vec<String> =
        list::<mille_train::conv::ConvKind>(&a.convs, "--convs")?.iter().map(|c| c.to_string()).collect();
    anyhow::ensure!(a.seeds >= 1, "--seeds must be at least 1");
    let train = std::env::current_exe()?.with_file_name("train");
    let tmp;
    let runs = match &a.runs {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&runs).with_context(|| runs.display().to_string())?;
    let total = models.len() * convs.len() * layers.len() * a.seeds as usize;
    let mut rows = Vec::with_capacity(total);
    for model in &models {
        for conv in &convs {
            for &l in &layers {
                for seed in 0..a.seeds {
                    let out = runs.join(format!("{model}-{conv}-{l}-{seed}").replace(':', "_"));
                    if !a.json {
                        eprintln!("[{}/{total}] {model} {conv} {l} layers, seed {seed}", rows.len() + 1);
                    }
                    rows.push(train_one(&train, a, model, conv, l, seed, &out)?);
                }
            }
        }
    }
    Ok(rows)
}

fn train_one(
    train: &Path,
    a: &DepthArgs,
    model: &str,
    conv: &str,
    layers: usize,
    seed: u64,
    out: &Path,
) -> anyhow::Result<Row> {
    let (l, s) = (layers.to_string(), seed.to_string());
    let mut cmd = std::process::Command::new(train);
    cmd.arg(&a.store).args(&a.train_args);
    cmd.args(["--model", model, "--conv", conv, "--layers", &l, "--seed", &s, "--overwrite", "--json"]);
    cmd.arg("--out").arg(out);
    let done = cmd.output().with_context(|| format!("running {}", train.display()))?;
    anyhow::ensure!(
        done.status.success(),
        "{model} {conv} {layers} layers seed {seed}: tools/train failed: {}",
        String::from_utf8_lossy(&done.stderr).trim()
    );
    let path = out.join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let s: serde_json::Value = serde_json::from_str(&text).with_context(|| path.display().to_string())?;
    let num = |k: &str| s[k].as_f64().with_context(|| format!("{}: no number {k:?}", path.display()));
    Ok(Row {
        model: model.into(),
        conv: conv.into(),
        layers,
        seed,
        test: num("test")?,
        valid: num("valid")?,
        best_epoch: num("best_epoch")? as u64,
        epoch_seconds_median: num("epoch_seconds_median")?,
        peak_memory_bytes: num("peak_memory_bytes")? as u64,
    })
}

/// A point of the curve: (model, conv, depth).
type Point<'a> = (&'a str, &'a str, usize);

/// The rows of one (model, conv, depth), in first-seen order.
fn groups(rows: &[Row]) -> Vec<(Point<'_>, Vec<&Row>)> {
    let mut out: Vec<(Point<'_>, Vec<&Row>)> = Vec::new();
    for r in rows {
        let key = (r.model.as_str(), r.conv.as_str(), r.layers);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(r),
            None => out.push((key, vec![r])),
        }
    }
    out
}

/// Mean and sample standard deviation.
fn mean_std(v: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = v.clone().count() as f64;
    let mean = v.clone().sum::<f64>() / n;
    let var = if n > 1.0 { v.map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<8} {:<16} {:>6} {:>6} {:>16} {:>16} {:>10} {:>12}",
        "model", "conv", "layers", "seeds", "test (mean±sd)", "valid (mean±sd)", "s/epoch", "peak RSS"
    );
    for ((model, conv, layers), rs) in groups(rows) {
        let (t, ts) = mean_std(rs.iter().map(|r| r.test));
        let (v, vs) = mean_std(rs.iter().map(|r| r.valid));
        let (secs, _) = mean_std(rs.iter().map(|r| r.epoch_seconds_median));
        let peak = rs.iter().map(|r| r.peak_memory_bytes).max().unwrap_or(0);
        println!(
            "{model:<8} {conv:<16} {layers:>6} {:>6} {:>16} {:>16} {secs:>10.3} {:>12}",
            rs.len(),
            format!("{:.2} ± {:.2}", 100.0 * t, 100.0 * ts),
            format!("{:.2} ± {:.2}", 100.0 * v, 100.0 * vs),
            mille_tools::human_bytes(peak)
        );
    }
}

fn plot(path: &Path, rows: &[Row], store: &Path) -> anyhow::Result<()> {
    let mut series: Vec<mille_tools::plot::Series> = Vec::new();
    for ((model, conv, layers), rs) in groups(rows) {
        let name = format!("{model} {conv}");
        let point = (layers as f64, 100.0 * mean_std(rs.iter().map(|r| r.test)).0);
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push(point),
            None => series.push(mille_tools::plot::Series { name, points: vec![point] }),
        }
    }
    let name = store.file_name().map_or_else(|| store.display().to_string(), |n| n.to_string_lossy().into_owned());
    let title = format!("Test accuracy against depth on {name} (mean over seeds)");
    mille_tools::plot::line_chart(path, &title, "layers", "test accuracy (%)", &series, false)
}
