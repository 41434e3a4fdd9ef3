"""The authors' ogbn-arxiv RevGAT and its training (teacher or self-KD student), re-expressed in
plain PyTorch with PyG's utilities (`softmax`, `scatter`, `to_undirected`), full graph on the CPU:
the reference `tools/train --recipe ogbn-arxiv-revgat-teacher|selfkd` is compared against.

What it computes follows deep_gcns_torch examples/ogb_eff/ogbn_arxiv_dgl (main.py, model_rev.py,
loss.py), written here from their description:

  graph     bidirected, self loops removed, one added per node; degrees of that graph.
  GAT layer fc (no bias) to heads x out; sources times out-degree^-1/2 (--use-norm) before the
            score LeakyReLU_0.2(a_l . h_src) (no destination term); softmax over each node's kept
            in-edges; the sum times in-degree^+1/2; plus a bias-free residual linear; xavier-normal
            (ReLU gain) weights. Edge drop in training: a permutation per layer, its first
            floor(rate E) entries take no attention.
  model     input dropout -> GAT (heads x hidden, residual) -> L-2 reversible blocks of 2 groups
            (each group function BatchNorm -> ReLU -> the block's dropout mask chunk -> GAT, group
            2 a copy of group 1 at initialisation; one [N, heads x hidden] mask per forward for
            every block; both groups the same edge permutation) -> BatchNorm -> ReLU -> dropout
            -> GAT to the classes (1 head, residual) -> plus a bias. The blocks run as plain
            autograd of the same coupling (no memory saving: this measures accuracy).
  training  labels as input at mask rate 0.5 and one label reuse pass (the first pass without
            gradients), the loss log(eps + CE) - log(eps) on the other half, RMSprop lr 0.002
            warmed up over 50 epochs, every epoch evaluated (all training labels shown, reuse on
            valid and test), the lowest validation loss kept. Student: (1 - alpha) loss + alpha
            T^2 KLDivLoss()(log_softmax(s / T), softmax(t / T)) over every node, the teacher's
            logits read from --teacher-logits.

    python tools/peers/revgat_reference.py --root ../shared/datasets/cora --epochs 300 --seed 0 \\
        --save-logits /tmp/teacher-0.npy
    python tools/peers/revgat_reference.py --root ../shared/datasets/cora --epochs 300 --seed 0 \\
        --mode student --teacher-logits /tmp/teacher-0.npy

Prints one JSON line: the settings, the selected epoch, its train / valid / test accuracy and
validation loss, seconds.
"""

import argparse
import copy
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import add_self_loops, remove_self_loops, scatter, softmax, to_undirected

EPS = 1 - math.log(2)


def read_csv(path: str, dtype) -> np.ndarray:
    with gzip.open(path, "rt") as f:
        return np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)


def load(root: str, split: str):
    """Raw features, the preprocessed edge index (row 0 sources, row 1 destinations), labels,
    split ids."""
    raw = os.path.join(root, "raw")
    x = torch.from_numpy(read_csv(os.path.join(raw, "node-feat.csv.gz"), np.float32))
    y = torch.from_numpy(read_csv(os.path.join(raw, "node-label.csv.gz"), np.int64)).view(-1)
    edge_index = torch.from_numpy(read_csv(os.path.join(raw, "edge.csv.gz"), np.int64)).t().contiguous()
    edge_index = to_undirected(edge_index, num_nodes=x.size(0))
    edge_index, _ = remove_self_loops(edge_index)
    edge_index, _ = add_self_loops(edge_index, num_nodes=x.size(0))
    ids = {}
    for part in ("train", "valid", "test"):
        ids[part] = torch.from_numpy(read_csv(os.path.join(root, "split", split, f"{part}.csv.gz"), np.int64).reshape(-1))
    return x, edge_index, y, ids


