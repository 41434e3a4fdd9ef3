//! What only a GPU can show: devices named, the caching allocator's figures, batches uploaded on
//! the side stream equal to the host's, GEN and GAT on CUDA matching the CPU and repeating bit
//! for bit, and a Cora run recording its GPU. Each test skips, saying why, where libtorch sees no
//! GPU (`tools/device-check` runs them on a GPU machine).

mod common;

use mille_loader::{Loader, LoaderConfig, PlanSpec};
use mille_pipeline::Store;
use mille_train::conv::{Aggr, Conv, ConvKind};
use mille_train::device;
use mille_train::feed::Feed;
use mille_train::graph::FeatureNorm;
use mille_train::graph::GraphTensors;
use std::sync::Arc;
use tch::{Device, Kind, Tensor, nn};

/// libtorch's random generator is process-wide and the tests of this file run on parallel
/// threads: every seeded draw happens under this lock, start to end.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeded<T>(seed: i64, f: impl FnOnce() -> T) -> T {
    let _hold = RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed);
    f()
}

fn gpu() -> Option<Device> {
    if tch::Cuda::is_available() {
        Some(Device::Cuda(0))
    } else {
        eprintln!("skipped: no GPU ({})", device::cuda_status());
        None
    }
}

fn cora_loader(plan: PlanSpec) -> (Loader, tempfile::TempDir) {
    let (path, tmp) = common::store(&common::dataset("cora"), false);
    let s = Arc::new(Store::open(path).unwrap());
    (Loader::new(s, LoaderConfig { plan, self_loops: true, ..Default::default() }).unwrap(), tmp)
}

#[test]
fn the_gpu_is_named_and_its_memory_measured() {
    let Some(d) = gpu() else { return };
    let name = device::describe(d);
    assert!(name.starts_with("cuda:0 (") && name.len() > 9, "{name}");
    device::reset_gpu_peak(d);
    let before = device::gpu_memory(d).unwrap();
    let t = Tensor::zeros([64, 1 << 20], (Kind::Float, d)); // 256 MiB
    let during = device::gpu_memory(d).unwrap();
    drop(t);
    let after = device::gpu_memory(d).unwrap();
    assert!(during.allocated >= before.allocated + (256 << 20), "{before:?} -> {during:?}");
    assert!(after.peak_allocated >= during.allocated && after.allocated < during.allocated);
    device::reset_gpu_peak(d);
    assert!(device::gpu_memory(d).unwrap().peak_allocated < during.allocated);
}

#[test]
fn side_stream_uploads_equal_the_host_batches() {
    let Some(d) = gpu() else { return };
    let (loader, _tmp) = cora_loader(PlanSpec::RandomParts { parts: 4 });
    let mut feed = Feed::new(loader.epoch(0), d, FeatureNorm::None).unwrap();
    let mut seen = 0;
    while let Some(fed) = feed.next_batch() {
        let fed = fed.unwrap();
        let host = GraphTensors::new(&fed.batch, Device::Cpu);
        assert!(fed.graph.x.device() == d);
        assert!(fed.graph.x.to_device(Device::Cpu).equal(&host.x));
        assert!(fed.graph.adj.col.to_device(Device::Cpu).equal(&host.adj.col));
        assert!(fed.graph.train.to_device(Device::Cpu).equal(&host.train));
        assert!(fed.graph.classes().unwrap().to_device(Device::Cpu).equal(host.classes().unwrap()));
        seen += 1;
        feed.recycle(fed.batch);
    }
    assert_eq!(seen, 4);
    assert!(feed.bytes() > 0);
}

/// Output and input gradient of one conv (the same weights on every device) on `g`.
fn conv_on(kind: ConvKind, g: &GraphTensors, d: Device) -> Vec<Tensor> {
    let host = nn::VarStore::new(Device::Cpu);
    let _ = seeded(3, || Conv::new(&host.root(), kind, 8, 0));
    let mut vs = nn::VarStore::new(d);
    let conv = Conv::new(&vs.root(), kind, 8, 0);
    vs.copy(&host).unwrap();
    let x = (g.x.narrow(1, 0, 8) * 10.0).to_device(d).detach().set_requires_grad(true);
    let out = conv.forward(&g.adj, &x);
    (&out * &out).sum(Kind::Float).backward();
    vec![out.detach().to_device(Device::Cpu), x.grad().to_device(Device::Cpu)]
}

#[test]
fn gen_and_gat_on_cuda_match_the_cpu_and_repeat_bit_for_bit() {
    let Some(d) = gpu() else { return };
    device::set_deterministic(d).unwrap();
    let (loader, _tmp) = cora_loader(PlanSpec::Full);
    let b = loader.epoch(0).next().unwrap().unwrap();
    let (g_cpu, g_gpu) = (GraphTensors::new(&b, Device::Cpu), GraphTensors::new(&b, d));
    for kind in [ConvKind::Gen(Aggr::Softmax), ConvKind::Gen(Aggr::Max), ConvKind::Gen(Aggr::Sum), ConvKind::Gat(2)] {
        let (a, b2) = (conv_on(kind, &g_gpu, d), conv_on(kind, &g_gpu, d));
        for (x, y) in a.iter().zip(&b2) {
            assert!(x.equal(y), "{kind}: two CUDA runs differ");
        }
        let c = conv_on(kind, &g_cpu, Device::Cpu);
        for (x, y) in a.iter().zip(&c) {
            let rel = (x - y).abs().max().double_value(&[]) / y.abs().max().double_value(&[]).max(1e-12);
            assert!(rel < 1e-4, "{kind}: CUDA and CPU differ by {rel:e}");
        }
    }
}

#[test]
fn a_cuda_run_records_its_gpu() {
    let Some(_) = gpu() else { return };
    let (store, _tmp) = common::store(&common::dataset("cora"), false);
    let mut cfg = common_cfg(&store);
    cfg.device = "cuda:0".into();
    let out = tempfile::tempdir().unwrap();
    let s = seeded(0, || mille_train::run::Trainer::new(cfg, out.path(), false).unwrap().fit().unwrap());
    assert!(s.device.starts_with("cuda:0 ("), "{}", s.device);
    assert!(s.gpu_peak_memory_bytes.unwrap() > 0);
    let line = std::fs::read_to_string(out.path().join("metrics.jsonl")).unwrap();
    assert!(line.contains("\"gpu_peak_memory_bytes\"") && line.contains("\"device\":\"cuda:0 ("), "{line}");
}

fn common_cfg(store: &std::path::Path) -> mille_train::run::RunConfig {
    let mut c = mille_train::run::RunConfig::new(store);
    c.layers = 3;
    c.hidden = 32;
    c.epochs = 2;
    c.sampler = mille_train::run::SamplerSetting::Cluster { parts: 2 };
    c.views = 1;
    c.eval_parts = 1;
    c
}
