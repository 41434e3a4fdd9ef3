//! What the loader's test files share: the repository root and Cora prepared as a store.

use mille_pipeline::Store;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Cora (`../shared/datasets/cora`) prepared under `root`.
pub fn cora(root: &Path) -> Arc<Store> {
    let src = mille_pipeline::datasets::require(&repo(), "cora");
    Arc::new(
        Store::open(prepare_dir(&src, &root.join("cora"), &PrepareOptions::new("cora", false)).unwrap().path).unwrap(),
    )
}
