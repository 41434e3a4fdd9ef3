"""PyG's RevGNN (GroupAddRev over SAGEConv blocks) trained on a mille store on any device, one
process, for a side-by-side epoch time with `tools/train --device cuda:N` on the same GPU.

The shared peer script runs on the CPU only; this one drives the same PyG model on `--device`.
It reads the store's arrays directly (memory-mapped, as mille does), draws a random partition into
`--parts` parts each epoch (the paper's random clustering), and trains on each induced subgraph.
Prints one JSON line: median epoch seconds, peak GPU memory, the last epoch's test accuracy.

    python tools/peers/pyg_revgnn_device.py STORE --device cuda:0 --layers 7 --hidden 64 --epochs 1
"""

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch_geometric.nn import GroupAddRev, SAGEConv
from torch_geometric.utils import subgraph

DTYPES = {"u32": np.uint32, "u64": np.uint64, "f32": np.float32, "i32": np.int32, "i8": np.int8, "i64": np.int64}


def array(store, meta, name):
    a = meta["arrays"][name]
    return np.memmap(os.path.join(store, a["file"]), dtype=DTYPES[a["dtype"]], mode="r", shape=tuple(a["shape"]))


class Block(torch.nn.Module):
    """LayerNorm -> ReLU -> dropout -> SAGEConv, the block of PyG's RevGNN example."""

    def __init__(self, width, dropout):
        super().__init__()
        self.norm = torch.nn.LayerNorm(width, elementwise_affine=True)
        self.conv = SAGEConv(width, width)
        self.dropout = dropout

    def reset_parameters(self):
        self.norm.reset_parameters()
        self.conv.reset_parameters()

    def forward(self, x, edge_index, dropout_mask=None):
        x = self.norm(x).relu()
        if self.training and dropout_mask is not None:
            x = x * dropout_mask
        return self.conv(x, edge_index)


class RevGNN(torch.nn.Module):
    def __init__(self, d_in, hidden, d_out, layers, groups, dropout):
        super().__init__()
        self.dropout = dropout
        self.lin1 = torch.nn.Linear(d_in, hidden)
        self.lin2 = torch.nn.Linear(hidden, d_out)
        self.norm = torch.nn.LayerNorm(hidden)
        self.convs = torch.nn.ModuleList(
            GroupAddRev(Block(hidden // groups, dropout), num_groups=groups) for _ in range(layers)
        )

    def forward(self, x, edge_index):
        x = self.lin1(x)
        mask = None
        if self.training and self.dropout > 0:
            keep = torch.zeros_like(x[:, : x.size(1) // len(self.convs[0].convs)]).bernoulli_(1 - self.dropout)
            mask = keep / (1 - self.dropout)
        for conv in self.convs:
            x = conv(x, edge_index, mask)
        x = F.dropout(self.norm(x).relu(), p=self.dropout, training=self.training)
        return self.lin2(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--layers", type=int, default=7)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--parts", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    meta = json.load(open(os.path.join(a.store, "meta.json")))
    n = meta["num_nodes"]
    indptr = torch.from_numpy(array(a.store, meta, "indptr").astype(np.int64))
    src = torch.from_numpy(array(a.store, meta, "indices").astype(np.int64))
    dst = torch.repeat_interleave(torch.arange(n), indptr[1:] - indptr[:-1])
    edge_index = torch.stack([src, dst])
    x = torch.from_numpy(np.asarray(array(a.store, meta, "node_feat")))
    y = torch.from_numpy(array(a.store, meta, "labels").astype(np.int64))
    split = meta["splits"][0]
    ids = {k: torch.from_numpy(array(a.store, meta, f"split/{split}/{k}").astype(np.int64)) for k in ("train", "valid", "test")}
    train_mask = torch.zeros(n, dtype=torch.bool)
    train_mask[ids["train"]] = True
    model = RevGNN(x.size(1), a.hidden, meta["num_classes"], a.layers, a.groups, a.dropout).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    seconds = []
    for epoch in range(a.epochs):
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
            torch.cuda.synchronize(dev)
        t = time.perf_counter()
        model.train()
        perm = torch.randperm(n)
        for part in perm.chunk(a.parts):
            part = part.sort().values
            ei, _ = subgraph(part, edge_index, relabel_nodes=True, num_nodes=n)
            xb, yb, mb = x[part].to(dev, non_blocking=True), y[part].to(dev), train_mask[part].to(dev)
            out = model(xb, ei.to(dev))
            loss = F.cross_entropy(out[mb], yb[mb])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds.append(time.perf_counter() - t)
    model.eval()
    with torch.no_grad():
        pred = model(x.to(dev), edge_index.to(dev)).argmax(1).cpu()  # the whole graph at once
    acc = {k: float((pred[v] == y[v]).float().mean()) for k, v in ids.items()}
    print(json.dumps({
        "peer": "pyg-revgnn", "device": str(dev), "epoch_seconds": seconds,
        "epoch_seconds_median": statistics.median(seconds),
        "gpu_peak_memory_bytes": torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None,
        "acc_last": acc,
    }))


if __name__ == "__main__":
    main()
