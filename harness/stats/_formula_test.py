r"""Is a kernel formula the infinite-width limit of the networks? A calibrated decision rule.

The data are per-width, per-seed kernels of independently initialised
networks; the question is whether a formula :math:`K_{\rm ref}` equals
:math:`K_\infty`, the limit of their mean. Everything is measured on the
*scale-free* entries :math:`D_{ij} = (\cdot)_{ij}/(s_i s_j)`,
:math:`s_i^2` the networks' mean diagonal
(:mod:`harness.stats._layout`), so that an error at small-norm inputs weighs
as much as one at large-norm inputs.

1. **Estimate.** The seed means are extrapolated to infinite width,
   :math:`m_w = K_\infty + A/n_w + B/n_w^2` (:math:`B = 0` with two widths),
   entry by entry, and the error of the
   estimate :math:`\hat K_\infty` gets an estimated covariance :math:`\hat C`
   (:mod:`harness.stats._extrapolation`).

2. **Two tests, one size.** With :math:`d = \hat K_\infty - K_{\rm ref}` on the
   weighted scale-free vector of distinct entries:

   * *global*: :math:`z = \lVert d\rVert/\mathrm{se}` against
     :math:`\sqrt{F^{-1}_{h,\nu}(1-\alpha/2)}`, the law of the noise with its
     estimated effective rank :math:`h` (:mod:`harness.stats._noise_law`);
     it sees errors spread over many entries;
   * *entry-wise*: :math:`\max_j |d_j|/\mathrm{se}_j` against the Bonferroni
     cut :math:`t_{\nu_j, 1-\alpha/(4m)}` over the :math:`m` distinct
     entries; it sees an error in one entry, a row, or the diagonal, which the
     global statistic dilutes by :math:`\sqrt m`.

   Each spends :math:`\alpha/2`, so a correct formula is rejected with
   probability at most :math:`\alpha` = ``size`` (default :math:`10^{-4}`) in
   the Gaussian approximation. Skewed per-seed kernels (a random scale common
   to the whole matrix, skewness about 1.6 at small widths) fatten studentized
   tails by :math:`O(\gamma^2/S)` (Hall 1992, *The Bootstrap and Edgeworth
   Expansion*); the size is *measured* under such noise in
   ``tests/stats/test_formula_test.py`` and on real network kernels by
   ``python -m harness.calibrate``.
   An entry whose value is the same in every network (a zero input without
   biases) is compared exactly: any difference beyond float32 rounding rejects.
   That needs enough networks: a ReLU network's entry is also zero when each of
   the :math:`n` units of its last layer is inactive at one of the two inputs,
   which for pre-activations of correlation :math:`\rho \ge 0` has probability
   at most :math:`(3/4)^n` (Sheppard: both active with probability
   :math:`1/4 + \arcsin(\rho)/2\pi`). Over :math:`\sum_w n_w S_w \ge 512`
   unit draws that chance is below :math:`10^{-63}`; with fewer, a mismatch in
   a non-varying entry makes the outcome *inconclusive*, not *inconsistent*.

3. **Formula error and its 95% interval.** The reported error is the
   scale-free relative Frobenius error
   :math:`\varepsilon = \lVert D\rVert_F / \lVert K_{\rm ref}/(s s^\top)\rVert_F`.
   By the triangle inequality :math:`|\lVert d\rVert - \lVert\delta\rVert| \le
   \lVert e\rVert`, so :math:`[\max(0, \lVert d\rVert - q\,\mathrm{se}),
   \lVert d\rVert + q\,\mathrm{se}]` covers :math:`\lVert\delta\rVert` unless
   :math:`\lVert e\rVert > q\,\mathrm{se}`, which has probability
   :math:`1 - p` for :math:`q^2 = F^{-1}_{h,\nu}(p)`. The interval is built
   with :math:`p = 97\%` and reported as 95%: the two extra points absorb the
   skewness loss. Per entry, the pointwise 95% interval
   :math:`d_j \pm t_{\nu_j,0.975}\,\mathrm{se}_j` is reported for the worst
   entries.

4. **Detectable error**: the error caught with probability ``power`` (95%)
   when it lies along the noise's top eigenvector, the worst direction
   (:func:`~harness.stats._noise_law.global_multiplier`), with the noise
   scale made median-unbiased (:math:`\hat\lambda_1 \nu/\chi^2_{\nu,0.5}`).
   For one entry alone, the largest :math:`k_j\mathrm{se}_j` over the
   entries (``entry_detectable_error``).

5. **Outcome.** *inconsistent* when either test rejects. Otherwise
   *consistent* when the interval's upper end is at most ``tolerance``: the
   error is then below the tolerance with 95% confidence, and the headline
   states that bound. Otherwise *inconclusive*, with the seeds per width that
   would make the bound reach the tolerance (``seeds_needed``, a number; the
   command line turns it into advice). One seed per width, or kernels that do
   not vary beyond rounding, leave the noise unknown: *inconclusive*.

6. **Lack of fit.** When the fitted law is rejected over the widths
   (level 1%), or with one usable width or ``extrapolate=False``, the
   extrapolation is not trusted and the largest width's mean :math:`m_W` is
   compared with the formula, allowing a finite-width bias :math:`b_W`:
   ``bias_allowance`` times the reference when given, else the observed drift
   :math:`|m_1 - m_W|` plus its noise (per entry and in norm; a bias decaying
   at least like :math:`1/n` has :math:`|b_W| \le |b_1 - b_W|` once
   :math:`n_W \ge 2 n_1`). The drift's noise and the comparison's noise share
   the size equally. With neither, one width cannot separate bias from error:
   *inconclusive*.

One concept, the decision rule, holds this module's length: the six steps above,
which :class:`_Rule` carries out for the extrapolated and the lack-of-fit
comparison alike (they share every quantity), and :class:`FormulaTest`, what the
rule reports. The statistics it draws on each have their own module (layout,
extrapolation, noise law, planning).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import scipy  # scipy.stats loads on first use (SciPy imports submodules lazily)

from harness.stats._extrapolation import NOISE_FLOOR
from harness.stats._extrapolation import WidthExtrapolation
from harness.stats._extrapolation import extrapolate_to_infinite_width
from harness.stats._extrapolation import satterthwaite
from harness.stats._extrapolation import validated_widths
from harness.stats._layout import KernelLayout
from harness.stats._moments import WidthMoments
from harness.stats._noise_law import entry_cuts
from harness.stats._noise_law import entry_multipliers
from harness.stats._noise_law import global_cut
from harness.stats._noise_law import global_multiplier
from harness.stats._noise_law import interval_quantile

__all__ = [
    "DEFAULT_POWER",
    "DEFAULT_SIZE",
    "DEFAULT_TOLERANCE",
    "EntryDeviation",
    "FormulaTest",
    "formula_test",
]

DEFAULT_SIZE = 1e-4
"""Probability of calling a correct formula inconsistent (both tests together)."""

DEFAULT_POWER = 0.95
"""Power at which :attr:`FormulaTest.detectable_error` is quoted."""

DEFAULT_TOLERANCE = 0.01
"""Relative formula error (1%) below which a formula may be called consistent."""

INTERVAL_CONSTRUCTION_LEVEL = 0.97
"""Level at which the interval reported as 95% is built (module docstring, step 3)."""

LACK_OF_FIT_LEVEL = 0.01
"""Level of the lack-of-fit test of the fitted law over the widths."""

#: A deterministic entry differs when it is off by more than this (float32 rounding).
EXACT_TOLERANCE = 1e-5
#: Unit draws :math:`\sum_w n_w S_w` below which an entry that never varies may be
#: so by chance (module docstring, step 2), and is not compared exactly.
EXACT_MIN_UNIT_DRAWS = 512
#: Entries listed in :attr:`FormulaTest.worst_entries`.
WORST_ENTRIES = 5
#: The detectable error uses the noise scale that the data exceed with this probability.
NOISE_SCALE_QUANTILE = 0.25

Outcome = Literal["consistent", "inconsistent", "inconclusive"]


@dataclasses.dataclass(frozen=True)
class EntryDeviation:
    """One entry's scale-free deviation from the formula: ``(K̂∞ − K_ref)_ij / (s_i s_j)``."""

    row: int
    col: int
    error: float
    ci95: tuple[float, float]
    z: float
    cut: float

    def to_json(self) -> dict:
        return {
            "row": self.row,
            "col": self.col,
            "error": _plain(self.error),
            "ci95": [_plain(v) for v in self.ci95],
            "z": _plain(self.z),
            "cut": _plain(self.cut),
        }


