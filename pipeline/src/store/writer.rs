//! Writing a store atomically: every array goes into a hidden temporary folder beside the
//! target, and only a complete store (checksums and `meta.json` written) is renamed into place.
//! A failed or killed write leaves no folder at the target path, so nothing half-written opens;
//! every file and both folders are synced around the rename, so neither does a power cut.

use super::meta::{ArrayMeta, DType, Element, META_FILE, Meta};
use crate::error::{Error, IoContext, Result};
use memmap2::MmapMut;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use xxhash_rust::xxh3::Xxh3;

/// File name of array `name` inside a store (`split/public/train` -> `split.public.train.bin`).
pub fn array_file_name(name: &str) -> String {
    format!("{}.bin", name.replace('/', "."))
}

struct Planned {
    file: String,
    dtype: DType,
    /// `None` for a vector, `Some(cols)` for a row-major matrix.
    cols: Option<u64>,
}

/// Builds a store in a temporary folder; [`StoreWriter::finish`] makes it appear at its path.
pub struct StoreWriter {
    target: PathBuf,
    tmp: PathBuf,
    overwrite: bool,
    planned: BTreeMap<String, Planned>,
    /// Checksums of streamed arrays, computed while they were written.
    sums: Arc<Mutex<BTreeMap<String, String>>>,
    durable: bool,
    done: bool,
}

