//! One batch: the induced subgraph of a set of nodes, with everything a GNN step needs.

use crate::error::{Error, Result};
use crate::plan::{Plan, Sampled};
use crate::resident::Resident;
use crate::saint::{Saint, subgraph_nodes};
use crate::sample::{Csr, Loops, Sampler, Sampling, batch_seed};
use mille_pipeline::store::zstd::CompressedStore;
use mille_pipeline::{Labels, Store, prefetch};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Labels of a batch's nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchLabels {
    /// The store has no labels.
    None,
    /// A class per node (-1 = unlabelled).
    MultiClass(Vec<i32>),
    /// `tasks` binary labels per node, row-major (-1 = missing).
    MultiLabel {
        /// Tasks per node.
        tasks: usize,
        /// `nodes x tasks` values.
        values: Vec<i8>,
    },
}

/// A mini-batch: the subgraph induced by `nodes`, in local ids `0..nodes.len()`.
#[derive(Debug, PartialEq)]
pub struct Batch {
    /// Position of this batch in its epoch's plan.
    pub index: usize,
    /// Evaluation view this batch belongs to (0 for training plans).
    pub view: u32,
    /// Global node ids, ascending; local id `i` is `nodes[i]`.
    pub nodes: Vec<u32>,
    /// Local CSR by destination: row `i` holds the local sources of the edges into node `i`,
    /// ascending.
    pub indptr: Vec<u64>,
    /// Local source ids.
    pub indices: Vec<u32>,
    /// Global CSR position of each entry (where its edge features and edge id live in the
    /// store); `u64::MAX` for an added self loop.
    pub edge_pos: Vec<u64>,
    /// Node features, `nodes.len() x feature_dim`, row-major.
    pub features: Vec<f32>,
    /// Node feature width (0 when the store has none).
    pub feature_dim: usize,
    /// Edge features, one row per entry (zeros for added self loops), if requested.
    pub edge_features: Vec<f32>,
    /// Edge feature width (0 when absent or not requested).
    pub edge_feature_dim: usize,
    /// Labels.
    pub labels: BatchLabels,
    /// Which nodes are in the train / valid / test sets of the loader's split.
    pub train_mask: Vec<bool>,
    /// Validation mask.
    pub valid_mask: Vec<bool>,
    /// Test mask.
    pub test_mask: Vec<bool>,
    /// For a neighbour-sampled batch, where each hop's nodes start in `nodes`: `[0, seeds,
    /// seeds + hop 1's new nodes, ...]` (fan-outs + 2 entries); empty for an induced subgraph.
    /// Rows `hops[h]..hops[h + 1]` of the CSR hold the edges sampled at hop `h`.
    pub hops: Vec<usize>,
    /// For a GraphSAINT batch, each node's loss weight `S / (C_v T)` (see [`crate::SaintNorm`]);
    /// empty otherwise.
    pub node_norm: Vec<f32>,
    /// For a GraphSAINT batch, each entry's aggregator weight `C_v / C_{u,v}` (1 for an added
    /// self loop); empty otherwise.
    pub edge_norm: Vec<f32>,
    /// For a GraphSAINT batch, each node's in-degree in the whole graph (with the self loop the
    /// batch adds, when it adds one): what an aggregator normalised as on the full graph divides
    /// by. Empty otherwise.
    pub degree: Vec<u32>,
}

/// One hop of a neighbour-sampled batch (a message-flow block): the edges sampled into the nodes
/// first reached at the hop before, as CSR rows of the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block<'a> {
    /// Local ids of the block's target nodes: `targets.start..targets.end`.
    pub targets: std::ops::Range<usize>,
    /// Row offsets into [`Batch::indices`], `targets.len() + 1` of them.
    pub indptr: &'a [u64],
    /// Local source ids of all the batch's edges (index with `indptr`).
    pub indices: &'a [u32],
}

