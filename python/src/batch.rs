//! One batch as Python sees it: the Rust loader's [`Batch`] plus the few arrays PyG wants in
//! another type (int64 node ids, `edge_index`, int64 or float labels), made in the consumer
//! thread with the GIL released. Every array is a view of this object's memory.

use crate::arrays::{Owner, coo, matrix, vector};
use mille_loader::{Batch, BatchLabels, Recycler};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Labels in the types PyG's losses take.
enum Targets {
    None,
    /// A class per node, -1 where unlabelled.
    Class(Vec<i64>),
    /// `tasks` 0/1 targets per node, -1 where missing.
    Tasks {
        tasks: usize,
        values: Vec<f32>,
    },
}

/// A mini-batch: the subgraph induced by `n_id`, in local ids `0..num_nodes`.
#[pyclass(frozen, module = "mille._mille", name = "Batch")]
pub struct PyBatch {
    /// `None` only while dropping (the buffers go back to the loader's pool).
    batch: Option<Batch>,
    n_id: Vec<i64>,
    /// `[2, E]` row-major: sources, then targets.
    edge_index: Vec<i64>,
    targets: Targets,
    recycler: Recycler,
}

impl PyBatch {
    /// Builds the PyG-typed arrays of `batch` (call without the GIL: it touches every edge).
    pub fn new(batch: Batch, recycler: Recycler) -> PyBatch {
        let n_id = batch.nodes.iter().map(|&v| v as i64).collect();
        let edge_index = coo(&batch.indptr, &batch.indices);
        let targets = match &batch.labels {
            BatchLabels::None => Targets::None,
            BatchLabels::MultiClass(v) => Targets::Class(v.iter().map(|&c| c as i64).collect()),
            BatchLabels::MultiLabel { tasks, values } => {
                Targets::Tasks { tasks: *tasks, values: values.iter().map(|&t| t as f32).collect() }
            }
        };
        PyBatch { batch: Some(batch), n_id, edge_index, targets, recycler }
    }

    fn b(&self) -> &Batch {
        self.batch.as_ref().expect("present until dropped")
    }

    /// Class targets (the caller checked the kind).
    fn classes(&self) -> &[i64] {
        match &self.targets {
            Targets::Class(v) => v,
            _ => unreachable!("checked by the caller"),
        }
    }

    /// Task targets as (values, rows, tasks) (the caller checked the kind).
    fn tasks(&self) -> (&[f32], usize, usize) {
        match &self.targets {
            Targets::Tasks { tasks, values } => (values, values.len() / (*tasks).max(1), *tasks),
            _ => unreachable!("checked by the caller"),
        }
    }
}

impl Drop for PyBatch {
    fn drop(&mut self) {
        if let Some(b) = self.batch.take() {
            self.recycler.recycle(b);
        }
    }
}

// SAFETY: a batch's buffers are filled before it becomes a Python object and are never moved
// or written from Rust afterwards; `Drop` hands them back only when no array needs them.
unsafe impl Owner for PyBatch {}

