//! Partitioning errors.

/// A partitioning error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the store.
    #[error(transparent)]
    Store(#[from] mille_pipeline::Error),
    /// METIS refused or failed.
    #[error("METIS: {0}")]
    Metis(String),
    /// The graph is too large for METIS's 32-bit indices.
    #[error("{0}")]
    TooLarge(String),
    /// A bad partition file or request.
    #[error("{0}")]
    Invalid(String),
    /// A file error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source }
}
