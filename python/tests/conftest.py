"""Stores the tests share, prepared once per session from the repo's fixtures and the shared
datasets (``$MILLE_DATASETS``, default ``../shared/datasets`` beside the repository)."""

import os
import subprocess
from pathlib import Path

import pytest

import mille

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MILLE_BIN", REPO / "target" / "release"))


def datasets() -> Path:
    return Path(os.environ.get("MILLE_DATASETS") or REPO / ".." / "shared" / "datasets")


def tool(name: str, *args) -> str:
    """Runs one of mille's programs (built by tools/test or tools/python) and returns stdout."""
    exe = BIN / name
    if not exe.exists():
        pytest.fail(f"{exe} is missing: build with `cargo build --release --workspace --bins` (tools/test does)")
    return subprocess.run([str(exe), *map(str, args)], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def cora(tmp_path_factory) -> mille.Store:
    src = datasets() / "cora"
    if not (src / "raw").is_dir():
        pytest.fail(f"dataset 'cora' not found at {src} (no raw/ folder): set MILLE_DATASETS to a folder holding cora/")
    root = tmp_path_factory.mktemp("stores")
    return mille.Store(mille.prepare(src, "cora", root, verbose=False))


@pytest.fixture(scope="session")
def proteins(tmp_path_factory) -> mille.Store:
    """The proteins-like fixture: edge features, multi-label tasks, inverse edges; its node features are
    each node's full-graph sum of its edges' features (the input has none)."""
    root = tmp_path_factory.mktemp("stores")
    return mille.Store(mille.prepare(REPO / "fixtures" / "proteins_like", "proteins", root, add_inverse_edge=True, verbose=False))


@pytest.fixture(scope="session")
def products(tmp_path_factory) -> mille.Store:
    """A synthetic products-like graph big enough that building a batch takes a while."""
    root = tmp_path_factory.mktemp("stores")
    raw = mille.synth(root / "raw", nodes=60_000, avg_degree=20, features=100, classes=47, seed=1)
    return mille.Store(mille.prepare(raw, "products", root, add_inverse_edge=True, verbose=False))
