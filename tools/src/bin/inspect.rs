//! `tools/inspect`: what a store holds.

use clap::Parser;
use mille_pipeline::Store;
use mille_pipeline::store::Labels;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// Show a store's counts, features, labels, splits, degrees and checksums.
#[derive(Parser)]
#[command(name = "inspect", version)]
struct Args {
    /// The store folder (e.g. data/ogbn-products).
    store: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also recompute every array's checksum.
    #[arg(long)]
    verify: bool,
}

fn main() {
    mille_tools::run(|| {
        let a = Args::parse();
        let s = Store::open(&a.store)?;
        if a.verify {
            s.verify()?;
        }
        let report = summary(&s, a.verify);
        if a.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_text(&report);
        }
        Ok(())
    })
}

fn summary(s: &Store, verified: bool) -> Value {
    let m = s.meta();
    let mut o = Map::new();
    o.insert("path".into(), json!(s.path()));
    o.insert("name".into(), json!(m.name));
    o.insert("format_version".into(), json!(m.version));
    o.insert("source".into(), json!(m.source));
    o.insert("nodes".into(), json!(m.num_nodes));
    o.insert("edges".into(), json!(m.num_edges));
    o.insert("input_edges".into(), json!(m.num_input_edges));
    o.insert("add_inverse_edge".into(), json!(m.add_inverse_edge));
    o.insert("undirected".into(), json!(m.undirected));
    o.insert("node_feat_from".into(), json!(m.node_feat_from));
    o.insert("node_feature_dim".into(), json!(s.features().map_or(0, |f| f.cols)));
    o.insert("edge_feature_dim".into(), json!(s.edge_features().map_or(0, |f| f.cols)));
    o.insert("metric".into(), json!(m.metric));
    o.extend(label_summary(s));
    o.insert("splits".into(), split_sizes(s));
    o.insert("in_degree".into(), in_degrees(s));
    let c = mille_partition::components(s.indptr(), s.indices());
    let n = s.num_nodes();
    o.insert(
        "components".into(),
        json!({"count": c.count, "largest": c.largest, "largest_share": c.largest as f64 / n.max(1) as f64}),
    );
    o.insert("node_arrays".into(), json!(s.node_array_names()));
    let arrays: Map<String, Value> = m
        .arrays
        .iter()
        .map(|(k, a)| (k.clone(), json!({"dtype": a.dtype, "shape": a.shape, "bytes": a.bytes(), "xxh3": a.xxh3})))
        .collect();
    o.insert("arrays".into(), Value::Object(arrays));
    o.insert("bytes".into(), json!(m.arrays.values().map(|a| a.bytes()).sum::<u64>()));
    o.insert("verified".into(), json!(verified));
    Value::Object(o)
}

/// The label kind and its counts: per class (multi-class) or positives per task (multi-label).
fn label_summary(s: &Store) -> Map<String, Value> {
    let mut o = Map::new();
    match s.labels() {
        Some(Labels::MultiClass(y)) => {
            let c = s.meta().num_classes.unwrap_or(0) as usize;
            // Counted by the labels present, not by num_classes (which may be huge).
            let mut seen = std::collections::BTreeMap::<usize, u64>::new();
            let mut unlabelled = 0u64;
            for &v in y {
                if v < 0 {
                    unlabelled += 1;
                } else if (v as usize) < c {
                    *seen.entry(v as usize).or_default() += 1;
                }
            }
            // A list per class when there are few, else the classes that occur.
            let counts = if c <= 4096 {
                json!((0..c).map(|k| seen.get(&k).copied().unwrap_or(0)).collect::<Vec<_>>())
            } else {
                json!(seen.iter().map(|(k, n)| json!({"class": k, "count": n})).collect::<Vec<_>>())
            };
            o.insert("label_kind".into(), json!("multi-class"));
            o.insert("num_classes".into(), json!(c));
            o.insert("num_tasks".into(), json!(1));
            o.insert("label_counts".into(), json!(counts));
            o.insert("unlabelled".into(), json!(unlabelled));
        }
        Some(Labels::MultiLabel(y)) => {
            let mut pos = vec![0u64; y.cols];
            let mut missing = 0u64;
            for (i, &v) in y.data.iter().enumerate() {
                match v {
                    1 => pos[i % y.cols] += 1,
                    -1 => missing += 1,
                    _ => {}
                }
            }
            o.insert("label_kind".into(), json!("multi-label"));
            o.insert("num_tasks".into(), json!(y.cols));
            o.insert("positives_per_task".into(), json!(pos));
            o.insert("missing_labels".into(), json!(missing));
        }
        None => {
            o.insert("label_kind".into(), Value::Null);
        }
    }
    o
}

