//! Open Graph Benchmark input: the dataset catalog, download, safe extraction, and parsing of the
//! raw layout (CSV or binary `.npz`) into a store.

pub mod catalog;
mod csr;
pub mod csv;
pub mod download;
pub mod extract;
pub mod npz;
pub mod prepare;

pub use catalog::{CATALOG, DatasetInfo, lookup};
pub use csv::DEFAULT_MAX_LINE;
pub use download::{DownloadOptions, download};
pub use extract::extract_zip;
pub use prepare::{MAX_CLASSES, PrepareOptions, PrepareReport, check_store_name, locate, prepare_dir};
