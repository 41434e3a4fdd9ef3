"""Batches from Python against the Rust loader's (`tools/store batches`) and against a
brute-force induced subgraph of the store's CSR."""

import numpy as np
import pytest

import mille
from conftest import tool


def rust_batches(store: mille.Store, tmp_path, *args) -> list:
    out = tmp_path / "rust"
    tool("store", "batches", store.path, out, *args)
    found = []
    for i in range(len(list(out.iterdir()))):
        d = out / f"batch-{i}"
        found.append({p.stem: np.load(p) for p in d.glob("*.npy")})
    return found


def coo(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """PyG's [2, E] from a CSR by target: row 0 sources, row 1 targets."""
    targets = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr.astype(np.int64)))
    return np.stack([indices.astype(np.int64), targets])


def assert_same(py: mille.Batch, rs: dict) -> None:
    np.testing.assert_array_equal(py.n_id, rs["nodes"].astype(np.int64))
    np.testing.assert_array_equal(py.indptr, rs["indptr"].astype(np.int64))
    np.testing.assert_array_equal(py.indices, rs["indices"])
    np.testing.assert_array_equal(py.edge_index, coo(rs["indptr"], rs["indices"]))
    np.testing.assert_array_equal(py.e_id, rs["edge_pos"].view(np.int64))
    np.testing.assert_array_equal(py.x, rs["features"])
    if rs["edge_features"].shape[1]:
        np.testing.assert_array_equal(py.edge_attr, rs["edge_features"])
    else:
        assert py.edge_attr is None
    labels = rs["labels"]
    if labels.ndim == 2:
        np.testing.assert_array_equal(py.y, labels.astype(np.float32))
        assert py.y.dtype == np.float32
    else:
        np.testing.assert_array_equal(py.y, labels.astype(np.int64))
        assert py.y.dtype == np.int64
    np.testing.assert_array_equal(py.train_mask, rs["train_mask"])
    np.testing.assert_array_equal(py.val_mask, rs["valid_mask"])
    np.testing.assert_array_equal(py.test_mask, rs["test_mask"])
    assert py.view == int(rs["view"][0])


@pytest.mark.parametrize(
    "kwargs,args",
    [
        (dict(parts=4, seed=3), ["--parts", 4, "--seed", 3, "--epoch", 1]),
        (dict(views=2, parts=3, seed=5), ["--views", 2, "--parts", 3, "--seed", 5, "--epoch", 1]),
        (dict(parts=3, seed=1, self_loops=True), ["--parts", 3, "--seed", 1, "--epoch", 1, "--self-loops"]),
    ],
)
def test_cora_batches_equal_the_rust_loaders(cora, tmp_path, kwargs, args):
    expected = rust_batches(cora, tmp_path, *args)
    got = list(mille.Loader(cora, workers=2, **kwargs).epoch(1))
    assert len(got) == len(expected) > 1
    for py, rs in zip(got, expected):
        assert_same(py, rs)


def test_cluster_gcn_batches_of_a_metis_partition_equal_the_rust_loaders(cora, tmp_path):
    parts = mille.partition(cora, 8, method="metis", seed=0)
    assert parts.dtype == np.int32 and parts.shape == (cora.num_nodes,) and set(parts) == set(range(8))
    expected = rust_batches(cora, tmp_path, "--sampler", "metis", "--metis-parts", 8, "--parts", 4, "--epoch", 2)
    got = list(mille.Loader(cora, partition=parts, per_batch=2).epoch(2))
    assert len(got) == len(expected) == 4
    for py, rs in zip(got, expected):
        assert_same(py, rs)


def test_proteins_batches_with_edge_features_and_tasks_equal_the_rust_loaders(proteins, tmp_path):
    assert proteins.is_multilabel and proteins.edge_feature_dim > 0
    expected = rust_batches(proteins, tmp_path, "--parts", 3, "--seed", 2)
    got = list(mille.Loader(proteins, parts=3, seed=2).epoch(0))
    assert len(got) == len(expected) == 3
    for py, rs in zip(got, expected):
        assert py.edge_attr is not None and py.y.ndim == 2
        assert_same(py, rs)
        # Edge features are the store's rows at e_id.
        np.testing.assert_array_equal(py.edge_attr, proteins.edge_attr()[py.e_id])


def test_edge_index_holds_exactly_the_induced_subgraph(cora):
    indptr, indices = cora.indptr(), cora.indices()
    for batch in mille.Loader(cora, parts=5, seed=7).epoch(0):
        n_id = batch.n_id
        inside = np.zeros(cora.num_nodes, dtype=bool)
        inside[n_id] = True
        want = set()
        for v in n_id:
            for u in indices[indptr[v] : indptr[v + 1]]:
                if inside[u]:
                    want.add((int(u), int(v)))
        src, dst = n_id[batch.edge_index[0]], n_id[batch.edge_index[1]]
        got = list(zip(src.tolist(), dst.tolist()))
        assert len(got) == len(set(got)) == len(want)
        assert set(got) == want
        np.testing.assert_array_equal(batch.x, cora.features()[n_id])
        np.testing.assert_array_equal(batch.y, cora.labels()[n_id])


def test_a_random_epoch_covers_every_node_once_and_iterating_the_loader_follows_set_epoch(cora):
    loader = mille.Loader(cora, parts=6, seed=0)
    assert len(loader) == 6
    loader.set_epoch(4)
    seen = np.concatenate([b.n_id for b in loader])
    np.testing.assert_array_equal(np.sort(seen), np.arange(cora.num_nodes))
    assert [b.n_id.tolist() for b in loader] == [p.tolist() for p in loader.plan(4)]
    assert [b.n_id.tolist() for b in loader.epoch(4)] != [b.n_id.tolist() for b in loader.epoch(5)]


def test_the_store_speaks_for_its_arrays(cora):
    assert (cora.num_nodes, cora.num_edges, cora.feature_dim, cora.num_classes) == (2708, 10556, 1433, 7)
    split = cora.split("public")
    assert {k: len(v) for k, v in split.items()} == {"train": 140, "valid": 500, "test": 1000}
    assert split["train"].dtype == np.int64
    ei = cora.edge_index()
    np.testing.assert_array_equal(ei, coo(cora.indptr(), cora.indices()))
    with pytest.raises(ValueError, match="has no split \"nope\""):
        cora.split("nope")
    assert cora.labels().dtype == np.int32 and cora.labels().max() == 6
    cora.verify()
