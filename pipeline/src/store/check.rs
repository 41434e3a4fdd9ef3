//! The structure checks of [`Store::open`]: after them every reader can index the arrays without
//! a bounds failure, whatever the files hold.
//!
//! One linear pass over the CSR, the edge ids, the splits and the labels (not the features: a
//! value there is a number, never an index). Its cost is measured by `tools/bench open`
//! (README, "Reliability"): a reader's pass over cached memory, a small fraction of a second per
//! GB, and on a cold store it pages in the arrays a loader reads first anyway.

use super::{DType, LabelKind, Store};
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Elements per parallel chunk: large enough that rayon's split costs nothing, small enough
/// that both cores share a 500 MB array evenly.
const CHUNK: usize = 1 << 20;

impl Store {
    /// Checks types and contents that readers index with (see the module notes).
    pub(super) fn check_structure(&self) -> Result<()> {
        self.check_dtypes()?;
        self.check_node_arrays()?;
        self.check_csr()?;
        self.check_edge_ids()?;
        self.check_splits()?;
        self.check_labels()
    }

    /// Extra node arrays (`node/<name>`) are `[N, C]`: readers index them by node.
    fn check_node_arrays(&self) -> Result<()> {
        let n = self.meta.num_nodes;
        for (name, a) in self.meta.arrays.iter().filter(|(k, _)| k.starts_with("node/")) {
            if a.shape.len() != 2 || a.shape[0] != n || a.shape[1] == 0 {
                return Err(Error::store(
                    self.path.join(&a.file),
                    format!("array {name} has shape {:?}, expected [{n}, C]: one row per node", a.shape),
                ));
            }
        }
        Ok(())
    }

    fn file_of(&self, name: &str) -> std::path::PathBuf {
        self.path.join(&self.meta.arrays[name].file)
    }

    /// Node and edge counts within what the arrays' types can index.
    pub(super) fn check_counts(&self) -> Result<()> {
        let (n, e) = (self.meta.num_nodes, self.meta.num_edges);
        let meta = self.path.join(super::META_FILE);
        if n == 0 || n >= u32::MAX as u64 {
            return Err(Error::store(meta, format!("num_nodes is {n}: expected 1 to {}", u32::MAX - 1)));
        }
        if e == 0 || e > u32::MAX as u64 {
            return Err(Error::store(
                meta,
                format!("num_edges is {e}: expected 1 to {} (a graph without edges is refused)", u32::MAX),
            ));
        }
        Ok(())
    }

    fn check_dtypes(&self) -> Result<()> {
        for (name, a) in &self.meta.arrays {
            let want: &[DType] = match name.as_str() {
                "indptr" => &[DType::U64],
                "indices" => &[DType::U32],
                "edge_ids" => &[DType::U32, DType::U64],
                "node_feat" | "edge_feat" => &[DType::F32],
                "labels" => match self.meta.label_kind {
                    Some(LabelKind::MultiClass) => &[DType::I32],
                    Some(LabelKind::MultiLabel) => &[DType::I8],
                    None => {
                        return Err(Error::store(
                            self.path.join(super::META_FILE),
                            "has a labels array but no label_kind",
                        ));
                    }
                },
                n if n.starts_with("split/") => &[DType::U32],
                n if n.starts_with("node/") => &[DType::I64],
                _ => continue,
            };
            if !want.contains(&a.dtype) {
                return Err(Error::store(
                    self.path.join(&a.file),
                    format!("array {name} is {:?}, expected {}", a.dtype, names(want)),
                ));
            }
        }
        Ok(())
    }

