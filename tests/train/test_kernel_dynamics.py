"""The closed-form kernel GD prediction against step-by-step iteration and matrix powers.

Truths: (1) iterating ``f ← f - ηΘ(f(X) - y)`` one step at a time in float64
(:func:`kernel_gd_iteration`, a plain loop with no eigendecomposition); (2) explicit matrix
powers ``(I - ηΘ)^t`` from ``numpy.linalg.matrix_power``; (3) the Taylor series of
``g_t(λ) = (1 - (1-ηλ)^t)/λ`` for tiny ``λ``.
"""

import numpy as np
import pytest

from harness.train._kernel_dynamics import _decay_and_gain
from harness.train._kernel_dynamics import expected_loss_ratio
from harness.train._kernel_dynamics import kernel_gd_iteration
from harness.train._kernel_dynamics import kernel_gd_prediction
from harness.train._kernel_dynamics import stable_learning_rate
from harness.train._kernel_dynamics import steps_to_fit


def _problem(n_train=12, n_test=5, rank=None, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_train + n_test, rank or n_train + n_test))
    K = features @ features.T / features.shape[1] + 0.1
    return (
        K[:n_train, :n_train],
        K[n_train:, :n_train],
        rng.standard_normal(n_train) * 2.0,
        rng.standard_normal(n_test) * 2.0,
        rng.standard_normal(n_train),
    )


STEPS = [0, 1, 2, 3, 10, 57, 300, 1000]


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
@pytest.mark.parametrize("rank", [None, 6])  # full rank, and rank-deficient (singular Θ)
def test_closed_form_equals_iteration(fraction, rank):
    theta, cross, f0, f0x, y = _problem(rank=rank)
    eta = stable_learning_rate(theta, fraction=fraction)
    closed = kernel_gd_prediction(theta, cross, f0, f0x, y, learning_rate=eta, steps=STEPS)
    iterated = kernel_gd_iteration(theta, cross, f0, f0x, y, learning_rate=eta, steps=STEPS)
    # float64: both accumulate rounding of order 1e-16 per step and per entry; 1e-10 leaves
    # a margin of ~1e3 over the 1000-step loop.
    scale_train = np.abs(iterated.train).max()
    scale_test = np.abs(iterated.test).max()
    np.testing.assert_allclose(closed.train, iterated.train, rtol=0, atol=1e-10 * scale_train)
    np.testing.assert_allclose(closed.test, iterated.test, rtol=0, atol=1e-10 * scale_test)
    np.testing.assert_array_equal(closed.train[0], f0)
    np.testing.assert_array_equal(closed.test[0], f0x)


def test_closed_form_equals_matrix_powers():
    theta, cross, f0, f0x, y = _problem()
    eta = stable_learning_rate(theta, fraction=0.7)
    closed = kernel_gd_prediction(theta, cross, f0, f0x, y, learning_rate=eta, steps=[40])
    A = np.eye(len(y)) - eta * theta
    # f_t(x) = f_0(x) - η Θ(x,X) Σ_{s<t} A^s r_0 (sum of the per-step corrections).
    correction = sum(np.linalg.matrix_power(A, s) for s in range(40)) @ (f0 - y)
    np.testing.assert_allclose(closed.train[0], y + np.linalg.matrix_power(A, 40) @ (f0 - y), 1e-12)
    np.testing.assert_allclose(closed.test[0], f0x - eta * cross @ correction, rtol=1e-12)


def test_gain_is_stable_for_tiny_eigenvalues():
    eta, t = 0.3, 500
    lam = np.array([0.0, 1e-300, 1e-14, 1e-9])
    decay, gain = _decay_and_gain(lam, eta, t)
    # Series: (1-x)^t = 1 - t x + t(t-1)/2 x² - ..., so g = η t (1 - (t-1)x/2 + ...), x = ηλ.
    x = eta * lam
    series = eta * t * (1 - (t - 1) * x / 2 + (t - 1) * (t - 2) * x**2 / 6)
    np.testing.assert_allclose(gain, series, rtol=1e-13)
    np.testing.assert_allclose(decay, 1 - t * x, rtol=1e-12)


def test_unstable_learning_rate_diverges_in_both_forms():
    theta, cross, f0, f0x, y = _problem()
    eta = 1.05 * stable_learning_rate(theta, fraction=0.5) * 2  # 1.05 × 2/λ_max
    closed = kernel_gd_prediction(theta, cross, f0, f0x, y, learning_rate=eta, steps=[0, 400])
    iterated = kernel_gd_iteration(theta, cross, f0, f0x, y, learning_rate=eta, steps=[0, 400])
    assert np.linalg.norm(closed.train[-1] - y) > 1e6 * np.linalg.norm(f0 - y)
    np.testing.assert_allclose(closed.train, iterated.train, rtol=1e-9)


def test_expected_loss_ratio_matches_matrix_powers():
    theta, _, _, _, y = _problem()
    rng = np.random.default_rng(3)
    L = rng.standard_normal((len(y), len(y)))
    C = L @ L.T / len(y)
    eta = stable_learning_rate(theta, fraction=0.5)
    ratios = expected_loss_ratio(theta, C, y, learning_rate=eta, steps=[0, 7, 100])
    M = C + np.outer(y, y)  # E[r_0 r_0ᵀ] for f_0 ~ N(0, C)
    for t, ratio in zip([0, 7, 100], ratios, strict=True):
        A = np.linalg.matrix_power(np.eye(len(y)) - eta * theta, t)
        np.testing.assert_allclose(ratio, np.trace(A @ M @ A.T) / (y @ y), rtol=1e-10)
    T = steps_to_fit(theta, C, y, learning_rate=eta, loss_ratio=1e-3, max_steps=10_000)
    before, at = expected_loss_ratio(theta, C, y, learning_rate=eta, steps=[T - 1, T])
    assert before > 1e-3 >= at


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_learning_rate_fraction_must_lie_in_unit_interval(fraction):
    with pytest.raises(ValueError, match="fraction"):
        stable_learning_rate(np.eye(3), fraction=fraction)
