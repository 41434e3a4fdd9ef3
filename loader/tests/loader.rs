//! Batches against a brute-force reference, epoch coverage, determinism across worker counts,
//! failures surfacing as errors, and prompt shutdown.

use mille_loader::*;
use mille_partition::{Method, MetisOptions, compute};
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use mille_pipeline::{Labels, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn prepare(src: &Path, name: &str, inverse: bool, root: &Path) -> Arc<Store> {
    let opts = PrepareOptions::new(name, inverse);
    Arc::new(Store::open(prepare_dir(src, &root.join(name), &opts).unwrap().path).unwrap())
}

fn cora(root: &Path) -> Arc<Store> {
    prepare(&mille_pipeline::datasets::require(&repo(), "cora"), "cora", false, root)
}

/// The induced subgraph the simple way: scan every edge of the graph, keep those with both ends
/// in the batch, rows by destination sorted by source.
fn reference(s: &Store, nodes: &[u32], self_loops: bool) -> (Vec<u64>, Vec<u32>, Vec<u64>) {
    let local: HashMap<u32, u32> = nodes.iter().enumerate().map(|(i, &v)| (v, i as u32)).collect();
    let mut rows: Vec<Vec<(u32, u64)>> = vec![Vec::new(); nodes.len()];
    for v in 0..s.num_nodes() {
        for p in s.indptr()[v]..s.indptr()[v + 1] {
            let u = s.indices()[p as usize];
            if let (Some(&lv), Some(&lu)) = (local.get(&(v as u32)), local.get(&u)) {
                rows[lv as usize].push((lu, p));
            }
        }
    }
    let (mut indptr, mut indices, mut pos) = (vec![0u64], Vec::new(), Vec::new());
    for (i, mut r) in rows.into_iter().enumerate() {
        if self_loops && !r.iter().any(|&(u, _)| u == i as u32) {
            r.push((i as u32, u64::MAX));
        }
        r.sort();
        indices.extend(r.iter().map(|x| x.0));
        pos.extend(r.iter().map(|x| x.1));
        indptr.push(indices.len() as u64);
    }
    (indptr, indices, pos)
}

fn check_batch(s: &Store, b: &Batch, self_loops: bool) {
    assert!(b.nodes.windows(2).all(|w| w[0] < w[1]));
    let (indptr, indices, pos) = reference(s, &b.nodes, self_loops);
    assert_eq!(b.indptr, indptr);
    assert_eq!(b.indices, indices);
    assert_eq!(b.edge_pos, pos);
    if let Some(f) = s.features() {
        assert_eq!(b.feature_dim, f.cols);
        for (i, &v) in b.nodes.iter().enumerate() {
            assert_eq!(&b.features[i * f.cols..(i + 1) * f.cols], f.row(v as usize));
        }
    }
    match (s.labels(), &b.labels) {
        (Some(Labels::MultiClass(y)), BatchLabels::MultiClass(got)) => {
            assert_eq!(got, &b.nodes.iter().map(|&v| y[v as usize]).collect::<Vec<_>>())
        }
        (Some(Labels::MultiLabel(m)), BatchLabels::MultiLabel { tasks, values }) => {
            assert_eq!(*tasks, m.cols);
            for (i, &v) in b.nodes.iter().enumerate() {
                assert_eq!(&values[i * m.cols..(i + 1) * m.cols], m.row(v as usize));
            }
        }
        (None, BatchLabels::None) => {}
        other => panic!("label kinds differ: {other:?}"),
    }
    let split = s.default_split().unwrap();
    for (mask, ids) in [(&b.train_mask, split.train), (&b.valid_mask, split.valid), (&b.test_mask, split.test)] {
        for (i, &v) in b.nodes.iter().enumerate() {
            assert_eq!(mask[i], ids.contains(&v));
        }
    }
}

#[test]
fn batches_equal_the_brute_force_induced_subgraph() {
    let tmp = tempfile::tempdir().unwrap();
    let stores = [
        cora(tmp.path()),
        prepare(&repo().join("fixtures/products_like"), "p", true, tmp.path()),
        prepare(&repo().join("fixtures/proteins_like"), "q", true, tmp.path()),
        prepare(&repo().join("fixtures/arxiv_like"), "a", false, tmp.path()),
    ];
    for s in stores {
        for self_loops in [false, true] {
            for plan in [PlanSpec::RandomParts { parts: 3 }, PlanSpec::Full, PlanSpec::Views { views: 2, parts: 2 }] {
                let l = Loader::new(s.clone(), LoaderConfig { plan, self_loops, ..Default::default() }).unwrap();
                for b in l.epoch(1) {
                    check_batch(&s, &b.unwrap(), self_loops);
                }
            }
        }
        // Edge features follow their entries (proteins-like has them).
        if let Some(ef) = s.edge_features() {
            let l =
                Loader::new(s.clone(), LoaderConfig { plan: PlanSpec::RandomParts { parts: 2 }, ..Default::default() })
                    .unwrap();
            for b in l.epoch(0) {
                let b = b.unwrap();
                for (j, &p) in b.edge_pos.iter().enumerate() {
                    assert_eq!(&b.edge_features[j * ef.cols..(j + 1) * ef.cols], ef.row(p as usize));
                }
            }
        }
    }
}

#[test]
fn rows_of_a_multiple_of_four_floats_are_copied_exactly() {
    // 8 and 12 columns take the streaming-store path, 6 (the fixture's own) the plain one.
    let tmp = tempfile::tempdir().unwrap();
    let s = prepare(&repo().join("fixtures/products_like"), "p", true, tmp.path());
    for dim in [8usize, 12] {
        let wide = Arc::new(
            mille_pipeline::widen::widen_features(&s, &tmp.path().join(format!("w{dim}")), dim, 0.5, 3).unwrap(),
        );
        assert_eq!(wide.features().unwrap().cols, dim);
        let l =
            Loader::new(wide.clone(), LoaderConfig { plan: PlanSpec::RandomParts { parts: 3 }, ..Default::default() })
                .unwrap();
        for b in l.epoch(0) {
            check_batch(&wide, &b.unwrap(), false);
        }
    }
}

#[test]
fn cluster_gcn_groups_keep_the_edges_between_their_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let p = Arc::new(compute(&s, &Method::Metis(MetisOptions::default()), 12, 0).unwrap());
    let l = Loader::new(
        s.clone(),
        LoaderConfig { plan: PlanSpec::ClusterGcn { partition: p.clone(), per_batch: 3 }, ..Default::default() },
    )
    .unwrap();
    let batches: Vec<Batch> = l.epoch(0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 4);
    for b in &batches {
        let parts: std::collections::BTreeSet<u32> = b.nodes.iter().map(|&v| p.part_of(v as usize)).collect();
        assert_eq!(parts.len(), 3);
        check_batch(&s, b, false);
    }
    let order = |e| l.plan(e).batches.iter().map(|b| p.part_of(b[0] as usize)).collect::<Vec<_>>();
    assert_ne!(order(0), order(1), "groups reshuffled each epoch");
}

