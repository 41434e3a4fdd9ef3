//! An extracted OGB node-property dataset (CSV or binary `.npz` layout) into a store.
//!
//! Memory stays at the size of the output arrays plus a few blocks: edges are parsed into
//! scratch files beside the store (4 bytes per endpoint) while degrees are counted, then
//! scattered into the memory-mapped CSR; features and labels stream straight into their files.
//! Edges and node features are parsed at the same time, each with its own decompression thread.

mod csv_layout;
mod labels;
mod npz_layout;
mod splits;

pub use labels::MAX_CLASSES;

use super::catalog::DatasetInfo;
use super::csr::CsrBuilder;
use super::csv::DEFAULT_MAX_LINE;
use crate::error::{Error, IoContext, Result};
use crate::progress::{Reporter, Task};
use crate::store::{LabelKind, Meta, MmapArray, PositionalArray, StoreWriter};
use std::collections::BTreeMap;
use std::fs::{self};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to prepare a folder.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// Dataset name recorded in the store.
    pub name: String,
    /// Add the reverse of every input edge (OGB's `add_inverse_edge`).
    pub add_inverse_edge: bool,
    /// Replace an existing store at the target.
    pub overwrite: bool,
    /// Where progress goes (a task per large file; nowhere by default).
    pub progress: Reporter,
    /// Catalog facts (metric, classes), for datasets known by name.
    pub info: Option<&'static DatasetInfo>,
    /// Where the data came from, recorded in the store.
    pub source: String,
    /// Bytes that edges may occupy in memory while the CSR is built (12 per directed edge);
    /// past it they wait in scratch files. `None`: 256 MiB. (Scratch files cost no more time
    /// than memory here: writing them is cheaper than faulting in fresh anonymous pages.)
    pub scratch_memory: Option<u64>,
    /// Classes of a multi-class dataset, when the caller knows them (otherwise the catalog's
    /// count, or the largest label + 1 up to [`MAX_CLASSES`]). A label outside is an error.
    pub num_classes: Option<u64>,
    /// The longest line of text accepted ([`DEFAULT_MAX_LINE`]); a longer one is an error
    /// naming the file and line, found in bounded memory.
    pub max_line_bytes: usize,
    /// Sync the store's files to the disk before it is published (the default; see
    /// [`StoreWriter::set_durable`]).
    pub durable: bool,
    /// Accept a class count above [`crate::store::MAX_CLASSES`] (recorded in the store, which
    /// is refused at open otherwise).
    pub many_classes: bool,
    /// Make the graph bidirected with duplicate entries removed (DGL's `to_bidirected`, what
    /// the authors' ogbn-arxiv code does): inverse edges added, then each row's repeated
    /// sources dropped (the lowest edge id stays). Recorded as [`Meta::undirected`].
    pub to_undirected: bool,
}

impl PrepareOptions {
    /// Options for a dataset named `name`, quiet, not replacing an existing store, no catalog
    /// facts, default scratch memory.
    pub fn new(name: &str, add_inverse_edge: bool) -> Self {
        PrepareOptions {
            name: name.into(),
            add_inverse_edge,
            overwrite: false,
            progress: Reporter::silent(),
            info: None,
            source: String::new(),
            scratch_memory: None,
            num_classes: None,
            max_line_bytes: DEFAULT_MAX_LINE,
            durable: true,
            to_undirected: false,
            many_classes: false,
        }
    }

    /// Whether the CSR gets the reverse of every input edge (`add_inverse_edge`, or implied by
    /// `to_undirected`).
    pub fn inverse(&self) -> bool {
        self.add_inverse_edge || self.to_undirected
    }

    /// The class count labels are checked against, when known before reading them.
    fn classes(&self) -> Option<u64> {
        self.num_classes.or(self.info.filter(|i| i.num_tasks == 1).map(|i| i.num_classes))
    }

    fn scratch_budget(&self) -> u64 {
        self.scratch_memory.unwrap_or(256 << 20)
    }
}

