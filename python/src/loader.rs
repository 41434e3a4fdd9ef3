//! `mille.Loader` and its epochs: the Rust loader's worker threads build batches while Python
//! trains; waiting for one releases the GIL and wakes every 50 ms to let Ctrl-C through.

use crate::batch::PyBatch;
use crate::error::{mille, value};
use crate::partition::from_array;
use crate::store::PyStore;
use mille_loader::{Epoch, Loader, LoaderConfig, Next, PlanSpec, Residency, SamplerSetting};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a waiting consumer checks for signals: Ctrl-C then stops an epoch within this
/// plus the time a worker needs to finish the batch in its hands.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Mini-batches of a store's induced subgraphs, built ahead by worker threads.
#[pyclass(frozen, module = "mille._mille", name = "Loader")]
pub struct PyLoader {
    loader: Arc<Loader>,
    epoch: AtomicU64,
    plan: String,
    /// The number of batches of the epoch last asked about, so `len()` draws a plan once per
    /// epoch, not at every call (a GraphSAINT plan draws all its walk roots).
    len: Mutex<Option<(u64, usize)>>,
}

#[pymethods]
impl PyLoader {
    /// A loader over `store`. The plan, by the arguments given:
    ///
    /// - `parts=P` (default 10): random clustering redrawn every epoch, one batch per part;
    /// - `partition=ARRAY, per_batch=Q`: Cluster-GCN, the partition's parts (e.g. from
    ///   `mille.partition`) shuffled every epoch and grouped Q to a batch;
    /// - `views=V, parts=P`: evaluation, V independent random partitions into P parts (an epoch
    ///   is all V x P batches); with `partition=`, V shuffled groupings of its parts;
    /// - `full=True`: the whole graph as one batch;
    /// - `fanouts=[F1, F2, ...], batch_size=B`: neighbour sampling (GraphSAGE), the split's
    ///   training nodes (or `nodes`) shuffled every epoch, B seeds to a batch, up to `Fh`
    ///   in-neighbours drawn per node at hop h (`replace=True`: with replacement);
    /// - `roots=R, walk_length=L`: GraphSAINT's random-walk sampler, each batch the subgraph
    ///   induced by R walks of L steps from training nodes (or `nodes`);
    /// - `budget=N`: GraphSAINT's node sampler, each batch induced by N training nodes drawn by
    ///   in-degree; both carry `node_norm` / `edge_norm`, counted over `coverage` x the node
    ///   count of pre-sampled subgraph nodes.
    ///
    /// `workers` threads build up to `prefetch` batches ahead; `seed` and the epoch number decide
    /// every plan; masks come from split `split` (default: the store's first); `nodes` keeps
    /// only those node ids in every batch; `residency` is `auto`, `resident` or `mapped`.
    #[new]
    #[pyo3(signature = (store, *, parts = None, partition = None, per_batch = 1, views = None, full = false, workers = 2, prefetch = 4, seed = 0, split = None, self_loops = false, edge_features = true, residency = "auto", nodes = None, fanouts = None, batch_size = 1024, replace = false, roots = None, walk_length = 2, budget = None, coverage = 50))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: &PyStore,
        parts: Option<i128>,
        partition: Option<PyReadonlyArray1<'_, i32>>,
        per_batch: i128,
        views: Option<i128>,
        full: bool,
        workers: i128,
        prefetch: i128,
        seed: i128,
        split: Option<String>,
        self_loops: bool,
        edge_features: bool,
        residency: &str,
        nodes: Option<PyReadonlyArray1<'_, i64>>,
        fanouts: Option<Vec<i128>>,
        batch_size: i128,
        replace: bool,
        roots: Option<i128>,
        walk_length: i128,
        budget: Option<i128>,
        coverage: i128,
    ) -> PyResult<PyLoader> {
        // Python ints of any size arrive here: each is checked against its Rust type by name
        // (pyo3's own conversion raises an OverflowError naming no argument).
        let parts = parts.map(|v| int::<u32>("parts", v)).transpose()?;
        let per_batch = int::<u32>("per_batch", per_batch)?;
        let views = views.map(|v| int::<u32>("views", v)).transpose()?;
        let workers = int::<usize>("workers", workers)?;
        let prefetch = int::<usize>("prefetch", prefetch)?;
        let seed = int::<u64>("seed", seed)?;
        let fanouts = fanouts
            .map(|f| f.into_iter().map(|v| int::<u32>("fanouts", v)).collect::<PyResult<Vec<_>>>())
            .transpose()?;
        let batch_size = int::<usize>("batch_size", batch_size)?;
        let roots = roots.map(|v| int::<usize>("roots", v)).transpose()?;
        let walk_length = int::<usize>("walk_length", walk_length)?;
        let budget = budget.map(|v| int::<usize>("budget", v)).transpose()?;
        let coverage = int::<u32>("coverage", coverage)?;
        if fanouts.is_some() && self_loops {
            return Err(value(
                "fanouts= with self_loops=True: a sampled batch's hop-by-hop edge layout (num_sampled_edges, what \
                 PyG's trim_to_layer reads) has no place for self loops; add them in the model instead (e.g. \
                 GCNConv's add_self_loops), as with PyG's NeighborLoader",
            ));
        }
        let clusters = parts.is_some() || partition.is_some() || views.is_some() || full;
        // The samplers the loader's `SamplerSetting` names (checked and resolved there, as for
        // every front end); parts, partition arrays and views are this API's own.
        let sampler = match (fanouts, roots, budget) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(value("give one sampler: fanouts= (neighbours), roots= (walks) or budget= (nodes)"));
            }
            (Some(fanouts), None, None) => Some(SamplerSetting::Neighbor { fanouts, batch_size, replace }),
            (None, Some(roots), None) => Some(SamplerSetting::SaintWalk { roots, walk_length, coverage }),
            (None, None, Some(budget)) => Some(SamplerSetting::SaintNode { budget, coverage }),
            (None, None, None) => None,
        };
        let (plan, label) = match sampler {
            Some(s) if clusters => {
                let why = match s {
                    SamplerSetting::Neighbor { .. } => "fanouts= samples neighbours of seed nodes",
                    _ => "roots= and budget= draw GraphSAINT subgraphs",
                };
                return Err(value(format!("{why}: give no parts, partition, views or full")));
            }
            Some(s) => {
                let plan = s.resolve(&store.store, 0).map_err(|e| value(e.to_string()))?;
                (plan, s.to_string())
            }
            None => {
                let plan = plan_spec(store, parts, partition, per_batch, views, full)?;
                let label = describe(&plan);
                (plan, label)
            }
        };
        if workers == 0 {
            return Err(value("workers must be at least 1"));
        }
        let residency: Residency = residency.parse().map_err(value)?;
        let restrict_to = match nodes {
            Some(ids) => Some(Arc::new(node_ids(store, ids)?)),
            None => None,
        };
        let cfg = LoaderConfig {
            plan,
            seed,
            workers,
            prefetch: prefetch.max(1),
            self_loops,
            edge_features,
            split,
            restrict_to,
            compressed_features: None,
            residency,
        };
        let s = store.store.clone();
        let loader = py.detach(move || Loader::new(s, cfg)).map_err(mille)?;
        Ok(PyLoader { loader: Arc::new(loader), epoch: AtomicU64::new(0), plan: label, len: Mutex::new(None) })
    }

    /// The batches of epoch `epoch` (each epoch's plan is drawn from the seed and its number).
    /// With `world_size` W > 1 (a `torch.distributed` job, say), this process's share as rank
    /// `rank`: batches `rank, rank + W, ...` of the plan every rank draws alike from the same
    /// seed, each built exactly as in the whole epoch (its sampling too), so the ranks together
    /// see every batch once.
    #[pyo3(signature = (epoch, *, rank = 0, world_size = 1))]
    fn epoch(&self, epoch: u64, rank: usize, world_size: usize) -> PyResult<PyEpoch> {
        if world_size == 0 || rank >= world_size {
            return Err(value(format!("rank {rank} of world_size {world_size}: expected 0 <= rank < world_size")));
        }
        Ok(PyEpoch::start(self.loader.epoch_share(epoch, rank, world_size)))
    }
    /// Sets the epoch that iterating the loader itself runs (as a sampler's `set_epoch`).
    fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Relaxed);
    }
    /// Node ids of every batch of epoch `epoch`, without building them (int64 arrays).
    fn plan<'py>(&self, py: Python<'py>, epoch: u64) -> Vec<Bound<'py, numpy::PyArray1<i64>>> {
        let plan = self.loader.plan(epoch);
        plan.batches.iter().map(|b| numpy::PyArray1::from_vec(py, b.iter().map(|&v| v as i64).collect())).collect()
    }
    /// Whether features and neighbour lists are read from an in-memory copy rather than the map.
    #[getter]
    fn is_resident(&self) -> bool {
        self.loader.is_resident()
    }

    fn __iter__(&self) -> PyEpoch {
        PyEpoch::start(self.loader.epoch(self.epoch.load(Ordering::Relaxed)))
    }
    /// Batches per epoch (of the current epoch's plan).
    fn __len__(&self, py: Python<'_>) -> usize {
        let epoch = self.epoch.load(Ordering::Relaxed);
        let mut cached = self.len.lock().unwrap_or_else(|p| p.into_inner());
        match *cached {
            Some((e, n)) if e == epoch => n,
            _ => {
                let n = py.detach(|| self.loader.plan(epoch).len());
                *cached = Some((epoch, n));
                n
            }
        }
    }
    fn __repr__(&self) -> String {
        format!("Loader(store={:?}, {})", self.loader.store().path().display().to_string(), self.plan)
    }
}

