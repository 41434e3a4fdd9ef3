"""A neighbour sampler in vectorised NumPy, the yardstick for mille's (no compiled peer for the
torch this project pins installs here). It samples the way mille does: PyG's hop order (seeds,
then each hop's new nodes), up to ``fanout`` distinct in-neighbours per frontier node (all of
them when the degree is at most the fan-out), features gathered once for the union.
"""

from typing import List, Tuple

import numpy as np


def distinct_positions(degrees: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, k]`` distinct positions in ``0..degrees[i]`` for rows with degree > k (Floyd's
    algorithm, vectorised over the rows: k steps of an ``[n, k]`` comparison)."""
    n = len(degrees)
    chosen = np.empty((n, k), dtype=np.int64)
    for j in range(k):
        top = degrees - k + j  # draw from 0..=top
        t = (rng.random(n) * (top + 1)).astype(np.int64)
        taken = (chosen[:, :j] == t[:, None]).any(axis=1) if j else np.zeros(n, dtype=bool)
        chosen[:, j] = np.where(taken, top, t)
    return chosen


def sample(indptr: np.ndarray, indices: np.ndarray, seeds: np.ndarray, fanouts: List[int],
           rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (n_id, sources, targets): global ids of the sampled nodes and, per sampled edge,
    its source and target as local ids."""
    n_id = [seeds.astype(np.int64)]
    local = {}  # filled lazily through np.unique below
    frontier = seeds.astype(np.int64)
    srcs, dsts = [], []
    known = seeds.astype(np.int64)
    offset = 0
    for k in fanouts:
        lo, hi = indptr[frontier].astype(np.int64), indptr[frontier + 1].astype(np.int64)
        deg = hi - lo
        small = deg <= k
        # Rows with degree <= k: every entry.
        d_small = deg[small]
        rows_small = np.repeat(np.nonzero(small)[0], d_small)
        starts = np.repeat(lo[small] - np.cumsum(np.concatenate([[0], d_small[:-1]])), d_small)
        pos_small = starts + np.arange(d_small.sum())
        # Rows with degree > k: k distinct positions.
        big = np.nonzero(~small)[0]
        pos_big = (distinct_positions(deg[big], k, rng) + lo[big, None]).ravel()
        rows_big = np.repeat(big, k)
        rows = np.concatenate([rows_small, rows_big])
        pos = np.concatenate([pos_small, pos_big])
        src = indices[pos].astype(np.int64)
        # New nodes in order of first appearance, after those known already.
        uniq, first = np.unique(src, return_index=True)
        new = uniq[~np.isin(uniq, known)]
        order = np.argsort(first[np.isin(uniq, new)], kind="stable")
        new = new[order]
        known = np.concatenate([known, new])
        srcs.append(src)
        dsts.append(rows + offset)
        offset += len(frontier)
        n_id.append(new)
        frontier = new
    del local
    n_id = np.concatenate(n_id)
    # Global -> local through a sort of the sampled ids.
    order = np.argsort(n_id, kind="stable")
    src = np.concatenate(srcs)
    src_local = order[np.searchsorted(n_id[order], src)]
    return n_id, src_local, np.concatenate(dsts)
