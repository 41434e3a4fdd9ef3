//! `bench aggregate` and `bench upload`: the trainer's kernels and its batch feed, each against
//! a plain baseline in the same run.

use super::common::{best_of, random_batch};
use mille_pipeline::Store;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// `bench aggregate`.
#[derive(clap::Args, Debug)]
pub struct AggregateArgs {
    /// Nodes of the random graph.
    #[arg(long, default_value_t = 100_000)]
    pub nodes: usize,
    /// Random in-neighbours per node (plus a self loop).
    #[arg(long, default_value_t = 10)]
    pub degree: usize,
    /// Channels of the aggregated messages (GAT's scores have 4).
    #[arg(long, default_value_t = 64)]
    pub dim: i64,
    /// Timed repeats per operation (best taken), after one warm-up.
    #[arg(long, default_value_t = 7)]
    pub repeats: usize,
    /// One JSON list.
    #[arg(long)]
    pub json: bool,
}

/// `bench upload`.
#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// The store.
    pub store: PathBuf,
    /// Random parts (= batches) per epoch.
    #[arg(long, default_value_t = 10)]
    pub parts: u32,
    /// The GPU.
    #[arg(long, default_value = "cuda:0")]
    pub device: String,
    /// Epochs to time, after one warm-up.
    #[arg(long, default_value_t = 2)]
    pub epochs: u64,
    /// One JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `bench aggregate`.
pub fn aggregate(a: AggregateArgs) -> anyhow::Result<()> {
    bench_aggregate(a.nodes, a.degree, a.dim, a.repeats, a.json)
}

/// `bench upload`.
pub fn upload(a: UploadArgs) -> anyhow::Result<()> {
    bench_upload(a.store, a.parts, &a.device, a.epochs, a.json)
}

fn bench_aggregate(nodes: usize, degree: usize, dim: i64, repeats: usize, as_json: bool) -> anyhow::Result<()> {
    use mille_train::conv::{Conv, ConvKind};
    use mille_train::graph::{Adjacency, RowReduce};
    use mille_train::tch::{Device, Kind, Tensor, nn};
    let g = random_batch(nodes, degree, 1, 2, Device::Cpu);
    let paths = [
        ("segment", g.adj.to_kind(Kind::Float).with_reduce(RowReduce::Segment)),
        ("index_add", g.adj.to_kind(Kind::Float).with_reduce(RowReduce::IndexAdd)),
        ("auto", g.adj.to_kind(Kind::Float)),
    ];
    let e = g.adj.num_entries();
    mille_train::tch::manual_seed(0);
    let values = Tensor::randn([e, dim], (Kind::Float, Device::Cpu));
    let heads = Tensor::randn([e, 4], (Kind::Float, Device::Cpu));
    let h = Tensor::randn([nodes as i64, dim], (Kind::Float, Device::Cpu));
    type Op<'a> = (String, &'a Tensor, Box<dyn Fn(&Adjacency, &Tensor) -> Tensor + 'a>);
    let mut ops: Vec<Op> = vec![
        ("sum (GEN sum/mean)".into(), &values, Box::new(|a, v| a.sum_rows(v))),
        ("max (GEN max)".into(), &values, Box::new(|a, v| a.max_rows(v))),
        ("softmax-weighted sum (GEN)".into(), &values, Box::new(|a, v| a.sum_rows(&(a.softmax(v) * v)))),
        ("softmax, 4 heads (GAT)".into(), &heads, Box::new(|a, v| a.softmax(v))),
    ];
    // Whole convolutions over node features [n, dim], as a training step runs them.
    let vs = nn::VarStore::new(Device::Cpu);
    for k in ["gen:softmax", "gen:max", "gen:sum", "gat:4"] {
        let conv = Conv::new(&(vs.root() / k), k.parse::<ConvKind>().expect("a conv"), dim, 0);
        ops.push((format!("{k} conv"), &h, Box::new(move |a, x| conv.forward(a, x))));
    }
    let mut rows = Vec::new();
    for (name, x, f) in &ops {
        let mut row = json!({"op": name, "width": x.size()[1]});
        for (path, adj) in &paths {
            let both = best_of(repeats, || {
                let x = x.detach().set_requires_grad(true);
                f(adj, &x).sum(Kind::Float).backward();
            });
            let fwd = best_of(repeats, || drop(mille_train::tch::no_grad(|| f(adj, x))));
            row[format!("{path}_seconds")] = json!(both);
            row[format!("{path}_forward_seconds")] = json!(fwd);
        }
        for (key, a, b) in [
            ("segment_over_index_add", "segment_seconds", "index_add_seconds"),
            ("segment_over_index_add_forward", "segment_forward_seconds", "index_add_forward_seconds"),
            ("auto_over_index_add", "auto_seconds", "index_add_seconds"),
            ("auto_over_index_add_forward", "auto_forward_seconds", "index_add_forward_seconds"),
        ] {
            let ratio = row[a].as_f64().unwrap_or(0.0) / row[b].as_f64().unwrap_or(1.0);
            row[key] = json!(ratio);
        }
        rows.push(row);
    }
    if as_json {
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!("aggregations, {nodes} nodes, {e} entries, {dim} channels, best of {repeats}; time ratios");
        println!("(index_add = the CPU path before; auto = what the CPU runs now; forward+backward / forward)");
        println!("{:<28} {:>14} {:>18} {:>18}", "op", "index_add (s)", "segment/index_add", "auto/index_add");
        for r in &rows {
            let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
            println!(
                "{:<28} {:>14.4} {:>9.3} / {:<6.3} {:>9.3} / {:<6.3}",
                r["op"].as_str().unwrap_or(""),
                f("index_add_seconds"),
                f("segment_over_index_add"),
                f("segment_over_index_add_forward"),
                f("auto_over_index_add"),
                f("auto_over_index_add_forward")
            );
        }
    }
    Ok(())
}

