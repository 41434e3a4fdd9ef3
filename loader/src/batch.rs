//! One batch: a subgraph in local ids, with everything a GNN step needs. Data only: samplers
//! (`crate::sampler`) decide which nodes and edges, the builder (`crate::build`) gathers them.

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
    /// seeds + hop 1's new nodes, ...]` (fan-outs + 2 entries); `None` for an induced subgraph.
    /// Rows `hops[h]..hops[h + 1]` of the CSR hold the edges sampled at hop `h`.
    pub hops: Option<Vec<usize>>,
    /// For a GraphSAINT batch, its normalisation; `None` otherwise.
    pub saint: Option<SaintWeights>,
}

/// A GraphSAINT batch's normalisation (see [`crate::SaintNorm`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SaintWeights {
    /// Each node's loss weight `S / (C_v T)`.
    pub node_norm: Vec<f32>,
    /// Each CSR entry's aggregator weight `C_v / C_{u,v}` (1 for an added self loop).
    pub edge_norm: Vec<f32>,
    /// Each node's in-degree in the whole graph (with the self loop the batch adds, when it adds
    /// one): what an aggregator normalised as on the full graph divides by.
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
    /// A batch with no data (counted among [`Batch::live`] until dropped).
    pub(crate) fn empty() -> Batch {
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
            hops: None,
            saint: None,
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
        self.hops.as_ref().map_or(self.nodes.len(), |h| h[1])
    }
    /// Hops of a neighbour-sampled batch (0 for an induced subgraph).
    pub fn num_hops(&self) -> usize {
        self.hops.as_ref().map_or(0, |h| h.len() - 2)
    }
    /// Hop `h`'s block of a neighbour-sampled batch.
    pub fn block(&self, h: usize) -> Option<Block<'_>> {
        let hops = self.hops.as_ref().filter(|_| h < self.num_hops())?;
        Some(Block {
            targets: hops[h]..hops[h + 1],
            indptr: &self.indptr[hops[h]..=hops[h + 1]],
            indices: &self.indices,
        })
    }
    /// Readies a recycled batch (or a new one) to be filled as batch `index` of view `view`:
    /// the optional parts are cleared, the buffers kept.
    pub(crate) fn reuse(into: Option<Batch>, index: usize, view: u32) -> Batch {
        let mut b = into.unwrap_or_else(Batch::empty);
        (b.index, b.view, b.hops, b.saint) = (index, view, None, None);
        b
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
            + self.hops.as_ref().map_or(0, |h| h.len() * 8)
            + self.saint.as_ref().map_or(0, |s| (s.node_norm.len() + s.edge_norm.len() + s.degree.len()) * 4)
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
