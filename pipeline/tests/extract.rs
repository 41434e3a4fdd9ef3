//! Zip extraction refuses entries that escape the target folder, and writes nothing then.

mod common;
use common::*;
use mille_pipeline::ogb::extract_zip;

#[test]
fn an_entry_with_dotdot_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("a").join("b");
    let err = extract_zip(&fixture("broken/escaping.zip"), &dest).unwrap_err().to_string();
    assert!(err.contains("escapes") && err.contains("../../escaped.txt"), "{err}");
    assert!(!dest.exists());
    assert!(!tmp.path().join("escaped.txt").exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "nothing created at all");
}

#[test]
fn a_good_zip_extracts_and_prepares() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("x");
    extract_zip(&fixture("products_like.zip"), &dest).unwrap();
    // The zip holds products_like/raw/...: prepare finds the dataset one level down.
    let s = prepare(&dest, "p", true, tmp.path());
    assert_eq!(s.num_nodes(), 40);
}
