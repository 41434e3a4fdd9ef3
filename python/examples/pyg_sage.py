"""PyG's GraphSAGE on Cora, trained on mille's neighbour-sampled batches (fan-outs 25, 10).

    tools/python python/examples/pyg_sage.py [--store DIR] [--seeds 0 1 2] [--fanouts 25 10]

Each epoch shuffles the 140 training nodes into batches of ``--batch-size`` seeds and samples up
to 25 in-neighbours of every seed, then up to 10 of every node reached, as PyG's
``NeighborLoader`` does; the loss is on the seeds (each batch's first ``batch_size`` nodes).
Evaluation runs the model on the whole graph (full neighbourhoods: on a graph this small that
is exact and cheap). Reports the test accuracy at the best validation epoch.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.nn import SAGEConv

import mille

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pyg_gcn import cora_store, val_test  # noqa: E402


class SAGE(torch.nn.Module):
    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float):
        super().__init__()
        self.conv1 = SAGEConv(in_channels, hidden)
        self.conv2 = SAGEConv(hidden, out_channels)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


def normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.sum(dim=1, keepdim=True).clamp(min=1)


def run(store: mille.Store, seed: int, epochs: int, fanouts: list, batch_size: int) -> float:
    torch.manual_seed(seed)
    loader = mille.Loader(store, fanouts=fanouts, batch_size=batch_size, seed=seed)
    full = next(iter(mille.Loader(store, full=True))).to_pyg()
    x_full = normalise(full.x)
    model = SAGE(store.feature_dim, 64, store.num_classes, 0.5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best_val, best_test = -1.0, 0.0
    for epoch in range(epochs):
        model.train()
        for batch in loader.epoch(epoch):
            data = batch.to_pyg()
            opt.zero_grad()
            out = model(normalise(data.x), data.edge_index)[: data.batch_size]
            F.cross_entropy(out, data.y[: data.batch_size]).backward()
            opt.step()
        val, test = val_test(model, x_full, full)
        if val > best_val:
            best_val, best_test = val, test
    return best_test


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", help="a prepared Cora store (default: prepare one under data/)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--fanouts", type=int, nargs="+", default=[25, 10])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    store = mille.Store(a.store) if a.store else cora_store()
    accs = [run(store, s, a.epochs, a.fanouts, a.batch_size) for s in a.seeds]
    mean = sum(accs) / len(accs)
    if a.json:
        print(json.dumps({"test_accuracy": accs, "mean": mean, "seeds": a.seeds, "fanouts": a.fanouts}))
    else:
        for s, acc in zip(a.seeds, accs):
            print(f"seed {s}: test accuracy {acc:.4f}")
        print(f"Cora, GraphSAGE on fan-outs {a.fanouts}: mean test accuracy {mean:.4f} over {len(accs)} seeds")


if __name__ == "__main__":
    main()