@dataclasses.dataclass(frozen=True)
class FormulaTest:
    r"""Outcome of :func:`formula_test`. Errors are scale-free (module docstring, step 3).

    Attributes:
      outcome: ``"consistent"``, ``"inconsistent"`` or ``"inconclusive"``.
      reason: one sentence; no command-line advice (that is the caller's).
      measure: what ``formula_error`` measures.
      formula_error: point estimate of :math:`\varepsilon`.
      formula_error_ci95: 95% interval of :math:`\varepsilon`.
      detectable_error: the :math:`\varepsilon` caught with probability ``power``
        in the worst direction; infinite when the noise is unknown.
      entry_detectable_error: the smallest single-entry scale-free error caught
        with probability ``power`` in every entry.
      tolerance, size, power: the rule's settings.
      z, cut: the global statistic and its cut.
      entry_z, entry_cut: the largest :math:`|z_j|/\mathrm{cut}_j` entry's
        statistic and cut.
      rank: effective rank :math:`h` of the noise.
      se_relative, df: relative standard error and its degrees of freedom.
      worst_entries: the entries with the largest :math:`|z_j|/\mathrm{cut}_j`.
      z_matrix: standardized deviations :math:`d_j/\mathrm{se}_j` in the
        kernel's shape (NaN where untested), for a heatmap.
      widths, seeds: widths and seeds per width used.
      lack_of_fit: ``(F, p)`` for the fitted law, or None.
      extrapolated: whether the decision used the extrapolation.
      seeds_needed: seeds per width (at the same proportions) with which the
        bound would reach the tolerance, if the error stayed at its estimate;
        None when decided, or when no seed count would do.
    """

    outcome: Outcome
    reason: str
    measure: str
    formula_error: float
    formula_error_ci95: tuple[float, float]
    detectable_error: float
    entry_detectable_error: float
    tolerance: float
    size: float
    power: float
    z: float
    cut: float
    entry_z: float
    entry_cut: float
    rank: float
    se_relative: float
    df: float
    worst_entries: tuple[EntryDeviation, ...]
    z_matrix: np.ndarray | None
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    lack_of_fit: tuple[float, float] | None
    extrapolated: bool
    seeds_needed: int | None

    @property
    def decided(self) -> bool:
        return self.outcome != "inconclusive"

    def to_json(self) -> dict:
        """Plain Python values; non-finite numbers become None."""
        lof = None if self.lack_of_fit is None else [_plain(v) for v in self.lack_of_fit]
        z_matrix = None
        if self.z_matrix is not None:
            z_matrix = [[_plain(v) for v in row] for row in np.atleast_2d(self.z_matrix)]
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "measure": self.measure,
            "formula_error": _plain(self.formula_error),
            "formula_error_ci95": [_plain(v) for v in self.formula_error_ci95],
            "detectable_error": _plain(self.detectable_error),
            "entry_detectable_error": _plain(self.entry_detectable_error),
            "tolerance": _plain(self.tolerance),
            "size": _plain(self.size),
            "power": _plain(self.power),
            "z": _plain(self.z),
            "cut": _plain(self.cut),
            "entry_z": _plain(self.entry_z),
            "entry_cut": _plain(self.entry_cut),
            "rank": _plain(self.rank),
            "se_relative": _plain(self.se_relative),
            "df": _plain(self.df),
            "worst_entries": [e.to_json() for e in self.worst_entries],
            "z_matrix": z_matrix,
            "widths": [int(n) for n in self.widths],
            "seeds": [int(s) for s in self.seeds],
            "lack_of_fit": lof,
            "extrapolated": bool(self.extrapolated),
            "seeds_needed": self.seeds_needed,
        }

    def headline(self, kernel_label: str) -> str:
        """One line, such as ``"NTK: consistent — formula error < 0.4% (95%)"``."""
        lo, hi = self.formula_error_ci95
        if self.outcome == "consistent":
            return f"{kernel_label}: consistent — formula error < {percent(hi)} (95%)"
        if self.outcome == "inconsistent":
            text = (
                f"{kernel_label}: inconsistent — formula off by {percent(self.formula_error)} "
                f"[{percent(lo)}, {percent(hi)}]"
            )
            if self.worst_entries and self.entry_z > self.entry_cut:
                worst = self.worst_entries[0]
                text += (
                    f"; worst entry ({worst.row}, {worst.col}) off by {percent(abs(worst.error))}"
                )
            return text
        return f"{kernel_label}: inconclusive — {self.reason}"

    def __repr__(self) -> str:
        return f"FormulaTest({self.headline('formula')!r})"


