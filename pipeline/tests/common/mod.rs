//! Helpers shared by the pipeline's integration tests: simple, independent readers of the
//! fixture files (plain flate2 + `str::split`), to compare mille's store against.
#![allow(dead_code)]

use flate2::read::MultiGzDecoder;
use mille_pipeline::Store;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use std::io::Read;
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures").join(name)
}

pub fn shared_dataset(name: &str) -> PathBuf {
    mille_pipeline::datasets::require(&repo(), name)
}

/// Copies a folder tree (a fixture or dataset to edit in a test).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Rows of a gzip'd CSV, each a list of field strings.
pub fn csv(path: &Path) -> Vec<Vec<String>> {
    let mut s = String::new();
    MultiGzDecoder::new(std::fs::File::open(path).unwrap()).read_to_string(&mut s).unwrap();
    s.lines().filter(|l| !l.is_empty()).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

pub fn csv_f32(path: &Path) -> Vec<Vec<f32>> {
    csv(path).into_iter().map(|r| r.iter().map(|x| x.parse().unwrap()).collect()).collect()
}

pub fn csv_i64(path: &Path) -> Vec<Vec<i64>> {
    csv(path).into_iter().map(|r| r.iter().map(|x| x.parse().unwrap()).collect()).collect()
}

pub fn prepare(src: &Path, name: &str, inverse: bool, root: &Path) -> Store {
    let opts = PrepareOptions::new(name, inverse);
    let r = prepare_dir(src, &root.join(name), &opts).unwrap();
    Store::open(r.path).unwrap()
}

/// The CSR a simple reader expects: for every edge (u, v) with OGB id, entry (v <- u), rows by
/// destination, sorted by (source, edge id).
pub fn reference_csr(n: usize, edges: &[(u32, u32)], inverse: bool) -> (Vec<u64>, Vec<u32>, Vec<u64>) {
    let mut entries: Vec<(u32, u32, u64)> = Vec::new();
    for (i, &(u, v)) in edges.iter().enumerate() {
        if inverse {
            entries.push((v, u, 2 * i as u64));
            entries.push((u, v, 2 * i as u64 + 1));
        } else {
            entries.push((v, u, i as u64));
        }
    }
    entries.sort();
    let mut indptr = vec![0u64; n + 1];
    for &(d, _, _) in &entries {
        indptr[d as usize + 1] += 1;
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    (indptr, entries.iter().map(|e| e.1).collect(), entries.iter().map(|e| e.2).collect())
}

/// Writes `text` gzip'd to `path` (replacing the file).
pub fn write_gz(path: &Path, text: &[u8]) {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    gz.write_all(text).unwrap();
    gz.finish().unwrap();
}

/// A copy of fixture `name` in `root/src` whose file `file` (relative) is replaced by `text`.
pub fn mutated_fixture(name: &str, root: &Path, file: &str, text: &[u8]) -> PathBuf {
    let src = root.join("src");
    copy_tree(&fixture(name), &src);
    write_gz(&src.join(file), text);
    src
}

/// The error of preparing `src` with `opts`, asserting that no store (and no temporary folder)
/// was left in `root`.
pub fn prepare_error(src: &Path, root: &Path, opts: &PrepareOptions) -> String {
    let target = root.join("store");
    let err = prepare_dir(src, &target, opts).map(|_| ()).expect_err("prepare must fail").to_string();
    let left: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "src")
        .collect();
    assert!(left.is_empty(), "a failed prepare left {left:?}");
    err
}
