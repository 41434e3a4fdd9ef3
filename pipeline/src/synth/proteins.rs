//! An ogbn-proteins-like graph: undirected edges in latent communities, edge features in
//! [0, 1], no node features, a species per node, and binary tasks whose labels are a function
//! of each node's *full-graph* sum of its edges' features and of its species, so a model sees
//! them only through the authors' inputs (the sums, the species one-hot): a per-batch mean over
//! the ~10 % of edges a random 10-part batch keeps loses the degree and most of the signal.

use super::{
    STREAM_DEGREES, STREAM_FEATURES, STREAM_LABELS, STREAM_ORDER, STREAM_SPLIT, SynthConfig, block_samplers,
    degree_weights, push_uint, rng, sample_pairs, write_gz_chunks, write_text_gz, zipf_labels,
};
use crate::error::{Error, IoContext, Result};
use crate::progress::Task;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use std::fs;
use std::path::Path;

/// ogbn-proteins' eight species (NCBI taxonomy ids), non-contiguous as in its `node_species`.
const SPECIES_IDS: [i64; 8] = [3702, 4932, 6239, 7227, 7955, 9606, 10090, 511145];

/// Writes the dataset into `dir`; returns the fraction of edges inside a community.
pub(super) fn write(cfg: &SynthConfig, dir: &Path, n: usize, e: u64, pb: &Task) -> Result<f64> {
    if cfg.species < 3 || cfg.tasks == 0 || cfg.edge_features == 0 {
        return Err(Error::Invalid(format!(
            "synth --like proteins: need at least 3 species (train, valid, test), 1 task and 1 edge feature \
             (got {} species, {} tasks, {} edge features)",
            cfg.species, cfg.tasks, cfg.edge_features
        )));
    }
    let raw = dir.join("raw");
    fs::create_dir_all(&raw).at(&raw)?;
    let (c, de, t) = (cfg.classes, cfg.edge_features, cfg.tasks);

    pb.set_message("communities, species");
    // Communities play the products generator's classes (block noise included).
    let (community, block) = zipf_labels(cfg, n, c);
    let species = species_of(cfg, n);
    pb.inc(1);

    pb.set_message("edges");
    let theta = degree_weights(cfg, n);
    let (members, global, per_block) = block_samplers(&theta, &block, c);
    let mut keys = sample_pairs(cfg.seed, e, &block, &members, &global, &per_block, cfg.homophily);
    keys.shuffle(&mut rng(cfg.seed, STREAM_ORDER, 0));
    let same =
        keys.par_iter().filter(|&&k| community[(k >> 32) as usize] == community[(k & 0xFFFF_FFFF) as usize]).count();
    // Community centroids in [0, 1]: an edge's features are its ends' mean, noised, a channel
    // zero with probability 0.4 (ogbn-proteins' association scores are sparse), 3 decimals.
    let mut r = rng(cfg.seed, STREAM_FEATURES, u64::MAX);
    let centroid: Vec<f64> = (0..c * de).map(|_| r.random::<f64>()).collect();
    let feature = |k: u64, j: usize, r: &mut rand_pcg::Pcg64| -> f64 {
        let (a, b) = ((k >> 32) as usize, (k & 0xFFFF_FFFF) as usize);
        let mean = 0.5 * (centroid[community[a] as usize * de + j] + centroid[community[b] as usize * de + j]);
        let z: f64 = StandardNormal.sample(r);
        let v = if r.random::<f64>() < 0.4 { 0.0 } else { (mean + 0.15 * z).clamp(0.0, 1.0) };
        (v * 1000.0).round() / 1000.0
    };
    const ROWS: usize = 1 << 18;
    write_gz_chunks(&raw.join("edge.csv.gz"), keys.len(), ROWS, |lo, hi, out| {
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
    // Features are drawn per chunk of rows (same chunks as written), so the sums below see
    // exactly the values in the file.
    let chunks: Vec<(usize, usize)> =
        (0..keys.len().div_ceil(ROWS)).map(|i| (i * ROWS, ((i + 1) * ROWS).min(keys.len()))).collect();
    let values: Vec<Vec<f64>> = chunks
        .par_iter()
        .map(|&(lo, hi)| {
            let mut r = rng(cfg.seed, STREAM_FEATURES, lo as u64);
            keys[lo..hi].iter().flat_map(|&k| (0..de).map(|j| feature(k, j, &mut r)).collect::<Vec<_>>()).collect()
        })
        .collect();
    write_gz_chunks(&raw.join("edge-feat.csv.gz"), keys.len(), ROWS, |lo, hi, out| {
        let v = &values[lo / ROWS];
        for i in 0..hi - lo {
            for j in 0..de {
                push_decimal3(out, v[i * de + j]);
                out.push(if j + 1 == de { b'\n' } else { b',' });
            }
        }
    })?;
    // Each node's full-graph sum (an undirected edge counts at both ends).
    let mut sums = vec![0f64; n * de];
    for (&(lo, _), v) in chunks.iter().zip(&values) {
        for (i, f) in v.chunks(de).enumerate() {
            let k = keys[lo + i];
            for end in [(k >> 32) as usize, (k & 0xFFFF_FFFF) as usize] {
                sums[end * de..][..de].iter_mut().zip(f).for_each(|(s, x)| *s += x);
            }
        }
    }
    drop((keys, values));
    pb.inc(1);

    pb.set_message("labels");
    let labels = task_labels(cfg, n, &sums, &species);
    write_gz_chunks(&raw.join("node-label.csv.gz"), n, (1 << 20) / t, |lo, hi, out| {
        for row in labels[lo * t..hi * t].chunks(t) {
            for (j, &y) in row.iter().enumerate() {
                out.push(b'0' + y);
                out.push(if j + 1 == t { b'\n' } else { b',' });
            }
        }
    })?;
    pb.inc(1);

    pb.set_message("species, split");
    let ids: Vec<i64> = (0..cfg.species).map(|s| SPECIES_IDS.get(s).copied().unwrap_or(1000 + s as i64)).collect();
    write_gz_chunks(&raw.join("node_species.csv.gz"), n, 1 << 20, |lo, hi, out| {
        for &s in &species[lo..hi] {
            push_uint(out, ids[s as usize] as u64);
            out.push(b'\n');
        }
    })?;
    write_text_gz(&raw.join("num-node-list.csv.gz"), &format!("{n}\n"))?;
    write_text_gz(&raw.join("num-edge-list.csv.gz"), &format!("{e}\n"))?;
    let split = dir.join("split").join("species");
    fs::create_dir_all(&split).at(&split)?;
    let s = cfg.species as u32;
    for (part, keep) in [("train", 0..s - 2), ("valid", s - 2..s - 1), ("test", s - 1..s)] {
        let text: String = (0..n).filter(|&i| keep.contains(&species[i])).map(|i| format!("{i}\n")).collect();
        write_text_gz(&split.join(format!("{part}.csv.gz")), &text)?;
    }
    fs::write(dir.join("RELEASE_v1.txt"), "mille synthetic graph (tools/synth --like proteins)\n").at(dir)?;
    fs::write(dir.join("gen_params.json"), serde_json::to_string_pretty(cfg).expect("serialisable")).at(dir)?;
    pb.inc(1);
    Ok(same as f64 / e.max(1) as f64)
}

/// Each node's species: the training species share 65 % of the nodes, then 16 % valid and
/// 19 % test (ogbn-proteins' 86,619 / 21,236 / 24,679), shuffled over nodes.
fn species_of(cfg: &SynthConfig, n: usize) -> Vec<u32> {
    let s = cfg.species;
    let train = (n as f64 * 0.65) as usize;
    let valid = (n as f64 * 0.16) as usize;
    let mut species: Vec<u32> = (0..n)
        .map(|i| match i {
            _ if i < train => (i * (s - 2) / train.max(1)) as u32,
            _ if i < train + valid => s as u32 - 2,
            _ => s as u32 - 1,
        })
        .collect();
    species.shuffle(&mut rng(cfg.seed, STREAM_SPLIT, 0));
    species
}

/// `tasks` binary labels per node, row-major: task `t` is positive where `w_t . f(v) +
/// b_{t, species} + noise` is in its top `p_t` (drawn in 5-40 %), `f(v)` the standardised
/// `log1p` of the node's sums.
fn task_labels(cfg: &SynthConfig, n: usize, sums: &[f64], species: &[u32]) -> Vec<u8> {
    let (de, t) = (cfg.edge_features, cfg.tasks);
    let mut f: Vec<f64> = sums.iter().map(|&x| x.ln_1p()).collect();
    for j in 0..de {
        let col = || (0..n).map(|i| f[i * de + j]);
        let mean = col().sum::<f64>() / n as f64;
        let sd = (col().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt().max(1e-9);
        for i in 0..n {
            f[i * de + j] = (f[i * de + j] - mean) / sd;
        }
    }
    let mut r = rng(cfg.seed, STREAM_LABELS, 1);
    let w: Vec<f64> = (0..t * de).map(|_| StandardNormal.sample(&mut r)).collect();
    let b: Vec<f64> = (0..t * cfg.species).map(|_| StandardNormal.sample(&mut r)).collect();
    let rate: Vec<f64> = (0..t).map(|_| r.random_range(0.05..0.40)).collect();
    let mut labels = vec![0u8; n * t];
    let columns: Vec<Vec<u8>> = (0..t)
        .into_par_iter()
        .map(|k| {
            let mut r = rng(cfg.seed, STREAM_DEGREES, 1000 + k as u64);
            let z: Vec<f64> = (0..n)
                .map(|i| {
                    let noise: f64 = StandardNormal.sample(&mut r);
                    let lin: f64 = (0..de).map(|j| w[k * de + j] * f[i * de + j]).sum();
                    lin / (de as f64).sqrt() + b[k * cfg.species + species[i] as usize] + 0.5 * noise
                })
                .collect();
            let mut sorted = z.clone();
            sorted.sort_by(f64::total_cmp);
            let cut = sorted[((1.0 - rate[k]) * (n - 1) as f64) as usize];
            z.iter().map(|&x| (x > cut) as u8).collect()
        })
        .collect();
    for (k, col) in columns.iter().enumerate() {
        for (i, &y) in col.iter().enumerate() {
            labels[i * t + k] = y;
        }
    }
    labels
}

/// `x` in [0, 1] with at most three decimals, shortest form (`0`, `0.5`, `0.125`).
fn push_decimal3(out: &mut Vec<u8>, x: f64) {
    let q = (x * 1000.0).round() as u64;
    push_uint(out, q / 1000);
    let f = q % 1000;
    if f == 0 {
        return;
    }
    out.push(b'.');
    let digits = [b'0' + (f / 100) as u8, b'0' + (f / 10 % 10) as u8, b'0' + (f % 10) as u8];
    let len = 3 - digits.iter().rev().take_while(|&&d| d == b'0').count();
    out.extend_from_slice(&digits[..len]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn three_decimals_in_shortest_form() {
        for (x, s) in [(0.0, "0"), (1.0, "1"), (0.5, "0.5"), (0.125, "0.125"), (0.1204, "0.12"), (0.0006, "0.001")] {
            let mut out = Vec::new();
            super::push_decimal3(&mut out, x);
            assert_eq!(String::from_utf8(out).unwrap(), s, "{x}");
        }
    }
}
