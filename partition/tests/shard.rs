//! Shard sets against a brute-force reference: every node in exactly one shard, each shard the
//! subgraph its part induces (entries, edge features, node data, split members), the lost
//! entries exactly the cut ones; refused cuts leave nothing behind, and a manifest that does
//! not add up or comes from another version is refused when opened.

use mille_partition::*;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use mille_pipeline::{Labels, Store};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn prepare(src: &Path, name: &str, inverse: bool, root: &Path) -> Store {
    let opts = PrepareOptions::new(name, inverse);
    Store::open(prepare_dir(src, &root.join(name), &opts).unwrap().path).unwrap()
}

/// Checks `set` against `s` cut by `p`, brute force.
fn check_against_source(s: &Store, p: &Partition, set: &ShardSet) {
    let n = s.num_nodes();
    let mut shard_of = vec![usize::MAX; n];
    let mut kept = 0;
    for r in 0..set.len() {
        let t = set.open_shard(r).unwrap();
        t.verify().unwrap();
        let global: &[u32] = t.array(GLOBAL_ID).unwrap();
        let pos: &[u64] = t.array(GLOBAL_EDGE_POS).unwrap();
        assert!(global.windows(2).all(|w| w[0] < w[1]), "shard {r}'s nodes ascend");
        for &g in global {
            assert_eq!(shard_of[g as usize], usize::MAX, "node {g} in two shards");
            shard_of[g as usize] = r;
            assert_eq!(p.part_of(g as usize), r as u32);
        }
        // Each row: exactly the source row's neighbours inside the part, in order, each entry
        // pointing back at its source position.
        for v in 0..t.num_nodes() {
            let gv = global[v] as usize;
            let want: Vec<(u32, u64)> = (s.indptr()[gv]..s.indptr()[gv + 1])
                .filter(|&q| p.part_of(s.indices()[q as usize] as usize) == r as u32)
                .map(|q| (s.indices()[q as usize], q))
                .collect();
            let a = t.indptr()[v] as usize;
            let got: Vec<(u32, u64)> =
                t.neighbors(v).iter().enumerate().map(|(i, &u)| (global[u as usize], pos[a + i])).collect();
            assert_eq!(got, want, "shard {r} row {v} (node {gv})");
        }
        kept += t.num_edges();
        if let (Some(ef_t), Some(ef_s)) = (t.edge_features(), s.edge_features()) {
            for (q, &sq) in pos.iter().enumerate() {
                assert_eq!(ef_t.row(q), ef_s.row(sq as usize));
            }
        } else {
            assert!(s.edge_features().is_none());
        }
        // Node data follows the nodes.
        match (t.labels().unwrap(), s.labels().unwrap()) {
            (Labels::MultiClass(a), Labels::MultiClass(b)) => {
                for (v, &g) in global.iter().enumerate() {
                    assert_eq!(a[v], b[g as usize]);
                }
            }
            (Labels::MultiLabel(a), Labels::MultiLabel(b)) => {
                for (v, &g) in global.iter().enumerate() {
                    assert_eq!(a.row(v), b.row(g as usize));
                }
            }
            _ => panic!("label kinds differ"),
        }
        if let Some(f) = s.features() {
            let ft = t.features().unwrap();
            for (v, &g) in global.iter().enumerate() {
                assert_eq!(ft.row(v), f.row(g as usize));
            }
        }
        // Split members: the source's that fall in the part, renamed.
        for name in &s.meta().splits {
            let (a, b) = (t.split(name).unwrap(), s.split(name).unwrap());
            for (ours, theirs) in [(a.train, b.train), (a.valid, b.valid), (a.test, b.test)] {
                let back: Vec<u32> = ours.iter().map(|&v| global[v as usize]).collect();
                let want: Vec<u32> = theirs.iter().copied().filter(|&g| p.part_of(g as usize) == r as u32).collect();
                assert_eq!(back, want);
            }
        }
    }
    assert!(shard_of.iter().all(|&r| r != usize::MAX), "every node in a shard");
    let cut = (0..n)
        .flat_map(|v| s.neighbors(v).iter().map(move |&u| (v, u)))
        .filter(|&(v, u)| p.part_of(v) != p.part_of(u as usize))
        .count();
    let m = set.manifest();
    assert_eq!(
        (m.nodes, m.edges, m.kept_edges, m.lost_edges),
        (n as u64, s.num_edges() as u64, kept as u64, cut as u64)
    );
}

