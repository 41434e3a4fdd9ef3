//! Sharded stores: a store cut by a partition into one store per part, so that each rank of a
//! data-parallel job opens only its own shard and no machine holds the whole graph.
//!
//! Layout of a shard set folder:
//! - `shards.json`: the [`ShardManifest`] (format name and version, checked when opened; the
//!   source's counts; per shard its counts; the edges lost to the cut).
//! - `shard-R/`: an ordinary store of part `R`'s nodes (ascending source row, so CSR rows stay
//!   sorted), their features, labels, extra node columns and split members renamed to local
//!   ids, and the CSR entries among them with their edge features. Two more arrays map it back:
//!   `shard/global_id` (u32 `[n]`, the node's row in the source store) and
//!   `shard/global_edge_pos` (u64 `[e]`, the entry's CSR position there; the source's
//!   `edge_ids` follow from it and are not carried, since they index the whole graph's edges).
//!
//! The whole set is written in a hidden folder and renamed into place: a failed or killed cut
//! leaves nothing at the target.

use crate::error::{Error, Result, io};
use crate::partition::Partition;
use crate::relabel::{ORIGINAL_ID, PART_PTR, gather_rows};
use mille_pipeline::Store;
use mille_pipeline::store::{Meta, StoreWriter};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Array of a shard: the source store's row of every shard node (u32 `[n]`).
pub const GLOBAL_ID: &str = "shard/global_id";
/// Array of a shard: the source store's CSR position of every shard entry (u64 `[e]`).
pub const GLOBAL_EDGE_POS: &str = "shard/global_edge_pos";
/// The manifest's file name inside a shard set.
pub const MANIFEST: &str = "shards.json";
/// Value of [`ShardManifest::format`].
pub const FORMAT_NAME: &str = "mille-shards";
/// Manifest version; bumped whenever a reader of the old one would misread the new.
pub const FORMAT_VERSION: u32 = 1;

/// What `shards.json` says of the whole set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardManifest {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// The store that was cut, as given.
    pub source: String,
    /// Dataset name.
    pub name: String,
    /// How the parts were drawn (`metis`, `random`, ...).
    pub method: String,
    /// Nodes of the source store.
    pub nodes: u64,
    /// CSR entries of the source store.
    pub edges: u64,
    /// Entries kept (both ends in one shard).
    pub kept_edges: u64,
    /// Entries lost to the cut (`edges - kept_edges`).
    pub lost_edges: u64,
    /// Every shard, by rank.
    pub shards: Vec<ShardInfo>,
}

/// One shard's entry in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// Folder name inside the set (`shard-R`).
    pub path: String,
    /// Nodes.
    pub nodes: u64,
    /// CSR entries.
    pub edges: u64,
}

impl ShardManifest {
    /// Share of the source's CSR entries lost to the cut.
    pub fn lost_fraction(&self) -> f64 {
        self.lost_edges as f64 / self.edges.max(1) as f64
    }
}

/// A shard set opened and checked: its manifest, and where its shards are.
#[derive(Debug, Clone)]
pub struct ShardSet {
    dir: PathBuf,
    manifest: ShardManifest,
}