class Features:
    """The input with --sparse-features: the raw features as a sparse matrix beside the dense
    label columns. The same input as their concatenation, multiplied in two parts: on Planetoid's
    bag-of-words rows (about 1 % non-zero) the input layer's two dense products are three
    quarters of an epoch's work; sparse, CiteSeer's arxiv-recipe epoch drops from ~2.8 s to well
    under one (one thread). Input dropout acts on the stored entries (a dropped zero is zero)."""

    def __init__(self, x, labels):
        self.x, self.labels = x, labels

    def size(self, dim):
        return self.x.size(0) if dim == 0 else self.x.size(1) + self.labels.size(1)

    def dropout(self, p, training):
        x = self.x
        x = torch.sparse_csr_tensor(
            x.crow_indices(), x.col_indices(), F.dropout(x.values(), p, training), x.shape, check_invariants=False
        )
        return Features(x, F.dropout(self.labels, p, training))


def dropout(x, p, training):
    return x.dropout(p, training) if isinstance(x, Features) else F.dropout(x, p, training)


def linear(lin, x):
    """lin(x), for a dense x or [sparse features, dense labels]."""
    if not isinstance(x, Features):
        return lin(x)
    f = x.x.size(1)
    return x.x @ lin.weight[:, :f].t() + x.labels @ lin.weight[:, f:].t()


class Gat(nn.Module):
    """The authors' GAT layer (no destination term, symmetric degree scaling, residual)."""

    def __init__(self, inp, out, heads, norm=True):
        super().__init__()
        self.heads, self.out, self.norm = heads, out, norm
        self.fc = nn.Linear(inp, heads * out, bias=False)
        self.attn_l = nn.Parameter(torch.empty(1, heads, out))
        self.res_fc = nn.Linear(inp, heads * out, bias=False)
        gain = nn.init.calculate_gain("relu")
        for w in (self.fc.weight, self.attn_l, self.res_fc.weight):
            nn.init.xavier_normal_(w, gain=gain)

    def forward(self, x, edge_index, perm, drop):
        src, dst = edge_index
        n = x.size(0)
        z = linear(self.fc, x).view(n, self.heads, self.out)
        if self.norm:
            out_deg = torch.bincount(src, minlength=n).float().clamp(min=1)
            z = z * out_deg.pow(-0.5).view(n, 1, 1)
        e = F.leaky_relu((z * self.attn_l).sum(-1)[src], 0.2)
        alpha = torch.zeros_like(e)
        if self.training and drop > 0:
            kept = perm[int(edge_index.size(1) * drop):]
            alpha[kept] = softmax(e[kept], dst[kept], num_nodes=n)
        else:
            alpha = softmax(e, dst, num_nodes=n)
        rst = scatter(z[src] * alpha.unsqueeze(-1), dst, dim=0, dim_size=n, reduce="sum")
        if self.norm:
            in_deg = torch.bincount(dst, minlength=n).float().clamp(min=1)
            rst = rst * in_deg.pow(0.5).view(n, 1, 1)
        return (rst + linear(self.res_fc, x).view(n, self.heads, self.out)).flatten(1)


