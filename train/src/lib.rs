//! The trainer: RevGNN (grouped reversible GNN blocks), its weight-tied form, DEQ-GNN and the
//! ResGNN baseline in tch (libtorch), trained on loader batches with a backward whose activation
//! memory does not grow with depth, evaluated with multi-view inference.
//!
//! - [`device`]: choosing and naming devices, GPU memory figures, deterministic kernels.
//! - [`feed`]: batches onto the device, uploaded on a side stream while the previous step runs.
//! - [`graph`]: a batch as tensors (sparse CSR operators, entry lists, edge features).
//! - [`conv`]: SAGE, GCN, GEN and GAT convolutions.
//! - [`rev`]: reversible blocks, their inverse and the reversible backward.
//! - [`revgat`]: the authors' RevGAT layers: their GAT, a BatchNorm for reversible blocks.
//! - [`deq`]: Broyden's method and the implicit backward of DEQ-GNN.
//! - [`model`]: the four models.
//! - [`optim`]: Adam and RMSprop whose state can be checkpointed.
//! - [`labels`]: labels as input and label reuse.
//! - [`loss`]: the training losses (cross-entropy, the authors' log-CE, self-KD).
//! - [`metric`], [`infer`]: OGB metrics, multi-view inference.
//! - [`run`]: the training loop with checkpoints, resumption and metrics.
//!
//! Internal: `cpu_math` (the warm-up that makes CPU runs repeat exactly), `stream` (CUDA side
//! streams and events), `warnings` (libtorch's warnings routed to `tracing`), and
//! `graph::scatter` (row reductions by index_add: the CPU path for wide values, and the
//! reference the segment reductions are tested against).

mod autograd;
pub mod conv;
mod cpu_math;
pub mod deq;
pub mod device;
pub mod feed;
pub mod graph;
pub mod infer;
pub mod labels;
pub mod layers;
pub mod loss;
pub mod metric;
pub mod model;
pub mod optim;
pub mod rev;
pub mod revgat;
pub mod run;
mod stream;
mod warnings;

pub use tch;

/// Unit tests that seed and draw from libtorch's process-wide generator take it in turns.
#[cfg(test)]
pub(crate) static RNG_TEST: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use tch::{Kind, Tensor};

    #[test]
    fn libtorch_links_and_computes() {
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
        let b = a.matmul(&a.transpose(0, 1));
        let got: Vec<f32> = b.reshape([-1]).try_into().unwrap();
        assert_eq!(got, vec![5.0, 11.0, 11.0, 25.0]);
        assert_eq!(b.kind(), Kind::Float);
    }
}