impl ShardSet {
    /// Opens the shard set in `dir`, checking its manifest: the format and version, and that
    /// the shards' nodes add up to the source's and its entries to the kept ones. The shard
    /// folders are looked at only when opened ([`ShardSet::open_shard`]): a machine of a job
    /// needs the manifest and its own ranks' shards, not the others'.
    pub fn open(dir: &Path) -> Result<ShardSet> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Invalid(format!(
                    "{}: not a shard set (no {MANIFEST}; write one with tools/partition STORE --shards {})",
                    dir.display(),
                    dir.display()
                ))
            } else {
                io(&path, e)
            }
        })?;
        let bad = |what: String| Error::Invalid(format!("{}: {what}", path.display()));
        let manifest: ShardManifest =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a shard manifest ({e})")))?;
        if manifest.format != FORMAT_NAME {
            return Err(bad(format!("format is {:?}, expected {FORMAT_NAME:?}", manifest.format)));
        }
        if manifest.version != FORMAT_VERSION {
            return Err(bad(format!(
                "version {} is not this build's {FORMAT_VERSION} (re-cut the store with this build's tools/partition)",
                manifest.version
            )));
        }
        let nodes: u64 = manifest.shards.iter().map(|s| s.nodes).sum();
        let kept: u64 = manifest.shards.iter().map(|s| s.edges).sum();
        if manifest.shards.is_empty()
            || nodes != manifest.nodes
            || kept != manifest.kept_edges
            || manifest.kept_edges.checked_add(manifest.lost_edges) != Some(manifest.edges)
        {
            return Err(bad(format!(
                "counts do not add up: {} shards of {nodes} nodes (source {}) and {kept} entries (kept {}, lost {}, \
                 source {})",
                manifest.shards.len(),
                manifest.nodes,
                manifest.kept_edges,
                manifest.lost_edges,
                manifest.edges
            )));
        }
        for (r, s) in manifest.shards.iter().enumerate() {
            if s.path != shard_name(r) {
                return Err(bad(format!("shard {r} is at {:?}, expected {:?}", s.path, shard_name(r))));
            }
        }
        Ok(ShardSet { dir: dir.to_path_buf(), manifest })
    }

    /// The set's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &ShardManifest {
        &self.manifest
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.manifest.shards.len()
    }

    /// Whether the set has no shard (never true of an opened set).
    pub fn is_empty(&self) -> bool {
        self.manifest.shards.is_empty()
    }

    /// Folder of shard `r`.
    pub fn shard_path(&self, r: usize) -> PathBuf {
        self.dir.join(shard_name(r))
    }

    /// Opens shard `r` as a store, checking it against the manifest.
    pub fn open_shard(&self, r: usize) -> Result<Store> {
        let Some(info) = self.manifest.shards.get(r) else {
            return Err(Error::Invalid(format!("{} has {} shards, no shard {r}", self.dir.display(), self.len())));
        };
        let path = self.shard_path(r);
        if !path.is_dir() {
            return Err(Error::Invalid(format!(
                "shard {r}'s folder {} is missing (each rank needs {MANIFEST} and its own shard)",
                path.display()
            )));
        }
        let store = Store::open(path)?;
        let ids: &[u32] = store.array(GLOBAL_ID)?;
        if store.num_nodes() as u64 != info.nodes
            || store.num_edges() as u64 != info.edges
            || ids.len() != store.num_nodes()
        {
            return Err(Error::Invalid(format!(
                "{}: {} nodes and {} entries ({} global ids), but {} says {} and {}",
                store.path().display(),
                store.num_nodes(),
                store.num_edges(),
                ids.len(),
                self.dir.join(MANIFEST).display(),
                info.nodes,
                info.edges
            )));
        }
        Ok(store)
    }
}

/// `shard-R`.
pub fn shard_name(r: usize) -> String {
    format!("shard-{r}")
}

/// Cuts `store` by `p` into the shard set `out` (one store per part, see the module docs);
/// `method` is recorded in the manifest. Every part must hold a node and an edge among its
/// nodes (a store without either is refused by every reader). `progress` hears each shard done.
pub fn shard(
    store: &Store,
    p: &Partition,
    method: &str,
    out: &Path,
    mut progress: impl FnMut(usize),
) -> Result<ShardSet> {
    let n = store.num_nodes();
    if p.len() != n {
        return Err(Error::Invalid(format!("partition of {} nodes for a store of {n}", p.len())));
    }
    if let Some(r) = (0..p.k()).find(|&r| p.nodes(r).is_empty()) {
        return Err(Error::Invalid(format!(
            "part {r} of {} is empty: a shard needs nodes (ask for fewer --parts)",
            p.k()
        )));
    }
    let set = StoreWriter::create(out, false)?;
    let mut shards = Vec::with_capacity(p.k() as usize);
    let mut local_of = vec![u32::MAX; n];
    for r in 0..p.k() {
        let nodes = p.nodes(r);
        for (i, &v) in nodes.iter().enumerate() {
            local_of[v as usize] = i as u32;
        }
        let target = set.tmp_dir().join(shard_name(r as usize));
        let edges = write_shard(store, p, r, &local_of, &target, method)?;
        shards.push(ShardInfo { path: shard_name(r as usize), nodes: nodes.len() as u64, edges });
        progress(r as usize);
    }
    let kept: u64 = shards.iter().map(|s| s.edges).sum();
    let manifest = ShardManifest {
        format: FORMAT_NAME.into(),
        version: FORMAT_VERSION,
        source: store.path().display().to_string(),
        name: store.meta().name.clone(),
        method: method.into(),
        nodes: n as u64,
        edges: store.num_edges() as u64,
        kept_edges: kept,
        lost_edges: store.num_edges() as u64 - kept,
        shards,
    };
    let text = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    mille_pipeline::durable::write_atomic(&set.tmp_dir().join(MANIFEST), &text)?;
    let dir = set.finish_without_meta()?;
    ShardSet::open(&dir)
}

