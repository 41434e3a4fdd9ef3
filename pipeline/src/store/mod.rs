//! The graph store: a folder of little-endian arrays, memory-mapped, described by `meta.json`.
//!
//! Arrays (N nodes, E directed CSR entries):
//! - `indptr` u64 `[N+1]`, `indices` u32 `[E]`: CSR by destination — row `v` lists the sources of
//!   the edges that point to `v` (its in-neighbours), sorted ascending. Undirected datasets hold
//!   both directions, so there row `v` is simply `v`'s neighbours.
//! - `edge_ids` u32 or u64 `[E]`: the OGB edge id of each CSR entry (after inverse edges were
//!   added: input edge `i` is `2i` as given and `2i+1` reversed).
//! - `edge_feat` f32 `[E, F]` in CSR order; `node_feat` f32 `[N, D]`.
//! - `labels`: i32 `[N]` (multi-class, -1 unlabelled) or i8 `[N, T]` (multi-label, -1 missing).
//! - `split/<name>/{train,valid,test}` u32 node ids; `node/<x>` i64 `[N, C]` extra node columns.

mod check;
mod meta;
mod verify;
mod writer;
pub mod zstd;

pub use meta::{
    ArrayMeta, DType, Element, FORMAT_NAME, FORMAT_VERSION, LabelKind, MAX_CLASSES, META_FILE, Meta,
    NODE_FEAT_FROM_EDGE_SUMS,
};
pub use verify::checksum_file;
pub use writer::{MmapArray, PositionalArray, StoreWriter, StreamArray, array_file_name};

