r"""Seed means over widths, extrapolated to infinite width, and the estimated law of their error.

**Data.** For widths :math:`n_1 < \dots < n_W` there are :math:`S_w` per-seed
kernels :math:`\hat K_{w,s}` of independently initialised networks, each
written as the weighted scale-free vector :math:`u_{w,s} \in \mathbb R^m` of
its distinct entries (:class:`~harness.stats._layout.KernelLayout`).

**Model.** Finite-width theory (Yang 2019, 2020, *Tensor Programs*; Hanin &
Nica 2019, *Finite depth and width corrections to the neural tangent kernel*;
Dyer & Gur-Ari 2019, *Asymptotics of wide networks from Feynman diagrams*)
gives, entry by entry,

.. math:: \mathbb E \hat K_w = K_\infty + A / n_w + O(n_w^{-2}), \qquad
          \hat K_{w,s} - \mathbb E \hat K_w = O(n_w^{-1/2}).

**Extrapolation.** With seed means :math:`m_w`, weighted least squares of
:math:`m_w = K_\infty + A/n_w + B/n_w^2` (three or more widths) or of
:math:`m_w = K_\infty + A/n_w` (two widths), with *design* weights
:math:`\omega_w = S_w n_w`, gives

.. math:: \hat K_\infty = \sum_w c_w m_w, \qquad \sum_w c_w = 1, \qquad
          \sum_w c_w / n_w = 0 \;\Big(\text{and } \sum_w c_w / n_w^2 = 0\Big),

and likewise :math:`\hat A = \sum_w a_w m_w`. The :math:`1/n^2` term is fitted
whenever the widths allow it, chosen by the design and never by the data, so
the size of the tests built on :math:`\hat K_\infty` does not depend on a
model selection. It matters where :math:`n` is not large against the depth:
finite-width corrections grow like :math:`L/n` (Hanin & Nica 2019), and at
:math:`L = 10`, :math:`n = 16..128` a pure :math:`1/n` fit leaves a bias of a
few percent, which the :math:`1/n` lack-of-fit test cannot see (the curvature
moves the intercept about twice as much as it moves the residuals) and which
variance-reduced kernels (:mod:`harness.kernels._control`) resolve. Its cost
is variance: the intercept's standard error grows by a factor of about 1.1 for
widths spanning :math:`2^8` and 2.7 for three widths spanning 4
(``tests/stats/test_formula_test.py`` checks both).
The weights are the inverse
variances under the model (:math:`\operatorname{Var} m_w \propto 1/(S_w n_w)`).
Being fixed by the design, they make :math:`c_w` constants, so the error
:math:`e = \hat K_\infty - \mathbb E\hat K_\infty = \sum_w c_w (m_w - \mathbb E m_w)`
is a fixed combination of independent means. Weights from the observed
spread would be a little more efficient but would correlate :math:`c_w` with
skewed noise (a draw with a large kernel scale raises both the mean and the
spread); a wrong variance model costs only efficiency. For widths :math:`n`
and :math:`2n`, :math:`\hat K_\infty = 2 m_2 - m_1`.

**The law of the error.** The covariance of :math:`e` (on the vector :math:`u`) is
:math:`C = \sum_w c_w^2 \Sigma_w / S_w`, estimated without bias by
:math:`\hat C = \sum_w c_w^2 \hat\Sigma_w / S_w` from the per-width sample
covariances. The rule uses

* :math:`\mathrm{se}^2 = \operatorname{tr}\hat C = \sum_w c_w^2 V_w / S_w`,
  with :math:`V_w` the per-seed mean squared deviation (ddof 1), unbiased for
  :math:`\mathbb E\lVert e\rVert^2`;
* its Satterthwaite degrees of freedom (Satterthwaite 1946; Welch 1947)
  :math:`\nu = (\sum_w p_w)^2 / \sum_w p_w^2/(S_w - 1)`,
  :math:`p_w = c_w^2 V_w / S_w`: exact in the rank-one case and conservative
  (too small) when the noise is spread;
* the largest eigenvalue :math:`\hat\lambda_1` of :math:`\hat C`, computed as
  the squared largest singular value of the stacked, weighted deviations, and
  the *effective rank* :math:`h = \operatorname{tr}\hat C / \hat\lambda_1
  \in [1, m]`. A sample covariance's top eigenvalue is biased upward
  (:math:`\mathbb E \hat\lambda_1 \ge \lambda_1`, by convexity of
  :math:`\lambda_1`), so :math:`h` errs small: towards the rank-one worst case;
* per entry :math:`j`, :math:`\mathrm{se}_j^2 = \hat C_{jj}` and its own
  Satterthwaite :math:`\nu_j`.

**Other estimands, a known limit, and moments.** The same fixed-combination
argument holds for any row of the fit: :math:`\hat A = \sum_w a_w m_w` (``estimand
= "correction"``) and :math:`\hat B` (``"curvature"``) get their noise law exactly as
:math:`\hat K_\infty` does. When :math:`K_\infty` is known (``limit``, e.g. an
analytic kernel already judged by the formula test), the fit is of
:math:`m_w - K_\infty = A/n_w (+ B/n_w^2)` without intercept, which divides the
variance of :math:`\hat A` by about 7 at widths 8..64; a wrong ``limit`` leaves a
constant in the residuals, which the lack-of-fit test sees. Per-width data may be
per-seed stacks or their sufficient statistics (:class:`~harness.stats.WidthMoments`),
with which the top eigenvalue is that of :math:`\sum_w f_w D\,\mathrm{scatter}_w D`.

**Lack of fit** of the fitted law (:math:`W \ge 4`: one more width than
the quadratic fit's parameters). With the fit's hat
matrix :math:`H` and :math:`P = (I-H)^\top \Omega (I-H)`, the weighted residual
sum :math:`T = \sum_w \omega_w \lVert r_w \rVert^2` has
:math:`\mathbb E T = \sum_w P_{ww} \tau_w^2 / S_w` under the model, estimated
by :math:`\hat E = \sum_w P_{ww} V_w / S_w`; :math:`F = T/\hat E` is referred to
:math:`F(f_1, f_2)` with :math:`f_1 = (\sum\kappa)^2/\sum\kappa^2`
(:math:`\kappa` the eigenvalues of :math:`DPD`,
:math:`D = \operatorname{diag}(\sqrt{V_w/S_w})`) and :math:`f_2` the
Satterthwaite degrees of freedom of :math:`\hat E`. Exact for rank-one noise;
spread noise concentrates :math:`T`, so the p-value is conservative.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import scipy  # scipy.stats loads on first use (SciPy imports submodules lazily)

from harness.stats._layout import KernelLayout
from harness.stats._moments import WidthMoments

__all__ = ["ESTIMANDS", "WidthExtrapolation", "extrapolate_to_infinite_width"]

#: What the fit estimates: the intercept :math:`K_\infty`, the :math:`1/n` coefficient
#: :math:`A` or the :math:`1/n^2` coefficient :math:`B`.
ESTIMANDS = ("limit", "correction", "curvature")

#: Below this fraction of the kernel's own scale a standard error is rounding, not noise.
NOISE_FLOOR = 1e-10
#: From this many widths on the fit includes the :math:`1/n^2` term (module docstring).
QUADRATIC_MIN_WIDTHS = 3


@dataclasses.dataclass(frozen=True, eq=False)
class WidthExtrapolation:
    r"""Seed statistics per width and the infinite-width estimate built from them.

    Attributes:
      widths: widths used, ascending (widths with one seed are left out unless
        every width has one seed).
      seeds: seeds per used width, :math:`S_w`.
      means: seed means :math:`m_w`, shape ``(W, *kernel_shape)``.
      coefficients: :math:`c_w`, with :math:`\hat K_\infty = \sum_w c_w m_w`.
      kernel: :math:`\hat K_\infty` (kernel shape), or :math:`m_W` when not extrapolated.
      correction: :math:`\hat A`, the fitted :math:`1/n` coefficient (kernel
        shape), or None without extrapolation.
      layout: the distinct entries and their scales.
      variances: :math:`V_w` on the layout's vector; NaN with one seed.
      entry_variances: per-entry seed variances, shape ``(W, m)``.
      se: :math:`\sqrt{\operatorname{tr}\hat C}`; NaN when unknown.
      df: Satterthwaite :math:`\nu` of ``se**2``.
      top_eigenvalue: :math:`\hat\lambda_1` of :math:`\hat C`.
      rank: the effective rank :math:`h = \operatorname{tr}\hat C/\hat\lambda_1`.
      entry_se, entry_df: per-entry standard errors and degrees of freedom.
      lack_of_fit: ``(F, p)`` for the fitted law, or None.
      extrapolated: whether :math:`\hat K_\infty` comes from the fit.
    """

    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    means: np.ndarray
    coefficients: np.ndarray
    kernel: np.ndarray
    correction: np.ndarray | None
    layout: KernelLayout
    variances: np.ndarray
    entry_variances: np.ndarray
    se: float
    df: float
    top_eigenvalue: float
    rank: float
    entry_se: np.ndarray
    entry_df: np.ndarray
    lack_of_fit: tuple[float, float] | None
    extrapolated: bool

    @property
    def noise_known(self) -> bool:
        """Whether the seeds vary beyond rounding, so that the noise can be estimated."""
        scale = float(np.linalg.norm(self.layout.vector(self.means[-1])))
        return bool(np.isfinite(self.se) and self.se > NOISE_FLOOR * scale)


def extrapolate_to_infinite_width(
    per_width: Mapping[int, np.ndarray | WidthMoments],
    *,
    extrapolate: bool = True,
    layout: KernelLayout | None = None,
    estimand: str = "limit",
    limit: np.ndarray | None = None,
) -> WidthExtrapolation:
    r"""Weighted least-squares extrapolation of seed means to infinite width, and its noise.

    Args:
      per_width: width :math:`n_w` to per-seed kernels of shape ``(S_w, *shape)``, or to
        their :class:`~harness.stats.WidthMoments`.
      extrapolate: fit :math:`m_w = K_\infty + A/n_w (+ B/n_w^2)`; if False, or with one
        usable width, the estimate is the largest width's seed mean.
      layout: how entries are weighted and scaled; default: every entry,
        unscaled (``se`` is then the plain Frobenius standard error).
      estimand: which coefficient ``kernel`` holds, with its noise law: ``"limit"``
        (:math:`\hat K_\infty`), ``"correction"`` (:math:`\hat A`) or ``"curvature"``
        (:math:`\hat B`, three or more widths).
      limit: a known :math:`K_\infty`; the fit then has no intercept (module docstring).

    Raises:
      ValueError: on an empty mapping, non-positive widths, inconsistent
        shapes or non-finite kernels; an estimand the widths cannot give.
    """
    if estimand not in ESTIMANDS:
        raise ValueError(f"estimand must be one of {ESTIMANDS}, got {estimand!r}")
    if limit is not None and estimand == "limit":
        raise ValueError("a known limit leaves nothing to estimate for estimand 'limit'")
    widths, items = validated_widths(per_width)
    multi_seed = [i for i, item in enumerate(items) if _count(item) >= 2]
    if multi_seed:
        widths = tuple(widths[i] for i in multi_seed)
        items = [items[i] for i in multi_seed]
    if layout is None:
        layout = KernelLayout.plain(_mean(items[0]).shape)
    seeds = tuple(_count(item) for item in items)
    means = np.stack([_mean(item) for item in items])
    n = np.asarray(widths, dtype=np.float64)
    S = np.asarray(seeds, dtype=np.float64)
    offset = 0.0 if limit is None else np.asarray(limit, dtype=np.float64)

    use_fit = extrapolate and len(widths) >= 2
    correction = None
    if use_fit:
        weights = S * n / np.sum(S * n)
        design, projector = _weighted_fit(n, weights, intercept=limit is None)
        rows = _coefficient_rows(projector, n[0], intercept=limit is None)
        if estimand not in rows:
            raise ValueError(f"{len(widths)} widths give no {estimand} coefficient")
        coefficients = rows[estimand]
        correction = np.tensordot(rows["correction"], means - offset, axes=1)
    elif estimand != "limit":
        raise ValueError(f"the {estimand} coefficient needs a fit over two or more widths")
    else:
        coefficients = np.zeros(len(widths))
        coefficients[-1] = 1.0
    kernel = np.tensordot(coefficients, means - offset, axes=1)

    mean_vectors = np.stack([layout.vector(m) for m in means])
    entry_variances = np.stack([_entry_variances(item, layout) for item in items])
    variances = entry_variances.sum(axis=1)
    a = coefficients**2 / S
    se = df = top = rank = math.nan
    entry_se = entry_df = np.full(layout.size, math.nan)
    if np.all(np.isfinite(variances)):
        se = math.sqrt(float(np.sum(a * variances)))
        df = satterthwaite(a * variances, S - 1.0)
        entry_parts = a[:, None] * entry_variances
        entry_se = np.sqrt(entry_parts.sum(axis=0))
        entry_df = _satterthwaite_rows(entry_parts, S - 1.0)
        top = _top_eigenvalue(items, a / (S - 1.0), layout)
        rank = float(se**2 / top) if top > 0 else math.nan

    lack_of_fit = None
    parameters = design.shape[1] if use_fit else 0
    if use_fit and len(widths) > parameters and np.isfinite(se):
        residual_map = np.eye(len(widths)) - design @ projector
        P = residual_map.T @ (weights[:, None] * residual_map)
        offset_vector = 0.0 if limit is None else layout.vector(offset)
        residuals = residual_map @ (mean_vectors - offset_vector)
        statistic = float(np.sum(weights * np.sum(residuals**2, axis=1)))
        lack_of_fit = _lack_of_fit(statistic, P, variances, S)

    return WidthExtrapolation(
        widths=widths,
        seeds=seeds,
        means=means,
        coefficients=coefficients,
        kernel=kernel,
        correction=correction,
        layout=layout,
        variances=variances,
        entry_variances=entry_variances,
        se=se,
        df=df,
        top_eigenvalue=top,
        rank=rank,
        entry_se=entry_se,
        entry_df=entry_df,
        lack_of_fit=lack_of_fit,
        extrapolated=use_fit,
    )


def _count(item) -> int:
    return item.count if isinstance(item, WidthMoments) else int(item.shape[0])


def _mean(item) -> np.ndarray:
    return item.mean if isinstance(item, WidthMoments) else item.mean(axis=0)


def _layout_map(item: WidthMoments, layout: KernelLayout) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the layout's entries among the moments' distinct entries, and their factors."""
    size = item.mean.shape[0]
    if layout.rows.size and len(layout.shape) == 2:
        low, high = np.minimum(layout.rows, layout.cols), np.maximum(layout.rows, layout.cols)
    else:  # the plain layout of a square kernel lists every entry
        low, high = (a.ravel() for a in np.indices((size, size)))
        low, high = np.minimum(low, high), np.maximum(low, high)
    index = low * size - low * (low - 1) // 2 + (high - low)
    return index, layout.weight / layout.scale


