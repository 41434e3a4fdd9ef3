//! `bench memory-depth` (and the hidden `memory-step` each of its points runs): peak memory of
//! one training step against depth.

use super::common::{random_batch, run_json};
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// `bench memory-depth`.
#[derive(clap::Args, Debug)]
pub struct MemoryDepthArgs {
    /// Depths, comma-separated.
    #[arg(long, default_value = "7,28,112,448,1001")]
    pub layers: String,
    /// Hidden channels.
    #[arg(long, default_value_t = 64)]
    pub hidden: i64,
    /// Nodes of the random graph (one batch).
    #[arg(long, default_value_t = 50_000)]
    pub nodes: usize,
    /// Models, comma-separated (revgat: --layers counts its input and output GAT layers,
    /// --hidden must split into 3 heads x 2 groups).
    #[arg(long, default_value = "resgnn,revgnn,wt-revgnn,deq")]
    pub models: String,
    /// Write a PNG plot of peak memory against depth here.
    #[arg(long, value_name = "PNG")]
    pub plot: Option<PathBuf>,
    /// Take the rows from this earlier `--json` output instead of measuring (to re-plot).
    #[arg(long, value_name = "JSON")]
    pub from_json: Option<PathBuf>,
    /// Skip ResGNN above this depth (its memory grows linearly).
    #[arg(long, default_value_t = 112)]
    pub max_resgnn_layers: usize,
    /// The blocks' convolution (tools/train --conv; gcnii reads the input layer's output in
    /// every block).
    #[arg(long, default_value = "sage")]
    pub conv: String,
    /// Reversible models' dropout mask (tools/train --dropout-mask).
    #[arg(long, default_value = "per-group")]
    pub dropout_mask: String,
    /// cpu (peak RSS) or cuda:N (the caching allocator's peak allocated GPU memory, reset
    /// before the step: the paper's axis).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// One JSON list.
    #[arg(long)]
    pub json: bool,
}

/// `bench memory-step`.
#[derive(clap::Args, Debug)]
pub struct MemoryStepArgs {
    #[arg(long)]
    pub model: String,
    #[arg(long)]
    pub layers: usize,
    #[arg(long)]
    pub hidden: i64,
    #[arg(long)]
    pub nodes: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long, default_value = "sage")]
    pub conv: String,
    #[arg(long, default_value = "per-group")]
    pub dropout_mask: String,
}

/// The fixed settings of a memory-depth sweep.
struct DepthArgs {
    hidden: i64,
    nodes: usize,
    max_res: usize,
    device: String,
    conv: String,
    dropout_mask: String,
}

/// `bench memory-depth`.
pub fn depth(a: MemoryDepthArgs) -> anyhow::Result<()> {
    let MemoryDepthArgs {
        layers,
        hidden,
        nodes,
        models,
        max_resgnn_layers,
        device,
        conv,
        dropout_mask,
        plot,
        from_json,
        json,
    } = a;
    let depth = DepthArgs { hidden, nodes, max_res: max_resgnn_layers, device, conv, dropout_mask };
    bench_memory_depth(&layers, &models, &depth, plot, from_json, json)
}

/// `bench memory-step`.
pub fn step(a: MemoryStepArgs) -> anyhow::Result<()> {
    let MemoryStepArgs { model, layers, hidden, nodes, device, conv, dropout_mask } = a;
    let depth = DepthArgs { hidden, nodes, max_res: 0, device, conv, dropout_mask };
    memory_step(&model, layers, &depth)
}

