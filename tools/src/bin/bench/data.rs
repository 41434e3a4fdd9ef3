//! `bench prepare`, `open`, `zstd`, `partition`: the data path's programs, timed.

use super::common::{run_json, sibling};
use anyhow::Context;
use mille_pipeline::Store;
use mille_pipeline::ogb::{self, PrepareOptions};
use mille_pipeline::store::zstd::{CompressedStore, compress};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// `bench prepare`.
#[derive(clap::Args, Debug)]
pub struct PrepareArgs {
    /// Folder (or zip) in OGB's raw layout.
    #[arg(long)]
    pub from: PathBuf,
    /// Add inverse edges (as for ogbn-products; synthetic graphs need it).
    #[arg(long)]
    pub add_inverse_edge: bool,
    /// Where the temporary store goes (removed afterwards).
    #[arg(long, default_value = "/tmp")]
    pub scratch: PathBuf,
    /// Also prepare without syncing files to the disk, alternating twice each, and print
    /// what durability costs (the ratio of the best times).
    #[arg(long)]
    pub compare_fsync: bool,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `bench open`.
#[derive(clap::Args, Debug)]
pub struct OpenArgs {
    /// The store.
    pub store: PathBuf,
    /// Timed opens (after one untimed, which pages the arrays in).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `bench partition`.
#[derive(clap::Args, Debug)]
pub struct PartitionArgs {
    /// The store.
    pub store: PathBuf,
    /// Number of parts.
    #[arg(long)]
    pub parts: u32,
    /// Methods to run, comma-separated: random, fennel, ldg, metis (recursive bisection),
    /// metis-kway.
    #[arg(long, default_value = "random,fennel,ldg,metis,metis-kway")]
    pub methods: String,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// One JSON list.
    #[arg(long)]
    pub json: bool,
}

/// `bench zstd`.
#[derive(clap::Args, Debug)]
pub struct ZstdArgs {
    /// The store.
    pub store: PathBuf,
    /// zstd level.
    #[arg(long, default_value_t = 3)]
    pub level: i32,
    /// Where the temporary compressed copy goes (removed afterwards).
    #[arg(long, default_value = "/tmp")]
    pub scratch: PathBuf,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `bench prepare`.
pub fn prepare(a: PrepareArgs) -> anyhow::Result<()> {
    let PrepareArgs { from, add_inverse_edge, scratch, compare_fsync, json } = a;
    bench_prepare(from, add_inverse_edge, scratch, compare_fsync, json)
}

/// `bench open`.
pub fn open(a: OpenArgs) -> anyhow::Result<()> {
    bench_open(a.store, a.repeats, a.json)
}

/// `bench zstd`.
pub fn zstd(a: ZstdArgs) -> anyhow::Result<()> {
    bench_zstd(a.store, a.level, a.scratch, a.json)
}

/// `bench partition`.
pub fn partition(a: PartitionArgs) -> anyhow::Result<()> {
    bench_partition(a.store, a.parts, &a.methods, a.seed, a.json)
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
