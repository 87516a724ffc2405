"""Per-width statistics and fitted rates of the training-dynamics measures; ``results.json``.

Every measure of :mod:`harness.train._network` (one number per width and seed) is
summarised as

``{widths, mean, std, ci95_low, ci95_high, slope, slope_ci95}``

with the per-width mean, standard deviation (ddof=1), percentile-bootstrap 95% CI of the mean,
and the OLS slope of ``log(value)`` against ``log(width)`` over all per-seed points with its
Student-t 95% CI (:func:`harness.stats.summarize_errors`, :func:`harness.stats.loglog_slope`).
Layout of ``results.json``::

    config, environment, problem          what was run, where, and the derived η, T, spectrum;
                                          .expected_loss_ratio: the NTK's expected training
                                          loss at T over ½‖y‖²; .steps_capped: the automatic
                                          T stopped at max_steps above loss_ratio
    kernel_drift                          ‖Θ̂_T - Θ̂_0‖_F / ‖Θ̂_0‖_F
    function_gap                          ‖f_T - f_T^NTK‖ / ‖f_T^NTK‖ over train ∪ test, plus
      .train, .test                         the same over the training / held-out outputs
      .linearized (+ .train, .test)         ‖f_T - f_T^lin‖ / ‖f_T^lin‖ (trained linearisation)
    final_loss                            per width: mean ½Σ(f_T - y)² of network, linearisation
                                          and NTK prediction
    verdicts                              one line per measure
"""

from __future__ import annotations

import numpy as np

from harness.stats import loglog_slope
from harness.stats import summarize_errors

__all__ = [
    "MEASURES",
    "THEORY_SLOPE",
    "csv_rows",
    "measure_entry",
    "summarize_training",
]

#: Unit array name → (results.json path, description).
MEASURES = {
    "kernel_drift": (("kernel_drift",), "kernel drift ‖Θ̂_T − Θ̂_0‖/‖Θ̂_0‖"),
    "gap_all": (("function_gap",), "gap to NTK prediction, train ∪ test"),
    "gap_train": (("function_gap", "train"), "gap to NTK prediction, train"),
    "gap_test": (("function_gap", "test"), "gap to NTK prediction, test"),
    "lin_gap_all": (("function_gap", "linearized"), "gap to linearised network, train ∪ test"),
    "lin_gap_train": (("function_gap", "linearized", "train"), "gap to linearised network, train"),
    "lin_gap_test": (("function_gap", "linearized", "test"), "gap to linearised network, test"),
}

#: Theory: every measure falls at least like n^-1/2; the done-when bar is a slope <= -0.3.
THEORY_SLOPE = -0.5


def measure_entry(widths, per_seed) -> dict:
    """``{widths, mean, std, ci95_low, ci95_high, slope, slope_ci95}`` of one measure.

    ``per_seed[i]`` holds the per-seed values at ``widths[i]``. The slope needs two widths
    and positive values at every width (``None`` otherwise, with ``"no_rate"`` saying why:
    a measure that is exactly zero, e.g. a kernel that did not move because the learning
    rate underflowed float32, has no log-log rate).
    """
    summaries = [summarize_errors(values) for values in per_seed]
    entry = {
        "widths": [int(w) for w in widths],
        "mean": [s.mean for s in summaries],
        "std": [s.std for s in summaries],
        "ci95_low": [s.ci95_low for s in summaries],
        "ci95_high": [s.ci95_high for s in summaries],
        "slope": None,
        "slope_ci95": None,
    }
    positive = all(np.all(np.asarray(v, float) > 0) for v in per_seed)
    finite = all(np.all(np.isfinite(np.asarray(v, float))) for v in per_seed)
    if len(widths) >= 2 and not (positive and finite):
        entry["no_rate"] = "a value is zero or not finite, so no log-log rate exists"
    elif len(widths) >= 2:
        fit = loglog_slope(widths, per_seed)
        entry["slope"] = fit.slope
        entry["slope_ci95"] = [fit.ci95_low, fit.ci95_high]
        entry["intercept"] = fit.intercept
    return entry


def _verdict(name: str, entry: dict) -> str:
    if entry.get("no_rate"):
        return f"{name}: no rate ({entry['no_rate']})"
    if entry["slope"] is None:
        return f"{name}: needs two widths for a rate"
    low, high = entry["slope_ci95"]
    rate = f"n^{entry['slope']:.2f} [{low:.2f}, {high:.2f}]"
    if high >= 0:
        return f"{name}: does not shrink significantly ({rate})"
    if low > THEORY_SLOPE:
        return f"{name}: shrinks as {rate}, slower than the n^-1/2 of theory"
    return f"{name}: shrinks as {rate}, consistent with theory (n^-1/2 or faster)"


def _loss(outputs, targets) -> float:
    return float(0.5 * np.sum((np.asarray(outputs) - targets) ** 2))


def summarize_training(config, problem, units: dict, *, environment: dict) -> dict:
    """Build ``results.json`` from finished units ``{(width, seed): arrays}``.

    Only widths with every seed finished enter the statistics.
    """
    widths = [w for w in config.widths if all((w, s) in units for s in range(config.seeds))]
    results = {
        "config": config.to_dict(),
        "environment": environment,
        "problem": {
            "target": problem.task.target,
            "loss": "½ Σ_i (f(x_i) − y_i)², summed over the training set",
            "learning_rate": problem.learning_rate,
            "learning_rate_limit": 2.0 / float(problem.eigenvalues[-1]),
            "steps": problem.steps,
            "expected_loss_ratio": problem.expected_loss_ratio,
            "steps_capped": problem.steps_capped,
            "record_steps": [int(t) for t in problem.record_steps],
            "ntk_eigenvalue_max": float(problem.eigenvalues[-1]),
            "ntk_eigenvalue_min": float(problem.eigenvalues[0]),
        },
        "widths_done": widths,
    }
    verdicts = []
    for name, (path, label) in MEASURES.items():
        per_seed = [[float(units[(w, s)][name]) for s in range(config.seeds)] for w in widths]
        entry = measure_entry(widths, per_seed) if widths else None
        node = results
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node.setdefault(path[-1], {})
        if entry is not None:
            node[path[-1]].update(entry)
            node[path[-1]]["description"] = label
            verdicts.append(_verdict(label, entry))
    y = problem.task.y_train

    def seed_mean(width, value):
        return float(np.mean([value(units[(width, s)]) for s in range(config.seeds)]))

    results["final_loss"] = {"widths": widths}
    for kind, key in (("network", "train"), ("linearized", "lin_train"), ("ntk", "ntk_train")):
        results["final_loss"][kind] = [
            seed_mean(w, lambda unit, key=key: _loss(unit[key][-1], y)) for w in widths
        ]
    results["seconds_per_network"] = {
        "widths": widths,
        "mean": [seed_mean(w, lambda unit: float(unit["seconds"])) for w in widths],
    }
    results["verdicts"] = verdicts
    return results


def csv_rows(problem, units: dict) -> tuple[list, list]:
    """``(header, rows)``: one row per finished (width, seed), every measure, losses, seconds."""
    names = list(MEASURES)
    header = ["width", "seed", *names, "loss_network", "loss_linearized", "loss_ntk", "seconds"]
    rows = []
    y = problem.task.y_train
    for (width, seed), arrays in sorted(units.items()):
        losses = [_loss(arrays[key][-1], y) for key in ("train", "lin_train", "ntk_train")]
        values = [float(arrays[name]) for name in names] + losses + [float(arrays["seconds"])]
        rows.append([width, seed, *values])
    return header, rows
