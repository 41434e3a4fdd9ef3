//! `tools/bench`: benchmarks that print a table and, with --json, machine-readable figures.

#[path = "bench/common.rs"]
mod common;
#[path = "bench/data.rs"]
mod data;
#[path = "bench/depth.rs"]
mod depth;
#[path = "bench/kernels.rs"]
mod kernels;
#[path = "bench/loader.rs"]
mod loader;
#[path = "bench/memory.rs"]
mod memory;
#[path = "bench/scale.rs"]
mod scale;

use clap::{Parser, Subcommand};

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
    Prepare(data::PrepareArgs),
    /// Opening a store: the structure checks of `Store::open` (seconds, GB/s over the arrays
    /// they read), beside `--verify`'s checksum pass over the same arrays, best of `--repeats`.
    Open(data::OpenArgs),
    /// Every partitioner on one store, each in a fresh process: seconds, edge cut, balance,
    /// peak RSS. JSON: a list of objects.
    Partition(data::PartitionArgs),
    /// The loader: batches, nodes, edges and GB of batch data per second over epochs of the
    /// chosen sampler (random clusters by default), peak RSS, and this machine's memcpy
    /// bandwidth measured in the same run.
    Loader(loader::LoaderArgs),
    /// Accuracy (mean and spread over seeds), seconds per epoch and peak memory against depth,
    /// for each model and convolution: one `tools/train` run per point and seed, in a fresh
    /// process; settings after `--` go to every run
    Depth(depth::DepthArgs),
    /// Peak memory of one training step against depth, each (model, depth) in a fresh process
    /// (peak RSS = VmHWM): ResGNN grows with depth, the reversible models should not.
    MemoryDepth(memory::MemoryDepthArgs),
    /// Batches onto the GPU: the trainer's feed (pinned copy, side-stream upload, next batch
    /// queued while the current one is handed over) against a plain pinned host-to-device copy
    /// of the same bytes, GB/s, in the same run. Needs a GPU.
    Upload(kernels::UploadArgs),
    /// The GEN/GAT aggregations over CSR rows (segment_reduce, deterministic) against the
    /// index_add ones, forward + backward and forward alone, in the same run, on one random batch.
    Aggregate(kernels::AggregateArgs),
    /// Data-parallel scaling: the median epoch seconds (first epoch left out) of
    /// `tools/train --nproc N --threads 1` (and with `--no-overlap`) against `--nproc 1
    /// --threads 1`, same store and settings, one after the other; with --shards also of a run on a METIS shard set of the
    /// store (--parts then counts per shard); and the all-reduce bandwidth of a --params-float
    /// gradient over N ranks beside memcpy in the same processes (mille-dist's `dist-check`).
    /// Needs a build with MPI.
    Scale(scale::ScaleArgs),
    /// One training step of one model (run by memory-depth in a fresh process).
    #[command(hide = true)]
    MemoryStep(memory::MemoryStepArgs),
    /// The zstd-compressed store form: ratio, compression and decode speed.
    Zstd(data::ZstdArgs),
}

mille_tools::use_jemalloc!();

fn main() {
    mille_tools::run(|| match Args::parse().cmd {
        Cmd::Prepare(a) => data::prepare(a),
        Cmd::Open(a) => data::open(a),
        Cmd::Zstd(a) => data::zstd(a),
        Cmd::Partition(a) => data::partition(a),
        Cmd::Loader(a) => loader::run(a),
        Cmd::Depth(a) => depth::run(a),
        Cmd::MemoryDepth(a) => memory::depth(a),
        Cmd::MemoryStep(a) => memory::step(a),
        Cmd::Aggregate(a) => kernels::aggregate(a),
        Cmd::Upload(a) => kernels::upload(a),
        Cmd::Scale(a) => scale::run(a),
    })
}
