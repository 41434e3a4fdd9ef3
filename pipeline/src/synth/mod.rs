//! Synthetic graphs in OGB's raw layout, like ogbn-products ([`Like::Products`], the default),
//! ogbn-proteins ([`Like::Proteins`], `proteins.rs`) or ogbn-arxiv ([`Like::Arxiv`], `arxiv.rs`):
//! degree-corrected stochastic block models whose blocks are classes (or, for proteins, latent
//! communities).
//!
//! Products: features = class centroid + Gaussian noise. The knobs leave a GNN clear headroom
//! over an MLP: noisy features make a node's own row a weak witness of its class, while
//! homophilous neighbourhoods (averaged by a GNN) reveal it. A fraction of nodes (`block_noise`)
//! sit in another class's block, so neighbourhoods mislead there and accuracy stays below 100 %.
//!
//! Deterministic for a seed whatever the thread count: every random stream is keyed by
//! (seed, purpose, chunk). Memory is O(E) for de-duplicating edges (8 bytes per edge) plus
//! O(chunk) for writing; files are gzip'd in parallel chunks (concatenated gzip members).

mod arxiv;
mod proteins;

use crate::error::{Error, IoContext, Result};
use crate::progress::{Reporter, Task};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};
use rand_pcg::Pcg64;
use rayon::prelude::*;
use serde::Serialize;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Which OGB dataset's layout and label structure a synthetic graph imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Like {
    /// ogbn-products: undirected (each edge once), node features, one class per node, split
    /// `sales_ranking` 8/2/90 %.
    #[default]
    Products,
    /// ogbn-proteins: undirected, 8-dim edge features in [0, 1] and no node features, a species
    /// per node (`node_species`), `tasks` binary labels that depend on each node's full-graph
    /// sum of its edges' features and on its species, split `species` by species (all but the
    /// last two train, then one valid, one test).
    Proteins,
    /// ogbn-arxiv: directed citations (newer paper to older; ~1 % of pairs cite each other
    /// both ways), node features, one class per node, a year per node (`node_year`), split
    /// `time` (up to 2017 train, 2018 valid, 2019 test).
    Arxiv,
}

crate::choices!(Like { Products => "products", Proteins => "proteins", Arxiv => "arxiv" });