/// What a prepare run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PrepareReport {
    /// The new store.
    pub path: PathBuf,
    /// Wall seconds.
    pub seconds: f64,
    /// Decompressed bytes of input read (CSV text, or npz array data).
    pub input_bytes: u64,
    /// Nodes.
    pub nodes: u64,
    /// Directed CSR entries.
    pub edges: u64,
    /// Entries removed as duplicates (`to_undirected`).
    pub duplicates_removed: u64,
    /// Where the node features came from when the input had none (`edge-feat-sum`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_feat_from: Option<String>,
}

/// Refuses a store name that is not one plain folder name: the store goes to `ROOT/NAME`, and a
/// name holding `/` or `..` (or an absolute path) would put it elsewhere.
pub fn check_store_name(name: &str) -> Result<()> {
    let plain = !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0']);
    if plain {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "store name {name:?}: expected one plain folder name (no '/', no leading '.'); the store goes to ROOT/NAME"
    )))
}

/// Finds the dataset folder (the one holding `raw/`) at `dir` or one level below it, as a zip
/// extracts `products/raw/...`.
pub fn locate(dir: &Path) -> Result<PathBuf> {
    if dir.join("raw").is_dir() {
        return Ok(dir.to_path_buf());
    }
    let mut found = Vec::new();
    for e in fs::read_dir(dir).at(dir)?.flatten() {
        if e.path().join("raw").is_dir() {
            found.push(e.path());
        }
    }
    match found.len() {
        1 => Ok(found.pop().unwrap()),
        0 => Err(Error::input(
            dir,
            "no raw/ folder here or one level below: expected OGB's layout (raw/edge.csv.gz, raw/num-node-list.csv.gz, ...)",
        )),
        _ => Err(Error::input(dir, format!("several dataset folders: {found:?}"))),
    }
}

/// Prepares the dataset folder `dir` (see [`locate`]) into a new store at `target`.
pub fn prepare_dir(dir: &Path, target: &Path, opts: &PrepareOptions) -> Result<PrepareReport> {
    let t0 = Instant::now();
    if let Some(c) = opts.num_classes.filter(|&c| c > crate::store::MAX_CLASSES && !opts.many_classes) {
        return Err(Error::Invalid(format!(
            "--num-classes {c}: more than {} classes needs --allow-many-classes (the store then records it)",
            crate::store::MAX_CLASSES
        )));
    }
    let root = locate(dir)?;
    let raw = root.join("raw");
    let mp = &opts.progress;
    let mut w = StoreWriter::create(target, opts.overwrite)?;
    w.set_durable(opts.durable);
    let mut meta = Meta {
        format: crate::store::FORMAT_NAME.into(),
        version: crate::store::FORMAT_VERSION,
        name: opts.name.clone(),
        source: source_text(&root, &opts.source),
        num_nodes: 0,
        num_edges: 0,
        num_input_edges: 0,
        add_inverse_edge: opts.inverse(),
        label_kind: None,
        num_classes: None,
        num_tasks: None,
        metric: opts.info.map(|i| i.metric.to_string()),
        splits: Vec::new(),
        arrays: BTreeMap::new(),
        node_feat_from: None,
        undirected: false,
        many_classes: false,
    };
    let input_bytes = if raw.join("data.npz").is_file() {
        npz_layout::prepare_npz(&root, &mut w, &mut meta, opts, mp)?
    } else {
        csv_layout::prepare_csv(&root, &mut w, &mut meta, opts, mp)?
    };
    meta.splits = splits::read_splits(&root, &mut w, meta.num_nodes, opts.max_line_bytes)?;
    if meta.metric.is_none() {
        meta.metric = match meta.label_kind {
            Some(LabelKind::MultiClass) => Some("acc".into()),
            Some(LabelKind::MultiLabel) => Some("rocauc".into()),
            None => None,
        };
    }
    let (nodes, edges, node_feat_from) = (meta.num_nodes, meta.num_edges, meta.node_feat_from.clone());
    let duplicates_removed = if opts.to_undirected { meta.num_input_edges * 2 - edges } else { 0 };
    meta.undirected = opts.to_undirected;
    meta.many_classes = opts.many_classes && meta.num_classes.is_some_and(|c| c > crate::store::MAX_CLASSES);
    tracing::info!("splits read at {:.2} s", t0.elapsed().as_secs_f64());
    let path = w.finish(meta)?;
    tracing::info!("checksummed and renamed at {:.2} s", t0.elapsed().as_secs_f64());
    Ok(PrepareReport {
        path,
        seconds: t0.elapsed().as_secs_f64(),
        input_bytes,
        nodes,
        edges,
        duplicates_removed,
        node_feat_from,
    })
}

