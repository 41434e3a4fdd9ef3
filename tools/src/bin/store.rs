//! `tools/store`: verify a store, or move it to and from its zstd-compressed form.

use clap::{Parser, Subcommand};
use mille_pipeline::Store;
use mille_pipeline::store::zstd::{CompressedStore, compress};
use std::path::PathBuf;

/// Store maintenance: checksums and the zstd-compressed form.
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
