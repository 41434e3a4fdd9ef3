//! `bench scale`: data-parallel epoch time against one process, and the all-reduce bandwidth.

use anyhow::Context;
use mille_pipeline::Store;
use mille_train::run::Summary;
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `bench scale`.
#[derive(clap::Args, Debug)]
pub struct ScaleArgs {
    /// The store.
    pub store: PathBuf,
    /// Ranks of the parallel runs.
    #[arg(long, default_value_t = 2)]
    pub nproc: usize,
    /// Epochs per run.
    #[arg(long, default_value_t = 3)]
    pub epochs: u64,
    /// Floats of the all-reduced gradient (RevGNN-1001 on ogbn-products has 4.3M).
    #[arg(long, default_value_t = 4_300_000)]
    pub params: usize,
    /// Also train on a shard set (METIS, one shard per rank, in a temporary folder).
    #[arg(long)]
    pub shards: bool,
    /// Where the runs and shards go (removed afterwards).
    #[arg(long, default_value = "/tmp")]
    pub scratch: PathBuf,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
    /// Settings for tools/train, after `--` (e.g. `-- --layers 28 --hidden 128 --parts 10`).
    #[arg(last = true)]
    pub train_args: Vec<String>,
}

/// Median epoch seconds of one `tools/train` run (its first epoch, which pages the store in and
/// warms the allocator, left out), and its summary.
fn timed_run(train: &Path, source: &[&OsStr], out: &Path, extra: &[String]) -> anyhow::Result<(f64, Summary)> {
    let _ = std::fs::remove_dir_all(out);
    let o = Command::new(train)
        .args(source)
        .arg("--out")
        .arg(out)
        .args(["--threads", "1", "--device", "cpu", "--json"])
        .args(extra)
        .output()
        .with_context(|| format!("running {}", train.display()))?;
    anyhow::ensure!(o.status.success(), "tools/train failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout);
    let summary: Summary = serde_json::from_str(line.lines().last().unwrap_or_default())
        .with_context(|| format!("tools/train printed no summary: {line}"))?;
    let mut secs: Vec<f64> = summary.epoch_seconds.iter().copied().skip(1).collect();
    anyhow::ensure!(!secs.is_empty(), "give --epochs 2 or more (the first epoch is not timed)");
    secs.sort_by(f64::total_cmp);
    let _ = std::fs::remove_dir_all(out);
    Ok((secs[secs.len() / 2], summary))
}

/// `bench scale`.
pub fn run(a: ScaleArgs) -> anyhow::Result<()> {
    let ScaleArgs { store, nproc, epochs, params, shards, scratch, json: as_json, train_args } = a;
    let (store, scratch, train_args) = (store.as_path(), scratch.as_path(), train_args.as_slice());
    anyhow::ensure!(mille_dist::HAS_MPI, "bench scale: {}", mille_dist::HOW_TO_GET_MPI);
    anyhow::ensure!(nproc >= 2, "--nproc must be at least 2 (it is compared with one process)");
    let dir = std::env::current_exe()?.parent().map(Path::to_path_buf).unwrap_or_default();
    let (train, check) = (dir.join("train"), dir.join("dist-check"));
    anyhow::ensure!(
        train.exists() && check.exists(),
        "bench scale runs {} and {}: build them (tools/build, or cargo build --release --workspace --features \
         mille-tools/mpi)",
        train.display(),
        check.display()
    );
    let tmp = scratch.join(format!("mille-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut extra: Vec<String> = vec!["--epochs".into(), epochs.to_string()];
    extra.extend(train_args.iter().cloned());
    let with = |n: usize| {
        let mut e = extra.clone();
        e.extend(["--nproc".into(), n.to_string()]);
        e
    };
    let src = [store.as_os_str()];
    eprintln!("bench scale: 1 process, then {nproc}, {epochs} epochs each, one thread per process");
    let (one, s1) = timed_run(&train, &src, &tmp.join("one"), &with(1))?;
    let (many, sn) = timed_run(&train, &src, &tmp.join("many"), &with(nproc))?;
    let mut after = with(nproc);
    after.push("--no-overlap".into());
    let (unlapped, su) = timed_run(&train, &src, &tmp.join("after"), &after)?;
    let sharded = if shards {
        let s = Store::open(store)?;
        let method = mille_partition::Method::Metis(Default::default());
        let (p, _, _) = mille_partition::cached_or_compute(&s, &method, nproc as u32, 0)?;
        let set = mille_partition::shard(&s, &p, "metis", &tmp.join("shards"), |_| {})?;
        let flag = [OsStr::new("--shards"), set.dir().as_os_str()];
        let (secs, summary) = timed_run(&train, &flag, &tmp.join("sharded"), &with(nproc))?;
        Some((secs, summary, set.manifest().lost_fraction()))
    } else {
        None
    };
    let args = ["--bench".into(), params.to_string().into()];
    let o = mille_dist::launch_command(nproc, &check, &args).output()?;
    anyhow::ensure!(o.status.success(), "dist-check failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let root: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["rank"] == 0)
        .with_context(|| format!("dist-check printed no line of rank 0: {text}"))?;
    let _ = std::fs::remove_dir_all(&tmp);
    let acc = |s: &Summary| s.multi_view.test;
    // Rank 0's peak RSS, the store's mapped pages included: what one machine holds.
    let rss = |s: &Summary| s.peak_memory_bytes;
    let report = json!({
        "one_process_peak_rss_bytes": rss(&s1), "parallel_rank0_peak_rss_bytes": rss(&sn),
        "sharded_rank0_peak_rss_bytes": sharded.as_ref().map(|s| rss(&s.1)),
        "nproc": nproc, "epochs": epochs, "train_args": train_args,
        "one_process_epoch_seconds": one, "parallel_epoch_seconds": many, "speedup": one / many,
        "no_overlap_epoch_seconds": unlapped, "no_overlap_speedup": one / unlapped,
        "one_process_test": acc(&s1), "parallel_test": acc(&sn),
        "sharded_epoch_seconds": sharded.as_ref().map(|s| s.0),
        "sharded_speedup": sharded.as_ref().map(|s| one / s.0),
        "sharded_test": sharded.as_ref().map(|s| acc(&s.1)),
        "sharded_lost_fraction": sharded.as_ref().map(|s| s.2),
        "params": params,
        "all_reduce_seconds": root["all_reduce_seconds"],
        "all_reduce_gb_per_second": root["all_reduce_gb_per_second"],
        "memcpy_gb_per_second": root["memcpy_gb_per_second"],
    });
    if as_json {
        println!("{report}");
        return Ok(());
    }
    let h = |s: &Summary| mille_tools::human_bytes(rss(s));
    println!("{:<34} {:>10} {:>8} {:>8} {:>12}", "training (--threads 1)", "s/epoch", "speedup", "test", "rank 0 RSS");
    println!("{:<34} {:>10.3} {:>8} {:>8.4} {:>12}", "1 process", one, "1.00x", acc(&s1), h(&s1));
    let what = format!("{nproc} ranks (--nproc {nproc})");
    println!("{:<34} {:>10.3} {:>7.2}x {:>8.4} {:>12}", what, many, one / many, acc(&sn), h(&sn));
    let what = format!("{nproc} ranks, --no-overlap");
    println!("{:<34} {:>10.3} {:>7.2}x {:>8} {:>12}", what, unlapped, one / unlapped, "same", h(&su));
    if let Some((secs, s, lost)) = &sharded {
        let what = format!("{nproc} shards ({:.1} % entries lost)", 100.0 * lost);
        println!("{:<34} {:>10.3} {:>7.2}x {:>8.4} {:>12}", what, secs, one / secs, acc(s), h(s));
    }
    let (ar, mc) = (root["all_reduce_gb_per_second"].as_f64(), root["memcpy_gb_per_second"].as_f64());
    println!(
        "all-reduce of {params} floats over {nproc} ranks: {:.2} GB/s ({:.1} ms); memcpy {:.2} GB/s; ratio {:.2}",
        ar.unwrap_or(f64::NAN),
        1e3 * root["all_reduce_seconds"].as_f64().unwrap_or(f64::NAN),
        mc.unwrap_or(f64::NAN),
        ar.unwrap_or(f64::NAN) / mc.unwrap_or(f64::NAN)
    );
    Ok(())
}
