//! `tools/partition`: cut a store into parts (random, METIS, Fennel, LDG), cached beside it.

use anyhow::Context;
use clap::Parser;
use mille_partition::{
    Method, MetisOptions, MetisScheme, Partition, StreamingOptions, cached_or_compute, compute, part_components,
    quality, relabel,
};
use mille_pipeline::Store;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Partition a store into K parts and report the quality (edge cut, balance, time, memory).
///
/// The partition is cached in STORE/partitions/, keyed by the graph's checksums, the method and
/// its options, K and the seed: a repeated request is instant, a changed graph or option never
/// reuses a stale result.
#[derive(Parser)]
#[command(name = "partition", version)]
struct Args {
    /// The store.
    store: PathBuf,
    /// Partitioner: random, metis, fennel or ldg (default metis); the flags below set their
    /// options, and a flag of another method is an error.
    #[arg(long)]
    method: Option<Method>,
    /// Number of parts.
    #[arg(long)]
    parts: u32,
    /// Seed (random clustering, METIS, streaming tie-breaks; default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Random clustering: a uniform part per node instead of balanced ranges.
    #[arg(long)]
    uniform: bool,
    /// METIS: recursive (bisection: fewer cut edges on block-model graphs, near-equal parts; the
    /// default) or kway.
    #[arg(long)]
    scheme: Option<MetisScheme>,
    /// METIS: also balance the train nodes of this split across parts.
    #[arg(long, value_name = "SPLIT")]
    balance_train: Option<String>,
    /// METIS: allowed imbalance in thousandths (default 30 for k-way, 1 per bisection).
    #[arg(long)]
    ufactor: Option<i32>,
    /// METIS: refinement iterations per level (default 10).
    #[arg(long)]
    niter: Option<i32>,
    /// METIS: partitionings to compute, keeping the best (default 1).
    #[arg(long)]
    ncuts: Option<i32>,
    /// Streaming (fennel, ldg): passes over the graph (default 2).
    #[arg(long)]
    passes: Option<u32>,
    /// Write a new store ordered by part here (each part a contiguous range of rows).
    #[arg(long, value_name = "OUT")]
    relabel: Option<PathBuf>,
    /// Write a shard set here: one store per part (its nodes, their features, labels and split
    /// members, and the edges among them, with maps back to the store's ids) for
    /// `tools/train --shards OUT --nproc K`, each rank opening only its own shard.
    #[arg(long, value_name = "OUT")]
    shards: Option<PathBuf>,
    /// Also write the partition in gpmetis text format (one part id per line).
    #[arg(long, value_name = "FILE")]
    export: Option<PathBuf>,
    /// Read the partition from a gpmetis text file instead of computing it.
    #[arg(long, value_name = "FILE")]
    import: Option<PathBuf>,
    /// Compute afresh without reading or writing the cache.
    #[arg(long)]
    no_cache: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// The flags given that belong to another method than the one chosen (all of them, and
    /// --method itself, with --import): ignoring them would silently run something else.
    fn foreign_options(&self) -> Vec<&'static str> {
        let metis = [
            ("--scheme", self.scheme.is_some()),
            ("--balance-train", self.balance_train.is_some()),
            ("--ufactor", self.ufactor.is_some()),
            ("--niter", self.niter.is_some()),
            ("--ncuts", self.ncuts.is_some()),
        ];
        let random = [("--uniform", self.uniform)];
        let streaming = [("--passes", self.passes.is_some())];
        let seed = [("--seed", self.seed.is_some())];
        let foreign: Vec<(&'static str, bool)> = match (&self.import, &self.method) {
            (Some(_), m) => [&[("--method", m.is_some())][..], &metis, &random, &streaming, &seed].concat(),
            (None, Some(Method::Random { .. })) => [&metis[..], &streaming].concat(),
            (None, Some(Method::Fennel(_) | Method::Ldg(_))) => [&metis[..], &random].concat(),
            (None, None | Some(Method::Metis(_))) => [&random[..], &streaming].concat(),
        };
        foreign.into_iter().filter(|&(_, given)| given).map(|(flag, _)| flag).collect()
    }
}

