//! The run folder belongs to one run: an exclusive lock while a process writes it, a refusal to
//! start a new run over another one, and a record of the store it trained on (`store.json`) so
//! that resuming or evaluating against another store is an error naming both.

use anyhow::Context;
use mille_pipeline::Store;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

/// The lock file inside a run folder.
pub const LOCK_FILE: &str = ".lock";
/// The record of the store a run trained on.
pub const STORE_FILE: &str = "store.json";
/// Files that make a folder a run's (one of them is enough).
const RUN_FILES: [&str; 5] = ["config.toml", "checkpoint.json", "metrics.jsonl", "summary.json", "best.safetensors"];

/// An exclusive advisory lock (`flock`) on `RUN/.lock`, released when dropped or when the
/// process ends in any way (the kernel drops it with the file descriptor).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Locks `run` (which must exist), or says which process holds it.
    pub fn acquire(run: &Path) -> anyhow::Result<RunLock> {
        let path = run.join(LOCK_FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            anyhow::bail!(
                "run folder {} is in use by {} (another tools/train, --resume or tools/evaluate): wait for it to \
                 end, or choose another --out",
                run.display(),
                if holder.is_empty() { "another process".to_string() } else { format!("process {holder}") }
            );
        }
        file.set_len(0).ok();
        let _ = write!(file, "{}", std::process::id());
        Ok(RunLock { _file: file })
    }
}

/// Whether `run` holds (part of) a run: the files a run writes.
pub fn holds_run(run: &Path) -> bool {
    RUN_FILES.iter().any(|f| run.join(f).exists())
        || std::fs::read_dir(run)
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("checkpoint-")))
            .unwrap_or(false)
}

/// Empties `run` for a new run (`--overwrite`), keeping its lock file.
pub fn clear(run: &Path) -> anyhow::Result<()> {
    for e in std::fs::read_dir(run).with_context(|| format!("reading {}", run.display()))? {
        let e = e?;
        if e.file_name() == LOCK_FILE {
            continue;
        }
        let p = e.path();
        let res = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        res.with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}

/// What a model trained on a store depends on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoreShape {
    /// The store's name (`meta.json`).
    pub name: String,
    /// Nodes.
    pub nodes: u64,
    /// Node feature columns.
    pub node_features: u64,
    /// Edge feature columns.
    pub edge_features: u64,
    /// Classes (multi-class) or tasks (multi-label).
    pub outputs: u64,
}

impl StoreShape {
    /// The shape of `store`.
    pub fn of(store: &Store) -> StoreShape {
        let m = store.meta();
        StoreShape {
            name: m.name.clone(),
            nodes: m.num_nodes,
            node_features: store.features().map_or(0, |f| f.cols as u64),
            edge_features: store.edge_features().map_or(0, |f| f.cols as u64),
            outputs: match m.label_kind {
                Some(mille_pipeline::store::LabelKind::MultiLabel) => m.num_tasks.unwrap_or(0),
                _ => m.num_classes.unwrap_or(0),
            },
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} nodes, {} node and {} edge feature columns, {} outputs",
            self.nodes, self.node_features, self.edge_features, self.outputs
        )
    }
}

/// Records the store `run` trains on.
pub fn record_store(run: &Path, store: &Store) -> anyhow::Result<()> {
    let path = run.join(STORE_FILE);
    mille_pipeline::durable::write_atomic(&path, &serde_json::to_vec_pretty(&StoreShape::of(store))?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Refuses `store` for a run that trained on a store of another shape (nodes, features,
/// outputs), naming both. Runs written before the record existed pass.
pub fn check_store(run: &Path, store: &Store) -> anyhow::Result<()> {
    let path = run.join(STORE_FILE);
    let Ok(text) = std::fs::read(&path) else { return Ok(()) };
    let then: StoreShape = serde_json::from_slice(&text).with_context(|| format!("reading {}", path.display()))?;
    let now = StoreShape::of(store);
    anyhow::ensure!(
        then.nodes == now.nodes
            && then.node_features == now.node_features
            && then.edge_features == now.edge_features
            && then.outputs == now.outputs,
        "{} trained on store {} ({}); {} ({}) is {}: its weights do not fit that store",
        run.display(),
        then.name,
        then.describe(),
        store.path().display(),
        now.name,
        now.describe()
    );
    Ok(())
}
