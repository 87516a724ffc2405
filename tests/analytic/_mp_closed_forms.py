"""50-digit mpmath evaluation of the residual recursion for every closed-form activation.

A plain implementation (test-only) of the recursion of :mod:`analytic._rmlp` with a
branch scale ``α`` (``s = α²``): ``K_0 = w/d · x xᵀ + β``, ``Θ_0 = K_0``; per block,
``Σ = w K + β``, ``K ← K + s(w V(Σ) + β)``, ``Θ ← Θ + s(w V̇(Σ)(wΘ + Σ) + w V(Σ) + β)``;
readout ``NNGP = w V(K)``, ``NTK = w V̇(K) Θ + NNGP``. Covariances are plain entries
(no balanced gaps): at 50 digits ``acos``/``asin`` of a correlation are accurate far
beyond float64 even for near-duplicate or antipodal inputs, so any difference from the
float64 code is the float64 code's.

The moments come from :mod:`tests.analytic._mp_activations`, derived there
independently of ``analytic`` (GELU by integration by parts and Price's theorem, a
different route and a different final form from the orthant moments of
``analytic/activations/_gelu.py``) and checked there against a 2-D quadrature to
better than 1e-18.
"""

from __future__ import annotations

import mpmath
import numpy as np

from tests.analytic._mp_activations import mp_moments

DIGITS = 50


def moments(name: str, a, b, k):
    """``(V, V̇)`` of one pair (mpf) for a spelling such as ``"abrelu:-0.5,1.5"``."""
    base, _, params = name.partition(":")
    numbers = tuple(mpmath.mpf(p) for p in params.split(",")) if params else ()
    if base == "leaky_relu" and not numbers:
        numbers = (mpmath.mpf("0.01"),)
    return mp_moments(base, a, b, k, params=numbers)


def _layer(name, sigma, n):
    pairs = [
        [moments(name, sigma[i][i], sigma[j][j], sigma[i][j]) for j in range(n)] for i in range(n)
    ]
    return [[p[0] for p in row] for row in pairs], [[p[1] for p in row] for row in pairs]


def mp_kernels(xs, num_res_blocks, W_std, b_std, activation="relu", branch_scale=1.0):
    """``(nngp, ntk)`` as float64 arrays rounded from 50-digit values."""
    with mpmath.workdps(DIGITS):
        xs = np.asarray(xs, dtype=np.float64)
        n, d = xs.shape
        w = mpmath.mpf(float(W_std)) ** 2
        beta = mpmath.mpf(float(b_std)) ** 2
        s = mpmath.mpf(float(branch_scale)) ** 2
        rows = [[mpmath.mpf(float(v)) for v in row] for row in xs]
        gram = [[mpmath.fsum(a * b for a, b in zip(u, v, strict=True)) for v in rows] for u in rows]
        k = [[w / d * gram[i][j] + beta for j in range(n)] for i in range(n)]
        theta = [row[:] for row in k]
        for _ in range(num_res_blocks):
            sigma = [[w * k[i][j] + beta for j in range(n)] for i in range(n)]
            value, derivative = _layer(activation, sigma, n)
            for i in range(n):
                for j in range(n):
                    branch = w * value[i][j] + beta
                    theta[i][j] += s * (
                        w * derivative[i][j] * (w * theta[i][j] + sigma[i][j]) + branch
                    )
                    k[i][j] += s * branch
        value, derivative = _layer(activation, k, n)
        nngp = [[w * value[i][j] for j in range(n)] for i in range(n)]
        ntk = [
            [w * derivative[i][j] * theta[i][j] + nngp[i][j] for j in range(n)] for i in range(n)
        ]
        return (
            np.array([[float(v) for v in row] for row in nngp]),
            np.array([[float(v) for v in row] for row in ntk]),
        )
