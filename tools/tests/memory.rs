//! Memory against depth, as `tools/bench memory-depth` measures it (one training step on a fixed
//! random batch, each point a fresh process): RevGNN's step grows by its parameters alone,
//! ResGNN's by every layer's activations.

use std::process::Command;

/// Bytes a step added to the process's peak RSS, and the model's parameters.
fn step(model: &str, layers: usize) -> (f64, f64) {
    step_with(model, layers, &["--hidden", "32"])
}

/// [`step`] with more `memory-step` flags.
fn step_with(model: &str, layers: usize, more: &[&str]) -> (f64, f64) {
    let l = layers.to_string();
    let args = ["memory-step", "--model", model, "--layers", &l, "--nodes", "20000"];
    let out = Command::new(env!("CARGO_BIN_EXE_bench")).args(args).args(more).output().unwrap();
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

#[test]
fn reversible_gcnii_keeps_its_memory_flat_from_8_to_64_layers_while_resgnn_grows() {
    // The GCNII block reads h0 in every block and its backward accumulates h0's gradient: one
    // more [N, H] tensor, whatever the depth. Every block its own (rolled) dropout mask adds
    // only a temporary per block.
    let gcnii = ["--hidden", "64", "--conv", "gcnii", "--dropout-mask", "per-block"];
    let (rev8, p8) = step_with("revgnn", 8, &gcnii);
    let (rev64, p64) = step_with("revgnn", 64, &gcnii);
    let (res8, _) = step_with("resgnn", 8, &gcnii);
    let (res64, _) = step_with("resgnn", 64, &gcnii);
    let params = 16.0 * (p64 - p8);
    let mib = |b: f64| b / 1048576.0;
    eprintln!(
        "GCNII step growth, 8 -> 64 layers: RevGNN {:.1} -> {:.1} MiB ({:.1} MiB of it parameter state), ResGNN \
         {:.1} -> {:.1} MiB",
        mib(rev8),
        mib(rev64),
        mib(params),
        mib(res8),
        mib(res64)
    );
    assert!(rev64 <= 1.15 * rev8 + params, "RevGNN-GCNII grew from {rev8} to {rev64} bytes at 64 layers");
    assert!(res64 > 4.0 * res8, "ResGNN-GCNII keeps every layer: {res8} -> {res64} bytes");
}

#[test]
fn revgat_keeps_its_memory_flat_from_5_to_50_layers() {
    // BatchNorm, the authors' GAT with edge drop (0.3: one permutation per pass, one shift per
    // block) and the per-group dropout mask: what a step holds does not grow with the blocks.
    let (l5, p5) = step_with("revgat", 5, &["--hidden", "96"]);
    let (l50, p50) = step_with("revgat", 50, &["--hidden", "96"]);
    let params = 16.0 * (p50 - p5);
    eprintln!(
        "RevGAT step growth, 5 -> 50 layers: {:.1} -> {:.1} MiB ({:.1} MiB of it parameter state)",
        l5 / 1048576.0,
        l50 / 1048576.0,
        params / 1048576.0
    );
    assert!(l50 <= 1.2 * l5 + params, "RevGAT grew from {l5} to {l50} bytes at 50 layers");
}
