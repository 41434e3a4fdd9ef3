//! mille's data pipeline: OGB datasets (download, safe extraction, streaming parse) into a
//! versioned, memory-mapped graph store that the partitioner, loader and trainer read.

pub mod choices;
pub mod datasets;
pub mod durable;
pub mod error;
mod mapped;
pub mod memory;
pub mod ogb;
mod prefetch;
pub mod progress;
pub mod seed;
pub mod store;
pub mod synth;
pub mod widen;

pub use error::{Error, Result};
pub use prefetch::prefetch;
pub use store::{Labels, Matrix, Split, Store};
