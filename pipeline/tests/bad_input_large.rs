//! Bad rows in files large enough that the inflating thread is ahead of the parser when the error
//! is found (Cora's 7.8 MB of feature text against 1 MiB blocks and a two-block channel): the
//! error comes back, naming file and line, instead of the reader waiting forever on a channel
//! nobody reads. Each case runs under a timeout.

mod common;

use flate2::Compression;
use flate2::write::GzEncoder;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

/// Cora with its feature file's line `line` (1-based) rewritten by `edit`; the prepare's error.
fn prepare_with_bad_feature_line(line: usize, edit: impl Fn(&str) -> String) -> String {
    let cora = common::shared_dataset("cora");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("cora");
    common::copy_tree(&cora, &src);
    let feat = src.join("raw/node-feat.csv.gz");
    let text: Vec<String> = common::csv(&feat).into_iter().map(|r| r.join(",")).collect();
    let mut gz = GzEncoder::new(std::fs::File::create(&feat).unwrap(), Compression::fast());
    for (i, l) in text.iter().enumerate() {
        let l = if i + 1 == line { edit(l) } else { l.clone() };
        writeln!(gz, "{l}").unwrap();
    }
    gz.finish().unwrap();
    let out = tmp.path().join("store");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = prepare_dir(&src, &out, &PrepareOptions::new("c", false));
        let _ = tx.send((r.map(|_| ()).map_err(|e| e.to_string()), out.exists()));
    });
    let (result, left) = rx.recv_timeout(Duration::from_secs(120)).expect("prepare returned within 120 s");
    assert!(!left, "a failed prepare left its store");
    drop(tmp);
    result.expect_err("the bad row is an error")
}

#[test]
fn a_nan_near_the_start_of_a_large_feature_file_is_an_error_not_a_hang() {
    let e = prepare_with_bad_feature_line(10, |l| format!("nan{}", &l[l.find(',').unwrap()..]));
    assert!(e.contains("node-feat.csv.gz:10:"), "{e}");
}

#[test]
fn a_missing_column_near_the_start_of_a_large_feature_file_is_an_error_not_a_hang() {
    let e = prepare_with_bad_feature_line(11, |l| l[..l.rfind(',').unwrap()].to_string());
    assert!(e.contains("node-feat.csv.gz:11:"), "{e}");
}