#[pymethods]
impl PyBatch {
    /// Global node ids, int64 `[B]`, ascending; local id `i` is `n_id[i]`.
    #[getter]
    fn n_id<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        vector(this, |b| &b.n_id, true)
    }
    /// Edges of the induced subgraph, int64 `[2, E]` in local ids: row 0 sources, row 1 targets
    /// (PyG's order), grouped by target.
    #[getter]
    fn edge_index<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        matrix(this, |b| (&b.edge_index, 2, b.edge_index.len() / 2), true)
    }
    /// Node features, float32 `[B, D]`.
    #[getter]
    fn x<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        matrix(this, |b| (&b.b().features, b.b().nodes.len(), b.b().feature_dim), true)
    }
    /// Labels: int64 `[B]` classes (-1 unlabelled), or float32 `[B, T]` 0/1 targets (-1
    /// missing) for a multi-label store; `None` when the store has no labels.
    #[getter]
    fn y<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        match &this.get().targets {
            Targets::None => None,
            Targets::Class(_) => Some(vector(this, |b| b.classes(), true)),
            Targets::Tasks { .. } => Some(matrix(this, |b| b.tasks(), true)),
        }
    }
    /// Training nodes of the loader's split, bool `[B]`.
    #[getter]
    fn train_mask<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        vector(this, |b| &b.b().train_mask, true)
    }
    /// Validation nodes, bool `[B]`.
    #[getter]
    fn val_mask<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        vector(this, |b| &b.b().valid_mask, true)
    }
    /// Test nodes, bool `[B]`.
    #[getter]
    fn test_mask<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        vector(this, |b| &b.b().test_mask, true)
    }
    /// Edge features, float32 `[E, F]` in `edge_index`'s order (zeros for added self loops);
    /// `None` when the store has none or the loader was made with `edge_features=False`.
    #[getter]
    fn edge_attr<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        let with = this.get().b().edge_feature_dim > 0;
        with.then(|| matrix(this, |b| (&b.b().edge_features, b.b().indices.len(), b.b().edge_feature_dim), true))
    }
    /// Position of each edge in the store's CSR (`Store.edge_attr()[e_id]` is `edge_attr`),
    /// int64 `[E]`; -1 for an added self loop.
    #[getter]
    fn e_id<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        // u64::MAX (an added self loop) reads as -1.
        vector(this, |b| bytemuck::cast_slice::<u64, i64>(&b.b().edge_pos), true)
    }
    /// The local CSR by target, int64 `[B + 1]`: edges `indptr[i]..indptr[i+1]` enter node `i`.
    #[getter]
    fn indptr<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        vector(this, |b| bytemuck::cast_slice::<u64, i64>(&b.b().indptr), true)
    }
    /// The local CSR's sources, uint32 `[E]` (`edge_index[0]` in the loader's own type).
    #[getter]
    fn indices<'py>(this: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        vector(this, |b| &b.b().indices, true)
    }
    /// GraphSAINT loss weight of each node, float32 `[B]` (`S / (C_v T)`: summed over a batch's
    /// training nodes it estimates their mean); `None` unless the loader draws GraphSAINT
    /// subgraphs.
    #[getter]
    fn node_norm<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        let with = this.get().b().saint.is_some();
        with.then(|| vector(this, |b| &b.b().saint.as_ref().expect("checked").node_norm, true))
    }
    /// GraphSAINT aggregator weight of each edge, float32 `[E]` in `edge_index`'s order
    /// (`C_v / C_{u,v}`, 1 for an added self loop); `None` unless GraphSAINT.
    #[getter]
    fn edge_norm<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        let with = this.get().b().saint.is_some();
        with.then(|| vector(this, |b| &b.b().saint.as_ref().expect("checked").edge_norm, true))
    }
    /// Each node's in-degree in the whole graph (with the self loop the loader adds), uint32
    /// `[B]`, for an aggregator normalised as on the full graph; `None` unless GraphSAINT.
    #[getter]
    fn degree<'py>(this: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        let with = this.get().b().saint.is_some();
        with.then(|| vector(this, |b| &b.b().saint.as_ref().expect("checked").degree, true))
    }
    /// Seed nodes of a neighbour-sampled batch (its first `batch_size` nodes, where the loss
    /// goes); every node of an induced subgraph.
    #[getter]
    fn batch_size(&self) -> usize {
        self.b().num_seeds()
    }
    /// Nodes added at each hop of a neighbour-sampled batch, seeds first (PyG's
    /// `num_sampled_nodes`); `[num_nodes]` for an induced subgraph.
    #[getter]
    fn num_sampled_nodes(&self) -> Vec<usize> {
        let b = self.b();
        match &b.hops {
            None => vec![b.nodes.len()],
            Some(hops) => hops.windows(2).map(|w| w[1] - w[0]).collect(),
        }
    }
    /// Edges sampled at each hop (PyG's `num_sampled_edges`; hop h's edges are the h-th run of
    /// `edge_index`'s columns); `[num_edges]` for an induced subgraph.
    #[getter]
    fn num_sampled_edges(&self) -> Vec<usize> {
        let b = self.b();
        match &b.hops {
            None => vec![b.indices.len()],
            Some(hops) => {
                hops.windows(2).take(b.num_hops()).map(|w| (b.indptr[w[1]] - b.indptr[w[0]]) as usize).collect()
            }
        }
    }
    /// Evaluation view this batch belongs to (0 for training plans).
    #[getter]
    fn view(&self) -> u32 {
        self.b().view
    }
    /// Position of this batch in its epoch.
    #[getter]
    fn index(&self) -> usize {
        self.b().index
    }
    /// Nodes B.
    #[getter]
    fn num_nodes(&self) -> usize {
        self.b().nodes.len()
    }
    /// Edges E.
    #[getter]
    fn num_edges(&self) -> usize {
        self.b().indices.len()
    }
    /// Bytes of data the batch holds.
    #[getter]
    fn nbytes(&self) -> usize {
        self.b().bytes() + 8 * (self.n_id.len() + self.edge_index.len())
    }

    /// A `torch_geometric.data.Data` with `x`, `edge_index`, `y`, the three masks, `n_id`,
    /// `e_id`, `edge_attr`, `node_norm`, `edge_norm` (when present) and `view`, as tensors
    /// sharing this batch's memory.
    fn to_pyg<'py>(this: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = this.py();
        let torch = py.import("torch")?;
        let data = py.import("torch_geometric.data")?.getattr("Data")?;
        let from_numpy = torch.getattr("from_numpy")?;
        let kw = PyDict::new(py);
        for name in [
            "x",
            "edge_index",
            "y",
            "train_mask",
            "val_mask",
            "test_mask",
            "n_id",
            "e_id",
            "edge_attr",
            "node_norm",
            "edge_norm",
        ] {
            let a = this.getattr(name)?;
            if !a.is_none() {
                kw.set_item(name, from_numpy.call1((a,))?)?;
            }
        }
        let me = this.get();
        kw.set_item("view", me.b().view)?;
        if me.b().hops.is_some() {
            kw.set_item("batch_size", me.b().num_seeds())?;
            kw.set_item("num_sampled_nodes", me.num_sampled_nodes())?;
            kw.set_item("num_sampled_edges", me.num_sampled_edges())?;
        }
        data.call((), Some(&kw))
    }

    fn __len__(&self) -> usize {
        self.b().nodes.len()
    }

    fn __repr__(&self) -> String {
        let b = self.b();
        format!(
            "Batch(index={}, view={}, num_nodes={}, num_edges={}, feature_dim={})",
            b.index,
            b.view,
            b.nodes.len(),
            b.indices.len(),
            b.feature_dim
        )
    }
}
