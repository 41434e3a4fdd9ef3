"""PyG's two-layer GCN on Cora, fed by mille: the whole graph as one batch of ``mille.Loader``.

    tools/python python/examples/pyg_gcn.py [--store DIR] [--seeds 0 1 2] [--epochs 200]

Without ``--store`` it prepares Cora from ``$MILLE_DATASETS/cora`` (default
``../shared/datasets/cora`` beside the repository) into ``data/py-cora``. The model, features
and schedule are Kipf & Welling's (hidden 16, dropout 0.5, Adam lr 0.01, weight decay 5e-4,
row-normalised features, 200 epochs; published test accuracy 81.5 %); the reported accuracy is
the test accuracy at the epoch of best validation accuracy.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

import mille


class GCN(torch.nn.Module):
    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden, cached=True)
        self.conv2 = GCNConv(hidden, out_channels, cached=True)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = F.dropout(x, p=self.dropout, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.conv2(x, edge_index)


def cora_store() -> mille.Store:
    """Cora's store under data/, prepared from the shared datasets on first use."""
    root = Path(os.environ.get("MILLE_DATASETS", Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"))
    src = root / "cora"
    target = Path("data") / "py-cora"
    if not (target / "meta.json").exists():
        if not (src / "raw").is_dir():
            sys.exit(f"Cora not found at {src} (no raw/): set MILLE_DATASETS to a folder holding cora/ in OGB's raw layout")
        mille.prepare(src, "py-cora", "data", overwrite=True, verbose=False)
    return mille.Store(target)


@torch.no_grad()
def val_test(model: torch.nn.Module, x: torch.Tensor, data) -> tuple:
    """Validation and test accuracy of `model` on the whole graph `data`."""
    model.eval()
    pred = model(x, data.edge_index).argmax(dim=1)
    return tuple((pred[m] == data.y[m]).float().mean().item() for m in (data.val_mask, data.test_mask))


def run(store: mille.Store, seed: int, epochs: int) -> float:
    """Trains one model; returns the test accuracy at the best validation epoch."""
    torch.manual_seed(seed)
    batch = next(iter(mille.Loader(store, full=True, seed=seed)))
    data = batch.to_pyg()
    x = data.x / data.x.sum(dim=1, keepdim=True).clamp(min=1)  # PyG's NormalizeFeatures
    model = GCN(store.feature_dim, 16, store.num_classes, 0.5)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    best_val, best_test = -1.0, 0.0
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(x, data.edge_index)
        F.cross_entropy(out[data.train_mask], data.y[data.train_mask]).backward()
        opt.step()
        val, test = val_test(model, x, data)
        if val > best_val:
            best_val, best_test = val, test
    return best_test


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", help="a prepared Cora store (default: prepare one under data/)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    store = mille.Store(a.store) if a.store else cora_store()
    accs = [run(store, s, a.epochs) for s in a.seeds]
    mean = sum(accs) / len(accs)
    if a.json:
        print(json.dumps({"test_accuracy": accs, "mean": mean, "seeds": a.seeds}))
    else:
        for s, acc in zip(a.seeds, accs):
            print(f"seed {s}: test accuracy {acc:.4f}")
        print(f"Cora, GCN through mille.Loader: mean test accuracy {mean:.4f} over {len(accs)} seeds (published GCN: 0.815)")


if __name__ == "__main__":
    main()
