//! `tools/bench`: benchmarks that print a table and, with --json, machine-readable figures.

#[path = "bench/depth.rs"]
mod depth;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mille_pipeline::Store;
use mille_pipeline::ogb::{self, PrepareOptions};
use mille_pipeline::store::zstd::{CompressedStore, compress};
use serde_json::{Value, json};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Benchmarks of mille's parts. Each prints a table, or one JSON object with --json.
#[derive(Parser)]
#[command(name = "bench", version)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Prepare a folder in OGB's raw layout: seconds, MB/s of decompressed input, peak RSS.
    Prepare {
        /// Folder (or zip) in OGB's raw layout.
        #[arg(long)]
        from: PathBuf,
        /// Add inverse edges (as for ogbn-products; synthetic graphs need it).
        #[arg(long)]
        add_inverse_edge: bool,
        /// Where the temporary store goes (removed afterwards).
        #[arg(long, default_value = "/tmp")]
        scratch: PathBuf,
        /// Also prepare without syncing files to the disk, alternating twice each, and print
        /// what durability costs (the ratio of the best times).
        #[arg(long)]
        compare_fsync: bool,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Opening a store: the structure checks of `Store::open` (seconds, GB/s over the arrays
    /// they read), beside `--verify`'s checksum pass over the same arrays, best of `--repeats`.
    Open {
        /// The store.
        store: PathBuf,
        /// Timed opens (after one untimed, which pages the arrays in).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Every partitioner on one store, each in a fresh process: seconds, edge cut, balance,
    /// peak RSS. JSON: a list of objects.
    Partition {
        /// The store.
        store: PathBuf,
        /// Number of parts.
        #[arg(long)]
        parts: u32,
        /// Methods to run, comma-separated: random, fennel, ldg, metis (recursive bisection),
        /// metis-kway.
        #[arg(long, default_value = "random,fennel,ldg,metis,metis-kway")]
        methods: String,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// One JSON list.
        #[arg(long)]
        json: bool,
    },
    /// The loader: batches, nodes, edges and GB of batch data per second over epochs of the
    /// chosen sampler (random clusters by default), peak RSS, and this machine's memcpy
    /// bandwidth measured in the same run.
    Loader {
        /// The store.
        store: PathBuf,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Batches built ahead.
        #[arg(long, default_value_t = 4)]
        prefetch: usize,
        /// Epochs to time (after one warm-up epoch unless --cold).
        #[arg(long, default_value_t = 3)]
        epochs: u64,
        /// Time the first epoch too (for out-of-core runs with a cold page cache).
        #[arg(long)]
        cold: bool,
        /// Batches are the store's relabelled parts one by one (see `tools/partition --relabel`),
        /// read sequentially: `--sampler store-parts` with one part a batch.
        #[arg(long)]
        by_part: bool,
        /// Read features and neighbour lists from an in-memory huge-page copy (`resident`),
        /// through the store's map (`mapped`), or a copy when it fits in a quarter of the
        /// available memory (`auto`).
        #[arg(long, default_value = "auto")]
        residency: mille_loader::Residency,
        /// Take node features from this zstd form of the store (`tools/store compress`),
        /// decoded in the workers.
        #[arg(long, value_name = "DIR")]
        compressed: Option<PathBuf>,
        /// How batches are drawn (GraphSAINT's pre-sampling counts as set-up time).
        #[command(flatten)]
        sampler: mille_tools::sampler::SamplerArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Accuracy (mean and spread over seeds), seconds per epoch and peak memory against depth,
    /// for each model and convolution: one `tools/train` run per point and seed, in a fresh
    /// process; settings after `--` go to every run
    Depth(depth::DepthArgs),
    /// Peak memory of one training step against depth, each (model, depth) in a fresh process
    /// (peak RSS = VmHWM): ResGNN grows with depth, the reversible models should not.
    MemoryDepth {
        /// Depths, comma-separated.
        #[arg(long, default_value = "7,28,112,448,1001")]
        layers: String,
        /// Hidden channels.
        #[arg(long, default_value_t = 64)]
        hidden: i64,
        /// Nodes of the random graph (one batch).
        #[arg(long, default_value_t = 50_000)]
        nodes: usize,
        /// Models, comma-separated (revgat: --layers counts its input and output GAT layers,
        /// --hidden must split into 3 heads x 2 groups).
        #[arg(long, default_value = "resgnn,revgnn,wt-revgnn,deq")]
        models: String,
        /// Write a PNG plot of peak memory against depth here.
        #[arg(long, value_name = "PNG")]
        plot: Option<PathBuf>,
        /// Take the rows from this earlier `--json` output instead of measuring (to re-plot).
        #[arg(long, value_name = "JSON")]
        from_json: Option<PathBuf>,
        /// Skip ResGNN above this depth (its memory grows linearly).
        #[arg(long, default_value_t = 112)]
        max_resgnn_layers: usize,
        /// The blocks' convolution (tools/train --conv; gcnii reads the input layer's output in
        /// every block).
        #[arg(long, default_value = "sage")]
        conv: String,
        /// Reversible models' dropout mask (tools/train --dropout-mask).
        #[arg(long, default_value = "per-group")]
        dropout_mask: String,
        /// cpu (peak RSS) or cuda:N (the caching allocator's peak allocated GPU memory, reset
        /// before the step: the paper's axis).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// One JSON list.
        #[arg(long)]
        json: bool,
    },
    /// Batches onto the GPU: the trainer's feed (pinned copy, side-stream upload, next batch
    /// queued while the current one is handed over) against a plain pinned host-to-device copy
    /// of the same bytes, GB/s, in the same run. Needs a GPU.
    Upload {
        /// The store.
        store: PathBuf,
        /// Random parts (= batches) per epoch.
        #[arg(long, default_value_t = 10)]
        parts: u32,
        /// The GPU.
        #[arg(long, default_value = "cuda:0")]
        device: String,
        /// Epochs to time, after one warm-up.
        #[arg(long, default_value_t = 2)]
        epochs: u64,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The GEN/GAT aggregations over CSR rows (segment_reduce, deterministic) against the
    /// index_add ones, forward + backward and forward alone, in the same run, on one random batch.
    Aggregate {
        /// Nodes of the random graph.
        #[arg(long, default_value_t = 100_000)]
        nodes: usize,
        /// Random in-neighbours per node (plus a self loop).
        #[arg(long, default_value_t = 10)]
        degree: usize,
        /// Channels of the aggregated messages (GAT's scores have 4).
        #[arg(long, default_value_t = 64)]
        dim: i64,
        /// Timed repeats per operation (best taken), after one warm-up.
        #[arg(long, default_value_t = 7)]
        repeats: usize,
        /// One JSON list.
        #[arg(long)]
        json: bool,
    },
    /// Data-parallel scaling: the median epoch seconds (first epoch left out) of
    /// `tools/train --nproc N --threads 1` (and with `--no-overlap`) against `--nproc 1
    /// --threads 1`, same store and settings, one after the other; with --shards also of a run on a METIS shard set of the
    /// store (--parts then counts per shard); and the all-reduce bandwidth of a --params-float
    /// gradient over N ranks beside memcpy in the same processes (mille-dist's `dist-check`).
    /// Needs a build with MPI.
    Scale {
        /// The store.
        store: PathBuf,
        /// Ranks of the parallel runs.
        #[arg(long, default_value_t = 2)]
        nproc: usize,
        /// Epochs per run.
        #[arg(long, default_value_t = 3)]
        epochs: u64,
        /// Floats of the all-reduced gradient (RevGNN-1001 on ogbn-products has 4.3M).
        #[arg(long, default_value_t = 4_300_000)]
        params: usize,
        /// Also train on a shard set (METIS, one shard per rank, in a temporary folder).
        #[arg(long)]
        shards: bool,
        /// Where the runs and shards go (removed afterwards).
        #[arg(long, default_value = "/tmp")]
        scratch: PathBuf,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        /// Settings for tools/train, after `--` (e.g. `-- --layers 28 --hidden 128 --parts 10`).
        #[arg(last = true)]
        train_args: Vec<String>,
    },
    /// One training step of one model (run by memory-depth in a fresh process).
    #[command(hide = true)]
    MemoryStep {
        #[arg(long)]
        model: String,
        #[arg(long)]
        layers: usize,
        #[arg(long)]
        hidden: i64,
        #[arg(long)]
        nodes: usize,
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, default_value = "sage")]
        conv: String,
        #[arg(long, default_value = "per-group")]
        dropout_mask: String,
    },
    /// The zstd-compressed store form: ratio, compression and decode speed.
    Zstd {
        /// The store.
        store: PathBuf,
        /// zstd level.
        #[arg(long, default_value_t = 3)]
        level: i32,
        /// Where the temporary compressed copy goes (removed afterwards).
        #[arg(long, default_value = "/tmp")]
        scratch: PathBuf,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
}

mille_tools::use_jemalloc!();

fn main() {
    mille_tools::run(|| match Args::parse().cmd {
        Cmd::Prepare { from, add_inverse_edge, scratch, compare_fsync, json } => {
            bench_prepare(from, add_inverse_edge, scratch, compare_fsync, json)
        }
        Cmd::Open { store, repeats, json } => bench_open(store, repeats, json),
        Cmd::Depth(a) => depth::run(a),
        Cmd::Zstd { store, level, scratch, json } => bench_zstd(store, level, scratch, json),
        Cmd::Partition { store, parts, methods, seed, json } => bench_partition(store, parts, &methods, seed, json),
        Cmd::MemoryDepth {
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
        } => {
            let depth = DepthArgs { hidden, nodes, max_res: max_resgnn_layers, device, conv, dropout_mask };
            bench_memory_depth(&layers, &models, &depth, plot, from_json, json)
        }
        Cmd::MemoryStep { model, layers, hidden, nodes, device, conv, dropout_mask } => {
            let depth = DepthArgs { hidden, nodes, max_res: 0, device, conv, dropout_mask };
            memory_step(&model, layers, &depth)
        }
        Cmd::Aggregate { nodes, degree, dim, repeats, json } => bench_aggregate(nodes, degree, dim, repeats, json),
        Cmd::Upload { store, parts, device, epochs, json } => bench_upload(store, parts, &device, epochs, json),
        Cmd::Scale { store, nproc, epochs, params, shards, scratch, json, train_args } => {
            bench_scale(&store, nproc, epochs, params, shards, &scratch, &train_args, json)
        }
        Cmd::Loader { store, workers, prefetch, epochs, cold, by_part, residency, compressed, sampler, json } => {
            let run = LoaderRun { workers, prefetch, epochs, cold, residency, compressed };
            bench_loader(store, &run, by_part, sampler.setting()?, json)
        }
    })
}

fn bench_prepare(
    from: PathBuf,
    inverse: bool,
    scratch: PathBuf,
    compare_fsync: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    let target = scratch.join(format!("mille-bench-prepare-{}", std::process::id()));
    let run = |durable: bool| -> anyhow::Result<(ogb::PrepareReport, u64)> {
        let opts = PrepareOptions {
            overwrite: true,
            progress: mille_tools::progress::Bars::reporter(mille_tools::interactive()),
            source: from.display().to_string(),
            durable,
            ..PrepareOptions::new("bench", inverse)
        };
        let r = ogb::prepare_dir(&from, &target, &opts).with_context(|| format!("preparing {}", from.display()))?;
        let out_bytes: u64 = Store::open(&target)?.meta().arrays.values().map(|a| a.bytes()).sum();
        let _ = std::fs::remove_dir_all(&target);
        Ok((r, out_bytes))
    };
    let rss0 = mille_tools::rss_bytes();
    let (mut synced, mut unsynced) = (Vec::new(), Vec::new());
    // With --compare-fsync: unsynced and synced alternately, twice each; the last synced run
    // is the one reported.
    let rounds = if compare_fsync { 2 } else { 1 };
    let mut last = None;
    for _ in 0..rounds {
        if compare_fsync {
            unsynced.push(run(false)?.0.seconds);
        }
        let (r, bytes) = run(true)?;
        synced.push(r.seconds);
        last = Some((r, bytes));
    }
    let (r, out_bytes) = last.expect("at least one round");
    print_prepare(&from, &r, out_bytes, rss0, &synced, &unsynced, as_json)
}

fn print_prepare(
    from: &std::path::Path,
    r: &ogb::PrepareReport,
    out_bytes: u64,
    rss0: u64,
    synced: &[f64],
    unsynced: &[f64],
    as_json: bool,
) -> anyhow::Result<()> {
    let peak = mille_tools::peak_rss_bytes();
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let seconds = best(synced);
    let mbps = r.input_bytes as f64 / 1e6 / seconds;
    let fsync = (!unsynced.is_empty()).then(|| best(synced) / best(unsynced));
    let v = json!({
        "bench": "prepare", "from": from, "seconds": seconds, "input_bytes": r.input_bytes,
        "mb_per_second": mbps, "peak_rss_bytes": peak, "rss_before_bytes": rss0,
        "store_bytes": out_bytes, "nodes": r.nodes, "edges": r.edges,
        "threads": rayon_threads(), "seconds_synced": synced, "seconds_unsynced": unsynced,
        "fsync_ratio": fsync,
    });
    if as_json {
        println!("{v}");
    } else {
        println!("prepare {}", from.display());
        println!("  nodes {} / CSR entries {}", r.nodes, r.edges);
        println!("  seconds            {seconds:.2}");
        println!("  decompressed input {} ({:.0} MB/s)", mille_tools::human_bytes(r.input_bytes), mbps);
        println!("  store              {}", mille_tools::human_bytes(out_bytes));
        println!("  peak RSS           {}", mille_tools::human_bytes(peak));
        if let Some(f) = fsync {
            println!("  synced   {synced:.2?} s");
            println!("  unsynced {unsynced:.2?} s");
            println!("  durability costs   {:.3}x (best synced / best unsynced)", f);
        }
    }
    Ok(())
}

fn bench_open(store: PathBuf, repeats: usize, as_json: bool) -> anyhow::Result<()> {
    let s = Store::open(&store)?;
    let checked: Vec<String> = s
        .meta()
        .arrays
        .keys()
        .filter(|n| matches!(n.as_str(), "indptr" | "indices" | "edge_ids" | "labels") || n.starts_with("split/"))
        .cloned()
        .collect();
    let bytes: u64 = checked.iter().map(|n| s.meta().arrays[n].bytes()).sum();
    let best = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            f()?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    };
    let open = best(&|| Store::open(&store).map(drop).map_err(Into::into))?;
    let verify = best(&|| {
        for n in &checked {
            std::hint::black_box(mille_pipeline::store::checksum_file(&s.path().join(&s.meta().arrays[n].file))?);
        }
        Ok(())
    })?;
    // What the loader pays per batch so that a file truncated under its map is an error, not
    // SIGBUS: one stat per array.
    let t = Instant::now();
    for _ in 0..1000 {
        s.check_unchanged()?;
    }
    let unchanged = t.elapsed().as_secs_f64() / 1000.0;
    let gb = bytes as f64 / 1e9;
    let v = json!({
        "bench": "open", "store": store, "checked_bytes": bytes, "open_seconds": open,
        "check_unchanged_seconds": unchanged, "arrays": s.meta().arrays.len(),
        "open_seconds_per_gb": open / gb, "checksum_seconds": verify, "ratio_to_checksum": open / verify,
        "threads": rayon_threads(),
    });
    if as_json {
        println!("{v}");
    } else {
        println!("open {} ({} of CSR, ids and labels checked)", store.display(), mille_tools::human_bytes(bytes));
        println!("  Store::open            {open:.4} s ({:.3} s per GB)", open / gb);
        println!("  xxh3 of the same bytes {verify:.4} s (what --verify does)");
        println!("  ratio                  {:.3}", open / verify);
        println!(
            "  per-batch size check   {:.1} us ({} arrays, one stat each)",
            unchanged * 1e6,
            s.meta().arrays.len()
        );
    }
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn bench_zstd(store: PathBuf, level: i32, scratch: PathBuf, as_json: bool) -> anyhow::Result<()> {
    let s = Store::open(&store)?;
    let out = scratch.join(format!("mille-bench-zstd-{}", std::process::id()));
    let t = Instant::now();
    let st = compress(&s, &out, level, 1 << 20)?;
    let compress_s = t.elapsed().as_secs_f64();
    let c = CompressedStore::open(&out)?;
    // Single-thread decode of every array, row range by row range, as a loader worker would.
    let t = Instant::now();
    let mut decoded = 0u64;
    for (name, a) in &c.meta().arrays {
        let rows = a.shape[0];
        let step = (rows / 64).max(1);
        let mut lo = 0;
        while lo < rows {
            let hi = (lo + step).min(rows);
            decoded += c.read_rows(name, lo..hi)?.len() as u64;
            lo = hi;
        }
    }
    let decode_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out);
    let v = json!({
        "bench": "zstd", "store": store, "level": level,
        "raw_bytes": st.raw_bytes, "compressed_bytes": st.compressed_bytes, "ratio": st.ratio(),
        "compress_seconds": compress_s, "compress_mb_per_second": st.raw_bytes as f64 / 1e6 / compress_s,
        "decode_seconds_one_thread": decode_s, "decode_mb_per_second_one_thread": decoded as f64 / 1e6 / decode_s,
    });
    if as_json {
        println!("{v}");
    } else {
        println!("zstd level {level} on {}", store.display());
        println!(
            "  {} -> {}  ratio {:.2}",
            mille_tools::human_bytes(st.raw_bytes),
            mille_tools::human_bytes(st.compressed_bytes),
            st.ratio()
        );
        println!("  compress {:.2} s ({:.0} MB/s, all cores)", compress_s, st.raw_bytes as f64 / 1e6 / compress_s);
        println!("  decode   {:.2} s ({:.0} MB/s, one thread)", decode_s, decoded as f64 / 1e6 / decode_s);
    }
    Ok(())
}

/// Runs `exe args` in a fresh process (so its peak RSS is its own) and parses the JSON object it
/// prints.
fn run_json(exe: &std::path::Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out =
        std::process::Command::new(exe).args(args).output().with_context(|| format!("running {}", exe.display()))?;
    if !out.status.success() {
        anyhow::bail!("{} {} failed: {}", exe.display(), args.join(" "), String::from_utf8_lossy(&out.stderr));
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("JSON from {} {}", exe.display(), args.join(" ")))
}

/// A sibling program of this one (they are built into the same folder).
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me.with_file_name(name))
}