/// Writes part `r` of `store` as a store at `target`; `local_of` holds the local id of each of
/// its nodes. Returns its CSR entries.
fn write_shard(store: &Store, p: &Partition, r: u32, local_of: &[u32], target: &Path, method: &str) -> Result<u64> {
    let nodes = p.nodes(r);
    let (indptr, indices, part) = (store.indptr(), store.indices(), p.parts());
    let mut w = StoreWriter::create(target, false)?;
    // CSR rows of the part's nodes with the entries whose source is in the part. Local ids
    // rise with source rows, so the kept neighbours stay sorted.
    let mut ptr = Vec::with_capacity(nodes.len() + 1);
    ptr.push(0u64);
    let mut pos = Vec::new();
    let mut idx = Vec::new();
    for &v in nodes {
        let (a, b) = (indptr[v as usize] as usize, indptr[v as usize + 1] as usize);
        for (j, &u) in indices[a..b].iter().enumerate() {
            if part[u as usize] == r {
                idx.push(local_of[u as usize]);
                pos.push((a + j) as u64);
            }
        }
        ptr.push(idx.len() as u64);
    }
    if idx.is_empty() {
        return Err(Error::Invalid(format!(
            "part {r} has no edge among its {} nodes: a shard needs one (ask for fewer --parts, or use METIS)",
            nodes.len()
        )));
    }
    w.put("indptr", &ptr, None)?;
    w.put("indices", &idx, None)?;
    w.put(GLOBAL_EDGE_POS, &pos, None)?;
    w.put(GLOBAL_ID, nodes, None)?;
    let meta = store.meta();
    let e = store.num_edges();
    for (name, a) in &meta.arrays {
        let cols = (a.shape.len() > 1).then(|| a.cols() as u64);
        let row_bytes = a.cols() * a.dtype.size();
        let first = a.shape[0] as usize;
        let skip = ["indptr", "indices", "edge_ids", PART_PTR, GLOBAL_ID, GLOBAL_EDGE_POS];
        if skip.contains(&name.as_str()) {
            continue;
        }
        let bytes = store.bytes(name).expect("mapped");
        if name.starts_with("split/") {
            let ids: &[u32] = store.array(name)?;
            let mut local: Vec<u32> =
                ids.iter().filter(|&&v| part[v as usize] == r).map(|&v| local_of[v as usize]).collect();
            local.sort_unstable();
            w.put(name, &local, None)?;
        } else if first == e && name.starts_with("edge") {
            let mut s = w.stream_raw(name, a.dtype, cols)?;
            gather_rows(bytes, row_bytes, pos.iter().map(|&q| q as usize), |buf| s.push(buf))?;
            s.finish()?;
        } else if first == store.num_nodes() || name == ORIGINAL_ID {
            let mut s = w.stream_raw(name, a.dtype, cols)?;
            gather_rows(bytes, row_bytes, nodes.iter().map(|&v| v as usize), |buf| s.push(buf))?;
            s.finish()?;
        } else {
            return Err(Error::Invalid(format!("don't know how to shard array {name} ({:?})", a.shape)));
        }
    }
    let kept = idx.len() as u64;
    let shard_meta = Meta {
        source: format!("{} | shard {r} of {} ({method})", meta.source, p.k()),
        num_nodes: nodes.len() as u64,
        num_edges: kept,
        // The entries no longer pair up as an input edge and its inverse.
        num_input_edges: kept,
        add_inverse_edge: false,
        arrays: Default::default(),
        ..meta.clone()
    };
    w.finish(shard_meta)?;
    Ok(kept)
}
