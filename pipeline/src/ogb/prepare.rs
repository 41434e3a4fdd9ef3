//! An extracted OGB node-property dataset (CSV or binary `.npz` layout) into a store.
//!
//! Memory stays at the size of the output arrays plus a few blocks: edges are parsed into
//! scratch files beside the store (4 bytes per endpoint) while degrees are counted, then
//! scattered into the memory-mapped CSR; features and labels stream straight into their files.
//! Edges and node features are parsed at the same time, each with its own decompression thread.

use super::catalog::DatasetInfo;
use super::csr::CsrBuilder;
use super::csv::{DEFAULT_MAX_LINE, Rows, find_csv, quoted, read_blocks, read_blocks_with_progress};
use super::npz::Npz;
use crate::error::{Error, IoContext, Result};
use crate::progress::{Reporter, Task};
use crate::store::{LabelKind, Meta, MmapArray, PositionalArray, StoreWriter, StreamArray};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
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
        }
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
        add_inverse_edge: opts.add_inverse_edge,
        label_kind: None,
        num_classes: None,
        num_tasks: None,
        metric: opts.info.map(|i| i.metric.to_string()),
        splits: Vec::new(),
        arrays: BTreeMap::new(),
    };
    let input_bytes = if raw.join("data.npz").is_file() {
        prepare_npz(&root, &mut w, &mut meta, opts, mp)?
    } else {
        prepare_csv(&root, &mut w, &mut meta, opts, mp)?
    };
    meta.splits = read_splits(&root, &mut w, meta.num_nodes, opts.max_line_bytes)?;
    if meta.metric.is_none() {
        meta.metric = match meta.label_kind {
            Some(LabelKind::MultiClass) => Some("acc".into()),
            Some(LabelKind::MultiLabel) => Some("rocauc".into()),
            None => None,
        };
    }
    let (nodes, edges) = (meta.num_nodes, meta.num_edges);
    tracing::info!("splits read at {:.2} s", t0.elapsed().as_secs_f64());
    let path = w.finish(meta)?;
    tracing::info!("checksummed and renamed at {:.2} s", t0.elapsed().as_secs_f64());
    Ok(PrepareReport { path, seconds: t0.elapsed().as_secs_f64(), input_bytes, nodes, edges })
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

fn bar(mp: &Reporter, len: u64, what: &str) -> Task {
    mp.task(what, len, true)
}

fn file_len(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn required_csv(raw: &Path, stem: &str) -> Result<PathBuf> {
    find_csv(raw, stem)
        .ok_or_else(|| Error::input(raw.join(format!("{stem}.csv.gz")), "missing (required by OGB's layout)"))
}

/// Reads a one-row, one-column count file (`num-node-list`, `num-edge-list`).
fn read_count(path: &Path, max_line: usize) -> Result<u64> {
    let mut vals = Vec::new();
    read_blocks(path, max_line, |rows| {
        while let Some(mut r) = rows.next_row() {
            let v = r.uint()?;
            r.end(1)?;
            vals.push((v, r.line()));
        }
        Ok(())
    })?;
    match vals.as_slice() {
        [(v, _)] => Ok(*v),
        [] => Err(Error::input(path, "is empty: expected one count")),
        [_, (_, line), ..] => Err(Error::parse(
            path,
            *line,
            "expected a single graph (one row); mille reads node-property datasets of one graph",
        )),
    }
}

/// A graph without nodes or edges is refused here rather than stored: every reader downstream
/// (METIS, the loader, a GNN's aggregation) assumes both, and a store without edges would only
/// ever train an MLP.
fn check_counts(n: u64, e_in: u64, nodes: &Path, edges: &Path) -> Result<()> {
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

/// Columns on the first line of a CSV file (at most `max_line` bytes of it are read).
fn peek_cols(path: &Path, max_line: usize) -> Result<usize> {
    let f = File::open(path).at(path)?;
    let r: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(f)))
    } else {
        Box::new(f)
    };
    let mut buf = Vec::new();
    BufReader::new(r.take(max_line as u64 + 1))
        .read_until(b'\n', &mut buf)
        .map_err(|e| Error::parse(path, 1, format!("gzip data is truncated or corrupt: {e}")))?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > max_line {
        return Err(Error::parse(path, 1, format!("line is longer than {max_line} bytes")));
    }
    if buf.is_empty() {
        return Err(Error::input(path, "is empty"));
    }
    Ok(1 + buf.iter().filter(|&&b| b == b',').count())
}

