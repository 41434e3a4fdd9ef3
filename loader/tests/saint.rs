//! GraphSAINT: the pre-sampled counts match the exact sampling probabilities of a small graph
//! (enumerated by brute force), batches are the subgraphs their nodes induce and carry the
//! coefficients, the loss weights estimate a mean, and batches do not depend on the worker count.

use mille_loader::*;
use mille_pipeline::Store;
use std::collections::HashSet;
use std::sync::Arc;

mod common;
use common::cora;

/// A 7-node graph by in-rows (sorted): varied degrees, a self loop (5), a node whose walks stop
/// at once (6: no in-edges).
fn tiny() -> (Vec<u64>, Vec<u32>) {
    let rows: [&[u32]; 7] = [&[1, 2, 3], &[0, 2], &[0, 1, 4], &[0], &[2, 5], &[4, 5], &[]];
    let mut indptr = vec![0u64];
    let mut indices = Vec::new();
    for r in rows {
        indices.extend_from_slice(r);
        indptr.push(indices.len() as u64);
    }
    (indptr, indices)
}

/// Every outcome of one random walk of `len` steps from a uniform root among `roots`: the set
/// of visited nodes (a bitmask) and its probability.
fn walk_outcomes(indptr: &[u64], indices: &[u32], roots: &[u32], len: usize) -> Vec<(u32, f64)> {
    let mut out = Vec::new();
    fn go(indptr: &[u64], indices: &[u32], v: u32, left: usize, set: u32, p: f64, out: &mut Vec<(u32, f64)>) {
        let row = &indices[indptr[v as usize] as usize..indptr[v as usize + 1] as usize];
        if left == 0 || row.is_empty() {
            out.push((set, p));
            return;
        }
        for &u in row {
            go(indptr, indices, u, left - 1, set | 1 << u, p / row.len() as f64, out);
        }
    }
    for &r in roots {
        go(indptr, indices, r, len, 1 << r, 1.0 / roots.len() as f64, &mut out);
    }
    out
}

/// Asserts the counts' frequencies equal the exact probabilities within a binomial bound
/// (z = 4.5 for each of the ~20 values: a false failure is below 1e-4).
fn assert_frequencies(norm: &SaintNorm, indptr: &[u64], indices: &[u32], p_node: &[f64], p_edge: &[f64]) {
    let s = norm.samples as f64;
    let within = |count: u32, p: f64, what: &str| {
        let bound = 4.5 * (p * (1.0 - p) / s).sqrt() + 1e-12;
        let f = count as f64 / s;
        assert!((f - p).abs() <= bound, "{what}: frequency {f:.5}, exact {p:.5}, bound {bound:.5}");
    };
    for v in 0..p_node.len() {
        within(norm.node_count[v], p_node[v], &format!("node {v}"));
        for pos in indptr[v] as usize..indptr[v + 1] as usize {
            within(norm.edge_count[pos], p_edge[pos], &format!("edge {} -> {v}", indices[pos]));
        }
    }
}

#[test]
fn random_walk_counts_match_the_exact_probabilities_of_a_small_graph() {
    let (indptr, indices) = tiny();
    let (roots, len) = ([0u32, 3, 5, 6], 2);
    let sampler = SaintSampler::RandomWalk { roots: 2, walk_length: len };
    let norm = estimate(&indptr, &indices, &roots, sampler, 200_000, 11, 2).unwrap();
    assert_eq!((norm.samples, norm.candidates), (200_000, 4));
    // Brute force: every pair of walks (2 roots), the subgraph their union of visits induces.
    let one = walk_outcomes(&indptr, &indices, &roots, len);
    let (mut p_node, mut p_edge) = (vec![0.0; 7], vec![0.0; indices.len()]);
    for &(a, pa) in &one {
        for &(b, pb) in &one {
            let set = a | b;
            for v in 0..7 {
                if set >> v & 1 == 1 {
                    p_node[v] += pa * pb;
                    for pos in indptr[v] as usize..indptr[v + 1] as usize {
                        if set >> indices[pos] & 1 == 1 {
                            p_edge[pos] += pa * pb;
                        }
                    }
                }
            }
        }
    }
    assert_frequencies(&norm, &indptr, &indices, &p_node, &p_edge);
    // The coefficients are the paper's, from those counts.
    let (s, t) = (200_000f32, 4f32);
    for v in 0..7u32 {
        let c = norm.node_count[v as usize].max(1) as f32;
        assert_eq!(norm.node_norm(v), s / (c * t));
        for pos in indptr[v as usize]..indptr[v as usize + 1] {
            assert_eq!(norm.edge_norm(v, pos), c / norm.edge_count[pos as usize].max(1) as f32);
        }
    }
    // Counts are sums over subgraphs: the thread count does not change them.
    assert_eq!(estimate(&indptr, &indices, &roots, sampler, 5_000, 3, 1).unwrap(), {
        estimate(&indptr, &indices, &roots, sampler, 5_000, 3, 3).unwrap()
    });
}

