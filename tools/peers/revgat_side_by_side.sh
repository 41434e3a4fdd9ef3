#!/usr/bin/env bash
# The RevGAT side by side of docs/RESULTS.md section 8: for each seed, the arxiv teacher and
# student recipes (unchanged but for --epochs) with tools/train, then the same with
# tools/peers/revgat_reference.py; one line per run. Run it alone (two libtorch processes on a
# small machine slow each other 10-20x).
#
#   tools/peers/revgat_side_by_side.sh STORE DATASET_DIR OUT EPOCHS SEED...
#   tools/peers/revgat_side_by_side.sh /tmp/u/cora ../shared/datasets/cora /tmp/sbs 300 0 1 2 3 4
#
# STORE: the graph prepared by tools/prepare --to-undirected; DATASET_DIR: the same graph in
# OGB's raw layout (the reference reads it); PYTHON (environment) names an interpreter with
# torch and torch_geometric (default: python3). SIDES (environment) runs one side only,
# "mille" or "reference", so the two can go as two one-thread streams side by side
# (OMP_NUM_THREADS=1 each): half the wall time on two cores. REF_ARGS (environment) goes to
# every reference run (CiteSeer's ran with --sparse-features), TRAIN_ARGS to every tools/train run
# (the tables of docs/RESULTS.md ran before the recipes drew edges per block: "--edge-drop-draw
# windows" repeats them). Per-epoch curves: mille's in
# OUT/mille-*-SEED/metrics.jsonl, the reference's in OUT/ref-*-SEED.curve.jsonl.
set -euo pipefail
[[ $# -ge 5 ]] || { sed -n '2,18p' "$0"; exit 2; }
store=$1 data=$2 out=$3 epochs=$4
shift 4
py=${PYTHON:-python3}
train=${TRAIN:-target/release/train}
mkdir -p "$out"
score() { python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(d['test'], d['best_epoch'])" "$1"; }
sides=${SIDES:-mille reference}
for seed in "$@"; do
  if [[ " $sides " == *" mille "* ]]; then
  "$train" "$store" --recipe ogbn-arxiv-revgat-teacher --epochs "$epochs" --seed "$seed" ${TRAIN_ARGS:-} \
    --out "$out/mille-teacher-$seed" --overwrite --json > "$out/mille-teacher-$seed.json"
  echo "mille teacher seed $seed: $(score "$out/mille-teacher-$seed.json")"
  "$train" "$store" --recipe ogbn-arxiv-revgat-selfkd --teacher "$out/mille-teacher-$seed" --epochs "$epochs" \
    --seed "$seed" ${TRAIN_ARGS:-} --out "$out/mille-student-$seed" --overwrite --json > "$out/mille-student-$seed.json"
  echo "mille student seed $seed: $(score "$out/mille-student-$seed.json")"
  fi
  [[ " $sides " == *" reference "* ]] || continue
  "$py" tools/peers/revgat_reference.py --root "$data" --epochs "$epochs" --seed "$seed" ${REF_ARGS:-} \
    --save-logits "$out/ref-teacher-$seed.npy" --curve "$out/ref-teacher-$seed.curve.jsonl" > "$out/ref-teacher-$seed.json"
  echo "reference teacher seed $seed: $(score "$out/ref-teacher-$seed.json")"
  "$py" tools/peers/revgat_reference.py --root "$data" --epochs "$epochs" --seed "$seed" ${REF_ARGS:-} --mode student \
    --teacher-logits "$out/ref-teacher-$seed.npy" --curve "$out/ref-student-$seed.curve.jsonl" > "$out/ref-student-$seed.json"
  echo "reference student seed $seed: $(score "$out/ref-student-$seed.json")"
done
