r"""Size and power tables from the study's formula records.

* **Size**: the share of *inconsistent* outcomes for our analytic kernels
  (false rejections), per config and overall, with a Clopper–Pearson (1934)
  95% interval, against the nominal size :math:`\alpha = 10^{-4}`; the coverage
  of the true error 0 by the reported 95% intervals; the largest ratio of a
  statistic to its cut (global or entry-wise).
* **Power**: the share of *inconsistent* outcomes for wrong formulas, binned
  by the larger of :math:`\varepsilon/\varepsilon_{\rm det}` and
  :math:`\varepsilon_{\rm entry}/\varepsilon_{\rm entry,det}` (true errors
  over the detectable errors the run reported), with the pilot replicate left
  out (:mod:`harness.calibrate._study`). The rule quotes both at 95% power, so
  a calibrated rule reaches about 95% or more from ratio 1 on. For many seeds
  and rank-one noise the global test's power at ratio :math:`r` is
  :math:`\Phi(kr - c) + \Phi(-kr - c)`, :math:`c = \Phi^{-1}(1-\alpha/4)`,
  :math:`k = c + \Phi^{-1}(0.95)` (:func:`theoretical_power`): the curve the
  plot draws.
* **By network shape** (:func:`shape_table`): both, per activation and branch
  scale, so that a shape's size and power are not hidden in the ReLU majority.

The smaller studies (``--corrections``, ``--model``) keep their tests as plain
records (``formula``, ``true_error``, ``outcome``, ``ci95``, ``detectable_error``) and
share :func:`record_summary` and :func:`record_markdown`: the same size, coverage and
power-by-ratio figures, on the coarser bins :data:`RECORD_POWER_BINS`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.stats

from harness.calibrate._study import CalibrationResult
from harness.calibrate._study import FormulaRecord
from harness.runs import atomic_write_json
from harness.runs import atomic_write_text
from harness.stats import DEFAULT_SIZE

__all__ = [
    "POWER_BINS",
    "RECORD_POWER_BINS",
    "SEED_GROUPS",
    "clopper_pearson",
    "family_table",
    "power_table",
    "record_markdown",
    "record_summary",
    "seeds_table",
    "shape_table",
    "size_summary",
    "size_table",
    "theoretical_power",
    "twin_table",
    "write_study",
]

#: Edges of the :math:`\varepsilon/\varepsilon_{\rm det}` bins of the power table.
POWER_BINS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, math.inf)
#: Edges of the true/detectable bins of :func:`record_summary`'s power table.
RECORD_POWER_BINS = (0.0, 0.5, 1.0, 1.5, 2.0, math.inf)
#: Seeds-per-width groups of :func:`seeds_table` (inclusive bounds).
SEED_GROUPS = ((2, 8), (16, 64), (128, 512), (1024, 8192))


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval (Clopper & Pearson 1934) for a rate."""
    if trials == 0:
        return (math.nan, math.nan)
    tail = (1.0 - level) / 2.0
    beta = scipy.stats.beta
    lo = 0.0 if successes == 0 else beta.ppf(tail, successes, trials - successes + 1)
    hi = 1.0 if successes == trials else beta.ppf(1 - tail, successes + 1, trials - successes)
    return float(lo), float(hi)


def theoretical_power(
    ratio, *, cut: float = float(scipy.stats.norm.isf(DEFAULT_SIZE / 4))
) -> np.ndarray:
    """Power at true/detectable error ``ratio`` for many seeds (module docstring)."""
    k = cut + float(scipy.stats.norm.isf(0.05))
    shift = k * np.asarray(ratio, dtype=np.float64)
    return scipy.stats.norm.sf(cut - shift) + scipy.stats.norm.cdf(-cut - shift)


def _correct(records: Sequence[FormulaRecord]) -> list[FormulaRecord]:
    return [r for r in records if r.family == "correct"]


def _wrong(records: Sequence[FormulaRecord]) -> list[FormulaRecord]:
    return [r for r in records if r.family != "correct" and not r.pilot]


def _max_z_over_cut(records: Sequence[FormulaRecord]) -> float:
    values = [r.z_over_cut for r in records if math.isfinite(r.z_over_cut)]
    return max(values, default=math.nan)


