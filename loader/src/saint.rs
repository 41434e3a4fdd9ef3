//! GraphSAINT subgraphs (Zeng et al., ICLR 2020): each batch is the subgraph induced by a random
//! set of nodes (the nodes of random walks, or nodes drawn by degree), and the batch carries the
//! normalisation that makes a loss and an aggregator over it unbiased estimates of the
//! full-graph ones. The coefficients come from counts over subgraphs pre-sampled once:
//! `C_v` (subgraphs holding node `v`) and `C_e` (subgraphs holding edge `e`, i.e. both ends);
//! with `S` pre-sampled subgraphs and `T` candidate (training) nodes,
//!
//! - the loss weight of node `v` is `S / (C_v T)` = `1 / (λ_v T)` with λ_v = C_v / S its
//!   estimated sampling probability: summed over a batch's training nodes it estimates the
//!   mean training loss;
//! - the aggregator weight of edge `u -> v` is `1 / α_{u,v}` = `C_v / C_{u,v}`: an aggregator that
//!   multiplies each sampled message by it (and normalises by full-graph degrees) estimates the
//!   full neighbourhood's aggregate.
//!
//! A count of zero (never pre-sampled) is taken as one, so a rare node or edge gets the weight
//! of one seen once rather than an infinite one.

use crate::sample::{Csr, batch_seed};
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// How a GraphSAINT subgraph's nodes are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaintSampler {
    /// `roots` root nodes drawn uniformly, with replacement, from the candidates; each walks
    /// `walk_length` steps, every step to a uniformly drawn in-neighbour (a walk stops at a node
    /// without one). The subgraph holds every node visited.
    RandomWalk {
        /// Walks per subgraph.
        roots: usize,
        /// Steps per walk.
        walk_length: usize,
    },
    /// `budget` nodes drawn with replacement from the candidates, each with probability
    /// proportional to its in-degree (GraphSAINT's node sampler); the subgraph holds the
    /// distinct ones.
    Nodes {
        /// Draws per subgraph.
        budget: usize,
    },
}

impl SaintSampler {
    /// Nodes a subgraph is drawn from at most (before repeats are merged): what an epoch's
    /// batch count and the pre-sample count are sized by.
    pub fn nominal_nodes(&self) -> usize {
        match *self {
            SaintSampler::RandomWalk { roots, walk_length } => roots * (walk_length + 1),
            SaintSampler::Nodes { budget } => budget,
        }
        .max(1)
    }
}

/// The pre-sampling counts GraphSAINT's coefficients are made of.
#[derive(Debug, PartialEq, Eq)]
pub struct SaintNorm {
    /// Subgraphs pre-sampled (`S`).
    pub samples: u32,
    /// Candidate nodes the subgraphs are drawn from (`T`, the training nodes).
    pub candidates: u32,
    /// Subgraphs holding each node (`C_v`).
    pub node_count: Vec<u32>,
    /// Subgraphs holding each edge, by CSR position (`C_e`).
    pub edge_count: Vec<u32>,
}

impl SaintNorm {
    /// Loss weight of node `v`: `S / (C_v T)`.
    pub fn node_norm(&self, v: u32) -> f32 {
        self.samples as f32 / (self.node_count[v as usize].max(1) as f32 * self.candidates.max(1) as f32)
    }

    /// Aggregator weight of the edge at CSR position `pos` into node `v`: `C_v / C_e`.
    pub fn edge_norm(&self, v: u32, pos: u64) -> f32 {
        self.node_count[v as usize].max(1) as f32 / self.edge_count[pos as usize].max(1) as f32
    }
}

/// What every GraphSAINT batch of an epoch shares: the sampler, the candidates, the epoch's
/// walk seed and the coefficients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saint {
    /// How nodes are drawn.
    pub sampler: SaintSampler,
    /// The epoch's walk seed: batch `i` walks from (seed, i), whatever thread builds it.
    pub seed: u64,
    /// The coefficients.
    pub norm: Arc<SaintNorm>,
}

/// Draws subgraphs' first nodes from the candidates: walk roots uniformly, or node-sampler
/// nodes by in-degree.
pub(crate) struct Candidates<'a> {
    nodes: &'a [u32],
    by_degree: Option<WeightedIndex<u64>>,
}