impl StoreWriter {
    /// Starts a store that will live at `target`. Fails if `target` exists, unless `overwrite`.
    pub fn create(target: &Path, overwrite: bool) -> Result<Self> {
        if target.exists() && !overwrite {
            return Err(Error::store(target, "already exists (remove it or pass --force)"));
        }
        let parent = parent_of(target);
        fs::create_dir_all(&parent).at(&parent)?;
        let name = target
            .file_name()
            .ok_or_else(|| Error::store(target, "a store path needs a folder name"))?
            .to_string_lossy()
            .into_owned();
        remove_stale_partials(&parent, &name);
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).at(&tmp)?;
        }
        fs::create_dir(&tmp).at(&tmp)?;
        Ok(StoreWriter {
            target: target.to_path_buf(),
            tmp,
            overwrite,
            planned: BTreeMap::new(),
            sums: Arc::default(),
            durable: true,
            done: false,
        })
    }

    /// Whether [`StoreWriter::finish`] syncs every file and folder to the disk before and after
    /// the rename (the default). Off only to measure what durability costs (`bench prepare`).
    pub fn set_durable(&mut self, durable: bool) {
        self.durable = durable;
    }

    /// The temporary folder; scratch files put here vanish with it.
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    fn plan(&mut self, name: &str, dtype: DType, cols: Option<u64>) -> Result<PathBuf> {
        let file = array_file_name(name);
        let path = self.tmp.join(&file);
        if self.planned.insert(name.to_string(), Planned { file, dtype, cols }).is_some() {
            return Err(Error::Invalid(format!("array {name} written twice")));
        }
        Ok(path)
    }

    /// A zero-filled array of `rows` x `cols` (`cols = None`: a vector) mapped for random writes.
    pub fn mmap_array<T: Element>(&mut self, name: &str, rows: u64, cols: Option<u64>) -> Result<MmapArray<T>> {
        let path = self.plan(name, T::DTYPE, cols)?;
        MmapArray::create(&path, rows * cols.unwrap_or(1))
    }

    /// An array of `rows` x `cols` written at positions, by any thread (`pwrite`; no mapping, so
    /// no page is zero-filled first and none counts in our RSS).
    pub fn positional_array<T: Element>(
        &mut self,
        name: &str,
        rows: u64,
        cols: Option<u64>,
    ) -> Result<PositionalArray<T>> {
        let path = self.plan(name, T::DTYPE, cols)?;
        let file = fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).at(&path)?;
        file.set_len(rows * cols.unwrap_or(1) * T::DTYPE.size() as u64).at(&path)?;
        Ok(PositionalArray { file, path, _t: PhantomData })
    }

    /// An array written row by row, sequentially (no mapping: its pages stay out of our RSS).
    pub fn stream_array<T: Element>(&mut self, name: &str, cols: Option<u64>) -> Result<StreamArray<T>> {
        self.stream_as(name, T::DTYPE, cols)
    }

    /// Like [`StoreWriter::stream_array`] for data that arrives as bytes of type `dtype`.
    pub fn stream_raw(&mut self, name: &str, dtype: DType, cols: Option<u64>) -> Result<StreamArray<u8>> {
        self.stream_as(name, dtype, cols)
    }

    fn stream_as<T: bytemuck::Pod>(&mut self, name: &str, dtype: DType, cols: Option<u64>) -> Result<StreamArray<T>> {
        let path = self.plan(name, dtype, cols)?;
        let file = File::create(&path).at(&path)?;
        Ok(StreamArray {
            out: BufWriter::with_capacity(1 << 20, file),
            path,
            name: name.to_string(),
            hash: Xxh3::new(),
            sums: self.sums.clone(),
            _t: PhantomData,
        })
    }

    /// Writes a whole array from memory.
    pub fn put<T: Element>(&mut self, name: &str, data: &[T], cols: Option<u64>) -> Result<()> {
        let mut s = self.stream_array::<T>(name, cols)?;
        s.push(data)?;
        s.finish()
    }

    /// Checksums every array, writes `meta.json` and renames the folder into place.
    /// `meta.arrays` is filled here; everything else in `meta` is the caller's.
    pub fn finish(mut self, mut meta: Meta) -> Result<PathBuf> {
        let mut arrays = BTreeMap::new();
        for (name, p) in &self.planned {
            let path = self.tmp.join(&p.file);
            let bytes = fs::metadata(&path).at(&path)?.len();
            let row_bytes = p.cols.unwrap_or(1) * p.dtype.size() as u64;
            if row_bytes == 0 || bytes % row_bytes != 0 {
                return Err(Error::store(
                    &path,
                    format!("{bytes} bytes is not a whole number of {row_bytes}-byte rows"),
                ));
            }
            let rows = bytes / row_bytes;
            let shape = match p.cols {
                None => vec![rows],
                Some(c) => vec![rows, c],
            };
            arrays.insert(name.clone(), ArrayMeta { file: p.file.clone(), dtype: p.dtype, shape, xxh3: String::new() });
        }
        let known = std::mem::take(&mut *self.sums.lock().expect("not poisoned"));
        let sums: Vec<Result<(String, String)>> = {
            use rayon::prelude::*;
            arrays
                .par_iter()
                .map(|(name, a)| {
                    let path = self.tmp.join(&a.file);
                    if self.durable {
                        crate::durable::sync_file(&path)?;
                    }
                    match known.get(name) {
                        Some(sum) => Ok((name.clone(), sum.clone())),
                        None => Ok((name.clone(), super::verify::checksum_file(&path)?)),
                    }
                })
                .collect()
        };
        for s in sums {
            let (name, sum) = s?;
            arrays.get_mut(&name).expect("array just listed").xxh3 = sum;
        }
        meta.arrays = arrays;
        let meta_path = self.tmp.join(META_FILE);
        let text = serde_json::to_vec_pretty(&meta).map_err(|e| Error::store(&meta_path, e.to_string()))?;
        let mut f = File::create(&meta_path).at(&meta_path)?;
        f.write_all(&text).at(&meta_path)?;
        if self.durable {
            f.sync_all().at(&meta_path)?;
        }
        drop(f);
        self.commit()
    }

    /// Renames the folder into place as it is, without arrays or `meta.json` (for folders that
    /// describe themselves, like the compressed form).
    pub fn finish_without_meta(mut self) -> Result<PathBuf> {
        self.commit()
    }

    fn commit(&mut self) -> Result<PathBuf> {
        let parent = parent_of(&self.target);
        if self.durable {
            // The folder's own entries (its file names) reach the disk before it is published.
            crate::durable::sync_dir(&self.tmp)?;
        }
        if self.target.exists() {
            if !self.overwrite {
                return Err(Error::store(&self.target, "appeared while it was being written"));
            }
            let old = parent.join(format!(".{}.old-{}", file_name(&self.target), std::process::id()));
            fs::rename(&self.target, &old).at(&self.target)?;
            fs::rename(&self.tmp, &self.target).at(&self.target)?;
            fs::remove_dir_all(&old).at(&old)?;
        } else {
            fs::rename(&self.tmp, &self.target).at(&self.target)?;
        }
        if self.durable {
            crate::durable::sync_dir(&parent)?;
        }
        self.done = true;
        Ok(self.target.clone())
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Removes `.NAME.partial-PID` folders left by writers that were killed (their PID is gone).
fn remove_stale_partials(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = n.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok())
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// A writable memory-mapped array of the store being written.
pub struct MmapArray<T> {
    map: Option<MmapMut>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Element> MmapArray<T> {
    /// Creates (zero-filled) and maps `len` elements at `path`.
    pub fn create(path: &Path, len: u64) -> Result<Self> {
        let file = fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).at(path)?;
        let bytes = len * T::DTYPE.size() as u64;
        file.set_len(bytes).at(path)?;
        // SAFETY: the file was just created by this process in a private temporary folder.
        let map = if bytes == 0 { None } else { Some(unsafe { MmapMut::map_mut(&file) }.at(path)?) };
        Ok(MmapArray { map, len: len as usize, _t: PhantomData })
    }
    /// The elements.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match &mut self.map {
            Some(m) => bytemuck::cast_slice_mut(&mut m[..]),
            None => &mut [],
        }
    }
    /// The elements, read-only.
    pub fn as_slice(&self) -> &[T] {
        match &self.map {
            Some(m) => bytemuck::cast_slice(&m[..]),
            None => &[],
        }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A sequentially written array of the store being written; its checksum is computed on the
/// way, so finishing the store need not read it back.
pub struct StreamArray<T> {
    out: BufWriter<File>,
    path: PathBuf,
    name: String,
    hash: Xxh3,
    sums: Arc<Mutex<BTreeMap<String, String>>>,
    _t: PhantomData<T>,
}

impl<T: bytemuck::Pod> StreamArray<T> {
    /// Appends elements.
    pub fn push(&mut self, data: &[T]) -> Result<()> {
        let bytes = bytemuck::cast_slice(data);
        self.hash.update(bytes);
        self.out.write_all(bytes).at(&self.path)
    }
    /// Flushes the file and records its checksum.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush().at(&self.path)?;
        let sum = format!("{:016x}", self.hash.digest());
        self.sums.lock().expect("not poisoned").insert(self.name, sum);
        Ok(())
    }
}

/// An array of the store being written, filled at element offsets (see
/// [`StoreWriter::positional_array`]).
pub struct PositionalArray<T> {
    file: File,
    path: PathBuf,
    _t: PhantomData<T>,
}

impl<T: Element> PositionalArray<T> {
    /// Writes `data` starting at element `offset`.
    pub fn write_at(&self, offset: u64, data: &[T]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(bytemuck::cast_slice(data), offset * T::DTYPE.size() as u64).at(&self.path)
    }
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