def size_table(result: CalibrationResult) -> list[dict]:
    """One row per config: outcomes of our formula over its replicates and kernels."""
    rows = []
    correct = _correct(result.records)
    for config in result.configs:
        mine = [r for r in correct if r.config == config.name]
        rows.append(
            {
                "config": config.name,
                "sampler": config.sampler,
                "activation": config.activation,
                "branch_scale": config.branch_scale,
                "num_res_blocks": config.num_res_blocks,
                "W_std": config.W_std,
                "b_std": config.b_std,
                "n_inputs": config.n_inputs,
                "widths": list(config.widths),
                "seeds": config.seeds,
                "replicates": config.replicates,
                "tests": len(mine),
                "inconsistent": sum(r.outcome == "inconsistent" for r in mine),
                "consistent": sum(r.outcome == "consistent" for r in mine),
                "inconclusive": sum(r.outcome == "inconclusive" for r in mine),
                "max_z_over_cut": _max_z_over_cut(mine),
                "ci_covers_zero": sum(r.covered for r in mine),
                "extrapolated": sum(r.extrapolated for r in mine),
                "median_detectable_error": float(np.median([r.detectable_error for r in mine])),
            }
        )
    return rows


def size_summary(
    result: CalibrationResult, *, cut: float = float(scipy.stats.norm.isf(DEFAULT_SIZE / 2))
) -> dict:
    """Overall size: all replicates, and the first replicate of each config (issue 10's target)."""
    correct = _correct(result.records)
    first = [r for r in correct if r.replicate == 0]
    false = sum(r.flagged for r in correct)
    nominal = DEFAULT_SIZE
    worst = max(correct, key=lambda r: r.z_over_cut if math.isfinite(r.z_over_cut) else -math.inf)
    return {
        "configs": len(result.configs),
        "tests": len(correct),
        "false_inconsistent": false,
        "rate": false / len(correct),
        "rate_ci95": list(clopper_pearson(false, len(correct))),
        "nominal_size": nominal,
        "expected_at_nominal": nominal * len(correct),
        "first_replicate_tests": len(first),
        "first_replicate_false_inconsistent": sum(r.flagged for r in first),
        "ci_covers_zero": sum(r.covered for r in correct),
        "ci_coverage": sum(r.covered for r in correct) / len(correct),
        "ci_coverage_ci95": list(clopper_pearson(sum(r.covered for r in correct), len(correct))),
        "max_z_over_cut": worst.z_over_cut,
        "max_z_over_cut_at": f"{worst.config} replicate {worst.replicate} {worst.kernel}",
        "outcomes": {
            o: sum(r.outcome == o for r in correct)
            for o in ("consistent", "inconclusive", "inconsistent")
        },
    }


def _rate_row(records: Sequence[FormulaRecord]) -> dict:
    flagged = sum(r.flagged for r in records)
    covered = sum(r.covered for r in records)
    n = len(records)
    return {
        "tests": n,
        "flagged": flagged,
        "power": flagged / n if n else math.nan,
        "power_ci95": list(clopper_pearson(flagged, n)),
        "ci_covers_true_error": covered,
        "coverage": covered / n if n else math.nan,
        "consistent": sum(r.outcome == "consistent" for r in records),
        "consistent_above_interval": sum(
            r.outcome == "consistent" and r.true_error > r.ci_high for r in records
        ),
    }


def power_table(result: CalibrationResult, bins: Sequence[float] = POWER_BINS) -> list[dict]:
    """Power and interval coverage of the wrong formulas, by true/detectable error."""
    wrong = [r for r in _wrong(result.records) if math.isfinite(r.ratio)]
    rows = []
    for lo, hi in itertools.pairwise(bins):
        inside = [r for r in wrong if lo <= r.ratio < hi]
        theory = [float(theoretical_power(r.ratio)) for r in inside]
        rows.append(
            {"ratio_low": lo, "ratio_high": hi, **_rate_row(inside)}
            | {"theory": float(np.mean(theory)) if theory else math.nan}
        )
    at_least_one = [r for r in wrong if r.ratio >= 1.0]
    rows.append({"ratio_low": 1.0, "ratio_high": math.inf, "all": True, **_rate_row(at_least_one)})
    return rows