/// A Python int as `T`, or a `ValueError` naming the argument and the range.
fn int<T: TryFrom<i128> + num_bound::Bounded>(name: &str, v: i128) -> PyResult<T> {
    T::try_from(v).map_err(|_| value(format!("{name}: {v} is out of range (0 to {})", T::MAX_TEXT)))
}

/// The largest value of each integer argument type, as text for the messages.
mod num_bound {
    pub trait Bounded {
        const MAX_TEXT: &'static str;
    }
    impl Bounded for u32 {
        const MAX_TEXT: &'static str = "4294967295";
    }
    impl Bounded for u64 {
        const MAX_TEXT: &'static str = "18446744073709551615";
    }
    impl Bounded for usize {
        const MAX_TEXT: &'static str = "18446744073709551615";
    }
}

/// The plan the arguments ask for, or a `ValueError` naming the conflict.
fn plan_spec(
    store: &PyStore,
    parts: Option<u32>,
    partition: Option<PyReadonlyArray1<'_, i32>>,
    per_batch: u32,
    views: Option<u32>,
    full: bool,
) -> PyResult<PlanSpec> {
    if per_batch == 0 {
        return Err(value("per_batch must be at least 1"));
    }
    if parts == Some(0) || views == Some(0) {
        return Err(value("parts and views must be at least 1"));
    }
    if full {
        if parts.is_some() || partition.is_some() || views.is_some() {
            return Err(value("full=True is the whole graph as one batch: give no parts, partition or views"));
        }
        return Ok(PlanSpec::Full);
    }
    Ok(match (partition, views) {
        (Some(p), _) if parts.is_some() => {
            drop(p);
            return Err(value("give parts= (random clustering) or partition= (its parts), not both"));
        }
        (Some(p), None) => PlanSpec::ClusterGcn { partition: Arc::new(from_array(store, p)?), per_batch },
        (Some(p), Some(views)) => {
            PlanSpec::ClusterViews { partition: Arc::new(from_array(store, p)?), views, per_batch }
        }
        (None, Some(views)) => PlanSpec::Views { views, parts: parts.unwrap_or(1) },
        (None, None) => PlanSpec::RandomParts { parts: parts.unwrap_or(10) },
    })
}