impl Batch {
    fn empty() -> Batch {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Batch {
            index: 0,
            view: 0,
            nodes: Vec::new(),
            indptr: Vec::new(),
            indices: Vec::new(),
            edge_pos: Vec::new(),
            features: Vec::new(),
            feature_dim: 0,
            edge_features: Vec::new(),
            edge_feature_dim: 0,
            labels: BatchLabels::None,
            train_mask: Vec::new(),
            valid_mask: Vec::new(),
            test_mask: Vec::new(),
            hops: Vec::new(),
            node_norm: Vec::new(),
            edge_norm: Vec::new(),
            degree: Vec::new(),
        }
    }
    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }
    /// Number of edges (CSR entries).
    pub fn num_edges(&self) -> usize {
        self.indices.len()
    }
    /// Seed nodes of a neighbour-sampled batch (its first nodes); every node otherwise.
    pub fn num_seeds(&self) -> usize {
        self.hops.get(1).copied().unwrap_or(self.nodes.len())
    }
    /// Hops of a neighbour-sampled batch (0 for an induced subgraph).
    pub fn num_hops(&self) -> usize {
        self.hops.len().saturating_sub(2)
    }
    /// Hop `h`'s block of a neighbour-sampled batch.
    pub fn block(&self, h: usize) -> Option<Block<'_>> {
        (h < self.num_hops()).then(|| Block {
            targets: self.hops[h]..self.hops[h + 1],
            indptr: &self.indptr[self.hops[h]..=self.hops[h + 1]],
            indices: &self.indices,
        })
    }
    /// Bytes of data the batch holds (what a loader produces per batch).
    pub fn bytes(&self) -> usize {
        let labels = match &self.labels {
            BatchLabels::None => 0,
            BatchLabels::MultiClass(v) => v.len() * 4,
            BatchLabels::MultiLabel { values, .. } => values.len(),
        };
        self.nodes.len() * 4
            + self.indptr.len() * 8
            + self.indices.len() * 4
            + self.edge_pos.len() * 8
            + (self.features.len() + self.edge_features.len()) * 4
            + labels
            + 3 * self.nodes.len()
            + self.hops.len() * 8
            + (self.node_norm.len() + self.edge_norm.len() + self.degree.len()) * 4
    }
    /// Batches alive in this process (built and not yet dropped): what the prefetch bound limits.
    pub fn live() -> usize {
        LIVE.load(Ordering::Relaxed)
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where a builder reads node features from.
enum FeatureSource {
    /// The store's memory map.
    Map,
    /// The loader's in-memory huge-page copy of them ([`crate::Residency`]).
    Resident(Arc<Resident>),
    /// The zstd form of the store, frames decoded in the builder's thread; the last decoded
    /// frame is kept (consecutive rows, as on a relabelled store read part by part, decode each
    /// frame once).
    Zstd {
        /// The compressed store.
        store: Arc<CompressedStore>,
        /// Rows of `node_feat` per frame.
        rows_per_frame: u64,
        /// The last frame decoded: its index and its rows.
        last: Option<(usize, Vec<f32>)>,
    },
}

/// A node's role in the loader's split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Role {
    /// In none of the split's sets.
    #[default]
    None = 0,
    /// A training node.
    Train = 1,
    /// A validation node.
    Valid = 2,
    /// A test node.
    Test = 3,
}
/// How many nodes ahead rows and features are prefetched: a batch's nodes are scattered over
/// the store, so each row starts with a cache miss that the hardware prefetcher can't predict.
const AHEAD: usize = 12;

/// Appends rows of `cols` floats to a vector whose capacity is already reserved, with
/// non-temporal stores when every row is 16-byte aligned: a batch's features (about 100 MB at
/// products scale) are far larger than the cache, and streaming stores skip reading each
/// destination line before overwriting it, a third of the memory traffic of a row gather.
struct RowWriter<'a> {
    out: &'a mut Vec<f32>,
    cols: usize,
    stream: bool,
}