def family_table(result: CalibrationResult) -> list[dict]:
    """Per wrong-formula family: power overall and from ratio 1 on, interval coverage."""
    wrong = _wrong(result.records)
    rows = []
    for family in sorted({r.family for r in wrong}):
        mine = [r for r in wrong if r.family == family]
        above = [r for r in mine if r.ratio >= 1.0]
        ratios = [r.ratio for r in mine if math.isfinite(r.ratio)]
        rows.append(
            {
                "family": family,
                **_rate_row(mine),
                "tests_ratio_at_least_1": len(above),
                "power_ratio_at_least_1": (
                    sum(r.flagged for r in above) / len(above) if above else math.nan
                ),
                "median_ratio": float(np.median(ratios)) if ratios else math.nan,
                "median_true_error": float(np.median([r.true_error for r in mine])),
            }
        )
    return rows


def shape_table(result: CalibrationResult) -> list[dict]:
    """Size and power per network shape ``(activation, branch scale)``, in grid order."""
    shapes = list(dict.fromkeys((c.activation, c.branch_scale) for c in result.configs))
    rows = []
    for activation, branch_scale in shapes:
        names = [
            c.name
            for c in result.configs
            if (c.activation, c.branch_scale) == (activation, branch_scale)
        ]
        mine = [r for r in result.records if r.config in set(names)]
        correct = _correct(mine)
        above = [r for r in _wrong(mine) if r.ratio >= 1.0]
        rows.append(
            {
                "activation": activation,
                "branch_scale": branch_scale,
                "configs": names,
                "tests": len(correct),
                "false_inconsistent": sum(r.flagged for r in correct),
                "max_z_over_cut": _max_z_over_cut(correct),
                "ci_covers_zero": sum(r.covered for r in correct),
                "wrong_tests_ratio_at_least_1": len(above),
                "flagged_ratio_at_least_1": sum(r.flagged for r in above),
                "power_at_least_1": _share(above),
                "families": sorted({r.family for r in _wrong(mine)}),
            }
        )
    return rows


def seeds_table(result: CalibrationResult, groups=SEED_GROUPS) -> list[dict]:
    """Size and power by seeds per width: the rule's power near the quoted error needs seeds."""
    by_name = {c.name: c for c in result.configs}
    rows = []
    for lo, hi in groups:
        mine = [r for r in result.records if lo <= by_name[r.config].seeds <= hi]
        correct = _correct(mine)
        wrong = [r for r in _wrong(mine) if math.isfinite(r.ratio)]
        near = [r for r in wrong if 0.75 <= r.ratio < 1.0]
        just = [r for r in wrong if 1.0 <= r.ratio < 1.5]
        above = [r for r in wrong if r.ratio >= 1.0]
        rows.append(
            {
                "seeds_low": lo,
                "seeds_high": hi,
                "configs": len({r.config for r in mine}),
                "correct_tests": len(correct),
                "false_inconsistent": sum(r.flagged for r in correct),
                "max_z_over_cut": _max_z_over_cut(correct),
                "tests_0.75_1": len(near),
                "power_0.75_1": _share(near),
                "tests_1_1.5": len(just),
                "power_1_1.5": _share(just),
                "tests_at_least_1": len(above),
                "power_at_least_1": _share(above),
            }
        )
    return rows


def _share(records: Sequence[FormulaRecord]) -> float:
    return sum(r.flagged for r in records) / len(records) if records else math.nan


