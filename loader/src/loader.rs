//! The prefetching loader: worker threads build an epoch's batches into bounded channels;
//! batches come out in plan order whatever the number of workers.

use crate::batch::{Batch, Role};
use crate::build::{Builder, Graph};
use crate::error::{Error, Result};
use crate::plan::{Plan, PlanSpec};
use crate::resident::{Residency, resident};
use crate::rows;
use crate::sampler::{self, Context, SaintNorm, Sampler};
use crossbeam::channel::{Receiver, Sender, bounded};
use mille_pipeline::Store;
use mille_pipeline::seed::Seed;
use mille_pipeline::store::zstd::CompressedStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Loader settings.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// How epochs are cut into batches.
    pub plan: PlanSpec,
    /// Base seed; epoch `e`'s plan is drawn from (seed, e).
    pub seed: u64,
    /// Worker threads.
    pub workers: usize,
    /// Batches built ahead of the consumer, in all (the memory bound: about this many batches
    /// plus one per worker being built).
    pub prefetch: usize,
    /// Add a self loop to every node (where it has none).
    pub self_loops: bool,
    /// Gather edge features too, when the store has them.
    pub edge_features: bool,
    /// Split whose train/valid/test sets become the masks (default: the store's first split).
    pub split: Option<String>,
    /// Keep only these nodes in every batch (e.g. a split's training nodes); `None`: all nodes.
    pub restrict_to: Option<Arc<Vec<u32>>>,
    /// Read node features from this zstd-compressed form of the store (`tools/store compress`),
    /// decoded in the worker threads.
    pub compressed_features: Option<std::path::PathBuf>,
    /// Read node features and neighbour lists from an in-memory huge-page copy, or through the
    /// store's memory map (see [`Residency`]; default: a copy when it fits).
    pub residency: Residency,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            plan: PlanSpec::RandomParts { parts: 10 },
            seed: 0,
            workers: 2,
            prefetch: 4,
            self_loops: false,
            edge_features: true,
            split: None,
            restrict_to: None,
            compressed_features: None,
            residency: Residency::Auto,
        }
    }
}

/// A loader over one store.
pub struct Loader {
    /// The store, with the in-memory copies read instead of its map (shared with other loaders
    /// of the store).
    graph: Graph,
    config: LoaderConfig,
    roles: Arc<Vec<Role>>,
    compressed: Option<Arc<CompressedStore>>,
    /// Consumed batches handed back for their buffers, kept from epoch to epoch.
    pool: (Sender<Batch>, Receiver<Batch>),
    /// How epochs are cut and batches built.
    sampler: Arc<dyn Sampler>,
}

impl Loader {
    /// A loader; reads the split masks once.
    pub fn new(store: Arc<Store>, config: LoaderConfig) -> Result<Loader> {
        let split = config.split.clone().or_else(|| store.split_names().first().cloned());
        let roles = Arc::new(Builder::roles(&store, split.as_deref())?);
        let compressed = match &config.compressed_features {
            Some(path) => {
                let c = CompressedStore::open(path)?;
                // The compressed copy must hold exactly this store's features.
                if c.meta().arrays.get("node_feat") != store.meta().arrays.get("node_feat") {
                    return Err(Error::Invalid(format!(
                        "{}: its node_feat is not the one of store {}",
                        path.display(),
                        store.path().display()
                    )));
                }
                Some(Arc::new(c))
            }
            None => None,
        };
        let pool = bounded(config.workers.max(1) + config.prefetch);
        let resident = resident(&store, config.residency, compressed.is_none())?;
        let graph = Graph { store, resident };
        let ctx = Context {
            graph: &graph,
            roles: &roles,
            restrict_to: config.restrict_to.as_ref(),
            seed: Seed::new(config.seed),
            workers: config.workers,
        };
        let sampler = sampler::make(&config.plan, &ctx)?;
        // Random gathers should not trigger read-ahead; a relabelled store read part by part
        // should. (Only matters when the features are not in memory.)
        let store = &graph.store;
        let sequential = store.meta().arrays.contains_key(mille_partition::PART_PTR) && sampler.sequential();
        store.advise("node_feat", if sequential { memmap2::Advice::Sequential } else { memmap2::Advice::Random });
        Ok(Loader { graph, config, roles, compressed, pool, sampler })
    }

    /// Whether this loader reads an in-memory copy of the features and neighbour lists (see
    /// [`Residency`]) rather than the store's map.
    pub fn is_resident(&self) -> bool {
        self.graph.resident.is_some()
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.graph.store
    }

    /// GraphSAINT's pre-sampled counts, when the plan is a GraphSAINT one.
    pub fn saint_norm(&self) -> Option<&Arc<SaintNorm>> {
        self.sampler.saint_norm()
    }

    /// The plan of epoch `epoch`.
    pub fn plan(&self, epoch: u64) -> Plan {
        self.sampler.plan(Seed::new(self.config.seed).epoch(epoch))
    }