#[test]
fn node_sampler_counts_match_the_exact_probabilities_of_a_small_graph() {
    let (indptr, indices) = tiny();
    let candidates = [0u32, 1, 2, 4, 5, 6];
    let budget = 3;
    let norm = estimate(&indptr, &indices, &candidates, SaintSampler::Nodes { budget }, 200_000, 5, 2).unwrap();
    // Each draw picks candidate v with probability deg(v) / sum(deg); v is in the subgraph when
    // drawn at least once in `budget` draws; an edge when both its ends are.
    let deg = |v: u32| (indptr[v as usize + 1] - indptr[v as usize]) as f64;
    let total: f64 = candidates.iter().map(|&v| deg(v)).sum();
    let q = |v: u32| if candidates.contains(&v) { deg(v) / total } else { 0.0 };
    let miss = |x: f64| (1.0 - x).powi(budget as i32);
    let p_node: Vec<f64> = (0..7).map(|v| 1.0 - miss(q(v))).collect();
    let mut p_edge = vec![0.0; indices.len()];
    for v in 0..7u32 {
        for pos in indptr[v as usize] as usize..indptr[v as usize + 1] as usize {
            let u = indices[pos];
            p_edge[pos] = if u == v { p_node[v as usize] } else { 1.0 - miss(q(u)) - miss(q(v)) + miss(q(u) + q(v)) };
        }
    }
    assert_frequencies(&norm, &indptr, &indices, &p_node, &p_edge);
    assert_eq!(norm.node_count[6], 0, "node 6 has no in-edge: never drawn");
    assert_eq!(norm.node_count[3], 0, "node 3 is no candidate");
}

fn saint_loader(s: &Arc<Store>, plan: PlanSpec, workers: usize, self_loops: bool) -> Loader {
    Loader::new(s.clone(), LoaderConfig { plan, workers, seed: 3, self_loops, ..Default::default() }).unwrap()
}

