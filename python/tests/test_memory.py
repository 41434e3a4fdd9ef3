"""Arrays are views of Rust-owned memory, not copies."""

import numpy as np
import torch

import mille


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_batch_arrays_are_views_of_the_batch(cora):
    batch = next(iter(mille.Loader(cora, parts=2)))
    x = batch.x
    assert x.base is batch, "the array's base object is the Rust batch that owns the memory"
    assert address(batch.x) == address(x), "every access views the same buffer"
    assert not x.flags.owndata
    t = torch.from_numpy(x)
    assert t.data_ptr() == address(x)
    for name in ("edge_index", "y", "n_id", "train_mask", "e_id"):
        a = getattr(batch, name)
        assert a.base is batch, name
        assert torch.from_numpy(a).data_ptr() == address(a), name
    data = batch.to_pyg()
    assert data.x.data_ptr() == address(x) and data.edge_index.data_ptr() == address(batch.edge_index)
    # The memory outlives the batch object while an array needs it.
    del batch, data
    assert t.sum().item() == x.sum()


def test_store_features_are_a_read_only_view_of_the_map(cora):
    f = cora.features()
    assert f.base is cora and not f.flags.writeable and not f.flags.owndata
    assert address(cora.features()) == address(f)
    assert f.shape == (2708, 1433) and f.dtype == np.float32
    labels = cora.labels()
    assert labels.base is cora and not labels.flags.writeable