fn bench_partition(store: PathBuf, parts: u32, methods: &str, seed: u64, as_json: bool) -> anyhow::Result<()> {
    let exe = sibling("partition")?;
    let mut rows = Vec::new();
    for m in methods.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        if !as_json {
            eprintln!("running {m} ...");
        }
        let store = store.to_string_lossy();
        let (parts, seed) = (parts.to_string(), seed.to_string());
        let mut args = vec![&*store, "--parts", &parts, "--seed", &seed, "--no-cache", "--json"];
        match m {
            "metis-kway" => args.extend(["--method", "metis", "--scheme", "kway"]),
            "metis" => args.extend(["--method", "metis", "--scheme", "recursive"]),
            other => args.extend(["--method", other]),
        }
        let mut row = run_json(&exe, &args)?;
        row["method"] = serde_json::Value::from(m);
        rows.push(row);
    }
    if as_json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!("{:<10} {:>9} {:>10} {:>8} {:>11}", "method", "seconds", "edge cut", "balance", "peak RSS");
        for r in &rows {
            println!(
                "{:<10} {:>9.2} {:>10.4} {:>8.3} {:>11}",
                r["method"].as_str().unwrap_or(""),
                r["seconds"].as_f64().unwrap_or(0.0),
                r["edge_cut_fraction"].as_f64().unwrap_or(0.0),
                r["balance"].as_f64().unwrap_or(0.0),
                mille_tools::human_bytes(r["peak_rss_bytes"].as_u64().unwrap_or(0))
            );
        }
    }
    Ok(())
}