def formula_test(
    per_width: Mapping[int, np.ndarray],
    reference: np.ndarray,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    size: float = DEFAULT_SIZE,
    power: float = DEFAULT_POWER,
    extrapolate: bool = True,
    bias_allowance: float | None = None,
    lack_of_fit_level: float = LACK_OF_FIT_LEVEL,
    scale_free: bool = True,
    estimand: str = "limit",
    limit: np.ndarray | None = None,
) -> FormulaTest:
    r"""Decide whether ``reference`` is the infinite-width kernel of the networks.

    With ``estimand="correction"`` the question is instead whether ``reference`` is the
    :math:`1/n` coefficient :math:`A` (:func:`harness.stats.correction_test`, which
    documents it); ``limit`` is then an optional known :math:`K_\infty`.

    Args:
      per_width: width to per-seed kernels, shape ``(S_w, *reference.shape)``.
      reference: the kernel formula :math:`K_{\rm ref}`.
      tolerance: a formula is consistent only when its error is below this
        with 95% confidence.
      size: probability of calling a correct formula inconsistent.
      power: power at which the detectable error is quoted.
      extrapolate: use the extrapolation; if False, compare the
        largest width with a bias bound (module docstring, step 6).
      bias_allowance: relative bound on the finite-width bias at the largest
        width, used whenever the decision does not extrapolate.
      lack_of_fit_level: level of the lack-of-fit test of the fitted law.
      scale_free: measure entries relative to :math:`s_i s_j` (square kernels).
      estimand, limit: see above; ``per_width`` may then hold
        :class:`~harness.stats.WidthMoments`.

    Raises:
      ValueError: on mismatched shapes, non-finite values, masked arrays, a
        reference of zero norm, or invalid options.
    """
    if not (math.isfinite(tolerance) and tolerance > 0.0):
        raise ValueError(f"tolerance must be positive, got {tolerance}")
    if not (math.isfinite(size) and 1e-12 <= size <= 0.5):
        raise ValueError(f"size must lie in [1e-12, 0.5], got {size}")
    if not (math.isfinite(power) and size < power < 1.0):
        raise ValueError(f"power must lie between the size and 1, got {power}")
    if not 0.0 < lack_of_fit_level < 1.0:
        raise ValueError(f"lack_of_fit_level must lie in (0, 1), got {lack_of_fit_level}")
    if bias_allowance is not None and not (math.isfinite(bias_allowance) and bias_allowance >= 0.0):
        raise ValueError(f"bias_allowance must be finite and non-negative, got {bias_allowance}")
    if isinstance(reference, np.ma.MaskedArray):
        raise ValueError("reference is a masked array; masks are not honoured, pass a plain array")
    ref = np.asarray(reference, dtype=np.float64)
    if not np.all(np.isfinite(ref)):
        raise ValueError("reference has non-finite entries")
    if float(np.max(np.abs(ref), initial=0.0)) == 0.0:
        raise ValueError("reference is zero, so relative errors are undefined")
    widths, stacks = validated_widths(per_width)
    for width, stack in zip(widths, stacks, strict=True):
        shape = stack.shape if isinstance(stack, WidthMoments) else stack.shape[1:]
        if shape != ref.shape:
            raise ValueError(
                f"width {width}: per-seed kernels of shape {shape} do not match "
                f"the reference's {ref.shape}"
            )
    data = dict(zip(widths, stacks, strict=True))
    largest = stacks[-1].mean if isinstance(stacks[-1], WidthMoments) else stacks[-1].mean(axis=0)
    layout = KernelLayout.of(ref, largest, scale_free=scale_free)
    if estimand == "correction":
        est = extrapolate_to_infinite_width(data, layout=layout, estimand="correction", limit=limit)
    else:
        if any(isinstance(stack, WidthMoments) for stack in stacks):
            raise ValueError("the limit's test takes per-seed kernels, not moments")
        est = extrapolate_to_infinite_width(data, extrapolate=extrapolate, layout=layout)
    rule = _Rule(est, layout, ref, tolerance, size, power, estimand)
    if not np.isfinite(rule.ref_norm) or rule.ref_norm == 0.0:
        raise ValueError("reference has zero norm on the judged entries")

    if all(s == 1 for s in est.seeds):
        return rule.unknown_noise("one network per width gives no estimate of the noise")
    if not est.noise_known:
        return rule.unknown_noise(_no_variation_reason(est.means))
    lof_rejected = est.lack_of_fit is not None and est.lack_of_fit[1] < lack_of_fit_level
    if estimand == "correction" and lof_rejected:
        return rule.unknown_noise(
            f"the kernels do not follow m_n = K_∞ + A/n + B/n² over these widths (lack-of-fit "
            f"p = {est.lack_of_fit[1]:.2g}), so the fitted A may be biased; use wider networks"
            + ("" if limit is None else " or check the known limit")
        )
    if not est.extrapolated or lof_rejected:
        last = extrapolate_to_infinite_width(data, extrapolate=False, layout=layout)
        return rule.bias_bounded(last, data, bias_allowance, lof_rejected=lof_rejected)
    return rule.decide(rule.compare(est, bound=0.0, entry_bounds=0.0, share=1.0))


