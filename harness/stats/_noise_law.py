r"""Cuts, interval quantiles and detectable errors from the estimated law of the noise.

**Global statistic.** With :math:`e` the error of the extrapolated kernel (a
Gaussian vector with covariance :math:`C`, eigenvalues :math:`\lambda_i`),
:math:`\lVert e\rVert^2 = \sum_i \lambda_i Z_i^2`. The law is approximated by
:math:`\lambda_1 \chi^2_h` with :math:`h = \operatorname{tr}C/\lambda_1`: the
eigenvalues :math:`\lambda/\lambda_1` are majorized by :math:`h` equal ones
with the same sum, and far upper tails of Gaussian quadratic forms grow when
the weights are made more unequal (Székely & Bakirov 2003, *Extremal
probabilities for Gaussian quadratic forms*, Probab. Theory Relat. Fields 126,
for the extreme rank-one case; Bock, Diaconis, Huffer & Perlman 1987,
*Inequalities for linear combinations of gamma random variables*, Canad. J.
Statist. 15). With :math:`\mathrm{se}^2 = \operatorname{tr}\hat C` carrying
:math:`\nu` degrees of freedom (:mod:`harness.stats._extrapolation`),

.. math:: z^2 = \lVert e\rVert^2/\mathrm{se}^2 \;\approx\; F(h, \nu),

exact for rank-one noise (:math:`h = 1`: :math:`z \sim |t_\nu|`) and for
noise spread evenly over :math:`h` directions. Real kernels' noise is spread
over several directions (a common scale, then the Wishart-like rest), so the
cut :math:`\sqrt{F^{-1}_{h,\nu}(1-\alpha)}` is far below the rank-one one.

**Power.** A formula error :math:`\delta` adds :math:`\lVert\delta\rVert^2 +
2\langle\delta, e\rangle` to :math:`\lVert e\rVert^2`. The cross term's
variance :math:`4\delta^\top C\delta` is largest when :math:`\delta` lies along
the top eigenvector, the worst direction; there
:math:`z^2 \approx F'(h, \nu, k^2)`, a noncentral F with noncentrality
:math:`k^2 = \lVert\delta\rVert^2/\lambda_1`. The detectable error is
:math:`k\sqrt{\lambda_1}` for the smallest :math:`k` caught with probability
``power``.

**Entries.** Entry :math:`j` of the extrapolated kernel has standard error
:math:`\mathrm{se}_j` with :math:`\nu_j` degrees of freedom;
:math:`z_j = d_j/\mathrm{se}_j` is referred to Student's t, and the largest
:math:`|z_j|` over :math:`m` entries to the Bonferroni cut
:math:`t_{\nu_j,\,1-\alpha/(2m)}`, valid whatever the entries' correlation.
An error in one entry is caught with probability ``power`` once it is
:math:`k_j\,\mathrm{se}_j`, :math:`k_j` from the noncentral t.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import scipy  # scipy.stats, scipy.optimize: loaded on first use (SciPy imports them lazily)

__all__ = [
    "entry_cuts",
    "entry_multipliers",
    "global_cut",
    "global_multiplier",
    "interval_quantile",
]

_NORMAL_DF = 1e7
_MAX_DOUBLINGS = 64


def _round_down(x: float, digits: int = 3) -> float:
    """``x`` rounded down to ``digits`` significant digits (a cache key; the conservative side)."""
    if not math.isfinite(x) or x > _NORMAL_DF:
        return math.inf
    step = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    return math.floor(x / step) * step


def _check(rank: float, df: float, size: float) -> tuple[float, float]:
    if not (rank >= 1.0 or math.isinf(rank)) or math.isnan(rank):
        raise ValueError(f"effective rank must be at least 1, got {rank}")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if not 0.0 < size < 1.0:
        raise ValueError(f"size must lie in (0, 1), got {size}")
    return _round_down(rank, 2), _round_down(df)


def global_cut(rank: float, df: float, size: float) -> float:
    r"""Cut on :math:`z = \lVert d\rVert/\mathrm{se}`: :math:`\sqrt{F^{-1}_{h,\nu}(1-\alpha)}`."""
    h, nu = _check(rank, df, size)
    return math.sqrt(_f_isf(size, h, nu))


def interval_quantile(rank: float, df: float, level: float) -> float:
    r""":math:`q` with :math:`P(\lVert e\rVert > q\,\mathrm{se}) = 1 - \mathrm{level}`."""
    return global_cut(rank, df, 1.0 - level)


@functools.lru_cache(maxsize=4096)
def _f_isf(size: float, h: float, nu: float) -> float:
    if math.isinf(nu):
        return float(scipy.stats.chi2.isf(size, h)) / h
    return float(scipy.stats.f.isf(size, h, nu))


def global_multiplier(rank: float, df: float, size: float, power: float) -> float:
    r""":math:`k` with :math:`P(F'(h,\nu,k^2) > F^{-1}_{h,\nu}(1-\alpha)) = \mathrm{power}`.

    The detectable error is :math:`k\sqrt{\lambda_1}`; for rank one this is the
    noncentral-t multiplier (:math:`\approx z_{1-\alpha/2} + z_{\rm power}` for many seeds).
    """
    h, nu = _check(rank, df, size)
    if not size < power < 1.0:
        raise ValueError(f"power must lie between the size and 1, got {power}")
    return _global_multiplier(h, nu, float(size), float(power))


@functools.lru_cache(maxsize=4096)
def _global_multiplier(h: float, nu: float, size: float, power: float) -> float:
    cut = _f_isf(size, h, nu)

    def rejection(k: float) -> float:
        if math.isinf(nu):
            return float(scipy.stats.ncx2.sf(cut * h, h, k * k))
        value = float(scipy.stats.ncf.sf(cut, h, nu, k * k))
        return value if math.isfinite(value) else float(scipy.stats.ncx2.sf(cut * h, h, k * k))

    return _solve(rejection, power, start=math.sqrt(cut * h) + 4.0)


def entry_cuts(df: np.ndarray, tail: float) -> np.ndarray:
    r"""Two-sided Student cuts :math:`t_{\nu_j,1-\mathrm{tail}/2}` per entry (normal: huge df)."""
    df = np.asarray(df, dtype=np.float64)
    if not 0.0 < tail < 1.0:
        raise ValueError(f"tail must lie in (0, 1), got {tail}")
    keys = [_round_down(float(v)) for v in df.ravel()]
    return np.array([_t_isf(tail / 2.0, k) for k in keys]).reshape(df.shape)


@functools.lru_cache(maxsize=65536)
def _t_isf(p: float, nu: float) -> float:
    if math.isinf(nu):
        return float(scipy.stats.norm.isf(p))
    return float(scipy.stats.t.isf(p, nu))


def entry_multipliers(df: np.ndarray, tail: float, power: float) -> np.ndarray:
    r"""Noncentral-t multipliers :math:`k_j` per entry.

    :math:`P(|t_{\nu_j}(k_j)| > t_{\nu_j,1-\mathrm{tail}/2}) = \mathrm{power}`.
    """
    df = np.asarray(df, dtype=np.float64)
    if not tail < power < 1.0:
        raise ValueError(f"power must lie between the tail and 1, got {power}")
    keys = [_round_down(float(v)) for v in df.ravel()]
    return np.array([_entry_multiplier(k, float(tail), float(power)) for k in keys]).reshape(
        df.shape
    )


@functools.lru_cache(maxsize=65536)
def _entry_multiplier(nu: float, tail: float, power: float) -> float:
    cut = _t_isf(tail / 2.0, nu)
    if math.isinf(nu):

        def rejection(k: float) -> float:
            return float(scipy.stats.norm.sf(cut - k) + scipy.stats.norm.cdf(-cut - k))

    else:

        def rejection(k: float) -> float:
            with warnings.catch_warnings():  # scipy's series warns far out; the limit is used
                warnings.simplefilter("ignore", RuntimeWarning)
                lower = float(np.nan_to_num(scipy.stats.nct.cdf(-cut, nu, k), nan=0.0))
                upper = float(scipy.stats.nct.sf(cut, nu, k))
            if not math.isfinite(upper):  # scipy's nct fails far out; the normal limit is close
                upper = float(scipy.stats.norm.sf(cut - k))
            return upper + lower

    return _solve(rejection, power, start=cut + 4.0)


def _solve(rejection, power: float, *, start: float) -> float:
    """The smallest ``k`` with ``rejection(k) = power``, with a bounded bracket search."""
    hi = start
    for _ in range(_MAX_DOUBLINGS):
        if rejection(hi) >= power:
            break
        hi *= 2.0
    else:
        return math.inf
    return float(scipy.optimize.brentq(lambda k: rejection(k) - power, 0.0, hi, xtol=1e-6))
