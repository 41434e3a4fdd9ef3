//! Loader errors.

/// A loader error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// From the store.
    #[error(transparent)]
    Store(#[from] mille_pipeline::Error),
    /// From a partitioner.
    #[error(transparent)]
    Partition(#[from] mille_partition::Error),
    /// A worker thread panicked while building a batch.
    #[error("loader worker panicked building batch {batch}: {msg}")]
    WorkerPanic {
        /// The batch.
        batch: usize,
        /// The panic message.
        msg: String,
    },
    /// A bad request or a store that changed under the loader.
    #[error("{0}")]
    Invalid(String),
}

/// The loader's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
