//! Partitions cached beside the store, keyed by everything that determines them: the graph's
//! content checksums (and the split's, when it weights the balance), the method with all its
//! options, k and the seed. A changed graph or option never finds a stale partition.

use crate::error::{Result, io};
use crate::partition::Partition;
use crate::{Method, compute};
use mille_pipeline::Store;
use std::path::{Path, PathBuf};

/// Folder of a store's cached partitions.
pub fn partition_dir(store: &Store) -> PathBuf {
    store.path().join("partitions")
}

/// The cache key of a partitioning request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CacheKey {
    /// Checksums of the arrays the result depends on (`indptr`, `indices`, maybe a split).
    pub content: Vec<String>,
    /// Method and options.
    pub method: Method,
    /// Parts.
    pub k: u32,
    /// Seed.
    pub seed: u64,
}

impl CacheKey {
    /// The key of `method`/`k`/`seed` on `store`.
    pub fn new(store: &Store, method: &Method, k: u32, seed: u64) -> Self {
        let arrays = &store.meta().arrays;
        let mut names = vec!["indptr".to_string(), "indices".to_string()];
        if let Method::Metis(o) = method
            && let Some(s) = &o.balance_train_of
        {
            names.push(format!("split/{s}/train"));
        }
        let content = names.iter().map(|n| format!("{n}:{}", arrays.get(n).map_or("-", |a| a.xxh3.as_str()))).collect();
        CacheKey { content, method: method.clone(), k, seed }
    }

    /// File name: readable prefix plus a hash of the whole key.
    pub fn file_name(&self) -> String {
        let json = serde_json::to_string(self).expect("serialisable");
        let h = xxhash_rust::xxh3::xxh3_64(json.as_bytes());
        format!("{}-k{}-s{}-{h:016x}.part", self.method.name(), self.k, self.seed)
    }
}

/// The cached partition for this request, or a new one (then saved). Returns the partition,
/// its file, and whether it came from the cache.
pub fn cached_or_compute(store: &Store, method: &Method, k: u32, seed: u64) -> Result<(Partition, PathBuf, bool)> {
    let dir = partition_dir(store);
    let path = dir.join(CacheKey::new(store, method, k, seed).file_name());
    if path.is_file() {
        match Partition::load(&path) {
            Ok(p) if p.len() == store.num_nodes() && p.k() == k => return Ok((p, path, true)),
            Ok(p) => tracing::warn!(
                "recomputing cached partition {}: it holds {} nodes in {} parts, expected {} in {k}",
                path.display(),
                p.len(),
                p.k(),
                store.num_nodes()
            ),
            Err(e) => tracing::warn!("recomputing cached partition: {e}"),
        }
    }
    let p = compute(store, method, k, seed)?;
    save_in(&dir, &path, &p)?;
    Ok((p, path, false))
}

/// [`cached_or_compute`], but a partition that cannot be cached (a read-only store) is used
/// from memory with a warning instead of failing the run that needs it.
pub fn cached_or_compute_or_keep(
    store: &Store,
    method: &Method,
    k: u32,
    seed: u64,
) -> Result<(Partition, PathBuf, bool)> {
    let dir = partition_dir(store);
    let path = dir.join(CacheKey::new(store, method, k, seed).file_name());
    if path.is_file()
        && let Ok(p) = Partition::load(&path)
        && p.len() == store.num_nodes()
        && p.k() == k
    {
        return Ok((p, path, true));
    }
    let p = compute(store, method, k, seed)?;
    if let Err(e) = save_in(&dir, &path, &p) {
        tracing::warn!(
            "could not cache the partition ({e}): using it from memory; every run on this store computes it again"
        );
    }
    Ok((p, path, false))
}

fn save_in(dir: &Path, path: &Path, p: &Partition) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    p.save(path)
}
