//! A new store whose nodes are ordered by part, so that each part is one contiguous range of
//! rows (features, labels, CSR rows): reading a part's features becomes one sequential read,
//! which is what matters when they do not fit in memory.

use crate::error::{Error, Result};
use crate::partition::Partition;
use mille_pipeline::Store;
use mille_pipeline::store::{Meta, StoreWriter};
use std::path::Path;

/// Array of the relabelled store: the original id of every new node (u32 `[N]`).
pub const ORIGINAL_ID: &str = "relabel/original_id";
/// Array of the relabelled store: part `p` is nodes `part_ptr[p]..part_ptr[p+1]` (u64 `[k+1]`).
pub const PART_PTR: &str = "relabel/part_ptr";

/// The partition a relabelled store carries (`part_ptr`: part `p` is rows
/// `part_ptr[p]..part_ptr[p+1]`), or `None` for a store that was not relabelled.
pub fn stored_parts(store: &Store) -> Result<Option<Partition>> {
    if !store.meta().arrays.contains_key(PART_PTR) {
        return Ok(None);
    }
    let ptr: &[u64] = store.array(PART_PTR)?;
    let n = store.num_nodes() as u64;
    let ok = ptr.len() >= 2 && ptr[0] == 0 && ptr[ptr.len() - 1] == n && ptr.windows(2).all(|w| w[0] <= w[1]);
    if !ok {
        return Err(Error::Invalid(format!(
            "{}: {PART_PTR} must rise from 0 to the node count {n}",
            store.path().display()
        )));
    }
    let mut part = vec![0u32; n as usize];
    for (p, w) in ptr.windows(2).enumerate() {
        part[w[0] as usize..w[1] as usize].fill(p as u32);
    }
    Partition::new(ptr.len() as u32 - 1, part).map(Some)
}

/// Writes `store` relabelled by `p` into the new store `out`.
pub fn relabel(store: &Store, p: &Partition, out: &Path) -> Result<Store> {
    let n = store.num_nodes();
    if p.len() != n {
        return Err(Error::Invalid(format!("partition of {} nodes for a store of {n}", p.len())));
    }
    let order = p.ordered_nodes(); // new -> old
    let mut new_of = vec![0u32; n]; // old -> new
    for (new, &old) in order.iter().enumerate() {
        new_of[old as usize] = new as u32;
    }
    let meta = store.meta();
    let indptr = store.indptr();
    let indices = store.indices();
    let mut w = StoreWriter::create(out, false)?;

    // CSR rows in the new order, neighbours renamed and re-sorted; `pos` remembers each new
    // entry's old CSR position, to carry edge ids and edge features along.
    let mut new_ptr = Vec::with_capacity(n + 1);
    new_ptr.push(0u64);
    let mut idx_out = w.stream_array::<u32>("indices", None)?;
    let mut pos_file = Vec::new();
    let mut row: Vec<(u32, u32)> = Vec::new();
    let mut idx_buf = Vec::new();
    for &old in order {
        let (a, b) = (indptr[old as usize] as usize, indptr[old as usize + 1] as usize);
        row.clear();
        row.extend(indices[a..b].iter().enumerate().map(|(i, &u)| (new_of[u as usize], (a + i) as u32)));
        row.sort_unstable();
        idx_buf.clear();
        idx_buf.extend(row.iter().map(|r| r.0));
        idx_out.push(&idx_buf)?;
        pos_file.extend(row.iter().map(|r| r.1));
        new_ptr.push(new_ptr.last().unwrap() + (b - a) as u64);
    }
    idx_out.finish()?;
    w.put("indptr", &new_ptr, None)?;

    for (name, a) in &meta.arrays {
        let cols = (a.shape.len() > 1).then(|| a.cols() as u64);
        let row_bytes = a.cols() * a.dtype.size();
        let bytes = store.bytes(name).expect("mapped");
        let first = a.shape[0] as usize;
        if name == "indptr" || name == "indices" || name == PART_PTR || name == ORIGINAL_ID {
            continue;
        } else if name.starts_with("split/") {
            let ids: &[u32] = store.array(name)?;
            let mut mapped: Vec<u32> = ids.iter().map(|&v| new_of[v as usize]).collect();
            mapped.sort_unstable();
            w.put(name, &mapped, None)?;
        } else if first == store.num_edges() && name.starts_with("edge") {
            // Edge arrays follow their entries to the new CSR positions.
            let mut s = w.stream_raw(name, a.dtype, cols)?;
            gather_rows(bytes, row_bytes, pos_file.iter().map(|&r| r as usize), |buf| s.push(buf))?;
            s.finish()?;
        } else if first == n {
            // Node arrays follow their nodes.
            let mut s = w.stream_raw(name, a.dtype, cols)?;
            gather_rows(bytes, row_bytes, order.iter().map(|&r| r as usize), |buf| s.push(buf))?;
            s.finish()?;
        } else {
            return Err(Error::Invalid(format!("don't know how to relabel array {name} ({:?})", a.shape)));
        }
    }
    // Relabelling a relabelled store composes the maps back to the dataset's own ids.
    let original: Vec<u32> = match store.array::<u32>(ORIGINAL_ID) {
        Ok(prev) => order.iter().map(|&o| prev[o as usize]).collect(),
        Err(_) => order.to_vec(),
    };
    w.put(ORIGINAL_ID, &original, None)?;
    w.put(PART_PTR, p.part_ptr(), None)?;
    let new_meta = Meta {
        source: format!("{} | relabelled by a {}-part partition", meta.source, p.k()),
        arrays: Default::default(),
        ..meta.clone()
    };
    let path = w.finish(new_meta)?;
    Ok(Store::open(path)?)
}

/// Rows `rows` of a row-major byte array, in that order, handed to `out` a block at a time.
pub(crate) fn gather_rows(
    bytes: &[u8],
    row_bytes: usize,
    rows: impl Iterator<Item = usize>,
    mut out: impl FnMut(&[u8]) -> mille_pipeline::Result<()>,
) -> Result<()> {
    let mut buf = Vec::with_capacity((1 << 20).max(row_bytes));
    for r in rows {
        buf.extend_from_slice(&bytes[r * row_bytes..(r + 1) * row_bytes]);
        if buf.len() >= 1 << 20 {
            out(&buf)?;
            buf.clear();
        }
    }
    out(&buf)?;
    Ok(())
}