fn parse_edges_csv(path: &Path, n: u64, sink: &mut CsrBuilder, pb: &Task, max_line: usize) -> Result<u64> {
    let (mut s, mut d) = (Vec::with_capacity(1 << 18), Vec::with_capacity(1 << 18));
    let total = read_blocks_with_progress(path, max_line, pb, |rows: &mut Rows<'_>| {
        s.clear();
        d.clear();
        while let Some(mut r) = rows.next_row() {
            let (u, v) = r.uint_pair()?;
            if u >= n || v >= n {
                let bad = if u >= n { u } else { v };
                return Err(
                    r.error(format!("node id {bad} out of range: num-node-list says {n} nodes (ids 0..{})", n - 1))
                );
            }
            s.push(u as u32);
            d.push(v as u32);
        }
        sink.push(&s, &d)
    })?;
    pb.finish();
    Ok(total)
}

/// The CSR arrays of the store, reserved before parsing (their sizes follow from the counts
/// files) so that the edge thread can fill them on its own.
struct CsrArrays {
    tmp: PathBuf,
    entries: u64,
    indptr: MmapArray<u64>,
    indices: PositionalArray<u32>,
    ids: PositionalArray<u32>,
}

impl CsrArrays {
    fn reserve(w: &mut StoreWriter, n: u64, e_in: u64, inverse: bool) -> Result<Self> {
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
            indptr: w.mmap_array("indptr", n + 1, None)?,
            indices: w.positional_array("indices", entries, None)?,
            ids: w.positional_array("edge_ids", entries, None)?,
        })
    }
    fn build(&mut self, sink: CsrBuilder) -> Result<()> {
        sink.build(self.indptr.as_mut_slice(), &self.indices, &self.ids)
    }
}

/// Parses `rows x cols` finite floats from a CSV into `out`; returns (rows, bytes).
fn parse_floats_csv(
    path: &Path,
    cols: usize,
    out: &mut impl FnMut(&[f32]) -> Result<()>,
    pb: &Task,
    max_line: usize,
) -> Result<(u64, u64)> {
    let mut buf: Vec<f32> = Vec::with_capacity(1 << 20);
    let mut rows_read = 0u64;
    let bytes = read_blocks_with_progress(path, max_line, pb, |rows| {
        buf.clear();
        while let Some(mut r) = rows.next_row() {
            if r.short_decimals(cols, &mut buf) {
                rows_read += 1;
                continue;
            }
            for _ in 0..cols {
                let x = r.float()?;
                if !x.is_finite() {
                    return Err(r.error(format!("expected a finite number, found {x} in a feature row")));
                }
                buf.push(x);
            }
            r.end(cols)?;
            rows_read += 1;
        }
        out(&buf)
    })?;
    pb.finish();
    Ok((rows_read, bytes))
}

