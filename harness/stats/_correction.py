r"""The finite-width correction: the fitted :math:`1/n` coefficient of the seed-mean kernel.

The extrapolation (:mod:`harness.stats._extrapolation`) fits, entry by entry,

.. math:: \mathbb E\hat K_n = K_\infty + \frac{A}{n} + \frac{B}{n^2}

(``B = 0`` with two widths) and keeps :math:`K_\infty`. The coefficient
:math:`A` is the leading finite-width correction of the mean kernel, the
quantity that perturbative treatments of wide networks derive (Yaida 2020,
*Non-Gaussian processes and neural networks at finite widths*; Roberts, Yaida &
Hanin 2022, *The Principles of Deep Learning Theory*, ch. 4–5 and 8; Dyer &
Gur-Ari 2019; Hanin & Nica 2019). This module measures it with its uncertainty.

**Estimate.** :math:`\hat A = \sum_w a_w m_w` with the fit's fixed design
coefficients :math:`a_w` (:math:`\sum_w a_w = 0`, :math:`\sum_w a_w/n_w = 1`,
and :math:`\sum_w a_w/n_w^2 = 0` with three or more widths), so that its error is
a fixed combination of independent seed means (the noise law is the one of
:mod:`harness.stats._extrapolation`, ``estimand="correction"``). With a known limit
(``limit=``: an analytic :math:`K_\infty`) the fit is of :math:`m_w - K_\infty`
without intercept (:math:`\sum_w a_w/n_w = 1`, :math:`\sum_w a_w/n_w^2 = 0`), about
seven times less variance at widths 8..64, and a wrong limit shows as lack of fit: per entry
:math:`\mathrm{se}_j^2 = \sum_w a_w^2 V_{wj}/S_w` with Satterthwaite degrees of
freedom :math:`\nu_j`, and the pointwise 95% interval
:math:`\hat A_j \pm t_{\nu_j, 0.975}\mathrm{se}_j`.

**Resolution.** The whole matrix's error :math:`\lVert\hat A - A\rVert_F` has
the law of the formula test's global statistic (:mod:`harness.stats._noise_law`):
with :math:`\mathrm{se}^2 = \sum_j \mathrm{se}_j^2`, effective rank :math:`h`
and :math:`q^2 = F^{-1}_{h,\nu}(0.95)`, it is below :math:`q\,\mathrm{se}` with
probability about 95%. ``relative_halfwidth`` is :math:`q\,\mathrm{se} /
\lVert\hat A\rVert_F`: the relative Frobenius precision at which :math:`A` is
resolved.

**Does** :math:`B` **matter?** With three or more widths :math:`\hat B` is fitted
too; each entry's :math:`z_j = \hat B_j/\mathrm{se}(\hat B_j)` is referred to
Student's t and the largest to the Bonferroni cut at level 5%. ``curvature_matters``
is whether it passes: whether the :math:`1/n` law alone would misdescribe these
widths. With two widths the question cannot be asked (None).

**Judging a correction formula** (:func:`correction_test`) is the formula test's rule
(:mod:`harness.stats._formula_test`) applied to :math:`\hat A` in place of
:math:`\hat K_\infty`: the same two tests at the same size, the same interval and
detectable error, on entries made scale-free by the *kernel's* diagonal (the
correction's own diagonal vanishes for ReLU networks). A rejected lack of fit makes
it inconclusive: higher orders than :math:`1/n^2` (or a wrong known limit) would bias
:math:`\hat A`, and a bias is not a formula error.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import scipy

from harness.stats._extrapolation import extrapolate_to_infinite_width
from harness.stats._extrapolation import validated_widths
from harness.stats._formula_test import DEFAULT_POWER
from harness.stats._formula_test import DEFAULT_SIZE
from harness.stats._formula_test import FormulaTest
from harness.stats._formula_test import formula_test
from harness.stats._moments import WidthMoments
from harness.stats._noise_law import entry_cuts
from harness.stats._noise_law import interval_quantile

__all__ = [
    "DEFAULT_CORRECTION_TOLERANCE",
    "FiniteWidthCorrection",
    "correction_test",
    "finite_width_correction",
]

#: Level of the pointwise intervals and of the Frobenius resolution.
LEVEL = 0.95
#: Family-wise level of the test of the :math:`1/n^2` term.
CURVATURE_LEVEL = 0.05
#: Relative error of a correction formula below which it may be called consistent.
DEFAULT_CORRECTION_TOLERANCE = 0.1


@dataclasses.dataclass(frozen=True, eq=False)
class FiniteWidthCorrection:
    """The fitted :math:`1/n` coefficient :math:`\\hat A` of the seed-mean kernel (kernel shape).

    Attributes:
      widths, seeds: the widths used (those with two or more seeds) and their seeds.
      limit: :math:`\\hat K_\\infty` of the same fit, or the known limit.
      limit_known: whether ``limit`` was given (the fit then has no intercept).
      coefficient: :math:`\\hat A`.
      se: its per-entry standard error; ``ci95_low``, ``ci95_high``: pointwise 95%.
      relative_halfwidth: :math:`q\\,\\mathrm{se}/\\lVert\\hat A\\rVert_F` (module docstring).
      curvature: :math:`\\hat B` (None with two widths); ``curvature_z``: the largest
        :math:`|\\hat B_j|/\\mathrm{se}_j`; ``curvature_cut``: its Bonferroni cut;
        ``curvature_matters``: ``curvature_z > curvature_cut`` (None with two widths).
      lack_of_fit: ``(F, p)`` of the fitted law over the widths, or None.
    """

    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    limit: np.ndarray
    limit_known: bool
    coefficient: np.ndarray
    se: np.ndarray
    ci95_low: np.ndarray
    ci95_high: np.ndarray
    relative_halfwidth: float
    curvature: np.ndarray | None
    curvature_z: float | None
    curvature_cut: float | None
    curvature_matters: bool | None
    lack_of_fit: tuple[float, float] | None = None

    def to_json(self) -> dict:
        """JSON-ready: matrices as nested lists."""

        def matrix(a):
            return None if a is None else np.asarray(a, np.float64).tolist()

        lof = None if self.lack_of_fit is None else [_plain(v) for v in self.lack_of_fit]
        return {
            "widths": list(self.widths),
            "seeds": list(self.seeds),
            "limit": matrix(self.limit),
            "limit_known": self.limit_known,
            "coefficient": matrix(self.coefficient),
            "se": matrix(self.se),
            "ci95": [matrix(self.ci95_low), matrix(self.ci95_high)],
            "relative_halfwidth": _plain(self.relative_halfwidth),
            "curvature": {
                "coefficient": matrix(self.curvature),
                "max_z": _plain(self.curvature_z),
                "cut": _plain(self.curvature_cut),
                "matters": self.curvature_matters,
            },
            "lack_of_fit": lof,
        }


def _plain(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _per_entry(est, shape) -> tuple[np.ndarray, np.ndarray]:
    """Per-entry ``(se, df)`` of a plain-layout estimate, in the kernel's shape."""
    se = est.layout.matrix(est.entry_se).reshape(shape)
    df = est.layout.matrix(est.entry_df).reshape(shape)
    return se, df


