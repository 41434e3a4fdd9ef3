//! Mini-batch subgraphs from a mille store, prefetched by crossbeam worker threads. Plain Rust
//! data, no tensor library: any GNN (or framework) can consume a [`Batch`]. Node features and
//! neighbour lists are read from the store's memory map, or from a huge-page copy when they fit
//! in memory ([`Residency`]).
//!
//! ```no_run
//! use mille_loader::{Loader, LoaderConfig, PlanSpec};
//! let store = std::sync::Arc::new(mille_pipeline::Store::open("data/ogbn-products")?);
//! let loader = Loader::new(store, LoaderConfig { plan: PlanSpec::RandomParts { parts: 10 }, ..Default::default() })?;
//! for batch in loader.epoch(0) {
//!     let batch = batch?;
//!     // batch.indptr / batch.indices: the induced subgraph (incoming edges, local ids)
//!     // batch.features: batch.nodes.len() x batch.feature_dim, row-major
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;
mod build;
mod error;
mod loader;
mod plan;
mod resident;
mod rows;
mod sampler;
mod setting;

pub use batch::{Batch, BatchLabels, Block, Role, SaintWeights};
pub use build::Builder;
pub use error::{Error, Result};
pub use loader::{Epoch, Loader, LoaderConfig, Next, Recycler};
pub use plan::{Plan, PlanSpec};
pub use resident::Residency;
pub use sampler::{SaintNorm, SaintSampler, Sampler, estimate};
pub use setting::{SamplerKind, SamplerOptions, SamplerSetting, stored_parts};
