//! One single-threaded call of each of libtorch's CPU vector-math functions before any parallel
//! use, so that training repeats exactly from run to run.
//!
//! On the CPU, libtorch hands element-wise `exp`, `log`, `tanh`, ... to MKL's vector math,
//! called from every intra-op thread at once. Measured on this project's 2-core machines: in about
//! one process in ten, the very first `exp` of the process (GEN's softmax aggregation on the first
//! batch) came out slightly different, later calls never did, and the run then trained to other
//! weights (`tools/train --config RUN/config.toml` did not repeat RUN). With every function
//! called once on one thread first, 200 processes in a row agreed bit for bit. The warm-up is a
//! few dozen operations on 64 elements: below libtorch's parallel grain, so it runs on the
//! calling thread.

use std::sync::Once;
use tch::{Device, Kind, Tensor};

static WARM: Once = Once::new();

/// Calls each vector-math function once, on this thread, for f32 and f64; later calls return at
/// once. [`crate::model::Model::new`] and [`crate::conv::Conv::new`] call it, so anything that
/// runs a model or a convolution has, and no batch pays for the check.
pub fn warm_up() {
    WARM.call_once(|| {
        for kind in [Kind::Float, Kind::Double] {
            let x = Tensor::linspace(0.1, 0.9, 64, (kind, Device::Cpu));
            for f in OPS {
                let _ = f(&x);
            }
        }
    });
}

/// The element-wise functions libtorch may route to MKL's vector math (arguments in (0, 1), where
/// each is defined).
const OPS: &[fn(&Tensor) -> Tensor] = &[
    Tensor::exp,
    Tensor::expm1,
    Tensor::log,
    Tensor::log1p,
    Tensor::log2,
    Tensor::log10,
    Tensor::sin,
    Tensor::cos,
    Tensor::tan,
    Tensor::asin,
    Tensor::acos,
    Tensor::atan,
    Tensor::sinh,
    Tensor::cosh,
    Tensor::tanh,
    Tensor::erf,
    Tensor::erfc,
    Tensor::erfinv,
    Tensor::sqrt,
    Tensor::rsqrt,
    Tensor::sigmoid,
    Tensor::lgamma,
    Tensor::reciprocal,
    Tensor::abs,
    Tensor::trunc,
];
