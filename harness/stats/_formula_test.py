r"""Is a kernel formula the infinite-width limit of the networks? A calibrated decision rule.

**Data.** For widths :math:`n_1 < \dots < n_W` there are :math:`S_w` per-seed
empirical kernels :math:`\hat K_{w,s}` of independently initialised networks,
and a reference formula :math:`K_{\rm ref}`. Norms are Frobenius norms over the
whole array.

**Model.** Finite-width theory (Yang 2019, 2020, *Tensor Programs*; Hanin &
Nica 2019, *Finite depth and width corrections to the neural tangent kernel*;
Dyer & Gur-Ari 2019, *Asymptotics of wide networks from Feynman diagrams*)
gives

.. math:: \mathbb E \hat K_w = K_\infty + A / n_w + O(n_w^{-2}), \qquad
          \hat K_{w,s} - \mathbb E \hat K_w = O(n_w^{-1/2}),

and the question is whether :math:`K_{\rm ref} = K_\infty`. Per-seed kernels
of deep networks at small widths are right-skewed (a random scale common to
the whole matrix, skewness about 1.6). The levels below are derived for
Gaussian noise and then *measured* under skewed noise in
``tests/stats/test_formula_test.py``.

1. **Extrapolation** (:func:`extrapolate_to_infinite_width`). Seed means
   :math:`m_w` and per-seed variances
   :math:`V_w = \frac{1}{S_w - 1} \sum_s \lVert \hat K_{w,s} - m_w \rVert^2`,
   unbiased for :math:`\tau_w^2 = \operatorname{tr}\operatorname{Cov}\hat K_w`.
   Weighted least squares of :math:`m_w = K_\infty + A/n_w`, entry by entry,
   with *design* weights :math:`\omega_w = S_w n_w`, gives

   .. math:: \hat K_\infty = \sum_w c_w m_w, \qquad \sum_w c_w = 1, \qquad
             \sum_w c_w / n_w = 0 .

   Since :math:`\operatorname{Var} m_w = \tau_w^2 / S_w` and
   :math:`\tau_w^2 \propto 1/n_w`, :math:`\omega_w` are the inverse-variance
   weights under the model. Being fixed by the design, they make the
   :math:`c_w` constants, so the error
   :math:`e = \hat K_\infty - \mathbb E \hat K_\infty = \sum_w c_w (m_w - \mathbb E m_w)`
   is a fixed combination of independent means and

   .. math:: \mathrm{se}^2 = \sum_w c_w^2 V_w / S_w

   is unbiased for :math:`\tau^2 = \mathbb E\lVert e \rVert^2`. Weights from
   the observed :math:`V_w` would be a little more efficient, but would make
   :math:`c_w` random and correlated with skewed noise (a draw with a large
   kernel scale raises both :math:`m_w` and :math:`V_w`, so it would be
   down-weighted exactly when it deviates), and se would no longer be
   unbiased. A wrong variance model only costs efficiency, not validity.
   Removing the bias costs variance: for widths :math:`n` and :math:`2n`,
   :math:`\hat K_\infty = 2 m_2 - m_1`, whose se is :math:`\sqrt 6 \approx 2.45`
   times that of :math:`m_2` alone.

   *Degrees of freedom.* If :math:`\operatorname{Cov}\hat K_w` has rank one,
   :math:`(S_w - 1) V_w / \tau_w^2 \sim \chi^2_{S_w - 1}`. Matching the mean
   and variance of :math:`\sum_w a_w V_w`, :math:`a_w = c_w^2 / S_w`, to a
   scaled :math:`\chi^2_\nu` (Satterthwaite 1946; Welch 1947) gives

   .. math:: \nu = \frac{(\sum_w a_w V_w)^2}{\sum_w (a_w V_w)^2 / (S_w - 1)} .

   A covariance of effective rank :math:`r = (\operatorname{tr}\Sigma)^2 /
   \operatorname{tr}\Sigma^2` multiplies every :math:`S_w - 1` by :math:`r`,
   so this :math:`\nu` errs on the small (conservative) side.

2. **Test.** :math:`z = \lVert \hat K_\infty - K_{\rm ref} \rVert / \mathrm{se}`.
   Under :math:`H_0` (correct formula) :math:`\hat K_\infty - K_{\rm ref} = e`,
   approximately Gaussian with :math:`\lVert e\rVert^2/\tau^2 = \sum_i
   \lambda_i Z_i^2`, :math:`\sum_i \lambda_i = 1`. Székely & Bakirov (2003,
   *Extremal probabilities for Gaussian quadratic forms*, Probab. Theory Relat.
   Fields 126) prove :math:`P(\sum_i \lambda_i Z_i^2 \ge x) \le P(Z^2 \ge x)`
   for :math:`x \ge 1.5365`: whatever the covariance, rank one is the worst
   case, and :math:`P(\lVert e\rVert \ge t\tau) \le 2\Phi(-t)` for
   :math:`t \ge 1.2396`. In the rank-one case with se estimated,
   :math:`z \sim |t_\nu|` exactly, so the rule rejects when

   .. math:: z > t_{\nu,\,1-\alpha/2}, \qquad \alpha = 2\Phi(-\mathrm{cut}),

   the Student-t cut with the tail probability of a normal ``cut``
   (:attr:`FormulaTest.cut` is the t cut applied). The default ``cut = 3``
   gives a nominal size of :math:`\alpha = 0.27\%` for Gaussian noise of any
   covariance. Skewness :math:`\gamma` of the noise makes the two-sided tails
   of a studentized mean heavier by :math:`O(\gamma^2/S)` (Edgeworth
   expansion; Hall 1992, *The Bootstrap and Edgeworth Expansion*); with
   skewness 1.6 in the worst (rank-one) case the measured size is up to
   about 0.7%, below 1% for every seed count.

3. **95% interval** of :math:`\varepsilon = \lVert K_\infty - K_{\rm ref}\rVert /
   \lVert K_{\rm ref}\rVert`. With :math:`d = \lVert \hat K_\infty - K_{\rm ref}\rVert`
   the triangle inequality gives :math:`|d - \lVert K_\infty - K_{\rm ref}\rVert|
   \le \lVert e\rVert`, so both ways of missing
   :math:`[\max(0, d - q\,\mathrm{se}),\, d + q\,\mathrm{se}] / \lVert K_{\rm ref}\rVert`
   imply :math:`\lVert e\rVert > q\,\mathrm{se}`, of probability at most
   :math:`1 - p` for :math:`q = t_{\nu,(1+p)/2}` by the argument of step 2
   (:math:`q^2 \ge 1.5365`). Nothing sharper holds in the worst case: for a
   large error only the noise along it matters, and that is a :math:`t_\nu`.
   The interval is built with :math:`p = 97\%` and reported as 95%: the two
   extra points absorb the skewness loss of step 2, measured at up to 1.5
   points at the 95% level (skewness 1.6, rank one, few seeds).

4. **Detectable error** (power 80%). Write :math:`\delta = K_\infty - K_{\rm ref}`
   and :math:`u = \delta/\lVert\delta\rVert`. Then
   :math:`\lVert \delta + e\rVert \ge \lVert\delta\rVert + \langle u, e\rangle`
   and :math:`\operatorname{Var}\langle u, e\rangle = u^\top\Sigma u \le \tau^2`,
   with equality for rank-one noise along :math:`\delta` (the worst
   direction). There :math:`z` is a noncentral :math:`|t_\nu|` with
   noncentrality :math:`k = \lVert\delta\rVert/\tau`; the smallest :math:`k`
   with :math:`P(|t_\nu(k)| > t_{\nu,1-\alpha/2}) \ge 0.8`
   (:func:`detectable_multiplier`; :math:`3 + 0.84` for many seeds) gives

   .. math:: \varepsilon_{\rm det} = k\, \hat\tau / \lVert K_{\rm ref} \rVert,
             \qquad \hat\tau = \mathrm{se} \sqrt{\nu / \chi^2_{\nu,\,0.5}},

   with :math:`\hat\tau` median-unbiased for :math:`\tau` (se itself is
   median-biased low when :math:`\nu` is small), so a run's
   :math:`\varepsilon_{\rm det}` is as likely to be above as below the error
   it detects with 80% probability. This treats the cut as fixed; with few
   seeds the cut :math:`t_{\hat\nu}` varies with the estimated
   :math:`\hat\nu`, which costs power: measured at the median reported
   :math:`\varepsilon_{\rm det}`, about 70% with 4 seeds per width and 80%
   (within binomial noise) from 16 seeds on.

5. **Lack of fit** of the :math:`1/n` law (:math:`W \ge 3`). With the fit's hat
   matrix :math:`H`, :math:`\Omega = \operatorname{diag}\omega` and
   :math:`P = (I-H)^\top \Omega (I-H)`, the weighted residual sum
   :math:`T = \sum_w \omega_w \lVert r_w \rVert^2` has, under the model,
   :math:`\mathbb E T = \sum_w P_{ww} \tau_w^2 / S_w`, estimated by
   :math:`\hat E = \sum_w P_{ww} V_w / S_w`. For rank-one noise
   :math:`T = \sum_j \kappa_j Z_j^2` with :math:`\kappa` the eigenvalues of
   :math:`D P D`, :math:`D = \operatorname{diag}(\tau_w/\sqrt{S_w})`, so
   :math:`F = T/\hat E` is referred to :math:`F(f_1, f_2)` with Satterthwaite
   degrees of freedom :math:`f_1 = (\sum\kappa)^2/\sum\kappa^2` and
   :math:`f_2` those of :math:`\hat E` (as in step 1). Spread noise
   concentrates :math:`T`, so the p-value is conservative. The law is
   rejected at ``lack_of_fit_level`` (1%).

6. **Outcome.** *inconsistent* when :math:`z` exceeds the cut (with
   extrapolation this needs two widths or more with at least two seeds each);
   *consistent* when it does not and :math:`\varepsilon_{\rm det} \le`
   ``tolerance``, reported as "formula error below the interval's upper
   end"; otherwise *inconclusive*,
   with the seeds per width that would reach the tolerance
   (:func:`required_seeds`). When the :math:`1/n` law is rejected the
   extrapolation is not trusted: *inconclusive*, unless the bias-bounded
   comparison of step 7 still rejects. Widths with one seed carry no variance
   and are left out; with one seed everywhere, or kernels that do not vary
   between seeds (the same seed reused?), the noise is unknown and the
   outcome is *inconclusive*.

7. **Without extrapolation** (one usable width, ``extrapolate=False``, or a
   rejected fit) the largest width's mean :math:`m_W` is compared with the
   reference, allowing a finite-width bias :math:`\lVert b_W\rVert \le B`.
   :math:`B` is ``bias_allowance`` times :math:`\lVert K_{\rm ref}\rVert` when
   given. Otherwise, when :math:`n_W \ge 2 n_1`, :math:`B` is the observed
   drift :math:`\lVert m_1 - m_W\rVert + t\,\mathrm{se}(m_1 - m_W)`: a bias
   that decays at least like :math:`1/n` in a fixed direction has
   :math:`\lVert b_W\rVert \le \lVert b_1 - b_W\rVert` once
   :math:`n_W \ge 2n_1` (a heuristic when the :math:`1/n` law was just
   rejected). With neither, one width cannot separate bias from error and the
   outcome is *inconclusive*. The rule rejects when
   :math:`z = (d_W - B)/\mathrm{se}_W` exceeds the t cut
   (:math:`\nu = S_W - 1`): under :math:`H_0`,
   :math:`d_W \le \lVert b_W\rVert + \lVert e_W\rVert`. With the drift bound,
   the noise and the bound share :math:`\alpha` equally, so the size stays at
   :math:`\alpha`. The point estimate is :math:`d_W/\lVert K_{\rm ref}\rVert`
   (bias included), the interval widens by :math:`B` on each side, and
   :math:`\varepsilon_{\rm det} = (2B + k\hat\tau_W)/\lVert K_{\rm ref}\rVert`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.optimize
import scipy.stats

from harness.stats._errors import seed_variance

DEFAULT_CUT = 3.0
r"""Normal-equivalent cut: nominal size :math:`2\Phi(-3) = 0.27\%`."""

DEFAULT_POWER = 0.8
"""Power at which :attr:`FormulaTest.detectable_error` is quoted."""

DEFAULT_TOLERANCE = 0.01
"""Relative formula error (1%) that a *consistent* run must be able to detect."""

INTERVAL_CONSTRUCTION_LEVEL = 0.97
"""Student level of the interval reported as 95% (module docstring, step 3)."""

LACK_OF_FIT_LEVEL = 0.01
"""Level of the lack-of-fit test of the :math:`1/n` law."""

# Székely & Bakirov (2003): for x above this, rank one maximises P(Σ λ_i Z_i² ≥ x), Σ λ_i = 1.
_SZEKELY_BAKIROV_X = 1.5365

_NORMAL_DF = 1e8

Outcome = Literal["consistent", "inconsistent", "inconclusive"]


@dataclasses.dataclass(frozen=True, eq=False)
class WidthExtrapolation:
    r"""Seed statistics per width and the infinite-width estimate built from them.

    Attributes:
      widths: widths used, ascending. Widths with one seed are left out unless
        every width has one seed.
      seeds: seeds per used width, :math:`S_w`.
      means: seed means :math:`m_w`, shape ``(W, *kernel_shape)``.
      variances: :math:`V_w`, the per-seed mean squared Frobenius deviation
        from :math:`m_w` (ddof=1); NaN with one seed.
      coefficients: :math:`c_w`, with :math:`\hat K_\infty = \sum_w c_w m_w`.
      kernel: :math:`\hat K_\infty`, or :math:`m_W` when not extrapolated.
      se: :math:`\sqrt{\sum_w c_w^2 V_w / S_w}`; NaN when unknown.
      df: Satterthwaite degrees of freedom :math:`\nu` of ``se**2``; NaN when
        unknown.
      lack_of_fit: ``(F, p)`` for the :math:`1/n` law, or None (fewer than
        three widths, no extrapolation, or no variance).
      extrapolated: whether :math:`\hat K_\infty` comes from the :math:`1/n` fit.
    """

    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    means: np.ndarray
    variances: np.ndarray
    coefficients: np.ndarray
    kernel: np.ndarray
    se: float
    df: float
    lack_of_fit: tuple[float, float] | None
    extrapolated: bool


@dataclasses.dataclass(frozen=True)
class FormulaTest:
    r"""Outcome of :func:`formula_test`; relative values are fractions of ‖K_ref‖_F.

    Attributes:
      outcome: ``"consistent"``, ``"inconsistent"`` or ``"inconclusive"``.
      reason: one short sentence explaining the outcome, with advice when
        inconclusive.
      z: the test statistic; NaN when the noise is unknown.
      cut: the Student-t cut applied to ``z``; NaN when the noise is unknown.
      formula_error: point estimate of :math:`\varepsilon = \lVert K_\infty -
        K_{\rm ref}\rVert / \lVert K_{\rm ref}\rVert`: the distance of the
        estimate from the reference, :math:`d / \lVert K_{\rm ref}\rVert`
        (noise adds about :math:`\mathrm{se}^2/2d` to it).
      formula_error_ci95: 95% interval ``(lo, hi)`` of :math:`\varepsilon`.
      detectable_error: the :math:`\varepsilon` flagged with 80% probability
        when the noise is worst aligned; infinite when the noise is unknown.
      tolerance: the :math:`\varepsilon` a consistent run must detect.
      se_relative: standard error of the compared kernel, relative.
      df: degrees of freedom of that standard error.
      widths: widths used.
      seeds: seeds per used width.
      lack_of_fit: ``(F, p)`` for the :math:`1/n` law, or None.
      fluctuation: :math:`c` such that one network's relative fluctuation is
        about :math:`c/\sqrt n`, fitted to reproduce the run's se; the input
        of :func:`required_seeds`.
      extrapolated: whether the decision used the :math:`1/n` extrapolation.
    """

    outcome: Outcome
    reason: str
    z: float
    cut: float
    formula_error: float
    formula_error_ci95: tuple[float, float]
    detectable_error: float
    tolerance: float
    se_relative: float
    df: float
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    lack_of_fit: tuple[float, float] | None
    fluctuation: float
    extrapolated: bool

    def to_json(self) -> dict:
        """Plain Python values; non-finite numbers become None."""
        lof = None if self.lack_of_fit is None else [_plain(v) for v in self.lack_of_fit]
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "z": _plain(self.z),
            "cut": _plain(self.cut),
            "formula_error": _plain(self.formula_error),
            "formula_error_ci95": [_plain(v) for v in self.formula_error_ci95],
            "detectable_error": _plain(self.detectable_error),
            "tolerance": _plain(self.tolerance),
            "se_relative": _plain(self.se_relative),
            "df": _plain(self.df),
            "widths": [int(n) for n in self.widths],
            "seeds": [int(s) for s in self.seeds],
            "lack_of_fit": lof,
            "fluctuation": _plain(self.fluctuation),
            "extrapolated": bool(self.extrapolated),
        }

    def headline(self, kernel_label: str) -> str:
        """One line, such as ``"NTK: consistent — formula error < 0.4% (95%)"``."""
        lo, hi = self.formula_error_ci95
        if self.outcome == "consistent":
            return f"{kernel_label}: consistent — formula error < {_percent(hi)} (95%)"
        if self.outcome == "inconsistent":
            return (
                f"{kernel_label}: inconsistent — formula off by {_percent(self.formula_error)} "
                f"[{_percent(lo)}, {_percent(hi)}]"
            )
        return f"{kernel_label}: inconclusive — {self.reason}"


def critical_value(df: float, *, cut: float = DEFAULT_CUT, tail: float | None = None) -> float:
    r"""Student-t cut :math:`t_{\nu, 1 - \alpha/2}` with :math:`\alpha = 2\Phi(-\mathrm{cut})`.

    ``tail`` gives :math:`\alpha` (the two-sided tail probability) directly.
    An infinite ``df`` gives the normal quantile.
    """
    alpha = 2.0 * scipy.stats.norm.sf(cut) if tail is None else tail
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if df > _NORMAL_DF:
        return float(scipy.stats.norm.isf(alpha / 2.0))
    return float(scipy.stats.t.isf(alpha / 2.0, df))


def detectable_multiplier(
    df: float, *, cut: float = DEFAULT_CUT, power: float = DEFAULT_POWER
) -> float:
    r"""Noncentrality :math:`k` with :math:`P(|t_\nu(k)| > t_{\nu,1-\alpha/2}) = \mathrm{power}`.

    The detectable error is :math:`k\tau` (module docstring, step 4);
    :math:`k \to \mathrm{cut} + \Phi^{-1}(\mathrm{power})` as
    :math:`\nu \to \infty` (3.84 for the defaults). ``df`` is rounded down to
    three significant digits (a slightly larger, conservative :math:`k`) so
    that repeated calls hit a cache.
    """
    if not df > 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if not 2.0 * scipy.stats.norm.sf(cut) < power < 1.0:
        raise ValueError(f"power must lie between the size and 1, got {power}")
    if df > _NORMAL_DF:
        return _multiplier(math.inf, float(cut), float(power))
    step = 10.0 ** (math.floor(math.log10(df)) - 2)
    return _multiplier(math.floor(df / step) * step, float(cut), float(power))


@functools.lru_cache(maxsize=4096)
def _multiplier(df: float, cut: float, power: float) -> float:
    t_cut = critical_value(df, cut=cut)
    if math.isinf(df):

        def rejection(k: float) -> float:
            return scipy.stats.norm.sf(t_cut - k) + scipy.stats.norm.cdf(-t_cut - k)

    else:

        def rejection(k: float) -> float:
            # The far lower tail is negligible, and scipy returns NaN for it at times.
            lower = float(np.nan_to_num(scipy.stats.nct.cdf(-t_cut, df, k), nan=0.0))
            return float(scipy.stats.nct.sf(t_cut, df, k)) + lower

    hi = t_cut + 4.0
    while rejection(hi) < power:
        hi *= 2.0
    return float(scipy.optimize.brentq(lambda k: rejection(k) - power, 0.0, hi, xtol=1e-6))


def extrapolate_to_infinite_width(
    per_width: Mapping[int, np.ndarray], *, extrapolate: bool = True
) -> WidthExtrapolation:
    r"""Weighted least-squares extrapolation of seed-mean kernels to infinite width.

    Args:
      per_width: width :math:`n_w` to per-seed kernels of shape ``(S_w, *shape)``.
      extrapolate: fit :math:`m_w = K_\infty + A/n_w` with design weights
        :math:`S_w n_w`. If False, or with one usable width, the estimate is
        the largest width's seed mean.

    Returns:
      A :class:`WidthExtrapolation` (module docstring, steps 1 and 5).

    Raises:
      ValueError: on an empty mapping, non-positive widths, inconsistent
        shapes or non-finite kernels.
    """
    widths, stacks = _validated_widths(per_width)
    multi_seed = [i for i, stack in enumerate(stacks) if stack.shape[0] >= 2]
    if multi_seed:
        widths = tuple(widths[i] for i in multi_seed)
        stacks = [stacks[i] for i in multi_seed]
    seeds = tuple(int(stack.shape[0]) for stack in stacks)
    means = np.stack([stack.mean(axis=0) for stack in stacks])
    variances = np.array([seed_variance(s, m) for s, m in zip(stacks, means, strict=True)])
    n = np.asarray(widths, dtype=np.float64)
    S = np.asarray(seeds, dtype=np.float64)

    use_fit = extrapolate and len(widths) >= 2
    if use_fit:
        weights = S * n / np.sum(S * n)
        design, projector = _weighted_fit(n, weights)
        coefficients = projector[0]
    else:
        coefficients = np.zeros(len(widths))
        coefficients[-1] = 1.0
    kernel = np.tensordot(coefficients, means, axes=1)

    se = df = math.nan
    if np.all(np.isfinite(variances)):
        parts = coefficients**2 * variances / S
        se = math.sqrt(float(parts.sum()))
        df = _satterthwaite(parts, S - 1.0)

    lack_of_fit = None
    if use_fit and len(widths) >= 3 and np.isfinite(se):
        residual_map = np.eye(len(widths)) - design @ projector
        P = residual_map.T @ (weights[:, None] * residual_map)
        residuals = residual_map @ means.reshape(len(widths), -1)
        statistic = float(np.sum(weights * np.sum(residuals**2, axis=1)))
        lack_of_fit = _lack_of_fit(statistic, P, variances, S)

    return WidthExtrapolation(
        widths=widths,
        seeds=seeds,
        means=means,
        variances=variances,
        coefficients=coefficients,
        kernel=kernel,
        se=se,
        df=df,
        lack_of_fit=lack_of_fit,
        extrapolated=use_fit,
    )


def required_seeds(
    fluctuation: float,
    widths: Sequence[int],
    *,
    target_error: float,
    assurance: float = 0.8,
    cut: float = DEFAULT_CUT,
    power: float = DEFAULT_POWER,
    max_seeds: int = 1 << 20,
) -> int | None:
    r"""Seeds per width with which a run reports a detectable error of at most ``target_error``.

    Model: one network's relative variance is :math:`V_w / \lVert K_{\rm ref}
    \rVert^2 = c^2 / n_w`, :math:`c` = ``fluctuation``
    (:attr:`FormulaTest.fluctuation`). With :math:`S` seeds at every width the
    extrapolation coefficients :math:`c_w` depend on the widths only, and

    .. math:: \tau_{\rm rel} = c \sqrt{G / S}, \quad G = \sum_w g_w, \quad
              g_w = c_w^2 / n_w, \qquad
              \nu = (S - 1) \frac{(\sum_w g_w)^2}{\sum_w g_w^2} .

    A run reports :math:`k(\nu)\hat\tau` (module docstring, step 4), and
    :math:`\hat\tau / \tau` is distributed as
    :math:`\sqrt{\chi^2_\nu / \chi^2_{\nu,0.5}}` for rank-one Gaussian noise.
    The answer is the smallest :math:`S \ge 2` with

    .. math:: k(\nu)\, \tau_{\rm rel}\,
              \sqrt{\chi^2_{\nu,a} / \chi^2_{\nu,0.5}} \le E ,

    so that the report is at most :math:`E` = ``target_error`` with probability
    :math:`a` = ``assurance`` (:math:`a = 0.5`: the median report equals
    :math:`E`). For many seeds this is about :math:`(3.84\, c / E)^2 G`: the
    detectable error falls like :math:`1/\sqrt{S}` and, through :math:`G`, like
    :math:`1/\sqrt{n}`. With one width there is no extrapolation
    (:math:`G = 1/n`) and the finite-width bias is not accounted for. Returns
    None when more than ``max_seeds`` would be needed.
    """
    if not (math.isfinite(fluctuation) and fluctuation >= 0.0):
        raise ValueError(f"fluctuation must be finite and non-negative, got {fluctuation}")
    if not target_error > 0.0:
        raise ValueError(f"target_error must be positive, got {target_error}")
    if not 0.5 <= assurance < 1.0:
        raise ValueError(f"assurance must lie in [0.5, 1), got {assurance}")
    n = np.asarray(sorted(int(w) for w in widths), dtype=np.float64)
    if n.size == 0 or np.any(n <= 0) or np.unique(n).size != n.size:
        raise ValueError(f"widths must be distinct positive integers, got {list(widths)}")
    coefficients = _weighted_fit(n, n / n.sum())[1][0] if n.size >= 2 else np.ones(1)
    g = coefficients**2 / n
    rank_ratio = float(g.sum() ** 2 / np.sum(g**2))

    def multiplier(S: int) -> float:
        """k(ν) times the assurance quantile of the reported noise scale; falls as S grows."""
        df = (S - 1) * rank_ratio
        spread = scipy.stats.chi2.ppf(assurance, df) / scipy.stats.chi2.ppf(0.5, df)
        return detectable_multiplier(df, cut=cut, power=power) * math.sqrt(spread)

    def detectable(S: int) -> float:
        return multiplier(S) * fluctuation * math.sqrt(g.sum() / S)

    def seeds_for(k: float) -> int | float:
        count = (k * fluctuation / target_error) ** 2 * g.sum()
        return max(2, math.ceil(count)) if math.isfinite(count) else math.inf

    # The multiplier falls to k(∞) as S grows: the answer lies in [seeds_for(k(∞)), hi].
    lo = seeds_for(detectable_multiplier(math.inf, cut=cut, power=power))
    if lo > max_seeds:
        return None
    if detectable(lo) <= target_error:
        return lo
    hi = seeds_for(multiplier(lo))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if detectable(mid) <= target_error:
            hi = mid
        else:
            lo = mid
    return hi if hi <= max_seeds else None


def formula_test(
    per_width: Mapping[int, np.ndarray],
    reference: np.ndarray,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    cut: float = DEFAULT_CUT,
    power: float = DEFAULT_POWER,
    extrapolate: bool = True,
    bias_allowance: float | None = None,
    lack_of_fit_level: float = LACK_OF_FIT_LEVEL,
) -> FormulaTest:
    r"""Decide whether ``reference`` is the infinite-width kernel of the networks.

    Args:
      per_width: width to per-seed kernels, shape ``(S_w, *reference.shape)``.
      reference: the kernel formula :math:`K_{\rm ref}`.
      tolerance: relative error a *consistent* run must detect with
        probability ``power``.
      cut: normal-equivalent cut; the nominal size is :math:`2\Phi(-\mathrm{cut})`.
      power: power at which the detectable error is quoted.
      extrapolate: use the :math:`1/n` extrapolation; if False, compare the
        largest width with a bias bound (module docstring, step 7).
      bias_allowance: relative bound on the finite-width bias at the largest
        width, used whenever the decision does not extrapolate.
      lack_of_fit_level: level of the lack-of-fit test of the :math:`1/n` law.

    Returns:
      A :class:`FormulaTest`.

    Raises:
      ValueError: on mismatched shapes, non-finite values, a reference of zero
        norm, or invalid options.
    """
    if not (math.isfinite(tolerance) and tolerance > 0.0):
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    if not (math.isfinite(cut) and cut >= math.sqrt(_SZEKELY_BAKIROV_X)):
        raise ValueError(f"cut must be at least 1.24 (Székely–Bakirov range), got {cut}")
    if not 0.0 < lack_of_fit_level < 1.0:
        raise ValueError(f"lack_of_fit_level must lie in (0, 1), got {lack_of_fit_level}")
    if bias_allowance is not None and not (math.isfinite(bias_allowance) and bias_allowance >= 0.0):
        raise ValueError(f"bias_allowance must be finite and non-negative, got {bias_allowance}")
    ref = np.asarray(reference, dtype=np.float64)
    if not np.all(np.isfinite(ref)):
        raise ValueError("reference has non-finite entries")
    ref_norm = float(np.linalg.norm(ref))
    if ref_norm == 0.0:
        raise ValueError("reference has zero Frobenius norm, so relative errors are undefined")
    for width, stack in per_width.items():
        if np.shape(stack)[1:] != ref.shape:
            raise ValueError(
                f"width {width}: per-seed kernels of shape {np.shape(stack)[1:]} do not match "
                f"the reference's {ref.shape}"
            )
    est = extrapolate_to_infinite_width(per_width, extrapolate=extrapolate)
    rule = _Rule(est, ref, ref_norm, tolerance, cut, power)

    if all(s == 1 for s in est.seeds):
        return rule.unknown_noise(
            "one seed per width gives no noise estimate; use --seeds 2 or more"
        )
    if not est.se > 0.0:
        return rule.unknown_noise(
            "the kernels do not vary between seeds (the same seed reused?), so the noise is unknown"
        )
    lof_rejected = est.lack_of_fit is not None and est.lack_of_fit[1] < lack_of_fit_level
    if not est.extrapolated or lof_rejected:
        return rule.bias_bounded(bias_allowance, lof_rejected=lof_rejected)

    c = rule.compare(est.kernel, est.se, est.df, 0.0, noise_tail=rule.alpha, extrapolated=True)
    if c.z > c.cut:
        return rule.result("inconsistent", f"z = {c.z:.3g} exceeds the cut {c.cut:.3g}", c)
    if c.detectable <= tolerance:
        reason = (
            f"z = {c.z:.3g} is below the cut {c.cut:.3g}, "
            f"and errors above {_percent(c.detectable)} would be detected"
        )
        return rule.result("consistent", reason, c)
    return rule.result("inconclusive", rule.advice(c.detectable), c)


@dataclasses.dataclass(frozen=True)
class _Comparison:
    """One comparison of a kernel estimate with the reference; relative quantities."""

    z: float
    cut: float
    error: float
    ci: tuple[float, float]
    detectable: float
    se: float
    df: float
    extrapolated: bool


_UNKNOWN = _Comparison(
    math.nan, math.nan, math.nan, (0.0, math.inf), math.inf, math.nan, math.nan, False
)


@dataclasses.dataclass(frozen=True)
class _Rule:
    est: WidthExtrapolation
    ref: np.ndarray
    ref_norm: float
    tolerance: float
    cut: float
    power: float

    @property
    def alpha(self) -> float:
        return float(2.0 * scipy.stats.norm.sf(self.cut))

    @property
    def fluctuation(self) -> float:
        r""":math:`c` with :math:`\mathrm{se}_{\rm rel} = c\sqrt{\sum_w c_w^2/(S_w n_w)}`."""
        n = np.asarray(self.est.widths, dtype=np.float64)
        S = np.asarray(self.est.seeds, dtype=np.float64)
        g = float(np.sum(self.est.coefficients**2 / (S * n)))
        return self.est.se / self.ref_norm / math.sqrt(g)

    def compare(
        self,
        kernel: np.ndarray,
        se: float,
        df: float,
        bound: float,
        *,
        noise_tail: float,
        extrapolated: bool,
    ) -> _Comparison:
        """Statistic, cut, interval and detectable error (module docstring, steps 2–4 and 7).

        ``bound`` is the allowed bias :math:`B` (absolute); the noise may exceed
        its cut with probability ``noise_tail``, and the interval spends the
        rest of :math:`1 - p` after what the bound's own estimate spends.
        """
        d = float(np.linalg.norm(kernel - self.ref))
        ci_tail = (1.0 - INTERVAL_CONSTRUCTION_LEVEL) - (self.alpha - noise_tail)
        q = critical_value(df, tail=ci_tail)
        tau = se * math.sqrt(df / scipy.stats.chi2.ppf(0.5, df))
        k = detectable_multiplier(
            df, cut=float(scipy.stats.norm.isf(noise_tail / 2.0)), power=self.power
        )
        return _Comparison(
            z=(d - bound) / se,
            cut=critical_value(df, tail=noise_tail),
            error=d / self.ref_norm,
            ci=(max(0.0, d - bound - q * se) / self.ref_norm, (d + bound + q * se) / self.ref_norm),
            detectable=(2.0 * bound + k * tau) / self.ref_norm,
            se=se,
            df=df,
            extrapolated=extrapolated,
        )

    def result(self, outcome: Outcome, reason: str, c: _Comparison) -> FormulaTest:
        return FormulaTest(
            outcome=outcome,
            reason=reason,
            z=float(c.z),
            cut=float(c.cut),
            formula_error=float(c.error),
            formula_error_ci95=(float(c.ci[0]), float(c.ci[1])),
            detectable_error=float(c.detectable),
            tolerance=float(self.tolerance),
            se_relative=float(c.se / self.ref_norm),
            df=float(c.df),
            widths=self.est.widths,
            seeds=self.est.seeds,
            lack_of_fit=self.est.lack_of_fit,
            fluctuation=float(self.fluctuation) if c.se > 0 else math.nan,
            extrapolated=c.extrapolated,
        )

    def unknown_noise(self, reason: str) -> FormulaTest:
        error = float(np.linalg.norm(self.est.kernel - self.ref)) / self.ref_norm
        c = dataclasses.replace(_UNKNOWN, error=error, se=self.est.se, df=self.est.df)
        return self.result("inconclusive", reason, c)

    def advice(self, detectable: float) -> str:
        needed = required_seeds(
            self.fluctuation,
            self.est.widths,
            target_error=self.tolerance,
            cut=self.cut,
            power=self.power,
        )
        text = f"this run can only detect errors above {_percent(detectable)}"
        if needed is None or needed <= max(self.est.seeds):
            return f"{text}; use wider networks"
        return f"{text}; use --seeds {needed} or wider networks"

    def bias_bounded(self, bias_allowance: float | None, *, lof_rejected: bool) -> FormulaTest:
        """The largest width against the reference, allowing a bias (module docstring, step 7)."""
        est = self.est
        S_last = est.seeds[-1]
        se = math.sqrt(est.variances[-1] / S_last)
        df = S_last - 1.0
        noise_tail = self.alpha
        if bias_allowance is not None:
            bound = bias_allowance * self.ref_norm
        elif len(est.widths) >= 2 and est.widths[-1] >= 2 * est.widths[0]:
            # The drift bound fails with probability alpha/2; the noise gets the other alpha/2.
            noise_tail = self.alpha / 2.0
            parts = np.array([est.variances[0] / est.seeds[0], est.variances[-1] / S_last])
            df_drift = _satterthwaite(parts, np.array([est.seeds[0] - 1.0, df]))
            drift = float(np.linalg.norm(est.means[0] - est.means[-1]))
            bound = drift + critical_value(df_drift, tail=noise_tail) * math.sqrt(parts.sum())
        else:
            bound = math.nan
        lof_text = ""
        if lof_rejected:
            lof_text = (
                f"the kernels do not follow the 1/n law over these widths "
                f"(lack-of-fit p = {est.lack_of_fit[1]:.2g}); use wider networks"
            )
        if math.isnan(bound) or se == 0.0:
            if lof_rejected:
                reason = lof_text
            elif se == 0.0:
                reason = "the kernels at the largest width do not vary between seeds"
            else:
                reason = (
                    "one width cannot separate finite-width bias from a formula error; "
                    "run widths spanning a factor of 2 or more"
                )
            error = float(np.linalg.norm(est.means[-1] - self.ref)) / self.ref_norm
            c = dataclasses.replace(_UNKNOWN, error=error, se=se, df=df)
            return self.result("inconclusive", reason, c)

        c = self.compare(est.means[-1], se, df, bound, noise_tail=noise_tail, extrapolated=False)
        bias_text = _percent(bound / self.ref_norm)
        if c.z > c.cut:
            reason = (
                f"the largest width differs from the formula by more than the finite-width bias "
                f"bound ({bias_text}) plus {c.cut:.3g} standard errors"
            )
            return self.result("inconsistent", reason, c)
        if lof_rejected:
            return self.result("inconclusive", lof_text, c)
        if c.detectable <= self.tolerance:
            reason = (
                f"no difference beyond the bias bound ({bias_text}), "
                f"and errors above {_percent(c.detectable)} would be detected"
            )
            return self.result("consistent", reason, c)
        reason = (
            f"this run can only detect errors above {_percent(c.detectable)} "
            f"(bias bound {bias_text}); use more widths or seeds"
        )
        return self.result("inconclusive", reason, c)


def _validated_widths(per_width: Mapping[int, np.ndarray]) -> tuple[tuple[int, ...], list]:
    if len(per_width) == 0:
        raise ValueError("per_width is empty")
    items = []
    shape = None
    for width, stack in per_width.items():
        if isinstance(width, bool) or int(width) != width or int(width) <= 0:
            raise ValueError(f"widths must be positive integers, got {width!r}")
        array = np.asarray(stack, dtype=np.float64)
        if array.ndim < 2 or array.shape[0] < 1:
            raise ValueError(
                f"width {width}: expected per-seed kernels of shape (S, ...), got {array.shape}"
            )
        if shape is None:
            shape = array.shape[1:]
        elif array.shape[1:] != shape:
            raise ValueError(f"width {width}: kernel shape {array.shape[1:]} differs from {shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"width {width}: per-seed kernels have non-finite entries")
        items.append((int(width), array))
    items.sort(key=lambda item: item[0])
    return tuple(w for w, _ in items), [a for _, a in items]


def _weighted_fit(n: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix ``[1, n_1/n_w]`` and the weighted least-squares map ``(2, W)``."""
    design = np.stack([np.ones_like(n), n[0] / n], axis=1)
    gram = design.T @ (weights[:, None] * design)
    return design, np.linalg.solve(gram, design.T * weights[None, :])


def _satterthwaite(parts: np.ndarray, dofs: np.ndarray) -> float:
    """Satterthwaite degrees of freedom of a sum of independent scaled chi-square parts."""
    parts = np.asarray(parts, dtype=np.float64)
    denominator = float(np.sum(parts**2 / dofs))
    if denominator == 0.0:
        return math.nan
    return float(parts.sum() ** 2 / denominator)


def _lack_of_fit(
    statistic: float, P: np.ndarray, variances: np.ndarray, S: np.ndarray
) -> tuple[float, float] | None:
    """``(F, p)`` for the weighted residual sum of squares (module docstring, step 5)."""
    expected_parts = np.diag(P) * variances / S
    expected = float(expected_parts.sum())
    if not expected > 0.0:
        return None
    scale = np.sqrt(variances / S)
    kappa = np.clip(np.linalg.eigvalsh(scale[:, None] * P * scale[None, :]), 0.0, None)
    f1 = float(kappa.sum() ** 2 / np.sum(kappa**2))
    f2 = _satterthwaite(expected_parts, S - 1.0)
    F = statistic / expected
    return F, float(scipy.stats.f.sf(F, f1, f2))


def _percent(x: float) -> str:
    if not math.isfinite(x):
        return "∞%"
    value = 100.0 * x
    return f"{value:.0f}%" if value >= 99.5 else f"{value:.2g}%"


def _plain(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