fn bench_memory_depth(
    layers: &str,
    models: &str,
    a: &DepthArgs,
    plot: Option<PathBuf>,
    from_json: Option<PathBuf>,
    as_json: bool,
) -> anyhow::Result<()> {
    let DepthArgs { hidden, nodes, max_res, .. } = *a;
    let gpu = mille_train::device::resolve(&a.device)?.is_cuda();
    let me = std::env::current_exe()?;
    let mut rows = Vec::new();
    if let Some(f) = &from_json {
        let text = std::fs::read_to_string(f).with_context(|| f.display().to_string())?;
        rows =
            serde_json::from_str(&text).with_context(|| format!("{}: not a memory-depth --json list", f.display()))?;
    }
    for model in models.split(',').map(str::trim).filter(|m| !m.is_empty() && from_json.is_none()) {
        for l in layers.split(',').map(|l| l.trim().parse::<usize>()) {
            let l = l.context("--layers takes comma-separated integers")?;
            // ResGNN grows linearly; DEQ's memory does not depend on depth at all (its depth is
            // the solver's iteration count), so one depth-free point is measured per listed depth.
            if model == "resgnn" && l > max_res {
                continue;
            }
            if !as_json {
                eprintln!("{model} with {l} layers ...");
            }
            let (l, h, n) = (l.to_string(), hidden.to_string(), nodes.to_string());
            let args = ["memory-step", "--model", model, "--layers", &l, "--hidden", &h, "--nodes", &n];
            let rest = ["--device", &a.device, "--conv", &a.conv, "--dropout-mask", &a.dropout_mask];
            rows.push(run_json(&me, &[&args[..], &rest[..]].concat())?);
        }
    }
    if let Some(path) = &plot {
        let mut series: Vec<mille_tools::plot::Series> = Vec::new();
        for r in &rows {
            let name = r["model"].as_str().unwrap_or("").to_string();
            let key = if gpu { "gpu_peak_memory_bytes" } else { "peak_memory_bytes" };
            let point = (r["layers"].as_f64().unwrap_or(0.0), r[key].as_f64().unwrap_or(0.0) / 1048576.0);
            match series.iter_mut().find(|s| s.name == name) {
                Some(s) => s.points.push(point),
                None => series.push(mille_tools::plot::Series { name, points: vec![point] }),
            }
        }
        let title = format!("Peak memory of one training step ({nodes} nodes, {hidden} channels, {})", a.device);
        let axis = if gpu { "peak allocated GPU memory (MiB)" } else { "peak RSS (MiB)" };
        mille_tools::plot::line_chart(path, &title, "layers", axis, &series, true)?;
        if !as_json {
            eprintln!("plot: {}", path.display());
        }
    }
    if as_json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        let bytes = |r: &serde_json::Value, k: &str| r[k].as_u64().map_or("-".into(), mille_tools::human_bytes);
        println!(
            "{:<10} {:>7} {:>10} {:>12} {:>12} {:>9}",
            "model", "layers", "params", "peak RSS", "peak GPU", "seconds"
        );
        for r in &rows {
            println!(
                "{:<10} {:>7} {:>10} {:>12} {:>12} {:>9.2}",
                r["model"].as_str().unwrap_or(""),
                r["layers"].as_u64().unwrap_or(0),
                r["params"].as_u64().unwrap_or(0),
                bytes(r, "peak_memory_bytes"),
                bytes(r, "gpu_peak_memory_bytes"),
                r["seconds"].as_f64().unwrap_or(0.0)
            );
        }
    }
    Ok(())
}

/// One step on a random graph of `nodes` nodes (10 random in-neighbours + a self loop each,
/// 100 features, 47 classes), as the paper's memory figure does with one fixed batch. On CUDA
/// the peak is the caching allocator's most allocated bytes during the step (reset first, the
/// batch and the model already on the GPU).
fn memory_step(model: &str, layers: usize, a: &DepthArgs) -> anyhow::Result<()> {
    use mille_train::conv::ConvKind;
    use mille_train::device as dev;
    use mille_train::model::{DropoutMask, Model, ModelConfig, ModelKind, num_params};
    use mille_train::optim::Optimizer;
    use mille_train::tch::{Kind, Tensor, nn};
    let kind: ModelKind = model.parse().map_err(|e| anyhow::anyhow!("--model {e}"))?;
    let conv: ConvKind = a.conv.parse().map_err(|e| anyhow::anyhow!("--conv {e}"))?;
    let mask: DropoutMask = a.dropout_mask.parse().map_err(|e| anyhow::anyhow!("--dropout-mask {e}"))?;
    let (hidden, nodes) = (a.hidden, a.nodes);
    let device = dev::resolve(&a.device)?;
    let (dim, classes) = (100usize, 47i64);
    let g = random_batch(nodes, 10, dim, classes, device);
    let y = g.classes().expect("labels");
    let vs = nn::VarStore::new(device);
    let mut cfg = ModelConfig::new(kind, conv, layers, hidden, dim as i64, classes);
    (cfg.dropout, cfg.dropout_mask) = (0.1, mask);
    if kind == ModelKind::Revgat {
        // The authors' edge drop: its per-block windows are part of what a step holds.
        cfg.edge_drop = 0.3;
    }
    let m = Model::new(&vs.root(), cfg);
    let mut opt = Optimizer::new(&vs, 1e-3);
    let before = mille_tools::rss_bytes();
    dev::synchronize(device);
    dev::reset_gpu_peak(device);
    let gpu_before = dev::gpu_memory(device).map(|m| m.allocated);
    let t = Instant::now();
    opt.zero_grad();
    let loss = m.backward(&g.adj, &g.x, |logits| logits.cross_entropy_for_logits(y));
    opt.step();
    dev::synchronize(device);
    let secs = t.elapsed().as_secs_f64();
    let gpu = dev::gpu_memory(device);
    let _ = Tensor::zeros([1], (Kind::Float, mille_train::tch::Device::Cpu));
    println!(
        "{}",
        json!({
            "model": model, "conv": a.conv, "dropout_mask": a.dropout_mask, "layers": layers, "hidden": hidden,
            "nodes": nodes,
            "device": dev::describe(device),
            "params": num_params(&vs), "peak_memory_bytes": mille_tools::peak_rss_bytes(),
            "gpu_peak_memory_bytes": gpu.map(|m| m.peak_allocated),
            "gpu_allocated_before_step_bytes": gpu_before,
            "rss_before_step_bytes": before, "seconds": secs, "loss": loss,
            "deq_forward_iterations": m.last_solves().map(|s| s.0.iterations),
        })
    );
    Ok(())
}
