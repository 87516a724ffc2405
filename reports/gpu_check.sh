#!/usr/bin/env bash
# The GPU check: correctness and speed on one NVIDIA GPU, in one go.
#
# Run from the repository root on a machine with one NVIDIA GPU and this project's
# dependencies (the README's `make`, or an image with JAX 0.11/0.12, Flax, optax,
# SciPy, Matplotlib, mpmath and pytest; neural-tangents 0.6.5 and frozendict 2.5.1
# installed with --no-deps, e.g. from wheels: see the README). It writes
#   reports/bench/<gpu>_w8192_n64_s8.{json,md}
#   reports/gpu-check/analytic-vs-nt.log    our float64 kernels against neural-tangents', on the GPU
#   reports/gpu-check/mc-compile.log       the cold Monte Carlo program's compile time, per seed loop and generator
#   reports/converge-default-gpu/        python -m harness.converge --widths 128..8192
#   reports/converge-conditional-gpu/    conditional samples to width 2^20 for 60 s: the detectable error reached
#   reports/gpu-check/converge-warm-cache/  the first converge run again, with the compilation cache warm
#   reports/gpu-check/summary.{md,json}  the targets, with the matmul precision (reports/gpu_summary.py)
#   reports/gpu-check/tests-*.log        the whole test suite on the GPU (one log per folder)
# and prints the summary. Set PYTHON to choose the interpreter (default: .venv/bin/python
# if present, else python3); COPY_TO=DIR puts every result in DIR/gpu-check.tgz after each step.
# GPU_CHECK_BUDGET_S=N gives the tests (all folders at once) whatever is left of N seconds from the start (default:
# 420 s for each folder). GPU_CHECK_DRY_RUN=1 runs every step on whatever JAX sees, at tiny sizes (a check of
# the script itself, not a measurement).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo "$PWD/.venv/bin/python" || echo python3)}
DRY=${GPU_CHECK_DRY_RUN:-}
began=$(date +%s)
mkdir -p reports/gpu-check reports/bench
export PYTHONUNBUFFERED=1

copy_out() {  # one archive: the device tool brings back only a few files
  if [ -n "${COPY_TO:-}" ]; then
    mkdir -p "$COPY_TO"
    tar czf "$COPY_TO/gpu-check.tgz" --exclude=units --exclude=.lock \
      $(ls -d reports/gpu-check reports/bench reports/converge-default-gpu reports/converge-conditional-gpu 2>/dev/null)
  fi
  return 0
}

if [ -n "$DRY" ]; then  # in a scratch copy: the committed reports stay as they are
  scratch=$(mktemp -d)
  mkdir "$scratch/repo"  # the tracked files only: the .venv stays where it is
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$scratch/repo"
  cd "$scratch/repo" && mkdir -p reports/gpu-check reports/bench
  echo "gpu_check: dry run in $scratch/repo"
  gpu=dry-run
  bench_widths=64,128; n_inputs=8; big=128; converge_widths=64..256; analytic_n=256
  conditional_widths=256..1024
else
  gpu=$($PYTHON -c "import jax; d = jax.devices()[0]; print(d.device_kind.replace(' ', '-') if d.platform == 'gpu' else '')")
  if [ -z "$gpu" ]; then
    echo "gpu_check: JAX sees no GPU here; nothing to measure" >&2
    exit 2
  fi
  bench_widths=8192; n_inputs=64; big=8192; converge_widths=128..8192; analytic_n=4096
  conditional_widths=16384..1048576
fi
# A compilation cache of this check's own: the first converge run compiles, its twin reads back.
export HARNESS_COMPILATION_CACHE=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | tee reports/gpu-check/nvidia-smi.txt

echo "== our analytic kernels against neural-tangents', both in float64 on this device"
timeout 90 $PYTHON -m pytest -q -s --tb=long -p no:cacheprovider tests/analytic/test_activations.py \
  -k "neural_tangents" 2>&1 | tee reports/gpu-check/analytic-vs-nt.log | tail -n 30
copy_out

