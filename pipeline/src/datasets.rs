//! Where the real graphs that tests and benchmarks read live: `MILLE_DATASETS`, by default
//! `../shared/datasets` beside the repository, one folder per graph in OGB's raw layout.

use std::path::{Path, PathBuf};

/// The variable naming the datasets folder.
pub const VAR: &str = "MILLE_DATASETS";

/// The datasets folder: `$MILLE_DATASETS`, else `../shared/datasets` beside `repo`.
pub fn dir(repo: &Path) -> PathBuf {
    match std::env::var_os(VAR) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => repo.join("..").join("shared").join("datasets"),
    }
}

/// Dataset `name` (e.g. `cora`) under [`dir`], or a message saying what is missing, where it
/// was looked for and how to point there.
pub fn find(repo: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir(repo).join(name);
    if path.join("raw").is_dir() {
        return Ok(path);
    }
    Err(format!(
        "dataset {name:?} not found at {} (no raw/ folder): the tests on real graphs read {VAR}, by default \
         ../shared/datasets beside the repository; set {VAR} to a folder holding {name}/ in OGB's raw layout",
        path.display()
    ))
}

/// [`find`], panicking with its message: for tests, which need the graph to mean anything.
pub fn require(repo: &Path, name: &str) -> PathBuf {
    find(repo, name).unwrap_or_else(|m| panic!("{m}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_dataset_names_where_it_was_looked_for_and_the_variable() {
        let e = find(Path::new("/no/such/repo"), "cora").unwrap_err();
        if std::env::var_os(VAR).is_none() {
            assert!(e.contains("/no/such/repo/../shared/datasets/cora (no raw/ folder)"), "{e}");
        }
        assert!(e.contains("set MILLE_DATASETS to a folder holding cora/"), "{e}");
    }
}
