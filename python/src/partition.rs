//! `mille.partition`: a store cut into parts, cached beside it as `tools/partition` does.

use crate::error::{mille, value};
use crate::store::PyStore;
use mille_partition::{Method, Partition, cached_or_compute, compute};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

/// Partitions `store` into `parts` parts with `method` (`random`, `metis`, `fennel` or `ldg`)
/// and returns each node's part, int32 `[N]`. With `cache` (the default) the result is kept in
/// the store's `partitions/` folder, keyed by the graph's checksums, method, parts and seed: a
/// repeated call is instant and is the partition `tools/partition` computes.
#[pyfunction]
#[pyo3(signature = (store, parts, method = "metis", seed = 0, cache = true))]
pub fn partition<'py>(
    py: Python<'py>,
    store: &PyStore,
    parts: u32,
    method: &str,
    seed: u64,
    cache: bool,
) -> PyResult<Bound<'py, PyArray1<i32>>> {
    let method: Method = method.parse().map_err(value)?;
    let s = store.store.clone();
    let p = py
        .detach(move || {
            if cache {
                cached_or_compute(&s, &method, parts, seed).map(|r| r.0)
            } else {
                compute(&s, &method, parts, seed)
            }
        })
        .map_err(mille)?;
    Ok(PyArray1::from_vec(py, p.parts().iter().map(|&q| q as i32).collect()))
}

/// Cuts `store` by `part` (each node's part, int32 `[N]`, as `partition` returns) into a shard
/// set at the new folder `out`: one store per part (its nodes, their features, labels and split
/// members, the edges among them) and `shards.json`, as `tools/partition --shards` writes it
/// for `tools/train --shards`. Returns the shard stores' folders, part 0 first; each opens as a
/// `Store` whose `global_id` maps its rows to `store`'s.
#[pyfunction]
#[pyo3(signature = (store, part, out, method = "given"))]
pub fn shard(
    py: Python<'_>,
    store: &PyStore,
    part: PyReadonlyArray1<'_, i32>,
    out: std::path::PathBuf,
    method: &str,
) -> PyResult<Vec<std::path::PathBuf>> {
    let p = from_array(store, part)?;
    let (s, method) = (store.store.clone(), method.to_string());
    let set = py.detach(move || mille_partition::shard(&s, &p, &method, &out, |_| {})).map_err(mille)?;
    Ok((0..set.len()).map(|r| set.shard_path(r)).collect())
}

/// A partition from Python: one part id (0..k) per node of `store`, k = largest id + 1.
pub fn from_array(store: &PyStore, part: PyReadonlyArray1<'_, i32>) -> PyResult<Partition> {
    let part = part.as_slice().map_err(|_| value("partition: expected a contiguous int32 array"))?;
    let n = store.store.num_nodes();
    if part.len() != n {
        return Err(value(format!("partition: {} entries for a store of {n} nodes", part.len())));
    }
    if let Some((v, &q)) = part.iter().enumerate().find(|&(_, &q)| q < 0) {
        return Err(value(format!("partition: node {v} has part {q}; parts are 0..k")));
    }
    let k = part.iter().max().map_or(0, |&q| q as u32 + 1);
    Partition::new(k, part.iter().map(|&q| q as u32).collect()).map_err(|e| value(crate::error::message(&e)))
}
