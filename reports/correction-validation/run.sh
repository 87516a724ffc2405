#!/usr/bin/env bash
# Our NNGP correction against the measured A on several residual MLPs (issue 20), each run
# also judging a correction 10% off (reports/correction-validation/candidates.py), with
# 2^17 networks per width at widths 8..64 on 6 Gaussian inputs.
# Run from the repository root: bash reports/correction-validation/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
out=reports/correction-validation
run() {
  name=$1; shift
  PYTHONPATH=$out "$PY" -m harness.correction --n-inputs 6 --seeds 131072 --force \
    --candidate candidates:ten_percent_off --out "$out/$name" "$@" > "$out/$name.txt"
}
run depth1-w1-nobias     --blocks 1  --w-std 1.0 --b-std 0.0
run depth2-w2-bias       --blocks 2  --w-std 2.0 --b-std 0.5
run depth4-w2-nobias     --blocks 4  --w-std 2.0 --b-std 0.0
run depth5-w0.5-bias     --blocks 5  --w-std 0.5 --b-std 0.5
run depth10-w1-alpha     --blocks 10 --w-std 1.0 --b-std 0.3 --branch-scale 0.316227766
run depth10-w1.5-nobias  --blocks 10 --w-std 1.5 --b-std 0.0 --widths 16,32,64,128
run depth1-w2-bias       --blocks 1  --w-std 2.0 --b-std 0.5
run erf-depth2-w2-bias   --blocks 2  --w-std 2.0 --b-std 0.5 --activation erf
run erf-depth3-w1.5      --blocks 3  --w-std 1.5 --b-std 0.3 --activation erf
