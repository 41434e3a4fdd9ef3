//! Shared by the trainer's tests: real stores prepared from the repository's fixtures and the
//! shared datasets.

#![allow(dead_code)]

use mille_loader::{Loader, LoaderConfig, PlanSpec};
use mille_pipeline::Store;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use mille_train::graph::GraphTensors;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Device, Tensor};

/// Prepares `src` (OGB raw layout) into a temporary store.
pub fn store(src: &Path, inverse: bool) -> (PathBuf, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let path = prepare_dir(src, &tmp.path().join("s"), &PrepareOptions::new("s", inverse)).unwrap().path;
    (path, tmp)
}

/// The products-like fixture (40 nodes) prepared.
pub fn fixture_store() -> (PathBuf, tempfile::TempDir) {
    store(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/products_like"), true)
}

/// A shared dataset's folder.
pub fn dataset(name: &str) -> PathBuf {
    mille_pipeline::datasets::require(&Path::new(env!("CARGO_MANIFEST_DIR")).join(".."), name)
}

/// The fixture as one batch with self loops.
pub fn fixture_batch() -> (GraphTensors, tempfile::TempDir) {
    let (path, tmp) = fixture_store();
    let s = Arc::new(Store::open(path).unwrap());
    let l = Loader::new(s, LoaderConfig { plan: PlanSpec::Full, self_loops: true, ..Default::default() }).unwrap();
    let b = l.epoch(0).next().unwrap().unwrap();
    (GraphTensors::new(&b, Device::Cpu), tmp)
}

/// Largest |a - b| over the largest |b|.
pub fn max_rel(a: &Tensor, b: &Tensor) -> f64 {
    let diff = (a - b).abs().max().double_value(&[]);
    diff / b.abs().max().double_value(&[]).max(1e-12)
}

/// The proteins-like fixture (edge features, no node features) as one batch without self
/// loops, with its edge features.
pub fn proteins_batch() -> (GraphTensors, tempfile::TempDir) {
    let (path, tmp) = store(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/proteins_like"), true);
    let s = Arc::new(Store::open(path).unwrap());
    let cfg = LoaderConfig { plan: PlanSpec::Full, self_loops: false, edge_features: true, ..Default::default() };
    let l = Loader::new(s, cfg).unwrap();
    let b = l.epoch(0).next().unwrap().unwrap();
    (GraphTensors::new(&b, Device::Cpu), tmp)
}