fn source_text(root: &Path, given: &str) -> String {
    let release = fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("RELEASE_v") && n.ends_with(".txt"));
    match release {
        Some(r) => format!("{given} ({})", r.trim_end_matches(".txt")),
        None => given.to_string(),
    }
}

pub(super) fn bar(mp: &Reporter, len: u64, what: &str) -> Task {
    mp.task(what, len, true)
}

pub(super) fn file_len(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// A graph without nodes or edges is refused here rather than stored: every reader downstream
/// (METIS, the loader, a GNN's aggregation) assumes both, and a store without edges would only
/// ever train an MLP.
pub(super) fn check_counts(n: u64, e_in: u64, nodes: &Path, edges: &Path) -> Result<()> {
    if n == 0 {
        return Err(Error::input(nodes, "says the graph has 0 nodes: expected at least one"));
    }
    if e_in == 0 {
        return Err(Error::input(
            edges,
            "says the graph has 0 edges: mille trains GNNs, which need edges (a graph without any is refused)",
        ));
    }
    Ok(())
}

/// The CSR arrays of the store, reserved before parsing (their sizes follow from the counts
/// files) so that the edge thread can fill them on its own.
pub(super) struct CsrArrays {
    pub(super) tmp: PathBuf,
    /// Entries: reserved as input edges (twice with inverse edges), fewer once duplicates are
    /// removed.
    pub(super) entries: u64,
    /// Remove duplicate entries after the build (`--to-undirected`).
    dedupe: bool,
    pub(super) indptr: MmapArray<u64>,
    pub(super) indices: PositionalArray<u32>,
    pub(super) ids: PositionalArray<u32>,
}

impl CsrArrays {
    pub(super) fn reserve(w: &mut StoreWriter, n: u64, e_in: u64, opts: &PrepareOptions) -> Result<Self> {
        let inverse = opts.inverse();
        let entries = e_in * if inverse { 2 } else { 1 };
        if entries > u32::MAX as u64 {
            return Err(Error::Invalid(format!(
                "{entries} directed edges: mille stores edge ids as u32 (at most {})",
                u32::MAX
            )));
        }
        Ok(CsrArrays {
            tmp: w.tmp_dir().to_path_buf(),
            entries,
            dedupe: opts.to_undirected,
            indptr: w.mmap_array("indptr", n + 1, None)?,
            indices: w.positional_array("indices", entries, None)?,
            ids: w.positional_array("edge_ids", entries, None)?,
        })
    }
    /// Builds the CSR, then removes duplicate entries if asked; returns how many it removed.
    pub(super) fn build(&mut self, sink: CsrBuilder) -> Result<u64> {
        self.build_unless(sink, &std::sync::atomic::AtomicBool::new(false))
    }

    /// [`CsrArrays::build`], stopped with [`crate::Error::Cancelled`] once `cancel` is set.
    pub(super) fn build_unless(&mut self, sink: CsrBuilder, cancel: &std::sync::atomic::AtomicBool) -> Result<u64> {
        sink.build(self.indptr.as_mut_slice(), &self.indices, &self.ids, cancel)?;
        if !self.dedupe {
            return Ok(0);
        }
        let removed = super::csr::dedupe_rows(self.indptr.as_mut_slice(), self.indices.path(), self.ids.path())?;
        self.entries -= removed;
        Ok(removed)
    }
}
