//! Hostile inputs: labels that are not what they look like, graphs without edges, lines without
//! end, and store files whose contents would make a reader index out of bounds. Each is refused
//! with a message naming the file (and line, or element), and nothing half-written is left.

mod common;
use common::*;
use mille_pipeline::Store;
use mille_pipeline::ogb::{PrepareOptions, lookup};
use std::fs;
use std::path::Path;

/// products_like's labels with line `line` (1-based) replaced by `text`.
fn labels_with(line: usize, text: &str) -> Vec<u8> {
    let mut rows: Vec<String> =
        csv(&fixture("products_like").join("raw/node-label.csv.gz")).into_iter().map(|r| r.join(",")).collect();
    rows[line - 1] = text.into();
    (rows.join("\n") + "\n").into_bytes()
}

fn label_error(line: usize, text: &str, opts: &PrepareOptions) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let src = mutated_fixture("products_like", tmp.path(), "raw/node-label.csv.gz", &labels_with(line, text));
    prepare_error(&src, tmp.path(), opts)
}

#[test]
fn a_huge_class_id_is_refused_quoting_it() {
    let e = label_error(5, "16777217", &PrepareOptions::new("p", true));
    assert!(e.ends_with("node-label.csv.gz:5: label '16777217' is beyond 65536 classes; if the dataset has that many, say so with --num-classes"), "{e}");
    let e = label_error(5, "1000000000", &PrepareOptions::new("p", true));
    assert!(e.contains(":5: label '1000000000' is beyond"), "{e}");
}

#[test]
fn labels_are_read_as_written_never_through_a_float() {
    let opts = PrepareOptions::new("p", true);
    for text in ["01e-400", "1e2", "2.5", "-1", "0x3", " 3"] {
        let e = label_error(7, text, &opts);
        assert!(
            e.ends_with(&format!(
                "node-label.csv.gz:7: expected a class id or task label (a non-negative integer, or nan for none) in column 1, found '{text}'"
            )),
            "{text}: {e}"
        );
    }
    let e = label_error(7, "4294967295", &opts);
    assert!(e.contains(":7: label '4294967295' is beyond 65536 classes"), "{e}");
}

#[test]
fn the_catalog_or_num_classes_is_the_class_count_and_labels_are_checked_against_it() {
    let catalog = PrepareOptions { info: lookup("ogbn-products"), ..PrepareOptions::new("p", true) };
    let e = label_error(3, "47", &catalog);
    assert!(e.ends_with(":3: label '47' is outside the dataset's 47 classes (expected 0..=46)"), "{e}");
    let given = PrepareOptions { num_classes: Some(3), ..PrepareOptions::new("p", true) };
    let e = label_error(3, "3.0", &given);
    assert!(e.ends_with(":3: label '3.0' is outside the dataset's 3 classes (expected 0..=2)"), "{e}");

    // Accepted: the store's num_classes is the given count, not the largest label + 1.
    let tmp = tempfile::tempdir().unwrap();
    let opts = PrepareOptions { num_classes: Some(9), ..PrepareOptions::new("p", true) };
    let r = mille_pipeline::ogb::prepare_dir(&fixture("products_like"), &tmp.path().join("p"), &opts).unwrap();
    assert_eq!(Store::open(r.path).unwrap().meta().num_classes, Some(9));
}

#[test]
fn a_graph_without_edges_or_nodes_is_refused_by_prepare() {
    let tmp = tempfile::tempdir().unwrap();
    let src = mutated_fixture("products_like", tmp.path(), "raw/num-edge-list.csv.gz", b"0\n");
    write_gz(&src.join("raw/edge.csv.gz"), b"");
    let e = prepare_error(&src, tmp.path(), &PrepareOptions::new("p", true));
    assert!(e.ends_with("num-edge-list.csv.gz: says the graph has 0 edges: mille trains GNNs, which need edges (a graph without any is refused)"), "{e}");

    let tmp = tempfile::tempdir().unwrap();
    let src = mutated_fixture("products_like", tmp.path(), "raw/num-node-list.csv.gz", b"0\n");
    let e = prepare_error(&src, tmp.path(), &PrepareOptions::new("p", true));
    assert!(e.ends_with("num-node-list.csv.gz: says the graph has 0 nodes: expected at least one"), "{e}");
}