fn main() {
    mille_tools::run(|| {
        let a = Args::parse();
        a.refuse_foreign_options()?;
        let seed = a.seed.unwrap_or(0);
        let store = Store::open(&a.store)?;
        let method = a.method();
        if !a.json {
            eprintln!(
                "partitioning {} ({} nodes) into {} parts with {}",
                a.store.display(),
                store.num_nodes(),
                a.parts,
                method.name()
            );
        }
        let t = Instant::now();
        let (p, path, cached) = obtain(&a, &store, &method, seed)?;
        let seconds = t.elapsed().as_secs_f64();
        // An imported partition was made by whatever wrote the file, not by --method.
        let method_name = if a.import.is_some() { "import".to_string() } else { method.name().to_string() };
        let written = write_outputs(&a, &store, &p, &method_name)?;
        let report = Report {
            scheme: match &method {
                Method::Metis(o) if a.import.is_none() => Some(o.scheme.name()),
                _ => None,
            },
            method: method_name,
            seed,
            quality: quality(&store, &p),
            components: part_components(store.indptr(), store.indices(), p.parts(), p.k()),
            seconds,
            cached,
            path,
            written,
        };
        if a.json {
            println!("{}", report.json(&p));
        } else {
            report.print(&p);
        }
        Ok(())
    })
}

impl Args {
    /// An error naming the flags that belong to another method than the one chosen.
    fn refuse_foreign_options(&self) -> anyhow::Result<()> {
        let foreign = self.foreign_options();
        if foreign.is_empty() {
            return Ok(());
        }
        let whose = match (&self.import, &self.method) {
            (Some(_), _) => "an imported partition (--import)".to_string(),
            (None, m) => format!("--method {}", m.as_ref().map_or("metis", |m| m.name())),
        };
        let (verb, them) = if foreign.len() == 1 { ("does", "it") } else { ("do", "them") };
        anyhow::bail!("{} {verb} not apply to {whose}; remove {them}", foreign.join(", "))
    }

    /// The method with the flags' options (METIS by default).
    fn method(&self) -> Method {
        match self.method.clone().unwrap_or_else(|| Method::Metis(MetisOptions::default())) {
            Method::Random { .. } => Method::Random { uniform: self.uniform },
            Method::Metis(o) => Method::Metis(MetisOptions {
                scheme: self.scheme.unwrap_or(o.scheme),
                ufactor: self.ufactor,
                niter: self.niter,
                ncuts: self.ncuts,
                balance_train_of: self.balance_train.clone(),
                ..o
            }),
            Method::Fennel(o) => Method::Fennel(StreamingOptions { passes: self.passes.unwrap_or(o.passes), ..o }),
            Method::Ldg(o) => Method::Ldg(StreamingOptions { passes: self.passes.unwrap_or(o.passes), ..o }),
        }
    }
}

/// The partition: imported, computed afresh, or from the cache (computed and cached on a miss);
/// with the file it came from or went to, and whether the cache had it.
fn obtain(a: &Args, store: &Store, method: &Method, seed: u64) -> anyhow::Result<(Partition, Option<PathBuf>, bool)> {
    // METIS reports no progress of its own: a spinner with the elapsed time shows it is alive.
    let spinner = (mille_tools::interactive() && !a.json).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
        pb.set_message(format!("{} into {} parts", method.name(), a.parts));
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        pb
    });
    let got = if let Some(f) = &a.import {
        let p = Partition::read_gpmetis(f, store.num_nodes())?;
        anyhow::ensure!(
            p.k() <= a.parts,
            "{}: part ids go up to {}, outside --parts {} (ids 0..={})",
            f.display(),
            p.k() - 1,
            a.parts,
            a.parts.saturating_sub(1)
        );
        (p, Some(f.clone()), false)
    } else if a.no_cache {
        (compute(store, method, a.parts, seed)?, None, false)
    } else {
        let (p, path, cached) = cached_or_compute(store, method, a.parts, seed)?;
        (p, Some(path), cached)
    };
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    Ok(got)
}

