"""The GPU check's summary: the targets of ``reports/gpu_check.sh``, from what its steps wrote.

Run by ``reports/gpu_check.sh`` as ``python reports/gpu_summary.py BENCH_JSON WIDTH T0 T1 C0 C1``
(the wall-clock bounds of the converge run and of the conditional run). Writes
``reports/gpu-check/summary.{json,md}`` and prints the table.
"""

import json
import sys

import jax


def results(folder):
    try:
        with open(f"{folder}/results.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def number(value, spec=".2f"):
    return format(value, spec) if isinstance(value, (int, float)) else "—"


def percent(value):
    return f"{value * 100:.3g}%" if isinstance(value, (int, float)) else "—"


def main(argv):
    bench_json, width = argv[0], int(argv[1])
    start, end, cstart, cend = map(float, argv[2:6])
    default = results("reports/converge-default-gpu")
    cold_run = default.get("timing", {})
    warm_run = results("reports/gpu-check/converge-warm-cache").get("timing", {})
    conditional = results("reports/converge-conditional-gpu")

    def per_kernel(run, field):
        return {k: run.get("kernels", {}).get(k, {}).get(field) for k in ("nngp", "ntk")}

    reached = per_kernel(conditional, "detectable_error")
    outcomes = per_kernel(default, "outcome")
    kind = jax.devices()[0].device_kind
    try:
        with open(bench_json) as f:
            rows = {r["width"]: r for r in json.load(f)["rows"]}
    except (OSError, ValueError, KeyError):
        rows = {}
    row = rows.get(width, {})
    summary = {
        "device": kind,
        "jax": jax.__version__,
        "matmul_precision": "default (TF32 on NVIDIA GPUs)",
        "width": width,
        "ntk_speedup_vs_nt_fastest": row.get("ntk_speedup_vs_nt"),
        "mc_speedup_vs_nt_cold": {w: r.get("mc_speedup_vs_nt") for w, r in rows.items()},
        "mc_speedup_vs_nt_warm": {w: r.get("mc_warm_speedup_vs_nt") for w, r in rows.items()},
        "mc_ours_cold_s": row.get("mc_ours_cold_s"),
        "mc_ours_compile_s": row.get("mc_ours_compile_s"),
        "mc_ours_warm_s": row.get("mc_ours_warm_s"),
        "mc_nt_cold_s": row.get("mc_nt_cold_s"),
        "mc_nt_compile_s": row.get("mc_nt_compile_s"),
        "converge_default_wall_s": end - start,
        "converge_default_outcomes": outcomes,
        "converge_default_detectable_error": per_kernel(default, "detectable_error"),
        "first_network_s_cold_cache": cold_run.get("first_network_s"),
        "first_network_s_warm_cache": warm_run.get("first_network_s"),
        "compile_s_cold_cache": cold_run.get("compilation", {}).get("seconds"),
        "compile_s_warm_cache": warm_run.get("compilation", {}).get("seconds"),
        "conditional_60s_wall_s": cend - cstart,
        "conditional_60s_detectable_error": reached,
        "conditional_60s_seeds_per_width": conditional.get("seeds_per_width"),
    }
    with open("reports/gpu-check/summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    lines = [
        f"# GPU check on {kind}, JAX {jax.__version__}, float32, default matmul precision (TF32)",
        "",
        "| target | measured | goal |",
        "|---|---|---|",
        f"| NTK of one width-{width} network vs NT's fastest `empirical_ntk_fn` | "
        f"{number(row.get('ntk_speedup_vs_nt'), '.1f')}× | ≥ 30× |",
        f"| Monte Carlo NNGP+NTK vs `nt.monte_carlo_kernel_fn`, cold, width {width} | "
        f"{number(row.get('mc_speedup_vs_nt'), '.1f')}× "
        f"(ours {number(row.get('mc_ours_cold_s'))} s, "
        f"of it {number(row.get('mc_ours_compile_s'))} s compiling; warm "
        f"{number(row.get('mc_ours_warm_s'), '.3f')} s) | ≥ 10× |",
        f"| `converge --widths 128..8192`, wall (start-up and compilation included) | "
        f"{end - start:.1f} s; NNGP {outcomes['nngp']}, NTK {outcomes['ntk']} | ≤ 60 s |",
        f"| first network from the start, empty / warm compilation cache | "
        f"{number(cold_run.get('first_network_s'))} s / "
        f"{number(warm_run.get('first_network_s'))} s | ≤ 3 s warm |",
        f"| conditional sampler to width 2^20, 60 s budget: detectable error NNGP / NTK | "
        f"{percent(reached['nngp'])} / {percent(reached['ntk'])} in {cend - cstart:.0f} s | 0.1% |",
    ]
    with open("reports/gpu-check/summary.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
