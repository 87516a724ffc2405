r"""Statistics of finite-width errors: relative errors, per-width summaries, fitted rates.

The convergence question is answered in three steps.

1. **Error of one network.** For an empirical kernel :math:`\hat K` of one
   randomly initialised network and a reference :math:`K` (an analytic
   infinite-width kernel), the relative Frobenius error

   .. math:: e = \lVert \hat K - K \rVert_F / \lVert K \rVert_F .

2. **Per width.** Over ``S`` independent seeds: the mean and the (ddof=1)
   standard deviation of ``e``, and a percentile-bootstrap 95% confidence
   interval of the mean, resampled with a *fixed* RNG seed so that reports are
   reproducible bit for bit.

3. **Rate.** An ordinary least-squares fit of :math:`\log e = a + p \log n`
   over *all* per-seed points (not the per-width means), with a two-sided 95%
   confidence interval :math:`p \pm t_{0.975, m-2} \, \mathrm{se}(p)` from
   Student's t distribution (``m`` points). Theory: the empirical kernel of a
   width-``n`` network fluctuates around its mean by :math:`O(n^{-1/2})`
   (Yang 2019/2020, Tensor Programs; Jacot et al. 2018; Lee et al. 2019), so
   :math:`p \approx -1/2`.

   Caveat: OLS assumes independent residuals with equal variance in
   :math:`\log e`. Seeds within one width are independent networks, and so are
   networks at different widths (their seeds are drawn separately), so the
   independence assumption holds; the log makes the spread roughly equal across
   widths, because the per-seed error is approximately a width-dependent scale
   times a width-independent distribution. The CI is therefore a fair
   statement about the rate over the fitted range. It says nothing about
   curvature (e.g. a bias plateau) beyond that range.

**Diagnostics, not the verdict.** The per-seed slope and the seed-mean
kernel's distance in standard errors (:func:`seed_mean_z`) are reported for
each width; whether a formula is right is decided by the bias-removing formula
test of :mod:`harness.stats._formula_test`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import scipy  # scipy.stats loads on first use (SciPy imports submodules lazily)

__all__ = [
    "ErrorSummary",
    "SlopeFit",
    "bootstrap_mean_ci",
    "loglog_slope",
    "max_relative_difference",
    "relative_frobenius_error",
    "seed_mean_z",
    "seed_variance",
    "summarize_errors",
]

#: RNG seed of every bootstrap, so that reports are reproducible.
BOOTSTRAP_SEED = 20260

#: Bootstrap resamples per confidence interval.
BOOTSTRAP_RESAMPLES = 4000

_SEED_CHUNK = 256


class ErrorSummary(NamedTuple):
    """Per-width summary of per-seed errors (``std`` uses ddof=1; NaN for one seed)."""

    mean: float
    std: float
    ci95_low: float
    ci95_high: float
    n: int


class SlopeFit(NamedTuple):
    """OLS fit ``log e = intercept + slope * log n`` with a t-based 95% CI of the slope."""

    slope: float
    ci95_low: float
    ci95_high: float
    intercept: float


def relative_frobenius_error(estimate, reference):
    """``‖estimate − reference‖_F / ‖reference‖_F`` in float64.

    ``estimate`` may carry leading batch axes (``[..., N, N]``); the result then
    has those axes. ``reference`` is one ``(N, N)`` matrix.

    Raises:
      ValueError: if the reference is zero or anything is not finite.
    """
    estimate = np.asarray(estimate, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if estimate.shape[-2:] != reference.shape[-2:]:
        raise ValueError(f"shapes differ: estimate {estimate.shape}, reference {reference.shape}")
    if not (np.all(np.isfinite(estimate)) and np.all(np.isfinite(reference))):
        raise ValueError("relative_frobenius_error: non-finite entries")
    scale = np.linalg.norm(reference, axis=(-2, -1))
    if np.any(scale == 0):
        raise ValueError("relative_frobenius_error: the reference kernel is zero")
    error = np.linalg.norm(estimate - reference, axis=(-2, -1)) / scale
    return float(error) if np.ndim(error) == 0 else error


def bootstrap_mean_ci(
    values,
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean (fixed RNG seed).

    With a single value the interval collapses to that value.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("bootstrap_mean_ci: no values")
    if values.size == 1:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def summarize_errors(values) -> ErrorSummary:
    """Mean, std (ddof=1), bootstrap 95% CI of the mean, and count of per-seed errors."""
    values = np.asarray(values, dtype=np.float64).ravel()
    low, high = bootstrap_mean_ci(values)
    std = float(values.std(ddof=1)) if values.size > 1 else float("nan")
    return ErrorSummary(float(values.mean()), std, low, high, int(values.size))


def loglog_slope(widths: Sequence[float], values_per_seed) -> SlopeFit:
    """Fit ``log e = a + p log n`` over every per-seed point; 95% CI of ``p`` from Student's t.

    Args:
      widths: the ``W`` widths.
      values_per_seed: per width, a sequence of per-seed errors (``[W, S]``
        array or ragged lists). A single error per width fits the per-width
        values themselves (e.g. the seed-mean kernel's error).

    Returns:
      :class:`SlopeFit`. With exactly two points the CI is ``(-inf, inf)``.

    Raises:
      ValueError: for fewer than two distinct widths or a non-positive error.
    """
    if len(widths) != len(values_per_seed):
        raise ValueError("loglog_slope: one list of values per width is needed")
    x, y = [], []
    for width, values in zip(widths, values_per_seed, strict=True):
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if np.any(~np.isfinite(values)) or np.any(values <= 0):
            raise ValueError(f"loglog_slope: errors at width {width} must be finite and > 0")
        x.extend([np.log(width)] * values.size)
        y.extend(np.log(values))
    x, y = np.asarray(x), np.asarray(y)
    if np.unique(x).size < 2:
        raise ValueError("loglog_slope: at least two distinct widths are needed")
    fit = scipy.stats.linregress(x, y)
    dof = x.size - 2
    if dof < 1:
        return SlopeFit(float(fit.slope), -np.inf, np.inf, float(fit.intercept))
    half = scipy.stats.t.ppf(0.975, dof) * fit.stderr
    return SlopeFit(
        float(fit.slope), float(fit.slope - half), float(fit.slope + half), float(fit.intercept)
    )


def seed_variance(stack, mean=None) -> float:
    r""":math:`V = \frac{1}{S-1}\sum_s \lVert \hat K_s - m \rVert_F^2`, per-seed squared deviation.

    ``stack`` holds ``S`` estimates on axis 0; ``mean`` defaults to their mean. ``V/S`` is
    the squared standard error of the seed mean in Frobenius norm (an unbiased estimate of
    the trace of its covariance). NaN for ``S < 2``. Summed in chunks of seeds, so that
    thousands of seeds need no second copy of the stack.
    """
    stack = np.asarray(stack, dtype=np.float64)
    count = stack.shape[0]
    if count < 2:
        return float("nan")
    mean = stack.mean(axis=0) if mean is None else mean
    total = 0.0
    for start in range(0, count, _SEED_CHUNK):
        total += float(np.sum((stack[start : start + _SEED_CHUNK] - mean) ** 2))
    return total / (count - 1)


def seed_mean_z(estimates, reference) -> float:
    """Distance of the seed-mean of ``estimates [S, N, N]`` from ``reference`` in standard errors.

    ``‖K̄ − K‖_F / √(V/S)`` with ``V`` the unbiased mean squared deviation of
    the ``S`` estimates from their mean (module docstring). ``nan`` for ``S < 2``.
    """
    estimates = np.asarray(estimates, dtype=np.float64)
    count = estimates.shape[0]
    if count < 2:
        return float("nan")
    mean = estimates.mean(axis=0)
    spread = seed_variance(estimates, mean)
    distance = np.linalg.norm(mean - np.asarray(reference, dtype=np.float64))
    if spread == 0:
        return 0.0 if distance == 0 else float("inf")
    return float(distance / np.sqrt(spread / count))


def max_relative_difference(a, b) -> float:
    """``max_ij |a_ij − b_ij| / max_ij |b_ij|``: entrywise agreement on the kernel's own scale."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
