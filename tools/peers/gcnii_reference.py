"""GCNII on a Planetoid graph in OGB's raw layout, built from PyG's own parts: the reference the
reversible GCNII block (`--conv gcnii`) is compared against.

Three architectures, all with PyG's `GCN2Conv` (initial residual alpha, identity map
beta_l = ln(lambda / l + 1), one weight per layer) over the symmetric-normalised adjacency with
self loops and row-normalised features:

  plain  GCNII itself (chennnM/GCNII model.py `GCNII`): dropout -> Linear -> ReLU gives h0; each
         layer h = ReLU(conv(dropout(h), h0)); dropout -> Linear to the classes.
  res    mille's ResGNN with the GCNII block: h0 = Linear(dropout(x)); each layer
         h = h + conv(dropout(ReLU(LayerNorm(h))), h0); head LayerNorm -> ReLU -> dropout -> Linear.
  rev    mille's RevGNN with the GCNII block: PyG's GroupAddRev (2 groups) over LayerNorm -> ReLU
         -> dropout -> conv, each group reading its chunk of h0 (GroupAddRev chunks every tensor
         argument); the same h0 and head as `res`. GroupAddRev runs with disable=True: plain
         autograd through the same function, so h0's gradient is exact; the memory saving is
         not what this reference measures.

Training as GCNII's train.py: Adam lr 0.01, weight decay 0.01 on the convolutions and 5e-4 on
everything else, NLL of log-softmax on the training nodes, up to --epochs epochs, stopping after
--patience epochs without a lower validation loss; the test accuracy of the lowest-validation-loss
epoch (`--select valid-acc` takes the best validation accuracy instead, as mille's trainer does).

    python tools/peers/gcnii_reference.py --root ../shared/datasets/cora --arch plain --layers 64 --seed 0

Prints one JSON line: the settings, the selected epoch and its scores, seconds.
"""

import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GCN2Conv, GroupAddRev
from torch_geometric.nn.conv.gcn_conv import gcn_norm


def read_csv(path: str, dtype) -> np.ndarray:
    with gzip.open(path, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)


def load(root: str, split: str):
    """Features (row-normalised), the normalised adjacency with self loops as (edge_index,
    weight), labels, splits."""
    raw = os.path.join(root, "raw")
    x = torch.from_numpy(read_csv(os.path.join(raw, "node-feat.csv.gz"), np.float32))
    x = x / x.sum(1, keepdim=True).clamp(min=1e-12)
    y = torch.from_numpy(read_csv(os.path.join(raw, "node-label.csv.gz"), np.int64)).view(-1)
    edge_index = torch.from_numpy(read_csv(os.path.join(raw, "edge.csv.gz"), np.int64)).t().contiguous()
    # (edge_index, weight) through PyG's message passing: its scatter backward is far faster on
    # the CPU than a sparse CSR product's (6 s against 0.4 s an epoch at 64 layers here).
    adj = gcn_norm(edge_index, None, x.size(0), add_self_loops=True)
    masks = {}
    for part in ("train", "valid", "test"):
        ids = read_csv(os.path.join(root, "split", split, f"{part}.csv.gz"), np.int64).reshape(-1)
        masks[part] = torch.from_numpy(ids)
    return x, adj, y, masks


class Plain(nn.Module):
    def __init__(self, dim, hidden, classes, layers, alpha, lam, dropout):
        super().__init__()
        self.fcs = nn.ModuleList([nn.Linear(dim, hidden), nn.Linear(hidden, classes)])
        self.convs = nn.ModuleList(
            GCN2Conv(hidden, alpha, lam, i + 1, cached=True, normalize=False) for i in range(layers)
        )
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.dropout(x, self.dropout, self.training)
        h = h0 = self.fcs[0](x).relu()
        for conv in self.convs:
            h = F.dropout(h, self.dropout, self.training)
            h = conv(h, h0, *adj).relu()
        h = F.dropout(h, self.dropout, self.training)
        return self.fcs[1](h)


class GroupFn(nn.Module):
    """LayerNorm -> ReLU -> dropout (the block's mask chunk) -> GCN2Conv with the h0 chunk."""

    def __init__(self, width, alpha, lam, layer):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.conv = GCN2Conv(width, alpha, lam, layer, cached=False, normalize=False)

    def forward(self, x, adj, mask, h0):
        z = self.norm(x).relu()
        if mask is not None:
            z = z * mask
        return self.conv(z, h0, *adj)


