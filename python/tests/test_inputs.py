"""The authors' inputs from Python: ogbn-proteins-like stores carry each node's full-graph sum of
its edges' features, and ``to_undirected`` gives the bidirected graph without duplicates."""

from pathlib import Path

import numpy as np

import mille


def test_proteins_like_features_are_full_graph_edge_sums(tmp_path: Path) -> None:
    raw = mille.synth(tmp_path / "raw", nodes=800, avg_degree=10, classes=4, like="proteins", tasks=6)
    store = mille.Store(mille.prepare(raw, "p", tmp_path, add_inverse_edge=True, verbose=False))
    x = store.features()
    assert x.shape == (800, 8)
    # Brute force from the store's own CSR: every entry's features summed at its source.
    want = np.zeros((800, 8), dtype=np.float64)
    np.add.at(want, store.indices().astype(np.int64), store.edge_attr().astype(np.float64))
    np.testing.assert_allclose(x, want, rtol=1e-5, atol=1e-5)
    assert store.is_multilabel and store.num_tasks == 6
    assert set(store.split_names) == {"species"}


def test_to_undirected_merges_citations_given_both_ways(tmp_path: Path) -> None:
    raw = mille.synth(tmp_path / "raw", nodes=1000, avg_degree=8, features=4, classes=5, like="arxiv")
    directed = mille.Store(mille.prepare(raw, "d", tmp_path, verbose=False))
    both = mille.Store(mille.prepare(raw, "u", tmp_path, to_undirected=True, verbose=False))
    src, dst = directed.edge_index()
    pairs = set(zip(src.tolist(), dst.tolist())) | set(zip(dst.tolist(), src.tolist()))
    s2, d2 = both.edge_index()
    got = list(zip(s2.tolist(), d2.tolist()))
    assert len(got) == len(set(got)) == len(pairs)
    assert set(got) == pairs
