//! The synthetic generator: deterministic per seed, the requested shape, and a graph on which
//! neighbourhood aggregation clearly beats a node's own features.

mod common;
use common::*;
use mille_pipeline::Labels;
use mille_pipeline::synth::{SynthConfig, generate};

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for rel in ["raw/edge.csv.gz", "raw/node-feat.csv.gz", "raw/node-label.csv.gz", "split/sales_ranking/train.csv.gz"]
    {
        out.push((rel.to_string(), std::fs::read(dir.join(rel)).unwrap()));
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_graph() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SynthConfig { nodes: 3000, avg_degree: 10.0, features: 8, classes: 5, ..SynthConfig::default() };
    generate(&cfg, &tmp.path().join("a"), &Default::default()).unwrap();
    generate(&cfg, &tmp.path().join("b"), &Default::default()).unwrap();
    generate(&SynthConfig { seed: 1, ..cfg.clone() }, &tmp.path().join("c"), &Default::default()).unwrap();
    assert_eq!(files(&tmp.path().join("a")), files(&tmp.path().join("b")));
    assert_ne!(files(&tmp.path().join("a"))[0], files(&tmp.path().join("c"))[0]);
}

#[test]
fn shape_matches_the_request_and_ogb_conventions() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SynthConfig { nodes: 5000, avg_degree: 12.0, features: 16, classes: 7, ..SynthConfig::default() };
    let r = generate(&cfg, &tmp.path().join("g"), &Default::default()).unwrap();
    assert_eq!(r.edges, 30_000);
    let edges = csv_i64(&tmp.path().join("g/raw/edge.csv.gz"));
    assert_eq!(edges.len(), 30_000);
    let mut keys: Vec<(i64, i64)> = edges.iter().map(|e| (e[0].min(e[1]), e[0].max(e[1]))).collect();
    assert!(edges.iter().all(|e| e[0] != e[1]), "no self loops");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 30_000, "each undirected edge once");
    let s = prepare(&tmp.path().join("g"), "store", true, tmp.path());
    assert_eq!(s.num_edges(), 60_000);
    assert_eq!(s.features().unwrap().cols, 16);
    let sp = s.split("sales_ranking").unwrap();
    assert_eq!((sp.train.len(), sp.valid.len(), sp.test.len()), (400, 100, 4500));
    let Some(Labels::MultiClass(y)) = s.labels() else { panic!() };
    let mut counts = vec![0; 7];
    y.iter().for_each(|&c| counts[c as usize] += 1);
    counts.sort();
    assert!(counts[6] > 3 * counts[0], "skewed class sizes: {counts:?}");
}

/// Nearest-centroid accuracy (centroids from the train nodes) on the test nodes, for features
/// `x` (row-major, `d` columns).
fn centroid_accuracy(x: &[f32], d: usize, y: &[i32], train: &[u32], test: &[u32], classes: usize) -> f64 {
    let mut c = vec![0f64; classes * d];
    let mut n = vec![0f64; classes];
    for &i in train {
        let k = y[i as usize] as usize;
        n[k] += 1.0;
        for j in 0..d {
            c[k * d + j] += x[i as usize * d + j] as f64;
        }
    }
    for k in 0..classes {
        for j in 0..d {
            c[k * d + j] /= n[k].max(1.0);
        }
    }
    let hits = test
        .iter()
        .filter(|&&i| {
            let row = &x[i as usize * d..(i as usize + 1) * d];
            let best = (0..classes)
                .filter(|&k| n[k] > 0.0)
                .min_by(|&a, &b| {
                    let da: f64 = row.iter().enumerate().map(|(j, &v)| (v as f64 - c[a * d + j]).powi(2)).sum();
                    let db: f64 = row.iter().enumerate().map(|(j, &v)| (v as f64 - c[b * d + j]).powi(2)).sum();
                    da.total_cmp(&db)
                })
                .unwrap();
            best as i32 == y[i as usize]
        })
        .count();
    hits as f64 / test.len() as f64
}

#[test]
fn aggregating_neighbours_clearly_beats_own_features() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg =
        SynthConfig { nodes: 20_000, avg_degree: 20.0, features: 32, classes: 10, seed: 5, ..SynthConfig::default() };
    generate(&cfg, &tmp.path().join("g"), &Default::default()).unwrap();
    let s = prepare(&tmp.path().join("g"), "store", true, tmp.path());
    let f = s.features().unwrap();
    let Some(Labels::MultiClass(y)) = s.labels() else { panic!() };
    let sp = s.split("sales_ranking").unwrap();
    // One round of mean aggregation over neighbours and self: what a 1-layer GNN sees.
    let mut agg = vec![0f32; f.data.len()];
    for v in 0..s.num_nodes() {
        let nb = s.neighbors(v);
        let out = &mut agg[v * f.cols..(v + 1) * f.cols];
        for &u in nb.iter().chain(std::iter::once(&(v as u32))) {
            for (o, &x) in out.iter_mut().zip(f.row(u as usize)) {
                *o += x / (nb.len() + 1) as f32;
            }
        }
    }
    let own = centroid_accuracy(f.data, f.cols, y, sp.train, sp.test, 10);
    let neigh = centroid_accuracy(&agg, f.cols, y, sp.train, sp.test, 10);
    eprintln!("nearest centroid: own features {own:.3}, aggregated {neigh:.3}");
    assert!(own < 0.7, "own features alone are a weak witness: {own}");
    assert!(neigh > own + 0.15, "aggregation helps clearly: {own} -> {neigh}");
}

