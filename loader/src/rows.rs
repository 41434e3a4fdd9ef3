//! Where a builder reads node feature rows from: the store's memory map, the loader's huge-page
//! copy ([`crate::Residency`]), or the zstd form of the store. One trait, so the gather in
//! [`crate::Builder`] does not switch on the source, and a new source (a remote shard, a GPU
//! cache) is one more implementation.

use crate::error::Result;
use crate::resident::Resident;
use mille_pipeline::store::zstd::CompressedStore;
use mille_pipeline::{Matrix, Store, prefetch};
use std::sync::Arc;

/// How many nodes ahead rows are prefetched: a batch's nodes are scattered over the store, so
/// each row starts with a cache miss that the hardware prefetcher can't predict.
pub(crate) const AHEAD: usize = 12;

/// A source of node feature rows.
pub(crate) trait RowSource: Send {
    /// Appends the feature rows of `nodes` to `out` (cleared first) and returns the row width
    /// (0, and nothing appended, when the store has no node features).
    fn gather(&mut self, nodes: &[u32], out: &mut Vec<f32>) -> Result<usize>;
}

/// The rows a loader reads: from `compressed` when given, else from the in-memory copy when it
/// holds the features, else from the store's map.
pub(crate) fn source(
    store: &Arc<Store>,
    resident: Option<&Arc<Resident>>,
    compressed: Option<&Arc<CompressedStore>>,
) -> Result<Box<dyn RowSource>> {
    if let Some(c) = compressed {
        let rows_per_frame = c.rows_per_frame("node_feat")?;
        return Ok(Box::new(Frames { store: c.clone(), rows_per_frame, last: None }));
    }
    Ok(match resident.filter(|r| r.features().is_some()) {
        Some(r) => Box::new(InMemory { store: store.clone(), copy: r.clone() }),
        None => Box::new(Mapped(store.clone())),
    })
}

/// The store's memory map.
struct Mapped(Arc<Store>);

impl RowSource for Mapped {
    fn gather(&mut self, nodes: &[u32], out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        Ok(self.0.features().map_or(0, |f| copy_rows(f, nodes, out)))
    }
}

/// The loader's huge-page copy of the features.
struct InMemory {
    store: Arc<Store>,
    copy: Arc<Resident>,
}

impl RowSource for InMemory {
    fn gather(&mut self, nodes: &[u32], out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        let data = self.copy.features().expect("an in-memory source holds the features");
        Ok(self.store.features().map_or(0, |f| copy_rows(Matrix { data, ..f }, nodes, out)))
    }
}

/// The zstd form of the store, frames decoded in the builder's thread; the last decoded frame is
/// kept (consecutive rows, as on a relabelled store read part by part, decode each frame once).
struct Frames {
    store: Arc<CompressedStore>,
    /// Rows of `node_feat` per frame.
    rows_per_frame: u64,
    /// The last frame decoded: its index and its rows.
    last: Option<(usize, Vec<f32>)>,
}

impl RowSource for Frames {
    fn gather(&mut self, nodes: &[u32], out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        let cols = self.store.meta().arrays["node_feat"].cols();
        out.reserve(nodes.len() * cols);
        for &v in nodes {
            let (frame, row) = ((v as u64 / self.rows_per_frame) as usize, (v as u64 % self.rows_per_frame) as usize);
            if self.last.as_ref().is_none_or(|(f, _)| *f != frame) {
                let bytes = self.store.frame("node_feat", frame)?;
                self.last = Some((frame, bytemuck::pod_collect_to_vec(&bytes)));
            }
            let data = &self.last.as_ref().expect("just filled").1;
            out.extend_from_slice(&data[row * cols..(row + 1) * cols]);
        }
        Ok(cols)
    }
}

/// One row copy per node (sequential runs on a relabelled store), prefetching rows ahead.
fn copy_rows(f: Matrix<'_, f32>, nodes: &[u32], out: &mut Vec<f32>) -> usize {
    out.reserve(nodes.len() * f.cols);
    let row_bytes = f.cols * 4;
    let mut w = RowWriter::new(out, f.cols);
    for (i, &v) in nodes.iter().enumerate() {
        if let Some(&ahead) = nodes.get(i + AHEAD) {
            let r = f.row(ahead as usize);
            for off in (0..row_bytes).step_by(64) {
                prefetch((r.as_ptr() as *const u8).wrapping_add(off));
            }
        }
        w.push(f.row(v as usize));
    }
    w.finish();
    f.cols
}

/// Appends rows of `cols` floats to a vector whose capacity is already reserved, with
/// non-temporal stores when every row is 16-byte aligned: a batch's features (about 100 MB at
/// products scale) are far larger than the cache, and streaming stores skip reading each
/// destination line before overwriting it, a third of the memory traffic of a row gather.
struct RowWriter<'a> {
    out: &'a mut Vec<f32>,
    cols: usize,
    stream: bool,
}

impl<'a> RowWriter<'a> {
    fn new(out: &'a mut Vec<f32>, cols: usize) -> Self {
        let stream = cfg!(target_arch = "x86_64")
            && cols.is_multiple_of(4)
            && (out.as_ptr() as usize + out.len() * 4).is_multiple_of(16);
        RowWriter { out, cols, stream }
    }

    #[inline(always)]
    fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.cols);
        #[cfg(target_arch = "x86_64")]
        if self.stream && self.out.capacity() - self.out.len() >= self.cols {
            use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
            let len = self.out.len();
            // SAFETY: the capacity check above leaves room for the row; the destination is
            // 16-byte aligned (checked in `new`, and rows are a multiple of 16 bytes); the new
            // elements are initialised before `set_len` exposes them.
            unsafe {
                let dst = self.out.as_mut_ptr().add(len);
                for k in (0..self.cols).step_by(4) {
                    _mm_stream_ps(dst.add(k), _mm_loadu_ps(row.as_ptr().add(k)));
                }
                self.out.set_len(len + self.cols);
            }
            return;
        }
        self.out.extend_from_slice(row);
    }

    /// Orders the streaming stores before anything that follows (another thread reads them).
    fn finish(self) {
        #[cfg(target_arch = "x86_64")]
        if self.stream {
            // SAFETY: a store fence has no preconditions.
            unsafe { std::arch::x86_64::_mm_sfence() };
        }
    }
}
