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

use super::{Context, Sampler};
use crate::batch::Batch;
use crate::build::{Builder, Csr};
use crate::error::{Error, Result};
use crate::plan::Plan;
use mille_pipeline::seed::Seed;
use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
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

/// GraphSAINT's sampler: the candidates, the coefficients pre-sampled from them when it is made,
/// and per epoch `ceil(T / nominal nodes)` subgraphs.
pub(crate) struct SaintSubgraphs {
    sampler: SaintSampler,
    candidates: Candidates,
    norm: Arc<SaintNorm>,
}

impl SaintSubgraphs {
    /// Pre-samples `coverage` times the node count in nominal subgraph nodes from `candidates`
    /// (on the context's worker count) and counts the coefficients.
    pub(crate) fn new(
        ctx: &Context<'_>,
        candidates: Vec<u32>,
        sampler: SaintSampler,
        coverage: u32,
    ) -> Result<SaintSubgraphs> {
        let bad = |what: &str| Error::Invalid(format!("GraphSAINT: {what}"));
        match sampler {
            SaintSampler::RandomWalk { roots: 0, .. } => return Err(bad("roots must be at least 1")),
            SaintSampler::Nodes { budget: 0 } => return Err(bad("the node budget must be at least 1")),
            _ if coverage == 0 => return Err(bad("the pre-sampling coverage must be at least 1")),
            _ => {}
        }
        let n = ctx.graph.store.num_nodes();
        let samples = (coverage as u64 * n as u64).div_ceil(sampler.nominal_nodes() as u64);
        let samples =
            u32::try_from(samples).map_err(|_| bad("coverage x nodes / subgraph size passes 2^32 subgraphs"))?;
        let csr = ctx.graph.csr();
        let candidates = Candidates::new(candidates, csr.indptr, sampler).map_err(Error::Invalid)?;
        // Unlike any epoch's seed.
        let seed = ctx.seed.epoch(u64::MAX).derive(7, 0);
        let t = std::time::Instant::now();
        let norm = count_subgraphs(csr, &candidates, sampler, samples, seed, ctx.workers);
        tracing::info!("GraphSAINT: {samples} subgraphs pre-sampled for the coefficients in {:.2?}", t.elapsed());
        Ok(SaintSubgraphs { sampler, candidates, norm: Arc::new(norm) })
    }
}

impl Sampler for SaintSubgraphs {
    /// Each subgraph's drawn nodes: its walk roots, or the node sampler's nodes.
    fn plan(&self, epoch: Seed) -> Plan {
        let steps = self.candidates.nodes.len().div_ceil(self.sampler.nominal_nodes());
        let mut rng = epoch.rng();
        let batches = (0..steps).map(|_| self.candidates.draw(self.sampler, &mut rng)).collect();
        Plan::new(batches, epoch.derive(29, 0xA5A5).get())
    }

    /// The subgraph from the batch's drawn nodes (walk roots, or the node sample), with its coefficients and full-graph degrees.
    fn build(&self, plan: &Plan, index: usize, builder: &mut Builder, mut into: Option<Batch>) -> Result<Batch> {
        // A recycled batch's weight buffers are refilled, not reallocated: fresh ones cost 2.6 %
        // of the batches per second (238.5 against 244.9 b/s for the loader before samplers
        // were plug-ins; refilled, 241.2 against its 236.2: `tools/bench loader --sampler saint
        // --roots 3000 --walk-length 2` on 300k nodes, alternating runs).
        let mut w = into.as_mut().and_then(|b| b.saint.take()).unwrap_or_default();
        let (graph, loops) = (builder.graph(), builder.self_loops());
        let csr = graph.csr();
        let n = csr.indptr.len() - 1;
        let drawn = &plan.batches[index];
        if let Some(v) = drawn.iter().find(|&&v| v as usize >= n) {
            return Err(Error::Invalid(format!("batch {index}: node {v} is not a node of the {n}")));
        }
        let mut rng = Seed::new(plan.seed).batch(index).rng();
        let nodes = subgraph_nodes(csr, drawn, self.sampler, &mut rng);
        let mut b = builder.build(&nodes, index, 0, into)?;
        let norm = &*self.norm;
        w.node_norm.clear();
        w.edge_norm.clear();
        w.degree.clear();
        w.node_norm.extend(b.nodes.iter().map(|&v| norm.node_norm(v)));
        for (i, &v) in b.nodes.iter().enumerate() {
            let (lo, hi) = (b.indptr[i] as usize, b.indptr[i + 1] as usize);
            w.edge_norm
                .extend(b.edge_pos[lo..hi].iter().map(|&p| if p == u64::MAX { 1.0 } else { norm.edge_norm(v, p) }));
            let (glo, ghi) = (csr.indptr[v as usize] as usize, csr.indptr[v as usize + 1] as usize);
            let looped = loops && csr.indices[glo..ghi].binary_search(&v).is_err();
            w.degree.push((ghi - glo) as u32 + looped as u32);
        }
        b.saint = Some(w);
        Ok(b)
    }

    fn saint_norm(&self) -> Option<&Arc<SaintNorm>> {
        Some(&self.norm)
    }
}

/// Draws subgraphs' drawn nodes from the candidates: walk roots uniformly, or node-sampler
/// nodes by in-degree.
pub(crate) struct Candidates {
    nodes: Vec<u32>,
    by_degree: Option<WeightedIndex<u64>>,
}

impl Candidates {
    /// Over `nodes`, for `sampler` (the node sampler weighs them by their rows in `indptr`).
    pub(crate) fn new(nodes: Vec<u32>, indptr: &[u64], sampler: SaintSampler) -> Result<Self, String> {
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

    /// One subgraph's drawn nodes: `roots` walk roots (repeats kept) or the node sampler's
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

/// The subgraph's nodes (ascending, distinct) from its drawn nodes: the walks from those roots,
/// roots included, for the random-walk sampler; the drawn nodes themselves for the node sampler.
pub(crate) fn subgraph_nodes(csr: Csr<'_>, drawn: &[u32], sampler: SaintSampler, rng: &mut impl Rng) -> Vec<u32> {
    let mut out = drawn.to_vec();
    if let SaintSampler::RandomWalk { walk_length, .. } = sampler {
        out.reserve(drawn.len() * walk_length);
        for &root in drawn {
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
    let draw = Candidates::new(candidates.to_vec(), indptr, sampler)?;
    Ok(count_subgraphs(Csr { indptr, indices }, &draw, sampler, samples, Seed::new(seed), threads))
}

/// [`estimate`] with its candidates made.
fn count_subgraphs(
    csr: Csr<'_>,
    draw: &Candidates,
    sampler: SaintSampler,
    samples: u32,
    seed: Seed,
    threads: usize,
) -> SaintNorm {
    let n = csr.indptr.len() - 1;
    let node_count: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
    let edge_count: Vec<AtomicU32> = (0..csr.indices.len()).map(|_| AtomicU32::new(0)).collect();
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
                    let mut rng = seed.batch(i).rng();
                    let drawn = draw.draw(sampler, &mut rng);
                    let nodes = subgraph_nodes(csr, &drawn, sampler, &mut rng);
                    count(csr, &nodes, &mut member, &node_count, &edge_count);
                }
            });
        }
    });
    let unwrap = |v: Vec<AtomicU32>| v.into_iter().map(AtomicU32::into_inner).collect();
    SaintNorm {
        samples,
        candidates: draw.nodes.len() as u32,
        node_count: unwrap(node_count),
        edge_count: unwrap(edge_count),
    }
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
