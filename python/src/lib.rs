//! `mille._mille`: the Rust half of the `mille` Python package. It opens stores, partitions them
//! and runs the prefetching loader; arrays cross into Python as NumPy arrays over Rust memory (a
//! store's memory map, a batch's buffers), never copied, so `torch.from_numpy` makes tensors of
//! them for free. No tensor library is linked here: torch and PyG stay on the Python side.

mod arrays;
mod batch;
mod error;
mod loader;
mod partition;
mod prepare;
mod store;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _mille(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MilleError", m.py().get_type::<error::MilleError>())?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<loader::PyLoader>()?;
    m.add_class::<loader::PyEpoch>()?;
    m.add_class::<batch::PyBatch>()?;
    m.add_function(wrap_pyfunction!(partition::partition, m)?)?;
    m.add_function(wrap_pyfunction!(partition::shard, m)?)?;
    m.add_function(wrap_pyfunction!(prepare::prepare, m)?)?;
    m.add_function(wrap_pyfunction!(prepare::synth, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