    fn check_csr(&self) -> Result<()> {
        let (n, e) = (self.num_nodes(), self.meta.num_edges);
        let indptr = self.indptr();
        if indptr[0] != 0 {
            return Err(Error::store(self.file_of("indptr"), format!("indptr[0] is {}, expected 0", indptr[0])));
        }
        if let Some(v) = first_decrease(indptr) {
            return Err(Error::store(
                self.file_of("indptr"),
                format!("indptr decreases at row {v}: {} then {}", indptr[v], indptr[v + 1]),
            ));
        }
        if indptr[n] != e {
            return Err(Error::store(
                self.file_of("indptr"),
                format!("indptr ends at {}, expected num_edges = {e}", indptr[n]),
            ));
        }
        let scan = scan_indices(indptr, self.indices(), n as u64);
        if let Some(i) = scan.first_too_large {
            return Err(Error::store(
                self.file_of("indices"),
                format!("indices[{i}] is {}, expected a node id below {n}", self.indices()[i]),
            ));
        }
        // Readers rely on sorted rows: the loader places self loops and searches rows by
        // bisection. Repeats (multi-edges) are allowed.
        if let Some((v, p)) = scan.unsorted.then(|| first_unsorted_row(indptr, self.indices())).flatten() {
            return Err(Error::store(
                self.file_of("indices"),
                format!(
                    "row {v} is not sorted: indices[{p}] = {} comes before indices[{}] = {} (each row lists its \
                     sources in increasing order)",
                    self.indices()[p],
                    p + 1,
                    self.indices()[p + 1]
                ),
            ));
        }
        Ok(())
    }

    fn check_edge_ids(&self) -> Result<()> {
        let Some(ids) = self.edge_ids() else { return Ok(()) };
        // A bidirected store without duplicates keeps OGB's ids (2i, 2i + 1) of the entries
        // it kept, so its ids run past its entry count.
        let e = if self.meta.undirected { 2 * self.meta.num_input_edges } else { self.meta.num_edges };
        let bad = match ids {
            super::Ids::U32(s) => first_at_least(s, e),
            super::Ids::U64(s) => first_at_least(s, e),
        };
        match bad {
            Some(i) => Err(Error::store(
                self.file_of("edge_ids"),
                format!("edge_ids[{i}] is {}, expected an edge id below {e}", ids.get(i)),
            )),
            None => Ok(()),
        }
    }

