"""PyG's grouped reversible GNN (``GroupAddRev`` over SAGEConv blocks) on a products-like store,
trained on mille's random-clustering batches and evaluated with multi-view inference.

    tools/python python/examples/pyg_revgnn.py [--store DIR] [--layers 28] [--hidden 64] [--epochs 20]

Without ``--store`` it synthesises a products-like graph (``mille.synth``, 20,000 nodes) and
prepares it under ``data/py-products-like``. Every epoch is a fresh random clustering into
``--parts`` parts (one batch each, the paper's protocol); evaluation averages the softmax of
``--views`` independent random clusterings into ``--eval-parts`` parts (multi-view inference)
and reports it beside a single view's accuracy.
"""

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GroupAddRev, SAGEConv

import mille


class Block(nn.Module):
    """One group's function: LayerNorm, ReLU, the shared dropout mask, SAGEConv."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.conv = SAGEConv(channels, channels)

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.conv.reset_parameters()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(x).relu()
        if mask is not None:
            x = x * mask
        return self.conv(x, edge_index)


class RevGNN(nn.Module):
    """Linear in, `layers` reversible blocks of `groups` groups, LayerNorm, linear out."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, layers: int, groups: int, dropout: float):
        super().__init__()
        self.dropout, self.groups = dropout, groups
        self.lin_in = nn.Linear(in_channels, hidden)
        self.blocks = nn.ModuleList(
            GroupAddRev(Block(hidden // groups), num_groups=groups) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.lin_out = nn.Linear(hidden, out_channels)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = self.lin_in(x)
        mask = None
        if self.training and self.dropout > 0:
            # One mask per step, shared by every block: reversibility needs the same dropout
            # in the backward recomputation.
            keep = 1 - self.dropout
            mask = torch.empty(x.size(0), x.size(1) // self.groups).bernoulli_(keep) / keep
        for block in self.blocks:
            x = block(x, edge_index, mask)
        x = F.dropout(self.norm(x).relu(), p=self.dropout, training=self.training)
        return self.lin_out(x)


def products_like(nodes: int) -> mille.Store:
    """A synthetic products-like store under data/, made on first use."""
    target = Path("data") / f"py-products-like-{nodes}"
    if not (target / "meta.json").exists():
        raw = Path("data") / f"py-products-like-{nodes}-raw"
        if not (raw / "raw").is_dir():
            mille.synth(raw, nodes=nodes, seed=0)
        mille.prepare(raw, target.name, "data", add_inverse_edge=True, overwrite=True, verbose=False)
    return mille.Store(target)


@torch.no_grad()
def evaluate(model: nn.Module, store: mille.Store, views: int, parts: int, seed: int) -> dict:
    """Accuracy on the split's train/valid/test nodes, from view 0 alone and from all views."""
    model.eval()
    n, c = store.num_nodes, store.num_classes
    first = torch.zeros(n, c)
    summed = torch.zeros(n, c)
    y = torch.full((n,), -1, dtype=torch.long)
    masks = {k: torch.zeros(n, dtype=torch.bool) for k in ("train", "valid", "test")}
    for batch in mille.Loader(store, views=views, parts=parts, seed=seed).epoch(0):
        data = batch.to_pyg()
        prob = model(data.x, data.edge_index).softmax(dim=-1)
        summed.index_add_(0, data.n_id, prob)
        if batch.view == 0:
            first[data.n_id] = prob
            y[data.n_id] = data.y
            for k, m in zip(masks, (data.train_mask, data.val_mask, data.test_mask)):
                masks[k][data.n_id] = m
    out = {}
    for name, probs in (("single_view", first), ("multi_view", summed)):
        pred = probs.argmax(dim=-1)
        out[name] = {k: (pred[m] == y[m]).float().mean().item() for k, m in masks.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", help="a prepared store (default: synthesise a products-like one)")
    ap.add_argument("--nodes", type=int, default=20_000, help="nodes of the synthetic graph")
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.5)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--parts", type=int, default=10, help="random parts (= batches) per training epoch")
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--eval-parts", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object at the end")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    store = mille.Store(a.store) if a.store else products_like(a.nodes)
    model = RevGNN(store.feature_dim, a.hidden, store.num_classes, a.layers, a.groups, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loader = mille.Loader(store, parts=a.parts, workers=a.workers, seed=a.seed)
    for epoch in range(a.epochs):
        model.train()
        total, count = 0.0, 0
        for batch in loader.epoch(epoch):
            data = batch.to_pyg()
            opt.zero_grad()
            out = model(data.x, data.edge_index)
            loss = F.cross_entropy(out[data.train_mask], data.y[data.train_mask])
            loss.backward()
            opt.step()
            total += loss.item() * int(data.train_mask.sum())
            count += int(data.train_mask.sum())
        if not a.json:
            print(f"epoch {epoch + 1:3d}/{a.epochs}  loss {total / max(count, 1):.4f}", flush=True)
    acc = evaluate(model, store, a.views, a.eval_parts, a.seed)
    if a.json:
        print(json.dumps({"layers": a.layers, "hidden": a.hidden, "epochs": a.epochs, **acc}))
    else:
        for name, r in acc.items():
            print(f"{name:11s}  train {r['train']:.4f}  valid {r['valid']:.4f}  test {r['test']:.4f}")


if __name__ == "__main__":
    main()
