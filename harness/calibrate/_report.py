"""The study's outputs: ``results.json``, ``records.csv.gz``, ``report.md`` and ``power.png``.

``results.json`` holds the command line, the environment
(:func:`harness.runs.environment_stamp`), the grid, the size and power
tables of :mod:`harness.calibrate._summary` and the timings.
``records.csv.gz`` has every formula test, one row each (gzip without a
timestamp, so a rerun with equal numbers writes equal bytes; floats to six
digits). ``report.md`` leads with the size and power headlines and shows the
tables; ``power.{png,svg}`` plot the rejection rate against true/detectable
error with the theoretical curve.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np

from harness.calibrate._design import DEEP_SMALL_WIDTH
from harness.calibrate._study import CalibrationResult
from harness.calibrate._study import FormulaRecord
from harness.calibrate._summary import family_table
from harness.calibrate._summary import power_table
from harness.calibrate._summary import seeds_table
from harness.calibrate._summary import shape_table
from harness.calibrate._summary import size_summary
from harness.calibrate._summary import size_table
from harness.calibrate._summary import theoretical_power
from harness.calibrate._summary import twin_table
from harness.runs import atomic_write_bytes
from harness.runs import atomic_write_json
from harness.runs import atomic_write_text
from harness.runs import claim_folder
from harness.runs import csv_text
from harness.runs import strict_json

__all__ = ["records_csv_gz", "results_json", "write_report"]


def _deep_small_width(result: CalibrationResult) -> list[FormulaRecord]:
    names = {
        c.name
        for c in result.configs
        if all(getattr(c, key) == value for key, value in DEEP_SMALL_WIDTH.items())
    }
    return [r for r in result.records if r.config in names and r.family == "correct"]


def results_json(result: CalibrationResult, *, command: str, environment: dict) -> dict:
    """Everything measured; non-finite numbers stay (``strict_json`` makes them null)."""
    return {
        "command": command,
        "environment": environment,
        "grid": [c.to_json() for c in result.configs],
        "size": size_summary(result),
        "size_by_config": size_table(result),
        "power_by_ratio": power_table(result),
        "power_by_family": family_table(result),
        "by_seeds": seeds_table(result),
        "by_shape": shape_table(result),
        "skipped": dict(result.skipped),
        "flax_vs_conditional": twin_table(result),
        "records": {"file": "records.csv.gz", "count": len(result.records)},
        "timings": {
            "total_seconds": result.total_seconds,
            "sampling_seconds": result.sampling_seconds,
            "testing_seconds": result.testing_seconds,
        },
    }


def records_csv_gz(result: CalibrationResult) -> bytes:
    """Every formula record as gzipped CSV (columns of :class:`FormulaRecord`)."""
    rows = [[f"{v:.6g}" if isinstance(v, float) else v for v in r.row()] for r in result.records]
    return gzip.compress(csv_text(FormulaRecord.columns(), rows).encode(), mtime=0)


def _pct(x: float, digits: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{100 * x:.{digits}g}%"


def _num(x, spec: str = ".2f") -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return format(x, spec)


def _shape(activation: str, branch_scale: float) -> str:
    return f"{activation}, α = {branch_scale:.4g}"


def _ratio_range(lo: float, hi: float) -> str:
    return f"≥ {lo:g}" if math.isinf(hi) else f"{lo:g}–{hi:g}"


def _markdown(result: CalibrationResult, data: dict) -> str:
    size = data["size"]
    power = data["power_by_ratio"]
    overall = next(row for row in power if row.get("all"))
    env = data["environment"]
    networks = sum(c.networks() for c in result.configs)
    lines = [
        "# Calibration of the formula test on real network kernels",
        "",
        "Made by",
        "",
        "```bash",
        data["command"],
        "```",
        "",
        f"on {env['device']} (JAX {env['jax']}, {env['device_count']} device(s)) in "
        f"{result.total_seconds / 60:.1f} min: {len(result.configs)} configs, "
        f"{networks} networks, {len(result.records)} formula tests. Method: "
        "`harness/calibrate/_study.py`; design and seeds: `harness/calibrate/_design.py`; "
        "decision rule: `harness.stats.formula_test` with its defaults (size 1e-4 shared by "
        "the global and the entry-wise test, power 95%, tolerance 1%). Every test is in "
        "`records.csv.gz`.",
        "",
        "## Headlines",
        "",
        f"- **Size.** Our analytic kernels were judged *inconsistent* in "
        f"**{size['false_inconsistent']} of {size['tests']}** tests "
        f"({size['configs']} configs × replicates × NNGP/NTK; 95% interval of the rate "
        f"[{_pct(size['rate_ci95'][0])}, {_pct(size['rate_ci95'][1])}]; nominal size "
        f"{_pct(size['nominal_size'])}, {size['expected_at_nominal']:.1f} expected at it). "
        f"First replicate of each config (issue 10's target): "
        f"**{size['first_replicate_false_inconsistent']} of {size['first_replicate_tests']}**. "
        f"Largest statistic/cut of either test {_num(size['max_z_over_cut'])} "
        f"({size['max_z_over_cut_at']}).",
        f"- **Interval, correct formulas.** The 95% interval held the true error 0 in "
        f"{size['ci_covers_zero']} of {size['tests']} ({_pct(size['ci_coverage'], 3)}).",
        f"- **Power.** Wrong formulas whose true error is at least the run's reported "
        f"detectable error (global, or entry-wise for the largest entry error) were flagged in "
        f"**{overall['flagged']} of {overall['tests']}** "
        f"({_pct(overall['power'], 3)}, 95% CI [{_pct(overall['power_ci95'][0], 3)}, "
        f"{_pct(overall['power_ci95'][1], 3)}]); the rule quotes both detectable errors at 95% "
        f"power. Their 95% intervals held the true error in {overall['ci_covers_true_error']} "
        f"of {overall['tests']}.",
        "- **By network shape** (activation, branch scale α; false *inconsistent* / tests, "
        "then wrong formulas flagged at ratio ≥ 1): "
        + "; ".join(
            f"{_shape(row['activation'], row['branch_scale'])}: "
            f"{row['false_inconsistent']}/{row['tests']}, "
            f"{row['flagged_ratio_at_least_1']}/{row['wrong_tests_ratio_at_least_1']}"
            for row in data["by_shape"]
        )
        + ".",
        "",
        "## Design",
        "",
        "- Per-network NNGP and NTK from the conditional sampler (`harness.kernels."
        "conditional_kernels`, float64; equal in law to Flax networks by "
        "`tests/kernels/test_conditional.py`) or, for the `f` configs, instantiated Flax "
        "networks (`monte_carlo_kernels`, float32) on the same inputs as their conditional twin. "
        "As in `harness.converge`, each network's kernels are judged minus their exact "
        "mean-zero control variates (`harness/kernels/_control.py`), which exist for the ReLU "
        "network with branch scale 1 (zero, removing nothing, for any other).",
        "- Network shape: each config's activation φ and branch scale α in "
        "h + α·Dense(φ(Dense(h))) (ReLU and 1 unless its row in `grid.txt` or "
        "`--activation`/`--branch-scale` say otherwise); "
        "the truth is `analytic.rmlp_kernels` with the same shape.",
        "- Seeds: config `cNN` uses keys `fold_in(PRNGKey(1000 + NN), i)`, Flax config `fNN` "
        "`PRNGKey(10⁹ + 10⁷·NN + i)`, with `i = (width index · R + replicate) · S + seed`, so "
        "no two networks share a key; inputs `study_inputs` with seed 1000 + NN: Gaussian, "
        "or norms spanning 10⁴, or with near-duplicate, antipodal and zero rows (a Flax "
        "config takes its twin's). `tests/calibrate` uses other seeds.",
        "- *True error* ε: the scale-free relative Frobenius error of the formula against our "
        "analytic kernel K (the limit), entries divided by √(K_ii K_jj); *entry error*: the "
        "largest scale-free entry error. *Ratio*: the larger of ε / the detectable error and "
        "the entry error / the entry detectable error, as the same run reported them.",
        "- Wrong formulas: scaled kernels (1+ε)K and `W_std·(1+δ)` sized from replicate 0 "
        "(the pilot) to 0.25–4 and 1–2 times its detectable error; `W_std·(1.003)`; the bias "
        "of the first and last block dropped; `b_std` written for `b_std²`; the seed "
        "notebook's NTK; local errors (one off-diagonal pair, one diagonal entry, the whole "
        "diagonal, every off-diagonal entry, the row of the smallest-norm input) at 0.5, 1 "
        "and 2 times the pilot's entry (or global) detectable error. Every family takes the "
        "config's activation and branch scale, except the dropped bias (ReLU networks only) "
        "and the seed notebook's NTK (ReLU with α = 1 only). Power tables leave the "
        "pilot replicates out.",
        "",
    ]
    if result.skipped:
        lines += [
            "## Configs left out",
            "",
            "Our analytic kernels refuse these networks, so they have no truth to test against:",
            "",
        ]
        lines += [f"- {name}: {reason}" for name, reason in result.skipped.items()]
        lines.append("")
    false = [r for r in result.records if r.family == "correct" and r.flagged]
    if false:
        by_name = {c.name: c for c in result.configs}
        lines += [
            "## False rejections",
            "",
            "| config | activation | α | L | W_std | b_std | widths | seeds | replicate | kernel "
            "| z | cut | estimated error | lack-of-fit p |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in false:
            c = by_name[r.config]
            lines.append(
                f"| {r.config} | {c.activation} | {c.branch_scale:.4g} | {c.num_res_blocks} | "
                f"{c.W_std} | {c.b_std} | "
                f"{','.join(map(str, c.widths))} | {c.seeds} | {r.replicate} | "
                f"{r.kernel.upper()} | {_num(r.z)} | {_num(r.cut)} | {_pct(r.formula_error)} | "
                f"{_num(r.lack_of_fit_p, '.2g')} |"
            )
        lines.append("")
    deep = _deep_small_width(result)
    if deep:
        lines += [
            "## The deep small-width case",
            "",
            "Issue 10: 10 blocks, `W_std=2`, `b_std=0.5`, widths 16..128, 8 inputs; the old rule "
            "said *does not converge* (z 4.2 / 4.4) for correct formulas.",
            "",
            "| config | replicate | kernel | outcome | z | cut | 95% interval | detectable "
            "| lack-of-fit p |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in deep:
            lines.append(
                f"| {r.config} | {r.replicate} | {r.kernel.upper()} | {r.outcome} | "
                f"{_num(r.z)} | {_num(r.cut)} | [{_pct(r.ci_low)}, {_pct(r.ci_high)}] | "
                f"{_pct(r.detectable_error)} | {_num(r.lack_of_fit_p, '.2g')} |"
            )
        lines.append("")
    lines += [
        "## Power against true error / detectable error",
        "",
        "*theory*: the bin's mean of Φ(k·r − 3) + Φ(−k·r − 3), k = 3.84 (many seeds, noise "
        "along the error). *consistent, truth above*: judged *consistent* although the true "
        "error exceeds the interval's upper end.",
        "",
        "![power](power.png)",
        "",
        "| true / detectable | tests | flagged | power [95% CI] | theory | interval holds truth "
        "| *consistent* | *consistent*, truth above |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in power:
        label = _ratio_range(row["ratio_low"], row["ratio_high"])
        if row.get("all"):
            label = "**all ≥ 1**"
        lines.append(
            f"| {label} | {row['tests']} | {row['flagged']} | {_pct(row['power'], 3)} "
            f"[{_pct(row['power_ci95'][0], 3)}, {_pct(row['power_ci95'][1], 3)}] | "
            f"{_pct(row.get('theory', math.nan), 3)} | {row['ci_covers_true_error']} | "
            f"{row['consistent']} | {row['consistent_above_interval']} |"
        )
    lines += [
        "",
        "By family of wrong formula:",
        "",
        "| family | tests | flagged | tests with ratio ≥ 1 | power there | median true error "
        "| median ratio | interval holds truth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in data["power_by_family"]:
        lines.append(
            f"| {row['family']} | {row['tests']} | {row['flagged']} | "
            f"{row['tests_ratio_at_least_1']} | {_pct(row['power_ratio_at_least_1'], 3)} | "
            f"{_pct(row['median_true_error'])} | {_num(row['median_ratio'], '.2g')} | "
            f"{row['ci_covers_true_error']} / {row['tests']} |"
        )
    lines += [
        "",
        "By seeds per width:",
        "",
        "| seeds per width | configs | correct tests | false *inconsistent* | max z/cut "
        "| power, ratio 0.75–1 | power, ratio 1–1.5 | power, ratio ≥ 1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in data["by_seeds"]:
        lines.append(
            f"| {row['seeds_low']}–{row['seeds_high']} | {row['configs']} | "
            f"{row['correct_tests']} | {row['false_inconsistent']} | "
            f"{_num(row['max_z_over_cut'])} | "
            f"{_pct(row['power_0.75_1'], 3)} (n={row['tests_0.75_1']}) | "
            f"{_pct(row['power_1_1.5'], 3)} (n={row['tests_1_1.5']}) | "
            f"{_pct(row['power_at_least_1'], 3)} (n={row['tests_at_least_1']}) |"
        )
    if data["flax_vs_conditional"]:
        lines += [
            "",
            "## Flax networks beside the conditional sampler",
            "",
            "Same architecture and inputs. The detectable error falls like 1/√S, so "
            "*detectable·√S* should agree between the two samplers.",
            "",
            "| pair | config | sampler | kernel | seeds × reps | false *inconsistent* "
            "| max z/cut | median detectable | detectable·√S | power, ratio ≥ 1 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in data["flax_vs_conditional"]:
            lines.append(
                f"| {row['pair']} | {row['config']} | {row['sampler']} | "
                f"{row['kernel'].upper()} | {row['seeds']} × {row['replicates']} | "
                f"{row['false_inconsistent']} | {_num(row['max_z_over_cut'])} | "
                f"{_pct(row['median_detectable_error'])} | "
                f"{_num(row['detectable_x_sqrt_seeds'], '.3g')} | "
                f"{_pct(row['power_at_least_1'], 3)} |"
            )
    lines += [
        "",
        "## By network shape",
        "",
        "Our analytic kernels (size) and the wrong formulas at ratio ≥ 1 (power), per "
        "activation and branch scale α.",
        "",
        "| activation | α | configs | tests | false *inconsistent* | max z/cut | covers 0 "
        "| wrong, ratio ≥ 1 | flagged | families |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in data["by_shape"]:
        lines.append(
            f"| {row['activation']} | {row['branch_scale']:.4g} | {len(row['configs'])} | "
            f"{row['tests']} | {row['false_inconsistent']} | {_num(row['max_z_over_cut'])} | "
            f"{row['ci_covers_zero']} | {row['wrong_tests_ratio_at_least_1']} | "
            f"{row['flagged_ratio_at_least_1']} | {', '.join(row['families'])} |"
        )
    lines += [
        "",
        "## Size by config",
        "",
        "Our analytic kernels, NNGP and NTK, every replicate. *covers 0*: the 95% interval "
        "holds the true error 0.",
        "",
        "| config | sampler | activation | α | L | W_std | b_std | N | widths | seeds | reps "
        "| tests | inconsistent | consistent | inconclusive | max z/cut | covers 0 "
        "| median detectable | sampling s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in data["size_by_config"]:
        lines.append(
            f"| {row['config']} | {row['sampler']} | {row['activation']} | "
            f"{row['branch_scale']:.4g} | {row['num_res_blocks']} | {row['W_std']} | "
            f"{row['b_std']} | {row['n_inputs']} | {','.join(map(str, row['widths']))} | "
            f"{row['seeds']} | {row['replicates']} | {row['tests']} | {row['inconsistent']} | "
            f"{row['consistent']} | {row['inconclusive']} | {_num(row['max_z_over_cut'])} | "
            f"{row['ci_covers_zero']} | {_pct(row['median_detectable_error'])} | "
            f"{result.sampling_seconds.get(row['config'], math.nan):.1f} |"
        )
    lines += ["", "## Environment", "", "```"]
    lines += [f"{key}: {value}" for key, value in env.items()]
    lines += ["```", ""]
    return "\n".join(lines)


def _plot(result: CalibrationResult, data: dict, folder: Path) -> list[str]:
    # Matplotlib is imported only when the plot is drawn, not with ``import harness``.
    from harness.runs.plots import new_figure
    from harness.runs.plots import save_figure

    figure, axes = new_figure(width=6.0, height=4.2)
    ax = axes[0, 0]
    grid = np.geomspace(0.01, 8.0, 200)
    ax.plot(grid, theoretical_power(grid), color="0.4", lw=1, label="theory (many seeds)")
    rows = [r for r in data["power_by_ratio"] if not r.get("all") and r["tests"] > 0]
    wrong = [r for r in result.records if r.family != "correct" and not r.pilot]
    for row in rows:
        inside = [
            r.ratio
            for r in wrong
            if math.isfinite(r.ratio) and row["ratio_low"] <= r.ratio < row["ratio_high"]
        ]
        x = float(np.median(inside))
        lo, hi = row["power_ci95"]
        ax.errorbar(
            x,
            row["power"],
            yerr=[[row["power"] - lo], [hi - row["power"]]],
            fmt="o",
            color="#d62728",
            capsize=3,
        )
    ax.errorbar([], [], fmt="o", color="#d62728", capsize=3, label="measured (95% CI), binned")
    ax.axhline(0.8, color="0.7", ls=":", lw=1)
    ax.axvline(1.0, color="0.7", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(0.01, 8.0)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("true error / reported detectable error")
    ax.set_ylabel('share judged "inconsistent"')
    ax.set_title("Power of the formula test on wrong formulas")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(figure, folder, "power")


def write_report(result: CalibrationResult, folder, *, command: str, environment: dict) -> dict:
    """Write ``results.json``, ``records.csv.gz``, ``report.md`` and ``power.{png,svg}``.

    Into a calibration folder only, under its lock; the results it held move to
    ``previous/`` first (:func:`harness.runs.claim_folder`).
    """
    folder = Path(folder)
    data = results_json(result, command=command, environment=environment)
    with claim_folder(folder, kind="calibrate"):
        atomic_write_json(folder / "results.json", strict_json(data))
        atomic_write_bytes(folder / "records.csv.gz", records_csv_gz(result))
        _plot(result, data, folder)
        atomic_write_text(folder / "report.md", _markdown(result, data))
    return data
