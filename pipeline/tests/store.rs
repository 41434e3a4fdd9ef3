//! The store's guarantees: checked at open, verified by checksum, written atomically, and its
//! zstd form decoding to the same bytes.

mod common;
use common::*;
use mille_pipeline::store::zstd::{CompressedStore, compress};
use mille_pipeline::store::{META_FILE, Meta, StoreWriter};
use mille_pipeline::{Error, Store};
use std::fs;

fn products(root: &std::path::Path) -> Store {
    prepare(&fixture("products_like"), "p", true, root)
}

#[test]
fn a_truncated_array_fails_to_open_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = products(tmp.path()).path().to_path_buf();
    let f = path.join("indices.bin");
    let len = fs::metadata(&f).unwrap().len();
    fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len - 4).unwrap();
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(err.contains("indices.bin") && err.contains("expected"), "{err}");
}

#[test]
fn a_changed_byte_fails_verify_and_names_the_array() {
    let tmp = tempfile::tempdir().unwrap();
    let path = products(tmp.path()).path().to_path_buf();
    let f = path.join("node_feat.bin");
    let mut bytes = fs::read(&f).unwrap();
    bytes[17] ^= 1;
    fs::write(&f, bytes).unwrap();
    let s = Store::open(&path).unwrap();
    let err = s.verify().unwrap_err().to_string();
    assert!(err.contains("node_feat") && err.contains("checksum"), "{err}");
}

#[test]
fn another_format_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = products(tmp.path()).path().to_path_buf();
    let mut meta: Meta = serde_json::from_slice(&fs::read(path.join(META_FILE)).unwrap()).unwrap();
    meta.version += 1;
    fs::write(path.join(META_FILE), serde_json::to_vec(&meta).unwrap()).unwrap();
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(err.contains("format version 2"), "{err}");
    assert!(matches!(Store::open(tmp.path()).unwrap_err(), Error::Store { .. }));
}

#[test]
fn an_unfinished_writer_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("s");
    {
        let mut w = StoreWriter::create(&target, false).unwrap();
        w.put("indptr", &[0u64, 1], None).unwrap();
        // dropped without finish(), as on an error
    }
    assert!(!target.exists());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0, "temporary folder removed");
}

#[test]
fn an_existing_store_is_kept_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    products(tmp.path());
    let err = StoreWriter::create(&tmp.path().join("p"), false).err().unwrap().to_string();
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn zstd_form_round_trips_and_reads_row_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let s = prepare(&shared_dataset("cora"), "cora", false, tmp.path());
    let z = tmp.path().join("cora.zst");
    // Small frames so that row ranges cross frame boundaries.
    let st = compress(&s, &z, 3, 4096).unwrap();
    assert!(st.ratio() > 5.0, "sparse 0/1 features compress well: {}", st.ratio());
    let c = CompressedStore::open(&z).unwrap();
    let feat = s.bytes("node_feat").unwrap();
    let row = 1433 * 4;
    for (lo, hi) in [(0u64, 1u64), (3, 700), (2000, 2708), (5, 5)] {
        let got = c.read_rows("node_feat", lo..hi).unwrap();
        assert_eq!(got, &feat[lo as usize * row..hi as usize * row]);
    }
    assert_eq!(c.read_rows("indices", 100..200).unwrap(), &s.bytes("indices").unwrap()[400..800]);
    let back = c.decompress(&tmp.path().join("cora2")).unwrap();
    back.verify().unwrap();
    for name in s.meta().arrays.keys() {
        assert_eq!(back.bytes(name), s.bytes(name), "{name}");
    }
}

#[test]
fn an_empty_split_reads_as_an_empty_array() {
    // Accepted by prepare (a split may have no validation nodes); every reader sees `&[]`.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    copy_tree(&fixture("products_like"), &src);
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(src.join("split/sales_ranking/valid.csv.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::flush(&mut gz).unwrap();
    gz.finish().unwrap();
    let s = prepare(&src, "p", true, tmp.path());
    let split = s.split("sales_ranking").unwrap();
    assert!(split.valid.is_empty());
    assert!(!split.train.is_empty() && !split.test.is_empty());
    let again = Store::open(s.path()).unwrap();
    assert_eq!(again.array::<u32>("split/sales_ranking/valid").unwrap(), &[] as &[u32]);
}
