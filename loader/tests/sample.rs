//! Neighbour sampling: every sampled edge is the graph's, per-hop in-degrees are min(degree,
//! fan-out), draws are uniform (a chi-square test), and batches do not depend on the worker
//! count.

use mille_loader::*;
use mille_pipeline::Store;
use std::collections::HashSet;
use std::sync::Arc;

mod common;
use common::cora;

fn sampling(fanouts: &[u32], batch_size: usize, replace: bool) -> PlanSpec {
    PlanSpec::Neighbors { fanouts: fanouts.to_vec(), batch_size, replace }
}

fn loader(s: &Arc<Store>, plan: PlanSpec, workers: usize, seed: u64) -> Loader {
    Loader::new(s.clone(), LoaderConfig { plan, workers, seed, ..Default::default() }).unwrap()
}

#[test]
fn sampled_edges_are_the_graphs_with_min_degree_fanout_per_node_and_seeds_first() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let fanouts = [5u32, 3, 2];
    let l = loader(&s, sampling(&fanouts, 32, false), 2, 7);
    let plan = l.plan(0);
    let train: HashSet<u32> = s.split("public").unwrap().train.iter().copied().collect();
    assert_eq!(plan.batches.iter().map(Vec::len).sum::<usize>(), train.len(), "every training node seeds once");
    let (indptr, indices) = (s.indptr(), s.indices());
    for (b, seeds) in l.epoch(0).map(Result::unwrap).zip(&plan.batches) {
        assert_eq!(&b.nodes[..b.num_seeds()], &seeds[..], "seeds first, in plan order");
        assert!(seeds.iter().all(|v| train.contains(v)));
        assert_eq!(b.num_hops(), 3);
        assert_eq!(b.nodes.iter().collect::<HashSet<_>>().len(), b.nodes.len(), "n_id has no repeats");
        assert_eq!(b.indptr.len(), b.nodes.len() + 1);
        for (h, &fanout) in fanouts.iter().enumerate() {
            let block = b.block(h).unwrap();
            for (r, i) in block.targets.clone().enumerate() {
                let v = b.nodes[i] as usize;
                let row = &indices[indptr[v] as usize..indptr[v + 1] as usize];
                let (lo, hi) = (block.indptr[r] as usize, block.indptr[r + 1] as usize);
                assert_eq!(hi - lo, row.len().min(fanout as usize), "node {v} at hop {h}");
                let mut positions = HashSet::new();
                for e in lo..hi {
                    let p = b.edge_pos[e];
                    assert!(p >= indptr[v] && p < indptr[v + 1], "edge position {p} is in node {v}'s row");
                    assert!(positions.insert(p), "without replacement no edge repeats");
                    assert_eq!(b.nodes[b.indices[e] as usize], indices[p as usize], "source of the edge");
                    // A source is a node of this hop or the next one.
                    assert!((b.indices[e] as usize) < b.hops.as_ref().unwrap()[h + 2]);
                }
            }
        }
        // The last hop's nodes have no sampled in-edges.
        let last = b.hops.as_ref().unwrap()[3];
        assert!(b.indptr[last..].iter().all(|&x| x == b.indices.len() as u64));
        // Features and labels are gathered for every sampled node.
        let f = s.features().unwrap();
        for (i, &v) in b.nodes.iter().enumerate().step_by(17) {
            assert_eq!(&b.features[i * f.cols..(i + 1) * f.cols], f.row(v as usize));
        }
    }
}