/// Generator settings.
#[derive(Debug, Clone, Serialize)]
pub struct SynthConfig {
    /// Which dataset it imitates.
    pub like: Like,
    /// Nodes N.
    pub nodes: u64,
    /// Average degree K (each undirected edge counts for both ends): E = round(N K / 2).
    pub avg_degree: f64,
    /// Feature dimension D.
    pub features: usize,
    /// Classes C.
    pub classes: usize,
    /// Probability that an edge stays inside its first endpoint's block.
    pub homophily: f64,
    /// Standard deviation of the feature noise (centroids are N(0, I)).
    pub noise: f64,
    /// Zipf exponent of class sizes.
    pub class_skew: f64,
    /// Exponent of the power-law degree distribution.
    pub degree_exponent: f64,
    /// Largest degree weight, as a multiple of the mean.
    pub max_degree_ratio: f64,
    /// Fraction of nodes placed in a random other class's block.
    pub block_noise: f64,
    /// Seed.
    pub seed: u64,
    /// Proteins: binary tasks per node.
    pub tasks: usize,
    /// Proteins: species (at least 3: the last two are the valid and test species).
    pub species: usize,
    /// Proteins: edge feature dimension.
    pub edge_features: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            like: Like::Products,
            tasks: 112,
            species: 8,
            edge_features: 8,
            nodes: 20_000,
            avg_degree: 20.0,
            features: 100,
            classes: 47,
            homophily: 0.8,
            noise: 4.0,
            class_skew: 1.0,
            degree_exponent: 2.5,
            max_degree_ratio: 350.0,
            block_noise: 0.1,
            seed: 0,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct SynthReport {
    /// Nodes.
    pub nodes: u64,
    /// Undirected edges (rows of `edge.csv.gz`).
    pub edges: u64,
    /// Fraction of edges whose endpoints share a label.
    pub label_homophily: f64,
    /// Wall seconds.
    pub seconds: f64,
}

pub(crate) const STREAM_LABELS: u64 = 1;
pub(crate) const STREAM_DEGREES: u64 = 2;
pub(crate) const STREAM_EDGES: u64 = 3;
pub(crate) const STREAM_FEATURES: u64 = 4;
pub(crate) const STREAM_SPLIT: u64 = 5;
pub(crate) const STREAM_ORDER: u64 = 6;

pub(crate) fn rng(seed: u64, stream: u64, chunk: u64) -> Pcg64 {
    // Independent, reproducible streams per (stream, chunk).
    crate::seed::Seed::new(seed).stream(stream, chunk).rng()
}

/// Cumulative weights for sampling proportionally to weight by binary search.
pub(crate) struct Sampler {
    cum: Vec<f64>,
}

impl Sampler {
    pub(crate) fn new(weights: impl Iterator<Item = f64>) -> Self {
        let mut acc = 0.0;
        Sampler {
            cum: weights
                .map(|w| {
                    acc += w;
                    acc
                })
                .collect(),
        }
    }
    pub(crate) fn sample(&self, r: &mut impl Rng) -> usize {
        let total = *self.cum.last().unwrap_or(&0.0);
        let x = r.random::<f64>() * total;
        self.cum.partition_point(|&c| c <= x).min(self.cum.len() - 1)
    }
}

/// Writes a synthetic dataset into the new folder `out` (OGB raw layout, split `sales_ranking`).
pub fn generate(cfg: &SynthConfig, out: &Path, progress: &Reporter) -> Result<SynthReport> {
    let t0 = std::time::Instant::now();
    let n = cfg.nodes as usize;
    if n < 2 || cfg.classes == 0 || cfg.classes > n {
        return Err(Error::Invalid(format!(
            "synth: need at least 2 nodes and 1..=nodes classes (got {n} nodes, {} classes)",
            cfg.classes
        )));
    }
    let e = (cfg.nodes as f64 * cfg.avg_degree / 2.0).round() as u64;
    let max_e = cfg.nodes * (cfg.nodes - 1) / 2;
    if e > max_e / 2 {
        return Err(Error::Invalid(format!(
            "synth: {e} edges is too dense for {n} nodes (at most {} here)",
            max_e / 2
        )));
    }
    if out.exists() {
        return Err(Error::input(out, "already exists"));
    }
    let pb = progress.task("synth", 5, false);
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).at(parent)?;
    let tmp =
        parent.join(format!(".{}.synth-{}", out.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let res = write_all(cfg, &tmp, n, e, &pb);
    if res.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    let (homophily, edges) = res?;
    fs::rename(&tmp, out).at(out)?;
    pb.finish();
    Ok(SynthReport { nodes: cfg.nodes, edges, label_homophily: homophily, seconds: t0.elapsed().as_secs_f64() })
}

/// Writes the dataset; returns the label (or community) homophily and the rows of `edge.csv.gz`.
fn write_all(cfg: &SynthConfig, dir: &Path, n: usize, e: u64, pb: &Task) -> Result<(f64, u64)> {
    match cfg.like {
        Like::Products => write_products(cfg, dir, n, e, pb).map(|h| (h, e)),
        Like::Proteins => proteins::write(cfg, dir, n, e, pb).map(|h| (h, e)),
        Like::Arxiv => arxiv::write(cfg, dir, n, e, pb),
    }
}

fn write_products(cfg: &SynthConfig, dir: &Path, n: usize, e: u64, pb: &Task) -> Result<f64> {
    let raw = dir.join("raw");
    fs::create_dir_all(&raw).at(&raw)?;
    let c = cfg.classes;

    pb.set_message("labels");
    let (labels, block) = zipf_labels(cfg, n, c);
    pb.inc(1);
    pb.set_message("degrees");
    let theta = degree_weights(cfg, n);
    let (members, global, per_block) = block_samplers(&theta, &block, c);
    pb.inc(1);

    // Edges: sample, de-duplicate, top up until exactly e distinct pairs.
    pb.set_message("edges");
    let mut keys = sample_pairs(cfg.seed, e, &block, &members, &global, &per_block, cfg.homophily);
    // Random row order and orientation, as in OGB's files.
    let mut r = rng(cfg.seed, STREAM_ORDER, 0);
    keys.shuffle(&mut r);
    let same = keys.par_iter().filter(|&&k| labels[(k >> 32) as usize] == labels[(k & 0xFFFF_FFFF) as usize]).count();
    let homophily = same as f64 / keys.len().max(1) as f64;
    write_gz_chunks(&raw.join("edge.csv.gz"), keys.len(), 1 << 20, |lo, hi, out| {
        let mut r = rng(cfg.seed, STREAM_ORDER, 1 + lo as u64);
        for &k in &keys[lo..hi] {
            let (a, b) = ((k >> 32) as u32, (k & 0xFFFF_FFFF) as u32);
            let (a, b) = if r.random::<bool>() { (a, b) } else { (b, a) };
            push_uint(out, a as u64);
            out.push(b',');
            push_uint(out, b as u64);
            out.push(b'\n');
        }
    })?;
    drop(keys);
    pb.inc(1);

    // Features: class centroid + noise, 4 decimals.
    pb.set_message("features");
    let mut r = rng(cfg.seed, STREAM_FEATURES, u64::MAX);
    let d = cfg.features;
    let centroids: Vec<f64> = (0..c * d).map(|_| StandardNormal.sample(&mut r)).collect();
    if d > 0 {
        write_gz_chunks(&raw.join("node-feat.csv.gz"), n, (1 << 20) / d.max(1), |lo, hi, out| {
            let mut r = rng(cfg.seed, STREAM_FEATURES, lo as u64);
            for (i, &y) in labels.iter().enumerate().take(hi).skip(lo) {
                let _ = i;
                for j in 0..d {
                    let z: f64 = StandardNormal.sample(&mut r);
                    push_fixed4(out, centroids[y as usize * d + j] + cfg.noise * z);
                    out.push(if j + 1 == d { b'\n' } else { b',' });
                }
            }
        })?;
    }
    pb.inc(1);

    pb.set_message("labels, split");
    write_gz_chunks(&raw.join("node-label.csv.gz"), n, 1 << 20, |lo, hi, out| {
        for &y in &labels[lo..hi] {
            push_uint(out, y as u64);
            out.push(b'\n');
        }
    })?;
    write_text_gz(&raw.join("num-node-list.csv.gz"), &format!("{n}\n"))?;
    write_text_gz(&raw.join("num-edge-list.csv.gz"), &format!("{e}\n"))?;
    let mut r = rng(cfg.seed, STREAM_SPLIT, 0);
    let mut perm: Vec<u32> = (0..n as u32).collect();
    perm.shuffle(&mut r);
    let a = (n as f64 * 0.08).round() as usize;
    let b = a + (n as f64 * 0.02).round() as usize;
    let split = dir.join("split").join("sales_ranking");
    fs::create_dir_all(&split).at(&split)?;
    for (part, ids) in [("train", &perm[..a]), ("valid", &perm[a..b]), ("test", &perm[b..])] {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        let text: String = ids.iter().map(|i| format!("{i}\n")).collect();
        write_text_gz(&split.join(format!("{part}.csv.gz")), &text)?;
    }
    fs::write(dir.join("RELEASE_v1.txt"), "mille synthetic graph (tools/synth)\n").at(dir)?;
    let params = serde_json::to_string_pretty(cfg).expect("serialisable");
    fs::write(dir.join("gen_params.json"), params).at(dir)?;
    pb.inc(1);
    Ok(homophily)
}

/// One class per node (exact Zipf class sizes, classes in a random order, shuffled over nodes)
/// and each node's block: its class, or with probability `block_noise` another one.
pub(crate) fn zipf_labels(cfg: &SynthConfig, n: usize, c: usize) -> (Vec<u32>, Vec<u32>) {
    let mut r = rng(cfg.seed, STREAM_LABELS, 0);
    let w: Vec<f64> = (0..c).map(|k| 1.0 / ((k + 1) as f64).powf(cfg.class_skew)).collect();
    let wsum: f64 = w.iter().sum();
    let mut sizes: Vec<usize> = w.iter().map(|x| ((x / wsum) * n as f64).floor().max(1.0) as usize).collect();
    let mut k = 0;
    while sizes.iter().sum::<usize>() < n {
        sizes[k % c] += 1;
        k += 1;
    }
    while sizes.iter().sum::<usize>() > n {
        let big = (0..c).max_by_key(|&i| sizes[i]).unwrap();
        sizes[big] -= 1;
    }
    let mut class_order: Vec<u32> = (0..c as u32).collect();
    class_order.shuffle(&mut r);
    let mut labels: Vec<u32> =
        sizes.iter().enumerate().flat_map(|(i, &s)| std::iter::repeat_n(class_order[i], s)).collect();
    labels.shuffle(&mut r);
    let block: Vec<u32> = labels
        .iter()
        .map(|&y| {
            if c > 1 && r.random::<f64>() < cfg.block_noise {
                (y + 1 + r.random_range(0..c as u32 - 1)) % c as u32
            } else {
                y
            }
        })
        .collect();
    (labels, block)
}

/// Degree weights: a Pareto tail, clipped at `max_degree_ratio` times the mean.
pub(crate) fn degree_weights(cfg: &SynthConfig, n: usize) -> Vec<f64> {
    let mut r = rng(cfg.seed, STREAM_DEGREES, 0);
    let alpha = (cfg.degree_exponent - 1.0).max(0.1);
    let mut theta: Vec<f64> = (0..n).map(|_| (1.0 - r.random::<f64>()).powf(-1.0 / alpha)).collect();
    let mean = theta.iter().sum::<f64>() / n as f64;
    for t in &mut theta {
        *t = t.min(cfg.max_degree_ratio * mean);
    }
    theta
}

/// Each block's members, and samplers by degree weight over all nodes and within each block.
pub(crate) fn block_samplers(theta: &[f64], block: &[u32], c: usize) -> (Vec<Vec<u32>>, Sampler, Vec<Sampler>) {
    let global = Sampler::new(theta.iter().copied());
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); c];
    for (i, &b) in block.iter().enumerate() {
        members[b as usize].push(i as u32);
    }
    let per_block: Vec<Sampler> = members.iter().map(|m| Sampler::new(m.iter().map(|&i| theta[i as usize]))).collect();
    (members, global, per_block)
}

