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
