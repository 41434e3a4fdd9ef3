//! Partitioners on real graphs: coverage, balance, quality order (METIS < streaming < random),
//! determinism, the cache key, METIS's 32-bit check, relabelling and the gpmetis format.

use mille_partition::*;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use mille_pipeline::synth::{SynthConfig, generate};
use mille_pipeline::{Labels, Store};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn prepare(src: &Path, name: &str, inverse: bool, root: &Path) -> Store {
    let opts = PrepareOptions::new(name, inverse);
    Store::open(prepare_dir(src, &root.join(name), &opts).unwrap().path).unwrap()
}

fn cora(root: &Path) -> Store {
    prepare(&mille_pipeline::datasets::require(&repo(), "cora"), "cora", false, root)
}

fn block_model(root: &Path) -> Store {
    let cfg = SynthConfig {
        nodes: 20_000,
        avg_degree: 16.0,
        features: 4,
        classes: 20,
        block_noise: 0.0,
        seed: 2,
        ..SynthConfig::default()
    };
    generate(&cfg, &root.join("raw"), &Default::default()).unwrap();
    prepare(&root.join("raw"), "sbm", true, root)
}

fn methods() -> Vec<Method> {
    vec![
        Method::Random { uniform: false },
        Method::Metis(MetisOptions::default()),
        Method::Metis(MetisOptions { scheme: MetisScheme::Kway, ..MetisOptions::default() }),
        Method::Fennel(StreamingOptions::default()),
        Method::Ldg(StreamingOptions::default()),
    ]
}

#[test]
fn every_node_in_exactly_one_part_and_no_empty_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    for m in methods() {
        for k in [1, 2, 7, 64] {
            let p = compute(&s, &m, k, 1).unwrap();
            assert_eq!(p.len(), 2708);
            let mut seen = vec![0u8; 2708];
            for q in 0..k {
                for &v in p.nodes(q) {
                    seen[v as usize] += 1;
                    assert_eq!(p.part_of(v as usize), q);
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "{} k={k}", m.name());
            assert_eq!(quality(&s, &p).empty_parts, 0, "{} k={k}", m.name());
        }
    }
    let p = random_balanced(2708, 7, 3);
    let sizes = p.sizes();
    assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
}

#[test]
fn metis_cuts_far_less_than_random_and_streaming_lies_between() {
    let tmp = tempfile::tempdir().unwrap();
    for s in [cora(tmp.path()), block_model(&tmp.path().join("b"))] {
        let cut = |m: &Method| quality(&s, &compute(&s, m, 16, 0).unwrap()).edge_cut_fraction;
        let m = methods();
        let (r, rb, kw, f, l) = (cut(&m[0]), cut(&m[1]), cut(&m[2]), cut(&m[3]), cut(&m[4]));
        eprintln!("{}: random {r:.3} metis {rb:.3} metis-kway {kw:.3} fennel {f:.3} ldg {l:.3}", s.meta().name);
        for me in [rb, kw] {
            assert!(me < 0.5 * r, "METIS far below random");
            assert!(me < f && f < r, "streaming between");
            assert!(me < l && l < r, "LDG between");
        }
    }
}

#[test]
fn same_seed_same_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    for m in methods() {
        assert_eq!(compute(&s, &m, 8, 5).unwrap(), compute(&s, &m, 8, 5).unwrap(), "{}", m.name());
    }
    assert_ne!(random_balanced(2708, 8, 1), random_balanced(2708, 8, 2));
    assert_ne!(random_uniform(2708, 8, 1), random_uniform(2708, 8, 2));
}

#[test]
fn the_cache_hits_only_for_the_same_graph_method_options_k_and_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let a = prepare(&repo().join("fixtures/products_like"), "a", true, tmp.path());
    let m = Method::Metis(MetisOptions::default());
    let (p1, path1, hit1) = cached_or_compute(&a, &m, 4, 0).unwrap();
    let (p2, path2, hit2) = cached_or_compute(&a, &m, 4, 0).unwrap();
    assert!(!hit1 && hit2);
    assert_eq!((p1, &path1), (p2, &path2));
    // Another k, seed, or option: another entry.
    for (m2, k, seed) in [
        (m.clone(), 5, 0),
        (m.clone(), 4, 1),
        (Method::Metis(MetisOptions { ufactor: Some(100), ..MetisOptions::default() }), 4, 0),
        (Method::Metis(MetisOptions { scheme: MetisScheme::Kway, ..MetisOptions::default() }), 4, 0),
    ] {
        let (_, path, hit) = cached_or_compute(&a, &m2, k, seed).unwrap();
        assert!(!hit);
        assert_ne!(path.file_name(), path1.file_name());
    }
    // The same data prepared without inverse edges is another graph: a miss, even with the
    // same request.
    let b = prepare(&repo().join("fixtures/products_like"), "b", false, tmp.path());
    assert_ne!(CacheKey::new(&a, &m, 4, 0).file_name(), CacheKey::new(&b, &m, 4, 0).file_name());
    let (_, _, hit) = cached_or_compute(&b, &m, 4, 0).unwrap();
    assert!(!hit);
}