impl<'a> RowWriter<'a> {
    fn new(out: &'a mut Vec<f32>, cols: usize) -> Self {
        let stream = cfg!(target_arch = "x86_64")
            && cols.is_multiple_of(4)
            && (out.as_ptr() as usize + out.len() * 4).is_multiple_of(16);
        RowWriter { out, cols, stream }
    }

    #[inline(always)]
    fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.cols);
        #[cfg(target_arch = "x86_64")]
        if self.stream && self.out.capacity() - self.out.len() >= self.cols {
            use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
            let len = self.out.len();
            // SAFETY: the capacity check above leaves room for the row; the destination is
            // 16-byte aligned (checked in `new`, and rows are a multiple of 16 bytes); the new
            // elements are initialised before `set_len` exposes them.
            unsafe {
                let dst = self.out.as_mut_ptr().add(len);
                for k in (0..self.cols).step_by(4) {
                    _mm_stream_ps(dst.add(k), _mm_loadu_ps(row.as_ptr().add(k)));
                }
                self.out.set_len(len + self.cols);
            }
            return;
        }
        self.out.extend_from_slice(row);
    }

    /// Orders the streaming stores before anything that follows (another thread reads them).
    fn finish(self) {
        #[cfg(target_arch = "x86_64")]
        if self.stream {
            // SAFETY: a store fence has no preconditions.
            unsafe { std::arch::x86_64::_mm_sfence() };
        }
    }
}

/// Builds batches from a store. Keeps a membership bitset over all nodes (1 bit a node) and a
/// rank per 64-node word, reused from batch to batch, so that a batch costs O(sum of its nodes'
/// degrees + B·D), never a pass over all edges.
pub struct Builder {
    store: Arc<Store>,
    /// Role of every node in the split.
    roles: Arc<Vec<Role>>,
    self_loops: bool,
    edge_features: bool,
    /// Membership bitset of the batch being built.
    member: Vec<u64>,
    /// For each word of `member` holding a batch node: how many batch nodes come before it. As
    /// a batch's nodes are ascending, a member's local id is its word's rank plus the set bits
    /// below it: no lookup in a node-sized table, whose random reads missed the cache on every
    /// in-batch edge, and both arrays are 1/32 of such a table, so they stay in cache.
    rank: Vec<u32>,
    /// Where node features come from.
    features: FeatureSource,
    /// The in-memory copy to read neighbour lists from instead of the map, if any.
    resident: Option<Arc<Resident>>,
    /// Neighbour sampling's node table, made on the first sampled batch.
    sampler: Option<Sampler>,
}

impl Builder {
    /// A builder over `store`; `roles` as made by [`Builder::roles`].
    pub fn new(store: Arc<Store>, roles: Arc<Vec<Role>>, self_loops: bool, edge_features: bool) -> Builder {
        let n = store.num_nodes();
        Builder {
            store,
            roles,
            self_loops,
            edge_features,
            member: vec![0; n.div_ceil(64)],
            rank: vec![0; n.div_ceil(64)],
            features: FeatureSource::Map,
            resident: None,
            sampler: None,
        }
    }

    /// Reads node features and neighbour lists from `copy` instead of the store's map.
    pub(crate) fn with_resident(mut self, copy: Option<Arc<Resident>>) -> Builder {
        if let Some(r) = &copy
            && r.features().is_some()
            && matches!(self.features, FeatureSource::Map)
        {
            self.features = FeatureSource::Resident(r.clone());
        }
        self.resident = copy;
        self
    }

    /// Takes node features from the zstd form of the store instead of its plain file, decoding
    /// frames in this builder's thread (the last one is kept: consecutive rows, as on a
    /// relabelled store read part by part, decode each frame once).
    pub fn with_compressed_features(mut self, c: Arc<CompressedStore>) -> Result<Builder> {
        let rows_per_frame = c.rows_per_frame("node_feat")?;
        self.features = FeatureSource::Zstd { store: c, rows_per_frame, last: None };
        Ok(self)
    }

