//! Wide synthetic node features for an existing store, for out-of-core tests: a copy of the
//! store whose `node_feat` is `D` columns of class centroid + uniform noise (unit variance),
//! generated in parallel chunks and written sequentially, so it can be larger than memory.

use crate::error::{Error, Result};
use crate::seed::Seed;
use crate::store::{Labels, Meta, Store, StoreWriter};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use rayon::prelude::*;
use std::path::Path;

/// Writes `store` with `dim` synthetic feature columns into the new store `out`.
pub fn widen_features(store: &Store, out: &Path, dim: usize, noise: f32, seed: u64) -> Result<Store> {
    let n = store.num_nodes();
    let labels: Vec<i32> = match store.labels() {
        Some(Labels::MultiClass(y)) => y.to_vec(),
        _ => vec![0; n],
    };
    let classes = labels.iter().copied().max().unwrap_or(0).max(0) as usize + 1;
    let mut w = StoreWriter::create(out, false)?;
    for (name, a) in &store.meta().arrays {
        if name == "node_feat" {
            continue;
        }
        let cols = (a.shape.len() > 1).then(|| a.cols() as u64);
        let mut s = w.stream_raw(name, a.dtype, cols)?;
        s.push(store.bytes(name).expect("mapped"))?;
        s.finish()?;
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed ^ 0xC0FFEE);
    let centroids: Vec<f32> = (0..classes * dim).map(|_| uniform(&mut rng)).collect();
    let mut feat = w.stream_array::<f32>("node_feat", Some(dim as u64))?;
    let rows_per_chunk = ((8 << 20) / (dim * 4)).max(1);
    let chunks: Vec<usize> = (0..n.div_ceil(rows_per_chunk)).collect();
    for group in chunks.chunks(rayon::current_num_threads() * 2) {
        let parts: Vec<Vec<f32>> = group
            .par_iter()
            .map(|&c| {
                let (lo, hi) = (c * rows_per_chunk, ((c + 1) * rows_per_chunk).min(n));
                let mut r = Pcg64Mcg::seed_from_u64(Seed::new(seed).chunk(c as u64).get());
                let mut out = Vec::with_capacity((hi - lo) * dim);
                for y in &labels[lo..hi] {
                    let base = &centroids[(*y).max(0) as usize * dim..][..dim];
                    out.extend(base.iter().map(|&c| c + noise * uniform(&mut r)));
                }
                out
            })
            .collect();
        for p in parts {
            feat.push(&p)?;
        }
    }
    feat.finish()?;
    let meta = Meta {
        source: format!("{} | node features replaced by {dim} synthetic columns", store.meta().source),
        arrays: Default::default(),
        node_feat_from: None,
        ..store.meta().clone()
    };
    if n == 0 {
        return Err(Error::Invalid("an empty store has no nodes to widen".into()));
    }
    Store::open(w.finish(meta)?)
}

/// Uniform on [-√3, √3) (unit variance).
#[inline]
fn uniform(r: &mut Pcg64Mcg) -> f32 {
    (r.random::<f32>() - 0.5) * 3.464_101_6
}
