//! `tools/store`: verify a store, or move it to and from its zstd-compressed form.

use clap::{Parser, Subcommand};
use mille_pipeline::Store;
use mille_pipeline::store::zstd::{CompressedStore, compress};
use std::path::PathBuf;

/// Store maintenance and inspection: checksums, the zstd-compressed form, wide copies, and the
/// loader's batches as NumPy files.
#[derive(Parser)]
#[command(name = "store", version)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Recompute every array's checksum and compare with meta.json.
    Verify {
        /// The store.
        store: PathBuf,
    },
    /// Write the zstd-compressed form of a store (independent frames per array chunk).
    Compress {
        /// The store.
        store: PathBuf,
        /// The new compressed folder.
        out: PathBuf,
        /// zstd level.
        #[arg(long, default_value_t = 3)]
        level: i32,
        /// Uncompressed bytes per frame.
        #[arg(long, default_value_t = 1 << 20)]
        chunk_bytes: usize,
    },
    /// Copy a store with its node features replaced by wide synthetic ones (class centroid +
    /// noise), e.g. to test the loader with features larger than memory.
    Widen {
        /// The store.
        store: PathBuf,
        /// The new store.
        out: PathBuf,
        /// Feature columns.
        #[arg(long)]
        features: usize,
        /// Noise scale (unit-variance noise times this).
        #[arg(long, default_value_t = 2.0)]
        noise: f32,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Write the loader's batches of one epoch as NumPy files (DIR/batch-I/NAME.npy: nodes,
    /// indptr, indices, edge_pos, features, edge_features, labels, train/valid/test masks, and
    /// view), to inspect what a model receives or compare another consumer's batches with.
    Batches {
        /// The store.
        store: PathBuf,
        /// The folder to write (created).
        out: PathBuf,
        /// How the epoch's batches are drawn.
        #[command(flatten)]
        sampler: mille_tools::sampler::SamplerArgs,
        /// Evaluation views instead: this many independent cuts of the sampler's kind (cluster:
        /// random partitions into --parts parts; metis, store-parts: their parts regrouped into
        /// --parts batches in each view's own order), one after another.
        #[arg(long)]
        views: Option<u32>,
        /// Loader seed (and the METIS seed).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Epoch.
        #[arg(long, default_value_t = 0)]
        epoch: u64,
        /// Add self loops.
        #[arg(long)]
        self_loops: bool,
    },
    /// Decode a compressed store back into a plain store (checksums verified).
    Decompress {
        /// The compressed folder.
        input: PathBuf,
        /// The new store.
        out: PathBuf,
    },
}

fn main() {
    mille_tools::run(|| {
        match Args::parse().cmd {
            Cmd::Verify { store } => {
                let s = Store::open(&store)?;
                s.verify()?;
                println!("{}: {} arrays verified", store.display(), s.meta().arrays.len());
            }
            Cmd::Compress { store, out, level, chunk_bytes } => {
                let s = Store::open(&store)?;
                let st = compress(&s, &out, level, chunk_bytes)?;
                println!(
                    "{}: {} -> {} (ratio {:.2})",
                    out.display(),
                    mille_tools::human_bytes(st.raw_bytes),
                    mille_tools::human_bytes(st.compressed_bytes),
                    st.ratio()
                );
            }
            Cmd::Widen { store, out, features, noise, seed } => {
                let s = Store::open(&store)?;
                let w = mille_pipeline::widen::widen_features(&s, &out, features, noise, seed)?;
                println!("{}", w.path().display());
            }
            Cmd::Batches { store, out, sampler, views, seed, epoch, self_loops } => {
                let s = std::sync::Arc::new(Store::open(&store)?);
                let plan = batches_plan(&s, sampler.setting()?, views, seed)?;
                let n = write_batches(s, &out, plan, seed, epoch, self_loops)?;
                println!("{}: {n} batches", out.display());
            }
            Cmd::Decompress { input, out } => {
                let c = CompressedStore::open(&input)?;
                let s = c.decompress(&out)?;
                s.verify()?;
                println!("{}", s.path().display());
            }
        }
        Ok(())
    })
}

