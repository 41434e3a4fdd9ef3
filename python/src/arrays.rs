//! NumPy arrays over memory that a Rust object owns: the array's base is that object, so the
//! memory lives exactly as long as some array (or the object itself) still needs it.

use numpy::ndarray::{ArrayView1, ArrayView2};
use numpy::{Element, PyArray1, PyArray2, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::{PyClass, pyclass::boolean_struct::True};

/// A frozen Python object whose memory can back NumPy arrays.
///
/// # Safety
/// Every slice reachable through `&Self` must stay valid and in place, and must not be written
/// from Rust, for as long as the object lives (no interior mutability over array data).
pub unsafe trait Owner: PyClass<Frozen = True> + Sync {}

/// A 1-D array over `data(owner)`, whose base object is `owner`.
pub fn vector<'py, O: Owner, T: Element>(
    owner: &Bound<'py, O>,
    data: impl for<'a> FnOnce(&'a O) -> &'a [T],
    writeable: bool,
) -> Bound<'py, PyAny> {
    let view = ArrayView1::from(data(owner.get()));
    // SAFETY: the slice borrows from `owner`, which `Owner` promises keeps it valid and in
    // place while alive; numpy holds a reference to `owner` as the array's base.
    let a = unsafe { PyArray1::borrow_from_array(&view, owner.clone().into_any()) };
    finish(a, writeable)
}

/// A row-major `rows x cols` array over `data(owner)` (`rows * cols` elements), whose base
/// object is `owner`.
pub fn matrix<'py, O: Owner, T: Element>(
    owner: &Bound<'py, O>,
    data: impl for<'a> FnOnce(&'a O) -> (&'a [T], usize, usize),
    writeable: bool,
) -> Bound<'py, PyAny> {
    let (data, rows, cols) = data(owner.get());
    let view = ArrayView2::from_shape((rows, cols), data).expect("rows * cols elements, row-major");
    // SAFETY: as in `vector`.
    let a = unsafe { PyArray2::borrow_from_array(&view, owner.clone().into_any()) };
    finish(a, writeable)
}

fn finish<'py, T: Element, D: numpy::ndarray::Dimension>(
    a: Bound<'py, numpy::PyArray<T, D>>,
    writeable: bool,
) -> Bound<'py, PyAny> {
    if !writeable {
        // A fresh array has no other borrow, so taking the write borrow cannot fail.
        a.readwrite().make_nonwriteable();
    }
    a.into_any()
}

/// PyG's `[2, E]` `edge_index`, row-major (sources, then targets), from a CSR by target.
pub fn coo(indptr: &[u64], indices: &[u32]) -> Vec<i64> {
    let mut out = Vec::with_capacity(2 * indices.len());
    out.extend(indices.iter().map(|&u| u as i64));
    for (v, w) in indptr.windows(2).enumerate() {
        out.extend(std::iter::repeat_n(v as i64, (w[1] - w[0]) as usize));
    }
    out
}
