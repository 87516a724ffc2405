"""The fitted 1/n coefficient: interval coverage on synthetic kernels, the 1/n² check, and the
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
from harness.stats import finite_width_correction

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