def _entry_variances(item, layout: KernelLayout) -> np.ndarray:
    """Per-entry seed variances (ddof 1) on the layout's vector; NaN with one seed."""
    count = _count(item)
    if isinstance(item, WidthMoments):
        if count < 2:
            return np.full(layout.size, math.nan)
        index, factor = _layout_map(item, layout)
        return np.diagonal(item.scatter)[index] * factor**2 / (count - 1)
    vectors = layout.vector(item)
    deviations = vectors - vectors.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(deviations**2, axis=0) / (count - 1)


def validated_widths(
    per_width: Mapping[int, np.ndarray | WidthMoments],
) -> tuple[tuple[int, ...], list]:
    """Widths ascending and their data (float64 stacks or moments); ValueError on bad input."""
    if len(per_width) == 0:
        raise ValueError("per_width is empty")
    items = []
    shape = None
    for width, stack in per_width.items():
        if isinstance(width, bool) or int(width) != width or int(width) <= 0:
            raise ValueError(f"widths must be positive integers, got {width!r}")
        if isinstance(stack, WidthMoments):
            item, item_shape = stack, stack.shape
            if not (np.all(np.isfinite(stack.mean)) and np.all(np.isfinite(stack.scatter))):
                raise ValueError(f"width {width}: moments have non-finite entries")
        else:
            if isinstance(stack, np.ma.MaskedArray):
                raise ValueError(f"width {width}: masked arrays are not accepted")
            item = np.asarray(stack, dtype=np.float64)
            if item.ndim < 2 or item.shape[0] < 1:
                raise ValueError(
                    f"width {width}: expected per-seed kernels of shape (S, ...), got {item.shape}"
                )
            if not np.all(np.isfinite(item)):
                raise ValueError(f"width {width}: per-seed kernels have non-finite entries")
            item_shape = item.shape[1:]
        if shape is None:
            shape = item_shape
        elif item_shape != shape:
            raise ValueError(f"width {width}: kernel shape {item_shape} differs from {shape}")
        items.append((int(width), item))
    items.sort(key=lambda item: item[0])
    return tuple(w for w, _ in items), [a for _, a in items]


