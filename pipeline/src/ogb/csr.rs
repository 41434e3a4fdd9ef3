//! Building the CSR (rows by destination) from a stream of input edges, in bounded memory.
//!
//! While edges are parsed, each CSR entry (dst, src, edge id) is appended to its destination's
//! bucket (a range of ~N/256 nodes): in memory while the entries fit a budget, else to the
//! bucket's scratch file. Then every bucket is read back on its
//! own: its in-degrees counted, its rows filled and sorted in a buffer of a few megabytes
//! (cache-friendly, unlike a scatter over the whole array), and written at its place in the
//! output files. Buckets run in parallel. Memory: a small buffer per bucket while parsing, and
//! one bucket at a time per thread while building.

use crate::error::{Error, IoContext, Result};
use crate::store::PositionalArray;
use rayon::prelude::*;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const TARGET_BUCKETS: u64 = 256;
const BUFFER: usize = 8192;

type Entry = [u32; 3];

/// Collects input edges; [`CsrBuilder::build`] writes the CSR.
pub(crate) struct CsrBuilder {
    tmp: PathBuf,
    n: u64,
    inverse: bool,
    shift: u32,
    buffers: Vec<Vec<Entry>>,
    files: Vec<Option<BufWriter<File>>>,
    lens: Vec<u64>,
    count: u64,
    /// Entries that may wait in memory; past it every bucket spills to its file.
    budget: u64,
    in_memory: u64,
    spilling: bool,
}

/// Per-thread buffers of the build, reused from bucket to bucket.
#[derive(Default)]
struct Scratch {
    entries: Vec<Entry>,
    indptr: Vec<u64>,
    cursor: Vec<u32>,
    idx: Vec<u32>,
    id: Vec<u32>,
    keys: Vec<u64>,
}

impl CsrBuilder {
    /// A builder for `n` nodes whose scratch files go into `tmp`.
    pub fn new(tmp: &Path, n: u64, inverse: bool, memory_budget: u64) -> Self {
        let mut shift = 0;
        while (n >> shift) > TARGET_BUCKETS {
            shift += 1;
        }
        let buckets = ((n >> shift) + 1) as usize;
        CsrBuilder {
            tmp: tmp.to_path_buf(),
            n,
            inverse,
            shift,
            buffers: (0..buckets).map(|_| Vec::new()).collect(),
            files: (0..buckets).map(|_| None).collect(),
            lens: vec![0; buckets],
            count: 0,
            budget: memory_budget / std::mem::size_of::<Entry>() as u64,
            in_memory: 0,
            spilling: false,
        }
    }

    /// Input edges seen so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn bucket_path(&self, b: usize) -> PathBuf {
        self.tmp.join(format!("scratch.bucket.{b}"))
    }

    #[inline]
    fn add(&mut self, dst: u32, src: u32, id: u64) -> Result<()> {
        let b = (dst >> self.shift) as usize;
        self.buffers[b].push([dst, src, id as u32]);
        if self.spilling {
            if self.buffers[b].len() >= BUFFER {
                self.spill(b)?;
            }
        } else {
            self.in_memory += 1;
            if self.in_memory > self.budget {
                self.spilling = true;
                for b in 0..self.buffers.len() {
                    self.spill(b)?;
                    self.buffers[b] = Vec::with_capacity(BUFFER);
                }
            }
        }
        Ok(())
    }

    fn spill(&mut self, b: usize) -> Result<()> {
        let path = self.bucket_path(b);
        if self.files[b].is_none() {
            self.files[b] = Some(BufWriter::with_capacity(1 << 16, File::create(&path).at(&path)?));
        }
        let f = self.files[b].as_mut().expect("just opened");
        if self.buffers[b].is_empty() {
            return Ok(());
        }
        f.write_all(bytemuck::cast_slice(&self.buffers[b])).at(&path)?;
        self.lens[b] += self.buffers[b].len() as u64;
        self.buffers[b].clear();
        Ok(())
    }

    /// Adds input edges `src[i] -> dst[i]` in input order (ids continue from the last call).
    pub fn push(&mut self, src: &[u32], dst: &[u32]) -> Result<()> {
        let per_edge = if self.inverse { 2 } else { 1 };
        if (self.count + src.len() as u64) * per_edge > u32::MAX as u64 {
            return Err(Error::Invalid(format!("more than {} directed edges: mille stores edge ids as u32", u32::MAX)));
        }
        for (&u, &v) in src.iter().zip(dst) {
            let i = self.count;
            if self.inverse {
                self.add(v, u, 2 * i)?;
                self.add(u, v, 2 * i + 1)?;
            } else {
                self.add(v, u, i)?;
            }
            self.count += 1;
        }
        Ok(())
    }

    /// Writes `indptr` (N+1), `indices` and `edge_ids` (one per entry pushed), each row sorted by
    /// source (ties by edge id).
    ///
    /// `cancel`, checked before each bucket, stops the build with [`Error::Cancelled`]: another
    /// input of the same prepare failed, and `indptr` (8 bytes per node the input claims) need
    /// not be written out.
    pub fn build(
        mut self,
        indptr: &mut [u64],
        indices: &PositionalArray<u32>,
        ids: &PositionalArray<u32>,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<()> {
        for b in 0..self.files.len() {
            if self.files[b].is_some() {
                self.spill(b)?;
                let path = self.bucket_path(b);
                self.files[b].take().expect("open").flush().at(&path)?;
            } else {
                self.lens[b] += self.buffers[b].len() as u64;
            }
        }
        // Where each bucket starts in the CSR, and its own slice of indptr.
        let n = self.n as usize;
        let mut starts = Vec::with_capacity(self.lens.len());
        let mut acc = 0u64;
        for &l in &self.lens {
            starts.push(acc);
            acc += l;
        }
        indptr[n] = acc;
        let mut work = Vec::new();
        let mut rest = &mut indptr[..n];
        for (b, buf) in std::mem::take(&mut self.buffers).into_iter().enumerate() {
            let lo = ((b as u64) << self.shift).min(self.n) as usize;
            let hi = (((b as u64) + 1) << self.shift).min(self.n) as usize;
            let (mine, tail) = std::mem::take(&mut rest).split_at_mut(hi - lo);
            rest = tail;
            let path = self.files_written(b).then(|| self.bucket_path(b));
            work.push((lo, starts[b], self.lens[b] as usize, buf, path, mine));
        }
        work.into_par_iter().try_for_each_init(Scratch::default, |sc, (lo, start, len, buf, path, rows)| {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            sc.entries.clear();
            if let Some(path) = path {
                sc.entries.resize(len - buf.len(), [0; 3]);
                File::open(&path).at(&path)?.read_exact(bytemuck::cast_slice_mut(&mut sc.entries)).at(&path)?;
                let _ = fs::remove_file(&path);
            }
            // Spilled entries came first; all are in edge-id order.
            sc.entries.extend_from_slice(&buf);
            drop(buf);
            fill_bucket(sc, lo, rows.len());
            for (r, &p) in rows.iter_mut().zip(&sc.indptr) {
                *r = start + p;
            }
            indices.write_at(start, &sc.idx)?;
            ids.write_at(start, &sc.id)
        })
    }

    fn files_written(&self, b: usize) -> bool {
        self.bucket_path(b).exists()
    }
}

