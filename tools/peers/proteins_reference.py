"""The authors' ogbn-proteins RevGNN recipe re-expressed with PyG's own parts, on any folder in
OGB's raw layout with proteins' files: the reference mille's recipe is compared against.

What it follows, from lightaime/deep_gcns_torch (examples/ogb_eff/ogbn_proteins: dataset.py,
model_rev.py, main.py, args.py; eff_gcn_modules/rev):
  - the graph as OGB's loader gives it (ogb's read_csv_graph_raw with inverse edges added);
  - node features: each node's sum of its edges' features over the whole graph, by source;
  - species label-encoded (value modulo the largest, ranked) and one-hot, through Linear(8, 8),
    concatenated after the sums, then Linear(16, H);
  - one edge encoder Linear(8, H) for the network, its output repeated once per group;
  - blocks: PyG's GroupAddRev (2 groups) over LayerNorm -> ReLU -> shared dropout -> PyG's
    GENConv(max, a 2-layer MLP with LayerNorm and biases, edge_dim = H, so each convolution
    maps the edge encoding by its own Linear(H, H/G)); group 2 starts as a copy of group 1;
    one [N, H] dropout mask per forward, chunked per group by GroupAddRev; no self loops;
  - head LayerNorm -> ReLU -> dropout -> Linear(H, tasks); BCE-with-logits on the batch's
    training nodes; Adam; gradient norm clipped at 1.0;
  - training batches from PyG's RandomNodeLoader (--parts per epoch); evaluation on one fixed
    partition into --eval-parts parts drawn before training, every epoch; ogb's Evaluator
    (ogbn-proteins: 112 tasks; another task count: the same mean ROC-AUC over tasks with both
    classes); the test score at the best validation epoch.

    python tools/peers/proteins_reference.py --root DIR --layers 28 --hidden 64 --epochs 20 --seed 0

Prints one JSON line last: epoch seconds (training only), peak RSS (VmHWM), parameters, the
best validation epoch and its scores.
"""

import argparse
import json
import os
import statistics
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from ogb.io.read_graph_raw import read_csv_graph_raw
from ogb.nodeproppred import Evaluator
from torch_geometric.data import Data
from torch_geometric.loader import RandomNodeLoader
from torch_geometric.nn import GENConv, GroupAddRev


def peak_rss_bytes() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def load(root: str) -> Data:
    """The graph, the authors' node inputs, labels and the species split."""
    raw = os.path.join(root, "raw")
    g = read_csv_graph_raw(raw, add_inverse_edge=True, additional_node_files=["node_species"])[0]
    n = int(g["num_nodes"])
    edge_index = torch.from_numpy(g["edge_index"]).long()
    edge_attr = torch.from_numpy(g["edge_feat"]).float()
    sums = torch.zeros(n, edge_attr.size(1)).index_add_(0, edge_index[0], edge_attr)
    species = torch.from_numpy(g["node_species"]).long().view(-1)
    top = int(species.max())
    keys = torch.unique(species % top)
    codes = torch.searchsorted(keys, species % top)
    one_hot = F.one_hot(codes, len(keys)).float()
    y = torch.from_numpy(pd.read_csv(os.path.join(raw, "node-label.csv.gz"), header=None).values).float()
    data = Data(edge_index=edge_index, edge_attr=edge_attr, sums=sums, one_hot=one_hot, y=y, num_nodes=n)
    for part in ("train", "valid", "test"):
        ids = pd.read_csv(os.path.join(root, "split", "species", f"{part}.csv.gz"), header=None).values.reshape(-1)
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.from_numpy(ids).long()] = True
        data[f"{part}_mask"] = mask
    return data


class Block(torch.nn.Module):
    """LayerNorm -> ReLU -> shared dropout -> GENConv (max), one group's function."""

    def __init__(self, width: int, edge_dim: int):
        super().__init__()
        self.edge_dim = edge_dim
        self.norm = torch.nn.LayerNorm(width)
        self.conv = GENConv(width, width, aggr="max", num_layers=2, norm="layer", bias=True, edge_dim=edge_dim)

    def reset_parameters(self):
        self.norm.reset_parameters()
        self.conv.reset_parameters()

    def forward(self, x, edge_index, mask, edge_emb):
        h = F.relu(self.norm(x))
        if self.training:
            h = h * mask
        # The authors' coupling chunks the G-fold repeated encoding, so every group reads the
        # whole [E, H] encoding; GroupAddRev passes an argument whose width is not H unchunked,
        # so the repeated [E, H * G] arrives whole and its first copy is that same [E, H].
        return self.conv(h, edge_index, edge_emb[:, : self.edge_dim])