#[test]
fn shards_are_the_induced_subgraphs_of_the_parts_with_everything_that_follows_their_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    // Edge features, multi-label labels, an extra node column, a named split.
    let s = prepare(&repo().join("fixtures/proteins_like"), "q", true, tmp.path());
    let p = compute(&s, &Method::Metis(MetisOptions::default()), 3, 0).unwrap();
    let set = shard(&s, &p, "metis", &tmp.path().join("shards"), |_| {}).unwrap();
    assert_eq!(set.len(), 3);
    check_against_source(&s, &p, &set);
    for r in 0..3 {
        let t = set.open_shard(r).unwrap();
        let global: &[u32] = t.array(GLOBAL_ID).unwrap();
        for (v, &g) in global.iter().enumerate() {
            assert_eq!(t.node_array("species").unwrap().row(v), s.node_array("species").unwrap().row(g as usize));
        }
    }

    let cora_src = mille_pipeline::datasets::require(&repo(), "cora");
    let c = prepare(&cora_src, "cora", false, tmp.path());
    for (method, k) in [(Method::Metis(MetisOptions::default()), 2), (Method::Random { uniform: false }, 4)] {
        let p = compute(&c, &method, k, 1).unwrap();
        let set = shard(&c, &p, method.name(), &tmp.path().join(format!("cora-{}", method.name())), |_| {}).unwrap();
        check_against_source(&c, &p, &set);
        assert_eq!(set.manifest().method, method.name());
    }
}

#[test]
fn a_refused_cut_leaves_nothing_and_a_bad_manifest_is_refused_when_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let c = prepare(&mille_pipeline::datasets::require(&repo(), "cora"), "cora", false, tmp.path());
    let n = c.num_nodes();
    // Part 2 of 3 empty.
    let p = Partition::new(3, (0..n).map(|v| (v % 2) as u32).collect()).unwrap();
    let out = tmp.path().join("empty-part");
    let e = shard(&c, &p, "x", &out, |_| {}).unwrap_err().to_string();
    assert!(e.contains("part 2 of 3 is empty"), "{e}");
    assert!(!out.exists());
    // A part of one isolated-from-itself node has no edge: refused after shard 0 was written.
    let mut part = vec![0u32; n];
    part[0] = 1;
    let p = Partition::new(2, part).unwrap();
    let e = shard(&c, &p, "x", &out, |_| {}).unwrap_err().to_string();
    assert!(e.contains("part 1 has no edge among its 1 nodes"), "{e}");
    assert!(!out.exists(), "nothing half-written");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(leftovers.iter().all(|f| !f.to_string_lossy().starts_with(".empty-part")), "{leftovers:?}");

    let p = compute(&c, &Method::Random { uniform: false }, 2, 0).unwrap();
    let set = shard(&c, &p, "random", &out, |_| {}).unwrap();
    let e = shard(&c, &p, "random", &out, |_| {}).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    let manifest = out.join(MANIFEST);
    let good = std::fs::read_to_string(&manifest).unwrap();
    let tamper = |from: &str, to: &str| {
        std::fs::write(&manifest, good.replacen(from, to, 1)).unwrap();
        ShardSet::open(&out).unwrap_err().to_string()
    };
    let e = tamper("\"version\": 1", "\"version\": 9");
    assert!(e.contains("version 9 is not this build's 1"), "{e}");
    let lost = set.manifest().lost_edges;
    let e = tamper(&format!("\"lost_edges\": {lost}"), &format!("\"lost_edges\": {}", lost + 1));
    assert!(e.contains("counts do not add up"), "{e}");
    let e = tamper("mille-shards", "mille-store");
    assert!(e.contains("format is \"mille-store\""), "{e}");
    std::fs::write(&manifest, &good).unwrap();
    // A machine holding only its own shard opens it; another shard is missing by name.
    std::fs::remove_dir_all(out.join("shard-1")).unwrap();
    let alone = ShardSet::open(&out).unwrap();
    alone.open_shard(0).unwrap();
    let e = alone.open_shard(1).unwrap_err().to_string();
    assert!(e.contains("shard 1's folder") && e.contains("is missing"), "{e}");
    let e = ShardSet::open(tmp.path()).unwrap_err().to_string();
    assert!(e.contains("not a shard set (no shards.json"), "{e}");
}