/// `e` distinct undirected pairs `(a << 32) | b`, `a < b`, sorted: one endpoint drawn by degree
/// weight, the other inside its block with probability `homophily` (by weight within the
/// block), else outside it; duplicates removed and topped up until exactly `e` remain.
pub(crate) fn sample_pairs(
    seed: u64,
    e: u64,
    block: &[u32],
    members: &[Vec<u32>],
    global: &Sampler,
    per_block: &[Sampler],
    homophily: f64,
) -> Vec<u64> {
    let c = members.len();
    let mut keys: Vec<u64> = Vec::with_capacity(e as usize + e as usize / 16);
    let mut round = 0u64;
    while (keys.len() as u64) < e {
        let want = (e - keys.len() as u64) + (e - keys.len() as u64) / 20 + 16;
        let chunk = 1u64 << 16;
        let chunks = want.div_ceil(chunk);
        let fresh: Vec<Vec<u64>> = (0..chunks)
            .into_par_iter()
            .map(|ch| {
                let mut r = rng(seed, STREAM_EDGES, (round << 40) | ch);
                let k = chunk.min(want - ch * chunk);
                let mut v = Vec::with_capacity(k as usize);
                while (v.len() as u64) < k {
                    let u = global.sample(&mut r) as u32;
                    let bu = block[u as usize] as usize;
                    let w = if r.random::<f64>() < homophily || c == 1 {
                        members[bu][per_block[bu].sample(&mut r)]
                    } else {
                        loop {
                            let w = global.sample(&mut r) as u32;
                            if block[w as usize] as usize != bu {
                                break w;
                            }
                        }
                    };
                    if u != w {
                        let (a, b) = (u.min(w) as u64, u.max(w) as u64);
                        v.push(a << 32 | b);
                    }
                }
                v
            })
            .collect();
        for f in fresh {
            keys.extend(f);
        }
        keys.par_sort_unstable();
        keys.dedup();
        if keys.len() as u64 > e {
            // Drop a deterministic random subset of the surplus.
            let mut r = rng(seed, STREAM_EDGES, u64::MAX - round);
            let surplus = keys.len() - e as usize;
            for _ in 0..surplus {
                let i = r.random_range(0..keys.len());
                keys.swap_remove(i);
            }
            keys.par_sort_unstable();
        }
        round += 1;
    }
    keys
}

