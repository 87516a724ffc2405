r"""Where more networks buy the most precision: seeds per width for a target variance.

The extrapolated kernel :math:`\hat K_\infty = \sum_w c_w m_w` has error variance
:math:`\sum_w c_w^2 V_w / S_w` (:mod:`harness.stats._extrapolation`), and a
network of width :math:`n_w` costs :math:`t_w`. Minimising the cost
:math:`\sum_w S_w t_w` subject to :math:`\sum_w c_w^2 V_w / S_w \le T` (a
Lagrange multiplier; Neyman's optimal allocation, Neyman 1934, *On the two
different aspects of the representative method*, J. R. Statist. Soc. 97) gives

.. math:: S_w = \frac{|c_w| \sqrt{V_w / t_w}}{T} \sum_k |c_k| \sqrt{V_k t_k}.

The coefficients :math:`c_w` themselves depend on the seeds through the design
weights :math:`S_w n_w`, so the allocation is iterated a few times; seeds are
only ever added (a width keeps the networks it has) and capped at ``max_seeds``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harness.stats._extrapolation import extrapolate_to_infinite_width
from harness.stats._extrapolation import extrapolation_coefficients
from harness.stats._layout import KernelLayout

__all__ = ["allocate_seeds", "network_variances"]

_ITERATIONS = 4


def allocate_seeds(
    widths: Sequence[int],
    seeds: Sequence[int],
    variances: Sequence[float],
    costs: Sequence[float],
    *,
    variance_factor: float,
    max_seeds: int,
) -> tuple[int, ...]:
    r"""Seeds per width that divide the extrapolation's variance by ``variance_factor``, cheaply.

    Args:
      widths: widths, ascending.
      seeds: the seeds each width has now (a lower bound on the answer).
      variances: per-network variances :math:`V_w` (any common unit).
      costs: the cost of one network at each width, :math:`t_w` (any common unit).
      variance_factor: how much smaller the variance must become (> 1).
      max_seeds: cap per width.

    Returns:
      Seeds per width, each at least the current count and at most ``max_seeds``.
    """
    n = np.asarray(widths, dtype=np.float64)
    have = np.asarray(seeds, dtype=np.float64)
    V = np.asarray(variances, dtype=np.float64)
    t = np.asarray(costs, dtype=np.float64)
    if not (n.size == have.size == V.size == t.size) or n.size == 0:
        raise ValueError("widths, seeds, variances and costs must have one entry per width")
    if not (math.isfinite(variance_factor) and variance_factor >= 1.0):
        raise ValueError(f"variance_factor must be at least 1, got {variance_factor}")
    if np.any(~np.isfinite(V)) or np.any(V < 0) or np.any(~(t > 0)):
        raise ValueError("variances must be finite and non-negative, costs positive")
    c = extrapolation_coefficients(n, have)
    target = float(np.sum(c**2 * V / have)) / variance_factor
    proposal = have.copy()
    if target <= 0.0:
        return tuple(int(s) for s in have)
    for _ in range(_ITERATIONS):
        c = extrapolation_coefficients(n, proposal)
        spend = np.abs(c) * np.sqrt(V * t)
        ideal = np.abs(c) * np.sqrt(V / t) * spend.sum() / target
        proposal = np.clip(np.maximum(have, np.ceil(ideal)), 2, max_seeds)
    return tuple(int(s) for s in np.maximum(proposal, have))


def network_variances(per_width, reference: np.ndarray) -> dict[int, float]:
    """One network's variance :math:`V_w` at each width, on the formula test's scale-free entries.

    Widths with one network get the largest variance seen (NaN if none varies).
    """
    widths = sorted(per_width)
    layout = KernelLayout.of(reference, np.asarray(per_width[widths[-1]]).mean(axis=0))
    per_seed = {w: per_width[w] for w in widths}
    est = extrapolate_to_infinite_width(per_seed, extrapolate=False, layout=layout)
    known = dict(zip(est.widths, est.variances, strict=True))
    finite = [v for v in known.values() if np.isfinite(v)]
    fallback = max(finite) if finite else math.nan
    return {w: float(known[w]) if np.isfinite(known.get(w, np.nan)) else fallback for w in widths}