#[test]
fn saint_batches_are_induced_subgraphs_of_walk_nodes_carrying_their_coefficients() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let spec = PlanSpec::SaintRandomWalk { roots: 20, walk_length: 3, coverage: 20 };
    let l = saint_loader(&s, spec, 2, true);
    let plan = l.plan(0);
    let train: HashSet<u32> = s.split("public").unwrap().train.iter().copied().collect();
    assert_eq!(plan.len(), 140usize.div_ceil(80), "T / (roots (walk length + 1)) batches");
    let norm = l.saint_norm().expect("a GraphSAINT plan");
    assert_eq!(norm.samples, (20 * 2708u32).div_ceil(80));
    let (indptr, indices) = (s.indptr(), s.indices());
    let batches: Vec<Batch> = l.run(plan.clone()).map(Result::unwrap).collect();
    for (b, roots) in batches.iter().zip(&plan.batches) {
        assert_eq!(roots.len(), 20);
        assert!(roots.iter().all(|r| train.contains(r)), "roots are training nodes");
        let nodes: HashSet<u32> = b.nodes.iter().copied().collect();
        assert!(roots.iter().all(|r| nodes.contains(r)));
        assert!(b.nodes.windows(2).all(|w| w[0] < w[1]));
        // Every other node is one step from a node of the batch (the walk that reached it).
        for &v in &b.nodes {
            let row = |w: u32| &indices[indptr[w as usize] as usize..indptr[w as usize + 1] as usize];
            let reached = roots.contains(&v) || b.nodes.iter().any(|&w| row(w).contains(&v));
            assert!(reached, "node {v} is on a walk");
        }
        // Induced: every graph edge among the batch's nodes, plus a self loop where none is.
        let mut edges = 0;
        for (i, &v) in b.nodes.iter().enumerate() {
            let row = &indices[indptr[v as usize] as usize..indptr[v as usize + 1] as usize];
            let inside = row.iter().filter(|u| nodes.contains(u)).count();
            let has_loop = row.contains(&v);
            let (lo, hi) = (b.indptr[i] as usize, b.indptr[i + 1] as usize);
            assert_eq!(hi - lo, inside + !has_loop as usize, "row of node {v}");
            edges += hi - lo;
            let w = b.saint.as_ref().expect("GraphSAINT weights");
            assert_eq!(w.degree[i] as usize, row.len() + !has_loop as usize, "full degree of {v}");
            assert_eq!(w.node_norm[i], norm.node_norm(v));
            for e in lo..hi {
                let want = match b.edge_pos[e] {
                    u64::MAX => 1.0,
                    p => norm.edge_norm(v, p),
                };
                assert_eq!(w.edge_norm[e], want);
            }
        }
        assert_eq!(b.num_edges(), edges);
        let w = b.saint.as_ref().unwrap();
        assert_eq!(w.edge_norm.len(), b.num_edges());
        assert_eq!(w.node_norm.len(), b.num_nodes());
    }
    // Any worker count: the same batches.
    let one: Vec<Batch> = saint_loader(&s, l_spec(), 1, true).epoch(0).map(Result::unwrap).collect();
    let four: Vec<Batch> = saint_loader(&s, l_spec(), 4, true).epoch(0).map(Result::unwrap).collect();
    assert_eq!(one, four);
    assert_eq!(one, batches);
    let next: Vec<Batch> = saint_loader(&s, l_spec(), 1, true).epoch(1).map(Result::unwrap).collect();
    assert_ne!(next[0].nodes, one[0].nodes, "epochs differ");
}

fn l_spec() -> PlanSpec {
    PlanSpec::SaintRandomWalk { roots: 20, walk_length: 3, coverage: 20 }
}

#[test]
fn saint_loss_weights_estimate_the_mean_over_training_nodes() {
    // E[sum over a batch's training nodes of S / (C_v T)] = sum_v p_v / (p_v T) = 1, whatever
    // the sampler: averaged over 400 batches, within 4 %.
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    for spec in [
        PlanSpec::SaintRandomWalk { roots: 10, walk_length: 2, coverage: 200 },
        PlanSpec::SaintNodes { budget: 30, coverage: 200 },
    ] {
        let l = saint_loader(&s, spec.clone(), 2, false);
        let (mut total, mut batches) = (0.0f64, 0);
        for e in 0..100 {
            for b in l.epoch(e) {
                let b = b.unwrap();
                total += b
                    .saint
                    .as_ref()
                    .unwrap()
                    .node_norm
                    .iter()
                    .zip(&b.train_mask)
                    .filter(|(_, t)| **t)
                    .map(|(w, _)| *w as f64)
                    .sum::<f64>();
                batches += 1;
            }
        }
        let mean = total / batches as f64;
        eprintln!("{spec:?}: {batches} batches, mean loss weight {mean:.4}");
        assert!((mean - 1.0).abs() < 0.04, "{spec:?}: mean summed loss weight {mean}");
    }
}

#[test]
fn bad_saint_settings_are_errors_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let err = |plan: PlanSpec| {
        Loader::new(s.clone(), LoaderConfig { plan, ..Default::default() }).err().expect("refused").to_string()
    };
    assert!(
        err(PlanSpec::SaintRandomWalk { roots: 0, walk_length: 2, coverage: 5 }).contains("roots must be at least 1")
    );
    assert!(err(PlanSpec::SaintNodes { budget: 0, coverage: 5 }).contains("budget must be at least 1"));
    assert!(err(PlanSpec::SaintNodes { budget: 5, coverage: 0 }).contains("coverage must be at least 1"));
    let none = Arc::new(Vec::new());
    let plan = PlanSpec::SaintNodes { budget: 5, coverage: 1 };
    let e = Loader::new(s.clone(), LoaderConfig { plan, restrict_to: Some(none), ..Default::default() });
    assert!(e.err().unwrap().to_string().contains("needs candidate nodes"));
}