pub(crate) fn push_uint(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// `x` with exactly four decimals (e.g. `-3.3248`), by integer arithmetic.
pub(crate) fn push_fixed4(out: &mut Vec<u8>, x: f64) {
    let q = (x * 10_000.0).round() as i64;
    if q < 0 {
        out.push(b'-');
    }
    let q = q.unsigned_abs();
    push_uint(out, q / 10_000);
    out.push(b'.');
    let f = q % 10_000;
    out.extend_from_slice(&[
        b'0' + (f / 1000) as u8,
        b'0' + (f / 100 % 10) as u8,
        b'0' + (f / 10 % 10) as u8,
        b'0' + (f % 10) as u8,
    ]);
}

pub(crate) fn write_text_gz(path: &Path, text: &str) -> Result<()> {
    let f = File::create(path).at(path)?;
    let mut g = GzEncoder::new(f, Compression::new(6));
    g.write_all(text.as_bytes()).at(path)?;
    g.finish().at(path)?;
    Ok(())
}

/// Writes `rows` rows, formatted by `fill(lo, hi, buf)` in chunks of `chunk` rows, each chunk
/// compressed on its own (a gzip member) in parallel, written in order.
pub(crate) fn write_gz_chunks(
    path: &Path,
    rows: usize,
    chunk: usize,
    fill: impl Fn(usize, usize, &mut Vec<u8>) + Sync,
) -> Result<()> {
    let mut f = BufWriter::new(File::create(path).at(path)?);
    let chunk = chunk.max(1);
    let chunks: Vec<usize> = (0..rows.div_ceil(chunk)).collect();
    let batch = rayon::current_num_threads() * 2;
    for group in chunks.chunks(batch) {
        let parts: Vec<std::io::Result<Vec<u8>>> = group
            .par_iter()
            .map(|&ch| {
                let (lo, hi) = (ch * chunk, ((ch + 1) * chunk).min(rows));
                let mut text = Vec::with_capacity((hi - lo) * 16);
                fill(lo, hi, &mut text);
                let mut g = GzEncoder::new(Vec::with_capacity(text.len() / 3), Compression::new(1));
                g.write_all(&text)?;
                g.finish()
            })
            .collect();
        for p in parts {
            f.write_all(&p.at(path)?).at(path)?;
        }
    }
    f.flush().at(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed4_formats_like_printf() {
        for (x, s) in
            [(-3.32481, "-3.3248"), (0.0, "0.0000"), (12.5, "12.5000"), (-0.00004, "0.0000"), (-0.00006, "-0.0001")]
        {
            let mut out = Vec::new();
            push_fixed4(&mut out, x);
            assert_eq!(String::from_utf8(out).unwrap(), s, "{x}");
        }
    }
}