def _used(per_width) -> dict:
    widths, items = validated_widths(per_width)
    used = {w: item for w, item in zip(widths, items, strict=True) if _count(item) >= 2}
    if len(used) < 2:
        raise ValueError("the 1/n coefficient needs two or more widths with two or more seeds")
    return used


def _count(item) -> int:
    return item.count if isinstance(item, WidthMoments) else int(item.shape[0])


def finite_width_correction(
    per_width: Mapping[int, np.ndarray | WidthMoments], *, limit: np.ndarray | None = None
) -> FiniteWidthCorrection:
    """Measure :math:`A` in :math:`\\mathbb E\\hat K_n = K_\\infty + A/n (+ B/n^2)`.

    Args:
      per_width: width to per-seed kernels ``(S_w, *shape)``, as for
        :func:`~harness.stats.formula_test`, or to their
        :class:`~harness.stats.WidthMoments`.
      limit: a known :math:`K_\\infty` (kernel shape); the fit then has no intercept.

    Raises:
      ValueError: fewer than two widths with two or more seeds, or bad input.
    """
    used = _used(per_width)
    est = extrapolate_to_infinite_width(used, estimand="correction", limit=limit)
    shape = est.means.shape[1:]
    coefficient = est.kernel
    se, df = _per_entry(est, shape)
    t = scipy.stats.t.ppf(0.5 + LEVEL / 2, np.where(np.isfinite(df), df, 1e7))
    norm = float(np.linalg.norm(coefficient))
    halfwidth = math.nan
    if norm > 0 and math.isfinite(est.df) and math.isfinite(est.rank):
        halfwidth = interval_quantile(est.rank, est.df, LEVEL) * est.se / norm

    curvature = curvature_z = cut = matters = None
    if len(est.widths) >= 3:
        b = extrapolate_to_infinite_width(used, estimand="curvature", limit=limit)
        curvature = b.kernel
        se_b, df_b = _per_entry(b, shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(se_b > 0, np.abs(curvature) / se_b, 0.0)
        distinct = np.triu_indices(z.shape[0]) if z.ndim == 2 else (slice(None),)
        worst = int(np.argmax(z[distinct]))
        curvature_z = float(z[distinct][worst])
        dfs = np.where(np.isfinite(df_b[distinct]), df_b[distinct], 1e7)
        cut = float(entry_cuts(dfs, CURVATURE_LEVEL / dfs.size)[worst])
        matters = curvature_z > cut
    if limit is None:
        fitted_limit = extrapolate_to_infinite_width(used).kernel
    else:
        fitted_limit = np.asarray(limit, dtype=np.float64)
    return FiniteWidthCorrection(
        widths=est.widths,
        seeds=est.seeds,
        limit=fitted_limit,
        limit_known=limit is not None,
        coefficient=coefficient,
        se=se,
        ci95_low=coefficient - t * se,
        ci95_high=coefficient + t * se,
        relative_halfwidth=halfwidth,
        curvature=curvature,
        curvature_z=curvature_z,
        curvature_cut=cut,
        curvature_matters=matters,
        lack_of_fit=est.lack_of_fit,
    )


def correction_test(
    per_width: Mapping[int, np.ndarray | WidthMoments],
    reference: np.ndarray,
    *,
    limit: np.ndarray | None = None,
    tolerance: float = DEFAULT_CORRECTION_TOLERANCE,
    size: float = DEFAULT_SIZE,
    power: float = DEFAULT_POWER,
) -> FormulaTest:
    """Decide whether ``reference`` is the :math:`1/n` coefficient :math:`A` of the networks.

    The formula test's rule on :math:`\\hat A` (module docstring); arguments as
    :func:`finite_width_correction` and :func:`~harness.stats.formula_test`.
    """
    return formula_test(
        _used(per_width),
        reference,
        tolerance=tolerance,
        size=size,
        power=power,
        estimand="correction",
        limit=limit,
    )
