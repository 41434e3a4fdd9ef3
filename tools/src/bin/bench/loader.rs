//! `bench loader`: the loader's throughput beside memcpy's and one thread's random-row gather.

use super::common::memcpy_gb_per_second;
use anyhow::Context;
use mille_pipeline::Store;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// `bench loader`.
#[derive(clap::Args, Debug)]
pub struct LoaderArgs {
    /// The store.
    pub store: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Batches built ahead.
    #[arg(long, default_value_t = 4)]
    pub prefetch: usize,
    /// Epochs to time (after one warm-up epoch unless --cold).
    #[arg(long, default_value_t = 3)]
    pub epochs: u64,
    /// Time the first epoch too (for out-of-core runs with a cold page cache).
    #[arg(long)]
    pub cold: bool,
    /// Batches are the store's relabelled parts one by one (see `tools/partition --relabel`),
    /// read sequentially: `--sampler store-parts` with one part a batch.
    #[arg(long)]
    pub by_part: bool,
    /// Read features and neighbour lists from an in-memory huge-page copy (`resident`),
    /// through the store's map (`mapped`), or a copy when it fits in a quarter of the
    /// available memory (`auto`).
    #[arg(long, default_value = "auto")]
    pub residency: mille_loader::Residency,
    /// Take node features from this zstd form of the store (`tools/store compress`),
    /// decoded in the workers.
    #[arg(long, value_name = "DIR")]
    pub compressed: Option<PathBuf>,
    /// How batches are drawn (GraphSAINT's pre-sampling counts as set-up time).
    #[command(flatten)]
    pub sampler: mille_tools::sampler::SamplerArgs,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
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

/// `bench loader`.
pub fn run(a: LoaderArgs) -> anyhow::Result<()> {
    use mille_loader::{Loader, LoaderConfig, SamplerSetting};
    let LoaderArgs { store, workers, prefetch, epochs, cold, by_part, residency, compressed, sampler, json: as_json } =
        a;
    let setting = sampler.setting()?;
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