#[test]
fn a_line_past_the_limit_is_an_error_naming_it_found_in_bounded_memory() {
    // 65 MiB of digits on line 3 of the feature file: past the default 64 MiB limit.
    let tmp = tempfile::tempdir().unwrap();
    let mut text = b"1,2\n3,4\n".to_vec();
    text.resize(text.len() + (65 << 20), b'7');
    text.extend_from_slice(b"\n5,6\n");
    let src = mutated_fixture("products_like", tmp.path(), "raw/node-feat.csv.gz", &text);
    // The first line decides the column count; the long one is line 3.
    let e = prepare_error(&src, tmp.path(), &PrepareOptions::new("p", true));
    assert!(e.contains("node-feat.csv.gz:3: line is longer than 67108864 bytes (read "), "{e}");

    // The limit is an option; a first line past it is caught when its columns are counted.
    let small = PrepareOptions { max_line_bytes: 1000, ..PrepareOptions::new("p", true) };
    let tmp = tempfile::tempdir().unwrap();
    let src = mutated_fixture("products_like", tmp.path(), "raw/node-feat.csv.gz", &[b'1'; 5000]);
    let e = prepare_error(&src, tmp.path(), &small);
    assert!(e.ends_with("node-feat.csv.gz:1: line is longer than 1000 bytes"), "{e}");
}

/// A prepared products_like store (inverse edges, one split, 4 classes) to edit.
fn store(root: &Path) -> std::path::PathBuf {
    prepare(&fixture("products_like"), "p", true, root).path().to_path_buf()
}

/// Writes `value` over element `index` of the store's array file `file`.
fn poke<T: bytemuck::Pod>(store: &Path, file: &str, index: usize, value: T) {
    let p = store.join(file);
    let mut bytes = fs::read(&p).unwrap();
    let size = std::mem::size_of::<T>();
    bytes[index * size..(index + 1) * size].copy_from_slice(bytemuck::bytes_of(&value));
    fs::write(&p, bytes).unwrap();
}

fn open_error(path: &Path) -> String {
    Store::open(path).map(|_| ()).expect_err("the store must not open").to_string()
}

#[test]
fn csr_contents_that_a_reader_would_index_out_of_bounds_are_refused_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let path = store(tmp.path());
    let s = Store::open(&path).unwrap();
    let (n, e) = (s.num_nodes(), s.num_edges());
    let indptr = s.indptr().to_vec();
    let (index17, edge_id3) = (s.indices()[17], s.edge_ids().map(|ids| ids.get(3) as u32));
    drop(s);

    poke(&path, "indices.bin", 17, n as u32);
    let err = open_error(&path);
    assert!(err.ends_with(&format!("indices.bin: indices[17] is {n}, expected a node id below {n}")), "{err}");
    poke(&path, "indices.bin", 17, index17);

    poke(&path, "indptr.bin", 5, indptr[7]);
    let err = open_error(&path);
    assert!(
        err.ends_with(&format!("indptr.bin: indptr decreases at row 5: {} then {}", indptr[7], indptr[6])),
        "{err}"
    );
    poke(&path, "indptr.bin", 5, indptr[5]);

    poke(&path, "indptr.bin", 0, 1u64);
    assert!(open_error(&path).ends_with("indptr.bin: indptr[0] is 1, expected 0"));
    poke(&path, "indptr.bin", 0, 0u64);

    poke(&path, "indptr.bin", n, e as u64 - 1);
    let err = open_error(&path);
    assert!(err.ends_with(&format!("indptr ends at {}, expected num_edges = {e}", e - 1)), "{err}");
    poke(&path, "indptr.bin", n, e as u64);

    poke(&path, "edge_ids.bin", 3, u32::MAX);
    let err = open_error(&path);
    assert!(err.ends_with(&format!("edge_ids[3] is {}, expected an edge id below {e}", u32::MAX)), "{err}");
    poke(&path, "edge_ids.bin", 3, edge_id3.unwrap());

    Store::open(&path).unwrap();
}

