//! How good a partition is: edge cut, balance, empty parts.

use crate::partition::Partition;
use mille_pipeline::Store;
use serde::Serialize;

/// Quality figures of a partition.
#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    /// CSR entries (self loops excluded) whose two ends are in different parts.
    pub cut_edges: u64,
    /// `cut_edges` over all CSR entries that are not self loops.
    pub edge_cut_fraction: f64,
    /// Largest part over the mean part size.
    pub balance: f64,
    /// Parts with no node.
    pub empty_parts: u32,
    /// Smallest and largest part.
    pub min_part: u64,
    /// Largest part.
    pub max_part: u64,
}

/// Measures `p` on `store`.
pub fn quality(store: &Store, p: &Partition) -> Quality {
    let indptr = store.indptr();
    let indices = store.indices();
    let parts = p.parts();
    let (mut cut, mut total) = (0u64, 0u64);
    for v in 0..store.num_nodes() {
        let pv = parts[v];
        for &u in &indices[indptr[v] as usize..indptr[v + 1] as usize] {
            if u as usize != v {
                total += 1;
                cut += u64::from(parts[u as usize] != pv);
            }
        }
    }
    let sizes = p.sizes();
    let max = sizes.iter().copied().max().unwrap_or(0);
    let min = sizes.iter().copied().min().unwrap_or(0);
    let mean = p.len() as f64 / p.k() as f64;
    Quality {
        cut_edges: cut,
        edge_cut_fraction: cut as f64 / total.max(1) as f64,
        balance: if mean > 0.0 { max as f64 / mean } else { 0.0 },
        empty_parts: sizes.iter().filter(|&&s| s == 0).count() as u32,
        min_part: min,
        max_part: max,
    }
}
