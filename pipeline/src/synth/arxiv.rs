//! An ogbn-arxiv-like graph: directed citations from newer papers to older ones inside a block
//! model of topics (the classes), about 1 % of the pairs citing each other both ways (what
//! `--to-undirected` then merges), class-centroid features, a publication year per node and
//! OGB's time split.

use super::{
    STREAM_FEATURES, STREAM_ORDER, STREAM_SPLIT, SynthConfig, block_samplers, degree_weights, push_fixed4, push_uint,
    rng, sample_pairs, write_gz_chunks, write_text_gz, zipf_labels,
};
use crate::error::{IoContext, Result};
use crate::progress::Task;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Exp, StandardNormal};
use rayon::prelude::*;
use std::fs;
use std::path::Path;

/// Share of citing pairs that also cite back.
const RECIPROCAL: f64 = 0.01;

/// Writes the dataset into `dir`; returns the label homophily and the rows of `edge.csv.gz`.
pub(super) fn write(cfg: &SynthConfig, dir: &Path, n: usize, e: u64, pb: &Task) -> Result<(f64, u64)> {
    let raw = dir.join("raw");
    fs::create_dir_all(&raw).at(&raw)?;
    let c = cfg.classes;

    pb.set_message("labels, years");
    let (labels, block) = zipf_labels(cfg, n, c);
    let years = years_of(cfg, n);
    pb.inc(1);

    pb.set_message("edges");
    let theta = degree_weights(cfg, n);
    let (members, global, per_block) = block_samplers(&theta, &block, c);
    let mut keys = sample_pairs(cfg.seed, e, &block, &members, &global, &per_block, cfg.homophily);
    keys.shuffle(&mut rng(cfg.seed, STREAM_ORDER, 0));
    let same = keys.par_iter().filter(|&&k| labels[(k >> 32) as usize] == labels[(k & 0xFFFF_FFFF) as usize]).count();
    // Newer cites older (a random direction within a year); some pairs both ways, written as a
    // second row right after the first.
    let mut r = rng(cfg.seed, STREAM_ORDER, u64::MAX);
    let mut rows: Vec<(u32, u32)> = Vec::with_capacity(keys.len() + keys.len() / 64);
    for &k in &keys {
        let (a, b) = ((k >> 32) as u32, (k & 0xFFFF_FFFF) as u32);
        let newer_first = match years[a as usize].cmp(&years[b as usize]) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => r.random::<bool>(),
        };
        let (from, to) = if newer_first { (a, b) } else { (b, a) };
        rows.push((from, to));
        if r.random::<f64>() < RECIPROCAL {
            rows.push((to, from));
        }
    }
    drop(keys);
    write_gz_chunks(&raw.join("edge.csv.gz"), rows.len(), 1 << 20, |lo, hi, out| {
        for &(a, b) in &rows[lo..hi] {
            push_uint(out, a as u64);
            out.push(b',');
            push_uint(out, b as u64);
            out.push(b'\n');
        }
    })?;
    let edges = rows.len() as u64;
    drop(rows);
    pb.inc(1);

    pb.set_message("features");
    let d = cfg.features;
    let mut r = rng(cfg.seed, STREAM_FEATURES, u64::MAX);
    let centroids: Vec<f64> = (0..c * d).map(|_| StandardNormal.sample(&mut r)).collect();
    if let Some(rows) = (1usize << 20).checked_div(d) {
        write_gz_chunks(&raw.join("node-feat.csv.gz"), n, rows, |lo, hi, out| {
            let mut r = rng(cfg.seed, STREAM_FEATURES, lo as u64);
            for &y in &labels[lo..hi] {
                for j in 0..d {
                    let z: f64 = StandardNormal.sample(&mut r);
                    push_fixed4(out, centroids[y as usize * d + j] + cfg.noise * z);
                    out.push(if j + 1 == d { b'\n' } else { b',' });
                }
            }
        })?;
    }
    pb.inc(1);

    pb.set_message("labels, years, split");
    for (file, values) in [("node-label.csv.gz", &labels), ("node_year.csv.gz", &years)] {
        write_gz_chunks(&raw.join(file), n, 1 << 20, |lo, hi, out| {
            for &v in &values[lo..hi] {
                push_uint(out, v as u64);
                out.push(b'\n');
            }
        })?;
    }
    write_text_gz(&raw.join("num-node-list.csv.gz"), &format!("{n}\n"))?;
    write_text_gz(&raw.join("num-edge-list.csv.gz"), &format!("{edges}\n"))?;
    let split = dir.join("split").join("time");
    fs::create_dir_all(&split).at(&split)?;
    for (part, keep) in [("train", 0..2018), ("valid", 2018..2019), ("test", 2019..2020)] {
        let text: String = (0..n).filter(|&i| keep.contains(&years[i])).map(|i| format!("{i}\n")).collect();
        write_text_gz(&split.join(format!("{part}.csv.gz")), &text)?;
    }
    fs::write(dir.join("RELEASE_v1.txt"), "mille synthetic graph (tools/synth --like arxiv)\n").at(dir)?;
    fs::write(dir.join("gen_params.json"), serde_json::to_string_pretty(cfg).expect("serialisable")).at(dir)?;
    pb.inc(1);
    Ok((same as f64 / e.max(1) as f64, edges))
}

/// Publication years as ogbn-arxiv's split has them: 54 % up to 2017 (more of them recent),
/// 18 % in 2018, 28 % in 2019.
fn years_of(cfg: &SynthConfig, n: usize) -> Vec<u32> {
    let mut r = rng(cfg.seed, STREAM_SPLIT, 1);
    let back = Exp::new(0.35).expect("a positive rate");
    (0..n)
        .map(|_| match r.random::<f64>() {
            u if u < 0.54 => 2017 - (back.sample(&mut r) as u32).min(2017 - 1971),
            u if u < 0.72 => 2018,
            _ => 2019,
        })
        .collect()
}
