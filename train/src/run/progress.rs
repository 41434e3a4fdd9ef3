//! What a run tells its caller as it goes. The trainer draws nothing itself: `tools/train` and
//! `tools/evaluate` turn these calls into progress bars and readable lines, a library user into
//! whatever suits them (nothing, by default).

use crate::infer::Scores;

/// One finished epoch, after its evaluation if it had one.
#[derive(Debug, Clone)]
pub struct EpochReport<'a> {
    /// 1-based epoch.
    pub epoch: u64,
    /// Epochs the run trains in all.
    pub epochs: u64,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// Wall seconds of the training part.
    pub seconds: f64,
    /// Training batches per second.
    pub batches_per_second: f64,
    /// Single-view scores, on the epochs that evaluate.
    pub scores: Option<Scores>,
    /// Best validation so far: its epoch and scores.
    pub best: Option<(u64, Scores)>,
    /// The metric's name (`acc`, `rocauc`).
    pub metric: &'a str,
    /// Everything `metrics.jsonl` records for the epoch.
    pub line: &'a super::EpochMetrics,
}

/// Receives a run's progress. Every method does nothing unless overridden.
pub trait Progress: Send {
    /// A phase of `len` steps begins (`what`: `epoch 3`, `evaluate`).
    fn begin(&mut self, what: &str, len: u64) {
        let _ = (what, len);
    }
    /// One step of the phase is done; `loss`: that training batch's loss.
    fn step(&mut self, loss: Option<f64>) {
        let _ = loss;
    }
    /// The phase is over.
    fn end(&mut self) {}
    /// An epoch finished.
    fn epoch(&mut self, report: &EpochReport<'_>) {
        let _ = report;
    }
}

/// Reports nothing: the default.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {}
