//! Backpropagation from a non-scalar tensor with a given gradient (`out.backward(grad)`), which
//! tch binds only for scalars. The reversible backward calls it once per group function: the
//! scalar form `(out * grad).sum().backward()` costs a product and a sum in the forward and
//! their two backward steps, about 4 % of a SAGE RevGNN-112 step (`tools/ab-train`).

use std::ffi::{CStr, c_void};
use tch::Tensor;

unsafe extern "C" {
    fn mille_backward(out: *const c_void, grad: *const c_void) -> std::ffi::c_int;
    fn mille_last_error() -> *const std::ffi::c_char;
}

/// Accumulates the gradients of `out` times `grad` (same shape) into the leaves `out` depends on.
///
/// # Panics
/// When libtorch refuses (a shape mismatch, `out` without a graph), as tch's own `backward` does.
pub fn backward_with(out: &Tensor, grad: &Tensor) {
    // SAFETY: both are live tensors; the glue catches every C++ exception.
    let rc = unsafe { mille_backward(out.as_ptr() as *const c_void, grad.as_ptr() as *const c_void) };
    if rc != 0 {
        // SAFETY: the glue's thread-local message, NUL-terminated, valid until its next call here.
        let why = unsafe { CStr::from_ptr(mille_last_error()) }.to_string_lossy();
        panic!("backward with a gradient: {why}");
    }
}
