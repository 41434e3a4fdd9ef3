//! The zstd-compressed form of a store, for storage and streaming.
//!
//! Each array becomes `<file>.zst`: independent zstd frames of `chunk_rows` rows each, so a reader
//! (e.g. a loader thread) can decode just the rows it needs. `index.json` holds the original
//! `meta.json` (checksums included, so a decompressed store is verified against the source) and
//! every frame's offset.

use super::meta::{ArrayMeta, Meta};
use super::{Store, StoreWriter};
use crate::error::{Error, IoContext, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Name of the index file of a compressed store.
pub const INDEX_FILE: &str = "index.json";
const FORMAT: &str = "mille-store-zstd";

/// Where each array's frames are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Frames {
    /// Rows per frame (the last may hold fewer).
    pub chunk_rows: u64,
    /// Byte offset of each frame in the `.zst` file, plus the file's length at the end.
    pub offsets: Vec<u64>,
}

/// `index.json` of a compressed store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    /// Always `mille-store-zstd`.
    pub format: String,
    /// The original store's metadata.
    pub meta: Meta,
    /// Frames per array.
    pub frames: BTreeMap<String, Frames>,
}

/// Sizes of one compression run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CompressStats {
    /// Bytes of the arrays.
    pub raw_bytes: u64,
    /// Bytes of the compressed arrays.
    pub compressed_bytes: u64,
}

impl CompressStats {
    /// raw / compressed.
    pub fn ratio(&self) -> f64 {
        self.raw_bytes as f64 / self.compressed_bytes.max(1) as f64
    }
}

/// Writes the compressed form of `store` into the new folder `out` (atomic like a store).
pub fn compress(store: &Store, out: &Path, level: i32, chunk_bytes: usize) -> Result<CompressStats> {
    let writer = StoreWriter::create(out, false)?;
    let tmp = writer.tmp_dir().to_path_buf();
    let mut frames = BTreeMap::new();
    let mut stats = CompressStats { raw_bytes: 0, compressed_bytes: 0 };
    for (name, a) in &store.meta().arrays {
        let bytes = store.bytes(name).expect("mapped");
        let row_bytes = a.cols() * a.dtype.size();
        let chunk_rows = (chunk_bytes / row_bytes).max(1);
        let chunks: Vec<&[u8]> = bytes.chunks(chunk_rows * row_bytes).collect();
        let packed: Vec<Vec<u8>> = chunks
            .par_iter()
            .map(|c| zstd::bulk::compress(c, level))
            .collect::<std::io::Result<_>>()
            .at(store.path().join(&a.file))?;
        let path = tmp.join(format!("{}.zst", a.file));
        let mut f = std::io::BufWriter::new(File::create(&path).at(&path)?);
        let mut offsets = vec![0u64];
        for p in &packed {
            f.write_all(p).at(&path)?;
            offsets.push(offsets.last().unwrap() + p.len() as u64);
        }
        f.flush().at(&path)?;
        stats.raw_bytes += bytes.len() as u64;
        stats.compressed_bytes += *offsets.last().unwrap();
        frames.insert(name.clone(), Frames { chunk_rows: chunk_rows as u64, offsets });
    }
    let index = Index { format: FORMAT.into(), meta: store.meta().clone(), frames };
    let index_path = tmp.join(INDEX_FILE);
    fs::write(&index_path, serde_json::to_vec_pretty(&index).expect("serialisable")).at(&index_path)?;
    // The folder holds no plain arrays; finishing with an empty plan just renames it.
    writer.finish_without_meta()?;
    Ok(stats)
}

/// A compressed store opened for reading rows of its arrays.
pub struct CompressedStore {
    path: PathBuf,
    index: Index,
    maps: BTreeMap<String, Option<memmap2::Mmap>>,
}

