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
a fixed combination of independent seed means: per entry
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
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import scipy

from harness.stats._extrapolation import _satterthwaite_rows
from harness.stats._extrapolation import _top_eigenvalue
from harness.stats._extrapolation import _weighted_fit
from harness.stats._extrapolation import satterthwaite
from harness.stats._extrapolation import validated_widths
from harness.stats._layout import KernelLayout
from harness.stats._noise_law import entry_cuts
from harness.stats._noise_law import interval_quantile

__all__ = ["FiniteWidthCorrection", "finite_width_correction"]

#: Level of the pointwise intervals and of the Frobenius resolution.
LEVEL = 0.95
#: Family-wise level of the test of the :math:`1/n^2` term.
CURVATURE_LEVEL = 0.05


@dataclasses.dataclass(frozen=True, eq=False)
class FiniteWidthCorrection:
    """The fitted :math:`1/n` coefficient :math:`\\hat A` of the seed-mean kernel (kernel shape).

    Attributes:
      widths, seeds: the widths used (those with two or more seeds) and their seeds.
      limit: :math:`\\hat K_\\infty` of the same fit.
      coefficient: :math:`\\hat A`.
      se: its per-entry standard error; ``ci95_low``, ``ci95_high``: pointwise 95%.
      relative_halfwidth: :math:`q\\,\\mathrm{se}/\\lVert\\hat A\\rVert_F` (module docstring).
      curvature: :math:`\\hat B` (None with two widths); ``curvature_z``: the largest
        :math:`|\\hat B_j|/\\mathrm{se}_j`; ``curvature_cut``: its Bonferroni cut;
        ``curvature_matters``: ``curvature_z > curvature_cut`` (None with two widths).
    """

    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    limit: np.ndarray
    coefficient: np.ndarray
    se: np.ndarray
    ci95_low: np.ndarray
    ci95_high: np.ndarray
    relative_halfwidth: float
    curvature: np.ndarray | None
    curvature_z: float | None
    curvature_cut: float | None
    curvature_matters: bool | None

    def to_json(self) -> dict:
        """JSON-ready: matrices as nested lists."""

        def matrix(a):
            return None if a is None else np.asarray(a, np.float64).tolist()

        return {
            "widths": list(self.widths),
            "seeds": list(self.seeds),
            "limit": matrix(self.limit),
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
        }


def _plain(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _coefficient(row: np.ndarray, means: np.ndarray, variances: np.ndarray, seeds: np.ndarray):
    """``(Σ c_w m_w, per-entry se, Satterthwaite df)`` for design coefficients ``row``."""
    value = np.tensordot(row, means, axes=1)
    parts = (row**2 / seeds)[:, None] * variances.reshape(len(row), -1)
    se = np.sqrt(parts.sum(axis=0)).reshape(value.shape)
    df = _satterthwaite_rows(parts, seeds - 1.0).reshape(value.shape)
    return value, se, df


def finite_width_correction(per_width: Mapping[int, np.ndarray]) -> FiniteWidthCorrection:
    """Measure :math:`A` in :math:`\\mathbb E\\hat K_n = K_\\infty + A/n (+ B/n^2)`.

    Args:
      per_width: width to per-seed kernels ``(S_w, *shape)``, as for
        :func:`~harness.stats.formula_test`.

    Raises:
      ValueError: fewer than two widths with two or more seeds, or bad input.
    """
    widths, stacks = validated_widths(per_width)
    used = [(w, s) for w, s in zip(widths, stacks, strict=True) if s.shape[0] >= 2]
    if len(used) < 2:
        raise ValueError("the 1/n coefficient needs two or more widths with two or more seeds")
    widths = tuple(w for w, _ in used)
    stacks = [s for _, s in used]
    n = np.asarray(widths, np.float64)
    S = np.asarray([s.shape[0] for s in stacks], np.float64)
    means = np.stack([s.mean(axis=0) for s in stacks])
    variances = np.stack([s.var(axis=0, ddof=1) for s in stacks])
    design, projector = _weighted_fit(n, S * n / np.sum(S * n))
    a = projector[1] * n[0]
    coefficient, se, df = _coefficient(a, means, variances, S)
    t = scipy.stats.t.ppf(0.5 + LEVEL / 2, np.where(np.isfinite(df), df, 1e7))
    low, high = coefficient - t * se, coefficient + t * se

    layout = KernelLayout.plain(stacks[0].shape[1:])
    deviations = [layout.vector(s) - layout.vector(s).mean(axis=0) for s in stacks]
    factors = a**2 / (S * (S - 1.0))
    se_total = float(np.sqrt(np.sum(se**2)))
    top = _top_eigenvalue(deviations, factors)
    rank = se_total**2 / top if top > 0 else 1.0
    parts = a**2 * variances.reshape(len(widths), -1).sum(axis=1) / S
    df_total = satterthwaite(parts, S - 1.0)
    norm = float(np.linalg.norm(coefficient))
    halfwidth = math.nan
    if norm > 0 and math.isfinite(df_total):
        halfwidth = interval_quantile(rank, df_total, LEVEL) * se_total / norm

    curvature = curvature_z = cut = matters = None
    if design.shape[1] == 3:
        b = projector[2] * n[0] ** 2
        curvature, se_b, df_b = _coefficient(b, means, variances, S)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(se_b > 0, np.abs(curvature) / se_b, 0.0)
        distinct = np.triu_indices(z.shape[0]) if z.ndim == 2 else (slice(None),)
        worst = int(np.argmax(z[distinct]))
        curvature_z = float(z[distinct][worst])
        dfs = np.where(np.isfinite(df_b[distinct]), df_b[distinct], 1e7)
        cut = float(entry_cuts(dfs, CURVATURE_LEVEL / dfs.size)[worst])
        matters = curvature_z > cut
    return FiniteWidthCorrection(
        widths=widths,
        seeds=tuple(int(s) for s in S),
        limit=np.tensordot(projector[0], means, axes=1),
        coefficient=coefficient,
        se=se,
        ci95_low=low,
        ci95_high=high,
        relative_halfwidth=halfwidth,
        curvature=curvature,
        curvature_z=curvature_z,
        curvature_cut=cut,
        curvature_matters=matters,
    )
