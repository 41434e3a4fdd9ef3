//! Building the CSR (rows by destination) from a stream of input edges, in bounded memory.
//!
//! While edges are parsed, each CSR entry (dst, src, edge id) is appended to the scratch file
//! of its destination's bucket (a range of ~N/256 nodes) and in-degrees are counted. Then every
//! bucket is read back and scattered into its own contiguous slice of `indices`/`edge_ids`:
//! the random writes stay inside a few megabytes (cache- and TLB-friendly, unlike one scatter
//! over the whole array) and buckets run in parallel. Memory: degrees (4 bytes a node), a small
//! buffer per bucket, and one bucket at a time per thread.

use crate::error::{Error, IoContext, Result};
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
    degree: Vec<u32>,
    count: u64,
    max_entries: u64,
}

impl CsrBuilder {
    /// A builder for `n` nodes whose scratch files go into `tmp`.
    pub fn new(tmp: &Path, n: u64, inverse: bool) -> Self {
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
            degree: vec![0; n as usize],
            count: 0,
            max_entries: u32::MAX as u64,
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
        self.degree[dst as usize] += 1;
        let b = (dst >> self.shift) as usize;
        self.buffers[b].push([dst, src, id as u32]);
        if self.buffers[b].len() >= BUFFER {
            self.spill(b)?;
        }
        Ok(())
    }

    fn spill(&mut self, b: usize) -> Result<()> {
        let path = self.bucket_path(b);
        if self.files[b].is_none() {
            self.files[b] = Some(BufWriter::with_capacity(
                1 << 16,
                File::create(&path).at(&path)?,
            ));
        }
        let f = self.files[b].as_mut().expect("just opened");
        f.write_all(bytemuck::cast_slice(&self.buffers[b]))
            .at(&path)?;
        self.buffers[b].clear();
        Ok(())
    }

    /// Adds input edges `src[i] -> dst[i]` in input order (ids continue from the last call).
    pub fn push(&mut self, src: &[u32], dst: &[u32]) -> Result<()> {
        let per_edge = if self.inverse { 2 } else { 1 };
        if (self.count + src.len() as u64) * per_edge > self.max_entries {
            return Err(Error::Invalid(format!(
                "more than {} directed edges: mille stores edge ids as u32",
                self.max_entries
            )));
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

    /// Writes `indptr` (N+1), `indices` and `edge_ids` (E each, E = the entries pushed), rows
    /// sorted by source (ties by edge id).
    pub fn build(mut self, indptr: &mut [u64], indices: &mut [u32], ids: &mut [u32]) -> Result<()> {
        let n = self.n as usize;
        let mut acc = 0u64;
        for (i, &d) in self.degree.iter().enumerate() {
            indptr[i] = acc;
            acc += d as u64;
        }
        indptr[n] = acc;
        self.degree = Vec::new();
        if acc != indices.len() as u64 || acc != ids.len() as u64 {
            return Err(Error::Invalid(format!(
                "CSR has {acc} entries but {} were reserved",
                indices.len()
            )));
        }
        for b in 0..self.files.len() {
            if self.files[b].is_some() {
                self.spill(b)?;
                let path = self.bucket_path(b);
                self.files[b].take().expect("open").flush().at(&path)?;
            }
        }
        // Disjoint output slices, one per bucket.
        let mut work = Vec::with_capacity(self.buffers.len());
        let (mut idx_rest, mut id_rest) = (indices, ids);
        for (b, buf) in std::mem::take(&mut self.buffers).into_iter().enumerate() {
            let lo = ((b as u64) << self.shift).min(self.n) as usize;
            let hi = (((b as u64) + 1) << self.shift).min(self.n) as usize;
            let len = (indptr[hi] - indptr[lo]) as usize;
            let (a, rest_a) = std::mem::take(&mut idx_rest).split_at_mut(len);
            let (c, rest_c) = std::mem::take(&mut id_rest).split_at_mut(len);
            idx_rest = rest_a;
            id_rest = rest_c;
            let path = self.bucket_path(b);
            work.push((lo, hi, buf, path, a, c));
        }
        let indptr = &*indptr;
        work.into_par_iter()
            .try_for_each(|(lo, hi, mut buf, path, idx, id)| -> Result<()> {
                if path.exists() {
                    let mut on_disk: Vec<Entry> = Vec::new();
                    let bytes = fs::metadata(&path).at(&path)?.len() as usize;
                    on_disk.resize(bytes / 12, [0; 3]);
                    File::open(&path)
                        .at(&path)?
                        .read_exact(bytemuck::cast_slice_mut(&mut on_disk))
                        .at(&path)?;
                    let _ = fs::remove_file(&path);
                    // Spilled entries came first.
                    on_disk.append(&mut buf);
                    buf = on_disk;
                }
                let base = indptr[lo];
                let mut cursor: Vec<u32> = (lo..hi).map(|v| (indptr[v] - base) as u32).collect();
                for &[dst, src, eid] in &buf {
                    let c = &mut cursor[dst as usize - lo];
                    idx[*c as usize] = src;
                    id[*c as usize] = eid;
                    *c += 1;
                }
                drop(buf);
                sort_rows(&indptr[lo..=hi], idx, id);
                Ok(())
            })
    }
}

/// Sorts each row of one bucket by source id. Rows arrive in edge-id order, so ties keep it.
fn sort_rows(indptr: &[u64], idx: &mut [u32], id: &mut [u32]) {
    let base = indptr[0];
    // (source, edge id) packed in one u64: sorting plain integers is several times faster.
    let mut keys: Vec<u64> = Vec::new();
    for r in 0..indptr.len() - 1 {
        let (lo, hi) = ((indptr[r] - base) as usize, (indptr[r + 1] - base) as usize);
        let row = &idx[lo..hi];
        if row.windows(2).all(|x| x[0] <= x[1]) {
            continue;
        }
        keys.clear();
        keys.extend(
            row.iter()
                .zip(&id[lo..hi])
                .map(|(&s, &e)| (s as u64) << 32 | e as u64),
        );
        keys.sort_unstable();
        for (k, &key) in keys.iter().enumerate() {
            idx[lo + k] = (key >> 32) as u32;
            id[lo + k] = key as u32;
        }
    }
}