class RevGNN(torch.nn.Module):
    def __init__(self, sums: int, species: int, edges: int, hidden: int, tasks: int, layers: int, groups: int, dropout: float):
        super().__init__()
        self.groups, self.dropout = groups, dropout
        self.one_hot = torch.nn.Linear(species, species)
        self.enc = torch.nn.Linear(sums + species, hidden)
        self.edge = torch.nn.Linear(edges, hidden)
        self.blocks = torch.nn.ModuleList()
        for _ in range(layers):
            rev = GroupAddRev(Block(hidden // groups, hidden), num_groups=groups)
            for g in range(1, groups):  # the authors' deepcopy: every group starts as the first
                rev.convs[g].load_state_dict(rev.convs[0].state_dict())
            self.blocks.append(rev)
        self.norm = torch.nn.LayerNorm(hidden)
        self.head = torch.nn.Linear(hidden, tasks)

    def forward(self, data):
        h = self.enc(torch.cat([data.sums, self.one_hot(data.one_hot)], 1))
        edge_emb = torch.cat([self.edge(data.edge_attr)] * self.groups, 1)
        mask = None
        if self.training:
            mask = torch.zeros_like(h).bernoulli_(1 - self.dropout) / (1 - self.dropout)
        for block in self.blocks:
            h = block(h, data.edge_index, mask, edge_emb)
        h = F.dropout(F.relu(self.norm(h)), p=self.dropout, training=self.training)
        return self.head(h)


@torch.no_grad()
def evaluate(model, data, parts, evaluator):
    model.eval()
    out = torch.zeros_like(data.y)
    for idx in parts:
        sub = data.subgraph(idx)
        out[idx] = model(sub)
    scores = {}
    for part in ("train", "valid", "test"):
        m = data[f"{part}_mask"]
        scores[part] = evaluator({"y_true": data.y[m].numpy(), "y_pred": out[m].numpy()})["rocauc"]
    return scores


def rocauc(d):
    """ogb's ogbn-proteins ROC-AUC (the mean over tasks with both classes present) for any task
    count; ogb's Evaluator itself insists on 112."""
    from sklearn.metrics import roc_auc_score

    y, p = d["y_true"], d["y_pred"]
    aucs = [roc_auc_score(y[:, t], p[:, t]) for t in range(y.shape[1]) if 0 < y[:, t].sum() < len(y)]
    return {"rocauc": float(np.mean(aucs))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="folder in OGB's raw layout (raw/, split/species/)")
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--parts", type=int, default=10)
    ap.add_argument("--eval-parts", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    t0 = time.perf_counter()
    data = load(a.root)
    load_seconds = time.perf_counter() - t0
    model = RevGNN(data.sums.size(1), data.one_hot.size(1), data.edge_attr.size(1), a.hidden, data.y.size(1),
                   a.layers, a.groups, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    evaluator = Evaluator("ogbn-proteins").eval if data.y.size(1) == 112 else rocauc
    parts = torch.randperm(data.num_nodes).chunk(a.eval_parts)  # drawn once, as the authors do
    parts = [p.sort().values for p in parts]
    loader = RandomNodeLoader(data, num_parts=a.parts, shuffle=True)
    seconds, eval_seconds, best = [], [], None
    for epoch in range(1, a.epochs + 1):
        model.train()
        t = time.perf_counter()
        for sub in loader:
            if int(sub.train_mask.sum()) == 0:
                continue
            opt.zero_grad()
            out = model(sub)
            loss = F.binary_cross_entropy_with_logits(out[sub.train_mask], sub.y[sub.train_mask])
            loss.backward()
            if a.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
        seconds.append(time.perf_counter() - t)
        t = time.perf_counter()
        s = evaluate(model, data, parts, evaluator)
        eval_seconds.append(time.perf_counter() - t)
        if best is None or s["valid"] > best[1]["valid"]:
            best = (epoch, s)
    print(json.dumps({
        "peer": "proteins-reference (PyG GroupAddRev + GENConv)",
        "layers": a.layers, "hidden": a.hidden, "seed": a.seed,
        "params": sum(p.numel() for p in model.parameters()),
        "load_seconds": load_seconds,
        "epoch_seconds": seconds, "epoch_seconds_median": statistics.median(seconds),
        "eval_seconds_median": statistics.median(eval_seconds),
        "peak_rss_bytes": peak_rss_bytes(),
        "best_epoch": best[0], "train": best[1]["train"], "valid": best[1]["valid"], "test": best[1]["test"],
    }))


if __name__ == "__main__":
    main()