    fn check_splits(&self) -> Result<()> {
        let n = self.meta.num_nodes;
        for split in &self.meta.splits {
            for part in ["train", "valid", "test"] {
                let name = format!("split/{split}/{part}");
                if !self.meta.arrays.contains_key(&name) {
                    return Err(Error::store(&self.path, format!("split {split:?} has no array {name}")));
                }
                let ids: &[u32] = self.array(&name)?;
                if let Some(i) = first_at_least(ids, n) {
                    return Err(Error::store(
                        self.file_of(&name),
                        format!("{name}[{i}] is {}, expected a node id below {n}", ids[i]),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_labels(&self) -> Result<()> {
        let Some(a) = self.meta.arrays.get("labels") else { return Ok(()) };
        let file = self.path.join(&a.file);
        match self.meta.label_kind {
            Some(LabelKind::MultiClass) => {
                let k = match self.meta.num_classes {
                    Some(k) if k >= 1 && k <= i32::MAX as u64 => k as i32,
                    other => {
                        return Err(Error::store(
                            self.path.join(super::META_FILE),
                            format!("num_classes is {other:?}: a multi-class store needs 1 to {}", i32::MAX),
                        ));
                    }
                };
                if k as u64 > super::MAX_CLASSES && !self.meta.many_classes {
                    return Err(Error::store(
                        self.path.join(super::META_FILE),
                        format!(
                            "num_classes is {k}: more than {} classes (a model's output layer that wide holds \
                             {k} x its width weights) needs prepare's --allow-many-classes",
                            super::MAX_CLASSES
                        ),
                    ));
                }
                let labels: &[i32] = self.array("labels")?;
                if let Some(i) = first_outside(labels, -1, k - 1) {
                    return Err(Error::store(
                        file,
                        format!("labels[{i}] is {}, expected -1 (none) or a class in 0..={}", labels[i], k - 1),
                    ));
                }
            }
            Some(LabelKind::MultiLabel) => {
                let labels: &[i8] = self.array("labels")?;
                if let Some(i) = first_outside(labels, -1, 1) {
                    return Err(Error::store(
                        file,
                        format!("labels[{i}] is {}, expected -1 (missing), 0 or 1", labels[i]),
                    ));
                }
            }
            None => {}
        }
        Ok(())
    }
}

fn names(d: &[DType]) -> String {
    d.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(" or ")
}

/// The first position whose value is `>= limit`. Chunks are scanned in parallel with a
/// branch-free maximum (it vectorises); only a failing chunk is searched element by element.
fn first_at_least<T: Copy + Ord + Into<u64> + Send + Sync>(s: &[T], limit: u64) -> Option<usize> {
    s.par_chunks(CHUNK).enumerate().find_map_first(|(c, chunk)| {
        let max = chunk.iter().copied().max()?;
        (max.into() >= limit).then(|| c * CHUNK + chunk.iter().position(|&x| x.into() >= limit).expect("max is"))
    })
}

/// The first position whose value is outside `lo..=hi`.
fn first_outside<T: Copy + Ord + Send + Sync>(s: &[T], lo: T, hi: T) -> Option<usize> {
    s.par_chunks(CHUNK).enumerate().find_map_first(|(c, chunk)| {
        let (min, max) = (chunk.iter().copied().min()?, chunk.iter().copied().max()?);
        (min < lo || max > hi).then(|| c * CHUNK + chunk.iter().position(|&x| x < lo || x > hi).expect("bound is"))
    })
}

/// What one pass over `indices` finds: the first entry that is not a node id below `n`, and
/// whether some descent (`indices[p] > indices[p + 1]`) falls inside a row.
struct IndexScan {
    first_too_large: Option<usize>,
    unsorted: bool,
}

/// Entries per chunk of [`scan_indices`]: 1 MiB, so a chunk is still in cache when its row starts
/// are read back.
const SCAN: usize = 1 << 18;

/// Chunks in parallel. In each, one branch-free loop for the maximum and one counting descents
/// (both vectorise), then the descents at the row starts inside the chunk, read while the chunk
/// is in cache: rows are sorted exactly when every descent of the flat array is at a row start.
/// Only a chunk holding a bad id is searched element by element. `tools/bench open` on a 2.45
/// M-node, 122 M-entry store: without a sortedness check the open took 0.064 s per GB; with a
/// row-by-row scan 0.117; counting the row starts in a second pass over the rows 0.10; in the
/// chunk pass, as here, 0.076 (1.18x).
fn scan_indices(indptr: &[u64], indices: &[u32], n: u64) -> IndexScan {
    scan_in_chunks(indptr, indices, n, SCAN)
}

/// [`scan_indices`] with chunks of `size` entries (the tests cut small graphs into many).
fn scan_in_chunks(indptr: &[u64], indices: &[u32], n: u64, size: usize) -> IndexScan {
    let len = indices.len();
    let (first_too_large, unsorted) = (0..len.div_ceil(size))
        .into_par_iter()
        .map(|c| {
            let (a, b) = (c * size, ((c + 1) * size).min(len));
            let chunk = &indices[a..b];
            let max = chunk.iter().copied().max().unwrap_or(0);
            let bad = (u64::from(max) >= n).then(|| a + chunk.iter().position(|&x| u64::from(x) >= n).expect("max is"));
            // The pairs (p, p + 1) with p in the chunk; the last one reaches into the next chunk.
            let next = &indices[(a + 1).min(len)..(b + 1).min(len)];
            let descents = chunk.iter().zip(next).map(|(x, y)| u32::from(x > y)).sum::<u32>();
            // Row starts p + 1 of those pairs, each position once (empty rows share one; counting
            // it twice could hide a descent inside a row).
            let first = indptr.partition_point(|&q| q < a as u64 + 1);
            let last = indptr.partition_point(|&q| q < b as u64 + 1);
            let at_starts = (first.max(1)..last)
                .map(|v| {
                    let p = indptr[v] as usize;
                    u32::from(indptr[v - 1] < indptr[v] && p < len && indices[p - 1] > indices[p])
                })
                .sum::<u32>();
            (bad, descents != at_starts)
        })
        .reduce(
            || (None, false),
            |(b1, u1), (b2, u2)| {
                let first = match (b1, b2) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                };
                (first, u1 || u2)
            },
        );
    IndexScan { first_too_large, unsorted }
}

/// The first row whose sources decrease somewhere: `(row, position)` with `indices[position] >
/// indices[position + 1]` inside the row, searched row by row (after [`scan_indices`] found one).
fn first_unsorted_row(indptr: &[u64], indices: &[u32]) -> Option<(usize, usize)> {
    const ROWS: usize = 1 << 14;
    let n = indptr.len() - 1;
    (0..n.div_ceil(ROWS)).into_par_iter().find_map_first(|c| {
        (c * ROWS..((c + 1) * ROWS).min(n)).find_map(|v| {
            let row = &indices[indptr[v] as usize..indptr[v + 1] as usize];
            row.windows(2).position(|w| w[0] > w[1]).map(|k| (v, indptr[v] as usize + k))
        })
    })
}

/// The first row `v` with `indptr[v] > indptr[v + 1]`.
fn first_decrease(indptr: &[u64]) -> Option<usize> {
    indptr.windows(2).position(|w| w[0] > w[1])
}

#[cfg(test)]
mod tests {
    use super::{first_unsorted_row, scan_in_chunks};
    use rand::{Rng, SeedableRng};

    fn check(indptr: &[u64], indices: &[u32]) -> Option<(usize, usize)> {
        let found = first_unsorted_row(indptr, indices);
        for size in [1, 2, 3, 7, 1 << 18] {
            let scan = scan_in_chunks(indptr, indices, u64::MAX, size);
            assert_eq!(scan.unsorted, found.is_some(), "chunks of {size}: {indptr:?} {indices:?}");
        }
        found
    }

    /// Row by row, the obvious way.
    fn brute(indptr: &[u64], indices: &[u32]) -> Option<(usize, usize)> {
        (0..indptr.len() - 1).find_map(|v| {
            let (a, b) = (indptr[v] as usize, indptr[v + 1] as usize);
            (a..b.saturating_sub(1)).find(|&p| indices[p] > indices[p + 1]).map(|p| (v, p))
        })
    }

    #[test]
    fn empty_rows_sharing_a_boundary_do_not_hide_a_descent_inside_a_row() {
        // Rows [3], [], [1, 0]: two descents, one boundary (shared by rows 1 and 2).
        assert_eq!(check(&[0, 1, 1, 3], &[3, 1, 0]), Some((2, 1)));
        assert_eq!(check(&[0, 1, 1, 3], &[3, 0, 1]), None);
        assert_eq!(check(&[0, 0, 0], &[]), None);
    }

    #[test]
    fn the_counted_check_agrees_with_a_row_by_row_scan() {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(5);
        for _ in 0..300 {
            let n = rng.random_range(1..40);
            let mut indptr = vec![0u64];
            let mut indices = Vec::new();
            for _ in 0..n {
                let mut row: Vec<u32> = (0..rng.random_range(0..5)).map(|_| rng.random_range(0..8)).collect();
                if rng.random_bool(0.9) {
                    row.sort_unstable();
                }
                indices.extend(row);
                indptr.push(indices.len() as u64);
            }
            let bad = indices.iter().position(|&x| x >= 6);
            assert_eq!(scan_in_chunks(&indptr, &indices, 6, 3).first_too_large, bad);
            assert_eq!(check(&indptr, &indices), brute(&indptr, &indices), "{indptr:?} {indices:?}");
        }
    }
}
