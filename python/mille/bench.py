"""Loader throughput from Python, beside the Rust loader and PyG's RandomNodeLoader.

    tools/python -m mille.bench loader STORE [--parts 10] [--workers 2] [--epochs 3] [--json]
    tools/python -m mille.bench sample STORE [--fanouts 15 10 5] [--batch-size 1024] [--batches 20]

Three loops over the same store and random-clustering plan, one after another (never side by
side: loader threads on a small machine slow each other down):

1. ``tools/bench loader`` (the Rust loader alone, a subprocess; found through ``$MILLE_BIN`` or
   ``--bin``);
2. ``mille.Loader`` from this process, turning every batch's ``x``, ``edge_index`` and ``y``
   into torch tensors and reading one element of each;
3. PyG's ``RandomNodeLoader`` over a ``Data`` holding the same graph, touching the same fields.

Each prints batches per second; the ratios are against the Rust loader and against PyG.

``sample`` does the same for neighbour sampling: ``tools/bench loader --sampler neighbor``,
``mille.Loader(fanouts=...)`` from Python, the vectorised NumPy sampler of ``mille.reference``
(sampling, relabelling and the feature gather) and, with ``--dgl PYTHON`` (the interpreter of
the venv ``tools/peers/dgl-setup`` makes), DGL's ``sample_neighbors`` + ``to_block`` through
``tools/peers/dgl_sample.py``, in sampled edges per second.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import mille


def rust(store: str, parts: int, workers: int, epochs: int, bin_dir: Path) -> float:
    exe = bin_dir / "bench"
    if not exe.exists():
        sys.exit(f"{exe} not found: build mille's programs (cargo build --release) or pass --bin DIR")
    out = subprocess.run(
        [str(exe), "loader", store, "--parts", str(parts), "--workers", str(workers), "--epochs", str(epochs), "--json"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)["batches_per_second"]


def python(store: mille.Store, parts: int, workers: int, epochs: int) -> float:
    import torch

    loader = mille.Loader(store, parts=parts, workers=workers)

    def epoch(e: int) -> int:
        n = 0
        for batch in loader.epoch(e):
            x, ei, y = torch.from_numpy(batch.x), torch.from_numpy(batch.edge_index), torch.from_numpy(batch.y)
            _ = (x[-1, -1].item(), ei[1, -1].item(), y[-1].item())
            n += 1
        return n

    epoch(1_000_000)  # warm-up, as tools/bench loader does
    t = time.perf_counter()
    n = sum(epoch(e) for e in range(epochs))
    return n / (time.perf_counter() - t)


def pyg(store: mille.Store, parts: int, epochs: int) -> float:
    import torch
    from torch_geometric.data import Data
    from torch_geometric.loader import RandomNodeLoader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # from_numpy of the read-only map warns; nothing writes it
        x = torch.from_numpy(store.features())
        y = torch.from_numpy(store.labels()).long()
    data = Data(x=x, edge_index=torch.from_numpy(store.edge_index()), y=y, num_nodes=store.num_nodes)
    loader = RandomNodeLoader(data, num_parts=parts, shuffle=True)
    t = time.perf_counter()
    n = 0
    for _ in range(epochs):
        for batch in loader:
            _ = (batch.x[-1, -1].item(), batch.edge_index[1, -1].item(), batch.y[-1].item())
            n += 1
    return n / (time.perf_counter() - t)


def rust_sampled(store: str, fanouts, batch_size: int, workers: int, epochs: int, bin_dir: Path) -> dict:
    exe = bin_dir / "bench"
    if not exe.exists():
        sys.exit(f"{exe} not found: build mille's programs (cargo build --release) or pass --bin DIR")
    cmd = [str(exe), "loader", store, "--sampler", "neighbor", "--fanouts", ",".join(map(str, fanouts)),
           "--batch-size", str(batch_size), "--workers", str(workers), "--epochs", str(epochs), "--json"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def dgl_sampled(store: str, fanouts, batch_size: int, batches: int, python: Path, bin_dir: Path) -> dict:
    # The peer script lives in the checkout whose programs --bin points at (CHECKOUT/target/release).
    script = bin_dir.resolve().parents[1] / "tools" / "peers" / "dgl_sample.py"
    if not script.exists():
        sys.exit(f"{script} not found: --dgl runs the peer script of the mille checkout --bin is in")
    cmd = [str(python), str(script), store, "--fanouts", *map(str, fanouts), "--batch-size", str(batch_size),
           "--batches", str(batches)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def python_sampled(store: mille.Store, fanouts, batch_size: int, workers: int, batches: int) -> dict:
    import torch

    loader = mille.Loader(store, fanouts=list(fanouts), batch_size=batch_size, workers=workers)
    t = time.perf_counter()
    edges = seeds = n = 0
    with loader.epoch(0) as epoch:
        for batch in epoch:
            x, ei, y = torch.from_numpy(batch.x), torch.from_numpy(batch.edge_index), torch.from_numpy(batch.y)
            _ = (x[-1, -1].item(), ei[1, -1].item(), y[-1].item())
            edges += batch.num_edges
            seeds += batch.batch_size
            n += 1
            if n == batches:
                break
    secs = time.perf_counter() - t
    return {"edges_per_second": edges / secs, "seeds_per_second": seeds / secs}


def numpy_sampled(store: mille.Store, fanouts, batch_size: int, batches: int) -> dict:
    import numpy as np

    from .reference import sample

    indptr, indices, x = store.indptr(), store.indices(), store.features()
    train = store.split()["train"]
    rng = np.random.default_rng(0)
    order = rng.permutation(train)
    t = time.perf_counter()
    edges = seeds = 0
    for b in range(batches):
        s = order[b * batch_size:(b + 1) * batch_size]
        if len(s) == 0:
            break
        n_id, src, dst = sample(indptr, indices, s, list(fanouts), rng)
        feats = x[n_id]  # the gather mille's workers do
        _ = feats[-1, -1]
        edges += len(src)
        seeds += len(s)
    secs = time.perf_counter() - t
    return {"edges_per_second": edges / secs, "seeds_per_second": seeds / secs}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m mille.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lo = sub.add_parser("loader", help="batches/s: Rust loader, mille.Loader from Python, PyG RandomNodeLoader")
    lo.add_argument("store")
    lo.add_argument("--parts", type=int, default=10)
    lo.add_argument("--workers", type=int, default=2)
    lo.add_argument("--epochs", type=int, default=3)
    lo.add_argument("--pyg-epochs", type=int, default=1, help="RandomNodeLoader epochs (it is slow)")
    lo.add_argument("--no-pyg", action="store_true", help="skip RandomNodeLoader")
    lo.add_argument("--bin", type=Path, default=Path(os.environ.get("MILLE_BIN", "target/release")))
    lo.add_argument("--json", action="store_true")
    sa = sub.add_parser("sample", help="sampled edges/s: Rust loader, mille.Loader(fanouts=...), a NumPy sampler")
    sa.add_argument("store")
    sa.add_argument("--fanouts", type=int, nargs="+", default=[15, 10, 5])
    sa.add_argument("--batch-size", type=int, default=1024)
    sa.add_argument("--workers", type=int, default=2)
    sa.add_argument("--epochs", type=int, default=1, help="Rust loader epochs (after a warm-up)")
    sa.add_argument("--batches", type=int, default=20, help="batches timed from Python and NumPy")
    sa.add_argument("--bin", type=Path, default=Path(os.environ.get("MILLE_BIN", "target/release")))
    sa.add_argument("--dgl", type=Path, metavar="PYTHON",
                    help="also run DGL's sampler with this interpreter (tools/peers/dgl-setup prints it)")
    sa.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    store = mille.Store(a.store)
    if a.cmd == "sample":
        bench_sample(a, store)
        return
    r = {"store": a.store, "nodes": store.num_nodes, "edges": store.num_edges, "parts": a.parts, "workers": a.workers}
    r["rust_batches_per_second"] = rust(a.store, a.parts, a.workers, a.epochs, a.bin)
    r["python_batches_per_second"] = python(store, a.parts, a.workers, a.epochs)
    r["python_over_rust"] = r["python_batches_per_second"] / r["rust_batches_per_second"]
    if not a.no_pyg:
        r["pyg_batches_per_second"] = pyg(store, a.parts, a.pyg_epochs)
        r["python_over_pyg"] = r["python_batches_per_second"] / r["pyg_batches_per_second"]
    if a.json:
        print(json.dumps(r))
        return
    print(f"{a.store}: {store.num_nodes} nodes, {store.num_edges} edges, {a.parts} random parts, {a.workers} workers")
    print(f"  Rust loader (tools/bench loader)  {r['rust_batches_per_second']:8.2f} batches/s")
    print(f"  mille.Loader from Python          {r['python_batches_per_second']:8.2f} batches/s  ({r['python_over_rust']:.2f}x Rust)")
    if not a.no_pyg:
        print(f"  PyG RandomNodeLoader              {r['pyg_batches_per_second']:8.2f} batches/s  (mille.Loader {r['python_over_pyg']:.1f}x)")


def bench_sample(a, store: mille.Store) -> None:
    r = {"store": a.store, "fanouts": a.fanouts, "batch_size": a.batch_size, "workers": a.workers}
    rs = rust_sampled(a.store, a.fanouts, a.batch_size, a.workers, a.epochs, a.bin)
    r["rust"] = {"edges_per_second": rs["edges_per_second"], "seeds_per_second": rs["seeds_per_second"],
                 "gb_per_second": rs["gb_per_second"]}
    r["python"] = python_sampled(store, a.fanouts, a.batch_size, a.workers, a.batches)
    r["numpy"] = numpy_sampled(store, a.fanouts, a.batch_size, a.batches)
    r["rust_over_numpy"] = r["rust"]["edges_per_second"] / r["numpy"]["edges_per_second"]
    if a.dgl:
        r["dgl"] = dgl_sampled(a.store, a.fanouts, a.batch_size, a.batches, a.dgl, a.bin)
        r["rust_over_dgl"] = r["rust"]["edges_per_second"] / r["dgl"]["edges_per_second"]
    r["python_over_rust"] = r["python"]["edges_per_second"] / r["rust"]["edges_per_second"]
    if a.json:
        print(json.dumps(r))
        return
    print(f"{a.store}: fan-outs {a.fanouts}, {a.batch_size} seeds a batch, {a.workers} workers")
    for name, key in (("Rust loader (tools/bench loader)", "rust"), ("mille.Loader from Python", "python"),
                      ("NumPy reference sampler", "numpy"), ("DGL sample_neighbors + to_block", "dgl")):
        if key not in r:
            continue
        x = r[key]
        print(f"  {name:34s} {x['edges_per_second']:10.3e} sampled edges/s  {x['seeds_per_second']:10.3e} seeds/s")
    print(f"  Rust / NumPy: {r['rust_over_numpy']:.1f}x; Python / Rust: {r['python_over_rust']:.2f}x;"
          f" Rust batch data {r['rust']['gb_per_second']:.2f} GB/s")
    if a.dgl:
        print(f"  Rust / DGL: {r['rust_over_dgl']:.1f}x ({r['dgl']['peer']})")


if __name__ == "__main__":
    main()