#[test]
fn a_random_epoch_covers_every_node_once_and_epochs_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let l = Loader::new(s.clone(), LoaderConfig { plan: PlanSpec::RandomParts { parts: 7 }, ..Default::default() })
        .unwrap();
    let mut seen = vec![0; s.num_nodes()];
    for b in l.epoch(3) {
        for &v in &b.unwrap().nodes {
            seen[v as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&c| c == 1));
    assert_ne!(l.plan(0), l.plan(1));
    assert_eq!(l.plan(2), l.plan(2));
}

#[test]
fn the_same_batches_with_1_2_and_4_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let run = |workers| {
        let cfg = LoaderConfig {
            plan: PlanSpec::RandomParts { parts: 9 },
            workers,
            prefetch: 3,
            seed: 11,
            ..Default::default()
        };
        Loader::new(s.clone(), cfg).unwrap().epoch(5).map(|b| b.unwrap()).collect::<Vec<_>>()
    };
    let one = run(1);
    assert_eq!(one.iter().map(|b| b.index).collect::<Vec<_>>(), (0..9).collect::<Vec<_>>(), "plan order");
    assert_eq!(one, run(2));
    assert_eq!(one, run(4));
}

#[test]
fn a_store_truncated_after_opening_gives_an_error_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let l = Loader::new(s.clone(), LoaderConfig { plan: PlanSpec::RandomParts { parts: 4 }, ..Default::default() })
        .unwrap();
    let f = s.path().join("node_feat.bin");
    std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(1000).unwrap();
    let results: Vec<_> = l.epoch(0).collect();
    assert_eq!(results.len(), 4);
    for r in results {
        let e = r.unwrap_err().to_string();
        assert!(e.contains("node_feat") && e.contains("changed since it was opened"), "{e}");
    }
}

