"""The numerical building blocks of the analytic kernels against 50-digit mpmath.

* the [11/11] Padé coefficients of ``atan(√z)/√z`` stored in ``analytic._arccos``
  are recomputed with ``mpmath.pade``;
* the pair angle ``θ = 2·atan2(√G⁻, √G⁺)`` and the ReLU map of balanced gaps
  are compared with their 50-digit values over angles from 1e-12 to π − 1e-12
  and variances over six decades.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

from analytic._arccos import ATAN_PADE_P
from analytic._arccos import ATAN_PADE_Q
from analytic._arccos import relu_gaps
from analytic._pairs import BalancedGaps


def test_pade_coefficients_are_recomputed_exactly():
    with mpmath.workdps(60):
        taylor = [mpmath.mpf((-1) ** k) / (2 * k + 1) for k in range(23)]
        p, q = mpmath.pade(taylor, 11, 11)
        np.testing.assert_allclose(ATAN_PADE_P, [float(c) for c in p], rtol=1e-15)
        np.testing.assert_allclose(ATAN_PADE_Q, [float(c) for c in q], rtol=1e-15)


def _pairs():
    rng = np.random.default_rng(11)
    theta = np.concatenate(
        [
            rng.uniform(0, math.pi, 300),
            10 ** rng.uniform(-12, 0, 100),
            math.pi - 10 ** rng.uniform(-12, 0, 100),
            [0.0, math.pi / 2],
        ]
    )
    var1, var2 = 10 ** rng.uniform(-3, 3, (2, theta.size))
    return theta, var1, var2


@pytest.fixture(scope="module")
def relu_of_pairs():
    theta, var1, var2 = _pairs()
    with mpmath.workdps(50):
        gm = [2 * mpmath.sqrt(mpmath.mpf(a) * b) for a, b in zip(var1, var2, strict=True)]
        plus = np.array([float(g * (1 + mpmath.cos(t))) for g, t in zip(gm, theta, strict=True)])
        minus = np.array([float(g * (1 - mpmath.cos(t))) for g, t in zip(gm, theta, strict=True)])
    with jax.enable_x64(True):
        # Each pair as its own 1x1 covariance block.
        fn = jax.jit(
            jax.vmap(
                lambda p, m, a, b: relu_gaps(
                    BalancedGaps(p[None, None], m[None, None], jnp.sqrt(a)[None], jnp.sqrt(b)[None])
                )
            )
        )
        out, derivative, angle = fn(plus, minus, var1, var2)
        out = BalancedGaps(*(np.asarray(v) for v in out))
        return plus, minus, out, np.asarray(derivative)[:, 0, 0], np.asarray(angle)[:, 0, 0]


def test_angle_and_relu_map_against_50_digits(relu_of_pairs):
    plus, minus, out, derivative, angle = relu_of_pairs
    worst_angle, worst_value, worst_derivative = 0.0, 0.0, 0.0
    with mpmath.workdps(50):
        for i in range(plus.size):
            p, m = mpmath.mpf(plus[i]), mpmath.mpf(minus[i])  # the exact float64 gaps
            scale = (p + m) / 4
            theta = 2 * mpmath.atan2(mpmath.sqrt(m), mpmath.sqrt(p))
            value = (
                scale
                / (2 * mpmath.pi)
                * (mpmath.sin(theta) + (mpmath.pi - theta) * mpmath.cos(theta))
            )
            ours_value = (out.plus[i, 0, 0] - out.minus[i, 0, 0]) / 4
            worst_angle = max(worst_angle, float(abs(angle[i] - theta)))
            worst_value = max(worst_value, float(abs(ours_value - value) / scale))
            worst_derivative = max(
                worst_derivative, float(abs(derivative[i] - (mpmath.pi - theta) / (2 * mpmath.pi)))
            )
            # The new gaps carry relative accuracy: G⁻ = √(ab)·g(θ) with g ≈ θ²/2.
            new_minus = scale * (
                1 - mpmath.cos(theta) - (mpmath.sin(theta) - theta * mpmath.cos(theta)) / mpmath.pi
            )
            if new_minus > 0:
                assert abs(out.minus[i, 0, 0] - new_minus) <= 1e-14 * new_minus
    assert worst_angle <= 4e-15
    assert worst_value <= 1e-15
    assert worst_derivative <= 1e-15