/// The plan of `setting`, or with `views` its evaluation views.
fn batches_plan(
    store: &Store,
    setting: mille_loader::SamplerSetting,
    views: Option<u32>,
    seed: u64,
) -> anyhow::Result<mille_loader::PlanSpec> {
    use mille_loader::{PlanSpec, SamplerSetting};
    let plan = setting.resolve(store, seed)?;
    let Some(views) = views else { return Ok(plan) };
    anyhow::ensure!(views >= 1, "--views must be at least 1");
    Ok(match (setting, plan) {
        (SamplerSetting::Cluster { parts }, _) => PlanSpec::Views { views, parts },
        (_, PlanSpec::ClusterGcn { partition, per_batch }) => PlanSpec::ClusterViews { partition, views, per_batch },
        (s, _) => anyhow::bail!(
            "--views cuts the graph into parts: --sampler cluster, metis or store-parts, not {}",
            s.kind()
        ),
    })
}

fn write_batches(
    store: std::sync::Arc<Store>,
    out: &std::path::Path,
    plan: mille_loader::PlanSpec,
    seed: u64,
    epoch: u64,
    self_loops: bool,
) -> anyhow::Result<usize> {
    use mille_loader::{Loader, LoaderConfig};
    let loader = Loader::new(store, LoaderConfig { plan, seed, self_loops, ..Default::default() })?;
    // Every batch goes into a hidden folder beside OUT, renamed into place when all are written:
    // a failure (a full disk) leaves no partial OUT. A previous OUT is replaced.
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "batches".into());
    let tmp = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = write_epoch(&loader, epoch, &tmp).and_then(|count| {
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(|e| anyhow::anyhow!("replacing {}: {e}", out.display()))?;
        }
        std::fs::rename(&tmp, out)
            .map_err(|e| anyhow::anyhow!("renaming {} to {}: {e}", tmp.display(), out.display()))?;
        Ok(count)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// Writes the batches of `epoch` as NumPy files under `out`; returns how many.
fn write_epoch(loader: &mille_loader::Loader, epoch: u64, out: &std::path::Path) -> anyhow::Result<usize> {
    use mille_loader::BatchLabels;
    use mille_tools::npy::write;
    std::fs::create_dir_all(out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    let mut count = 0;
    for b in loader.epoch(epoch) {
        let b = b?;
        let dir = out.join(format!("batch-{}", b.index));
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let (nodes, edges) = (b.nodes.len(), b.indices.len());
        write(&dir.join("nodes.npy"), &b.nodes, &[nodes], None)?;
        write(&dir.join("indptr.npy"), &b.indptr, &[b.indptr.len()], None)?;
        write(&dir.join("indices.npy"), &b.indices, &[edges], None)?;
        write(&dir.join("edge_pos.npy"), &b.edge_pos, &[edges], None)?;
        write(&dir.join("features.npy"), &b.features, &[nodes, b.feature_dim], None)?;
        write(&dir.join("edge_features.npy"), &b.edge_features, &[edges, b.edge_feature_dim], None)?;
        match &b.labels {
            BatchLabels::None => {}
            BatchLabels::MultiClass(v) => write(&dir.join("labels.npy"), v, &[nodes], None)?,
            BatchLabels::MultiLabel { tasks, values } => {
                write(&dir.join("labels.npy"), values, &[nodes, *tasks], None)?
            }
        }
        for (name, mask) in [("train_mask", &b.train_mask), ("valid_mask", &b.valid_mask), ("test_mask", &b.test_mask)]
        {
            let bytes: Vec<u8> = mask.iter().map(|&m| m as u8).collect();
            write(&dir.join(format!("{name}.npy")), &bytes, &[nodes], Some("|b1"))?;
        }
        write(&dir.join("view.npy"), &[b.view], &[1], None)?;
        count += 1;
    }
    Ok(count)
}
