"""Neighbour-sampled batches from Python: PyG's layout, and GraphSAGE on Cora."""

import numpy as np

import mille
from test_examples import run


def test_sampled_batches_put_seeds_first_and_only_sample_graph_edges(cora):
    loader = mille.Loader(cora, fanouts=[4, 2], batch_size=16, seed=1)
    train = set(cora.split()["train"].tolist())
    indptr, indices = cora.indptr(), cora.indices()
    seeds = []
    for batch in loader.epoch(0):
        n_id = batch.n_id
        assert len(set(n_id.tolist())) == len(n_id)
        assert batch.batch_size == batch.num_sampled_nodes[0] <= 16
        assert sum(batch.num_sampled_nodes) == batch.num_nodes and len(batch.num_sampled_nodes) == 3
        assert sum(batch.num_sampled_edges) == batch.num_edges
        seeds += n_id[: batch.batch_size].tolist()
        src, dst = n_id[batch.edge_index[0]], n_id[batch.edge_index[1]]
        for u, v in zip(src.tolist(), dst.tolist()):
            assert u in indices[indptr[v] : indptr[v + 1]]
        # Hop 0's edges end at seeds, each seed with min(degree, 4) of them.
        hop0 = batch.edge_index[1][: batch.num_sampled_edges[0]]
        counts = np.bincount(hop0, minlength=batch.batch_size)
        degrees = np.diff(indptr)[n_id[: batch.batch_size]]
        np.testing.assert_array_equal(counts, np.minimum(degrees, 4))
        np.testing.assert_array_equal(batch.x, cora.features()[n_id])
        data = batch.to_pyg()
        assert data.batch_size == batch.batch_size and data.num_sampled_nodes == batch.num_sampled_nodes
    assert sorted(seeds) == sorted(train)


def test_pyg_graphsage_on_fanouts_25_10_reaches_78_percent_on_cora(cora):
    r = run("pyg_sage.py", "--store", cora.path, "--seeds", 0, 1, 2)
    assert r["mean"] >= 0.78, r


def test_the_numpy_reference_sampler_samples_like_mille(cora):
    from mille.reference import sample

    indptr, indices = cora.indptr(), cora.indices()
    seeds = cora.split()["train"][:20]
    n_id, src, dst = sample(indptr, indices, seeds, [5, 3], np.random.default_rng(0))
    np.testing.assert_array_equal(n_id[:20], seeds)
    assert len(set(n_id.tolist())) == len(n_id)
    for u, v in zip(n_id[src].tolist(), n_id[dst].tolist()):
        assert u in indices[indptr[v] : indptr[v + 1]]
    counts = np.bincount(dst, minlength=len(n_id))[:20]
    np.testing.assert_array_equal(counts, np.minimum(np.diff(indptr)[seeds], 5))