/// Each split's train / valid / test sizes.
fn split_sizes(s: &Store) -> Value {
    let mut splits = Map::new();
    for name in s.split_names() {
        if let Ok(sp) = s.split(name) {
            splits
                .insert(name.clone(), json!({"train": sp.train.len(), "valid": sp.valid.len(), "test": sp.test.len()}));
        }
    }
    Value::Object(splits)
}

/// Least, largest and mean in-degree, and the nodes with none.
fn in_degrees(s: &Store) -> Value {
    let p = s.indptr();
    let n = s.num_nodes();
    let (mut min, mut max, mut isolated) = (u64::MAX, 0u64, 0u64);
    for v in 0..n {
        let d = p[v + 1] - p[v];
        min = min.min(d);
        max = max.max(d);
        isolated += (d == 0) as u64;
    }
    json!({"min": if n == 0 { 0 } else { min }, "max": max, "mean": s.num_edges() as f64 / n.max(1) as f64, "isolated": isolated})
}

fn print_text(r: &Value) {
    let g = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
    println!("store      {}  (format v{})", g("path").as_str().unwrap_or(""), g("format_version"));
    println!("dataset    {}  from {}", g("name").as_str().unwrap_or(""), g("source").as_str().unwrap_or(""));
    println!("nodes      {}", g("nodes"));
    println!(
        "edges      {} directed CSR entries ({} input rows, inverse edges added: {})",
        g("edges"),
        g("input_edges"),
        g("add_inverse_edge")
    );
    if g("undirected").as_bool() == Some(true) {
        println!("           bidirected without duplicate edges (--to-undirected)");
    }
    let from = match g("node_feat_from").as_str() {
        Some(mille_pipeline::store::NODE_FEAT_FROM_EDGE_SUMS) => " (each node's full-graph sum of its edges' features)",
        _ => "",
    };
    println!("features   node {}{from}  edge {}", g("node_feature_dim"), g("edge_feature_dim"));
    match g("label_kind").as_str() {
        Some("multi-class") => println!(
            "labels     {} classes, metric {}, {} unlabelled; counts {}",
            g("num_classes"),
            g("metric").as_str().unwrap_or("?"),
            g("unlabelled"),
            g("label_counts")
        ),
        Some("multi-label") => println!(
            "labels     {} binary tasks, metric {}, {} missing",
            g("num_tasks"),
            g("metric").as_str().unwrap_or("?"),
            g("missing_labels")
        ),
        _ => println!("labels     none"),
    }
    if let Some(sp) = r["splits"].as_object() {
        for (k, v) in sp {
            println!("split      {k}: train {} / valid {} / test {}", v["train"], v["valid"], v["test"]);
        }
    }
    let d = &r["in_degree"];
    println!(
        "in-degree  min {} / mean {:.2} / max {}, {} isolated",
        d["min"],
        d["mean"].as_f64().unwrap_or(0.0),
        d["max"],
        d["isolated"]
    );
    let c = &r["components"];
    println!(
        "components {} (largest {} nodes, {:.1} %; edges taken both ways)",
        c["count"],
        c["largest"],
        100.0 * c["largest_share"].as_f64().unwrap_or(0.0)
    );
    println!("size       {}", mille_tools::human_bytes(r["bytes"].as_u64().unwrap_or(0)));
    if let Some(arr) = r["arrays"].as_object() {
        for (k, v) in arr {
            println!(
                "  {k:<24} {:<4} {:<18} xxh3 {}",
                v["dtype"].as_str().unwrap_or(""),
                v["shape"].to_string(),
                v["xxh3"].as_str().unwrap_or("")
            );
        }
    }
    if r["verified"].as_bool() == Some(true) {
        println!("checksums  verified");
    }
}
