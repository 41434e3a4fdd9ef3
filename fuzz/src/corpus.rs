//! The seeds: the repository's fixtures (four OGB layouts, and the broken cases for the text
//! readers) and the stores prepared from them.

use crate::targets::Target;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use std::path::{Path, PathBuf};

/// Fixtures whose folders are prepared (and whose stores are mutated).
pub const FIXTURES: [&str; 4] = ["products_like", "proteins_like", "arxiv_like", "papers_like"];

/// The fixtures, and a store prepared from each in a temporary folder.
pub struct Corpus {
    root: PathBuf,
    stores: tempfile::TempDir,
}

impl Corpus {
    /// Reads `fixtures` (the repository's `fixtures/` folder) and prepares its stores.
    pub fn new(fixtures: &Path) -> anyhow::Result<Corpus> {
        let stores = tempfile::Builder::new().prefix("mille-fuzz-stores-").tempdir()?;
        for f in FIXTURES {
            let opts = PrepareOptions { durable: false, ..PrepareOptions::new(f, inverse(f)) };
            prepare_dir(&fixtures.join(f), &stores.path().join(f), &opts)?;
        }
        Ok(Corpus { root: fixtures.to_path_buf(), stores })
    }

    /// The folder of fixture `name` (`broken/...` included).
    pub fn fixture(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Whether fixture `name` is prepared with inverse edges (as the tests do).
    pub fn inverse(&self, name: &str) -> bool {
        inverse(name)
    }

    /// Copies fixture `name` to `to`.
    pub fn copy_fixture(&self, name: &str, to: &Path) -> std::io::Result<()> {
        copy_tree(&self.fixture(name), to)
    }

    /// Copies the store prepared from fixture `name` to `to`.
    pub fn copy_store(&self, name: &str, to: &Path) -> std::io::Result<()> {
        copy_tree(&self.stores.path().join(name), to)
    }

    /// The (fixture, file) pairs a target mutates.
    pub fn files(&self, target: Target) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match target {
            Target::Csv => {
                let mut dirs: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
                if let Ok(rd) = std::fs::read_dir(self.root.join("broken")) {
                    dirs.extend(
                        rd.flatten()
                            .filter(|e| e.path().is_dir())
                            .map(|e| format!("broken/{}", e.file_name().to_string_lossy())),
                    );
                }
                dirs.sort();
                for d in dirs {
                    for f in files_under(&self.fixture(&d)) {
                        if f.ends_with(".csv.gz") {
                            out.push((d.clone(), f));
                        }
                    }
                }
            }
            Target::Prepare => {
                for d in FIXTURES {
                    out.extend(files_under(&self.fixture(d)).into_iter().map(|f| (d.to_string(), f)));
                }
            }
            Target::Store => {
                for d in FIXTURES {
                    let dir = self.stores.path().join(d);
                    out.extend(files_under(&dir).into_iter().map(|f| (d.to_string(), f)));
                }
            }
        }
        out
    }
}

fn inverse(name: &str) -> bool {
    matches!(name, "products_like" | "proteins_like")
}

/// Files below `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(rel) = p.strip_prefix(base) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}
