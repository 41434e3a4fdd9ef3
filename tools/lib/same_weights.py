"""Whether two runs ended with the same weights, bit for bit.

    python tools/lib/same_weights.py RUN_A RUN_B

Reads each run's latest checkpoint (`checkpoint.json` names it) and compares every tensor of
`model.safetensors` byte for byte. Prints the tensors that differ and the largest difference;
exits 0 when all are equal, 1 when not, 2 when a run cannot be read. Used by
`tools/device-check` (a one-rank NCCL run against the plain one); needs only the standard
library and torch.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path


def tensors(run: Path) -> dict[str, tuple[str, list[int], bytes]]:
    """Name -> (dtype, shape, raw bytes) of the run's latest checkpoint's weights."""
    pointer = json.loads((run / "checkpoint.json").read_text())
    path = run / pointer["dir"] / "model.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = (info["dtype"], info["shape"], body[a:b])
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        a, b = (tensors(Path(r)) for r in argv)
    except (OSError, ValueError, KeyError) as e:
        print(f"same_weights: cannot read a run's checkpoint: {e}", file=sys.stderr)
        return 2
    if a.keys() != b.keys():
        print(f"different tensors: {sorted(a.keys() ^ b.keys())}")
        return 1
    differ = [k for k in sorted(a) if a[k] != b[k]]
    if not differ:
        print(f"same weights, bit for bit: {len(a)} tensors")
        return 0
    import torch

    worst = 0.0
    for k in differ:
        (dx, sx, x), (dy, sy, y) = a[k], b[k]
        if (dx, sx) != (dy, sy) or dx != "F32":
            print(f"{k}: {dx} {sx} against {dy} {sy}")
            continue
        tx = torch.frombuffer(bytearray(x), dtype=torch.float32)
        ty = torch.frombuffer(bytearray(y), dtype=torch.float32)
        worst = max(worst, (tx - ty).abs().max().item())
    print(f"{len(differ)} of {len(a)} tensors differ (largest difference {worst:.3g}): {differ[:5]}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