fn prepare_csv(root: &Path, w: &mut StoreWriter, meta: &mut Meta, opts: &PrepareOptions, mp: &Reporter) -> Result<u64> {
    let t0 = Instant::now();
    let raw = root.join("raw");
    let nodes_path = required_csv(&raw, "num-node-list")?;
    let edges_count_path = required_csv(&raw, "num-edge-list")?;
    let edge_path = required_csv(&raw, "edge")?;
    let n = read_count(&nodes_path, opts.max_line_bytes)?;
    let e_in = read_count(&edges_count_path, opts.max_line_bytes)?;
    check_counts(n, e_in, &nodes_path, &edges_count_path)?;
    if n >= u32::MAX as u64 {
        return Err(Error::input(
            &nodes_path,
            format!("{n} nodes: mille stores node ids as u32 (at most {})", u32::MAX - 1),
        ));
    }
    meta.num_nodes = n;
    meta.num_input_edges = e_in;

    let feat_path = find_csv(&raw, "node-feat");
    let mut feat_out = match &feat_path {
        Some(p) => {
            let cols = peek_cols(p, opts.max_line_bytes)?;
            Some((p.clone(), cols, w.stream_array::<f32>("node_feat", Some(cols as u64))?))
        }
        None => None,
    };
    let mut csr = CsrArrays::reserve(w, n, e_in, opts.add_inverse_edge)?;
    meta.num_edges = csr.entries;
    let edge_bar = bar(mp, file_len(&edge_path), "edges");
    let feat_bar = feat_path.as_ref().map(|p| bar(mp, file_len(p), "node features"));

    let (edge_res, feat_res, rest) = std::thread::scope(|s| {
        // The edge thread also builds the CSR, while node features are still being parsed.
        let edges = s.spawn(|| -> Result<u64> {
            let mut sink = CsrBuilder::new(&csr.tmp, n, opts.add_inverse_edge, opts.scratch_budget());
            let bytes = parse_edges_csv(&edge_path, n, &mut sink, &edge_bar, opts.max_line_bytes)?;
            if sink.count() != e_in {
                return Err(Error::input(
                    &edge_path,
                    format!("has {} rows, but num-edge-list says {e_in} edges", sink.count()),
                ));
            }
            tracing::info!("edges parsed at {:.2} s", t0.elapsed().as_secs_f64());
            csr.build(sink)?;
            tracing::info!("edges parsed and CSR built at {:.2} s", t0.elapsed().as_secs_f64());
            Ok(bytes)
        });
        let feats = s.spawn(|| -> Result<u64> {
            let Some((path, cols, out)) = feat_out.as_mut() else {
                return Ok(0);
            };
            let pb = feat_bar.clone().unwrap();
            let (rows, bytes) = parse_floats_csv(path, *cols, &mut |x| out.push(x), &pb, opts.max_line_bytes)?;
            if rows != n {
                return Err(Error::input(path, format!("has {rows} rows, but num-node-list says {n} nodes")));
            }
            tracing::info!("node features parsed at {:.2} s", t0.elapsed().as_secs_f64());
            Ok(bytes)
        });
        // Labels and extra node files are small: read them here while the big files parse.
        let rest = read_labels_and_extras(root, w, meta, n, opts);
        (
            edges.join().unwrap_or_else(|_| Err(Error::Invalid("edge parser panicked".into()))),
            feats.join().unwrap_or_else(|_| Err(Error::Invalid("feature parser panicked".into()))),
            rest,
        )
    });
    let edge_bytes = edge_res?;
    let feat_bytes = feat_res?;
    let rest_bytes = rest?;
    if let Some((_, _, out)) = feat_out {
        out.finish()?;
    }
    let mut total = edge_bytes + feat_bytes + rest_bytes;
    if let Some(p) = find_csv(&raw, "edge-feat") {
        let file = File::open(csr.ids.path()).at(csr.ids.path())?;
        // SAFETY: our own finished scratch of this store, read-only from here on.
        let map = if csr.entries == 0 { None } else { Some(unsafe { memmap2::Mmap::map(&file) }.at(csr.ids.path())?) };
        let ids: &[u32] = map.as_deref().map(bytemuck::cast_slice).unwrap_or(&[]);
        total += edge_features_csv(&p, w, e_in, ids, opts, mp)?;
    }
    Ok(total)
}

