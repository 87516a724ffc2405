"""From stored per-seed kernels to the numbers of ``results.json`` and ``results.csv``.

Two errors are measured at each width ``n`` against a reference ``K``:

* **per-seed error** :math:`e_s = \\lVert \\hat K_s - K \\rVert_F/\\lVert K\\rVert_F`
  of each network ``s``. Its typical size is the fluctuation of one network's
  kernel, :math:`O(n^{-1/2})` (Yang 2019/2020; Lee et al. 2019), so its fitted
  log-log slope is about :math:`-1/2`.
* **error of the seed-mean kernel**
  :math:`\\lVert \\bar K - K\\rVert_F/\\lVert K\\rVert_F` with
  :math:`\\bar K = \\frac1S\\sum_s \\hat K_s`. Averaging removes fluctuation by
  :math:`1/\\sqrt S` but not the finite-width bias
  :math:`\\mathbb E\\hat K - K = O(1/n)`, so this error is about
  :math:`\\sqrt{c_f^2/(nS) + c_b^2/n^2}`: its slope lies between :math:`-1/2`
  (fluctuation-dominated) and :math:`-1` (bias-dominated). For a *wrong*
  reference it plateaus at the systematic difference.

With control variates (:mod:`harness.kernels._control`) the seed mean is that
of ``K̂_s − C_s``, which has the same expectation and less noise; the per-seed
errors stay those of the networks themselves.

Both slopes are reported, and per width the seed-mean kernel's distance from
the reference in standard errors (``seed_mean_z``, :func:`harness.stats.seed_mean_z`).
They are diagnostics: whether a formula is right is decided by the formula test
(:func:`harness.stats.formula_test`), which removes the ``O(1/n)`` bias first.
"""

from __future__ import annotations

import numpy as np

from harness.stats import loglog_slope
from harness.stats import relative_frobenius_error
from harness.stats import seed_mean_z
from harness.stats import summarize_errors

__all__ = ["csv_rows", "error_curves", "summarize_curve"]

CSV_HEADER = ("width", "seed", "kernel", "reference", "rel_err")


def error_curves(empirical: dict, reference: np.ndarray, kernel: str) -> dict:
    """Per-seed errors ``[W][S]``, seed-mean errors and their z-scores ``[W]``, one kernel.

    ``empirical`` maps width → ``{"nngp": (S, N, N), "ntk": (S, N, N)}``, the
    kernels judged (a network's kernels minus their control variates, when
    used), and optionally ``"raw"``: the networks' own kernels, which the
    per-seed errors then describe (a network's error, not an estimator's).
    """
    widths = sorted(empirical)
    per_seed = [
        relative_frobenius_error(empirical[w].get("raw", empirical[w])[kernel], reference)
        for w in widths
    ]
    z = [seed_mean_z(empirical[w][kernel], reference) for w in widths]
    seed_mean = [
        relative_frobenius_error(empirical[w][kernel].mean(axis=0), reference) for w in widths
    ]
    return {
        "widths": widths,
        "per_seed": [np.atleast_1d(e).tolist() for e in per_seed],
        "seed_mean": [float(e) for e in seed_mean],
        "seed_mean_z": z,
    }


def _fit(widths, values):
    try:
        return loglog_slope(widths, values)
    except ValueError:  # one width, or an exactly zero error
        return None


def summarize_curve(curves: dict, test, *, label: str) -> dict:
    """Per-width statistics, both slopes and the formula test of one (kernel, reference) pair.

    ``test`` is the pair's :class:`harness.stats.FormulaTest`; ``label`` names the
    pair in the headline (e.g. ``"NTK, candidate `notebook`"``). The slopes are
    diagnostics.
    """
    widths, per_seed, seed_mean = curves["widths"], curves["per_seed"], curves["seed_mean"]
    summaries = [summarize_errors(values) for values in per_seed]
    result = {
        "outcome": test.outcome,
        "formula_error": test.formula_error,
        "formula_error_ci95": list(test.formula_error_ci95),
        "detectable_error": test.detectable_error,
        "verdict": test.headline(label) + advice(test),
        "formula_test": test.to_json(),
        "widths": list(widths),
        "rel_err_mean": [s.mean for s in summaries],
        "rel_err_std": [s.std for s in summaries],
        "rel_err_ci95": [[s.ci95_low, s.ci95_high] for s in summaries],
        "rel_err_of_seed_mean": list(seed_mean),
        "rel_err_per_seed": [list(v) for v in per_seed],
        "seed_mean_z": list(curves["seed_mean_z"]),
        "slope": None,
        "slope_ci95": None,
        "intercept": None,
        "seed_mean_slope": None,
        "seed_mean_slope_ci95": None,
    }
    fit = _fit(widths, per_seed)
    if fit is not None:
        result.update(
            slope=fit.slope, slope_ci95=[fit.ci95_low, fit.ci95_high], intercept=fit.intercept
        )
    mean_fit = _fit(widths, [[e] for e in seed_mean])
    if mean_fit is not None:
        result.update(
            seed_mean_slope=mean_fit.slope,
            seed_mean_slope_ci95=[mean_fit.ci95_low, mean_fit.ci95_high],
        )
    return result


def csv_rows(curves_by_reference: dict) -> list[tuple]:
    """Rows ``(width, seed, kernel, reference, rel_err)`` sorted by width, seed, kernel, reference.

    ``curves_by_reference`` maps ``(reference_name, kernel)`` → :func:`error_curves` output.
    """
    rows = []
    for (reference, kernel), curves in curves_by_reference.items():
        for width, values in zip(curves["widths"], curves["per_seed"], strict=True):
            for seed, value in enumerate(values):
                rows.append((int(width), seed, kernel, reference, float(value)))
    return sorted(rows, key=lambda row: row[:4])


def advice(test) -> str:
    """What would decide an inconclusive outcome, in command-line terms ("" when decided)."""
    if test.outcome != "inconclusive" or not test.widths:
        return ""
    if test.seeds_needed is not None:
        return f"; about --seeds {test.seeds_needed} would decide it"
    if test.detectable_error == float("inf"):
        return ""
    return (
        "; its estimated error is not below the tolerance, so only many more or wider "
        "networks decide it"
    )
