"""The fitted 1/n coefficient: interval coverage on synthetic kernels, the 1/n² check, the
known-limit fit, sufficient statistics, the correction test's size and power, and the
theory's sharp fact on real network kernels.

Truths: synthetic per-seed kernels with a known ``A`` and ``B`` (the interval must cover
``A`` at its nominal rate, within a binomial allowance); and, for ReLU networks, the
diagonal of the mean NNGP is exact at every width (positive homogeneity makes the
diagonal recursion linear in the previous layer's variance, so its mean has no
finite-width correction: ``A_ii = 0``), while the off-diagonal correction is negative
(Roberts, Yaida & Hanin 2022, ch. 5; Yaida 2020).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy

from harness.kernels import conditional_kernels
from harness.stats import WidthMoments
from harness.stats import correction_test
from harness.stats import extrapolate_to_infinite_width
from harness.stats import finite_width_correction
from harness.stats._layout import KernelLayout

K = np.array([[1.0, 0.3], [0.3, 2.0]])
A = np.array([[0.0, -0.5], [-0.5, 0.2]])


def _synthetic(rng, widths, seeds, b=0.0):
    out = {}
    for n in widths:
        noise = rng.normal(size=(seeds, 2, 2))
        out[n] = K + A / n + b / n**2 + (noise + noise.transpose(0, 2, 1)) / (2 * np.sqrt(n))
    return out


def test_intervals_cover_the_true_coefficient():
    rng = np.random.default_rng(2020)
    runs, covered = 400, 0
    rows, cols = np.triu_indices(2)  # the distinct entries, independent by construction
    for _ in range(runs):
        c = finite_width_correction(_synthetic(rng, (16, 32, 64, 128), 100))
        inside = (c.ci95_low <= A) & (c.ci95_high >= A)
        covered += int(np.sum(inside[rows, cols]))
    trials = rows.size * runs
    floor = scipy.stats.binom.ppf(0.001, trials, 0.95)
    assert covered >= floor, covered / trials


def test_a_strong_curvature_is_said_to_matter_and_two_widths_cannot_tell():
    rng = np.random.default_rng(2021)
    strong = finite_width_correction(_synthetic(rng, (8, 16, 32, 64), 2000, b=40.0))
    assert strong.curvature_matters
    weak = finite_width_correction(_synthetic(rng, (8, 16, 32, 64), 2000, b=0.0))
    assert not weak.curvature_matters
    two = finite_width_correction(_synthetic(rng, (32, 64), 200))
    assert two.curvature is None
    assert two.curvature_matters is None
    with pytest.raises(ValueError, match="two or more widths"):
        finite_width_correction({64: np.ones((5, 2, 2)), 128: np.ones((1, 2, 2))})


@pytest.mark.slow
def test_relu_nngp_correction_vanishes_on_the_diagonal_and_is_negative_off_it():
    """4000 conditional networks per width, widths 8..64, 2 blocks: measured when written,
    diagonal |z| <= 1.5 (Bonferroni cut 2.6 over 5 entries at 5%), off-diagonal A all < 0."""
    xs = np.random.default_rng(3).normal(size=(5, 4))
    per_width = {}
    for n in (8, 16, 32, 64):
        k = conditional_kernels(
            xs, 4000, width=n, num_res_blocks=2, W_std=1.2, b_std=0.4, base_seed=n
        )
        per_width[n] = k.nngp - k.nngp_control
    c = finite_width_correction(per_width)
    diagonal_z = np.abs(np.diagonal(c.coefficient) / np.diagonal(c.se))
    assert np.max(diagonal_z) < scipy.stats.norm.isf(0.05 / 10)
    rows, cols = np.triu_indices(5, k=1)
    assert np.all(c.coefficient[rows, cols] < 0)


def test_moments_give_the_same_estimates_as_the_per_seed_kernels():
    """Sufficient statistics (merged in chunks, Chan et al. 1979) against the stacks."""
    rng = np.random.default_rng(7)
    stacks = _synthetic(rng, (8, 16, 32, 64), 300, b=2.0)
    moments = {}
    for n, stack in stacks.items():
        first, second = WidthMoments.of(stack[:120]), WidthMoments.of(stack[120:])
        moments[n] = first.merged(second)
        whole = WidthMoments.of(stack)
        np.testing.assert_allclose(moments[n].mean, whole.mean, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(moments[n].scatter, whole.scatter, rtol=1e-12, atol=1e-12)
    layout = KernelLayout.of(A, K)
    for estimand in ("correction", "curvature"):
        for limit in (None, K):
            options = {"layout": layout, "estimand": estimand, "limit": limit}
            a = extrapolate_to_infinite_width(stacks, **options)
            b = extrapolate_to_infinite_width(moments, **options)
            np.testing.assert_allclose(a.kernel, b.kernel, rtol=1e-9, atol=1e-10)
            for field in ("se", "df", "top_eigenvalue", "rank"):
                assert getattr(a, field) == pytest.approx(getattr(b, field), rel=1e-9)
            assert a.lack_of_fit == pytest.approx(b.lack_of_fit, rel=1e-9)


def test_a_known_limit_removes_the_intercept_and_its_variance():
    """With ``K_∞`` known the fit is of ``m_n − K_∞`` alone; the variance of ``Â`` is then
    ``Σ a_w² V_w / S_w`` with the smaller no-intercept coefficients (exact algebra), and a
    wrong limit leaves a constant that the lack-of-fit test sees."""
    rng = np.random.default_rng(8)
    stacks = _synthetic(rng, (8, 16, 32, 64), 4000)
    free = finite_width_correction(stacks)
    known = finite_width_correction(stacks, limit=K)
    assert known.limit_known
    assert not free.limit_known
    ratio = float(np.mean(free.se**2) / np.mean(known.se**2))
    n = np.array([8.0, 16.0, 32.0, 64.0])
    weights = n / n.sum()
    rows = []
    x = 8 / n
    for design in (np.stack([np.ones(4), x, x**2], 1), np.stack([x, x**2], 1)):
        projector = np.linalg.solve(design.T @ (weights[:, None] * design), design.T * weights)
        rows.append(projector[-2] * 8)
    # per-seed variance ∝ 1/n in _synthetic: the predicted ratio of Σ a_w² / n_w
    predicted = float(np.sum(rows[0] ** 2 / n) / np.sum(rows[1] ** 2 / n))
    assert ratio == pytest.approx(predicted, rel=0.1)
    assert predicted > 3.0
    wrong = correction_test(stacks, A, limit=K + 0.02)
    assert wrong.outcome == "inconclusive"
    assert "lack-of-fit" in wrong.reason


def test_correction_test_size_and_power_on_synthetic_kernels():
    """Correct ``A``: no false inconsistent in 200 runs (size 1e-4: P(any) < 2%); ``3 A``
    (error 2/3 of the formula), above the detectable error in every run whose fitted law
    is not rejected (those, about 1%, are inconclusive by design), is flagged there at
    least at the rule's 95% power less a binomial 0.1% allowance; the 95% interval on the
    error covers the truth at least at its binomial 0.1% floor."""
    rng = np.random.default_rng(9)
    runs, false, caught, covered, ratios = 200, 0, 0, 0, []
    for _ in range(runs):
        stacks = _synthetic(rng, (8, 16, 32, 64), 8000)
        right = correction_test(stacks, A, limit=K)
        false += right.outcome == "inconsistent"
        covered += right.formula_error_ci95[0] == 0.0
        wrong = correction_test(stacks, 3.0 * A, limit=K)
        if wrong.lack_of_fit is None or wrong.lack_of_fit[1] >= 0.01:
            caught += wrong.outcome == "inconsistent"
            ratios.append((2 / 3) / wrong.detectable_error)
    assert false == 0
    assert len(ratios) >= scipy.stats.binom.ppf(0.001, runs, 0.99)
    assert min(ratios) > 1.0  # the wrong formula is beyond the detectable error in every run
    assert caught >= scipy.stats.binom.ppf(0.001, len(ratios), 0.95)
    assert covered >= scipy.stats.binom.ppf(0.001, runs, 0.95)