/// Labels (`node-label`) and extra node files (`node_<x>`), CSV layout.
fn read_labels_and_extras(
    root: &Path,
    w: &mut StoreWriter,
    meta: &mut Meta,
    n: u64,
    opts: &PrepareOptions,
) -> Result<u64> {
    let raw = root.join("raw");
    let mut bytes = 0;
    if let Some(p) = find_csv(&raw, "node-label") {
        let cols = peek_cols(&p, opts.max_line_bytes)?;
        let mut labels = LabelSink::new(w, cols, opts.classes())?;
        let mut rows_read = 0u64;
        bytes += read_blocks(&p, opts.max_line_bytes, |rows| {
            while let Some(mut r) = rows.next_row() {
                for _ in 0..cols {
                    let text = r.peek_field();
                    let v = r.label()?;
                    labels.push(v, &quoted(text)).map_err(|m| r.error(m))?;
                }
                r.end(cols)?;
                rows_read += 1;
            }
            labels.flush()
        })?;
        if rows_read != n {
            return Err(Error::input(&p, format!("has {rows_read} rows, but num-node-list says {n} nodes")));
        }
        labels.finish(meta)?;
    }
    let mut extras: Vec<(String, PathBuf)> = fs::read_dir(&raw)
        .at(&raw)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".csv.gz").or_else(|| name.strip_suffix(".csv"))?;
            let x = stem.strip_prefix("node_")?;
            Some((x.to_string(), e.path()))
        })
        .collect();
    extras.sort();
    for (x, p) in extras {
        let cols = peek_cols(&p, opts.max_line_bytes)?;
        let mut out = w.stream_array::<i64>(&format!("node/{x}"), Some(cols as u64))?;
        let mut rows_read = 0u64;
        let mut buf = Vec::new();
        bytes += read_blocks(&p, opts.max_line_bytes, |rows| {
            buf.clear();
            while let Some(mut r) = rows.next_row() {
                for _ in 0..cols {
                    buf.push(r.int()?);
                }
                r.end(cols)?;
                rows_read += 1;
            }
            out.push(&buf)
        })?;
        out.finish()?;
        if rows_read != n {
            return Err(Error::input(&p, format!("has {rows_read} rows, but num-node-list says {n} nodes")));
        }
    }
    Ok(bytes)
}

/// Classes a dataset may have when neither the catalog nor `--num-classes` says: a label past
/// it is far more likely a broken file than a real class (and would size the model's head).
pub const MAX_CLASSES: u64 = 1 << 16;

/// Labels in either layout: a class per node (NaN = unlabelled) or 0/1 per task (NaN = missing).
enum LabelSink {
    Class { out: StreamArray<i32>, buf: Vec<i32>, max: i64, classes: Option<u64> },
    Tasks { out: StreamArray<i8>, buf: Vec<i8>, tasks: usize },
}

impl LabelSink {
    /// `classes`: the dataset's class count when known in advance (catalog or option).
    fn new(w: &mut StoreWriter, cols: usize, classes: Option<u64>) -> Result<Self> {
        Ok(if cols == 1 {
            LabelSink::Class { out: w.stream_array("labels", None)?, buf: Vec::new(), max: -1, classes }
        } else {
            LabelSink::Tasks { out: w.stream_array("labels", Some(cols as u64))?, buf: Vec::new(), tasks: cols }
        })
    }

    /// One label (`None`: unlabelled or missing); `shown` is how the input wrote it.
    #[inline]
    fn push(&mut self, v: Option<u64>, shown: &dyn std::fmt::Display) -> std::result::Result<(), String> {
        match self {
            LabelSink::Class { buf, max, classes, .. } => match v {
                None => buf.push(-1),
                Some(c) => {
                    match *classes {
                        Some(k) if c >= k => {
                            return Err(format!(
                                "label {shown} is outside the dataset's {k} classes (expected 0..={})",
                                k.saturating_sub(1)
                            ));
                        }
                        None if c >= MAX_CLASSES => {
                            return Err(format!(
                                "label {shown} is beyond {MAX_CLASSES} classes; if the dataset has that many, \
                                 say so with --num-classes"
                            ));
                        }
                        _ => {}
                    }
                    buf.push(c as i32);
                    *max = (*max).max(c as i64);
                }
            },
            LabelSink::Tasks { buf, .. } => buf.push(match v {
                None => -1,
                Some(b @ (0 | 1)) => b as i8,
                Some(_) => return Err(format!("expected a binary task label (0, 1 or nan), found {shown}")),
            }),
        }
        Ok(())
    }

    /// A label stored as a float (the npz layout): NaN, or an integer value.
    fn push_float(&mut self, x: f64) -> std::result::Result<(), String> {
        if x.is_nan() {
            return self.push(None, &x);
        }
        if !(x >= 0.0 && x.fract() == 0.0 && x < 1e18) {
            return Err(format!("expected a label (a non-negative integer, or nan for none), found {x}"));
        }
        self.push(Some(x as u64), &x)
    }

