//! `mille.prepare` and `mille.synth`: raw OGB-layout folders in, stores out.

use crate::error::{mille, value};
use mille_pipeline::ogb::{self, PrepareOptions, prepare_dir};
use mille_pipeline::progress::{Progress, Reporter, Task, TaskSink};
use mille_pipeline::synth::{Like, SynthConfig, generate};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Prepares the dataset folder `source` (OGB's raw layout: `raw/edge.csv.gz`, ... or the npz
/// files, with `split/`) into a store at `root/name` and returns its path. `dataset` names a
/// catalog entry (e.g. `ogbn-products`) whose facts (metric, classes, inverse edges) apply;
/// `add_inverse_edge` adds the reverse of every input edge; `to_undirected` makes the graph
/// bidirected with duplicate edges removed (DGL's `to_bidirected`, the authors' ogbn-arxiv
/// graph); `overwrite` replaces an existing store. A graph with edge features and no node
/// features (ogbn-proteins' layout) gets each node's full-graph sum of its edges' features as
/// node features. More than 1,000,000 classes (`num_classes` or labels) need
/// `allow_many_classes`. With `verbose`, each large step is reported on stderr.
#[pyfunction]
#[pyo3(signature = (source, name = None, root = PathBuf::from("data"), *, dataset = None, add_inverse_edge = false, to_undirected = false, overwrite = false, num_classes = None, allow_many_classes = false, verbose = true))]
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    py: Python<'_>,
    source: PathBuf,
    name: Option<String>,
    root: PathBuf,
    dataset: Option<String>,
    add_inverse_edge: bool,
    to_undirected: bool,
    overwrite: bool,
    num_classes: Option<u64>,
    allow_many_classes: bool,
    verbose: bool,
) -> PyResult<PathBuf> {
    let info = match &dataset {
        Some(d) => Some(
            ogb::lookup(d)
                .ok_or_else(|| value(format!("unknown dataset {d:?}; known: {}", ogb::catalog::names().join(", "))))?,
        ),
        None => None,
    };
    let name =
        name.or_else(|| info.map(|i| i.name.to_string())).ok_or_else(|| value("prepare: give name= (or dataset=)"))?;
    ogb::check_store_name(&name).map_err(|e| value(format!("prepare: name: {e}")))?;
    let mut opts = PrepareOptions::new(&name, add_inverse_edge || info.is_some_and(|i| i.add_inverse_edge));
    opts.overwrite = overwrite;
    opts.to_undirected = to_undirected;
    opts.info = info;
    opts.num_classes = num_classes;
    opts.many_classes = allow_many_classes;
    opts.source = source.display().to_string();
    if verbose {
        opts.progress = Reporter::new(Arc::new(Stderr));
    }
    let target = root.join(&name);
    let report = py.detach(move || prepare_dir(&source, &target, &opts)).map_err(mille)?;
    if verbose {
        eprintln!("mille: prepared {name}: {} nodes, {} edges in {:.1} s", report.nodes, report.edges, report.seconds);
        if to_undirected {
            eprintln!("mille: bidirected: {} duplicate entries removed", report.duplicates_removed);
        }
    }
    Ok(report.path)
}

/// Writes a synthetic graph in OGB's raw layout to `out`, like ogbn-products (`like =
/// "products"`: a degree-corrected block model with class-centroid features and a 8/2/90 %
/// split), ogbn-proteins (`"proteins"`: edge features, species, binary tasks, a species split;
/// `classes` counts its latent communities) or ogbn-arxiv (`"arxiv"`: directed citations, years,
/// a time split); `mille.prepare(out, ...)` then makes a store of it. Same generator and seed as
/// `tools/synth`, so the same graph.
#[pyfunction]
#[pyo3(signature = (out, nodes = 20_000, avg_degree = 20.0, features = 100, classes = 47, seed = 0, *, like = "products", tasks = 112))]
#[allow(clippy::too_many_arguments)]
pub fn synth(
    py: Python<'_>,
    out: PathBuf,
    nodes: u64,
    avg_degree: f64,
    features: usize,
    classes: usize,
    seed: u64,
    like: &str,
    tasks: usize,
) -> PyResult<PathBuf> {
    if nodes == 0 || classes == 0 || avg_degree <= 0.0 {
        return Err(value("synth: nodes, classes and avg_degree must be positive"));
    }
    let like: Like = like.parse().map_err(|e: String| value(format!("synth: like: {e}")))?;
    let features = if like == Like::Proteins { 0 } else { features };
    let cfg = SynthConfig { like, nodes, avg_degree, features, classes, seed, tasks, ..Default::default() };
    let dir = out.clone();
    py.detach(move || generate(&cfg, &dir, &Reporter::silent())).map_err(mille)?;
    Ok(out)
}

/// Progress as one line per task on stderr (start, and its time when it ends).
struct Stderr;

struct Line {
    what: String,
    start: Instant,
}

impl Progress for Stderr {
    fn task(&self, what: &str, _len: u64, _bytes: bool) -> Task {
        eprintln!("mille: {what} ...");
        Task::new(Arc::new(Line { what: what.to_string(), start: Instant::now() }))
    }
}

impl TaskSink for Line {
    fn set_len(&self, _: u64) {}
    fn set_position(&self, _: u64) {}
    fn inc(&self, _: u64) {}
    fn set_message(&self, _: &str) {}
    fn finish(&self) {
        eprintln!("mille: {} done in {:.1} s", self.what, self.start.elapsed().as_secs_f64());
    }
}