def twin_table(result: CalibrationResult) -> list[dict]:
    """Flax configs beside their conditional twins (same architecture and inputs).

    ``detectable_x_sqrt_seeds`` is the median detectable error times
    :math:`\\sqrt S`, comparable across seed counts (the error falls like
    :math:`1/\\sqrt S` at fixed widths).
    """
    by_name = {c.name: c for c in result.configs}
    rows = []
    for config in result.configs:
        if config.twin is None or config.twin not in by_name:
            continue
        for member in (by_name[config.twin], config):
            mine = [r for r in result.records if r.config == member.name]
            correct = _correct(mine)
            above = [r for r in _wrong(mine) if r.ratio >= 1.0]
            for kernel in ("nngp", "ntk"):
                detectable = [r.detectable_error for r in correct if r.kernel == kernel]
                rows.append(
                    {
                        "pair": f"{config.twin} / {config.name}",
                        "config": member.name,
                        "sampler": member.sampler,
                        "kernel": kernel,
                        "seeds": member.seeds,
                        "replicates": member.replicates,
                        "false_inconsistent": sum(r.flagged for r in correct if r.kernel == kernel),
                        "max_z_over_cut": _max_z_over_cut(
                            [r for r in correct if r.kernel == kernel]
                        ),
                        "median_detectable_error": float(np.median(detectable)),
                        "detectable_x_sqrt_seeds": float(np.median(detectable))
                        * math.sqrt(member.seeds),
                        "power_at_least_1": _share([r for r in above if r.kernel == kernel]),
                    }
                )
    return rows


def record_summary(
    records: Sequence[dict], *, correct: str, bins: Sequence[float] = RECORD_POWER_BINS
) -> dict:
    """Size, interval coverage and power by true/detectable error of plain records.

    The records of formula ``correct`` measure the size (their *inconsistent* are
    false); every record's 95% interval ``ci95`` (an upper end ``None``: unbounded)
    should hold its ``true_error``; the others' flagged rate is tallied per bin of
    ``true_error / detectable_error``.
    """
    mine = [r for r in records if r["formula"] == correct]
    false = sum(r["outcome"] == "inconsistent" for r in mine)
    covered = sum(r["ci95"][0] <= r["true_error"] <= (r["ci95"][1] or math.inf) for r in records)
    wrong = [r for r in records if r["formula"] != correct]
    power = []
    for lo, hi in itertools.pairwise(bins):
        rows = [r for r in wrong if lo <= r["true_error"] / r["detectable_error"] < hi]
        flagged = sum(r["outcome"] == "inconsistent" for r in rows)
        power.append({"ratio": [lo, hi], "tests": len(rows), "flagged": flagged})
    return {
        "size": {
            "tests": len(mine),
            "false_inconsistent": false,
            "interval": clopper_pearson(false, len(mine)),
            "consistent": sum(r["outcome"] == "consistent" for r in mine),
        },
        "coverage": {"tests": len(records), "covered": covered},
        "power_by_ratio": power,
    }


def record_markdown(summary: dict, *, correct: str, tolerance: float) -> list[str]:
    """The size and power sections of a report, from :func:`record_summary`'s figures.

    ``correct`` names the correct formula in the size heading; ``tolerance`` is the
    test's (a *consistent* bounds the error below it).
    """
    size = summary["size"]
    lo, hi = size["interval"]
    nominal = f"{DEFAULT_SIZE:.0e}".replace("e-0", "e-")
    lines = [
        f"## Size: {correct}",
        "",
        f"- {size['false_inconsistent']} false inconsistent in {size['tests']} tests "
        f"(95% Clopper–Pearson [{lo:.3f}, {hi:.3f}]; the rule's nominal size is {nominal})",
        f"- consistent (error < {tolerance:.0%} with 95% confidence): "
        f"{size['consistent']}/{size['tests']}",
        f"- the 95% interval covered the true error in {summary['coverage']['covered']}/"
        f"{summary['coverage']['tests']} tests (correct and wrong formulas)",
        "",
        "## Power: wrong formulas of known error",
        "",
        "| true error / detectable error | tests | flagged inconsistent |",
        "|---|---|---|",
    ]
    for row in summary["power_by_ratio"]:
        a, b = row["ratio"]
        lines.append(f"| {a:g} – {b:g} | {row['tests']} | {row['flagged']}/{row['tests']} |")
    return lines


def write_study(out, summary: dict, records: list[dict], markdown: str) -> None:
    """Write a record study's ``results.json`` (summary and records) and ``report.md``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "results.json", {"summary": summary, "records": records})
    atomic_write_text(folder / "report.md", markdown)