    fn flush(&mut self) -> Result<()> {
        match self {
            LabelSink::Class { out, buf, .. } => {
                out.push(buf)?;
                buf.clear();
            }
            LabelSink::Tasks { out, buf, .. } => {
                out.push(buf)?;
                buf.clear();
            }
        }
        Ok(())
    }

    fn finish(mut self, meta: &mut Meta) -> Result<()> {
        self.flush()?;
        match self {
            LabelSink::Class { out, max, classes, .. } => {
                out.finish()?;
                meta.label_kind = Some(LabelKind::MultiClass);
                meta.num_classes = Some(classes.unwrap_or((max + 1) as u64));
                meta.num_tasks = Some(1);
            }
            LabelSink::Tasks { out, tasks, .. } => {
                out.finish()?;
                meta.label_kind = Some(LabelKind::MultiLabel);
                meta.num_classes = Some(2);
                meta.num_tasks = Some(tasks as u64);
            }
        }
        Ok(())
    }
}

/// Edge features: parsed into a scratch file in input order, then written in CSR order.
fn edge_features_csv(
    path: &Path,
    w: &mut StoreWriter,
    e_in: u64,
    ids: &[u32],
    opts: &PrepareOptions,
    mp: &Reporter,
) -> Result<u64> {
    let inverse = opts.add_inverse_edge;
    let cols = peek_cols(path, opts.max_line_bytes)?;
    let scratch = w.tmp_dir().join("scratch.edge_feat");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&scratch).at(&scratch)?);
    let pb = bar(mp, file_len(path), "edge features");
    let (rows, bytes) = parse_floats_csv(
        path,
        cols,
        &mut |x| out.write_all(bytemuck::cast_slice(x)).at(&scratch),
        &pb,
        opts.max_line_bytes,
    )?;
    out.flush().at(&scratch)?;
    drop(out);
    if rows != e_in {
        return Err(Error::input(path, format!("has {rows} rows, but num-edge-list says {e_in} edges")));
    }
    let file = File::open(&scratch).at(&scratch)?;
    // SAFETY: a scratch file of this process, in its private temporary folder.
    let map = if rows == 0 || cols == 0 { None } else { Some(unsafe { memmap2::Mmap::map(&file) }.at(&scratch)?) };
    let raw: &[f32] = map.as_deref().map(bytemuck::cast_slice).unwrap_or(&[]);
    let mut feat = w.stream_array::<f32>("edge_feat", Some(cols as u64))?;
    let shift = inverse as u32;
    let mut buf = Vec::with_capacity(cols << 14);
    let mut gather = |eid: u64| -> Result<()> {
        let r = (eid >> shift) as usize;
        buf.extend_from_slice(&raw[r * cols..(r + 1) * cols]);
        if buf.len() >= cols << 14 {
            feat.push(&buf)?;
            buf.clear();
        }
        Ok(())
    };
    ids.iter().try_for_each(|&i| gather(i as u64))?;
    feat.push(&buf)?;
    feat.finish()?;
    let _ = fs::remove_file(&scratch);
    Ok(bytes)
}

