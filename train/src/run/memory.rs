//! The anonymous part of the process's memory (the model, its gradients, batches in flight)
//! apart from file-backed pages (a mapped store's page cache, which the kernel reclaims), whose
//! peak the kernel does not keep: a sampler thread records it. The status reader itself is
//! `mille_pipeline::memory`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub use mille_pipeline::memory::{peak_rss_bytes, status_bytes};

/// Samples `RssAnon` every few milliseconds until dropped, keeping the largest value.
pub struct AnonPeak {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AnonPeak {
    /// Sampling every 20 ms: one read of the status file takes ~30 us, 0.15 % of a core (a
    /// training step's backward lasts far longer than that, so its peak is seen).
    pub fn start() -> AnonPeak {
        let peak = Arc::new(AtomicU64::new(status_bytes("RssAnon:")));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("mille-anon-rss".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    p.fetch_max(status_bytes("RssAnon:"), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .ok();
        AnonPeak { peak, stop, thread }
    }

    /// The largest anonymous RSS seen so far (sampled now too).
    pub fn bytes(&self) -> u64 {
        let now = status_bytes("RssAnon:");
        self.peak.fetch_max(now, Ordering::Relaxed).max(now)
    }
}

impl Drop for AnonPeak {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Refuses a model whose parameters, gradients and Adam's two moments (16 bytes per parameter)
/// would not fit in the memory available now, naming both figures, before anything is built
/// or written. The parameter count comes from scratch models of one and two blocks (the model
/// grows by one block's parameters per layer; a weight-tied one not at all).
pub fn check_fits(mc: &crate::model::ModelConfig, cfg: &super::RunConfig) -> anyhow::Result<()> {
    use crate::model::{Model, ModelKind};
    let count = |layers: usize| {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _m = Model::new(&vs.root(), crate::model::ModelConfig { layers, ..mc.clone() });
        crate::model::num_params(&vs) as f64
    };
    // RevGAT's first block is its third layer (an input and an output GAT layer around them).
    let first = if mc.kind == ModelKind::Revgat { 3 } else { 1 };
    let (one, two) = (count(first), count(first + 1));
    let params = match mc.kind {
        ModelKind::Revgnn | ModelKind::Resgnn | ModelKind::Revgat => {
            one + (two - one) * (mc.layers.max(first) - first) as f64
        }
        _ => one,
    };
    let needed = 16.0 * params;
    let available = status_bytes_of("/proc/meminfo", "MemAvailable:") as f64;
    let gib = |b: f64| b / (1u64 << 30) as f64;
    anyhow::ensure!(
        available == 0.0 || needed < available,
        "--layers {} x --hidden {} has about {:.0}M parameters: {:.1} GiB with their gradients and Adam's \
         moments, and this machine has {:.1} GiB available",
        cfg.layers,
        cfg.hidden,
        params / 1e6,
        gib(needed),
        gib(available)
    );
    Ok(())
}

/// A `Key:   N kB` line of a `/proc` status-like file, in bytes (0 when missing).
fn status_bytes_of(file: &str, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with(key)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}