impl CompressedStore {
    /// Opens a compressed store and checks that every frame file has the length its index says.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let index_path = path.join(INDEX_FILE);
        let text = fs::read(&index_path).at(&index_path)?;
        let index: Index =
            serde_json::from_slice(&text).map_err(|e| Error::store(&index_path, format!("unreadable: {e}")))?;
        if index.format != FORMAT {
            return Err(Error::store(&index_path, format!("format is {:?}, expected {FORMAT:?}", index.format)));
        }
        let mut maps = BTreeMap::new();
        for (name, a) in &index.meta.arrays {
            let fr =
                index.frames.get(name).ok_or_else(|| Error::store(&index_path, format!("no frames for {name}")))?;
            let p = path.join(format!("{}.zst", a.file));
            let f = File::open(&p).at(&p)?;
            let len = f.metadata().at(&p)?.len();
            if Some(&len) != fr.offsets.last() {
                return Err(Error::store(&p, format!("{len} bytes, index says {:?}", fr.offsets.last())));
            }
            // SAFETY: read-only map of a file in a folder that is only ever replaced whole.
            let map = unsafe { crate::mapped::map_unless_empty(&f, &p) }?;
            maps.insert(name.clone(), map);
        }
        Ok(CompressedStore { path, index, maps })
    }

    /// The original store's metadata.
    pub fn meta(&self) -> &Meta {
        &self.index.meta
    }

    /// Decoded bytes of rows `rows` of array `name` (decoding only the frames that hold them).
    pub fn read_rows(&self, name: &str, rows: Range<u64>) -> Result<Vec<u8>> {
        let a = self.array_meta(name)?;
        let fr = &self.index.frames[name];
        let row_bytes = (a.cols() * a.dtype.size()) as u64;
        if rows.end > a.shape[0] || rows.start > rows.end {
            return Err(Error::Invalid(format!("rows {rows:?} out of range for {name} ({} rows)", a.shape[0])));
        }
        let first = rows.start / fr.chunk_rows;
        let last = rows.end.div_ceil(fr.chunk_rows);
        let mut out = Vec::with_capacity(((rows.end - rows.start) * row_bytes) as usize);
        for c in first..last {
            let frame = self.decode_frame(name, c as usize)?;
            let c0 = c * fr.chunk_rows;
            let lo = rows.start.max(c0) - c0;
            let hi = rows.end.min(c0 + fr.chunk_rows) - c0;
            out.extend_from_slice(&frame[(lo * row_bytes) as usize..(hi * row_bytes) as usize]);
        }
        Ok(out)
    }

    fn array_meta(&self, name: &str) -> Result<&ArrayMeta> {
        self.index
            .meta
            .arrays
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("{} has no array {name}", self.path.display())))
    }

    /// Rows per frame of array `name`.
    pub fn rows_per_frame(&self, name: &str) -> Result<u64> {
        self.array_meta(name)?;
        Ok(self.index.frames[name].chunk_rows)
    }

    /// Decoded bytes of frame `c` of array `name` (rows `c * rows_per_frame ..`).
    pub fn frame(&self, name: &str, c: usize) -> Result<Vec<u8>> {
        self.decode_frame(name, c)
    }

    fn decode_frame(&self, name: &str, c: usize) -> Result<Vec<u8>> {
        let a = self.array_meta(name)?;
        let fr = &self.index.frames[name];
        let data = self.maps[name].as_deref().unwrap_or(&[]);
        let src = &data[fr.offsets[c] as usize..fr.offsets[c + 1] as usize];
        let row_bytes = (a.cols() * a.dtype.size()) as u64;
        let cap = (fr.chunk_rows * row_bytes) as usize;
        zstd::bulk::decompress(src, cap)
            .map_err(|e| Error::store(self.path.join(format!("{}.zst", a.file)), format!("frame {c}: {e}")))
    }

    /// Decodes the whole store into a new plain store at `out`, verifying every checksum.
    pub fn decompress(&self, out: &Path) -> Result<Store> {
        let mut w = StoreWriter::create(out, false)?;
        for (name, a) in &self.index.meta.arrays {
            let fr = &self.index.frames[name];
            let frames = fr.offsets.len() - 1;
            let cols = (a.shape.len() > 1).then(|| a.cols() as u64);
            let mut s = w.stream_raw(name, a.dtype, cols)?;
            // Decode in parallel batches of frames, write in order.
            for batch in (0..frames).collect::<Vec<_>>().chunks(64) {
                let decoded: Vec<Vec<u8>> =
                    batch.par_iter().map(|&c| self.decode_frame(name, c)).collect::<Result<_>>()?;
                for d in decoded {
                    s.push(&d)?;
                }
            }
            s.finish()?;
        }
        let target = w.finish(Meta { arrays: BTreeMap::new(), ..self.index.meta.clone() })?;
        let store = Store::open(&target)?;
        if store.meta().arrays != self.index.meta.arrays {
            return Err(Error::store(&target, "decoded arrays do not match the compressed store's index"));
        }
        Ok(store)
    }
}