/// Binary layout: `raw/data.npz` (edge_index, node_feat, num_nodes_list, num_edges_list, extra
/// node arrays) and `raw/node-label.npz`.
fn prepare_npz(root: &Path, w: &mut StoreWriter, meta: &mut Meta, opts: &PrepareOptions, mp: &Reporter) -> Result<u64> {
    let raw = root.join("raw");
    let data = raw.join("data.npz");
    let mut z = Npz::open(&data)?;
    let n = one_count(&mut z, "num_nodes_list", &data)?;
    let e_in = one_count(&mut z, "num_edges_list", &data)?;
    check_counts(n, e_in, &data, &data)?;
    if n >= u32::MAX as u64 {
        return Err(Error::input(&data, format!("{n} nodes: mille stores node ids as u32")));
    }
    meta.num_nodes = n;
    meta.num_input_edges = e_in;
    let mut bytes = 0u64;

    // Edges and node features in parallel, each from its own handle on the archive.
    let mut csr = CsrArrays::reserve(w, n, e_in, opts.add_inverse_edge)?;
    meta.num_edges = csr.entries;
    let mut feat_out = None;
    {
        let mut zf = Npz::open(&data)?;
        if zf.has("node_feat") {
            let a = zf.array("node_feat")?;
            if a.shape.len() != 2 || a.shape[0] != n {
                return Err(Error::input(a.name(), format!("expected shape ({n}, D), found {:?}", a.shape)));
            }
            feat_out = Some((a.shape[1], w.stream_array::<f32>("node_feat", Some(a.shape[1]))?));
        }
    }
    let edge_bar = bar(mp, e_in * 16, "edges");
    let (er, fr) = std::thread::scope(|s| {
        let edges = s.spawn(|| -> Result<u64> {
            let mut a = z.array("edge_index")?;
            if a.shape != [2, e_in] {
                return Err(Error::input(
                    a.name(),
                    format!("expected shape (2, {e_in}) from num_edges_list, found {:?}", a.shape),
                ));
            }
            let name = a.name().to_string();
            let mut src: Vec<u32> = Vec::with_capacity(1 << 18);
            let mut pos = 0u64;
            // Sources come first (row 0), then destinations (row 1); sources wait in memory
            // only a chunk at a time: they go to the scratch file with their destinations.
            let mut sink = CsrBuilder::new(&csr.tmp, n, opts.add_inverse_edge, opts.scratch_budget());
            let src_path = csr.tmp.join("scratch.npz-src");
            let mut src_file = BufWriter::new(File::create(&src_path).at(&src_path)?);
            let mut dst_vals: Vec<u32> = Vec::new();
            let mut src_reader: Option<BufReader<File>> = None;
            a.for_each_chunk(1 << 18, |vals| {
                for &x in vals {
                    let row = (pos >= e_in) as u8;
                    if !(x >= 0.0 && x < n as f64 && x.fract() == 0.0) {
                        let col = pos - row as u64 * e_in;
                        return Err(Error::parse(
                            &name,
                            col + 1,
                            format!("edge_index[{row}, {col}] = {x}: expected a node id below {n}"),
                        ));
                    }
                    if row == 0 {
                        src.push(x as u32);
                    } else {
                        dst_vals.push(x as u32);
                    }
                    pos += 1;
                }
                if !src.is_empty() {
                    src_file.write_all(bytemuck::cast_slice(&src)).at(&src_path)?;
                    src.clear();
                }
                if !dst_vals.is_empty() {
                    let r = match &mut src_reader {
                        Some(r) => r,
                        None => {
                            src_file.flush().at(&src_path)?;
                            src_reader.insert(BufReader::new(File::open(&src_path).at(&src_path)?))
                        }
                    };
                    let mut s_chunk = vec![0u32; dst_vals.len()];
                    r.read_exact(bytemuck::cast_slice_mut(&mut s_chunk)).at(&src_path)?;
                    sink.push(&s_chunk, &dst_vals)?;
                    dst_vals.clear();
                }
                edge_bar.set_position(pos * 8);
                Ok(())
            })?;
            edge_bar.finish();
            let _ = fs::remove_file(&src_path);
            if sink.count() != e_in {
                return Err(Error::input(&name, format!("has {} edges, num_edges_list says {e_in}", sink.count())));
            }
            csr.build(sink)?;
            Ok(e_in * 16)
        });
        let feats = s.spawn(|| -> Result<u64> {
            let Some((cols, out)) = feat_out.as_mut() else {
                return Ok(0);
            };
            let mut zf = Npz::open(&data)?;
            let mut a = zf.array("node_feat")?;
            let name = a.name().to_string();
            let mut buf = Vec::with_capacity(1 << 18);
            let mut k = 0u64;
            a.for_each_chunk(1 << 18, |vals| {
                buf.clear();
                for &x in vals {
                    if !x.is_finite() {
                        return Err(Error::parse(
                            &name,
                            k / *cols + 1,
                            format!("node_feat[{}, {}] = {x}: expected a finite number", k / *cols, k % *cols),
                        ));
                    }
                    buf.push(x as f32);
                    k += 1;
                }
                out.push(&buf)
            })?;
            Ok(k * 4)
        });
        (
            edges.join().unwrap_or_else(|_| Err(Error::Invalid("edge reader panicked".into()))),
            feats.join().unwrap_or_else(|_| Err(Error::Invalid("feature reader panicked".into()))),
        )
    });
    bytes += er? + fr?;
    if let Some((_, out)) = feat_out {
        out.finish()?;
    }
    // Extra node arrays: every other array of N rows (e.g. node_year).
    let mut zx = Npz::open(&data)?;
    let names: Vec<String> = zip_names(&data)?;
    for entry in names {
        let Some(name) = entry.strip_suffix(".npy") else {
            continue;
        };
        if ["edge_index", "node_feat", "num_nodes_list", "num_edges_list", "edge_feat"].contains(&name) {
            continue;
        }
        let mut a = zx.array(name)?;
        if a.shape.first() != Some(&n) {
            continue;
        }
        let cols = a.shape.get(1).copied().unwrap_or(1);
        let label = name.strip_prefix("node_").unwrap_or(name);
        let mut out = w.stream_array::<i64>(&format!("node/{label}"), Some(cols))?;
        let mut buf = Vec::new();
        a.for_each_chunk(1 << 16, |vals| {
            buf.clear();
            buf.extend(vals.iter().map(|&v| v as i64));
            out.push(&buf)
        })?;
        out.finish()?;
    }
    // Labels.
    let label_path = raw.join("node-label.npz");
    if label_path.is_file() {
        let mut zl = Npz::open(&label_path)?;
        let mut a = zl.array("node_label")?;
        if a.shape.first() != Some(&n) {
            return Err(Error::input(a.name(), format!("expected {n} rows, found shape {:?}", a.shape)));
        }
        let cols = a.shape.get(1).copied().unwrap_or(1) as usize;
        let name = a.name().to_string();
        let mut labels = LabelSink::new(w, cols, opts.classes())?;
        let mut k = 0u64;
        a.for_each_chunk(1 << 16, |vals| {
            for &x in vals {
                labels.push_float(x).map_err(|m| Error::parse(&name, k / cols as u64 + 1, m))?;
                k += 1;
            }
            labels.flush()
        })?;
        bytes += k * 4;
        labels.finish(meta)?;
    }
    Ok(bytes)
}

