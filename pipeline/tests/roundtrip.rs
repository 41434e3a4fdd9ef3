//! Fixture -> store -> values equal an independent, simple parse of the same files.

mod common;
use common::*;
use mille_pipeline::store::{LabelKind, Labels};
use std::io::Read;

fn edges_of(path: &std::path::Path) -> Vec<(u32, u32)> {
    csv_i64(path).into_iter().map(|r| (r[0] as u32, r[1] as u32)).collect()
}

fn check_csr(s: &mille_pipeline::Store, edges: &[(u32, u32)], inverse: bool) {
    let (indptr, indices, eids) = reference_csr(s.num_nodes(), edges, inverse);
    assert_eq!(s.indptr(), &indptr[..]);
    assert_eq!(s.indices(), &indices[..]);
    let ids = s.edge_ids().unwrap();
    assert_eq!((0..ids.len()).map(|i| ids.get(i)).collect::<Vec<_>>(), eids);
    for v in 0..s.num_nodes() {
        let nb = s.neighbors(v);
        assert!(nb.windows(2).all(|w| w[0] <= w[1]), "row {v} sorted");
    }
}

fn check_splits(s: &mille_pipeline::Store, dir: &std::path::Path, split: &str) {
    assert_eq!(s.split_names(), &[split.to_string()]);
    let sp = s.split(split).unwrap();
    for (part, got) in [("train", sp.train), ("valid", sp.valid), ("test", sp.test)] {
        let want: Vec<u32> =
            csv_i64(&dir.join(format!("split/{split}/{part}.csv.gz"))).iter().map(|r| r[0] as u32).collect();
        assert_eq!(got, &want[..], "{split}/{part}");
    }
}

#[test]
fn products_like_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("products_like");
    let s = prepare(&dir, "p", true, tmp.path());
    let edges = edges_of(&dir.join("raw/edge.csv.gz"));
    assert_eq!(s.num_nodes(), 40);
    assert_eq!(s.num_edges(), 2 * edges.len());
    check_csr(&s, &edges, true);
    let feat = csv_f32(&dir.join("raw/node-feat.csv.gz"));
    let f = s.features().unwrap();
    assert_eq!((f.rows, f.cols), (40, 6));
    for (i, row) in feat.iter().enumerate() {
        assert_eq!(f.row(i), &row[..]);
    }
    let y: Vec<i32> = csv_i64(&dir.join("raw/node-label.csv.gz")).iter().map(|r| r[0] as i32).collect();
    match s.labels().unwrap() {
        Labels::MultiClass(l) => assert_eq!(l, &y[..]),
        _ => panic!("multi-class expected"),
    }
    assert_eq!(s.meta().num_classes, Some(*y.iter().max().unwrap() as u64 + 1));
    check_splits(&s, &dir, "sales_ranking");
    s.verify().unwrap();
}

#[test]
fn the_same_store_when_edges_spill_to_scratch_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("proteins_like");
    let in_memory = prepare(&dir, "a", true, tmp.path());
    let opts = mille_pipeline::ogb::PrepareOptions {
        source: "test".into(),
        scratch_memory: Some(12 * 20), // 20 entries: spills almost at once
        ..mille_pipeline::ogb::PrepareOptions::new("b", true)
    };
    let r = mille_pipeline::ogb::prepare_dir(&dir, &tmp.path().join("b"), &opts).unwrap();
    let spilled = mille_pipeline::Store::open(r.path).unwrap();
    for name in ["indptr", "indices", "edge_ids", "edge_feat"] {
        assert_eq!(in_memory.bytes(name), spilled.bytes(name), "{name}");
    }
    let edges = edges_of(&dir.join("raw/edge.csv.gz"));
    check_csr(&spilled, &edges, true);
}