/// Single-thread memcpy bandwidth over 256 MiB buffers, best of 5, in GB/s.
fn memcpy_gb_per_second() -> f64 {
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

/// One thread gathering random feature rows of `store` (the access a sampler's feature gather
/// makes), GB/s of rows copied: the yardstick of a sampled loader's GB/s when no peer runs.
fn random_gather_gb_per_second(store: &Store) -> Option<f64> {
    use rand::{Rng, SeedableRng};
    let f = store.features()?;
    let rows = 200_000.min(f.rows * 4);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let picks: Vec<usize> = (0..rows).map(|_| rng.random_range(0..f.rows)).collect();
    let mut out: Vec<f32> = Vec::with_capacity(rows * f.cols);
    let mut best = f64::MAX;
    for _ in 0..3 {
        out.clear();
        let t = Instant::now();
        for &r in &picks {
            out.extend_from_slice(f.row(r));
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&out);
    Some((rows * f.cols * 4) as f64 / 1e9 / best)
}

/// How `bench loader` runs its loader, beside the sampler.
struct LoaderRun {
    workers: usize,
    prefetch: usize,
    epochs: u64,
    cold: bool,
    residency: mille_loader::Residency,
    compressed: Option<PathBuf>,
}

fn bench_loader(
    store: PathBuf,
    run: &LoaderRun,
    by_part: bool,
    setting: mille_loader::SamplerSetting,
    as_json: bool,
) -> anyhow::Result<()> {
    use mille_loader::{Loader, LoaderConfig, SamplerSetting};
    let LoaderRun { workers, prefetch, epochs, cold, residency, ref compressed } = *run;
    anyhow::ensure!(workers >= 1, "--workers must be at least 1");
    anyhow::ensure!(epochs >= 1, "--epochs must be at least 1");
    let s = std::sync::Arc::new(Store::open(&store)?);
    let setting = if by_part {
        // The relabelled store's parts (contiguous rows) one to a batch: each batch reads one
        // sequential range of the feature file.
        let k = mille_partition::stored_parts(&s)?.context("--by-part needs a relabelled store")?.k();
        SamplerSetting::StoreParts { parts: k }
    } else {
        setting
    };
    // The name earlier JSON carried for GraphSAINT's random walks.
    let sampler = match setting.kind() {
        "saint-walk" => "saint",
        kind => kind,
    };
    let parts = match setting {
        SamplerSetting::Cluster { parts }
        | SamplerSetting::Metis { parts, .. }
        | SamplerSetting::StoreParts { parts } => Some(parts),
        _ => None,
    };
    let neighbors = matches!(setting, SamplerSetting::Neighbor { .. });
    let sampled = neighbors || setting.is_saint();
    let plan = setting.resolve(&s, 0)?;
    let cfg = LoaderConfig {
        plan,
        workers,
        prefetch,
        compressed_features: compressed.clone(),
        residency,
        ..Default::default()
    };
    let t = Instant::now();
    let loader = Loader::new(s.clone(), cfg)?;
    let setup = t.elapsed().as_secs_f64();
    // Per epoch: batches, nodes, edges, bytes, seeds.
    let run = |e: u64| -> anyhow::Result<[u64; 5]> {
        let mut epoch = loader.epoch(e);
        let mut t = [0u64; 5];
        while let Some(batch) = epoch.next() {
            let batch = batch?;
            t[0] += 1;
            t[1] += batch.num_nodes() as u64;
            t[2] += batch.num_edges() as u64;
            t[3] += batch.bytes() as u64;
            t[4] += batch.num_seeds() as u64;
            epoch.recycle(batch); // as a training loop would: buffers go back to the workers
        }
        Ok(t)
    };
    if !cold {
        run(u64::MAX)?;
    }
    let t = Instant::now();
    let mut total = [0u64; 5];
    for e in 0..epochs {
        for (sum, x) in total.iter_mut().zip(run(e)?) {
            *sum += x;
        }
    }
    let [b, n, m, bytes, seeds] = total;
    let secs = t.elapsed().as_secs_f64();
    let gbps = bytes as f64 / 1e9 / secs;
    let peak = mille_tools::peak_rss_bytes(); // before the memcpy buffers below
    let memcpy = memcpy_gb_per_second();
    let gather = if sampled { random_gather_gb_per_second(&s) } else { None };
    let v = json!({
        "bench": "loader", "store": store, "sampling": setting.to_string(), "parts": parts, "workers": workers, "prefetch": prefetch,
        "epochs": epochs, "cold": cold, "by_part": by_part, "compressed": compressed, "seconds": secs,
        "resident": loader.is_resident(), "setup_seconds": setup,
        "batches_per_second": b as f64 / secs, "nodes_per_second": n as f64 / secs,
        "edges_per_second": m as f64 / secs, "gb_per_second": gbps,
        "memcpy_gb_per_second": memcpy, "memcpy_fraction": gbps / memcpy,
        "bytes_per_batch": bytes / b.max(1), "peak_rss_bytes": peak,
        "sampler": sampler, "seeds_per_second": seeds as f64 / secs,
        "random_gather_gb_per_second": gather,
    });
    if as_json {
        println!("{v}");
    } else {
        println!("loader on {} ({setting}, {workers} workers, prefetch {prefetch})", store.display());
        let source = if loader.is_resident() { "an in-memory huge-page copy" } else { "the memory map" };
        println!("  reads       {source} (set up in {setup:.2} s)");
        println!("  batches/s   {:.2}", b as f64 / secs);
        if neighbors {
            println!("  seeds/s     {:.3e}", seeds as f64 / secs);
        }
        println!("  nodes/s     {:.3e}", n as f64 / secs);
        println!("  edges/s     {:.3e}{}", m as f64 / secs, if neighbors { " (sampled)" } else { "" });
        println!("  GB/s        {gbps:.2} of batch data ({:.0} % of memcpy's {memcpy:.2} GB/s)", 100.0 * gbps / memcpy);
        if let Some(g) = gather {
            println!("  gather      {g:.2} GB/s: one thread copying random feature rows (a sampler's feature access)");
        }
        println!("  peak RSS    {}", mille_tools::human_bytes(peak));
    }
    Ok(())
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

/// A random graph of `nodes` nodes as one batch: `degree` random in-neighbours and a self loop
/// each, `dim` features in [-0.5, 0.5), `classes` labels, every node in every mask.
fn random_batch(
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

/// Best seconds of `repeats` runs of `f` after one warm-up.
fn best_of(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn bench_aggregate(nodes: usize, degree: usize, dim: i64, repeats: usize, as_json: bool) -> anyhow::Result<()> {
    use mille_train::conv::{Conv, ConvKind};
    use mille_train::graph::{Adjacency, RowReduce};
    use mille_train::tch::{Device, Kind, Tensor, nn};
    let g = random_batch(nodes, degree, 1, 2, Device::Cpu);
    let paths = [
        ("segment", g.adj.to_kind(Kind::Float).with_reduce(RowReduce::Segment)),
        ("index_add", g.adj.to_kind(Kind::Float).with_reduce(RowReduce::IndexAdd)),
        ("auto", g.adj.to_kind(Kind::Float)),
    ];
    let e = g.adj.num_entries();
    mille_train::tch::manual_seed(0);
    let values = Tensor::randn([e, dim], (Kind::Float, Device::Cpu));
    let heads = Tensor::randn([e, 4], (Kind::Float, Device::Cpu));
    let h = Tensor::randn([nodes as i64, dim], (Kind::Float, Device::Cpu));
    type Op<'a> = (String, &'a Tensor, Box<dyn Fn(&Adjacency, &Tensor) -> Tensor + 'a>);
    let mut ops: Vec<Op> = vec![
        ("sum (GEN sum/mean)".into(), &values, Box::new(|a, v| a.sum_rows(v))),
        ("max (GEN max)".into(), &values, Box::new(|a, v| a.max_rows(v))),
        ("softmax-weighted sum (GEN)".into(), &values, Box::new(|a, v| a.sum_rows(&(a.softmax(v) * v)))),
        ("softmax, 4 heads (GAT)".into(), &heads, Box::new(|a, v| a.softmax(v))),
    ];
    // Whole convolutions over node features [n, dim], as a training step runs them.
    let vs = nn::VarStore::new(Device::Cpu);
    for k in ["gen:softmax", "gen:max", "gen:sum", "gat:4"] {
        let conv = Conv::new(&(vs.root() / k), k.parse::<ConvKind>().expect("a conv"), dim, 0);
        ops.push((format!("{k} conv"), &h, Box::new(move |a, x| conv.forward(a, x))));
    }
    let mut rows = Vec::new();
    for (name, x, f) in &ops {
        let mut row = json!({"op": name, "width": x.size()[1]});
        for (path, adj) in &paths {
            let both = best_of(repeats, || {
                let x = x.detach().set_requires_grad(true);
                f(adj, &x).sum(Kind::Float).backward();
            });
            let fwd = best_of(repeats, || drop(mille_train::tch::no_grad(|| f(adj, x))));
            row[format!("{path}_seconds")] = json!(both);
            row[format!("{path}_forward_seconds")] = json!(fwd);
        }
        for (key, a, b) in [
            ("segment_over_index_add", "segment_seconds", "index_add_seconds"),
            ("segment_over_index_add_forward", "segment_forward_seconds", "index_add_forward_seconds"),
            ("auto_over_index_add", "auto_seconds", "index_add_seconds"),
            ("auto_over_index_add_forward", "auto_forward_seconds", "index_add_forward_seconds"),
        ] {
            let ratio = row[a].as_f64().unwrap_or(0.0) / row[b].as_f64().unwrap_or(1.0);
            row[key] = json!(ratio);
        }
        rows.push(row);
    }
    if as_json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!("aggregations, {nodes} nodes, {e} entries, {dim} channels, best of {repeats}; time ratios");
        println!("(index_add = the CPU path before; auto = what the CPU runs now; forward+backward / forward)");
        println!("{:<28} {:>14} {:>18} {:>18}", "op", "index_add (s)", "segment/index_add", "auto/index_add");
        for r in &rows {
            let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
            println!(
                "{:<28} {:>14.4} {:>9.3} / {:<6.3} {:>9.3} / {:<6.3}",
                r["op"].as_str().unwrap_or(""),
                f("index_add_seconds"),
                f("segment_over_index_add"),
                f("segment_over_index_add_forward"),
                f("auto_over_index_add"),
                f("auto_over_index_add_forward")
            );
        }
    }
    Ok(())
}

fn bench_upload(store: PathBuf, parts: u32, device: &str, epochs: u64, as_json: bool) -> anyhow::Result<()> {
    use mille_loader::{Loader, LoaderConfig, PlanSpec};
    use mille_train::device as dev;
    use mille_train::feed::Feed;
    use mille_train::graph::FeatureNorm;
    use mille_train::tch::{Device, Kind, Tensor};
    let d = dev::resolve(device)?;
    anyhow::ensure!(
        d.is_cuda(),
        "bench upload measures host-to-GPU copies: give --device cuda:N ({})",
        dev::cuda_status()
    );
    let s = std::sync::Arc::new(Store::open(&store)?);
    let cfg =
        LoaderConfig { plan: PlanSpec::RandomParts { parts }, workers: 2, self_loops: true, ..Default::default() };
    let loader = Loader::new(s, cfg)?;
    let feed_epoch = |e: u64| -> anyhow::Result<(usize, usize, f64)> {
        let t = Instant::now();
        let mut feed = Feed::new(loader.epoch(e), d, FeatureNorm::None)?;
        let mut n = 0;
        while let Some(fed) = feed.next_batch() {
            let fed = fed?;
            n += 1;
            feed.recycle(fed.batch);
        }
        dev::synchronize(d);
        Ok((feed.bytes(), n, t.elapsed().as_secs_f64()))
    };
    feed_epoch(u64::MAX)?;
    let (mut bytes, mut batches, mut secs) = (0usize, 0usize, 0.0);
    for e in 0..epochs {
        let (b, n, t) = feed_epoch(e)?;
        (bytes, batches, secs) = (bytes + b, batches + n, secs + t);
    }
    let per = bytes / batches.max(1);
    // The same bytes as one pinned buffer per batch, copied and waited for: the bus's own speed.
    let host = Tensor::zeros([per as i64], (Kind::Uint8, Device::Cpu)).pin_memory(d);
    let _ = host.to_device(d);
    dev::synchronize(d);
    let t = Instant::now();
    for _ in 0..batches {
        let _ = host.to_device_(d, Kind::Uint8, true, false);
    }
    dev::synchronize(d);
    let plain = t.elapsed().as_secs_f64();
    let (feed_gbps, plain_gbps) = (bytes as f64 / 1e9 / secs, bytes as f64 / 1e9 / plain);
    let v = json!({
        "bench": "upload", "store": store, "parts": parts, "device": dev::describe(d), "batches": batches,
        "bytes_per_batch": per, "feed_gb_per_second": feed_gbps, "pinned_copy_gb_per_second": plain_gbps,
        "ratio": feed_gbps / plain_gbps,
    });
    if as_json {
        println!("{v}");
    } else {
        println!("upload to {} ({batches} batches of {})", dev::describe(d), mille_tools::human_bytes(per as u64));
        println!("  feed (loader + pinned copy + side stream)  {feed_gbps:.2} GB/s");
        println!("  plain pinned host-to-device copy           {plain_gbps:.2} GB/s");
        println!("  ratio                                      {:.3}", feed_gbps / plain_gbps);
    }
    Ok(())
}

/// Median epoch seconds of one `tools/train` run (its first epoch, which pages the store in and
/// warms the allocator, left out), and its summary.
fn timed_run(train: &Path, source: &[&OsStr], out: &Path, extra: &[String]) -> anyhow::Result<(f64, Value)> {
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
    let summary: Value = serde_json::from_str(line.lines().last().unwrap_or_default())
        .with_context(|| format!("tools/train printed no summary: {line}"))?;
    let mut secs: Vec<f64> =
        summary["epoch_seconds"].as_array().into_iter().flatten().filter_map(Value::as_f64).skip(1).collect();
    anyhow::ensure!(!secs.is_empty(), "give --epochs 2 or more (the first epoch is not timed)");
    secs.sort_by(f64::total_cmp);
    let _ = std::fs::remove_dir_all(out);
    Ok((secs[secs.len() / 2], summary))
}

#[allow(clippy::too_many_arguments)]
fn bench_scale(
    store: &Path,
    nproc: usize,
    epochs: u64,
    params: usize,
    shards: bool,
    scratch: &Path,
    train_args: &[String],
    as_json: bool,
) -> anyhow::Result<()> {
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
    let acc = |s: &Value| s["multi_view"]["test"].as_f64().unwrap_or(f64::NAN);
    // Rank 0's peak RSS, the store's mapped pages included: what one machine holds.
    let rss = |s: &Value| s["peak_memory_bytes"].as_u64().unwrap_or(0);
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
    let h = |s: &Value| mille_tools::human_bytes(rss(s));
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
