#!/usr/bin/env bash
# The GPU check: correctness and speed on one NVIDIA GPU, in one go.
#
# Run from the repository root on a machine with one NVIDIA GPU and this project's
# dependencies (the README's `make`, or an image with JAX 0.11/0.12, Flax, optax,
# SciPy, Matplotlib, mpmath and pytest; neural-tangents 0.6.5 and frozendict 2.5.1
# installed with --no-deps, e.g. from wheels: see the README). It writes
#   reports/gpu-check/tests.log          the whole test suite on the GPU
#   reports/bench/<gpu>_w1024-8192_n64_s8.{json,md}
#   reports/converge-default-gpu/        python -m harness.converge --widths 128..8192
#   reports/gpu-check/init_ntk.json      init + NTK of one width-8192 network vs the HBM floor
#   reports/gpu-check/summary.md         the four target ratios, with the matmul precision
# and prints the summary. Set PYTHON to choose the interpreter (default: .venv/bin/python
# if present, else python3).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
mkdir -p reports/gpu-check reports/bench
export PYTHONUNBUFFERED=1

gpu=$($PYTHON -c "import jax; d = jax.devices()[0]; print(d.device_kind.replace(' ', '-') if d.platform == 'gpu' else '')")
if [ -z "$gpu" ]; then
  echo "gpu_check: JAX sees no GPU here; nothing to measure" >&2
  exit 2
fi

echo "== tests"
$PYTHON -m pytest -q -p no:cacheprovider 2>&1 | tee reports/gpu-check/tests.log | tail -n 3

echo "== benchmark"
bench_json="reports/bench/${gpu}_w1024-8192_n64_s8.json"
$PYTHON -m harness.bench --widths 1024,2048,4096,8192 --n-inputs 64 --seeds 8 \
  --json "$bench_json" --note "reports/gpu_check.sh" 2>&1 | tail -n 20

echo "== converge --widths 128..8192 (instantiated networks, wall time includes compilation)"
start=$(date +%s.%N)
$PYTHON -m harness.converge --widths 128..8192 --sampler flax --out reports/converge-default-gpu --force
end=$(date +%s.%N)

echo "== init + NTK of one width-8192 network"
$PYTHON - "$bench_json" "$start" "$end" <<'EOF'
import json
import sys
import time

import jax
import jax.numpy as jnp

from harness.kernels import empirical_ntk
from harness.kernels import init_network
from models import ResidualMLP

bench_json, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
width, n_inputs = 8192, 64
model = ResidualMLP(width, 3, 1.0, 1.0)
xs = jax.random.normal(jax.random.PRNGKey(1), (n_inputs, 10))


@jax.jit
def init_and_ntk(seed, xs):
    return empirical_ntk(model, init_network(model, xs, seed), xs)


init_and_ntk(0, xs).block_until_ready()
times = []
for seed in range(1, 21):
    t = time.perf_counter()
    init_and_ntk(seed, xs).block_until_ready()
    times.append(time.perf_counter() - t)
median = sorted(times)[len(times) // 2]
params = sum(x.size for x in jax.tree_util.tree_leaves(init_network(model, xs, 0)))
# HBM floor: write the float32 weights once (from the RNG) and read them twice.
bandwidth = {"H200": 4.8e12, "H100": 3.35e12}
kind = jax.devices()[0].device_kind
bw = next((v for k, v in bandwidth.items() if k in kind), float("nan"))
floor = 3 * 4 * params / bw
bench = json.load(open(bench_json))
row = {r["width"]: r for r in bench["rows"]}[8192]
summary = {
    "device": kind,
    "jax": jax.__version__,
    "matmul_precision": "default (TF32 on NVIDIA GPUs)",
    "ntk_speedup_vs_nt_fastest_w8192": row["ntk_speedup_vs_nt"],
    "init_plus_ntk_s": median,
    "hbm_floor_s": floor,
    "init_plus_ntk_over_floor": median / floor,
    "mc_speedup_vs_nt_cold_w8192": row["mc_speedup_vs_nt"],
    "converge_128_8192_wall_s": end - start,
}
json.dump(summary, open("reports/gpu-check/init_ntk.json", "w"), indent=2)
lines = [
    f"# GPU check on {kind}, JAX {jax.__version__}, float32, default matmul precision (TF32)",
    "",
    "| target | measured | goal |",
    "|---|---|---|",
    f"| NTK of one width-8192 network vs NT's fastest | {row['ntk_speedup_vs_nt']:.1f}× | ≥ 30× |",
    f"| init + NTK, width 8192, 64 inputs | {median * 1e3:.2f} ms = "
    f"{median / floor:.2f}× the HBM floor ({floor * 1e3:.2f} ms) | ≤ 2× |",
    f"| Monte Carlo NNGP+NTK vs nt.monte_carlo_kernel_fn, cold | "
    f"{row['mc_speedup_vs_nt']:.1f}× | ≥ 10× |",
    f"| converge --widths 128..8192, wall | {end - start:.1f} s | ≤ 60 s |",
]
open("reports/gpu-check/summary.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