#[test]
fn proteins_like_round_trips_with_edge_features_and_species() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("proteins_like");
    let s = prepare(&dir, "q", true, tmp.path());
    let edges = edges_of(&dir.join("raw/edge.csv.gz"));
    check_csr(&s, &edges, true);
    // Edge features in CSR order: entry p carries the row of input edge edge_ids[p] / 2.
    let ef = csv_f32(&dir.join("raw/edge-feat.csv.gz"));
    let got = s.edge_features().unwrap();
    let ids = s.edge_ids().unwrap();
    assert_eq!((got.rows, got.cols), (2 * edges.len(), 3));
    for p in 0..got.rows {
        assert_eq!(got.row(p), &ef[(ids.get(p) / 2) as usize][..]);
    }
    let y = csv_i64(&dir.join("raw/node-label.csv.gz"));
    assert_eq!(s.meta().label_kind, Some(LabelKind::MultiLabel));
    match s.labels().unwrap() {
        Labels::MultiLabel(m) => {
            assert_eq!(m.cols, 5);
            for (i, r) in y.iter().enumerate() {
                assert_eq!(m.row(i), &r.iter().map(|&x| x as i8).collect::<Vec<_>>()[..]);
            }
        }
        _ => panic!("multi-label expected"),
    }
    assert_eq!(s.meta().num_tasks, Some(5));
    let species: Vec<i64> = csv_i64(&dir.join("raw/node_species.csv.gz")).iter().map(|r| r[0]).collect();
    assert_eq!(s.node_array("species").unwrap().data, &species[..]);
    // No node features in the input: each node's sum of its edges' features over the whole
    // graph (every undirected edge at both ends), the authors' ogbn-proteins input.
    let x = s.features().expect("node features from edge sums");
    assert_eq!((x.rows, x.cols), (s.num_nodes() as usize, 3));
    let mut want = vec![0f64; x.rows * 3];
    for (e, &(u, v)) in edges.iter().enumerate() {
        for end in [u, v] {
            for j in 0..3 {
                want[end as usize * 3 + j] += ef[e][j] as f64;
            }
        }
    }
    for v in 0..x.rows {
        for j in 0..3 {
            let (got, want) = (x.row(v)[j] as f64, want[v * 3 + j]);
            assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "node {v} column {j}: {got} != {want}");
        }
    }
    assert_eq!(s.meta().node_feat_from.as_deref(), Some(mille_pipeline::store::NODE_FEAT_FROM_EDGE_SUMS));
    check_splits(&s, &dir, "species");
}

#[test]
fn directed_edges_sum_at_their_source_only() {
    // Without inverse edges each entry's features go to its source, as the authors' scatter
    // over edge_index[0] does.
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("proteins_like");
    let s = prepare(&dir, "d", false, tmp.path());
    let edges = edges_of(&dir.join("raw/edge.csv.gz"));
    let ef = csv_f32(&dir.join("raw/edge-feat.csv.gz"));
    let x = s.features().unwrap();
    let mut want = vec![0f64; x.rows * 3];
    for (e, &(u, _)) in edges.iter().enumerate() {
        for j in 0..3 {
            want[u as usize * 3 + j] += ef[e][j] as f64;
        }
    }
    for v in 0..x.rows {
        for j in 0..3 {
            assert!((x.row(v)[j] as f64 - want[v * 3 + j]).abs() <= 1e-5 * want[v * 3 + j].abs().max(1.0), "node {v}");
        }
    }
}

#[test]
fn arxiv_like_round_trips_directed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("arxiv_like");
    let s = prepare(&dir, "a", false, tmp.path());
    let edges = edges_of(&dir.join("raw/edge.csv.gz"));
    assert_eq!(s.num_edges(), edges.len());
    check_csr(&s, &edges, false);
    let years: Vec<i64> = csv_i64(&dir.join("raw/node_year.csv.gz")).iter().map(|r| r[0]).collect();
    assert_eq!(s.node_array("year").unwrap().data, &years[..]);
    check_splits(&s, &dir, "time");
}

/// A minimal `.npy` reader: v1 header, little-endian, C order.
fn npy(zip_path: &std::path::Path, entry: &str) -> (String, Vec<u8>) {
    let mut z = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    let mut bytes = Vec::new();
    z.by_name(entry).unwrap().read_to_end(&mut bytes).unwrap();
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..10 + hlen].to_vec()).unwrap();
    (header, bytes[10 + hlen..].to_vec())
}

#[test]
fn papers_like_binary_layout_with_nan_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("papers_like");
    let s = prepare(&dir, "pp", false, tmp.path());
    let data = dir.join("raw/data.npz");
    let (_, e) = npy(&data, "edge_index.npy");
    let e: Vec<i64> = e.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
    let m = e.len() / 2;
    let edges: Vec<(u32, u32)> = (0..m).map(|i| (e[i] as u32, e[m + i] as u32)).collect();
    check_csr(&s, &edges, false);
    let (_, f) = npy(&data, "node_feat.npy");
    let f: Vec<f32> = f.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(s.features().unwrap().data, &f[..]);
    let (_, y) = npy(&dir.join("raw/node-label.npz"), "node_label.npy");
    let y: Vec<i32> = y
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .map(|v| if v.is_nan() { -1 } else { v as i32 })
        .collect();
    assert!(y.contains(&-1), "fixture has unlabelled nodes");
    match s.labels().unwrap() {
        Labels::MultiClass(l) => assert_eq!(l, &y[..]),
        _ => panic!("multi-class expected"),
    }
    let (_, yr) = npy(&data, "node_year.npy");
    let yr: Vec<i64> = yr.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(s.node_array("year").unwrap().data, &yr[..]);
    check_splits(&s, &dir, "time");
}