impl<'a> Candidates<'a> {
    /// Over `nodes`, for `sampler` (the node sampler weighs them by their rows in `indptr`).
    pub(crate) fn new(nodes: &'a [u32], indptr: &[u64], sampler: SaintSampler) -> Result<Self, String> {
        if nodes.is_empty() {
            return Err("GraphSAINT needs candidate nodes (the split has no training nodes)".into());
        }
        let by_degree = match sampler {
            SaintSampler::RandomWalk { .. } => None,
            SaintSampler::Nodes { .. } => {
                let degree = nodes.iter().map(|&v| indptr[v as usize + 1] - indptr[v as usize]);
                Some(WeightedIndex::new(degree).map_err(|_| {
                    "GraphSAINT's node sampler draws by in-degree, and no candidate node has an in-edge".to_string()
                })?)
            }
        };
        Ok(Candidates { nodes, by_degree })
    }

    /// One subgraph's first nodes: `roots` walk roots (repeats kept) or the node sampler's
    /// distinct nodes (ascending).
    pub(crate) fn draw(&self, sampler: SaintSampler, rng: &mut impl Rng) -> Vec<u32> {
        match (sampler, &self.by_degree) {
            (SaintSampler::Nodes { budget }, Some(w)) => {
                let mut out: Vec<u32> = (0..budget).map(|_| self.nodes[w.sample(rng)]).collect();
                out.sort_unstable();
                out.dedup();
                out
            }
            // (A node sampler's candidates always have their weights: `new` made them.)
            (SaintSampler::RandomWalk { roots, .. }, _) | (SaintSampler::Nodes { budget: roots }, None) => {
                (0..roots).map(|_| self.nodes[rng.random_range(0..self.nodes.len())]).collect()
            }
        }
    }
}

/// The subgraph's nodes (ascending, distinct) from its first nodes: the walks' visits for the
/// random-walk sampler, the first nodes themselves for the node sampler.
pub(crate) fn subgraph_nodes(csr: Csr<'_>, first: &[u32], sampler: SaintSampler, rng: &mut impl Rng) -> Vec<u32> {
    let mut out = first.to_vec();
    if let SaintSampler::RandomWalk { walk_length, .. } = sampler {
        out.reserve(first.len() * walk_length);
        for &root in first {
            let mut v = root as usize;
            for _ in 0..walk_length {
                let (lo, hi) = (csr.indptr[v] as usize, csr.indptr[v + 1] as usize);
                if lo == hi {
                    break;
                }
                v = csr.indices[rng.random_range(lo..hi)] as usize;
                out.push(v as u32);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Pre-samples `samples` subgraphs (subgraph `i` from (seed, i), on `threads` threads: the
/// counts are sums, so any thread count gives the same) and counts, for every node and edge,
/// the subgraphs holding it.
pub fn estimate(
    indptr: &[u64],
    indices: &[u32],
    candidates: &[u32],
    sampler: SaintSampler,
    samples: u32,
    seed: u64,
    threads: usize,
) -> Result<SaintNorm, String> {
    let csr = Csr { indptr, indices };
    let draw = Candidates::new(candidates, indptr, sampler)?;
    let n = indptr.len() - 1;
    let node_count: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
    let edge_count: Vec<AtomicU32> = (0..indices.len()).map(|_| AtomicU32::new(0)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut member = vec![0u64; n.div_ceil(64)];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= samples as usize {
                        return;
                    }
                    let mut rng = Pcg64::seed_from_u64(batch_seed(seed, i));
                    let first = draw.draw(sampler, &mut rng);
                    let nodes = subgraph_nodes(csr, &first, sampler, &mut rng);
                    count(csr, &nodes, &mut member, &node_count, &edge_count);
                }
            });
        }
    });
    let unwrap = |v: Vec<AtomicU32>| v.into_iter().map(AtomicU32::into_inner).collect();
    Ok(SaintNorm {
        samples,
        candidates: candidates.len() as u32,
        node_count: unwrap(node_count),
        edge_count: unwrap(edge_count),
    })
}

/// Adds one subgraph (`nodes` ascending) to the counts: each node, and each edge whose ends are
/// both in it.
fn count(csr: Csr<'_>, nodes: &[u32], member: &mut [u64], node_count: &[AtomicU32], edge_count: &[AtomicU32]) {
    for &v in nodes {
        member[v as usize >> 6] |= 1 << (v & 63);
    }
    for &v in nodes {
        node_count[v as usize].fetch_add(1, Ordering::Relaxed);
        let (lo, hi) = (csr.indptr[v as usize] as usize, csr.indptr[v as usize + 1] as usize);
        for (p, &u) in (lo..hi).zip(&csr.indices[lo..hi]) {
            if member[u as usize >> 6] >> (u & 63) & 1 == 1 {
                edge_count[p].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    for &v in nodes {
        member[v as usize >> 6] = 0;
    }
}
