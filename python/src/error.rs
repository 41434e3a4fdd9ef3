//! mille's errors as one Python exception type, with the message the command-line programs
//! print.

use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};

create_exception!(
    _mille,
    MilleError,
    PyRuntimeError,
    "An error from mille's Rust side (a bad store, a worker that failed): the message names the file and what was expected."
);

/// The error and its causes, as the CLI prints them (`error: ...` then `caused by: ...`), on one
/// line.
pub fn message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let line = c.to_string();
        // thiserror's `transparent` and `{0}` wrappers repeat their source's text.
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = c.source();
    }
    text
}

/// A Rust error as a [`MilleError`].
pub fn mille(e: impl std::error::Error + 'static) -> PyErr {
    MilleError::new_err(message(&e))
}

/// A bad argument as a `ValueError`.
pub fn value(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}