#[test]
fn a_panicking_worker_reaches_the_consumer_as_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let l = Loader::new(s, LoaderConfig::default()).unwrap();
    // Node 10^6 does not exist: building that batch panics inside the worker.
    let plan = Plan { batches: vec![vec![0, 1, 2], vec![5, 1_000_000], vec![3]], view: vec![0; 3], seed: 0 };
    let got: Vec<_> = l.run(plan).collect();
    assert!(got[0].is_ok() && got[2].is_ok());
    let e = got[1].as_ref().unwrap_err().to_string();
    assert!(e.contains("panicked building batch 1"), "{e}");
}

#[test]
fn a_batch_whose_nodes_are_not_ascending_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let l = Loader::new(s, LoaderConfig::default()).unwrap();
    let plan = Plan { batches: vec![vec![0, 1, 2], vec![7, 5], vec![3, 3]], view: vec![0; 3], seed: 0 };
    let got: Vec<_> = l.run(plan).collect();
    assert!(got[0].is_ok());
    for (i, r) in got.iter().enumerate().skip(1) {
        let e = r.as_ref().unwrap_err().to_string();
        assert!(e.contains(&format!("batch {i}: node ids must be strictly ascending")), "{e}");
    }
}

/// Runs `f` on another thread and fails the test if it does not finish in time.
fn within(secs: u64, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(secs)).expect("finished in time (no hang)");
}

#[test]
fn dropping_an_epoch_midway_stops_and_joins_the_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    within(30, move || {
        let cfg =
            LoaderConfig { plan: PlanSpec::RandomParts { parts: 50 }, workers: 4, prefetch: 2, ..Default::default() };
        let l = Loader::new(s, cfg).unwrap();
        let mut e = l.epoch(0);
        let first = e.next().unwrap().unwrap();
        assert_eq!(first.index, 0);
        drop(e); // workers are blocked on full channels: drop must wake and join them
    });
}

#[test]
fn features_decoded_from_the_zstd_form_equal_the_plain_store() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let z = tmp.path().join("cora.zst");
    // Small frames, so a batch spans many of them.
    mille_pipeline::store::zstd::compress(&s, &z, 3, 64 * 1433 * 4).unwrap();
    for plan in [PlanSpec::RandomParts { parts: 5 }, PlanSpec::Full] {
        let plain = Loader::new(s.clone(), LoaderConfig { plan: plan.clone(), ..Default::default() }).unwrap();
        let packed =
            Loader::new(s.clone(), LoaderConfig { plan, compressed_features: Some(z.clone()), ..Default::default() })
                .unwrap();
        let a: Vec<Batch> = plain.epoch(2).map(|b| b.unwrap()).collect();
        let b: Vec<Batch> = packed.epoch(2).map(|b| b.unwrap()).collect();
        assert_eq!(a, b);
    }
    // A compressed copy of another store is refused.
    let other = prepare(&repo().join("fixtures/products_like"), "p", true, tmp.path());
    let z2 = tmp.path().join("p.zst");
    mille_pipeline::store::zstd::compress(&other, &z2, 3, 1 << 20).unwrap();
    let cfg = LoaderConfig { compressed_features: Some(z2), ..Default::default() };
    assert!(Loader::new(s, cfg).err().unwrap().to_string().contains("is not the one of store"));
}

#[test]
fn an_in_memory_copy_and_the_memory_map_give_the_same_batches() {
    let tmp = tempfile::tempdir().unwrap();
    for s in [cora(tmp.path()), prepare(&repo().join("fixtures/proteins_like"), "pr", true, tmp.path())] {
        let cfg = |residency, plan: &PlanSpec| LoaderConfig { plan: plan.clone(), residency, ..Default::default() };
        for plan in [PlanSpec::RandomParts { parts: 5 }, PlanSpec::Full] {
            let mapped = Loader::new(s.clone(), cfg(Residency::Mapped, &plan)).unwrap();
            let copied = Loader::new(s.clone(), cfg(Residency::Resident, &plan)).unwrap();
            // A small graph fits: the default makes the copy too.
            let auto = Loader::new(s.clone(), cfg(Residency::Auto, &plan)).unwrap();
            assert!(!mapped.is_resident() && copied.is_resident() && auto.is_resident());
            let a: Vec<Batch> = mapped.epoch(3).map(|b| b.unwrap()).collect();
            let b: Vec<Batch> = copied.epoch(3).map(|b| b.unwrap()).collect();
            assert_eq!(a, b);
            assert!(a.iter().map(|b| b.num_edges()).sum::<usize>() > 0);
        }
    }
}
