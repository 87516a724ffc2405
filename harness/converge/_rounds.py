r"""Rounds of networks: when a convergence run adds seeds, where, and why it stops.

A run draws ``config.seeds`` networks at every width, judges every formula,
and, unless the user fixed ``--seeds``, adds networks in rounds:

* **Goal.** Without ``--target-error``: every judged formula decided
  (consistent or inconsistent at the tolerance). With it: the detectable error
  of our analytic kernels at most the target.
* **How many.** Each undecided formula asks for its variance to shrink by a
  factor: from the formula test's ``seeds_needed`` (the seeds at which its 95%
  bound would reach the tolerance), or, when its estimated error is at or
  above the tolerance, from how far its statistic is below the cut
  (:math:`(\mathrm{cut}/z)^2`). The largest factor, held between
  :data:`MIN_GROWTH` and :data:`MAX_GROWTH` per round, is met at the lowest cost
  by :func:`harness.stats.allocate_seeds`: every width, Flax ones included, gets
  seeds in proportion to how much it lowers the variance per unit of cost.
* **Stop.** When the goal is met; when the next round would pass the time
  budget (``--budget`` seconds since the start, estimated from the seconds per
  network measured so far); or when every width that matters has ``max_seeds``.

Where a round's networks go depends on the seconds per network measured in
this process (the cost model ``width²`` when nothing was measured, e.g. in a
run that resumed every network), so two machines may add networks at
different widths. Every number in ``results.json`` is still a function of the
stored networks alone, and a rerun into the same folder reuses all of them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from harness.stats import allocate_seeds
from harness.stats import formula_test
from harness.stats import network_variances

__all__ = ["MAX_GROWTH", "MIN_GROWTH", "RoundPlan", "next_round"]

#: The most by which one round divides the variance (so that the goal is rechecked often).
MAX_GROWTH = 3.0
#: The least: smaller rounds cost more in overhead than they buy.
MIN_GROWTH = 1.5


@dataclasses.dataclass(frozen=True)
class RoundPlan:
    """The next round's seeds per plan entry, or why the run stops.

    Attributes:
      seeds: ``{(width, kind): seeds}`` for the next round, or None to stop.
      stop: ``"decided"``, ``"target met"``, ``"budget"``, ``"max seeds"`` or
        ``"fixed seeds"``; None when another round follows.
      message: the reason in words, true to what stopped the run.
      undecided: labels of the formulas that are still undecided.
    """

    seeds: dict | None
    stop: str | None
    message: str
    undecided: tuple[str, ...] = ()


def next_round(
    config,
    judged: list[tuple[str, str, object]],
    empirical: dict,
    references: dict,
    seeds: dict,
    seconds: dict,
    *,
    elapsed: float,
) -> RoundPlan:
    """Plan the next round (module docstring).

    Args:
      config: the run's :class:`~harness.converge._config.ConvergeConfig`.
      judged: ``(label, kernel, FormulaTest)`` for every judged formula.
      empirical: width → ``{"nngp", "ntk"}`` per-seed stacks of the judged sampler.
      references: ``{"analytic": {"nngp", "ntk"}, ...}`` (empty for a custom model).
      seeds: ``{(width, kind): seeds}`` now.
      seconds: ``{(width, kind): seconds per network}``, measured (NaN where nothing
        was measured in this process: the run's cost model is then used, and no
        budget estimate is made).
      elapsed: seconds since the run started.
    """
    if config.target_error is None and not config.adaptive:
        return RoundPlan(None, "fixed seeds", f"--seeds {config.seeds} was given")
    factor_by_kernel: dict[str, float] = {}
    undecided = []
    if config.target_error is not None:
        for kernel in ("nngp", "ntk"):
            test = formula_test(
                {w: k[kernel] for w, k in empirical.items()},
                references["analytic"][kernel],
                tolerance=config.tolerance,
            )
            if test.detectable_error > config.target_error:
                undecided.append(f"{kernel.upper()} (ours)")
                wanted = (test.detectable_error / config.target_error) ** 2 * 1.1
                factor_by_kernel[kernel] = max(factor_by_kernel.get(kernel, 1.0), wanted)
        if not factor_by_kernel:
            return RoundPlan(None, "target met", "the target detectable error was reached")
    else:
        for label, kernel, test in judged:
            if test.decided:
                continue
            undecided.append(label)
            factor_by_kernel[kernel] = max(factor_by_kernel.get(kernel, 1.0), _factor(test))
        if not factor_by_kernel:
            return RoundPlan(None, "decided", "every judged formula was decided")

    judged_entries = [(w, config.sampler_of(w)) for w in sorted(empirical)]
    known = all(math.isfinite(seconds[e]) for e in judged_entries)
    costs = {e: seconds[e] if known else float(e[0]) ** 2 for e in judged_entries}
    proposal = {entry: seeds[entry] for entry in judged_entries}
    for kernel, factor in factor_by_kernel.items():
        factor = min(MAX_GROWTH, max(MIN_GROWTH, factor))
        variances = _variances(empirical, references.get("analytic", {}).get(kernel), kernel)
        allocated = allocate_seeds(
            [w for w, _ in judged_entries],
            [seeds[e] for e in judged_entries],
            variances,
            [costs[e] for e in judged_entries],
            variance_factor=factor,
            max_seeds=config.max_seeds,
        )
        for entry, count in zip(judged_entries, allocated, strict=True):
            proposal[entry] = max(proposal[entry], count)
    added = {e: s for e, s in proposal.items() if s > seeds[e]}
    names = ", ".join(undecided)
    if not added:
        capped = ", ".join(str(w) for w, _ in judged_entries)
        return RoundPlan(
            None,
            "max seeds",
            f"--max-seeds {config.max_seeds} was reached at widths {capped} with {names} "
            "undecided; wider networks lower the noise further",
            tuple(undecided),
        )
    if known and config.budget is not None:
        estimate = sum((s - seeds[e]) * costs[e] for e, s in added.items())
        if elapsed + estimate > config.budget:
            return RoundPlan(
                None,
                "budget",
                f"the next round (about {estimate:.0f} s) would pass the time budget of "
                f"{config.budget:g} s with {names} undecided; a larger --budget continues "
                "from the stored networks",
                tuple(undecided),
            )
    return RoundPlan({**seeds, **added}, None, f"adding networks for {names}", tuple(undecided))


def _factor(test) -> float:
    """How much smaller the variance must get before ``test`` can be decided."""
    if test.seeds_needed is not None:
        return test.seeds_needed / max(test.seeds)
    if math.isfinite(test.z) and test.z > 0 and math.isfinite(test.cut):
        return (test.cut / test.z) ** 2 * 1.2
    return MAX_GROWTH


def _variances(empirical: dict, reference: np.ndarray | None, kernel: str) -> list[float]:
    """Per-network variance at each width, on the formula test's scale-free entries.

    ``reference`` only decides which entries are distinct (a symmetric kernel's upper
    triangle); without one (a custom model) the widest width's seed mean stands in.
    """
    if reference is None:
        reference = empirical[max(empirical)][kernel].mean(axis=0)
    variances = network_variances({w: k[kernel] for w, k in empirical.items()}, reference)
    finite = [v for v in variances.values() if math.isfinite(v)]
    fallback = max(finite) if finite else 1.0
    return [v if math.isfinite(v) else fallback for _, v in sorted(variances.items())]