#[test]
fn metis_refuses_graphs_past_its_32_bit_limit_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    // Cora has 10556 symmetric adjacency entries; pretend the limit is 10000.
    let o = MetisOptions { max_adjacency: 10_000, ..MetisOptions::default() };
    let err = metis(&s, 4, 0, &o).unwrap_err().to_string();
    assert!(err.contains("10556") && err.contains("limit of 10000") && err.contains("fennel"), "{err}");
    assert_eq!(METIS_MAX_ADJACENCY, 2_147_483_647);
    assert!(metis(&s, 4, 0, &MetisOptions { max_adjacency: 10_556, ..MetisOptions::default() }).is_ok());
}

#[test]
fn a_directed_store_is_symmetrised_for_metis() {
    let tmp = tempfile::tempdir().unwrap();
    let s = prepare(&repo().join("fixtures/arxiv_like"), "arxiv", false, tmp.path());
    let p = metis(&s, 4, 0, &MetisOptions::default()).unwrap();
    assert_eq!(quality(&s, &p).empty_parts, 0);
    assert!(quality(&s, &p).edge_cut_fraction < quality(&s, &random_balanced(35, 4, 0)).edge_cut_fraction);
}

#[test]
fn metis_balances_train_nodes_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let o = MetisOptions { balance_train_of: Some("public".into()), ..MetisOptions::default() };
    let p = metis(&s, 4, 0, &o).unwrap();
    let train = s.split("public").unwrap().train;
    let mut per_part = [0u32; 4];
    for &v in train {
        per_part[p.part_of(v as usize) as usize] += 1;
    }
    assert!(per_part.iter().all(|&c| (25..=45).contains(&c)), "140 train nodes spread: {per_part:?}");
}

#[test]
fn relabelled_store_round_trips_through_the_id_map() {
    let tmp = tempfile::tempdir().unwrap();
    let s = prepare(&repo().join("fixtures/proteins_like"), "q", true, tmp.path());
    let p = compute(&s, &Method::Metis(MetisOptions::default()), 3, 0).unwrap();
    let r = relabel(&s, &p, &tmp.path().join("relabelled")).unwrap();
    r.verify().unwrap();
    let orig: &[u32] = r.array(ORIGINAL_ID).unwrap();
    let ptr: &[u64] = r.array(PART_PTR).unwrap();
    // Each part is one contiguous range of new ids.
    for q in 0..3 {
        for &o in &orig[ptr[q] as usize..ptr[q + 1] as usize] {
            assert_eq!(p.part_of(o as usize), q as u32);
        }
    }
    // Every edge survives with its id and features: new (v <- u) is old (orig v <- orig u).
    assert_eq!(r.num_edges(), s.num_edges());
    let (ids_r, ids_s) = (r.edge_ids().unwrap(), s.edge_ids().unwrap());
    let (ef_r, ef_s) = (r.edge_features().unwrap(), s.edge_features().unwrap());
    let mut seen = vec![false; s.num_edges()];
    for v in 0..r.num_nodes() {
        let row = r.neighbors(v);
        assert!(row.windows(2).all(|w| w[0] <= w[1]));
        for (i, &u) in row.iter().enumerate() {
            let pos = r.indptr()[v] as usize + i;
            let id = ids_r.get(pos);
            let (ov, ou) = (orig[v] as usize, orig[u as usize]);
            let a = s.indptr()[ov] as usize;
            let k = (0..s.degree(ov)).find(|&j| s.indices()[a + j] == ou && ids_s.get(a + j) == id).expect("edge kept");
            assert!(!seen[a + k]);
            seen[a + k] = true;
            assert_eq!(ef_r.row(pos), ef_s.row(a + k));
        }
    }
    assert!(seen.iter().all(|&x| x));
    // Node data and splits follow their nodes.
    let (Labels::MultiLabel(lr), Labels::MultiLabel(ls)) = (r.labels().unwrap(), s.labels().unwrap()) else { panic!() };
    for (v, &o) in orig.iter().enumerate() {
        assert_eq!(lr.row(v), ls.row(o as usize));
        assert_eq!(r.node_array("species").unwrap().row(v), s.node_array("species").unwrap().row(o as usize));
    }
    let mut back: Vec<u32> = r.split("species").unwrap().train.iter().map(|&v| orig[v as usize]).collect();
    back.sort_unstable();
    assert_eq!(back, s.split("species").unwrap().train);
}

