"""mille.shard: a store cut into one store per part, every node in exactly one shard with its
features, labels and split membership, and exactly the edges among its part's nodes."""

from pathlib import Path

import numpy as np
import pytest

import mille


def test_shards_hold_every_node_once_with_its_data_and_the_edges_inside_its_part(cora: mille.Store, tmp_path: Path) -> None:
    part = mille.partition(cora, 3, method="metis")
    paths = mille.shard(cora, part, tmp_path / "shards", method="metis")
    assert [p.name for p in paths] == ["shard-0", "shard-1", "shard-2"]
    assert cora.global_id is None
    x, y = cora.features(), cora.labels()
    src = cora.edge_index()
    inside = part[src[0]] == part[src[1]]
    seen = np.zeros(cora.num_nodes, dtype=np.int64)
    kept = 0
    split = cora.split()
    for r, path in enumerate(paths):
        s = mille.Store(path)
        g = s.global_id.astype(np.int64)
        seen[g] += 1
        assert (part[g] == r).all()
        np.testing.assert_array_equal(s.features(), x[g])
        np.testing.assert_array_equal(s.labels(), y[g])
        # The shard's edges, in source ids, are the source's edges with both ends in part r.
        e = g[s.edge_index()]
        want = src[:, inside & (part[src[1]] == r)]
        np.testing.assert_array_equal(e, want)
        kept += s.num_edges
        for key in ("train", "valid", "test"):
            mine = np.sort(g[s.split()[key]])
            np.testing.assert_array_equal(mine, np.sort(split[key][part[split[key]] == r]))
    assert (seen == 1).all()
    assert kept == int(inside.sum())


def test_a_bad_cut_is_refused_and_leaves_nothing(cora: mille.Store, tmp_path: Path) -> None:
    part = np.zeros(cora.num_nodes, dtype=np.int32)
    part[0] = 2  # part 1 empty
    with pytest.raises(mille.MilleError, match="part 1 of 3 is empty"):
        mille.shard(cora, part, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="entries for a store of 2708 nodes"):
        mille.shard(cora, part[:10], tmp_path / "out")
