"""50-digit mpmath evaluation of the residual recursion for every closed-form activation.

A plain implementation (test-only) of the recursion of :mod:`analytic._rmlp` with a
branch scale ``α`` (``s = α²``): ``K_0 = w/d · x xᵀ + β``, ``Θ_0 = K_0``; per block,
``Σ = w K + β``, ``K ← K + s(w V(Σ) + β)``, ``Θ ← Θ + s(w V̇(Σ)(wΘ + Σ) + w V(Σ) + β)``;
readout ``NNGP = w V(K)``, ``NTK = w V̇(K) Θ + NNGP``. Covariances are plain entries
(no balanced gaps): at 50 digits ``acos``/``asin`` of a correlation are accurate far
beyond float64 even for near-duplicate or antipodal inputs, so any difference from the
float64 code is the float64 code's.

The moments are the textbook closed forms, written independently of ``analytic`` in
plain covariance form: the arc-cosine kernels (Cho & Saul 2009) and ABReLU as
``(b − a)² V_relu + ab·k``; erf (Williams 1997) with ``V̇ = 4/(π√((1+2a)(1+2b) − 4k²))``;
sine through ``E cos z = e^{−Var z/2}``; the identity. GELU uses the orthant-moment
form (the formula of ``analytic/activations/_gelu.py``, which
``tests/analytic/test_activations.py`` checks against neural-tangents and a quadrature)
with ``V̇`` by a 50-digit central difference in ``k`` (step 1e-20, error ~1e-40).
"""

from __future__ import annotations

import mpmath
import numpy as np

DIGITS = 50


def _relu(a, b, k):
    scale = mpmath.sqrt(a * b)
    if scale == 0:
        return mpmath.mpf(0), mpmath.mpf(1) / 2
    cosine = max(min(k / scale, mpmath.mpf(1)), mpmath.mpf(-1))
    theta = mpmath.acos(cosine)
    value = scale / (2 * mpmath.pi) * (mpmath.sin(theta) + (mpmath.pi - theta) * cosine)
    return value, (mpmath.pi - theta) / (2 * mpmath.pi)


def _gelu_value(a, b, k):
    S, T, q = 1 + a, 1 + b, a * b - k * k
    delta = 1 + a + b + q
    root = mpmath.sqrt(delta)
    P = mpmath.mpf(1) / 4 + mpmath.atan2(k, root) / (2 * mpmath.pi)
    ss = S * P + k * root / (2 * mpmath.pi * T)
    tt = T * P + k * root / (2 * mpmath.pi * S)
    st = k * P + root / (2 * mpmath.pi)
    quadratic = (a + q) * k * ss + ((a + q) * (b + q) + k * k) * st + k * (b + q) * tt
    return quadratic / delta**2 + k * P / delta


def moments(name: str, a, b, k):
    """``(V, V̇)`` of one pair with variances ``a, b`` and covariance ``k`` (mpf)."""
    base, _, params = name.partition(":")
    if base in ("relu", "leaky_relu", "abrelu"):
        if base == "relu":
            low, high = mpmath.mpf(0), mpmath.mpf(1)
        elif base == "leaky_relu":
            low, high = mpmath.mpf(params), mpmath.mpf(1)
        else:
            low, high = (mpmath.mpf(p) for p in params.split(","))
        value, derivative = _relu(a, b, k)
        c = (high - low) ** 2
        return c * value + low * high * k, c * derivative + low * high
    if base == "erf":
        P = (1 + 2 * a) * (1 + 2 * b)
        return (
            2 / mpmath.pi * mpmath.asin(2 * k / mpmath.sqrt(P)),
            4 / (mpmath.pi * mpmath.sqrt(P - 4 * k * k)),
        )
    if base == "sin":
        return mpmath.exp(-(a + b) / 2) * mpmath.sinh(k), mpmath.exp(-(a + b) / 2) * mpmath.cosh(k)
    if base == "identity":
        return k, mpmath.mpf(1)
    if base == "gelu":
        h = mpmath.mpf(10) ** -15 * (1 + mpmath.sqrt(abs(a * b)))
        return _gelu_value(a, b, k), (_gelu_value(a, b, k + h) - _gelu_value(a, b, k - h)) / (2 * h)
    raise ValueError(name)


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