fn describe(plan: &PlanSpec) -> String {
    match plan {
        PlanSpec::RandomParts { parts } => format!("parts={parts}"),
        PlanSpec::ClusterGcn { partition, per_batch } => {
            format!("partition=<{} parts>, per_batch={per_batch}", partition.k())
        }
        PlanSpec::Full => "full=True".into(),
        PlanSpec::ClusterViews { partition, views, per_batch } => {
            format!("partition=<{} parts>, views={views}, per_batch={per_batch}", partition.k())
        }
        PlanSpec::Views { views, parts } => format!("views={views}, parts={parts}"),
        // (Samplers are described by their `SamplerSetting`.)
        other => format!("{other:?}"),
    }
}

fn node_ids(store: &PyStore, ids: PyReadonlyArray1<'_, i64>) -> PyResult<Vec<u32>> {
    let n = store.store.num_nodes();
    let ids = ids.as_slice().map_err(|_| value("nodes: expected a contiguous int64 array"))?;
    ids.iter()
        .map(|&v| {
            u32::try_from(v)
                .ok()
                .filter(|&u| (u as usize) < n)
                .ok_or_else(|| value(format!("nodes: id {v} is not a node of this store (0..{n})")))
        })
        .collect()
}

/// One epoch in progress: an iterator of batches in plan order. Ending it (running out,
/// `close()`, an error, Ctrl-C, or dropping it) stops and joins its worker threads.
#[pyclass(frozen, module = "mille._mille", name = "Epoch")]
pub struct PyEpoch {
    inner: Mutex<Option<Epoch>>,
    total: usize,
}

