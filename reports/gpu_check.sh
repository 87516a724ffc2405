#!/usr/bin/env bash
# The GPU check: correctness and speed on one NVIDIA GPU, in one go.
#
# Run from the repository root on a machine with one NVIDIA GPU and this project's
# dependencies (the README's `make`, or an image with JAX 0.11/0.12, Flax, optax,
# SciPy, Matplotlib, mpmath and pytest; neural-tangents 0.6.5 and frozendict 2.5.1
# installed with --no-deps, e.g. from wheels: see the README). It writes
#   reports/bench/<gpu>_w1024-8192_n64_s8.{json,md}
#   reports/converge-default-gpu/        python -m harness.converge --widths 128..8192
#   reports/converge-flax-gpu/           the same with --sampler flax (every width instantiated)
#   reports/converge-conditional-gpu/    conditional samples to width 2^20 for 60 s: the detectable error reached
#   reports/gpu-check/converge-warm-cache/  the first converge run again, with the compilation cache warm
#   reports/gpu-check/init_ntk.json      init + NTK of one width-8192 network vs the HBM floor
#   reports/gpu-check/summary.md         the four target ratios, with the matmul precision
#   reports/gpu-check/tests-*.log        the whole test suite on the GPU (one log per folder)
# and prints the summary. Set PYTHON to choose the interpreter (default: .venv/bin/python
# if present, else python3); COPY_TO=DIR puts every result in DIR/gpu-check.tgz after each step.
# GPU_CHECK_BUDGET_S=N gives the tests whatever is left of N seconds from the start (default:
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
      $(ls -d reports/gpu-check reports/bench reports/converge-default-gpu reports/converge-flax-gpu \
        reports/converge-conditional-gpu 2>/dev/null)
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
  bench_widths=1024,2048,4096,8192; n_inputs=64; big=8192; converge_widths=128..8192; analytic_n=4096
  conditional_widths=16384..1048576
fi
# A compilation cache of this check's own: the first converge run compiles, its twin reads back.
export HARNESS_COMPILATION_CACHE=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | tee reports/gpu-check/nvidia-smi.txt

echo "== benchmark (ours jacobian skipped: the suite checks it; at width 8192 it is minutes)"
bench_json="reports/bench/${gpu}_w${bench_widths//,/-}_n${n_inputs}_s8.json"
timeout 300 $PYTHON -m harness.bench --widths "$bench_widths" --n-inputs "$n_inputs" --seeds 8 \
  --no-jacobian --analytic-n "$analytic_n" --json "$bench_json" --note "reports/gpu_check.sh" 2>&1 |
  tee reports/gpu-check/bench.log | tail -n 40
copy_out

echo "== converge --widths $converge_widths (as typed; wall time includes start-up and compilation)"
start=$(date +%s.%N)
timeout 240 $PYTHON -m harness.converge --widths "$converge_widths" --out reports/converge-default-gpu --force 2>&1 |
  tee reports/gpu-check/converge-default.log | tail -n 12
end=$(date +%s.%N)
copy_out

echo "== the same converge run again into a new folder, compilation cache warm"
timeout 240 $PYTHON -m harness.converge --widths "$converge_widths" --out reports/gpu-check/converge-warm-cache \
  --force --quiet 2>&1 | tee reports/gpu-check/converge-warm-cache.log | tail -n 3
copy_out

echo "== conditional samples, widths $conditional_widths, 60 s budget, target detectable error 0.1%"
cstart=$(date +%s.%N)
timeout 240 $PYTHON -m harness.converge --sampler conditional --widths "$conditional_widths" \
  --target-error 0.001 --budget 60 --candidate none --out reports/converge-conditional-gpu --force 2>&1 |
  tee reports/gpu-check/converge-conditional.log | tail -n 8
cend=$(date +%s.%N)
copy_out