#[test]
fn cora_has_the_published_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let s = prepare(&shared_dataset("cora"), "cora", false, tmp.path());
    assert_eq!(s.num_nodes(), 2708);
    assert_eq!(s.num_edges(), 10556);
    assert_eq!(s.features().unwrap().cols, 1433);
    assert_eq!(s.meta().num_classes, Some(7));
    let sp = s.split("public").unwrap();
    assert_eq!((sp.train.len(), sp.valid.len(), sp.test.len()), (140, 500, 1000));
    // Undirected graph stored both ways: every entry has its reverse.
    for v in 0..s.num_nodes() {
        for &u in s.neighbors(v) {
            assert!(s.neighbors(u as usize).binary_search(&(v as u32)).is_ok());
        }
    }
}

#[test]
fn pubmed_without_features_prepares() {
    let tmp = tempfile::tempdir().unwrap();
    let s = prepare(&shared_dataset("pubmed_nofeat"), "pubmed", false, tmp.path());
    assert_eq!(s.num_nodes(), 19717);
    assert_eq!(s.num_edges(), 88648);
    assert!(s.features().is_none());
    assert_eq!(s.meta().num_classes, Some(3));
}

#[test]
fn to_undirected_adds_every_inverse_drops_duplicates_keeps_the_lowest_id_and_counts_them() {
    use std::collections::{BTreeMap, BTreeSet};
    let tmp = tempfile::tempdir().unwrap();
    // A directed graph with a pair cited both ways, a row given twice and a self loop.
    let dir = tmp.path().join("raw_graph");
    std::fs::create_dir_all(dir.join("raw")).unwrap();
    let rows: [(u32, u32); 7] = [(0, 1), (1, 0), (2, 1), (2, 1), (3, 3), (3, 0), (1, 2)];
    write_gz(&dir.join("raw/num-node-list.csv.gz"), b"5\n");
    write_gz(&dir.join("raw/num-edge-list.csv.gz"), b"7\n");
    let text: String = rows.iter().map(|(u, v)| format!("{u},{v}\n")).collect();
    write_gz(&dir.join("raw/edge.csv.gz"), text.as_bytes());
    write_gz(&dir.join("raw/node-feat.csv.gz"), b"1\n2\n3\n4\n5\n");
    let opts = mille_pipeline::ogb::PrepareOptions {
        to_undirected: true,
        ..mille_pipeline::ogb::PrepareOptions::new("u", false)
    };
    let r = mille_pipeline::ogb::prepare_dir(&dir, &tmp.path().join("u"), &opts).unwrap();
    let s = mille_pipeline::Store::open(&r.path).unwrap();
    // Brute force: every row both ways, each (dst, src) once with its lowest OGB edge id
    // (input row i is id 2i as given, 2i + 1 reversed).
    let mut want: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for (i, &(u, v)) in rows.iter().enumerate() {
        for (dst, src, id) in [(v, u, 2 * i as u32), (u, v, 2 * i as u32 + 1)] {
            let e = want.entry((dst, src)).or_insert(id);
            *e = (*e).min(id);
        }
    }
    assert_eq!(s.num_edges() as usize, want.len());
    assert_eq!(r.duplicates_removed, 14 - want.len() as u64);
    assert_eq!(
        r.duplicates_removed, 7,
        "(0,1) and (1,0): 2 of 4; (2,1) twice and (1,2): 4 of 6; the self loop: 1 of 2"
    );
    let (indptr, indices, ids) = (s.indptr(), s.indices(), s.edge_ids().unwrap());
    let mut got = BTreeSet::new();
    for v in 0..5u32 {
        let row: Vec<u32> = (indptr[v as usize]..indptr[v as usize + 1]).map(|p| indices[p as usize]).collect();
        assert!(row.windows(2).all(|w| w[0] < w[1]), "row {v} sorted without repeats: {row:?}");
        for p in indptr[v as usize]..indptr[v as usize + 1] {
            let src = indices[p as usize];
            assert_eq!(ids.get(p as usize), want[&(v, src)] as u64, "edge id of {src} -> {v}");
            got.insert((v, src));
        }
    }
    assert_eq!(got, want.keys().copied().collect::<BTreeSet<_>>());
    assert!(got.iter().all(|&(d, s)| got.contains(&(s, d))), "every entry has its inverse");
    assert!(s.meta().undirected && s.meta().add_inverse_edge);
}