echo "== the Monte Carlo program cold: seconds compiling, per seed loop and generator (width $big)"
timeout 120 $PYTHON - "$big" "$n_inputs" <<'PY' 2>&1 | tee reports/gpu-check/mc-compile.log
import sys, time
import jax
from harness.kernels import monte_carlo_kernels
from harness.runs import CompileLog
from models import ResidualMLP
model = ResidualMLP(int(sys.argv[1]), 3, W_std=1.0, b_std=1.0)
xs = jax.random.normal(jax.random.PRNGKey(2), (int(sys.argv[2]), 10))
print(f"{jax.devices()[0].device_kind}, default matmul precision, 8 networks, kernels only")
for loop in ("vmap", "map"):
    for impl in (None, "rbg"):
        def call():
            return monte_carlo_kernels(model, xs, range(8), control_variates=False,
                                       seed_loop=loop, prng_impl=impl)
        jax.clear_caches()
        with CompileLog() as log:
            began = time.perf_counter(); call(); cold = time.perf_counter() - began
        began = time.perf_counter(); call(); warm = time.perf_counter() - began
        print(f"seed_loop={loop:4s} prng={impl or 'threefry':8s} cold {cold:6.2f} s "
              f"(compiling {log.seconds:5.2f} s) warm {warm:6.3f} s", flush=True)
PY
copy_out

echo "== benchmark at widths $bench_widths (ours jacobian skipped: the suite checks it; at width 8192 it is minutes; on an H200 each width takes about 65 s)"
bench_json="reports/bench/${gpu}_w${bench_widths//,/-}_n${n_inputs}_s8.json"
timeout 200 $PYTHON -m harness.bench --widths "$bench_widths" --n-inputs "$n_inputs" --seeds 8 \
  --no-jacobian --analytic-n "$analytic_n" --json "$bench_json" --note "reports/gpu_check.sh" 2>&1 |
  tee reports/gpu-check/bench.log | tail -n 40
copy_out

echo "== converge --widths $converge_widths (as typed; wall time includes start-up and compilation)"
start=$(date +%s.%N)
timeout 150 $PYTHON -m harness.converge --widths "$converge_widths" --out reports/converge-default-gpu --force 2>&1 |
  tee reports/gpu-check/converge-default.log | tail -n 12
end=$(date +%s.%N)
copy_out

echo "== the same converge run again into a new folder, compilation cache warm"
timeout 150 $PYTHON -m harness.converge --widths "$converge_widths" --out reports/gpu-check/converge-warm-cache \
  --force --quiet 2>&1 | tee reports/gpu-check/converge-warm-cache.log | tail -n 3
copy_out

echo "== conditional samples, widths $conditional_widths, 60 s budget, target detectable error 0.1%"
cstart=$(date +%s.%N)
timeout 150 $PYTHON -m harness.converge --sampler conditional --widths "$conditional_widths" \
  --target-error 0.001 --budget 60 --candidate none --out reports/converge-conditional-gpu --force 2>&1 |
  tee reports/gpu-check/converge-conditional.log | tail -n 8
cend=$(date +%s.%N)
copy_out

echo "== summary"
timeout 60 $PYTHON reports/gpu_summary.py "$bench_json" "$big" "$start" "$end" "$cstart" "$cend"
copy_out

echo "== tests (one pytest per folder, all at once; GPU memory allocated on demand)"
export XLA_PYTHON_CLIENT_PREALLOCATE=false
test_timeout=420
if [ -n "${GPU_CHECK_BUDGET_S:-}" ]; then
  test_timeout=$((GPU_CHECK_BUDGET_S - ($(date +%s) - began) - 20))
  [ "$test_timeout" -lt 10 ] && test_timeout=10
fi
echo "(each folder's pytest is interrupted after $test_timeout s, and prints the failures it has)"
ls -d tests/*/ | grep -v adversarial | xargs -P 10 -I{} sh -c \
  'name=$(basename {}); timeout -s INT -k 20 '"$test_timeout"' '"$PYTHON"' -m pytest -q --tb=short -p no:cacheprovider {} \
     > reports/gpu-check/tests-$name.log 2>&1; echo "$name: rc=$? $(tail -n 1 reports/gpu-check/tests-$name.log)"' |
  sort | tee reports/gpu-check/tests-summary.txt
copy_out