fn zip_names(path: &Path) -> Result<Vec<String>> {
    let f = File::open(path).at(path)?;
    let z = zip::ZipArchive::new(BufReader::new(f)).map_err(|e| Error::input(path, e.to_string()))?;
    Ok(z.file_names().map(String::from).collect())
}

fn one_count(z: &mut Npz, name: &str, path: &Path) -> Result<u64> {
    match z.small_ints(name)?.as_slice() {
        [v] if *v >= 0 => Ok(*v as u64),
        other => {
            Err(Error::input(path, format!("{name}: expected one non-negative count (one graph), found {other:?}")))
        }
    }
}

/// Every `split/<name>/{train,valid,test}` file: node ids in range, no duplicates.
fn read_splits(root: &Path, w: &mut StoreWriter, n: u64, max_line: usize) -> Result<Vec<String>> {
    let dir = root.join("split");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = fs::read_dir(&dir)
        .at(&dir)?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        for part in ["train", "valid", "test"] {
            let folder = dir.join(name);
            let path = find_csv(&folder, part).ok_or_else(|| {
                Error::input(
                    folder.join(format!("{part}.csv.gz")),
                    format!("missing: split {name:?} needs train, valid and test files"),
                )
            })?;
            let mut seen = vec![0u64; (n as usize).div_ceil(64)];
            let mut ids = Vec::new();
            read_blocks(&path, max_line, |rows| {
                while let Some(mut r) = rows.next_row() {
                    let v = r.uint()?;
                    r.end(1)?;
                    if v >= n {
                        return Err(r.error(format!("node id {v} out of range: the graph has {n} nodes")));
                    }
                    let (word, bit) = ((v / 64) as usize, v % 64);
                    if seen[word] >> bit & 1 == 1 {
                        return Err(r.error(format!("node id {v} appears twice in this split file")));
                    }
                    seen[word] |= 1 << bit;
                    ids.push(v as u32);
                }
                Ok(())
            })?;
            w.put(&format!("split/{name}/{part}"), &ids, None)?;
        }
    }
    Ok(names)
}
