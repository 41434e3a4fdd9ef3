//! The trainer: RevGNN (grouped reversible GNN blocks) in tch (libtorch), with a reversible
//! backward whose activation memory does not grow with depth.
//!
//! Built so far: batches as tensors with sparse CSR aggregation ([`graph`]), SAGE and GCN
//! convolutions ([`conv`]), reversible blocks with their inverse and the reversible backward
//! ([`rev`]). The models, training loop, multi-view inference and CLI are the trainer issue's
//! remaining work.

pub mod conv;
pub mod graph;
pub mod model;
pub mod rev;

pub use tch;

/// The device training would use: the first CUDA device when libtorch sees one, else the CPU.
pub fn default_device() -> tch::Device {
    tch::Device::cuda_if_available()
}

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
