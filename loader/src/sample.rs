//! Node-wise neighbour sampling (GraphSAGE's fan-outs): from a batch of seed nodes, up to
//! `fanouts[h]` in-neighbours of each node first reached at hop `h - 1` (the seeds for hop 0).
//! Nodes come out seeds first, then hop by hop, as PyG orders `n_id`; each node's sampled
//! in-edges are its row of the batch's CSR, so hop `h`'s message-flow block is a contiguous range
//! of rows (see [`crate::Batch::block`]).

use crate::batch::Batch;
use rand::Rng;
use rand::seq::index;

/// How a neighbour-sampled batch is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sampling {
    /// In-neighbours drawn per node, hop by hop (outermost layer last).
    pub fanouts: Vec<u32>,
    /// Draw with replacement (a neighbour may come twice; a node of degree d > 0 gets exactly
    /// the fan-out) instead of distinct neighbours (min(degree, fan-out) of them).
    pub replace: bool,
    /// The epoch's sampling seed: batch `i` draws from (seed, i), whatever thread builds it.
    pub seed: u64,
}

/// The graph's CSR by target, where neighbours are drawn from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Csr<'a> {
    pub indptr: &'a [u64],
    pub indices: &'a [u32],
}

/// What a sampled row gets besides its draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loops(pub bool);

/// A node-sized table of local ids, reused from batch to batch by one builder: a batch costs
/// O(sampled edges), and the entries it set are reset from its node list afterwards.
pub(crate) struct Sampler {
    local: Vec<u32>,
}

const ABSENT: u32 = u32::MAX;

impl Sampler {
    pub(crate) fn new(n: usize) -> Sampler {
        Sampler { local: vec![ABSENT; n] }
    }

    /// Fills `b.nodes`, `b.indptr`, `b.indices`, `b.edge_pos` and `b.hops` with the sample
    /// drawn from `seeds` over `csr`, drawing from `rng`. Returns an error text for a seed that
    /// repeats or is not a node.
    pub(crate) fn sample(
        &mut self,
        csr: Csr<'_>,
        seeds: &[u32],
        spec: &Sampling,
        loops: Loops,
        rng: &mut impl Rng,
        b: &mut Batch,
    ) -> Result<(), String> {
        b.nodes.clear();
        b.indptr.clear();
        b.indices.clear();
        b.edge_pos.clear();
        b.hops.clear();
        let checked = self.add_seeds(seeds, b);
        if let Err(e) = checked {
            self.reset(&b.nodes);
            return Err(e);
        }
        b.hops.push(0);
        b.hops.push(b.nodes.len());
        b.indptr.push(0);
        let Csr { indptr, indices } = csr;
        let mut picks: Vec<usize> = Vec::new();
        for &fanout in &spec.fanouts {
            let (start, end) = (b.hops[b.hops.len() - 2], b.hops[b.hops.len() - 1]);
            for i in start..end {
                let v = b.nodes[i] as usize;
                let (lo, hi) = (indptr[v] as usize, indptr[v + 1] as usize);
                draw(hi - lo, fanout as usize, spec.replace, rng, &mut picks);
                let mut looped = !loops.0;
                for &p in &picks {
                    let u = indices[lo + p];
                    let l = match self.local[u as usize] {
                        ABSENT => {
                            let l = b.nodes.len() as u32;
                            self.local[u as usize] = l;
                            b.nodes.push(u);
                            l
                        }
                        l => l,
                    };
                    looped |= l == i as u32;
                    b.indices.push(l);
                    b.edge_pos.push((lo + p) as u64);
                }
                if !looped {
                    // An added self loop, as the induced batches have: no store position.
                    b.indices.push(i as u32);
                    b.edge_pos.push(u64::MAX);
                }
                b.indptr.push(b.indices.len() as u64);
            }
            b.hops.push(b.nodes.len());
        }
        // The last hop's nodes are sources only: empty rows (a self loop each when asked).
        for i in b.indptr.len() - 1..b.nodes.len() {
            if loops.0 {
                b.indices.push(i as u32);
                b.edge_pos.push(u64::MAX);
            }
            b.indptr.push(b.indices.len() as u64);
        }
        self.reset(&b.nodes);
        Ok(())
    }

    fn add_seeds(&mut self, seeds: &[u32], b: &mut Batch) -> Result<(), String> {
        for &s in seeds {
            let slot = self.local.get_mut(s as usize).ok_or_else(|| format!("seed {s} is not a node"))?;
            if *slot != ABSENT {
                return Err(format!("seed {s} comes twice"));
            }
            *slot = b.nodes.len() as u32;
            b.nodes.push(s);
        }
        Ok(())
    }

    fn reset(&mut self, nodes: &[u32]) {
        for &v in nodes {
            self.local[v as usize] = ABSENT;
        }
    }
}

/// Positions `0..degree` to take, ascending: all of them when the degree is at most the fan-out
/// (without replacement), else `fanout` distinct ones (rand's `index::sample`: Floyd's
/// algorithm for few of many, O(fan-out), never a pass over the row), or `fanout` independent
/// draws with replacement.
fn draw(degree: usize, fanout: usize, replace: bool, rng: &mut impl Rng, out: &mut Vec<usize>) {
    out.clear();
    if degree == 0 || fanout == 0 {
        return;
    }
    if replace {
        out.extend((0..fanout).map(|_| rng.random_range(0..degree)));
    } else if degree <= fanout {
        out.extend(0..degree);
        return;
    } else {
        out.extend(index::sample(rng, degree, fanout).iter());
    }
    out.sort_unstable();
}

/// The seed of batch `index` of an epoch whose sampling seed is `seed` (splitmix64).
pub(crate) fn batch_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed ^ (index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
