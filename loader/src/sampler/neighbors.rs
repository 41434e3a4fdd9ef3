//! Node-wise neighbour sampling (GraphSAGE's fan-outs): from a batch of seed nodes, up to
//! `fanouts[h]` in-neighbours of each node first reached at hop `h - 1` (the seeds for hop 0).
//! Nodes come out seeds first, then hop by hop, as PyG orders `n_id`; each node's sampled
//! in-edges are its row of the batch's CSR, so hop `h`'s message-flow block is a contiguous range
//! of rows (see [`crate::Batch::block`]).

use super::Sampler;
use crate::batch::Batch;
use crate::build::{Builder, Csr};
use crate::error::{Error, Result};
use crate::plan::Plan;
use mille_pipeline::seed::Seed;
use rand::Rng;
use rand::seq::{SliceRandom, index};

/// Neighbour sampling from the candidate (training) nodes, shuffled every epoch.
pub(crate) struct Neighbors {
    /// The seed nodes, in their order before the shuffle.
    seeds: Vec<u32>,
    batch_size: usize,
    /// In-neighbours drawn per node, hop by hop (outermost layer last).
    fanouts: Vec<u32>,
    /// Draw with replacement (a neighbour may come twice; a node of degree d > 0 gets exactly
    /// the fan-out) instead of distinct neighbours (min(degree, fan-out) of them).
    replace: bool,
}

impl Neighbors {
    pub(crate) fn new(seeds: Vec<u32>, batch_size: usize, fanouts: Vec<u32>, replace: bool) -> Neighbors {
        Neighbors { seeds, batch_size, fanouts, replace }
    }
}

impl Sampler for Neighbors {
    /// The seeds shuffled from the epoch's seed, `batch_size` to a batch.
    fn plan(&self, epoch: Seed) -> Plan {
        let mut seeds = self.seeds.clone();
        seeds.shuffle(&mut epoch.rng());
        let batches = seeds.chunks(self.batch_size.max(1)).map(<[u32]>::to_vec).collect();
        Plan::new(batches, epoch.derive(17, 0x5A5A).get())
    }

    /// The neighbours sampled from the batch's seeds, with the features, labels and masks of
    /// every sampled node; with self loops, every row also holds its own node (added where not
    /// drawn, last-hop rows included).
    fn build(&self, plan: &Plan, index: usize, builder: &mut Builder, into: Option<Batch>) -> Result<Batch> {
        builder.check_unchanged()?;
        let mut b = Batch::reuse(into, index, 0);
        let (graph, loops) = (builder.graph(), builder.self_loops());
        let mut rng = Seed::new(plan.seed).batch(index).rng();
        sample(self, graph.csr(), &plan.batches[index], loops, &mut rng, builder.table(), &mut b)
            .map_err(|e| Error::Invalid(format!("batch {index}: {e}")))?;
        builder.gather(&mut b)?;
        Ok(b)
    }
}

/// Marks a node not (yet) in the batch in the builder's table of local ids.
const ABSENT: u32 = u32::MAX;

/// Fills `b.nodes`, `b.indptr`, `b.indices`, `b.edge_pos` and `b.hops` with the sample drawn
/// from `seeds` over `csr`, drawing from `rng`; `local` maps nodes to local ids while it runs
/// (all `ABSENT` before and after). Returns an error text for a seed that repeats or is not a
/// node. O(sampled edges): the table is reset from the batch's node list.
fn sample(
    spec: &Neighbors,
    csr: Csr<'_>,
    seeds: &[u32],
    loops: bool,
    rng: &mut impl Rng,
    local: &mut [u32],
    b: &mut Batch,
) -> Result<(), String> {
    b.nodes.clear();
    b.indptr.clear();
    b.indices.clear();
    b.edge_pos.clear();
    if let Err(e) = add_seeds(local, seeds, b) {
        reset(local, &b.nodes);
        return Err(e);
    }
    let mut hops = vec![0, b.nodes.len()];
    b.indptr.push(0);
    let Csr { indptr, indices } = csr;
    let mut picks: Vec<usize> = Vec::new();
    for &fanout in &spec.fanouts {
        let (start, end) = (hops[hops.len() - 2], hops[hops.len() - 1]);
        for i in start..end {
            let v = b.nodes[i] as usize;
            let (lo, hi) = (indptr[v] as usize, indptr[v + 1] as usize);
            draw(hi - lo, fanout as usize, spec.replace, rng, &mut picks);
            let mut looped = !loops;
            for &p in &picks {
                let u = indices[lo + p];
                let l = match local[u as usize] {
                    ABSENT => {
                        let l = b.nodes.len() as u32;
                        local[u as usize] = l;
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
        hops.push(b.nodes.len());
    }
    // The last hop's nodes are sources only: empty rows (a self loop each when asked).
    for i in b.indptr.len() - 1..b.nodes.len() {
        if loops {
            b.indices.push(i as u32);
            b.edge_pos.push(u64::MAX);
        }
        b.indptr.push(b.indices.len() as u64);
    }
    reset(local, &b.nodes);
    b.hops = Some(hops);
    Ok(())
}

fn add_seeds(local: &mut [u32], seeds: &[u32], b: &mut Batch) -> Result<(), String> {
    for &s in seeds {
        let slot = local.get_mut(s as usize).ok_or_else(|| format!("seed {s} is not a node"))?;
        if *slot != ABSENT {
            return Err(format!("seed {s} comes twice"));
        }
        *slot = b.nodes.len() as u32;
        b.nodes.push(s);
    }
    Ok(())
}

fn reset(local: &mut [u32], nodes: &[u32]) {
    for &v in nodes {
        local[v as usize] = ABSENT;
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
