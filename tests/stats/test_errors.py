"""Tests of harness.stats._errors against hand computations, closed forms and theory."""

import numpy as np
import pytest
import scipy.stats

from harness.stats import SlopeFit
from harness.stats import bootstrap_mean_ci
from harness.stats import loglog_slope
from harness.stats import relative_frobenius_error
from harness.stats import seed_mean_z
from harness.stats import summarize_errors


def test_relative_frobenius_error_hand_computed():
    # ‖[[0, .3], [.4, 0]]‖_F = 0.5 and ‖I₂‖_F = √2.
    reference = np.eye(2)
    estimate = reference + np.array([[0.0, 0.3], [0.4, 0.0]])
    assert relative_frobenius_error(estimate, reference) == pytest.approx(
        0.5 / np.sqrt(2), rel=1e-15
    )
    batched = relative_frobenius_error(np.stack([estimate, reference]), reference)
    np.testing.assert_allclose(batched, [0.5 / np.sqrt(2), 0.0], rtol=1e-15)


def test_relative_frobenius_error_rejects_zero_and_nan():
    with pytest.raises(ValueError, match="zero"):
        relative_frobenius_error(np.eye(2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        relative_frobenius_error(np.full((2, 2), np.nan), np.eye(2))


def test_loglog_slope_exact_power_law():
    widths = [64, 128, 256, 512]
    values = [[3.0 * n**-0.5] * 2 for n in widths]
    fit = loglog_slope(widths, values)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    assert fit.intercept == pytest.approx(np.log(3.0), abs=1e-12)
    assert fit.ci95_high - fit.ci95_low == pytest.approx(0.0, abs=1e-9)


def test_loglog_slope_ci_matches_textbook_formula():
    # Independent truth: se(p) = sqrt(SSR / (m - 2) / Sxx), CI = p ± t_{.975, m-2} se.
    rng = np.random.default_rng(0)
    widths = np.array([64, 128, 256, 512, 1024])
    values = [0.8 * n**-0.5 * np.exp(0.2 * rng.standard_normal(6)) for n in widths]
    fit = loglog_slope(widths, values)
    x = np.repeat(np.log(widths), 6)
    y = np.log(np.concatenate(values))
    slope, intercept = np.polyfit(x, y, 1)
    ssr = np.sum((y - (intercept + slope * x)) ** 2)
    se = np.sqrt(ssr / (x.size - 2) / np.sum((x - x.mean()) ** 2))
    half = scipy.stats.t.ppf(0.975, x.size - 2) * se
    assert fit == pytest.approx(SlopeFit(slope, slope - half, slope + half, intercept), rel=1e-10)


def test_loglog_slope_ci_coverage():
    # Theory: a 95% CI covers the true slope in 95% of repetitions. 400 repetitions
    # with a fixed seed: the binomial standard deviation of the coverage is
    # sqrt(.95 * .05 / 400) = 0.011, so [0.92, 0.98] is a ±2.7σ band.
    rng = np.random.default_rng(1)
    widths = [128, 256, 512, 1024]
    covered = 0
    for _ in range(400):
        values = [n**-0.5 * np.exp(0.3 * rng.standard_normal(4)) for n in widths]
        fit = loglog_slope(widths, values)
        covered += fit.ci95_low <= -0.5 <= fit.ci95_high
    assert 0.92 <= covered / 400 <= 0.98


def test_loglog_slope_rejects_bad_input():
    with pytest.raises(ValueError, match="two distinct widths"):
        loglog_slope([64], [[0.1, 0.2]])
    with pytest.raises(ValueError, match="> 0"):
        loglog_slope([64, 128], [[0.1], [0.0]])
    two = loglog_slope([64, 128], [[0.1], [0.05]])
    assert two.slope == pytest.approx(-1.0)
    assert np.isinf(two.ci95_low)


def test_bootstrap_ci_matches_normal_theory():
    # For n = 400 normal draws the CI of the mean is mean ± 1.96 σ/√n; the
    # percentile bootstrap reproduces its half-width to within ~5% (resampling noise).
    rng = np.random.default_rng(2)
    values = rng.normal(1.0, 0.5, size=400)
    low, high = bootstrap_mean_ci(values)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert (high - low) / 2 == pytest.approx(half, rel=0.08)
    assert low < values.mean() < high
    assert bootstrap_mean_ci(values) == (low, high)  # fixed RNG seed: reproducible
    summary = summarize_errors(values)
    assert summary.mean == pytest.approx(values.mean())
    assert summary.n == 400
    assert summary.std == pytest.approx(values.std(ddof=1))


def test_seed_mean_z_matches_its_definition_and_theory():
    # Definition, by hand: two 1×1 "kernels" 1 and 3: mean 2, V = (1 + 1)/1 = 2,
    # standard error √(2/2) = 1, so the reference 5 is 3 standard errors away.
    assert seed_mean_z(np.array([[[1.0]], [[3.0]]]), np.array([[5.0]])) == pytest.approx(3.0)
    assert np.isnan(seed_mean_z(np.ones((1, 2, 2)), np.eye(2)))
    # Theory: for unbiased Gaussian noise on 16 independent entries and S = 8,
    # S‖K̄−K‖²/(16σ²) ~ χ²₁₆/16 and V/(16σ²) ~ χ²₁₁₂/112, so z² ~ F(16, 112): mean
    # 1.02, sd 0.37. The mean of 300 draws has sd 0.02, so ±0.1 is a 5σ band.
    rng = np.random.default_rng(3)
    truth = rng.standard_normal((4, 4))
    z2 = [seed_mean_z(truth + 0.1 * rng.standard_normal((8, 4, 4)), truth) ** 2 for _ in range(300)]
    assert np.mean(z2) == pytest.approx(1.0, abs=0.1)
    # A shifted reference: z ≈ ‖shift‖ / (σ√(16/S)) = 0.2·4 / (0.1·√2) ≈ 5.7.
    shifted = seed_mean_z(truth + 0.1 * rng.standard_normal((8, 4, 4)), truth + 0.2)
    assert 4 < shifted < 8
