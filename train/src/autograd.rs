//! Autograd calls tch does not bind, through the C++ glue: backpropagation from a non-scalar
//! tensor with a given gradient (`out.backward(grad)`; tch binds only scalars, and the scalar
//! form `(out * grad).sum().backward()` costs a product and a sum in the forward and their two
//! backward steps, about 4 % of a SAGE RevGNN-112 step, `tools/ab-train`), and a sparse CSR
//! product whose backward uses a transpose built once per batch instead of one per call.

use std::ffi::{CStr, c_void};
use tch::Tensor;

unsafe extern "C" {
    fn mille_backward(out: *const c_void, grad: *const c_void) -> std::ffi::c_int;
    fn mille_csr_mm(a: *const c_void, at: *const c_void, x: *const c_void, out: *mut *mut c_void) -> std::ffi::c_int;
    fn mille_csr_transpose(a: *const c_void, out: *mut *mut c_void) -> std::ffi::c_int;
    fn mille_last_error() -> *const std::ffi::c_char;
}

/// Panics with the glue's message when `rc` says it failed (a shape mismatch: a bug here).
fn check(rc: std::ffi::c_int, what: &str) {
    if rc != 0 {
        // SAFETY: the glue's thread-local message, NUL-terminated, valid until its next call here.
        let why = unsafe { CStr::from_ptr(mille_last_error()) }.to_string_lossy();
        panic!("{what}: {why}");
    }
}

/// `a @ x` for a sparse CSR `a` with `at` its transpose (CSR): the gradient at `x` is `at @ g`.
pub fn csr_mm(a: &Tensor, at: &Tensor, x: &Tensor) -> Tensor {
    let mut out = std::ptr::null_mut();
    // SAFETY: live tensors; the glue returns a new heap tensor that we own.
    check(
        unsafe {
            mille_csr_mm(
                a.as_ptr() as *const c_void,
                at.as_ptr() as *const c_void,
                x.as_ptr() as *const c_void,
                &mut out,
            )
        },
        "sparse product",
    );
    // SAFETY: `out` is a fresh `at::Tensor*`, owned by the returned Tensor from now on.
    unsafe { Tensor::from_ptr(out.cast()) }
}

/// The transpose of sparse CSR `a`, as CSR.
pub fn csr_transpose(a: &Tensor) -> Tensor {
    let mut out = std::ptr::null_mut();
    // SAFETY: a live tensor; the glue returns a new heap tensor that we own.
    check(unsafe { mille_csr_transpose(a.as_ptr() as *const c_void, &mut out) }, "sparse transpose");
    // SAFETY: as above.
    unsafe { Tensor::from_ptr(out.cast()) }
}

/// Accumulates the gradients of `out` times `grad` (same shape) into the leaves `out` depends on.
///
/// # Panics
/// When libtorch refuses (a shape mismatch, `out` without a graph), as tch's own `backward` does.
pub fn backward_with(out: &Tensor, grad: &Tensor) {
    // SAFETY: both are live tensors; the glue catches every C++ exception.
    check(
        unsafe { mille_backward(out.as_ptr() as *const c_void, grad.as_ptr() as *const c_void) },
        "backward with a gradient",
    );
}