    /// Per-node roles from split `split` (or none).
    pub fn roles(store: &Store, split: Option<&str>) -> Result<Vec<Role>> {
        let mut roles = vec![Role::None; store.num_nodes()];
        if let Some(name) = split {
            let s = store.split(name)?;
            for (ids, r) in [(s.train, Role::Train), (s.valid, Role::Valid), (s.test, Role::Test)] {
                for &v in ids {
                    roles[v as usize] = r;
                }
            }
        }
        Ok(roles)
    }

    /// The batch induced by `nodes` (ascending global ids), reusing `into`'s buffers if given.
    pub fn build(&mut self, nodes: &[u32], index: usize, view: u32, into: Option<Batch>) -> Result<Batch> {
        // A file truncated since the store was opened would fault inside the mapping: check first.
        self.store.check_unchanged()?;
        if let Some(w) = nodes.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Error::Invalid(format!(
                "batch {index}: node ids must be strictly ascending ({} then {})",
                w[0], w[1]
            )));
        }
        let mut b = into.unwrap_or_else(Batch::empty);
        b.index = index;
        b.view = view;
        b.nodes.clear();
        b.nodes.extend_from_slice(nodes);
        b.hops.clear();
        b.node_norm.clear();
        b.edge_norm.clear();
        b.degree.clear();
        self.local_csr(nodes, &mut b);
        self.node_features(nodes, &mut b)?;
        self.edge_features(&mut b);
        self.labels(nodes, &mut b);
        self.masks(nodes, &mut b);
        Ok(b)
    }

    /// Batch `index` of `plan`: the subgraph its nodes induce, or the neighbours sampled from its
    /// seeds when the plan samples.
    pub fn build_planned(&mut self, plan: &Plan, index: usize, into: Option<Batch>) -> Result<Batch> {
        match &plan.sampling {
            None => self.build(&plan.batches[index], index, plan.view[index], into),
            Some(Sampled::Neighbors(s)) => self.build_sampled(&plan.batches[index], index, s, into),
            Some(Sampled::Saint(s)) => self.build_saint(&plan.batches[index], index, s, into),
        }
    }

    /// The GraphSAINT subgraph of batch `index` from its first nodes (walk roots, or the node
    /// sampler's nodes), with its normalisation coefficients and full-graph degrees.
    pub fn build_saint(&mut self, first: &[u32], index: usize, saint: &Saint, into: Option<Batch>) -> Result<Batch> {
        let (store, resident) = (self.store.clone(), self.resident.clone());
        let s = &*store;
        let n = s.num_nodes();
        if let Some(v) = first.iter().find(|&&v| v as usize >= n) {
            return Err(Error::Invalid(format!("batch {index}: node {v} is not a node of the {n}")));
        }
        if saint.norm.node_count.len() != n || saint.norm.edge_count.len() != s.indices().len() {
            return Err(Error::Invalid(format!("batch {index}: the GraphSAINT counts are not this store's")));
        }
        let indices = resident.as_ref().and_then(|r| r.indices()).unwrap_or_else(|| s.indices());
        let mut rng = Pcg64::seed_from_u64(batch_seed(saint.seed, index));
        let nodes = subgraph_nodes(Csr { indptr: s.indptr(), indices }, first, saint.sampler, &mut rng);
        let mut b = self.build(&nodes, index, 0, into)?;
        let (norm, indptr) = (&*saint.norm, s.indptr());
        b.node_norm.extend(b.nodes.iter().map(|&v| norm.node_norm(v)));
        for (i, &v) in b.nodes.iter().enumerate() {
            let (lo, hi) = (b.indptr[i] as usize, b.indptr[i + 1] as usize);
            b.edge_norm
                .extend(b.edge_pos[lo..hi].iter().map(|&p| if p == u64::MAX { 1.0 } else { norm.edge_norm(v, p) }));
            let (glo, ghi) = (indptr[v as usize] as usize, indptr[v as usize + 1] as usize);
            let looped = self.self_loops && indices[glo..ghi].binary_search(&v).is_err();
            b.degree.push((ghi - glo) as u32 + looped as u32);
        }
        Ok(b)
    }

    /// The neighbours sampled from `seeds` (batch `index` of an epoch sampled by `spec`), with
    /// the features, labels and masks of every sampled node; with self loops, every row also
    /// holds its own node (added where not drawn, last-hop rows included).
    pub fn build_sampled(
        &mut self,
        seeds: &[u32],
        index: usize,
        spec: &Sampling,
        into: Option<Batch>,
    ) -> Result<Batch> {
        self.store.check_unchanged()?;
        let mut b = into.unwrap_or_else(Batch::empty);
        b.index = index;
        b.view = 0;
        b.node_norm.clear();
        b.edge_norm.clear();
        b.degree.clear();
        let s = &*self.store;
        let indices = self.resident.as_ref().and_then(|r| r.indices()).unwrap_or_else(|| s.indices());
        let sampler = self.sampler.get_or_insert_with(|| Sampler::new(s.num_nodes()));
        let mut rng = Pcg64::seed_from_u64(batch_seed(spec.seed, index));
        sampler
            .sample(Csr { indptr: s.indptr(), indices }, seeds, spec, Loops(self.self_loops), &mut rng, &mut b)
            .map_err(|e| Error::Invalid(format!("batch {index}: {e}")))?;
        let nodes = std::mem::take(&mut b.nodes);
        self.node_features(&nodes, &mut b)?;
        self.edge_features(&mut b);
        self.labels(&nodes, &mut b);
        self.masks(&nodes, &mut b);
        b.nodes = nodes;
        Ok(b)
    }

    /// The induced subgraph's CSR in local ids (with self loops if asked), and each entry's
    /// global CSR position.
    fn local_csr(&mut self, nodes: &[u32], b: &mut Batch) {
        let s = &*self.store;
        let mut word = usize::MAX;
        for (i, &v) in nodes.iter().enumerate() {
            let w = v as usize >> 6;
            if w != word {
                self.rank[w] = i as u32;
                word = w;
            }
            self.member[w] |= 1 << (v & 63);
        }
        let indptr = s.indptr();
        let indices = self.resident.as_ref().and_then(|r| r.indices()).unwrap_or_else(|| s.indices());
        b.indptr.clear();
        b.indices.clear();
        b.edge_pos.clear();
        b.indptr.push(0);
        for (i, &v) in nodes.iter().enumerate() {
            if let Some(&far) = nodes.get(i + 2 * AHEAD) {
                prefetch(&indptr[far as usize]);
            }
            if let Some(&ahead) = nodes.get(i + AHEAD) {
                // The whole row: a batch reads every row it touches from start to end, and rows
                // are too far apart for the hardware prefetcher to follow.
                let (lo, hi) = (indptr[ahead as usize] as usize, indptr[ahead as usize + 1] as usize);
                for p in (lo..hi.min(lo + 128)).step_by(16) {
                    prefetch(&indices[p]);
                }
            }
            let (lo, hi) = (indptr[v as usize], indptr[v as usize + 1]);
            let mut looped = !self.self_loops;
            for (k, &u) in indices[lo as usize..hi as usize].iter().enumerate() {
                let (w, bit) = (u as usize >> 6, u & 63);
                let bits = self.member[w];
                if bits >> bit & 1 == 0 {
                    continue;
                }
                let l = self.rank[w] + (bits & ((1u64 << bit) - 1)).count_ones();
                if !looped && l >= i as u32 {
                    looped = true;
                    if l != i as u32 {
                        b.indices.push(i as u32);
                        b.edge_pos.push(u64::MAX);
                    }
                }
                b.indices.push(l);
                b.edge_pos.push(lo + k as u64);
            }
            if !looped {
                b.indices.push(i as u32);
                b.edge_pos.push(u64::MAX);
            }
            b.indptr.push(b.indices.len() as u64);
        }
        for &v in nodes {
            self.member[v as usize >> 6] = 0;
        }
    }

    /// Node features: one row copy per node (sequential runs on a relabelled store).
    fn node_features(&mut self, nodes: &[u32], b: &mut Batch) -> Result<()> {
        let s = &*self.store;
        b.features.clear();
        b.feature_dim = 0;
        if let FeatureSource::Zstd { store: c, rows_per_frame: per, last: cache } = &mut self.features {
            let cols = c.meta().arrays["node_feat"].cols();
            b.feature_dim = cols;
            b.features.reserve(nodes.len() * cols);
            for &v in nodes {
                let (frame, row) = ((v as u64 / *per) as usize, (v as u64 % *per) as usize);
                if cache.as_ref().is_none_or(|(f, _)| *f != frame) {
                    let bytes = c.frame("node_feat", frame)?;
                    *cache = Some((frame, bytemuck::pod_collect_to_vec(&bytes)));
                }
                let data = &cache.as_ref().expect("just filled").1;
                b.features.extend_from_slice(&data[row * cols..(row + 1) * cols]);
            }
        } else if let Some(f) = s.features() {
            let f = match &self.features {
                FeatureSource::Resident(r) => mille_pipeline::Matrix { data: r.features().expect("checked"), ..f },
                _ => f,
            };
            b.feature_dim = f.cols;
            b.features.reserve(nodes.len() * f.cols);
            let row_bytes = f.cols * 4;
            let mut out = RowWriter::new(&mut b.features, f.cols);
            for (i, &v) in nodes.iter().enumerate() {
                if let Some(&ahead) = nodes.get(i + AHEAD) {
                    let r = f.row(ahead as usize);
                    for off in (0..row_bytes).step_by(64) {
                        prefetch((r.as_ptr() as *const u8).wrapping_add(off));
                    }
                }
                out.push(f.row(v as usize));
            }
            out.finish();
        }
        Ok(())
    }

    /// Edge features of every entry (zeros for an added self loop), when asked for.
    fn edge_features(&self, b: &mut Batch) {
        let s = &*self.store;
        b.edge_features.clear();
        b.edge_feature_dim = 0;
        if self.edge_features
            && let Some(ef) = s.edge_features()
        {
            b.edge_feature_dim = ef.cols;
            for &p in &b.edge_pos {
                if p == u64::MAX {
                    b.edge_features.extend(std::iter::repeat_n(0.0, ef.cols));
                } else {
                    b.edge_features.extend_from_slice(ef.row(p as usize));
                }
            }
        }
    }

    /// The nodes' labels, reusing the batch's buffer.
    fn labels(&self, nodes: &[u32], b: &mut Batch) {
        let s = &*self.store;
        b.labels = match s.labels() {
            None => BatchLabels::None,
            Some(Labels::MultiClass(y)) => {
                let mut out = match std::mem::replace(&mut b.labels, BatchLabels::None) {
                    BatchLabels::MultiClass(v) => v,
                    _ => Vec::new(),
                };
                out.clear();
                out.extend(nodes.iter().map(|&v| y[v as usize]));
                BatchLabels::MultiClass(out)
            }
            Some(Labels::MultiLabel(m)) => {
                let mut values = Vec::with_capacity(nodes.len() * m.cols);
                for &v in nodes {
                    values.extend_from_slice(m.row(v as usize));
                }
                BatchLabels::MultiLabel { tasks: m.cols, values }
            }
        };
    }

    /// Which nodes are train, valid and test nodes of the split.
    fn masks(&self, nodes: &[u32], b: &mut Batch) {
        for (mask, role) in
            [(&mut b.train_mask, Role::Train), (&mut b.valid_mask, Role::Valid), (&mut b.test_mask, Role::Test)]
        {
            mask.clear();
            mask.extend(nodes.iter().map(|&v| self.roles[v as usize] == role));
        }
    }
}
