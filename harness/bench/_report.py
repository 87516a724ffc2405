"""Formatting and saving benchmark results: a readable table, a Markdown report, the JSON."""

from __future__ import annotations

import json
from pathlib import Path

from harness.runs import atomic_write_text

__all__ = ["format_table", "save_results"]


def _ms(seconds) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.2f} ms"


def _s(seconds) -> str:
    return "—" if seconds is None else f"{seconds:.2f} s"


def format_table(result: dict) -> str:
    """The result as Markdown tables (one row per width; the analytic kernels below)."""
    lines = [
        f"device: {result['device']}; matmul precision: {result['precision']}; activation: "
        f"{result.get('config', {}).get('activation', 'relu')}, branch scale "
        f"{result.get('config', {}).get('branch_scale', 1.0):g}",
    ]
    if result.get("note"):
        lines.append(f"note: {result['note']}")
    lines += [
        "",
        "NTK of one network (warm median):",
        "",
        "| width | params | ours factored | ours jacobian | NT impl 1 | NT impl 2 "
        "| NT fastest ÷ factored |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['width']} | {row['n_params'] / 1e6:.1f} M | {_ms(row['ntk_factored_s'])} "
            f"| {_ms(row.get('ntk_jacobian_s'))} | {_ms(row['ntk_nt1_s'])} "
            f"| {_ms(row['ntk_nt2_s'])} | {row['ntk_speedup_vs_nt']:.1f}× |"
        )
    lines += [
        "",
        "Monte Carlo NNGP + NTK (cold: caches cleared, persistent cache off, compilation "
        "included; of it, compiling: tracing, lowering and XLA; random bits: "
        f"{result.get('config', {}).get('prng', 'threefry')}, both sides):",
        "",
        "| width | seeds | ours cold | of it compiling | NT cold | of it compiling "
        "| NT ÷ ours cold | ours warm | NT warm | NT ÷ ours warm |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['width']} | {row['mc_seeds']} | {_s(row['mc_ours_cold_s'])} "
            f"| {_s(row.get('mc_ours_compile_s'))} "
            f"| {_s(row['mc_nt_cold_s'])} | {_s(row.get('mc_nt_compile_s'))} "
            f"| {row['mc_speedup_vs_nt']:.1f}× "
            f"| {_s(row['mc_ours_warm_s'])} | {_s(row['mc_nt_warm_s'])} "
            f"| {row['mc_warm_speedup_vs_nt']:.1f}× |"
        )
    config = result.get("config", {})
    activation = config.get("activation", "relu")
    if any("conditional_s" in row for row in result["rows"]):
        lines += [
            "",
            f"Conditional sampler, float32, warm ({activation} against relu, same networks' "
            "count and shapes):",
            "",
            f"| width | seeds | {activation} | relu | {activation} ÷ relu |",
            "|---|---|---|---|---|",
        ]
        for row in result["rows"]:
            lines.append(
                f"| {row['width']} | {row['mc_seeds']} | {_ms(row['conditional_s'])} "
                f"| {_ms(row['conditional_relu_s'])} | {row['conditional_cost_vs_relu']:.2f}× |"
            )
    analytic = result.get("analytic")
    if analytic:
        lines += [
            "",
            f"Analytic NNGP + NTK at N = {analytic['analytic_n']} (warm median; first call):",
            "",
            "| implementation | warm | first call | NTK max rel. diff from ours |",
            "|---|---|---|---|",
            f"| ours (float64) | {_ms(analytic['analytic_ours_float64_s'])} "
            f"| {_s(analytic['analytic_ours_float64_first_s'])} | — |",
        ]
        for dtype in ("float32", "float64"):
            lines.append(
                f"| NT kernel_fn ({dtype}) | {_ms(analytic[f'analytic_nt_{dtype}_s'])} "
                f"| {_s(analytic[f'analytic_nt_{dtype}_first_s'])} "
                f"| {analytic[f'analytic_nt_{dtype}_rel_diff']:.1e} |"
            )
    return "\n".join(lines)


def save_results(result: dict, json_path: Path, *, command: str) -> Path:
    """Write ``json_path`` and a Markdown report beside it (same stem, ``.md``)."""
    json_path = Path(json_path)
    atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
    env = result["environment"]
    report = "\n".join(
        [
            f"# Benchmark: {result['device']}",
            "",
            f"Command: `{command}`",
            "",
            f"JAX {env['jax']}, flax {env['flax']}, backend {env['backend']}, "
            f"matmul precision {env['matmul_precision']}, dtype {env['dtype']}.",
            "",
            format_table(result),
            "",
        ]
    )
    md_path = json_path.with_suffix(".md")
    atomic_write_text(md_path, report)
    return md_path