use crate::error::{Error, IoContext, Result};
use memmap2::Mmap;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A read-only row-major matrix borrowed from the store.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a, T> {
    /// Row-major elements, `rows * cols` of them.
    pub data: &'a [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl<'a, T> Matrix<'a, T> {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// Node labels.
#[derive(Debug, Clone, Copy)]
pub enum Labels<'a> {
    /// One class per node; -1 marks an unlabelled node.
    MultiClass(&'a [i32]),
    /// T binary tasks per node; -1 marks a missing label.
    MultiLabel(Matrix<'a, i8>),
}

/// The train/valid/test node ids of one split.
#[derive(Debug, Clone, Copy)]
pub struct Split<'a> {
    /// Training nodes.
    pub train: &'a [u32],
    /// Validation nodes.
    pub valid: &'a [u32],
    /// Test nodes.
    pub test: &'a [u32],
}

/// Per-edge ids, stored narrow when they fit.
#[derive(Debug, Clone, Copy)]
pub enum Ids<'a> {
    /// Ids below 2^32.
    U32(&'a [u32]),
    /// Wider ids.
    U64(&'a [u64]),
}

impl Ids<'_> {
    /// Id at position `i`.
    pub fn get(&self, i: usize) -> u64 {
        match self {
            Ids::U32(s) => s[i] as u64,
            Ids::U64(s) => s[i],
        }
    }
    /// Number of ids.
    pub fn len(&self) -> usize {
        match self {
            Ids::U32(s) => s.len(),
            Ids::U64(s) => s.len(),
        }
    }
    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An opened store. Arrays are memory-mapped: opening is cheap and reads page in on demand.
pub struct Store {
    path: PathBuf,
    meta: Meta,
    maps: HashMap<String, Option<Mmap>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("name", &self.meta.name).finish()
    }
}

impl Store {
    /// Opens a store, checking its format version, that every array file has the size
    /// `meta.json` says, and the structure readers index with: `indptr` starts at 0, never
    /// decreases and ends at E; `indices`, edge ids and split ids are in range; labels are -1 or
    /// within `num_classes`. (Checksums are checked by [`Store::verify`], which reads everything.)
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let meta_path = path.join(META_FILE);
        let text = std::fs::read(&meta_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::store(&path, "is not a mille store (no meta.json)")
            } else {
                Error::io(&meta_path, e)
            }
        })?;
        let meta: Meta =
            serde_json::from_slice(&text).map_err(|e| Error::store(&meta_path, format!("unreadable: {e}")))?;
        if meta.format != FORMAT_NAME {
            return Err(Error::store(&meta_path, format!("format is {:?}, expected {FORMAT_NAME:?}", meta.format)));
        }
        if meta.version != FORMAT_VERSION {
            return Err(Error::store(
                &meta_path,
                format!(
                    "format version {} but this mille reads version {FORMAT_VERSION}; prepare the dataset again",
                    meta.version
                ),
            ));
        }
        let mut maps = HashMap::new();
        for (name, a) in &meta.arrays {
            if a.file.is_empty() || a.file.contains(['/', '\\']) || a.file.starts_with('.') {
                return Err(Error::store(
                    &meta_path,
                    format!("array {name}: file {:?} is not a plain file name inside the store", a.file),
                ));
            }
            let expected = a.checked_bytes().ok_or_else(|| {
                Error::store(
                    &meta_path,
                    format!("array {name}: shape {:?} is not a 1- or 2-dimensional array that fits in memory", a.shape),
                )
            })?;
            let file_path = path.join(&a.file);
            let file = File::open(&file_path).at(&file_path)?;
            let size = file.metadata().at(&file_path)?.len();
            if size != expected {
                return Err(Error::store(
                    &file_path,
                    format!("array {name} has {size} bytes, expected {} ({:?} x {:?})", a.bytes(), a.shape, a.dtype),
                ));
            }
            // SAFETY: store files are never modified in place; writers build a new folder and
            // rename it. A file truncated behind our back is detected by size at open.
            let map = unsafe { crate::mapped::map_unless_empty(&file, &file_path) }?;
            maps.insert(name.clone(), map);
        }
        let store = Store { path, meta, maps };
        store.check_counts()?;
        store.check_shapes()?;
        store.check_structure()?;
        Ok(store)
    }

    fn check_shapes(&self) -> Result<()> {
        let n = self.meta.num_nodes;
        let e = self.meta.num_edges;
        let want = |name: &str, rows: u64| -> Result<()> {
            match self.meta.arrays.get(name) {
                Some(a) if a.shape[0] != rows => Err(Error::store(
                    self.path.join(&a.file),
                    format!("array {name} has {} rows, expected {rows}", a.shape[0]),
                )),
                _ => Ok(()),
            }
        };
        for name in ["indptr", "indices"] {
            if !self.meta.arrays.contains_key(name) {
                return Err(Error::store(&self.path, format!("array {name} is missing")));
            }
        }
        want("indptr", n + 1)?;
        want("indices", e)?;
        want("edge_ids", e)?;
        want("edge_feat", e)?;
        want("node_feat", n)?;
        want("labels", n)?;
        Ok(())
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }
    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.meta.num_nodes as usize
    }
    /// Number of directed CSR entries.
    pub fn num_edges(&self) -> usize {
        self.meta.num_edges as usize
    }

    /// Raw bytes of an array, if present.
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.maps.get(name).map(|m| m.as_deref().unwrap_or(&[]))
    }

    /// Typed elements of array `name`; an error if it is missing or of another type.
    pub fn array<T: Element>(&self, name: &str) -> Result<&[T]> {
        let a = self
            .meta
            .arrays
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("store {} has no array {name}", self.path.display())))?;
        if a.dtype != T::DTYPE {
            return Err(Error::store(
                self.path.join(&a.file),
                format!("array {name} is {:?}, asked for {:?}", a.dtype, T::DTYPE),
            ));
        }
        let bytes = self.bytes(name).expect("mapped at open");
        if bytes.is_empty() {
            // An empty file is not mapped: its `&[]` has no alignment to cast from.
            return Ok(&[]);
        }
        Ok(bytemuck::cast_slice(bytes))
    }

    /// Typed matrix view of array `name`.
    pub fn matrix<T: Element>(&self, name: &str) -> Result<Matrix<'_, T>> {
        let data = self.array::<T>(name)?;
        let a = &self.meta.arrays[name];
        Ok(Matrix { data, rows: a.shape[0] as usize, cols: a.cols() })
    }

    /// CSR row pointers, `N + 1` of them.
    pub fn indptr(&self) -> &[u64] {
        self.array("indptr").expect("checked at open")
    }
    /// CSR column indices (source node of each entry).
    pub fn indices(&self) -> &[u32] {
        self.array("indices").expect("checked at open")
    }
    /// In-neighbours of `v` (sources of the edges into `v`), sorted.
    pub fn neighbors(&self, v: usize) -> &[u32] {
        let p = self.indptr();
        &self.indices()[p[v] as usize..p[v + 1] as usize]
    }
    /// In-degree of `v`.
    pub fn degree(&self, v: usize) -> usize {
        let p = self.indptr();
        (p[v + 1] - p[v]) as usize
    }
    /// OGB edge id of each CSR entry, if stored.
    pub fn edge_ids(&self) -> Option<Ids<'_>> {
        match self.meta.arrays.get("edge_ids")?.dtype {
            DType::U32 => self.array("edge_ids").ok().map(Ids::U32),
            DType::U64 => self.array("edge_ids").ok().map(Ids::U64),
            _ => None,
        }
    }
    /// Node features `[N, D]`, if the dataset has them.
    pub fn features(&self) -> Option<Matrix<'_, f32>> {
        self.matrix("node_feat").ok()
    }
    /// Edge features `[E, F]` in CSR order, if the dataset has them.
    pub fn edge_features(&self) -> Option<Matrix<'_, f32>> {
        self.matrix("edge_feat").ok()
    }
    /// Labels, if the dataset has them.
    pub fn labels(&self) -> Option<Labels<'_>> {
        match self.meta.label_kind? {
            LabelKind::MultiClass => self.array("labels").ok().map(Labels::MultiClass),
            LabelKind::MultiLabel => self.matrix("labels").ok().map(Labels::MultiLabel),
        }
    }
    /// Split names, e.g. `["sales_ranking"]`.
    pub fn split_names(&self) -> &[String] {
        &self.meta.splits
    }
    /// The node ids of split `name`.
    pub fn split(&self, name: &str) -> Result<Split<'_>> {
        if !self.meta.splits.iter().any(|s| s == name) {
            return Err(Error::Invalid(format!(
                "store {} has no split {name:?} (it has: {})",
                self.path.display(),
                self.meta.splits.join(", ")
            )));
        }
        Ok(Split {
            train: self.array(&format!("split/{name}/train"))?,
            valid: self.array(&format!("split/{name}/valid"))?,
            test: self.array(&format!("split/{name}/test"))?,
        })
    }
    /// The first split, which is the dataset's only one for every OGB node dataset.
    pub fn default_split(&self) -> Option<Split<'_>> {
        self.meta.splits.first().and_then(|s| self.split(s).ok())
    }
    /// Names of extra node arrays (e.g. `species`, `year`), without the `node/` prefix.
    pub fn node_array_names(&self) -> Vec<&str> {
        self.meta.arrays.keys().filter_map(|k| k.strip_prefix("node/")).collect()
    }
    /// Extra node array `name` (`[N, C]` i64), e.g. `species` for ogbn-proteins.
    pub fn node_array(&self, name: &str) -> Result<Matrix<'_, i64>> {
        self.matrix(&format!("node/{name}"))
    }
    /// Checks that no array file changed size since the store was opened (a file truncated
    /// under a mapping would fault on access instead of failing cleanly). One `stat` per array.
    pub fn check_unchanged(&self) -> Result<()> {
        for (name, a) in &self.meta.arrays {
            let p = self.path.join(&a.file);
            let len = std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?.len();
            if len != a.bytes() {
                return Err(Error::store(
                    &p,
                    format!("array {name} changed since it was opened: {len} bytes, expected {}", a.bytes()),
                ));
            }
        }
        Ok(())
    }

    /// Passes an access hint for array `name` to the kernel (e.g. random for scattered row
    /// gathers, sequential for part-by-part reads of a relabelled store). Best effort.
    pub fn advise(&self, name: &str, advice: memmap2::Advice) {
        if let Some(Some(m)) = self.maps.get(name)
            && let Err(e) = m.advise(advice)
        {
            tracing::debug!("madvise {name}: {e}");
        }
    }

    /// Recomputes every array's checksum; an error names the first array that changed.
    pub fn verify(&self) -> Result<()> {
        verify::verify(self)
    }
}
