//! `mille.Store`: an opened store, its arrays as read-only NumPy views of the memory map.

use crate::arrays::{Owner, coo, matrix, vector};
use crate::error::{mille, value};
use mille_pipeline::{Labels, Store};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;

/// A prepared mille store (`mille.prepare` or `tools/prepare` makes one), opened and checked.
#[pyclass(frozen, module = "mille._mille", name = "Store")]
pub struct PyStore {
    pub(crate) store: Arc<Store>,
}

impl PyStore {
    /// Class labels (the caller checked the kind).
    fn classes(&self) -> &[i32] {
        match self.store.labels() {
            Some(Labels::MultiClass(v)) => v,
            _ => unreachable!("checked by the caller"),
        }
    }
    /// Task labels as (values, rows, tasks) (the caller checked the kind).
    fn tasks(&self) -> (&[i8], usize, usize) {
        match self.store.labels() {
            Some(Labels::MultiLabel(m)) => (m.data, m.rows, m.cols),
            _ => unreachable!("checked by the caller"),
        }
    }
}

// SAFETY: the arrays view the store's read-only memory maps, which the `Arc<Store>` inside this
// frozen object keeps mapped while it lives.
unsafe impl Owner for PyStore {}

#[pymethods]
impl PyStore {
    /// Opens the store at `path`, checking its format and structure.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<PyStore> {
        let store = py.detach(|| Store::open(&path)).map_err(mille)?;
        Ok(PyStore { store: Arc::new(store) })
    }
    /// The store's folder.
    #[getter]
    fn path(&self) -> PathBuf {
        self.store.path().to_path_buf()
    }
    /// Dataset name, e.g. `ogbn-products`.
    #[getter]
    fn name(&self) -> String {
        self.store.meta().name.clone()
    }
    /// Nodes N.
    #[getter]
    fn num_nodes(&self) -> usize {
        self.store.num_nodes()
    }
    /// Directed CSR entries E (inverse edges included where the store added them).
    #[getter]
    fn num_edges(&self) -> usize {
        self.store.num_edges()
    }
    /// Node feature width D (0 without features).
    #[getter]
    fn feature_dim(&self) -> usize {
        self.store.features().map_or(0, |m| m.cols)
    }
    /// Edge feature width (0 without edge features).
    #[getter]
    fn edge_feature_dim(&self) -> usize {
        self.store.edge_features().map_or(0, |m| m.cols)
    }
    /// Classes of a multi-class store (the dataset's count); `None` for a multi-label one or
    /// without labels.
    #[getter]
    fn num_classes(&self) -> Option<u64> {
        match self.store.labels()? {
            Labels::MultiClass(_) => self.store.meta().num_classes,
            Labels::MultiLabel(_) => None,
        }
    }
    /// Binary tasks per node of a multi-label store (1 for a multi-class one).
    #[getter]
    fn num_tasks(&self) -> Option<u64> {
        self.store.meta().num_tasks
    }
    /// Whether labels are `[N, T]` binary tasks rather than one class per node.
    #[getter]
    fn is_multilabel(&self) -> bool {
        matches!(self.store.labels(), Some(Labels::MultiLabel(_)))
    }
    /// OGB's evaluation metric (`acc`, `rocauc`), if known.
    #[getter]
    fn metric(&self) -> Option<String> {
        self.store.meta().metric.clone()
    }
    /// Split names; the first is the default.
    #[getter]
    fn split_names(&self) -> Vec<String> {
        self.store.split_names().to_vec()
    }

    /// Node features, float32 `[N, D]`: a read-only view of the memory map (nothing is read
    /// until touched). `None` without features.
    fn features<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        this.get().store.features()?;
        Some(matrix(this, |s| rows(s.store.features()), false))
    }
    /// Labels, read-only: int32 `[N]` classes (-1 unlabelled), or int8 `[N, T]` tasks (-1
    /// missing) for a multi-label store. `None` without labels.
    fn labels<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        Some(match this.get().store.labels()? {
            Labels::MultiClass(_) => vector(this, |s| s.classes(), false),
            Labels::MultiLabel(_) => matrix(this, |s| s.tasks(), false),
        })
    }
    /// Edge features in CSR order, float32 `[E, F]`, read-only; `None` without them.
    fn edge_attr<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        this.get().store.edge_features()?;
        Some(matrix(this, |s| rows(s.store.edge_features()), false))
    }
    /// The CSR by target, read-only int64 `[N + 1]`: entries `indptr[v]..indptr[v+1]` of
    /// `indices` are the sources of the edges into `v`.
    fn indptr<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        vector(this, |s| bytemuck::cast_slice::<u64, i64>(s.store.indptr()), false)
    }
    /// For a shard (`mille.shard`, `tools/partition --shards`): the source store's row of each
    /// node, read-only uint32 `[N]`; `None` for any other store.
    #[getter]
    fn global_id<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        this.get().store.array::<u32>(mille_partition::GLOBAL_ID).ok()?;
        Some(vector(this, |s| s.store.array::<u32>(mille_partition::GLOBAL_ID).expect("checked above"), false))
    }
    /// The CSR's sources, read-only uint32 `[E]`.
    fn indices<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        vector(this, |s| s.store.indices(), false)
    }
    /// The whole graph as PyG's int64 `[2, E]` (row 0 sources, row 1 targets), in CSR order: a
    /// new array (E x 16 bytes).
    fn edge_index<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.store.clone();
        let flat = py.detach(move || coo(s.indptr(), s.indices()));
        let e = flat.len() / 2;
        PyArray1::from_vec(py, flat).reshape([2, e]).map(Bound::into_any)
    }
    /// The train/valid/test node ids of split `name` (default: the first), as
    /// `{"train", "valid", "test"}` int64 arrays (copies, ready to index tensors with).
    #[pyo3(signature = (name = None))]
    fn split<'py>(&self, py: Python<'py>, name: Option<&str>) -> PyResult<Bound<'py, PyDict>> {
        let name = match name {
            Some(n) => n.to_string(),
            None => self
                .store
                .split_names()
                .first()
                .cloned()
                .ok_or_else(|| value(format!("store {} has no split", self.store.path().display())))?,
        };
        let split = self.store.split(&name).map_err(|e| value(crate::error::message(&e)))?;
        let d = PyDict::new(py);
        for (key, ids) in [("train", split.train), ("valid", split.valid), ("test", split.test)] {
            d.set_item(key, PyArray1::from_vec(py, ids.iter().map(|&v| v as i64).collect()))?;
        }
        Ok(d)
    }
    /// Recomputes every array's checksum and compares with the store's metadata (reads it all).
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        let s = self.store.clone();
        py.detach(move || s.verify()).map_err(mille)
    }

    fn __repr__(&self) -> String {
        format!(
            "Store({:?}, name={:?}, num_nodes={}, num_edges={}, feature_dim={})",
            self.store.path().display().to_string(),
            self.store.meta().name,
            self.store.num_nodes(),
            self.store.num_edges(),
            self.feature_dim()
        )
    }
}

/// A matrix the caller checked is there, as (data, rows, cols).
fn rows(m: Option<mille_pipeline::Matrix<'_, f32>>) -> (&[f32], usize, usize) {
    let m = m.expect("checked by the caller");
    (m.data, m.rows, m.cols)
}