echo "== converge --widths $converge_widths --sampler flax (every width instantiated)"
fstart=$(date +%s.%N)
timeout 240 $PYTHON -m harness.converge --widths "$converge_widths" --sampler flax \
  --out reports/converge-flax-gpu --force 2>&1 | tee reports/gpu-check/converge-flax.log | tail -n 12
fend=$(date +%s.%N)
copy_out

echo "== init + NTK of one width-$big network"
timeout 180 $PYTHON - "$bench_json" "$big" "$n_inputs" "$start" "$end" "$fstart" "$fend" "$cstart" "$cend" <<'EOF'
import json
import statistics
import sys
import time

import jax

from harness.kernels import empirical_ntk
from models import ResidualMLP
from models import draw_parameters

bench_json, width, n_inputs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start, end, fstart, fend, cstart, cend = map(float, sys.argv[4:10])


def results(folder):
    try:
        return json.load(open(f"{folder}/results.json"))
    except (OSError, ValueError):
        return {}


cold_run = results("reports/converge-default-gpu").get("timing", {})
warm_run = results("reports/gpu-check/converge-warm-cache").get("timing", {})
conditional = results("reports/converge-conditional-gpu")
reached = {
    k: conditional.get("kernels", {}).get(k, {}).get("detectable_error") for k in ("nngp", "ntk")
}
model = ResidualMLP(width, 3, 1.0, 1.0)
xs = jax.random.normal(jax.random.PRNGKey(1), (n_inputs, 10))


def timed(impl):
    """Median of 20 warm calls of init (PRNG draw) + factored NTK, fused in one jit."""

    @jax.jit
    def init_and_ntk(seed, xs):
        key = jax.random.key(seed, impl=impl)
        return empirical_ntk(model, draw_parameters(model, key, xs.shape[-1]), xs)

    init_and_ntk(0, xs).block_until_ready()
    times = []
    for seed in range(1, 21):
        t = time.perf_counter()
        init_and_ntk(seed, xs).block_until_ready()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@jax.jit
def ntk_only(variables, xs):
    return empirical_ntk(model, variables, xs)


variables = draw_parameters(model, jax.random.PRNGKey(0), 10)
params = sum(x.size for x in jax.tree_util.tree_leaves(variables))
ntk_only(variables, xs).block_until_ready()
ntk_times = []
for _ in range(20):
    t = time.perf_counter()
    ntk_only(variables, xs).block_until_ready()
    ntk_times.append(time.perf_counter() - t)