class GroupFn(nn.Module):
    """BatchNorm -> ReLU -> dropout mask chunk -> GAT."""

    def __init__(self, width, heads):
        super().__init__()
        self.norm = nn.BatchNorm1d(width)
        self.conv = Gat(width, width // heads, heads)

    def forward(self, x, edge_index, mask, perm, drop):
        z = F.relu(self.norm(x))
        if mask is not None:
            z = z * mask
        return self.conv(z, edge_index, perm, drop)


class Block(nn.Module):
    """Additive coupling of 2 groups: y1 = x1 + F1(x2), y2 = x2 + F2(y1); F2 a copy of F1."""

    def __init__(self, width, heads, groups=2):
        super().__init__()
        first = GroupFn(width // groups, heads)
        self.fns = nn.ModuleList([first] + [copy.deepcopy(first) for _ in range(groups - 1)])

    def forward(self, x, edge_index, mask, perm, drop):
        xs = torch.chunk(x, len(self.fns), dim=-1)
        masks = torch.chunk(mask, len(self.fns), dim=-1) if mask is not None else [None] * len(self.fns)
        prev = sum(xs[1:])
        ys = []
        for f, xi, m in zip(self.fns, xs, masks):
            prev = xi + f(prev, edge_index, m, perm, drop)
            ys.append(prev)
        return torch.cat(ys, dim=-1)


class RevGat(nn.Module):
    def __init__(self, inp, classes, hidden, heads, layers, dropout, input_drop, edge_drop):
        super().__init__()
        width = heads * hidden
        self.enc = Gat(inp, hidden, heads)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers - 2))
        self.norm = nn.BatchNorm1d(width)
        self.head = Gat(width, classes, 1)
        self.bias = nn.Parameter(torch.zeros(classes))
        self.dropout, self.input_drop, self.edge_drop = dropout, input_drop, edge_drop

    def forward(self, x, edge_index):
        e = edge_index.size(1)
        perms = [torch.randperm(e) for _ in range(len(self.blocks) + 2)]
        h = self.enc(dropout(x, self.input_drop, self.training), edge_index, perms[0], self.edge_drop)
        mask = None
        if self.training and self.dropout > 0:
            mask = torch.zeros_like(h).bernoulli_(1 - self.dropout) / (1 - self.dropout)
        for i, b in enumerate(self.blocks):
            h = b(h, edge_index, mask, perms[i + 1], self.edge_drop)
        h = F.dropout(F.relu(self.norm(h)), self.dropout, self.training)
        return self.head(h, edge_index, perms[-1], self.edge_drop) + self.bias


def read_safetensors(path: str) -> dict:
    """The float32 tensors of a safetensors file (what tools/train writes), by name."""
    import struct

    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", f"{path}: {name} is {t['dtype']}, want F32"
        lo, hi = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[lo:hi], dtype=np.float32).copy()).view(t["shape"])
    return out


def mille_name(name: str) -> str:
    """This model's parameter name as tools/train's RevGAT names it (`blocks.2.fns.1.conv.fc.weight`
    -> `block2.f1.conv.fc`, `bias` -> `head_bias`)."""
    parts = name.split(".")
    if parts[0] == "blocks":
        parts = [f"block{parts[1]}", f"f{parts[3]}"] + parts[4:]
    if parts[-1] == "weight" and len(parts) >= 2 and parts[-2] in ("fc", "res_fc"):
        parts = parts[:-1]
    return "head_bias" if parts == ["bias"] else ".".join(parts)


def load_mille_weights(model: nn.Module, path: str):
    """Sets every parameter and BatchNorm statistic of `model` from tools/train's weights
    (`--save-init FILE`, a checkpoint's model.safetensors, best.safetensors)."""
    saved = read_safetensors(path)
    state = model.state_dict()
    for name, t in state.items():
        if name.endswith("num_batches_tracked"):
            continue
        key = mille_name(name)
        assert key in saved, f"{path}: no {key} (for {name})"
        assert saved[key].shape == t.shape, f"{path}: {key} is {tuple(saved[key].shape)}, want {tuple(t.shape)}"
        state[name] = saved[key]
    model.load_state_dict(state)