class Deep(nn.Module):
    """mille's ResGNN (`rev=False`) or RevGNN (`rev=True`) with the GCNII block."""

    def __init__(self, dim, hidden, classes, layers, alpha, lam, dropout, input_dropout, rev, groups=2):
        super().__init__()
        self.enc = nn.Linear(dim, hidden)
        self.rev = rev
        if rev:
            self.blocks = nn.ModuleList(
                GroupAddRev(GroupFn(hidden // groups, alpha, lam, i + 1), num_groups=groups, disable=True)
                for i in range(layers)
            )
        else:
            self.blocks = nn.ModuleList(GroupFn(hidden, alpha, lam, i + 1) for i in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, classes)
        self.dropout, self.input_dropout, self.hidden = dropout, input_dropout, hidden

    def forward(self, x, adj):
        h = h0 = self.enc(F.dropout(x, self.input_dropout, self.training))
        mask = None
        if self.training and self.dropout > 0 and self.rev:
            # One [N, H] mask per forward, chunked per group, the same in every block.
            keep = 1.0 - self.dropout
            mask = torch.bernoulli(torch.full((x.size(0), self.hidden), keep)) / keep
        for block in self.blocks:
            if self.rev:
                h = block(h, adj, mask, h0)
            else:
                z = F.dropout(block.norm(h).relu(), self.dropout, self.training)
                h = h + block.conv(z, h0, *adj)
        return self.head(F.dropout(self.norm(h).relu(), self.dropout, self.training))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="a folder in OGB's raw layout with split/SPLIT/")
    p.add_argument("--split", default="public")
    p.add_argument("--arch", choices=["plain", "res", "rev"], default="plain")
    p.add_argument("--layers", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--lamda", type=float, default=0.5)
    p.add_argument("--dropout", type=float, default=0.6)
    p.add_argument("--input-dropout", type=float, default=None, help="res/rev: default --dropout")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--wd-conv", type=float, default=0.01)
    p.add_argument("--wd-dense", type=float, default=5e-4)
    p.add_argument("--epochs", type=int, default=1500)
    p.add_argument("--patience", type=int, default=100)
    p.add_argument("--select", choices=["valid-loss", "valid-acc"], default="valid-loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    x, adj, y, masks = load(a.root, a.split)
    classes = int(y.max()) + 1
    if a.arch == "plain":
        model = Plain(x.size(1), a.hidden, classes, a.layers, a.alpha, a.lamda, a.dropout)
    else:
        input_dropout = a.dropout if a.input_dropout is None else a.input_dropout
        model = Deep(x.size(1), a.hidden, classes, a.layers, a.alpha, a.lamda, a.dropout, input_dropout, a.arch == "rev")
    # GCNII's split: the convolutions' weights decay by --wd-conv, the rest by --wd-dense.
    conv = [q for n, q in model.named_parameters() if "conv" in n.split(".") or n.startswith("convs.")]
    conv_ids = {id(q) for q in conv}
    dense = [q for q in model.parameters() if id(q) not in conv_ids]
    opt = torch.optim.Adam(
        [dict(params=conv, weight_decay=a.wd_conv), dict(params=dense, weight_decay=a.wd_dense)], lr=a.lr
    )
    best, best_epoch, bad, scores = None, 0, 0, {}
    start = time.time()
    for epoch in range(1, a.epochs + 1):
        model.train()
        opt.zero_grad()
        out = model(x, adj).log_softmax(-1)
        F.nll_loss(out[masks["train"]], y[masks["train"]]).backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            out = model(x, adj).log_softmax(-1)
            loss = F.nll_loss(out[masks["valid"]], y[masks["valid"]]).item()
            acc = {k: (out[m].argmax(-1) == y[m]).float().mean().item() for k, m in masks.items()}
        key = -loss if a.select == "valid-loss" else acc["valid"]
        if best is None or key > best:
            best, best_epoch, bad, scores = key, epoch, 0, dict(acc, valid_loss=loss)
        else:
            bad += 1
            if bad >= a.patience:
                break
    print(
        json.dumps(
            dict(
                vars(a),
                epochs_run=epoch,
                best_epoch=best_epoch,
                seconds=round(time.time() - start, 1),
                **scores,
            )
        )
    )


if __name__ == "__main__":
    main()