impl PyEpoch {
    fn start(epoch: Epoch) -> PyEpoch {
        let total = epoch.len();
        PyEpoch { inner: Mutex::new(Some(epoch)), total }
    }

    /// Stops and joins the workers (without the GIL: they may be finishing a batch).
    fn end(&self, py: Python<'_>) {
        let epoch = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(move || drop(epoch));
    }
}

#[pymethods]
impl PyEpoch {
    fn __iter__(this: Bound<'_, Self>) -> Bound<'_, Self> {
        this
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyBatch>> {
        loop {
            let next = py.detach(|| {
                let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
                let e = guard.as_mut()?;
                Some((e.next_timeout(SIGNAL_POLL), e.recycler()))
            });
            match next {
                None => return Ok(None),
                Some((Next::End, _)) => {
                    self.end(py);
                    return Ok(None);
                }
                Some((Next::Pending, _)) => {
                    if let Err(interrupt) = py.check_signals() {
                        self.end(py);
                        return Err(interrupt);
                    }
                }
                Some((Next::Batch(Ok(b)), recycler)) => {
                    return Ok(Some(py.detach(move || PyBatch::new(b, recycler))));
                }
                Some((Next::Batch(Err(e)), _)) => {
                    self.end(py);
                    return Err(mille(e));
                }
            }
        }
    }

    /// Batches in this epoch.
    fn __len__(&self) -> usize {
        self.total
    }
    /// Stops the workers now; the iterator then ends.
    fn close(&self, py: Python<'_>) {
        self.end(py);
    }
    fn __enter__(this: Bound<'_, Self>) -> Bound<'_, Self> {
        this
    }
    fn __exit__(&self, py: Python<'_>, _t: Bound<'_, PyAny>, _v: Bound<'_, PyAny>, _tb: Bound<'_, PyAny>) -> bool {
        self.end(py);
        false
    }
}
