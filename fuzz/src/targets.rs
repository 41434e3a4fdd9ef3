//! The three fuzz targets and what each checks besides "no panic":
//! - `csv`: one mutated text file through every CSV row reader.
//! - `prepare`: a fixture folder with one mutated file through `prepare_dir`; a refused folder
//!   leaves nothing behind, an accepted one opens and every reader works on it.
//! - `store`: a prepared store with one mutated file through `Store::open`; a store that opens
//!   is read by every accessor, the loader and the partitioners without a panic.

use crate::corpus::Corpus;
use crate::mutate::{Op, apply_all};
use mille_loader::{Loader, LoaderConfig, PlanSpec};
use mille_partition::{Method, MetisOptions, StreamingOptions};
use mille_pipeline::ogb::csv::read_blocks;
use mille_pipeline::ogb::{PrepareOptions, prepare_dir};
use mille_pipeline::{Labels, Store};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// Which part of mille a case feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The CSV row readers.
    Csv,
    /// `prepare_dir` on a whole folder.
    Prepare,
    /// `Store::open` and the readers of an opened store.
    Store,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 3] = [Target::Csv, Target::Prepare, Target::Store];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Csv => "csv",
            Target::Prepare => "prepare",
            Target::Store => "store",
        }
    }
}

/// Which bytes the edits apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// The text inside a gzip file (edited, then compressed again): reaches the parsers. For a
    /// store's array, edits that keep the file's size.
    Text,
    /// The file's own bytes: corrupt gzip, broken npz, binary arrays, `meta.json`.
    Raw,
}

/// One fuzz input: which file of which fixture, and the edits made to it. Saved as JSON when it
/// fails, and replayed by the regression tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Target.
    pub target: Target,
    /// Fixture folder under `fixtures/` (for `store`: the fixture the store was prepared from).
    pub fixture: String,
    /// File inside the fixture (or the store), relative.
    pub file: String,
    /// Edited layer.
    pub layer: Layer,
    /// The edits.
    pub ops: Vec<Op>,
}

/// What a case did, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Mille accepted the input (and every reader worked on the result).
    Accepted,
    /// Mille refused it with an error.
    Refused,
}

/// Runs `case`. `Err` is a failure other than a panic (a panic propagates to the caller): a
/// loader worker that panicked, or a refused prepare that left files behind.
pub fn run(case: &Case, corpus: &Corpus) -> Result<Outcome, String> {
    let tmp = tempfile::Builder::new().prefix("mille-fuzz-").tempdir().map_err(|e| e.to_string())?;
    match case.target {
        Target::Csv => csv(case, corpus, tmp.path()),
        Target::Prepare => prepare(case, corpus, tmp.path()),
        Target::Store => store(case, corpus, tmp.path()),
    }
}

/// The edited content of `path` (a gzip file's text recompressed, for [`Layer::Text`]).
fn edited(path: &Path, layer: Layer, ops: &[Op]) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap_or_default();
    let gz = path.extension().is_some_and(|e| e == "gz");
    if layer == Layer::Raw || !gz {
        let mut data = raw;
        apply_all(ops, &mut data);
        return data;
    }
    let mut text = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut text);
    apply_all(ops, &mut text);
    let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    out.write_all(&text).expect("in memory");
    out.finish().expect("in memory")
}

fn csv(case: &Case, corpus: &Corpus, tmp: &Path) -> Result<Outcome, String> {
    let path = tmp.join("x.csv.gz");
    std::fs::write(&path, edited(&corpus.fixture(&case.fixture).join(&case.file), case.layer, &case.ops))
        .map_err(|e| e.to_string())?;
    let mut accepted = true;
    for mode in 0..4 {
        let res = read_blocks(&path, 1 << 16, |rows| {
            let mut out = Vec::new();
            while let Some(mut r) = rows.next_row() {
                let cols = r.count_fields();
                match mode {
                    0 => drop(r.uint_pair()?),
                    1 => {
                        if !r.short_decimals(cols, &mut out) {
                            for _ in 0..cols {
                                r.float()?;
                            }
                            r.end(cols)?;
                        }
                    }
                    2 => {
                        r.label()?;
                        r.end(1)?;
                    }
                    _ => {
                        for _ in 0..cols {
                            r.int()?;
                        }
                        r.end(cols)?;
                    }
                }
                out.clear();
            }
            Ok(())
        });
        accepted &= res.is_ok();
    }
    Ok(if accepted { Outcome::Accepted } else { Outcome::Refused })
}