def logce(logits, y):
    return (torch.log(EPS + F.cross_entropy(logits, y, reduction="none")) - math.log(EPS)).mean()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="a folder in OGB's raw layout with split/SPLIT/")
    p.add_argument("--split", default="public")
    p.add_argument("--mode", choices=["teacher", "student"], default="teacher")
    p.add_argument("--teacher-logits", help="student: the teacher's logits (.npy, [N, classes])")
    p.add_argument("--save-logits", help="write the selected epoch's evaluation logits here (.npy)")
    p.add_argument("--layers", type=int, default=5)
    p.add_argument("--hidden", type=int, default=256, help="channels per head")
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.75)
    p.add_argument("--input-drop", type=float, default=0.25)
    p.add_argument("--edge-drop", type=float, default=0.3)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--epochs", type=int, default=2000)
    p.add_argument("--mask-rate", type=float, default=0.5)
    p.add_argument("--label-iters", type=int, default=1)
    p.add_argument("--alpha", type=float, default=0.95)
    p.add_argument("--temp", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sparse-features",
        action="store_true",
        help="multiply the raw features as a sparse matrix (the same model; a different random stream for input dropout)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--init-weights",
        help="start from tools/train's weights (safetensors: its --save-init FILE) instead of drawing them; "
        "with --dropout 0 --input-drop 0 --edge-drop 0 both sides then train deterministically, step for step",
    )
    p.add_argument(
        "--curve",
        help="write one JSON line per epoch here (epoch, loss, valid_loss, train / valid / test accuracy): "
        "the fields of tools/train's metrics.jsonl, to lay the two sides' curves side by side",
    )
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    x, edge_index, y, ids = load(a.root, a.split)
    n, classes = x.size(0), int(y.max()) + 1
    teacher = None
    if a.mode == "student":
        teacher = torch.from_numpy(np.load(a.teacher_logits)).float()
        assert teacher.shape == (n, classes), f"{a.teacher_logits}: {tuple(teacher.shape)}, want {(n, classes)}"
    model = RevGat(x.size(1) + classes, classes, a.hidden, a.heads, a.layers, a.dropout, a.input_drop, a.edge_drop)
    if a.init_weights:
        load_mille_weights(model, a.init_weights)
    opt = torch.optim.RMSprop(model.parameters(), lr=a.lr, weight_decay=0)

    xs = x.to_sparse_csr() if a.sparse_features else None

    def with_labels(shown):
        onehot = torch.zeros(n, classes)
        onehot[shown, y[shown]] = 1
        return Features(xs, onehot) if xs is not None else torch.cat([x, onehot], dim=-1)

    def set_labels(feat, rows, values):
        if isinstance(feat, Features):
            feat.labels[rows] = values
        else:
            feat[rows, -classes:] = values

    best = (float("inf"), 0, {}, None)
    curve = open(a.curve, "w") if a.curve else None
    start = time.time()
    for epoch in range(1, a.epochs + 1):
        if epoch <= a.warmup:
            for g in opt.param_groups:
                g["lr"] = a.lr * epoch / a.warmup
        model.train()
        mask = torch.rand(ids["train"].shape) < a.mask_rate
        shown, hidden = ids["train"][mask], ids["train"][~mask]
        feat = with_labels(shown)
        opt.zero_grad()
        if a.label_iters > 0:
            with torch.no_grad():
                pred = model(feat, edge_index)
            unlabelled = torch.cat([hidden, ids["valid"], ids["test"]])
            for _ in range(a.label_iters):
                set_labels(feat, unlabelled, F.softmax(pred.detach()[unlabelled], dim=-1))
                pred = model(feat, edge_index)
        else:
            pred = model(feat, edge_index)
        loss = logce(pred[hidden], y[hidden])
        if teacher is not None:
            kd = nn.KLDivLoss()(F.log_softmax(pred / a.temp, dim=1), F.softmax(teacher / a.temp, dim=1))
            loss = (1 - a.alpha) * loss + a.alpha * kd * a.temp * a.temp
        loss.backward()
        opt.step()

        model.eval()
        with torch.no_grad():
            feat = with_labels(ids["train"])
            pred = model(feat, edge_index)
            unlabelled = torch.cat([ids["valid"], ids["test"]])
            for _ in range(a.label_iters):
                set_labels(feat, unlabelled, F.softmax(pred[unlabelled], dim=-1))
                pred = model(feat, edge_index)
            valid_loss = logce(pred[ids["valid"]], y[ids["valid"]]).item()
            acc = {k: (pred[m].argmax(-1) == y[m]).float().mean().item() for k, m in ids.items()}
        if curve is not None:
            curve.write(json.dumps(dict(epoch=epoch, loss=loss.item(), valid_loss=valid_loss, **acc)) + "\n")
        if valid_loss < best[0]:
            best = (valid_loss, epoch, acc, pred.clone())
    if curve is not None:
        curve.close()
    if a.save_logits:
        np.save(a.save_logits, best[3].numpy().astype(np.float32))
    print(json.dumps(dict(vars(a), best_epoch=best[1], valid_loss=best[0], seconds=round(time.time() - start, 1), **best[2])))


if __name__ == "__main__":
    main()
