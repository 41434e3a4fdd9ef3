//! The store's metadata file (`meta.json`): format version, counts, and one entry per array.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Name of the metadata file inside a store folder.
pub const META_FILE: &str = "meta.json";
/// Value of [`Meta::format`]: tells a mille store from any other JSON file.
pub const FORMAT_NAME: &str = "mille-store";
/// On-disk format version. Bumped whenever a reader of the old version would misread the new one.
pub const FORMAT_VERSION: u32 = 1;

/// Element type of a stored array; every array is little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 8-bit signed.
    I8,
    /// 32-bit signed.
    I32,
    /// 64-bit signed.
    I64,
    /// 32-bit unsigned.
    U32,
    /// 64-bit unsigned.
    U64,
    /// 32-bit float.
    F32,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 => 8,
        }
    }
}

/// A Rust element type that maps to a [`DType`].
pub trait Element: bytemuck::Pod + Send + Sync + 'static {
    /// The stored type.
    const DTYPE: DType;
}

macro_rules! element {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;
        }
    };
}
element!(i8, I8);
element!(i32, I32);
element!(i64, I64);
element!(u32, U32);
element!(u64, U64);
element!(f32, F32);

/// One array of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrayMeta {
    /// File name inside the store folder.
    pub file: String,
    /// Element type.
    pub dtype: DType,
    /// Shape: `[rows]` or `[rows, cols]`, row-major.
    pub shape: Vec<u64>,
    /// xxh3-64 of the file's bytes, as 16 hex digits.
    pub xxh3: String,
}

impl ArrayMeta {
    /// Number of elements.
    pub fn len(&self) -> u64 {
        self.shape.iter().product()
    }
    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Expected file size in bytes.
    pub fn bytes(&self) -> u64 {
        self.len() * self.dtype.size() as u64
    }
    /// Expected file size in bytes, or `None` when the shape is not 1- or 2-dimensional or its
    /// size overflows (a hostile `meta.json`): what [`Store::open`](super::Store::open) trusts.
    pub fn checked_bytes(&self) -> Option<u64> {
        if !(1..=2).contains(&self.shape.len()) {
            return None;
        }
        let len = self.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        let bytes = len.checked_mul(self.dtype.size() as u64)?;
        usize::try_from(bytes).ok().map(|_| bytes)
    }
    /// Columns per row (1 for a vector).
    pub fn cols(&self) -> usize {
        self.shape.get(1).copied().unwrap_or(1) as usize
    }
}

/// What the labels are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelKind {
    /// One class per node (`labels`: i32 `[N]`, -1 = unlabelled).
    MultiClass,
    /// Several binary tasks per node (`labels`: i8 `[N, T]`, -1 = missing).
    MultiLabel,
}

/// The whole metadata file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// Dataset name, e.g. `ogbn-products`.
    pub name: String,
    /// Where the data came from (a folder, a zip, a URL) and its OGB release, if known.
    pub source: String,
    /// Number of nodes N.
    pub num_nodes: u64,
    /// Number of directed CSR entries (edges as stored, inverse edges included).
    pub num_edges: u64,
    /// Number of edges in the input file (before inverse edges were added).
    pub num_input_edges: u64,
    /// Whether edge `i` of the input became CSR edges `2i` and `2i+1` (OGB's `add_inverse_edge`).
    pub add_inverse_edge: bool,
    /// Label kind, if the dataset has labels.
    pub label_kind: Option<LabelKind>,
    /// Number of classes (multi-class) — max label + 1.
    pub num_classes: Option<u64>,
    /// Number of tasks: 1 for multi-class, T for multi-label.
    pub num_tasks: Option<u64>,
    /// OGB evaluation metric (`acc`, `rocauc`), if known.
    pub metric: Option<String>,
    /// Split names (`split/<name>/{train,valid,test}` arrays exist for each).
    pub splits: Vec<String>,
    /// Every array, by name (`indptr`, `indices`, `edge_ids`, `node_feat`, `edge_feat`,
    /// `labels`, `split/<name>/<part>`, `node/<extra>`).
    pub arrays: BTreeMap<String, ArrayMeta>,
    /// Where `node_feat` came from when the input had no node features:
    /// [`NODE_FEAT_FROM_EDGE_SUMS`] (ogbn-proteins' layout). Absent: the input's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_feat_from: Option<String>,
    /// Whether `num_classes` above [`MAX_CLASSES`] was asked for explicitly
    /// (`tools/prepare --allow-many-classes`); without it such a store is refused at open.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub many_classes: bool,
    /// Whether the graph was made bidirected with duplicate entries removed
    /// (`tools/prepare --to-undirected`, as DGL's `to_bidirected`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub undirected: bool,
}

/// Most classes a store may have without [`Meta::many_classes`]: a head that wide already
/// holds a million rows of weights (ogbn-papers100M has 172 classes).
pub const MAX_CLASSES: u64 = 1_000_000;

/// [`Meta::node_feat_from`] of a store whose node features are each node's sum of its edges'
/// features over the whole graph (the authors' ogbn-proteins input).
pub const NODE_FEAT_FROM_EDGE_SUMS: &str = "edge-feat-sum";
