//! The builder: from a list of nodes (or a sampled structure), a [`Batch`] with its features,
//! edge features, labels and masks. It knows nothing of how the nodes were chosen; samplers
//! (`crate::sampler`) call it.

use crate::batch::{Batch, BatchLabels, Role};
use crate::error::{Error, Result};
use crate::resident::Resident;
use crate::rows::{AHEAD, RowSource};
use mille_pipeline::{Labels, Store, prefetch};
use std::sync::Arc;

/// The graph's CSR by target, where subgraphs and samples are drawn from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Csr<'a> {
    pub indptr: &'a [u64],
    pub indices: &'a [u32],
}

/// The store's structure with the in-memory copy of its neighbour lists, if any: what samplers
/// walk. Cheap to clone (two `Arc`s), so a sampler can hold it while it borrows the builder.
#[derive(Clone)]
pub(crate) struct Graph {
    pub store: Arc<Store>,
    pub resident: Option<Arc<Resident>>,
}

impl Graph {
    /// The CSR, neighbour lists from the in-memory copy when there is one.
    pub(crate) fn csr(&self) -> Csr<'_> {
        let indices = self.resident.as_ref().and_then(|r| r.indices()).unwrap_or_else(|| self.store.indices());
        Csr { indptr: self.store.indptr(), indices }
    }
}

/// Builds batches from a store. Keeps a membership bitset over all nodes (1 bit a node) and a
/// rank per 64-node word, reused from batch to batch, so that a batch costs O(sum of its nodes'
/// degrees + B·D), never a pass over all edges.
pub struct Builder {
    graph: Graph,
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
    rows: Box<dyn RowSource>,
    /// A node-sized table a sampler may keep between its batches (every entry `u32::MAX` when
    /// it is not building one), made on first use.
    table: Vec<u32>,
}

impl Builder {
    /// A builder over `graph`, reading features from `rows`; `roles` as made by [`Builder::roles`].
    pub(crate) fn new(
        graph: Graph,
        rows: Box<dyn RowSource>,
        roles: Arc<Vec<Role>>,
        self_loops: bool,
        edge_features: bool,
    ) -> Builder {
        let n = graph.store.num_nodes();
        Builder {
            graph,
            roles,
            self_loops,
            edge_features,
            member: vec![0; n.div_ceil(64)],
            rank: vec![0; n.div_ceil(64)],
            rows,
            table: Vec::new(),
        }
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

    /// The graph samplers draw from.
    pub(crate) fn graph(&self) -> Graph {
        self.graph.clone()
    }

    /// Whether batches get a self loop on every node.
    pub(crate) fn self_loops(&self) -> bool {
        self.self_loops
    }

    /// The node-sized scratch table (see the field), all `u32::MAX` on return.
    pub(crate) fn table(&mut self) -> &mut [u32] {
        if self.table.is_empty() {
            self.table = vec![u32::MAX; self.graph.store.num_nodes()];
        }
        &mut self.table
    }

    /// Fails when a store file changed since it was opened: a truncated file would fault inside
    /// the mapping.
    pub(crate) fn check_unchanged(&self) -> Result<()> {
        Ok(self.graph.store.check_unchanged()?)
    }

    /// The batch induced by `nodes` (ascending global ids), reusing `into`'s buffers if given.
    pub fn build(&mut self, nodes: &[u32], index: usize, view: u32, into: Option<Batch>) -> Result<Batch> {
        self.check_unchanged()?;
        if let Some(w) = nodes.windows(2).find(|w| w[0] >= w[1]) {
            return Err(Error::Invalid(format!(
                "batch {index}: node ids must be strictly ascending ({} then {})",
                w[0], w[1]
            )));
        }
        let mut b = Batch::reuse(into, index, view);
        b.nodes.clear();
        b.nodes.extend_from_slice(nodes);
        self.local_csr(nodes, &mut b);
        self.gather(&mut b)?;
        Ok(b)
    }

    /// Fills what follows from a batch's nodes and CSR entries (made by [`Builder::build`] or by
    /// a sampler): node features, edge features, labels and masks.
    pub(crate) fn gather(&mut self, b: &mut Batch) -> Result<()> {
        let nodes = std::mem::take(&mut b.nodes);
        let done = self.rows.gather(&nodes, &mut b.features);
        b.feature_dim = *done.as_ref().unwrap_or(&0);
        self.edge_features(b);
        self.labels(&nodes, b);
        self.masks(&nodes, b);
        b.nodes = nodes;
        done.map(|_| ())
    }

    /// The induced subgraph's CSR in local ids (with self loops if asked), and each entry's
    /// global CSR position.
    fn local_csr(&mut self, nodes: &[u32], b: &mut Batch) {
        let mut word = usize::MAX;
        for (i, &v) in nodes.iter().enumerate() {
            let w = v as usize >> 6;
            if w != word {
                self.rank[w] = i as u32;
                word = w;
            }
            self.member[w] |= 1 << (v & 63);
        }
        let Csr { indptr, indices } = self.graph.csr();
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

    /// Edge features of every entry (zeros for an added self loop), when asked for.
    fn edge_features(&self, b: &mut Batch) {
        let s = &*self.graph.store;
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
        let s = &*self.graph.store;
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
