"""Loader throughput from Python, beside the Rust loader and PyG's RandomNodeLoader.

    tools/python -m mille.bench loader STORE [--parts 10] [--workers 2] [--epochs 3] [--json]

Three loops over the same store and random-clustering plan, one after another (never side by
side: loader threads on a small machine slow each other down):

1. ``tools/bench loader`` (the Rust loader alone, a subprocess; found through ``$MILLE_BIN`` or
   ``--bin``);
2. ``mille.Loader`` from this process, turning every batch's ``x``, ``edge_index`` and ``y``
   into torch tensors and reading one element of each;
3. PyG's ``RandomNodeLoader`` over a ``Data`` holding the same graph, touching the same fields.

Each prints batches per second; the ratios are against the Rust loader and against PyG.
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
    a = ap.parse_args(argv)
    store = mille.Store(a.store)
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


if __name__ == "__main__":
    main()