def satterthwaite(parts: np.ndarray, dofs: np.ndarray) -> float:
    """Satterthwaite degrees of freedom of a sum of independent scaled chi-square parts."""
    parts = np.asarray(parts, dtype=np.float64)
    denominator = float(np.sum(parts**2 / dofs))
    if denominator == 0.0:
        return math.nan
    return float(parts.sum() ** 2 / denominator)


def _satterthwaite_rows(parts: np.ndarray, dofs: np.ndarray) -> np.ndarray:
    """:func:`satterthwaite` for each column of ``parts`` (``(W, m)``); NaN where all are zero."""
    denominator = np.sum(parts**2 / dofs[:, None], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, parts.sum(axis=0) ** 2 / denominator, np.nan)


def _top_eigenvalue(items: list, factors: np.ndarray, layout: KernelLayout) -> float:
    r"""Largest eigenvalue of :math:`\sum_w f_w D_w^\top D_w` (:math:`D_w` the deviations).

    From stacks, through the smaller Gram matrix of the stacked deviations; from
    moments, of the weighted sum of scatters on the layout's vector.
    """
    if all(isinstance(item, WidthMoments) for item in items):
        total = 0.0
        for f, item in zip(factors, items, strict=True):
            index, factor = _layout_map(item, layout)
            total = total + f * item.scatter[np.ix_(index, index)] * np.outer(factor, factor)
        return float(np.linalg.eigvalsh(total)[-1])
    if any(isinstance(item, WidthMoments) for item in items):
        raise ValueError("per_width mixes per-seed stacks and moments")
    deviations = [layout.vector(s) - layout.vector(s).mean(axis=0) for s in items]
    stacked = np.concatenate(
        [math.sqrt(f) * d for f, d in zip(factors, deviations, strict=True)], axis=0
    )
    rows, cols = stacked.shape
    gram = stacked @ stacked.T if rows <= cols else stacked.T @ stacked
    return float(np.linalg.eigvalsh(gram)[-1])


