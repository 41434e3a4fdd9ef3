#!/usr/bin/env bash
# mille's RevGAT and the reference (tools/peers/revgat_reference.py) trained in lockstep: the
# arxiv teacher recipe with every random draw taken out (no dropout, input dropout or edge
# drop; a label mask rate of 1e-9, so no label is shown and the loss is on every training
# node), the reference started from mille's initial weights (tools/train --save-init). Both
# sides then compute the same numbers up to float rounding, epoch after epoch: a table of the
# training loss, validation loss and test accuracy per epoch, side by side. Where the
# side-by-side runs differ by more than their seeds' spread, this says whether the two
# implementations do. One thread a side, one side after the other.
#
#   tools/peers/revgat_lockstep.sh STORE DATASET_DIR OUT EPOCHS [SEED]
#   tools/peers/revgat_lockstep.sh /tmp/u/citeseer ../shared/datasets/citeseer /tmp/lock 30
#
# STORE: the graph prepared by tools/prepare --to-undirected; DATASET_DIR: the same graph in
# OGB's raw layout. PYTHON (environment): an interpreter with torch and torch_geometric
# (default python3); TRAIN: the tools/train binary (default target/release/train); EXTRA: more
# flags for both sides' recipe (as tools/train spells them, e.g. "--label-reuse 0"; the
# reference gets --label-iters for --label-reuse).
set -euo pipefail
[[ $# -ge 4 ]] || { sed -n '2,18p' "$0"; exit 2; }
store=$1 data=$2 out=$3 epochs=$4 seed=${5:-0}
py=${PYTHON:-python3}
train=${TRAIN:-target/release/train}
mkdir -p "$out"
extra=(${EXTRA:-})
ref_extra=()
for ((i = 0; i < ${#extra[@]}; i++)); do
  case ${extra[$i]} in
    --label-reuse) ref_extra+=(--label-iters "${extra[$((i + 1))]}"); i=$((i + 1)) ;;
    *) echo "EXTRA: only --label-reuse N has a reference spelling here" >&2; exit 2 ;;
  esac
done
"$train" "$store" --recipe ogbn-arxiv-revgat-teacher --epochs "$epochs" --seed "$seed" --threads 1 \
  --dropout 0 --input-dropout 0 --edge-drop 0 --mask-rate 1e-9 ${EXTRA:-} \
  --save-init "$out/init.safetensors" --out "$out/mille" --overwrite --json > "$out/mille.json" 2> "$out/mille.log"
"$py" tools/peers/revgat_reference.py --root "$data" --epochs "$epochs" --seed "$seed" --threads 1 \
  --dropout 0 --input-drop 0 --edge-drop 0 --mask-rate 1e-9 "${ref_extra[@]}" \
  --init-weights "$out/init.safetensors" --curve "$out/ref.curve.jsonl" > "$out/ref.json" 2> "$out/ref.log"
"$py" - "$out/mille/metrics.jsonl" "$out/ref.curve.jsonl" <<'EOF'
import json, sys

mille = [json.loads(l) for l in open(sys.argv[1])]
ref = [json.loads(l) for l in open(sys.argv[2])]
print(f"{'epoch':>5} {'loss mille':>11} {'reference':>11} {'valid loss mille':>17} {'reference':>11} {'test mille':>11} {'reference':>10}")
worst = 0.0
for m, r in zip(mille, ref):
    assert m["epoch"] == r["epoch"], (m["epoch"], r["epoch"])
    worst = max(worst, abs(m["valid_loss"] - r["valid_loss"]) / abs(r["valid_loss"]))
    print(
        f"{m['epoch']:>5} {m['loss']:>11.6f} {r['loss']:>11.6f} {m['valid_loss']:>17.6f} {r['valid_loss']:>11.6f}"
        f" {m['test']:>11.4f} {r['test']:>10.4f}"
    )
print(f"largest relative difference of the validation loss: {worst:.2e}")
EOF