/// Counts, places and sorts one bucket's entries into `sc.indptr` (local), `sc.idx`, `sc.id`.
fn fill_bucket(sc: &mut Scratch, lo: usize, rows: usize) {
    sc.indptr.clear();
    sc.indptr.resize(rows + 1, 0);
    for e in &sc.entries {
        sc.indptr[e[0] as usize - lo + 1] += 1;
    }
    for r in 0..rows {
        sc.indptr[r + 1] += sc.indptr[r];
    }
    sc.cursor.clear();
    sc.cursor.extend(sc.indptr[..rows].iter().map(|&p| p as u32));
    let len = sc.entries.len();
    sc.idx.resize(len, 0);
    sc.id.resize(len, 0);
    for &[dst, src, eid] in &sc.entries {
        let c = &mut sc.cursor[dst as usize - lo];
        sc.idx[*c as usize] = src;
        sc.id[*c as usize] = eid;
        *c += 1;
    }
    // Rows arrive in edge-id order, so sorting (source, edge id) keeps ties in that order.
    // Both packed in one u64: sorting plain integers is several times faster than pairs.
    for r in 0..rows {
        let (a, b) = (sc.indptr[r] as usize, sc.indptr[r + 1] as usize);
        let row = &sc.idx[a..b];
        if row.windows(2).all(|x| x[0] <= x[1]) {
            continue;
        }
        sc.keys.clear();
        sc.keys.extend(row.iter().zip(&sc.id[a..b]).map(|(&s, &e)| (s as u64) << 32 | e as u64));
        sc.keys.sort_unstable();
        for (k, &key) in sc.keys.iter().enumerate() {
            sc.idx[a + k] = (key >> 32) as u32;
            sc.id[a + k] = key as u32;
        }
    }
}

/// Removes repeated entries from every row of a built CSR (rows sorted by source, ties by edge
/// id: the first of each run, the lowest edge id, stays), in place: `indptr` is rewritten and
/// the `indices` and `edge_ids` files are compacted and truncated. Returns the entries removed.
/// With inverse edges added first this is DGL's `to_bidirected` (an edge given in both
/// directions, or twice, becomes one entry each way; a self loop stays once).
pub(crate) fn dedupe_rows(indptr: &mut [u64], indices: &Path, ids: &Path) -> Result<u64> {
    let open = |p: &Path| fs::OpenOptions::new().read(true).write(true).open(p).at(p);
    let (fi, fd) = (open(indices)?, open(ids)?);
    let total = *indptr.last().unwrap_or(&0) as usize;
    if total == 0 {
        return Ok(0);
    }
    // SAFETY: this prepare's own files in its private temporary folder, mapped once each.
    let mut mi = unsafe { memmap2::MmapMut::map_mut(&fi) }.at(indices)?;
    // SAFETY: as above.
    let mut md = unsafe { memmap2::MmapMut::map_mut(&fd) }.at(ids)?;
    let idx: &mut [u32] = bytemuck::cast_slice_mut(&mut mi[..total * 4]);
    let id: &mut [u32] = bytemuck::cast_slice_mut(&mut md[..total * 4]);
    let mut w = 0usize;
    let mut start = 0usize;
    for r in 0..indptr.len() - 1 {
        let end = indptr[r + 1] as usize;
        indptr[r] = w as u64;
        for k in start..end {
            if k == start || idx[k] != idx[k - 1] {
                (idx[w], id[w]) = (idx[k], id[k]);
                w += 1;
            }
        }
        start = end;
    }
    let last = indptr.len() - 1;
    indptr[last] = w as u64;
    mi.flush().at(indices)?;
    md.flush().at(ids)?;
    drop((mi, md));
    fi.set_len(w as u64 * 4).at(indices)?;
    fd.set_len(w as u64 * 4).at(ids)?;
    Ok((total - w) as u64)
}
