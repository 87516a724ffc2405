"""50-digit mpmath evaluation of the residual-MLP NNGP/NTK recursion (test-only reference).

An independent, deliberately plain implementation of the recursion documented
in :mod:`analytic._rmlp`: covariances are stored as mpmath numbers with
``mp.dps = 50`` and the angle comes straight from ``acos`` of the correlation,
which at 50 digits is accurate far beyond float64 even for near-duplicate or
antipodal inputs. Inputs are taken as the exact binary values of the float64
array.

Recursion (``w = W_std²``, ``β = b_std²``, ``V``/``V̇`` the arc-cosine kernels
of degree 1 and 0, Cho & Saul 2009):

* ``K_0 = w/d · x xᵀ + β``, ``Θ_0 = K_0``;
* per block, ``Σ = w K + β``: ``K ← K + w V(Σ) + β``,
  ``Θ ← Θ + w V̇(Σ)(w Θ + Σ) + w V(Σ) + β``;
* readout: ``NNGP = w V(K)``, ``NTK = w V̇(K) Θ + w V(K)``.
"""

from __future__ import annotations

import mpmath
import numpy as np

DIGITS = 50


def _arccos_kernels(sigma, n):
    """``(V, V̇)`` matrices of a covariance ``sigma`` (list of lists of mpf)."""
    pi = mpmath.pi
    value = [[mpmath.mpf(0)] * n for _ in range(n)]
    derivative = [[mpmath.mpf(0)] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            scale = mpmath.sqrt(sigma[i][i] * sigma[j][j])
            if scale == 0:
                value[i][j] = mpmath.mpf(0)
                derivative[i][j] = mpmath.mpf(1) / 2
                continue
            cosine = sigma[i][j] / scale
            cosine = max(min(cosine, mpmath.mpf(1)), mpmath.mpf(-1))
            theta = mpmath.acos(cosine)
            value[i][j] = scale / (2 * pi) * (mpmath.sin(theta) + (pi - theta) * cosine)
            derivative[i][j] = (pi - theta) / (2 * pi)
    return value, derivative


def mp_rmlp_kernels(xs, num_res_blocks: int, W_std: float, b_std: float):
    """Return ``(nngp, ntk)`` as float64 arrays rounded from 50-digit values."""
    with mpmath.workdps(DIGITS):
        xs = np.asarray(xs, dtype=np.float64)
        n, d = xs.shape
        w = mpmath.mpf(float(W_std)) ** 2
        beta = mpmath.mpf(float(b_std)) ** 2
        rows = [[mpmath.mpf(float(v)) for v in row] for row in xs]
        gram = [[mpmath.fsum(a * b for a, b in zip(u, v, strict=True)) for v in rows] for u in rows]
        k = [[w / d * gram[i][j] + beta for j in range(n)] for i in range(n)]
        theta = [row[:] for row in k]
        for _ in range(num_res_blocks):
            sigma = [[w * k[i][j] + beta for j in range(n)] for i in range(n)]
            value, derivative = _arccos_kernels(sigma, n)
            for i in range(n):
                for j in range(n):
                    branch = w * value[i][j] + beta
                    theta[i][j] += w * derivative[i][j] * (w * theta[i][j] + sigma[i][j]) + branch
                    k[i][j] += branch
        value, derivative = _arccos_kernels(k, n)
        nngp = [[w * value[i][j] for j in range(n)] for i in range(n)]
        ntk = [
            [w * derivative[i][j] * theta[i][j] + nngp[i][j] for j in range(n)] for i in range(n)
        ]
        return (
            np.array([[float(v) for v in row] for row in nngp]),
            np.array([[float(v) for v in row] for row in ntk]),
        )