def fit_order(num_widths: int) -> int:
    """Powers of :math:`1/n` fitted over this many widths: 2 from three widths on, else 1."""
    return 2 if num_widths >= QUADRATIC_MIN_WIDTHS else 1


def _weighted_fit(
    n: np.ndarray, weights: np.ndarray, *, intercept: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Design ``[(n_1/n_w)^k]`` for ``k ≤`` :func:`fit_order` (from 1 without intercept), and
    the weighted least-squares map from the means to the coefficients."""
    powers = range(0 if intercept else 1, fit_order(n.size) + 1)
    design = np.stack([(n[0] / n) ** k for k in powers], axis=1)
    gram = design.T @ (weights[:, None] * design)
    return design, np.linalg.solve(gram, design.T * weights[None, :])


def _coefficient_rows(projector: np.ndarray, n0: float, *, intercept: bool) -> dict:
    """The rows of ``projector`` that give each estimand, in the units of :math:`1/n`."""
    names = ("limit", "correction", "curvature")[0 if intercept else 1 :]
    return {
        name: projector[i] * n0 ** (names.index(name) + (0 if intercept else 1))
        for i, name in enumerate(names[: projector.shape[0]])
    }


def extrapolation_coefficients(widths, seeds) -> np.ndarray:
    """:math:`c_w` of the design-weighted fit for these widths and seeds (one width: ``[1]``)."""
    n = np.asarray(widths, dtype=np.float64)
    S = np.asarray(seeds, dtype=np.float64)
    if n.size < 2:
        return np.ones(n.size)
    return _weighted_fit(n, S * n / np.sum(S * n))[1][0]


def _lack_of_fit(
    statistic: float, P: np.ndarray, variances: np.ndarray, S: np.ndarray
) -> tuple[float, float] | None:
    """``(F, p)`` for the weighted residual sum of squares (module docstring)."""
    expected_parts = np.diag(P) * variances / S
    expected = float(expected_parts.sum())
    if not expected > 0.0:
        return None
    scale = np.sqrt(variances / S)
    kappa = np.clip(np.linalg.eigvalsh(scale[:, None] * P * scale[None, :]), 0.0, None)
    f1 = float(kappa.sum() ** 2 / np.sum(kappa**2))
    f2 = satterthwaite(expected_parts, S - 1.0)
    F = statistic / expected
    return F, float(scipy.stats.f.sf(F, f1, f2))
