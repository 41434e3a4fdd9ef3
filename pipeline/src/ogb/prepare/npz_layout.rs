//! The binary layout (`raw/data.npz`, `raw/node-label.npz`, as ogbn-papers100M ships): each
//! array read in chunks from the archive, edges and node features in parallel.

use super::labels::LabelSink;
use super::{CsrArrays, PrepareOptions, bar, check_counts};
use crate::error::{Error, IoContext, Result};
use crate::ogb::csr::CsrBuilder;
use crate::ogb::npz::Npz;
use crate::progress::{Reporter, Task};
use crate::store::{Meta, StoreWriter, StreamArray};
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Binary layout: `raw/data.npz` (edge_index, node_feat, num_nodes_list, num_edges_list, extra
/// node arrays) and `raw/node-label.npz`.
pub(super) fn prepare_npz(
    root: &Path,
    w: &mut StoreWriter,
    meta: &mut Meta,
    opts: &PrepareOptions,
    mp: &Reporter,
) -> Result<u64> {
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
    let mut csr = CsrArrays::reserve(w, n, e_in, opts)?;
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
        let edges = s.spawn(|| read_edges(&mut z, &mut csr, n, e_in, opts, &edge_bar));
        let feats = s.spawn(|| match feat_out.as_mut() {
            Some((cols, out)) => read_features(&data, *cols, out),
            None => Ok(0),
        });
        (
            edges.join().unwrap_or_else(|_| Err(Error::Invalid("edge reader panicked".into()))),
            feats.join().unwrap_or_else(|_| Err(Error::Invalid("feature reader panicked".into()))),
        )
    });
    bytes += er? + fr?;
    meta.num_edges = csr.entries;
    if let Some((_, out)) = feat_out {
        out.finish()?;
    }
    read_extras(&data, n, w)?;
    bytes += read_labels(&raw.join("node-label.npz"), n, w, meta, opts)?;
    Ok(bytes)
}

/// `edge_index` (2 x E: sources, then destinations) into the CSR. Sources wait in a scratch
/// file, a chunk at a time, until their destinations arrive: never all in memory.
fn read_edges(z: &mut Npz, csr: &mut CsrArrays, n: u64, e_in: u64, opts: &PrepareOptions, pb: &Task) -> Result<u64> {
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
    let mut sink = CsrBuilder::new(&csr.tmp, n, opts.inverse(), opts.scratch_budget());
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
        pb.set_position(pos * 8);
        Ok(())
    })?;
    pb.finish();
    let _ = fs::remove_file(&src_path);
    if sink.count() != e_in {
        return Err(Error::input(&name, format!("has {} edges, num_edges_list says {e_in}", sink.count())));
    }
    csr.build(sink)?;
    Ok(e_in * 16)
}

/// `node_feat` (N x D, finite) into the store, from its own handle on the archive.
fn read_features(data: &Path, cols: u64, out: &mut StreamArray<f32>) -> Result<u64> {
    let mut zf = Npz::open(data)?;
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
                    k / cols + 1,
                    format!("node_feat[{}, {}] = {x}: expected a finite number", k / cols, k % cols),
                ));
            }
            buf.push(x as f32);
            k += 1;
        }
        out.push(&buf)
    })?;
    Ok(k * 4)
}

/// Every other array of N rows (e.g. `node_year`) as `node/<name>`.
fn read_extras(data: &Path, n: u64, w: &mut StoreWriter) -> Result<()> {
    let mut zx = Npz::open(data)?;
    for entry in zip_names(data)? {
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
    Ok(())
}

/// `node-label.npz` (a class, or tasks, per node; NaN for none), if present.
fn read_labels(path: &Path, n: u64, w: &mut StoreWriter, meta: &mut Meta, opts: &PrepareOptions) -> Result<u64> {
    if !path.is_file() {
        return Ok(0);
    }
    let mut zl = Npz::open(path)?;
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
    labels.finish(meta)?;
    Ok(k * 4)
}

pub(super) fn zip_names(path: &Path) -> Result<Vec<String>> {
    let f = File::open(path).at(path)?;
    let z = zip::ZipArchive::new(BufReader::new(f)).map_err(|e| Error::input(path, e.to_string()))?;
    Ok(z.file_names().map(String::from).collect())
}

pub(super) fn one_count(z: &mut Npz, name: &str, path: &Path) -> Result<u64> {
    match z.small_ints(name)?.as_slice() {
        [v] if *v >= 0 => Ok(*v as u64),
        other => {
            Err(Error::input(path, format!("{name}: expected one non-negative count (one graph), found {other:?}")))
        }
    }
}