#[test]
fn split_ids_and_labels_out_of_range_are_refused_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let path = store(tmp.path());
    poke(&path, "split.sales_ranking.train.bin", 2, 4_000_000_000u32);
    let err = open_error(&path);
    assert!(err.ends_with("split/sales_ranking/train[2] is 4000000000, expected a node id below 40"), "{err}");
    poke(&path, "split.sales_ranking.train.bin", 2, 0u32);

    let classes = Store::open(&path).unwrap().meta().num_classes.unwrap();
    poke(&path, "labels.bin", 9, 1000i32);
    let err = open_error(&path);
    assert!(
        err.ends_with(&format!("labels.bin: labels[9] is 1000, expected -1 (none) or a class in 0..={}", classes - 1)),
        "{err}"
    );
    poke(&path, "labels.bin", 9, -2i32);
    assert!(open_error(&path).contains("labels[9] is -2"));
}

#[test]
fn a_hostile_meta_json_is_refused_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let path = store(tmp.path());
    let meta_path = path.join("meta.json");
    let original: serde_json::Value = serde_json::from_slice(&fs::read(&meta_path).unwrap()).unwrap();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut m = original.clone();
        edit(&mut m);
        fs::write(&meta_path, serde_json::to_vec(&m).unwrap()).unwrap();
        let err = open_error(&path);
        fs::write(&meta_path, serde_json::to_vec(&original).unwrap()).unwrap();
        err
    };
    let e = with(&|m| m["arrays"]["indices"]["dtype"] = "i32".into());
    assert!(e.contains("indices.bin: array indices is I32, expected U32"), "{e}");
    let e = with(&|m| m["arrays"]["indptr"]["dtype"] = "i32".into());
    assert!(e.contains("array indptr has 328 bytes, expected 164"), "{e}");
    let e = with(&|m| m["arrays"]["indices"]["shape"] = serde_json::json!([4611686018427387904u64, 4]));
    assert!(e.contains("array indices: shape [4611686018427387904, 4] is not a 1- or 2-dimensional array"), "{e}");
    let e = with(&|m| m["arrays"]["labels"]["file"] = "../p/labels.bin".into());
    assert!(e.contains("file \"../p/labels.bin\" is not a plain file name inside the store"), "{e}");
    let e = with(&|m| m["num_classes"] = serde_json::Value::Null);
    assert!(e.contains("num_classes is None: a multi-class store needs 1 to"), "{e}");
    let e = with(&|m| m["num_edges"] = 0.into());
    assert!(e.contains("num_edges is 0: expected 1 to 4294967295 (a graph without edges is refused)"), "{e}");
    let e = with(&|m| m["splits"] = serde_json::json!(["sales_ranking", "other"]));
    assert!(e.contains("split \"other\" has no array split/other/train"), "{e}");
    Store::open(&path).unwrap();
}

