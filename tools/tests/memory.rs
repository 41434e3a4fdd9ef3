//! Memory against depth, as `tools/bench memory-depth` measures it (one training step on a fixed
//! random batch, each point a fresh process): RevGNN's step grows by its parameters alone,
//! ResGNN's by every layer's activations.

use std::process::Command;

/// Bytes a step added to the process's peak RSS, and the model's parameters.
fn step(model: &str, layers: usize) -> (f64, f64) {
    let l = layers.to_string();
    let args = ["memory-step", "--model", model, "--layers", &l, "--hidden", "32", "--nodes", "20000"];
    let out = Command::new(env!("CARGO_BIN_EXE_bench")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let growth = v["peak_memory_bytes"].as_f64().unwrap() - v["rss_before_step_bytes"].as_f64().unwrap();
    (growth, v["params"].as_f64().unwrap())
}

#[test]
fn revgnn_memory_grows_only_by_its_parameters_while_resgnn_keeps_every_layer() {
    let (rev7, p7) = step("revgnn", 7);
    let (rev201, p201) = step("revgnn", 201);
    let (res201, _) = step("resgnn", 201);
    // Parameters, their gradients and Adam's two moments: 16 bytes each.
    let params = 16.0 * (p201 - p7);
    eprintln!(
        "step growth: RevGNN 7 layers {:.1} MiB, 201 layers {:.1} MiB ({:.1} MiB of it parameter state); ResGNN 201 \
         layers {:.1} MiB",
        rev7 / 1048576.0,
        rev201 / 1048576.0,
        params / 1048576.0,
        res201 / 1048576.0
    );
    assert!(rev201 <= 1.2 * rev7 + params, "RevGNN grew from {rev7} to {rev201} bytes at 201 layers");
    assert!(res201 > 10.0 * rev201, "ResGNN keeps every layer: {res201} against RevGNN's {rev201}");
}