    /// The batches of epoch `epoch`, built ahead by the worker threads.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        self.run(self.plan(epoch))
    }

    /// The batches of an explicit plan (its entries read as this loader's sampler reads them).
    pub fn run(&self, plan: Plan) -> Epoch {
        let all = (0..plan.len()).collect();
        self.run_share(plan, all)
    }

    /// Rank `rank`'s share of epoch `epoch` among `ranks` data-parallel processes: batches
    /// `rank, rank + ranks, ...` of the plan every rank draws alike, each built as it is in the
    /// whole epoch (its index, and so its sampling, unchanged).
    pub fn epoch_share(&self, epoch: u64, rank: usize, ranks: usize) -> Epoch {
        self.run_rank(self.plan(epoch), rank, ranks)
    }

    /// Rank `rank`'s share of an explicit plan among `ranks` (as [`Loader::epoch_share`]).
    pub fn run_rank(&self, plan: Plan, rank: usize, ranks: usize) -> Epoch {
        let share = (rank..plan.len()).step_by(ranks.max(1)).collect();
        self.run_share(plan, share)
    }

    /// The batches `share` (indices into `plan`, in that order) of a plan.
    fn run_share(&self, plan: Plan, share: Vec<usize>) -> Epoch {
        let (plan, share) = (Arc::new(plan), Arc::new(share));
        let workers = self.config.workers.max(1).min(share.len().max(1));
        let per_worker = self.config.prefetch.div_ceil(workers).max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let mut rxs = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = bounded::<Result<Batch>>(per_worker);
            rxs.push(rx);
            let source = rows::source(&self.graph.store, self.graph.resident.as_ref(), self.compressed.as_ref());
            let (plan, share, stop, recycle) = (plan.clone(), share.clone(), stop.clone(), self.pool.1.clone());
            let (graph, roles, sampler) = (self.graph.clone(), self.roles.clone(), self.sampler.clone());
            let (loops, edges) = (self.config.self_loops, self.config.edge_features);
            handles.push(std::thread::spawn(move || {
                let mut builder = match source {
                    Ok(rows) => Builder::new(graph, rows, roles, loops, edges),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                for &i in share.iter().skip(w).step_by(workers) {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let reuse = recycle.try_recv().ok();
                    let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        sampler.build(&plan, i, &mut builder, reuse)
                    }))
                    .unwrap_or_else(|p| Err(Error::WorkerPanic { batch: i, msg: panic_text(&p) }));
                    if tx.send(built).is_err() {
                        return; // the consumer is gone
                    }
                }
            }));
        }
        Epoch { rxs, handles, stop, next: 0, total: share.len(), recycle: Recycler(self.pool.0.clone()) }
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// An epoch in progress: an iterator of batches in plan order. Dropping it stops and joins the
/// workers.
pub struct Epoch {
    rxs: Vec<Receiver<Result<Batch>>>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    next: usize,
    total: usize,
    recycle: Recycler,
}

impl Epoch {
    /// Batches in this epoch.
    pub fn len(&self) -> usize {
        self.total
    }
    /// True for an epoch without batches.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
    /// Hands a consumed batch back so a worker can reuse its buffers.
    pub fn recycle(&self, batch: Batch) {
        self.recycle.recycle(batch);
    }
    /// A handle that recycles batches after this epoch is gone (e.g. held by a batch that
    /// outlives the loop that took it, as in the Python package).
    pub fn recycler(&self) -> Recycler {
        self.recycle.clone()
    }
    /// The next batch, waiting at most `timeout`: lets a consumer that must react to something
    /// else (a signal, a deadline) wait in slices instead of blocking in [`Iterator::next`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Next {
        if self.next >= self.total {
            return Next::End;
        }
        let i = self.next;
        match self.rxs[i % self.rxs.len()].recv_timeout(timeout) {
            Ok(r) => {
                self.next += 1;
                Next::Batch(r)
            }
            Err(crossbeam::channel::RecvTimeoutError::Timeout) => Next::Pending,
            Err(crossbeam::channel::RecvTimeoutError::Disconnected) => {
                // The worker ended without sending: it died outside a batch. End the epoch.
                self.next = self.total;
                Next::Batch(Err(Error::WorkerPanic { batch: i, msg: "worker thread ended unexpectedly".into() }))
            }
        }
    }
}

/// What [`Epoch::next_timeout`] found.
// Moved once per batch: 280 bytes beside the megabytes the batch points to; boxing would cost an
// allocation per batch for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Next {
    /// The next batch in plan order (or the error building it).
    Batch(Result<Batch>),
    /// Not ready within the timeout; ask again.
    Pending,
    /// The epoch is over.
    End,
}

/// Gives batches back to their loader's buffer pool (see [`Epoch::recycler`]).
#[derive(Debug, Clone)]
pub struct Recycler(Sender<Batch>);

impl Recycler {
    /// Hands `batch` back; dropped instead when the pool is full.
    pub fn recycle(&self, batch: Batch) {
        let _ = self.0.try_send(batch);
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Result<Batch>> {
        // A wait without deadline: crossbeam turns a timeout past `Instant`'s range into `recv`.
        match self.next_timeout(Duration::MAX) {
            Next::Batch(r) => Some(r),
            Next::End => None,
            Next::Pending => unreachable!("no deadline to pass"),
        }
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receivers unblocks workers waiting on a full channel.
        self.rxs.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