ntk_s = statistics.median(ntk_times)
medians = {impl: timed(impl) for impl in ("threefry2x32", "unsafe_rbg")}
# HBM floor: write the float32 weights once (from the RNG) and read them twice.
bandwidth = {"H200": 4.8e12, "H100": 3.35e12}
kind = jax.devices()[0].device_kind
bw = next((v for k, v in bandwidth.items() if k in kind), float("nan"))
floor = 3 * 4 * params / bw
bench = json.load(open(bench_json))
row = {r["width"]: r for r in bench["rows"]}[width]
summary = {
    "device": kind,
    "jax": jax.__version__,
    "matmul_precision": "default (TF32 on NVIDIA GPUs)",
    "width": width,
    "n_inputs": n_inputs,
    "params": int(params),
    "ntk_speedup_vs_nt_fastest": row["ntk_speedup_vs_nt"],
    "ntk_only_s": ntk_s,
    "init_plus_ntk_s": medians,
    "hbm_bandwidth_bytes_per_s": bw,
    "hbm_floor_s": floor,
    "init_plus_ntk_over_floor": {k: v / floor for k, v in medians.items()},
    "mc_speedup_vs_nt_cold": row["mc_speedup_vs_nt"],
    "converge_default_wall_s": end - start,
    "converge_flax_wall_s": fend - fstart,
    "first_network_s_cold_cache": cold_run.get("first_network_s"),
    "first_network_s_warm_cache": warm_run.get("first_network_s"),
    "compile_s_cold_cache": cold_run.get("compilation", {}).get("seconds"),
    "compile_s_warm_cache": warm_run.get("compilation", {}).get("seconds"),
    "conditional_60s_wall_s": cend - cstart,
    "conditional_60s_detectable_error": reached,
    "conditional_60s_seeds_per_width": conditional.get("seeds_per_width"),
    "mc_ours_cold_s": row["mc_ours_cold_s"],
    "mc_ours_compile_s": row.get("mc_ours_compile_s"),
    "mc_ours_warm_s": row["mc_ours_warm_s"],
    "mc_nt_cold_s": row["mc_nt_cold_s"],
    "mc_nt_compile_s": row.get("mc_nt_compile_s"),
}
json.dump(summary, open("reports/gpu-check/init_ntk.json", "w"), indent=2)
t3, rbg = medians["threefry2x32"], medians["unsafe_rbg"]
lines = [
    f"# GPU check on {kind}, JAX {jax.__version__}, float32, default matmul precision (TF32)",
    "",
    "| target | measured | goal |",
    "|---|---|---|",
    f"| NTK of one width-{width} network vs NT's fastest `empirical_ntk_fn` | "
    f"{row['ntk_speedup_vs_nt']:.1f}× | ≥ 30× |",
    f"| init + NTK, width {width}, {n_inputs} inputs, threefry (default keys) | "
    f"{t3 * 1e3:.2f} ms = {t3 / floor:.2f}× the HBM floor ({floor * 1e3:.2f} ms) | (not a target) |",
    f"| init + NTK, width {width}, {n_inputs} inputs, `unsafe_rbg` keys | "
    f"{rbg * 1e3:.2f} ms = {rbg / floor:.2f}× the HBM floor | (not a target) |",
    f"| (NTK alone, weights given) | {ntk_s * 1e3:.2f} ms | |",
    f"| Monte Carlo NNGP+NTK vs `nt.monte_carlo_kernel_fn`, cold | "
    f"{row['mc_speedup_vs_nt']:.1f}× (ours {row['mc_ours_cold_s']:.2f} s, of it "
    f"{row.get('mc_ours_compile_s') or float('nan'):.2f} s compiling; warm "
    f"{row['mc_ours_warm_s']:.3f} s) | ≥ 10× |",
    f"| `converge --widths 128..8192` (default sampler), wall | {end - start:.1f} s | ≤ 60 s |",
    f"| `converge --widths 128..8192 --sampler flax`, wall | {fend - fstart:.1f} s | ≤ 60 s |",
    f"| first network from the start, empty / warm compilation cache | "
    f"{cold_run.get('first_network_s') or float('nan'):.2f} s / "
    f"{warm_run.get('first_network_s') or float('nan'):.2f} s | |",
    f"| conditional sampler to width 2^20, 60 s budget: detectable error NNGP / NTK | "
    f"{(reached['nngp'] or float('nan')) * 100:.3g}% / {(reached['ntk'] or float('nan')) * 100:.3g}% "
    f"in {cend - cstart:.0f} s | 0.1% |",
]
open("reports/gpu-check/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
copy_out

echo "== tests (one pytest per folder, five at a time; GPU memory allocated on demand)"
export XLA_PYTHON_CLIENT_PREALLOCATE=false
test_timeout=420
if [ -n "${GPU_CHECK_BUDGET_S:-}" ]; then
  test_timeout=$((GPU_CHECK_BUDGET_S - ($(date +%s) - began) - 20))
  [ "$test_timeout" -lt 10 ] && test_timeout=10
fi
echo "(each folder's pytest stops after $test_timeout s)"
ls -d tests/*/ | grep -v adversarial | xargs -P 5 -I{} sh -c \
  'name=$(basename {}); timeout '"$test_timeout"' '"$PYTHON"' -m pytest -q -p no:cacheprovider {} \
     > reports/gpu-check/tests-$name.log 2>&1; echo "$name: rc=$? $(tail -n 1 reports/gpu-check/tests-$name.log)"' |
  sort | tee reports/gpu-check/tests-summary.txt
copy_out