#[test]
fn a_huge_class_count_is_refused_at_open_and_needs_a_flag_at_prepare() {
    let tmp = tempfile::tempdir().unwrap();
    let path = store(tmp.path());
    let meta_path = path.join("meta.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&meta_path).unwrap()).unwrap();
    m["num_classes"] = 50_000_000.into();
    fs::write(&meta_path, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = open_error(&path);
    assert!(
        e.ends_with(
            "meta.json: num_classes is 50000000: more than 1000000 classes (a model's output layer that wide holds \
             50000000 x its width weights) needs prepare's --allow-many-classes"
        ),
        "{e}"
    );
    // At prepare: refused at once, before anything is written, unless asked for.
    let opts = PrepareOptions { num_classes: Some(i32::MAX as u64), ..PrepareOptions::new("big", true) };
    let root = tmp.path().join("prepared");
    fs::create_dir(&root).unwrap();
    let e = prepare_error(&fixture("products_like"), &root, &opts);
    assert!(e.contains("--num-classes 2147483647: more than 1000000 classes needs --allow-many-classes"), "{e}");
    let opts = PrepareOptions { many_classes: true, ..opts };
    let r = mille_pipeline::ogb::prepare_dir(&fixture("products_like"), &root.join("big"), &opts).unwrap();
    let s = Store::open(r.path).unwrap();
    assert!(s.meta().many_classes && s.meta().num_classes == Some(i32::MAX as u64));
}

#[test]
fn an_unsorted_csr_row_is_refused_at_open_naming_the_row() {
    let tmp = tempfile::tempdir().unwrap();
    let path = store(tmp.path());
    let s = Store::open(&path).unwrap();
    let v = (0..s.num_nodes()).find(|&v| s.neighbors(v).len() >= 2 && s.neighbors(v)[0] < s.neighbors(v)[1]).unwrap();
    let (p, first, second) = (s.indptr()[v] as usize, s.neighbors(v)[0], s.neighbors(v)[1]);
    drop(s);
    poke(&path, "indices.bin", p, second);
    poke(&path, "indices.bin", p + 1, first);
    let e = open_error(&path);
    assert!(
        e.ends_with(&format!(
            "indices.bin: row {v} is not sorted: indices[{p}] = {second} comes before indices[{}] = {first} (each \
             row lists its sources in increasing order)",
            p + 1
        )),
        "{e}"
    );
}

#[test]
fn a_non_finite_feature_is_named_by_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let path = prepare(&fixture("proteins_like"), "q", true, tmp.path()).path().to_path_buf();
    poke(&path, "edge_feat.bin", 7, f32::NAN);
    // Opening reads no feature (a value there indexes nothing); verify reads them all.
    let s = Store::open(&path).unwrap();
    let e = s.verify().unwrap_err().to_string();
    assert!(e.contains("edge_feat.bin: array edge_feat: checksum"), "the checksum catches it first: {e}");
    // With the checksum fixed to match (a hostile edit), the value itself is named.
    drop(s);
    let meta_path = path.join("meta.json");
    let mut m: serde_json::Value = serde_json::from_slice(&fs::read(&meta_path).unwrap()).unwrap();
    m["arrays"]["edge_feat"]["xxh3"] =
        mille_pipeline::store::checksum_file(&path.join("edge_feat.bin")).unwrap().into();
    fs::write(&meta_path, serde_json::to_vec(&m).unwrap()).unwrap();
    let e = Store::open(&path).unwrap().verify().unwrap_err().to_string();
    assert!(e.ends_with("edge_feat.bin: array edge_feat: row 2, column 1 holds NaN: expected finite numbers"), "{e}");
}

#[test]
fn an_extra_node_array_must_have_one_row_per_node() {
    let tmp = tempfile::tempdir().unwrap();
    let path = prepare(&fixture("arxiv_like"), "a", false, tmp.path()).path().to_path_buf();
    let meta_path = path.join("meta.json");
    let original: serde_json::Value = serde_json::from_slice(&fs::read(&meta_path).unwrap()).unwrap();
    let n = original["num_nodes"].as_u64().unwrap();
    let year = path.join(original["arrays"]["node/year"]["file"].as_str().unwrap());
    let bytes = fs::read(&year).unwrap();
    for (rows, shape) in [(n - 1, vec![n - 1, 1]), (2 * n, vec![2 * n, 1]), (n, vec![n])] {
        let mut m = original.clone();
        m["arrays"]["node/year"]["shape"] = serde_json::json!(shape.clone());
        fs::write(&meta_path, serde_json::to_vec(&m).unwrap()).unwrap();
        let mut b = bytes.clone();
        b.resize(rows as usize * 8, 0);
        fs::write(&year, &b).unwrap();
        let e = open_error(&path);
        assert!(
            e.contains(&format!("array node/year has shape {shape:?}"))
                && e.contains(&format!("expected [{n}, C]: one row per node")),
            "{e}"
        );
    }
}

#[test]
fn a_store_name_that_is_a_path_is_refused() {
    for name in ["../escape", "/abs/olute", "a/b", ".hidden", ""] {
        let e = mille_pipeline::ogb::check_store_name(name).unwrap_err().to_string();
        assert!(e.contains("expected one plain folder name"), "{name}: {e}");
    }
    mille_pipeline::ogb::check_store_name("ogbn-arxiv").unwrap();
}
