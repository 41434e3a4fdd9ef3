//! The trainer: RevGNN, weight-tied RevGNN, DEQ-GNN and ResGNN in tch (libtorch), with a
//! reversible backward whose activation memory does not grow with depth.
//!
//! Until the trainer issue lands this crate only proves that libtorch links and runs.

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
