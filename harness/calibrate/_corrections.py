r"""The correction test's size and power on real networks (``harness.calibrate --corrections``).

:func:`harness.stats.correction_test` judges a formula for the :math:`1/n` coefficient
:math:`A` of the mean NNGP with the formula test's rule applied to :math:`\hat A`. Its
calibration, like the limit's (:mod:`harness.calibrate._study`), is measured on real
network kernels, on runs apart from any used to design the rule:

* **Design.** :data:`DESIGN`: residual MLPs of depth 1 to 10, ``W_std`` 0.5 to 2, with
  and without biases, ReLU and erf, branch scales 1 and :math:`1/\sqrt L`, on 6
  Gaussian inputs; each is measured ``replicates`` times by
  :func:`harness.correction.run_correction` in memory, each repetition on its own
  networks (``first_seed`` apart), at widths 8, 16, 32, 64.
* **Correct formulas** (size): our :func:`analytic.rmlp_nngp_correction`. A false
  *inconsistent* is a rejection of it. This presumes that formula is right, which the
  tests check independently (``tests/analytic/test_correction.py``); a wrong
  derivation would show here as rejections.
* **Wrong formulas of known error** (power): ``A(1 + δ)`` for δ in :data:`SCALES`;
  ``A`` plus a slip on the diagonal (the entries that the ReLU family has exactly 0)
  and plus a slip on one pair, each sized to a scale-free relative error of 10%,
  30% and 100%. The *true* error of each is computed against ``A`` on the scale the test
  uses (entries over :math:`\sqrt{K_{ii}K_{jj}}`), and divided by the run's
  detectable error to bin the power.

The report gives the false-inconsistent count with its Clopper–Pearson interval, the
coverage of the 95% interval on the true error, and the flagged rate per bin of
true/detectable error.
"""

from __future__ import annotations

import math
import time

import numpy as np

import analytic
from harness.calibrate._summary import RECORD_POWER_BINS
from harness.calibrate._summary import record_markdown
from harness.calibrate._summary import record_summary
from harness.calibrate._summary import write_study
from harness.converge._candidates import callable_candidate
from harness.correction import CorrectionConfig
from harness.correction import correction_inputs
from harness.correction._run import measure_correction
from harness.stats import DEFAULT_CORRECTION_TOLERANCE
from harness.stats._layout import KernelLayout

__all__ = ["DESIGN", "run_correction_calibration"]

#: ``(name, num_res_blocks, W_std, b_std, activation, branch scale)`` of the networks.
DESIGN = (
    ("k1", 1, 1.0, 0.0, "relu", 1.0),
    ("k2", 2, 1.2, 0.4, "relu", 1.0),
    ("k3", 3, 1.5, 0.5, "relu", 1.0),
    ("k4", 5, 0.5, 0.5, "relu", 1.0),
    ("k5", 4, 2.0, 0.0, "relu", 1.0),
    ("k6", 10, 1.0, 0.3, "relu", 1 / math.sqrt(10)),
    ("k7", 2, 1.5, 0.3, "erf", 1.0),
    ("k8", 3, 1.0, 0.0, "erf", 1.0),
)
QUICK_DESIGN = DESIGN[1:3]
_DESIGN_FIELDS = ("name", "blocks", "W_std", "b_std", "activation", "alpha")
#: Relative scale errors δ of the wrong formulas ``A(1 + δ)``.
SCALES = (-0.5, -0.2, -0.1, -0.05, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0)
#: Scale-free relative errors of the structured slips.
SLIPS = (0.1, 0.3, 1.0)
#: Edges of the true/detectable bins of the power table.
POWER_BINS = RECORD_POWER_BINS


def _relative(wrong: np.ndarray, truth: np.ndarray, limit: np.ndarray) -> float:
    """The test's error measure of ``wrong`` against ``truth`` (scale from the kernel)."""
    layout = KernelLayout.of(wrong, limit)
    return float(
        np.linalg.norm(layout.vector(truth - wrong)) / np.linalg.norm(layout.vector(wrong))
    )


def _sized(truth, direction, limit, target: float) -> np.ndarray:
    """``truth + c·direction`` whose relative error against ``truth`` is ``target``."""
    low, high = 0.0, 1.0
    while _relative(truth + high * direction, truth, limit) < target and high < 1e12:
        high *= 2.0
    for _ in range(80):
        mid = 0.5 * (low + high)
        if _relative(truth + mid * direction, truth, limit) < target:
            low = mid
        else:
            high = mid
    return truth + high * direction


