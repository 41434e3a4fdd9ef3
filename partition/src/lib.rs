//! Partitioners over a mille store: random clustering, METIS k-way and a streaming partitioner.
//!
//! This crate is a placeholder until the partitioning issue lands; it exists so that the
//! workspace has its final shape (pipeline <- partition <- loader <- train <- tools).

pub use mille_pipeline::Store;