def _no_variation_reason(means) -> str:
    largest = float(np.max(np.abs(means)))
    if largest > 1e250:
        return (
            "the kernels are near the float64 overflow limit (largest entry "
            f"{largest:.3g}), so their spread cannot be measured; rescale the inputs or weights"
        )
    return (
        "the kernels do not vary between networks beyond rounding (the same seed reused?), "
        "so the noise is unknown"
    )


@dataclasses.dataclass(frozen=True)
class _Comparison:
    """One comparison of an estimate with the reference (scale-free vector units)."""

    d: float
    z: float
    cut: float
    ci: tuple[float, float]
    detectable: float
    entry_detectable: float
    global_reject: bool
    entry_reject: bool
    exact_reject: bool
    entry_ratio: np.ndarray
    entry_z: np.ndarray
    entry_cut: np.ndarray
    entry_error: np.ndarray
    entry_halfwidth: np.ndarray
    bound: float
    noise_scale: float
    extrapolated: bool
    est: WidthExtrapolation


@dataclasses.dataclass(frozen=True)
class _Rule:
    est: WidthExtrapolation
    layout: KernelLayout
    ref: np.ndarray
    tolerance: float
    size: float
    power: float
    estimand: str = "limit"

    @property
    def ref_vector(self) -> np.ndarray:
        return self.layout.vector(self.ref)

    @property
    def ref_norm(self) -> float:
        return float(np.linalg.norm(self.ref_vector))

    @property
    def measure(self) -> str:
        if self.estimand == "correction":
            return (
                "scale-free relative Frobenius error of the 1/n coefficient: "
                "‖(A − A_ref)_ij / √(K_ii K_jj)‖_F / ‖(A_ref)_ij / √(K_ii K_jj)‖_F"
            )
        if self.layout.scale_free:
            return "scale-free relative Frobenius error: ‖(K_∞ − K_ref)_ij / √(K_ii K_jj)‖_F"
        return "relative Frobenius error ‖K_∞ − K_ref‖_F / ‖K_ref‖_F"

    def compare(
        self,
        est: WidthExtrapolation,
        *,
        bound: float,
        entry_bounds: np.ndarray | float,
        share: float,
    ) -> _Comparison:
        """Both statistics, cuts, interval and detectable errors (module docstring, steps 2–4).

        ``bound``/``entry_bounds`` are allowed biases (vector units); the
        noise gets ``share`` of each test's size (the rest went to the bound).
        """
        diff = self.layout.vector(est.kernel) - self.ref_vector
        d = float(np.linalg.norm(diff))
        rank = float(np.clip(est.rank, 1.0, self.layout.size)) if np.isfinite(est.rank) else 1.0
        half = self.size / 2.0 * share
        cut = global_cut(rank, est.df, half)
        q = interval_quantile(rank, est.df, INTERVAL_CONSTRUCTION_LEVEL)
        # Median-unbiased noise scale along the top eigenvector (step 4).
        median_factor = math.sqrt(est.df / scipy.stats.chi2.ppf(NOISE_SCALE_QUANTILE, est.df))
        k = global_multiplier(rank, est.df, half, self.power)
        detectable = (2.0 * bound + k * math.sqrt(est.top_eigenvalue) * median_factor) / (
            self.ref_norm
        )

        weight = self.layout.weight
        entry_se = est.entry_se
        typical = self.ref_norm / math.sqrt(self.layout.size)
        noisy = entry_se > NOISE_FLOOR * np.maximum(np.abs(self.ref_vector), typical)
        entry_bounds = np.broadcast_to(np.asarray(entry_bounds, dtype=np.float64), diff.shape)
        excess = np.maximum(np.abs(diff) - entry_bounds, 0.0)
        tested = int(noisy.sum())
        entry_z = np.full(diff.shape, np.nan)
        entry_cut = np.full(diff.shape, np.nan)
        halfwidth = np.full(diff.shape, np.nan)
        entry_detectable = 0.0
        if tested:
            df_j = np.where(np.isfinite(est.entry_df[noisy]), est.entry_df[noisy], 1.0)
            entry_z[noisy] = excess[noisy] / entry_se[noisy]
            entry_cut[noisy] = entry_cuts(df_j, half / tested)
            halfwidth[noisy] = entry_cuts(df_j, 0.05) * entry_se[noisy] / weight[noisy]
            k_j = entry_multipliers(df_j, half / tested, self.power)
            detect_j = (2.0 * entry_bounds[noisy] + k_j * entry_se[noisy]) / weight[noisy]
            entry_detectable = float(np.max(detect_j))
        exact = ~noisy & (np.abs(diff) / weight > EXACT_TOLERANCE * typical)
        with np.errstate(invalid="ignore"):
            ratio = np.where(noisy, entry_z / entry_cut, np.where(exact, np.inf, 0.0))
        se = est.se
        return _Comparison(
            d=d,
            z=(d - bound) / se,
            cut=cut,
            ci=(max(0.0, d - bound - q * se) / self.ref_norm, (d + bound + q * se) / self.ref_norm),
            detectable=detectable,
            entry_detectable=entry_detectable,
            global_reject=bool((d - bound) / se > cut),
            entry_reject=bool(np.nanmax(entry_z / entry_cut, initial=0.0) > 1.0)
            if tested
            else False,
            exact_reject=bool(np.any(exact)),
            entry_ratio=ratio,
            entry_z=entry_z,
            entry_cut=entry_cut,
            entry_error=diff / weight,
            entry_halfwidth=halfwidth,
            bound=bound,
            noise_scale=se,
            extrapolated=est.extrapolated,
            est=est,
        )

    def decide(self, c: _Comparison, *, lof_text: str = "") -> FormulaTest:
        draws = sum(n * s for n, s in zip(self.est.widths, self.est.seeds, strict=True))
        if c.exact_reject:
            worst = self._worst(c)[0]
            reason = (
                f"entry ({worst.row}, {worst.col}) is the same in every network and differs "
                f"from the formula by {percent(abs(worst.error))}"
            )
            if draws >= EXACT_MIN_UNIT_DRAWS:
                return self.result("inconsistent", reason, c)
            if not (c.global_reject or c.entry_reject):
                reason += (
                    f", but {draws} unit draws (width × networks, summed) are too few to tell "
                    "a fixed entry from one whose units were all inactive by chance"
                )
                return self.result("inconclusive", reason, c)
        if c.global_reject or c.entry_reject:
            parts = []
            if c.global_reject:
                parts.append(f"z = {c.z:.3g} exceeds the cut {c.cut:.3g} over the whole kernel")
            if c.entry_reject:
                worst = self._worst(c)[0]
                parts.append(
                    f"entry ({worst.row}, {worst.col}) is off by {percent(abs(worst.error))} "
                    f"(z = {worst.z:.3g} > {worst.cut:.3g})"
                )
            return self.result("inconsistent", "; ".join(parts), c)
        if lof_text:
            return self.result("inconclusive", lof_text, c)
        upper = c.ci[1]
        if upper <= self.tolerance:
            reason = (
                f"no significant deviation (z = {c.z:.3g} < {c.cut:.3g}; every entry within "
                f"its cut), and the error is below {percent(upper)} with 95% confidence"
            )
            return self.result("consistent", reason, c)
        reason = (
            f"the 95% bound on the formula error, {percent(upper)}, is above the tolerance "
            f"{percent(self.tolerance)} (this run detects errors above {percent(c.detectable)})"
        )
        return self.result("inconclusive", reason, c, seeds_needed=self._seeds_needed(c))

    def _seeds_needed(self, c: _Comparison) -> int | None:
        r"""Seeds per width (same proportions) at which the bound would reach the tolerance.

        The bound is :math:`\varepsilon + 2b + (q+1)\,\mathrm{se}` at most, with
        :math:`b` the allowed bias and :math:`\mathrm{se}` falling like
        :math:`1/\sqrt S`; the error :math:`\varepsilon` is taken at the interval's
        lower end (the most that the data show). None when that is at the tolerance.
        """
        ref, se = self.ref_norm, c.noise_scale
        if not se > 0:
            return None
        room = self.tolerance - c.ci[0] - 2.0 * c.bound / ref
        if room <= 0.0:
            return None
        noise = (c.ci[1] * ref - c.d - c.bound + se) / ref
        seeds = max(self.est.seeds)
        return max(seeds + 1, math.ceil(seeds * (noise / room) ** 2))

    def _worst(self, c: _Comparison) -> list[EntryDeviation]:
        order = np.argsort(-np.nan_to_num(c.entry_ratio, nan=-1.0), kind="stable")
        out = []
        for j in order[:WORST_ENTRIES]:
            half = c.entry_halfwidth[j]
            err = c.entry_error[j]
            lo, hi = (err - half, err + half) if np.isfinite(half) else (err, err)
            out.append(
                EntryDeviation(
                    row=int(self.layout.rows[j]) if self.layout.rows.size else int(j),
                    col=int(self.layout.cols[j]) if self.layout.cols.size else int(j),
                    error=float(err),
                    ci95=(float(lo), float(hi)),
                    z=float(c.entry_z[j]) if np.isfinite(c.entry_z[j]) else math.inf,
                    cut=float(c.entry_cut[j]),
                )
            )
        return out

    def result(
        self, outcome: Outcome, reason: str, c: _Comparison, *, seeds_needed: int | None = None
    ) -> FormulaTest:
        worst = tuple(self._worst(c))
        finite = np.isfinite(c.entry_ratio)
        top = int(np.argmax(np.where(finite, c.entry_ratio, -1.0))) if finite.any() else 0
        square = len(self.layout.shape) == 2 and self.layout.shape[0] == self.layout.shape[1]
        z_matrix = self.layout.matrix(c.entry_z) if square else None
        return FormulaTest(
            outcome=outcome,
            reason=reason,
            measure=self.measure,
            formula_error=c.d / self.ref_norm,
            formula_error_ci95=(float(c.ci[0]), float(c.ci[1])),
            detectable_error=float(c.detectable),
            entry_detectable_error=float(c.entry_detectable),
            tolerance=float(self.tolerance),
            size=float(self.size),
            power=float(self.power),
            z=float(c.z),
            cut=float(c.cut),
            entry_z=float(c.entry_z[top]) if finite.any() else math.nan,
            entry_cut=float(c.entry_cut[top]) if finite.any() else math.nan,
            rank=float(c.est.rank),
            se_relative=float(c.noise_scale / self.ref_norm),
            df=float(c.est.df),
            worst_entries=worst,
            z_matrix=z_matrix,
            widths=self.est.widths,
            seeds=self.est.seeds,
            lack_of_fit=self.est.lack_of_fit,
            extrapolated=c.extrapolated,
            seeds_needed=seeds_needed,
        )

    def unknown_noise(self, reason: str) -> FormulaTest:
        diff = self.layout.vector(self.est.kernel) - self.ref_vector
        error = float(np.linalg.norm(diff)) / self.ref_norm
        return FormulaTest(
            outcome="inconclusive",
            reason=reason,
            measure=self.measure,
            formula_error=error,
            formula_error_ci95=(0.0, math.inf),
            detectable_error=math.inf,
            entry_detectable_error=math.inf,
            tolerance=float(self.tolerance),
            size=float(self.size),
            power=float(self.power),
            z=math.nan,
            cut=math.nan,
            entry_z=math.nan,
            entry_cut=math.nan,
            rank=math.nan,
            se_relative=math.nan,
            df=math.nan,
            worst_entries=(),
            z_matrix=None,
            widths=self.est.widths,
            seeds=self.est.seeds,
            lack_of_fit=self.est.lack_of_fit,
            extrapolated=False,
            seeds_needed=None,
        )

    def bias_bounded(
        self, last: WidthExtrapolation, data: dict, bias_allowance: float | None, *, lof_rejected
    ) -> FormulaTest:
        """The largest width against the reference, allowing a bias (module docstring, step 6)."""
        est = self.est
        lof_text = ""
        if lof_rejected:
            lof_text = (
                f"the kernels do not follow the fitted law over these widths "
                f"(lack-of-fit p = {est.lack_of_fit[1]:.2g}); wider networks would help"
            )
        if bias_allowance is not None:
            bound = bias_allowance * self.ref_norm
            entry_bounds = bias_allowance * np.abs(self.ref_vector)
            c = self.compare(last, bound=bound, entry_bounds=entry_bounds, share=1.0)
        elif len(last.widths) >= 2 and last.widths[-1] >= 2 * last.widths[0]:
            # The drift bounds fail with probability size/4 each; the comparisons get the rest.
            share = 0.5
            first_w, last_w = last.widths[0], last.widths[-1]
            layout = self.layout
            v0 = layout.vector(np.asarray(data[first_w], dtype=np.float64))
            v1 = layout.vector(np.asarray(data[last_w], dtype=np.float64))
            drift = v0.mean(axis=0) - v1.mean(axis=0)
            var0 = v0.var(axis=0, ddof=1) / len(v0)
            var1 = v1.var(axis=0, ddof=1) / len(v1)
            parts = np.array([var0.sum(), var1.sum()])
            dofs = np.array([len(v0) - 1.0, len(v1) - 1.0])
            df_drift = satterthwaite(parts, dofs)
            half = self.size / 2.0 * (1.0 - share)
            t = float(scipy.stats.t.isf(half / 2.0, df_drift)) if df_drift > 0 else math.inf
            bound = float(np.linalg.norm(drift)) + t * math.sqrt(parts.sum())
            entry_df = _entry_satterthwaite(var0, var1, dofs)
            m = max(1, layout.size)
            t_j = entry_cuts(np.where(np.isfinite(entry_df), entry_df, 1.0), half / m)
            entry_bounds = np.abs(drift) + t_j * np.sqrt(var0 + var1)
            c = self.compare(last, bound=bound, entry_bounds=entry_bounds, share=share)
        else:
            reason = lof_text or (
                "one width cannot separate finite-width bias from a formula error; "
                "widths spanning a factor of 2 or more are needed"
            )
            return self.unknown_noise(reason)
        if not np.isfinite(c.z):
            return self.unknown_noise(lof_text or "the largest width's kernels do not vary")
        return self.decide(c, lof_text=lof_text)


def _entry_satterthwaite(var0: np.ndarray, var1: np.ndarray, dofs: np.ndarray) -> np.ndarray:
    denominator = var0**2 / dofs[0] + var1**2 / dofs[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (var0 + var1) ** 2 / denominator, np.nan)


def percent(x: float) -> str:
    """A relative error as a short percentage (``"0.42%"``, ``"57%"``, ``"∞%"``)."""
    if not math.isfinite(x):
        return "∞%"
    value = 100.0 * x
    return f"{value:.0f}%" if value >= 99.5 else f"{value:.2g}%"


def _plain(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None
