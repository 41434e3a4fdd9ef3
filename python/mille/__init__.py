"""mille for Python: graph stores, partitions and a prefetching subgraph loader for PyTorch Geometric.

A PyG training loop changes two lines::

    import mille
    store = mille.Store("data/cora")                      # mille.prepare(...) makes one
    loader = mille.Loader(store, parts=10, workers=2)     # random clustering, redrawn per epoch
    for epoch in range(epochs):
        for batch in loader.epoch(epoch):
            data = batch.to_pyg()                         # torch_geometric.data.Data
            ...

Every array is a NumPy view of memory the Rust side owns (the store's memory map, a batch's
buffers): ``torch.from_numpy`` makes a tensor of it without a copy. Waiting for a batch releases
the GIL; Ctrl-C stops the worker threads at once; a worker's error is raised as
:class:`MilleError`.
"""

from ._mille import (
    Batch,
    Epoch,
    Loader,
    MilleError,
    Store,
    __version__,
    partition,
    prepare,
    shard,
    synth,
)

__all__ = [
    "Batch",
    "Epoch",
    "Loader",
    "MilleError",
    "Store",
    "__version__",
    "partition",
    "prepare",
    "shard",
    "synth",
]
