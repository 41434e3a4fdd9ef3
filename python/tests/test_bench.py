"""The benchmark's three loops run and agree on what they measure (no timing asserted)."""

import json
import subprocess
import sys

from conftest import BIN


def test_bench_loader_reports_all_three_loaders(cora):
    out = subprocess.run(
        [sys.executable, "-m", "mille.bench", "loader", str(cora.path), "--parts", "4", "--epochs", "1", "--json",
         "--bin", str(BIN)],
        check=True, capture_output=True, text=True,
    ).stdout
    r = json.loads(out)
    assert r["nodes"] == 2708 and r["parts"] == 4
    for k in ("rust_batches_per_second", "python_batches_per_second", "pyg_batches_per_second"):
        assert r[k] > 0, r
