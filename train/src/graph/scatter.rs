//! Row reductions by `index_add` / `index_reduce` into the destination rows through per-entry
//! row ids: [`crate::graph::RowReduce::IndexAdd`]. On CUDA they accumulate with atomics
//! (results differ in the last bits from run to run), so CUDA reduces by CSR segments; on the
//! CPU they run sequentially (deterministic) and win for sums and wide values (see
//! [`crate::graph::RowReduce::Auto`]). They are also
//! the reference the segment reductions are tested against (same values to 1e-6, gradients
//! too) and benchmarked against (`tools/bench aggregate`).

use super::Adjacency;
use tch::{Kind, Tensor};

/// Destination row of each entry (int64 `[E]`).
pub(super) fn row_ids(adj: &Adjacency) -> Tensor {
    adj.per_entry(&Tensor::arange(adj.n, (Kind::Int64, adj.col.device())))
}

fn zeros(adj: &Adjacency, like: &Tensor) -> Tensor {
    let mut shape = like.size();
    shape[0] = adj.n;
    Tensor::zeros(shape, (like.kind(), like.device()))
}

/// Per-row softmax of entry scores `[E, k]`, max-shifted.
pub(super) fn softmax(adj: &Adjacency, row: &Tensor, scores: &Tensor) -> Tensor {
    let z = zeros(adj, scores);
    let max = z.index_reduce(0, row, &scores.detach(), "amax", false);
    let w = (scores - max.index_select(0, row)).exp();
    let den = z.index_add(0, row, &w);
    w / den.index_select(0, row).clamp_min(1e-16)
}

/// Sum of entry values into their rows.
pub(super) fn sum_rows(adj: &Adjacency, row: &Tensor, values: &Tensor) -> Tensor {
    zeros(adj, values).index_add(0, row, values)
}

/// Channel-wise maximum per row (rows without entries 0).
pub(super) fn max_rows(adj: &Adjacency, row: &Tensor, values: &Tensor) -> Tensor {
    zeros(adj, values).index_reduce(0, row, values, "amax", false)
}
