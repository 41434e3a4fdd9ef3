"""DGL's neighbour sampler on a mille store: the peer of `tools/bench loader --sampler neighbor`.

DGL pairs with an older torch than mille's, so this runs in a virtualenv of its own
(`tools/peers/dgl-setup` makes it) and reads the store's arrays directly (memory-mapped). Per batch
it does what DGL's `NeighborSampler` does for one mini-batch, hop by hop from the seeds:
`dgl.sampling.sample_neighbors` (in-edges, without replacement) then `dgl.to_block` (relabelling,
seeds first), and at the end gathers the input nodes' features and the seeds' labels. Fan-outs are
taken in mille's order (the first at the seeds), so both samplers draw the same edges' worth.
Prints one JSON line: sampled edges/s, seeds/s, GB/s of batch data.

    ~/.cache/mille/dgl-venv/bin/python tools/peers/dgl_sample.py STORE --fanouts 15 10 5 --batch-size 1024
"""

import argparse
import json
import os
import time
import warnings

import numpy as np
import torch

import dgl

DTYPES = {"u32": np.uint32, "u64": np.uint64, "f32": np.float32, "i32": np.int32, "i8": np.int8, "i64": np.int64}


def array(store, meta, name):
    a = meta["arrays"][name]
    return np.memmap(os.path.join(store, a["file"]), dtype=DTYPES[a["dtype"]], mode="r", shape=tuple(a["shape"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--fanouts", type=int, nargs="+", default=[15, 10, 5])
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=20, help="batches timed (after one warm-up batch)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with open(os.path.join(a.store, "meta.json")) as f:
        meta = json.load(f)
    n = meta["num_nodes"]
    indptr = torch.from_numpy(array(a.store, meta, "indptr").astype(np.int64))
    indices = torch.from_numpy(array(a.store, meta, "indices").astype(np.int64))
    # mille's CSR is by target (row v = sources of v's in-edges): DGL's CSC.
    g = dgl.graph(("csc", (indptr, indices, torch.tensor([], dtype=torch.int64))), num_nodes=n)
    with warnings.catch_warnings():  # read-only map: the features are only read
        warnings.simplefilter("ignore", UserWarning)
        feat = torch.from_numpy(np.asarray(array(a.store, meta, "node_feat")))
    labels = torch.from_numpy(np.asarray(array(a.store, meta, "labels")).astype(np.int64))
    split = meta["splits"][0]
    train = torch.from_numpy(array(a.store, meta, f"split/{split}/train").astype(np.int64))
    order = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(a.seed))]

    def batch(i):
        seeds = order[i * a.batch_size : (i + 1) * a.batch_size]
        out, edges = seeds, 0
        for fanout in a.fanouts:
            frontier = dgl.sampling.sample_neighbors(g, seeds, fanout, replace=False)
            block = dgl.to_block(frontier, seeds)
            edges += block.num_edges()
            seeds = block.srcdata[dgl.NID]
        x, y = feat[seeds], labels[out]
        nbytes = x.numel() * 4 + y.numel() * 8 + edges * 16 + seeds.numel() * 8
        return edges, len(out), nbytes

    batch(0)  # warm-up: page cache, allocator, DGL's lazy formats
    t = time.perf_counter()
    edges = seeds = nbytes = 0
    for i in range(1, 1 + a.batches):
        e, s, b = batch(i)
        edges, seeds, nbytes = edges + e, seeds + s, nbytes + b
    secs = time.perf_counter() - t
    print(json.dumps({
        "peer": f"dgl {dgl.__version__} (torch {torch.__version__}, {torch.get_num_threads()} threads)",
        "batches": a.batches, "edges_per_second": edges / secs, "seeds_per_second": seeds / secs,
        "gb_per_second": nbytes / 1e9 / secs,
    }))


if __name__ == "__main__":
    main()
