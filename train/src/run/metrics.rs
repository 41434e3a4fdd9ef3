//! One line of `metrics.jsonl`: what an epoch measured, typed.

use serde::{Deserialize, Serialize};

/// What `metrics.jsonl` records for one epoch. The fields are in alphabetical order, the order
/// earlier runs wrote the keys in (serde_json's map sorted them), so old and new lines read alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Bytes of batch tensors moved to the device.
    pub batch_bytes: usize,
    /// Seconds spent waiting for the loader.
    pub batch_wait_seconds: f64,
    /// Training batches per second.
    pub batches_per_second: f64,
    /// DEQ: the adjoint solve's iterations in the epoch's last batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deq_adjoint_iterations: Option<usize>,
    /// DEQ: the forward solve's iterations in the epoch's last batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deq_forward_iterations: Option<usize>,
    /// DEQ: the forward solve's final residual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deq_forward_residual: Option<f64>,
    /// The device trained on.
    pub device: String,
    /// The epoch, from 1.
    pub epoch: u64,
    /// On CUDA, the epoch's peak allocated GPU memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_peak_memory_bytes: Option<u64>,
    /// Mean training loss over the epoch's batches.
    pub loss: f64,
    /// Peak anonymous resident memory so far.
    pub peak_anon_rss_bytes: u64,
    /// Peak resident memory so far (VmHWM).
    pub peak_memory_bytes: u64,
    /// Resident file-backed pages now (the store's mapped pages).
    pub rss_file_bytes: u64,
    /// Wall seconds of the training part.
    pub seconds: f64,
    /// Single-view test score, on the epochs that evaluate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<f64>,
    /// Single-view training score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<f64>,
    /// Training rows the loss was taken over (every rank's).
    pub train_rows: u64,
    /// Single-view validation score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid: Option<f64>,
    /// Validation loss (the training loss's form), on the epochs that evaluate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_loss: Option<f64>,
}

impl std::fmt::Display for EpochMetrics {
    /// The JSON line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_and_keeps_the_key_order_earlier_runs_wrote() {
        // A line as the trainer wrote it before the type existed (serde_json::json!, keys sorted).
        let old = r#"{"batch_bytes":15736696,"batch_wait_seconds":0.09,"batches_per_second":0.49,"device":"cpu","epoch":1,"loss":2.37,"peak_anon_rss_bytes":629260288,"peak_memory_bytes":845856768,"rss_file_bytes":216596480,"seconds":2.01,"test":0.138,"train":0.157,"train_rows":82,"valid":0.132,"valid_loss":2.02}"#;
        let m: EpochMetrics = serde_json::from_str(old).unwrap();
        assert_eq!(m.to_string(), old);
        assert_eq!((m.test, m.gpu_peak_memory_bytes), (Some(0.138), None));
    }
}