fn bench_upload(store: PathBuf, parts: u32, device: &str, epochs: u64, as_json: bool) -> anyhow::Result<()> {
    use mille_loader::{Loader, LoaderConfig, PlanSpec};
    use mille_train::device as dev;
    use mille_train::feed::Feed;
    use mille_train::graph::FeatureNorm;
    use mille_train::tch::{Device, Kind, Tensor};
    let d = dev::resolve(device)?;
    anyhow::ensure!(
        d.is_cuda(),
        "bench upload measures host-to-GPU copies: give --device cuda:N ({})",
        dev::cuda_status()
    );
    let s = std::sync::Arc::new(Store::open(&store)?);
    let cfg =
        LoaderConfig { plan: PlanSpec::RandomParts { parts }, workers: 2, self_loops: true, ..Default::default() };
    let loader = Loader::new(s, cfg)?;
    let feed_epoch = |e: u64| -> anyhow::Result<(usize, usize, f64)> {
        let t = Instant::now();
        let mut feed = Feed::new(loader.epoch(e), d, FeatureNorm::None)?;
        let mut n = 0;
        while let Some(fed) = feed.next_batch() {
            let fed = fed?;
            n += 1;
            feed.recycle(fed.batch);
        }
        dev::synchronize(d);
        Ok((feed.bytes(), n, t.elapsed().as_secs_f64()))
    };
    feed_epoch(u64::MAX)?;
    let (mut bytes, mut batches, mut secs) = (0usize, 0usize, 0.0);
    for e in 0..epochs {
        let (b, n, t) = feed_epoch(e)?;
        (bytes, batches, secs) = (bytes + b, batches + n, secs + t);
    }
    let per = bytes / batches.max(1);
    // The same bytes as one pinned buffer per batch, copied and waited for: the bus's own speed.
    let host = Tensor::zeros([per as i64], (Kind::Uint8, Device::Cpu)).pin_memory(d);
    let _ = host.to_device(d);
    dev::synchronize(d);
    let t = Instant::now();
    for _ in 0..batches {
        let _ = host.to_device_(d, Kind::Uint8, true, false);
    }
    dev::synchronize(d);
    let plain = t.elapsed().as_secs_f64();
    let (feed_gbps, plain_gbps) = (bytes as f64 / 1e9 / secs, bytes as f64 / 1e9 / plain);
    let v = json!({
        "bench": "upload", "store": store, "parts": parts, "device": dev::describe(d), "batches": batches,
        "bytes_per_batch": per, "feed_gb_per_second": feed_gbps, "pinned_copy_gb_per_second": plain_gbps,
        "ratio": feed_gbps / plain_gbps,
    });
    if as_json {
        println!("{v}");
    } else {
        println!("upload to {} ({batches} batches of {})", dev::describe(d), mille_tools::human_bytes(per as u64));
        println!("  feed (loader + pinned copy + side stream)  {feed_gbps:.2} GB/s");
        println!("  plain pinned host-to-device copy           {plain_gbps:.2} GB/s");
        println!("  ratio                                      {:.3}", feed_gbps / plain_gbps);
    }
    Ok(())
}
