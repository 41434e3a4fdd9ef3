"""Neighbour-sampled batches from Python: PyG's layout, and GraphSAGE on Cora; GraphSAINT; and a
distributed job's ranks sharing an epoch."""

import numpy as np
import pytest

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


def test_pyg_trim_to_layer_keeps_exactly_the_edges_into_the_remaining_hops(cora):
    """PyG's own trim_to_layer, layer by layer on a 2-hop batch: what it keeps must be the edges
    whose target lies in the hops a layer still needs, and a GATConv must run on every trimmed
    graph (the layout PyG's hierarchical models rely on)."""
    import torch
    from torch_geometric.nn import GATConv
    from torch_geometric.utils import trim_to_layer

    conv = GATConv(cora.features().shape[1], 8, heads=1)
    for batch in mille.Loader(cora, fanouts=[5, 3], batch_size=32, seed=3).epoch(0):
        data = batch.to_pyg()
        x, edge_index = data.x, data.edge_index
        nodes, edges = data.num_sampled_nodes, data.num_sampled_edges
        for layer in range(2):
            x, edge_index, _ = trim_to_layer(layer, nodes, edges, x, edge_index)
            # Layer `layer` updates hops 0 .. 1 - layer: targets below that many nodes, sources
            # within the nodes kept.
            targets = sum(nodes[: 2 - layer])
            kept = data.edge_index[:, : sum(edges[: 2 - layer])]
            assert torch.equal(edge_index, kept)
            assert int(edge_index[1].max()) < targets and int(edge_index.max()) < x.shape[0]
            assert conv(x, edge_index).shape == (x.shape[0], 8)


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


def test_graphsaint_batches_are_induced_subgraphs_with_their_coefficients(cora):
    loader = mille.Loader(cora, roots=10, walk_length=3, coverage=100, self_loops=True, seed=2)
    indptr, indices = cora.indptr(), cora.indices()
    train = set(cora.split()["train"].tolist())
    plan = loader.plan(0)
    assert len(loader) == len(plan) == -(-140 // 40), "T / (roots (walk_length + 1)) batches"
    total, batches = 0.0, 0
    for epoch in range(40):
        for batch, roots in zip(loader.epoch(epoch), loader.plan(epoch)):
            n_id = batch.n_id
            assert set(roots.tolist()) <= train and set(roots.tolist()) <= set(n_id.tolist())
            member = {v: i for i, v in enumerate(n_id.tolist())}
            # The induced subgraph, brute force: every graph edge between two of its nodes, plus
            # a self loop on each node without one.
            want = set()
            for v in n_id.tolist():
                row = indices[indptr[v] : indptr[v + 1]].tolist()
                want |= {(member[u], member[v]) for u in row if u in member}
                want.add((member[v], member[v]))
            assert set(zip(batch.edge_index[0].tolist(), batch.edge_index[1].tolist())) == want
            assert batch.node_norm.shape == (batch.num_nodes,) and batch.node_norm.dtype == np.float32
            assert batch.edge_norm.shape == (batch.num_edges,) and (batch.edge_norm >= 1.0 - 1e-6).all()
            loops = batch.e_id < 0
            np.testing.assert_array_equal(batch.edge_norm[loops], 1.0)
            has_loop = np.array([v in indices[indptr[v] : indptr[v + 1]] for v in n_id.tolist()])
            np.testing.assert_array_equal(batch.degree, np.diff(indptr)[n_id] + ~has_loop)
            total += float(batch.node_norm[batch.train_mask].sum())
            batches += 1
            data = batch.to_pyg()
            assert data.node_norm.shape[0] == batch.num_nodes and data.edge_norm.shape[0] == batch.num_edges
    # Summed over a batch's training nodes, the loss weights estimate the mean: 1 on average.
    assert abs(total / batches - 1.0) < 0.08, total / batches


def test_graphsaint_node_sampler_and_its_argument_errors(cora):
    loader = mille.Loader(cora, budget=50, coverage=20)
    degree = np.diff(cora.indptr())
    for batch, nodes in zip(loader.epoch(0), loader.plan(0)):
        np.testing.assert_array_equal(batch.n_id, nodes)
        assert (degree[batch.n_id] > 0).all(), "drawn by in-degree"
        assert batch.node_norm is not None
    assert mille.Loader(cora, parts=4).epoch(0).__next__().node_norm is None
    for bad, says in [
        (dict(roots=5, budget=5), "give one sampler"),
        (dict(roots=5, parts=3), "give no parts"),
        (dict(budget=0), "at least 1"),
        (dict(roots=5, coverage=0), "coverage must be at least 1"),
    ]:
        try:
            mille.Loader(cora, **bad)
        except ValueError as e:
            assert says in str(e), (bad, e)
        else:
            raise AssertionError(f"{bad} was accepted")


@pytest.mark.parametrize(
    "kwargs", [dict(parts=7), dict(fanouts=[10, 5], batch_size=300), dict(roots=200, walk_length=2, coverage=5)]
)
def test_ranks_of_a_distributed_job_share_an_epoch_batch_for_batch(cora, kwargs):
    whole = [(b.n_id.copy(), b.edge_index.copy()) for b in mille.Loader(cora, seed=3, **kwargs).epoch(2)]
    world = 3
    for rank in range(world):
        # A fresh loader per rank, as each process of a job builds its own.
        share = mille.Loader(cora, seed=3, **kwargs).epoch(2, rank=rank, world_size=world)
        mine = [(b.n_id.copy(), b.edge_index.copy()) for b in share]
        want = whole[rank::world]
        assert len(mine) == len(want)
        for (n, e), (wn, we) in zip(mine, want):
            np.testing.assert_array_equal(n, wn)
            np.testing.assert_array_equal(e, we)
    with pytest.raises(ValueError, match="rank 3 of world_size 3"):
        mille.Loader(cora, parts=2).epoch(0, rank=3, world_size=3)