#[test]
fn gpmetis_text_and_binary_forms_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let p = random_uniform(1000, 13, 4);
    p.write_gpmetis(&tmp.path().join("g.txt")).unwrap();
    assert_eq!(Partition::read_gpmetis(&tmp.path().join("g.txt"), 1000).unwrap().parts(), p.parts());
    p.save(&tmp.path().join("g.part")).unwrap();
    assert_eq!(Partition::load(&tmp.path().join("g.part")).unwrap(), p);
    std::fs::write(tmp.path().join("bad.txt"), "0\n1\nx\n").unwrap();
    let err = Partition::read_gpmetis(&tmp.path().join("bad.txt"), 3).unwrap_err().to_string();
    assert!(err.contains("bad.txt:3") && err.contains("part id"), "{err}");
}

/// Runs `f` with descriptors 1 and 2 pointing at two files; returns what each received.
fn capture_fds(f: impl FnOnce()) -> (String, String) {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let (out, err) =
        (std::fs::File::create(dir.path().join("1")).unwrap(), std::fs::File::create(dir.path().join("2")).unwrap());
    // SAFETY: the test process's own standard descriptors, saved and put back around `f`.
    let saved = unsafe {
        let saved = (libc::dup(1), libc::dup(2));
        libc::dup2(out.as_raw_fd(), 1);
        libc::dup2(err.as_raw_fd(), 2);
        saved
    };
    f();
    // SAFETY: flushes C's buffers into the files, then restores the descriptors saved above.
    unsafe {
        libc::fflush(std::ptr::null_mut());
        libc::dup2(saved.0, 1);
        libc::dup2(saved.1, 2);
        libc::close(saved.0);
        libc::close(saved.1);
    }
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
    (read("1"), read("2"))
}

#[test]
fn metis_messages_never_reach_stdout() {
    // More parts than nodes: METIS prints "***Cannot bisect ..." with printf for each part it
    // cannot cut. (`compute` refuses this request; `metis` itself is asked directly here.)
    let tmp = tempfile::tempdir().unwrap();
    let s = prepare(&repo().join("fixtures/products_like"), "p", true, tmp.path());
    let (out, err) = capture_fds(|| {
        let _ = metis(&s, 400, 0, &MetisOptions::default());
    });
    assert_eq!(out, "", "nothing on stdout");
    assert!(err.contains("Cannot bisect"), "METIS's messages went to stderr: {err:?}");
}

#[test]
fn a_cached_partition_with_a_changed_part_id_is_detected_and_recomputed() {
    let tmp = tempfile::tempdir().unwrap();
    let s = cora(tmp.path());
    let m = Method::Random { uniform: false };
    let (p, path, cached) = cached_or_compute(&s, &m, 8, 3).unwrap();
    assert!(!cached);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = 20 + 4 * 100;
    bytes[at] = (bytes[at] + 1) % 8;
    std::fs::write(&path, &bytes).unwrap();
    let err = Partition::load(&path).unwrap_err().to_string();
    assert!(err.ends_with("checksum mismatch: the file changed since it was written"), "{err}");
    let (again, _, cached) = cached_or_compute(&s, &m, 8, 3).unwrap();
    assert!(!cached, "the changed file is not reused");
    assert_eq!(again, p);
    assert!(cached_or_compute(&s, &m, 8, 3).unwrap().2, "the rewritten file is");

    // A file claiming more parts than nodes is refused before anything is allocated for them.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let n = bytes.len() - 8;
    let sum = xxhash_rust::xxh3::xxh3_64(&bytes[..n]);
    bytes[n..].copy_from_slice(&sum.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = Partition::load(&path).unwrap_err().to_string();
    assert!(err.ends_with("4294967295 parts for 2708 nodes: expected 1 to 2708"), "{err}");
}