fn prepare(case: &Case, corpus: &Corpus, tmp: &Path) -> Result<Outcome, String> {
    let src = tmp.join("src");
    corpus.copy_fixture(&case.fixture, &src).map_err(|e| e.to_string())?;
    let file = src.join(&case.file);
    std::fs::write(&file, edited(&file, case.layer, &case.ops)).map_err(|e| e.to_string())?;
    let out = tmp.join("out");
    std::fs::create_dir(&out).map_err(|e| e.to_string())?;
    let opts = PrepareOptions {
        durable: false,
        max_line_bytes: 1 << 20,
        ..PrepareOptions::new("f", corpus.inverse(&case.fixture))
    };
    match prepare_dir(&src, &out.join("store"), &opts) {
        Ok(r) => {
            let s = Store::open(&r.path).map_err(|e| format!("a prepared store does not open: {e}"))?;
            exercise(s)?;
            Ok(Outcome::Accepted)
        }
        Err(_) => {
            let left: Vec<_> =
                std::fs::read_dir(&out).map_err(|e| e.to_string())?.flatten().map(|e| e.file_name()).collect();
            if left.is_empty() { Ok(Outcome::Refused) } else { Err(format!("a refused prepare left {left:?}")) }
        }
    }
}

fn store(case: &Case, corpus: &Corpus, tmp: &Path) -> Result<Outcome, String> {
    let path = tmp.join("s");
    corpus.copy_store(&case.fixture, &path).map_err(|e| e.to_string())?;
    let file = path.join(&case.file);
    let mut bytes = edited(&file, case.layer, &case.ops);
    if case.file.ends_with(".bin") && case.layer == Layer::Text {
        // Text edits of an array keep its size, so that they reach the checks past the size
        // check (a shifted run of ids, a repeated offset); raw edits may change it.
        let len = std::fs::metadata(&file).map_err(|e| e.to_string())?.len() as usize;
        bytes.resize(len, 0);
    }
    std::fs::write(&file, bytes).map_err(|e| e.to_string())?;
    match Store::open(&path) {
        Ok(s) => {
            exercise(s)?;
            Ok(Outcome::Accepted)
        }
        Err(_) => Ok(Outcome::Refused),
    }
}

/// What an opened store promises its readers: sorted rows, a class count within the bound
/// unless asked for, node arrays of one row per node. A store that opens and breaks one is a
/// failure, even if no reader panics.
fn promises(s: &Store) -> Result<(), String> {
    if let Some(v) = (0..s.num_nodes()).find(|&v| s.neighbors(v).windows(2).any(|w| w[0] > w[1])) {
        return Err(format!("an opened store has row {v} unsorted: {:?}", s.neighbors(v)));
    }
    let m = s.meta();
    if m.num_classes.is_some_and(|c| c > mille_pipeline::store::MAX_CLASSES) && !m.many_classes {
        return Err(format!("an opened store has {:?} classes without many_classes", m.num_classes));
    }
    for name in s.node_array_names() {
        if let Ok(a) = s.node_array(name)
            && a.rows != s.num_nodes()
        {
            return Err(format!("an opened store's node array {name} has {} rows for {} nodes", a.rows, s.num_nodes()));
        }
    }
    Ok(())
}

/// Every reader of an opened store. Errors are fine (a checksum that no longer matches); a
/// panic, or a loader worker's, is not.
fn exercise(s: Store) -> Result<(), String> {
    let n = s.num_nodes();
    promises(&s)?;
    let mut sum = 0u64;
    for v in 0..n {
        sum += s.neighbors(v).iter().map(|&u| u as u64).sum::<u64>() + s.degree(v) as u64;
    }
    if let Some(ids) = s.edge_ids() {
        sum += (0..ids.len()).map(|i| ids.get(i)).fold(0, u64::wrapping_add);
    }
    if let Some(f) = s.features() {
        sum += (0..f.rows).map(|i| f.row(i).len() as u64).sum::<u64>();
    }
    if let Some(f) = s.edge_features() {
        sum += (0..f.rows).map(|i| f.row(i).len() as u64).sum::<u64>();
    }
    match s.labels() {
        Some(Labels::MultiClass(y)) => sum += y.len() as u64,
        Some(Labels::MultiLabel(m)) => sum += (0..m.rows).map(|i| m.row(i).len() as u64).sum::<u64>(),
        None => {}
    }
    for name in s.split_names().to_vec() {
        let _ = s.split(&name);
    }
    for name in s.node_array_names() {
        if let Ok(m) = s.node_array(name) {
            sum += (0..m.rows).map(|i| m.row(i).len() as u64).sum::<u64>();
        }
    }
    std::hint::black_box(sum);
    let _ = s.verify();
    let s = Arc::new(s);
    for plan in [PlanSpec::RandomParts { parts: 3.min(n as u32) }, PlanSpec::Full] {
        let cfg = LoaderConfig { plan, workers: 2, self_loops: true, edge_features: true, ..LoaderConfig::default() };
        if let Ok(l) = Loader::new(s.clone(), cfg) {
            for b in l.epoch(0) {
                if let Err(e @ mille_loader::Error::WorkerPanic { .. }) = b {
                    return Err(e.to_string());
                }
            }
        }
    }
    for m in [
        Method::Random { uniform: false },
        Method::Metis(MetisOptions::default()),
        Method::Fennel(StreamingOptions::default()),
    ] {
        let _ = mille_partition::compute(&s, &m, 2.min(n as u32), 0);
    }
    Ok(())
}