#[test]
fn each_neighbour_is_drawn_with_probability_fanout_over_degree() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    // The highest-degree node, alone as the seed of one-hop samples of 5 neighbours.
    let hub = (0..s.num_nodes()).max_by_key(|&v| s.degree(v)).unwrap() as u32;
    let degree = s.degree(hub as usize);
    assert!(degree > 50, "{degree}");
    let cfg = LoaderConfig {
        plan: sampling(&[5], 1, false),
        restrict_to: Some(Arc::new(vec![hub])),
        workers: 1,
        seed: 3,
        ..Default::default()
    };
    let l = Loader::new(s.clone(), cfg).unwrap();
    let epochs = 4000;
    let lo = s.indptr()[hub as usize];
    let mut counts = vec![0u64; degree];
    for e in 0..epochs {
        let b = l.epoch(e).next().unwrap().unwrap();
        assert_eq!(b.num_edges(), 5);
        for &p in &b.edge_pos {
            counts[(p - lo) as usize] += 1;
        }
    }
    // Chi-square against uniform: expected epochs * 5 / degree per position, degree - 1
    // degrees of freedom. The 0.999 quantile is below dof + 3.1 sqrt(2 dof) + 1 for these
    // sizes (Wilson-Hilferty), so a correct sampler fails 1 run in 1000 at most; the seed is
    // fixed, so the test does not flake.
    let expected = epochs as f64 * 5.0 / degree as f64;
    let chi2: f64 = counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum();
    let dof = (degree - 1) as f64;
    let bound = dof + 3.1 * (2.0 * dof).sqrt() + 1.0;
    assert!(chi2 < bound, "chi-square {chi2:.1} over {bound:.1} (dof {dof})");
    // And each position's share is within a z = 4.5 binomial bound of 5 / degree.
    let p = 5.0 / degree as f64;
    let sd = (epochs as f64 * p * (1.0 - p)).sqrt();
    for (k, &c) in counts.iter().enumerate() {
        assert!((c as f64 - expected).abs() < 4.5 * sd, "position {k}: {c} draws, expected {expected:.1}");
    }
}

#[test]
fn with_replacement_every_node_of_positive_degree_gets_the_full_fanout() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let l = loader(&s, sampling(&[30], 16, true), 2, 0);
    let mut repeated = false;
    for b in l.epoch(0).map(Result::unwrap) {
        let block = b.block(0).unwrap();
        for r in 0..block.targets.len() {
            let v = b.nodes[r] as usize;
            let n = (block.indptr[r + 1] - block.indptr[r]) as usize;
            assert_eq!(n, if s.degree(v) > 0 { 30 } else { 0 });
            let row: Vec<u64> = b.edge_pos[block.indptr[r] as usize..block.indptr[r + 1] as usize].to_vec();
            repeated |= row.iter().collect::<HashSet<_>>().len() < row.len();
        }
    }
    assert!(repeated, "30 draws from rows mostly shorter than 30 repeat some neighbour");
}

#[test]
fn the_same_sampled_batches_with_1_2_and_4_workers_and_new_ones_each_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let run = |workers: usize, epoch: u64| -> Vec<Batch> {
        loader(&s, sampling(&[10, 5], 20, false), workers, 11).epoch(epoch).map(Result::unwrap).collect()
    };
    let one = run(1, 2);
    assert_eq!(one.len(), 7); // 140 training nodes, 20 a batch
    assert_eq!(one, run(2, 2));
    assert_eq!(one, run(4, 2));
    assert_ne!(
        one.iter().map(|b| &b.nodes).collect::<Vec<_>>(),
        run(2, 3).iter().map(|b| &b.nodes).collect::<Vec<_>>()
    );
}

#[test]
fn a_seed_outside_the_graph_is_an_error_for_its_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let l = loader(&s, sampling(&[3], 2, false), 1, 0);
    let plan = Plan { batches: vec![vec![0, 1], vec![5, 999_999], vec![4, 4]], view: vec![0; 3], seed: 1 };
    let got: Vec<_> = l.run(plan).collect();
    assert!(got[0].is_ok());
    assert!(got[1].as_ref().unwrap_err().to_string().contains("batch 1: seed 999999 is not a node"));
    assert!(got[2].as_ref().unwrap_err().to_string().contains("batch 2: seed 4 comes twice"));
}

#[test]
fn with_self_loops_every_row_holds_its_node_once_last_hop_included() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let cfg = LoaderConfig { plan: sampling(&[4, 2], 25, false), self_loops: true, seed: 5, ..Default::default() };
    let l = Loader::new(s.clone(), cfg).unwrap();
    for b in l.epoch(0).map(Result::unwrap) {
        for i in 0..b.nodes.len() {
            let row = b.indptr[i] as usize..b.indptr[i + 1] as usize;
            let own = b.indices[row.clone()].iter().filter(|&&u| u as usize == i).count();
            assert_eq!(own, 1, "node {i} of {}", b.nodes.len());
            // A drawn self edge keeps its store position; an added one has none.
            let drawn = s.neighbors(b.nodes[i] as usize).contains(&b.nodes[i]);
            let added = row.clone().any(|e| b.indices[e] as usize == i && b.edge_pos[e] == u64::MAX);
            assert!(added || drawn);
        }
    }
}