def wrong_corrections(truth: np.ndarray, limit: np.ndarray) -> dict[str, np.ndarray]:
    """The wrong formulas of the module docstring, by name."""
    out = {f"scaled {delta:+g}": truth * (1.0 + delta) for delta in SCALES}
    scale = np.sqrt(np.outer(np.diag(limit), np.diag(limit)))
    diagonal = np.diag(np.diag(scale))
    pair = np.zeros_like(truth)
    pair[0, 1] = pair[1, 0] = scale[0, 1]
    for size in SLIPS:
        out[f"diagonal slip {size:g}"] = _sized(truth, diagonal, limit, size)
        out[f"one pair {size:g}"] = _sized(truth, pair, limit, size)
    return out


def _config(row, seeds: int, replicate: int) -> CorrectionConfig:
    name, blocks, w_std, b_std, activation, alpha = row
    del name
    return CorrectionConfig(
        num_res_blocks=blocks,
        W_std=w_std,
        b_std=b_std,
        activation=activation,
        branch_scale=alpha,
        n_inputs=6,
        input_seed=1,
        seeds=seeds,
        first_seed=replicate * seeds,
    )


def run_correction_calibration(
    out, *, quick: bool = False, replicates: int = 8, seeds: int = 8192, log=print
) -> dict:
    """Run the study, write ``out/report.md`` and ``out/results.json``; return the summary."""
    design = QUICK_DESIGN if quick else DESIGN
    records = []
    begun = time.monotonic()
    for row in design:
        base = _config(row, seeds, 0)
        xs = correction_inputs(base)
        arch = base.architecture
        truth = analytic.rmlp_nngp_correction(xs, **arch.kwargs())
        limit = analytic.rmlp_nngp(xs, **arch.kwargs())
        wrong = wrong_corrections(truth, limit)
        candidates = tuple(
            callable_candidate(lambda xs, arch, value=value: value, name)
            for name, value in wrong.items()
        )
        started = time.monotonic()
        for replicate in range(replicates):
            config = _config(row, seeds, replicate)
            _, tests = measure_correction(config, candidates=candidates, in_memory=True, quiet=True)
            for name, test in tests.items():
                error = 0.0 if name == "ours" else _relative(wrong[name], truth, limit)
                records.append(
                    {
                        "config": row[0],
                        "replicate": replicate,
                        "formula": name,
                        "true_error": error,
                        "outcome": test.outcome,
                        "formula_error": test.formula_error,
                        "ci95": list(test.formula_error_ci95),
                        "detectable_error": test.detectable_error,
                        "relative_halfwidth": None,
                    }
                )
        if log:
            log(
                f"{row[0]}: {replicates} runs of {seeds} networks per width in "
                f"{time.monotonic() - started:.0f} s"
            )
    summary = _summary(records)
    summary |= {
        "design": [dict(zip(_DESIGN_FIELDS, r, strict=True)) for r in design],
        "replicates": replicates,
        "seeds_per_width": seeds,
        "minutes": (time.monotonic() - begun) / 60,
    }
    write_study(out, summary, records, _markdown(summary))
    return summary


def _summary(records: list[dict]) -> dict:
    return record_summary(records, correct="ours", bins=POWER_BINS)


def _markdown(summary: dict) -> str:
    lines = [
        "# Calibration of the correction test",
        "",
        "`python -m harness.calibrate --corrections`: the test of a formula for the 1/n "
        "coefficient A of the mean NNGP (`harness.stats.correction_test`), on "
        f"{len(summary['design'])} networks × {summary['replicates']} independent runs of "
        f"{summary['seeds_per_width']} networks per width at widths 8, 16, 32, 64 "
        "(method: `harness/calibrate/_corrections.py`).",
        "",
        *record_markdown(
            summary,
            correct="our formula (`analytic.rmlp_nngp_correction`)",
            tolerance=DEFAULT_CORRECTION_TOLERANCE,
        ),
        "",
        "## Networks",
        "",
        "| config | blocks | W_std | b_std | activation | branch scale |",
        "|---|---|---|---|---|---|",
    ]
    for d in summary["design"]:
        lines.append(
            f"| {d['name']} | {d['blocks']} | {d['W_std']:g} | {d['b_std']:g} | "
            f"{d['activation']} | {d['alpha']:.3g} |"
        )
    lines += ["", f"Ran in {summary['minutes']:.1f} min.", ""]
    return "\n".join(lines)
