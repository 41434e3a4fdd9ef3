//! Errors of the pipeline: every one names the file (and line, where there is one) it is about.

use std::path::{Path, PathBuf};

/// A pipeline error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line of an input file that is not what was expected.
    #[error("{}:{line}: {msg}", path.display())]
    Parse {
        /// The input file.
        path: PathBuf,
        /// 1-based line number (for binary inputs: the row).
        line: u64,
        /// What was found and what was expected.
        msg: String,
    },
    /// An input that is wrong as a whole: a missing file, counts that disagree, a bad archive.
    #[error("{}: {msg}", path.display())]
    Input {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// An operating-system error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A store that does not open or does not verify.
    #[error("store {}: {msg}", path.display())]
    Store {
        /// The store folder or one of its files.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// A download that failed after its retries.
    #[error("download {url}: {msg}")]
    Download {
        /// The address.
        url: String,
        /// What went wrong.
        msg: String,
    },
    /// A request the pipeline can't serve (an unknown dataset, a missing array).
    #[error("{0}")]
    Invalid(String),
    /// A step stopped because another step of the same work failed (that one's error is what
    /// the caller reports).
    #[error("stopped: another step of the same work failed")]
    Cancelled,
}

/// The pipeline's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }
    /// An [`Error::Input`] for `path`.
    pub fn input(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Input { path: path.as_ref().to_path_buf(), msg: msg.into() }
    }
    /// An [`Error::Parse`] for `path` at 1-based `line`.
    pub fn parse(path: impl AsRef<Path>, line: u64, msg: impl Into<String>) -> Self {
        Error::Parse { path: path.as_ref().to_path_buf(), line, msg: msg.into() }
    }
    /// An [`Error::Store`] for `path`.
    pub fn store(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Store { path: path.as_ref().to_path_buf(), msg: msg.into() }
    }
}

/// Adds the file name to an `io::Result`.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