#[test]
fn proteins_like_has_ogbn_proteins_layout_species_split_and_binary_tasks() {
    use mille_pipeline::synth::Like;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        like: Like::Proteins,
        nodes: 3000,
        avg_degree: 20.0,
        features: 0,
        classes: 6,
        tasks: 16,
        ..SynthConfig::default()
    };
    let dir = tmp.path().join("p");
    let r = generate(&cfg, &dir, &Default::default()).unwrap();
    assert_eq!(r.edges, 30_000);
    assert!(!dir.join("raw/node-feat.csv.gz").exists(), "ogbn-proteins has no node features");
    let ef = csv_f32(&dir.join("raw/edge-feat.csv.gz"));
    assert_eq!(ef.len(), 30_000);
    assert!(ef.iter().all(|r| r.len() == 8 && r.iter().all(|&x| (0.0..=1.0).contains(&x))));
    let zeros = ef.iter().flatten().filter(|&&x| x == 0.0).count() as f64 / (30_000.0 * 8.0);
    assert!((0.3..0.6).contains(&zeros), "sparse association scores: {zeros}");
    let s = prepare(&dir, "q", true, tmp.path());
    assert_eq!(s.num_edges(), 60_000);
    assert_eq!(s.features().unwrap().cols, 8, "the full-graph sums");
    let species = s.node_array("species").unwrap();
    let ids = [3702, 4932, 6239, 7227, 7955, 9606, 10090, 511145];
    assert!(species.data.iter().all(|v| ids.contains(v)));
    let sp = s.split("species").unwrap();
    let of = |ids: &[u32]| {
        let mut k: Vec<i64> = ids.iter().map(|&i| species.data[i as usize]).collect();
        k.sort();
        k.dedup();
        k
    };
    assert_eq!((of(sp.train).len(), of(sp.valid), of(sp.test)), (6, vec![10090], vec![511145]));
    assert_eq!(sp.train.len() + sp.valid.len() + sp.test.len(), 3000);
    let Some(Labels::MultiLabel(y)) = s.labels() else { panic!("binary tasks") };
    assert_eq!(y.cols, 16);
    for t in 0..16 {
        let pos = (0..3000).filter(|&i| y.row(i)[t] == 1).count() as f64 / 3000.0;
        assert!((0.03..0.45).contains(&pos), "task {t}: {pos} positive");
    }
    let again = tmp.path().join("p2");
    generate(&cfg, &again, &Default::default()).unwrap();
    for f in ["raw/edge.csv.gz", "raw/edge-feat.csv.gz", "raw/node-label.csv.gz", "raw/node_species.csv.gz"] {
        assert_eq!(std::fs::read(dir.join(f)).unwrap(), std::fs::read(again.join(f)).unwrap(), "{f}");
    }
}

#[test]
fn arxiv_like_cites_newer_to_older_with_reciprocal_pairs_and_a_time_split() {
    use mille_pipeline::synth::Like;
    let tmp = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        like: Like::Arxiv,
        nodes: 4000,
        avg_degree: 10.0,
        features: 16,
        classes: 8,
        ..SynthConfig::default()
    };
    let dir = tmp.path().join("a");
    let r = generate(&cfg, &dir, &Default::default()).unwrap();
    let edges = csv_i64(&dir.join("raw/edge.csv.gz"));
    assert_eq!(edges.len() as u64, r.edges);
    assert!(r.edges > 20_000 && r.edges < 20_600, "about 1 % of 20,000 pairs both ways: {}", r.edges);
    let years: Vec<i64> = csv_i64(&dir.join("raw/node_year.csv.gz")).iter().map(|r| r[0]).collect();
    let older = edges.iter().filter(|e| years[e[0] as usize] >= years[e[1] as usize]).count();
    assert!(older as f64 > 0.98 * edges.len() as f64, "citations go to older papers");
    let s = prepare(&dir, "arx", false, tmp.path());
    let sp = s.split("time").unwrap();
    assert!(sp.train.iter().all(|&i| years[i as usize] <= 2017));
    assert!(sp.valid.iter().all(|&i| years[i as usize] == 2018) && sp.test.iter().all(|&i| years[i as usize] == 2019));
    let share = sp.train.len() as f64 / 4000.0;
    assert!((0.48..0.60).contains(&share), "{share}");
}
