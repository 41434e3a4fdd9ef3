//! The CSV layout (`raw/*.csv.gz`): counts, then edges and node features parsed at once, each
//! with its own inflating thread, while labels and extra node files are read beside them; edge
//! features last, in CSR order.

use super::labels::LabelSink;
use super::{CsrArrays, PrepareOptions, bar, check_counts, file_len};
use crate::error::{Error, IoContext, Result};
use crate::ogb::csr::CsrBuilder;
use crate::ogb::csv::{Rows, find_csv, quoted, read_blocks, read_blocks_with_progress};
use crate::progress::{Reporter, Task};
use crate::store::{Meta, StoreWriter};
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub(super) fn required_csv(raw: &Path, stem: &str) -> Result<PathBuf> {
    find_csv(raw, stem)
        .ok_or_else(|| Error::input(raw.join(format!("{stem}.csv.gz")), "missing (required by OGB's layout)"))
}

/// Reads a one-row, one-column count file (`num-node-list`, `num-edge-list`).
pub(super) fn read_count(path: &Path, max_line: usize) -> Result<u64> {
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

/// Columns on the first line of a CSV file (at most `max_line` bytes of it are read).
pub(super) fn peek_cols(path: &Path, max_line: usize) -> Result<usize> {
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

pub(super) fn parse_edges_csv(path: &Path, n: u64, sink: &mut CsrBuilder, pb: &Task, max_line: usize) -> Result<u64> {
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

/// Parses `rows x cols` finite floats from a CSV into `out`; returns (rows, bytes).
pub(super) fn parse_floats_csv(
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

/// CSV layout: the counts, then edges (building the CSR) and node features on two threads while
/// labels and extra node files are read here; edge features last, in CSR order.
pub(super) fn prepare_csv(
    root: &Path,
    w: &mut StoreWriter,
    meta: &mut Meta,
    opts: &PrepareOptions,
    mp: &Reporter,
) -> Result<u64> {
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
    let mut csr = CsrArrays::reserve(w, n, e_in, opts)?;
    meta.num_edges = csr.entries;
    let edge_bar = bar(mp, file_len(&edge_path), "edges");
    let feat_bar = feat_path.as_ref().map(|p| bar(mp, file_len(p), "node features"));

    // Set when the node features or labels fail (a row count that is not num-node-list's, say):
    // the CSR build stops instead of writing an `indptr` for as many nodes as the count claims
    // (a fuzzed num-node-list of 3,550,000,000 with 35 feature rows wrote 28 GB before).
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let failed = |r: &Result<u64>| {
        if r.is_err() {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let (edge_res, feat_res, rest) = std::thread::scope(|s| {
        // The edge thread also builds the CSR, while node features are still being parsed.
        let edges = s.spawn(|| -> Result<u64> {
            let mut sink = CsrBuilder::new(&csr.tmp, n, opts.inverse(), opts.scratch_budget());
            let bytes = parse_edges_csv(&edge_path, n, &mut sink, &edge_bar, opts.max_line_bytes)?;
            if sink.count() != e_in {
                return Err(Error::input(
                    &edge_path,
                    format!("has {} rows, but num-edge-list says {e_in} edges", sink.count()),
                ));
            }
            tracing::info!("edges parsed at {:.2} s", t0.elapsed().as_secs_f64());
            csr.build_unless(sink, &cancel)?;
            tracing::info!("edges parsed and CSR built at {:.2} s", t0.elapsed().as_secs_f64());
            Ok(bytes)
        });
        let feats = s.spawn(|| -> Result<u64> {
            let r = (|| {
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
            })();
            failed(&r);
            r
        });
        // Labels and extra node files are small: read them here while the big files parse.
        let rest = read_labels_and_extras(root, w, meta, n, opts);
        failed(&rest);
        (
            edges.join().unwrap_or_else(|_| Err(Error::Invalid("edge parser panicked".into()))),
            feats.join().unwrap_or_else(|_| Err(Error::Invalid("feature parser panicked".into()))),
            rest,
        )
    });
    // A cancelled build is the other inputs' failure: report theirs.
    if matches!(edge_res, Err(Error::Cancelled)) {
        return Err(feat_res.err().or(rest.err()).unwrap_or(Error::Cancelled));
    }
    let edge_bytes = edge_res?;
    meta.num_edges = csr.entries;
    let feat_bytes = feat_res?;
    let rest_bytes = rest?;
    if let Some((_, _, out)) = feat_out {
        out.finish()?;
    }
    let mut total = edge_bytes + feat_bytes + rest_bytes;
    if let Some(p) = find_csv(&raw, "edge-feat") {
        let (ids_file, indices_file) =
            (File::open(csr.ids.path()).at(csr.ids.path())?, File::open(csr.indices.path()).at(csr.indices.path())?);
        // SAFETY: our own finished arrays of this store, read-only from here on.
        let ids_map = unsafe { crate::mapped::map_unless_empty(&ids_file, csr.ids.path()) }?;
        // SAFETY: as above.
        let indices_map = unsafe { crate::mapped::map_unless_empty(&indices_file, csr.indices.path()) }?;
        let ids: &[u32] = ids_map.as_deref().map(bytemuck::cast_slice).unwrap_or(&[]);
        let indices: &[u32] = indices_map.as_deref().map(bytemuck::cast_slice).unwrap_or(&[]);
        // ogbn-proteins' layout (edge features, no node features): the authors' input is each
        // node's sum of its edges' features over the whole graph, written here once.
        let sums = feat_path.is_none().then_some((indices, n));
        total += edge_features_csv(&p, w, e_in, ids, sums, opts, mp)?;
        if sums.is_some() {
            meta.node_feat_from = Some(crate::store::NODE_FEAT_FROM_EDGE_SUMS.into());
        }
    }
    Ok(total)
}

/// Labels (`node-label`) and extra node files (`node_<x>`), CSV layout.
pub(super) fn read_labels_and_extras(
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

/// Edge features: parsed into a scratch file in input order, then written in CSR order. With
/// `sums` (the CSR's `indices` and the node count), also the node features `node_feat`: each
/// node's sum of the features of the entries it is the source of (see [`edge_feature_sums`]).
pub(super) fn edge_features_csv(
    path: &Path,
    w: &mut StoreWriter,
    e_in: u64,
    ids: &[u32],
    sums: Option<(&[u32], u64)>,
    opts: &PrepareOptions,
    mp: &Reporter,
) -> Result<u64> {
    let inverse = opts.inverse();
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
    let map = unsafe { crate::mapped::map_unless_empty(&file, &scratch) }?;
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
    if let Some((indices, n)) = sums {
        let x = edge_feature_sums(raw, cols, ids, indices, n as usize, shift);
        w.put("node_feat", &x, Some(cols as u64))?;
    }
    let _ = fs::remove_file(&scratch);
    Ok(bytes)
}

/// Each node's sum of the features of the CSR entries whose source it is: `x[indices[p]] +=
/// features of input edge ids[p] >> shift`. This is the authors' ogbn-proteins input
/// (`scatter(edge_attr, edge_index[0], reduce='add')` over the graph with inverse edges, in
/// `examples/ogb_eff/ogbn_proteins/dataset.py` of lightaime/deep_gcns_torch); with inverse
/// edges every edge is counted at both ends. Summed in f64, stored as f32.
pub(super) fn edge_feature_sums(
    raw: &[f32],
    cols: usize,
    ids: &[u32],
    indices: &[u32],
    n: usize,
    shift: u32,
) -> Vec<f32> {
    let mut x = vec![0f64; n * cols];
    for (&src, &eid) in indices.iter().zip(ids) {
        let r = (eid >> shift) as usize;
        let (to, from) = (&mut x[src as usize * cols..][..cols], &raw[r * cols..][..cols]);
        to.iter_mut().zip(from).for_each(|(a, &b)| *a += b as f64);
    }
    x.into_iter().map(|v| v as f32).collect()
}
