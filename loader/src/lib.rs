//! Mini-batch subgraphs from a mille store: plans, induced subgraphs, feature gathering and
//! crossbeam prefetching. Plain Rust data, no tensor library, so that any GNN can use it.
//!
//! This crate is a placeholder until the loader issue lands.

pub use mille_pipeline::Store;