/// What `--export`, `--relabel` and `--shards` wrote.
struct Written {
    relabelled: Option<PathBuf>,
    shards: Option<mille_partition::ShardSet>,
}

fn write_outputs(a: &Args, store: &Store, p: &Partition, method_name: &str) -> anyhow::Result<Written> {
    if let Some(f) = &a.export {
        p.write_gpmetis(f).with_context(|| format!("writing {}", f.display()))?;
    }
    let relabelled = match &a.relabel {
        Some(out) => Some(relabel(store, p, out)?.path().to_path_buf()),
        None => None,
    };
    let shards = match &a.shards {
        Some(out) => {
            let bar = if mille_tools::interactive() && !a.json {
                indicatif::ProgressBar::new(p.k() as u64).with_message("writing shards")
            } else {
                indicatif::ProgressBar::hidden()
            };
            let set = mille_partition::shard(store, p, method_name, out, |_| bar.inc(1))?;
            bar.finish_and_clear();
            Some(set)
        }
        None => None,
    };
    Ok(Written { relabelled, shards })
}

/// The run's outcome, printed as one JSON object or as lines.
struct Report {
    method: String,
    scheme: Option<&'static str>,
    seed: u64,
    quality: mille_partition::Quality,
    components: mille_partition::PartComponents,
    seconds: f64,
    cached: bool,
    path: Option<PathBuf>,
    written: Written,
}

impl Report {
    fn json(&self, p: &Partition) -> serde_json::Value {
        let (q, pc) = (&self.quality, &self.components);
        json!({
            "method": self.method, "scheme": self.scheme, "parts": p.k(), "seed": self.seed, "nodes": p.len(),
            "edge_cut_fraction": q.edge_cut_fraction, "cut_edges": q.cut_edges, "balance": q.balance,
            "empty_parts": q.empty_parts, "min_part": q.min_part, "max_part": q.max_part,
            "disconnected_parts": pc.disconnected_parts, "min_largest_component_share": pc.min_largest_share,
            "mean_largest_component_share": pc.mean_largest_share,
            "seconds": self.seconds, "cached": self.cached, "peak_rss_bytes": mille_tools::peak_rss_bytes(),
            "path": self.path, "relabelled": self.written.relabelled,
            "shards": self.written.shards.as_ref().map(|s| json!({
                "path": s.dir(), "lost_edges": s.manifest().lost_edges,
                "lost_fraction": s.manifest().lost_fraction(),
            })),
        })
    }

    fn print(&self, p: &Partition) {
        let (q, pc) = (&self.quality, &self.components);
        let scheme = self.scheme.map(|s| format!(" ({s})")).unwrap_or_default();
        println!("method      {}{scheme}{}", self.method, if self.cached { " (cached)" } else { "" });
        println!("parts       {} (sizes {}..{}, {} empty)", p.k(), q.min_part, q.max_part, q.empty_parts);
        println!("edge cut    {:.4} of edges ({} entries)", q.edge_cut_fraction, q.cut_edges);
        println!("balance     {:.3} (largest part / mean)", q.balance);
        println!(
            "connected   {} of {} parts disconnected; largest component {:.1} % of its part (mean), {:.1} % (least)",
            pc.disconnected_parts,
            p.k() - q.empty_parts,
            100.0 * pc.mean_largest_share,
            100.0 * pc.min_largest_share
        );
        println!("seconds     {:.2}", self.seconds);
        println!("peak RSS    {}", mille_tools::human_bytes(mille_tools::peak_rss_bytes()));
        if let Some(path) = &self.path {
            println!("partition   {}", path.display());
        }
        if let Some(r) = &self.written.relabelled {
            println!("relabelled  {}", r.display());
        }
        if let Some(s) = &self.written.shards {
            let m = s.manifest();
            println!(
                "shards      {} ({} shards; {} of {} entries lost to the cut, {:.2} %)",
                s.dir().display(),
                s.len(),
                m.lost_edges,
                m.edges,
                100.0 * m.lost_fraction()
            );
        }
    }
}
