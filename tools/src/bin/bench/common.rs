//! Helpers more than one benchmark uses.

use anyhow::Context;
use std::path::PathBuf;
use std::time::Instant;

/// Runs `exe args` in a fresh process (so its peak RSS is its own) and parses the JSON object it
/// prints.
pub(crate) fn run_json(exe: &std::path::Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out =
        std::process::Command::new(exe).args(args).output().with_context(|| format!("running {}", exe.display()))?;
    if !out.status.success() {
        anyhow::bail!("{} {} failed: {}", exe.display(), args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("JSON from {} {}", exe.display(), args.join(" ")))
}

/// A sibling program of this one (they are built into the same folder).
pub(crate) fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me.with_file_name(name))
}

/// A random graph of `nodes` nodes as one batch: `degree` random in-neighbours and a self loop
/// each, `dim` features in [-0.5, 0.5), `classes` labels, every node in every mask.
pub(crate) fn random_batch(
    nodes: usize,
    degree: usize,
    dim: usize,
    classes: i64,
    device: mille_train::tch::Device,
) -> mille_train::graph::GraphTensors {
    let mut r = mille_pipeline::seed::GOLDEN;
    let mut next = || {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        r
    };
    let mut indptr = vec![0u64];
    let mut indices = Vec::with_capacity(nodes * (degree + 1));
    for v in 0..nodes {
        let mut row: Vec<u32> = (0..degree).map(|_| (next() % nodes as u64) as u32).chain([v as u32]).collect();
        row.sort_unstable();
        row.dedup();
        indices.extend_from_slice(&row);
        indptr.push(indices.len() as u64);
    }
    let feats: Vec<f32> = (0..nodes * dim).map(|_| (next() % 1000) as f32 / 1000.0 - 0.5).collect();
    let labels: Vec<i32> = (0..nodes).map(|_| (next() % classes as u64) as i32).collect();
    let all = vec![true; nodes];
    mille_train::graph::HostBatch::from_parts(&indptr, &indices, &feats, dim, Some(&labels), [&all, &all, &all], None)
        .to_device(device)
}

/// Single-thread memcpy bandwidth over 256 MiB buffers, best of 5, in GB/s.
pub(crate) fn memcpy_gb_per_second() -> f64 {
    let n = 256 << 20;
    let src = vec![1u8; n];
    let mut dst = vec![0u8; n];
    dst.copy_from_slice(&src); // fault the pages in first
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        dst.copy_from_slice(std::hint::black_box(&src));
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&dst);
    n as f64 / 1e9 / best
}

/// Best seconds of `repeats` runs of `f` after one warm-up.
pub(crate) fn best_of(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}
