r"""The ReLU layer map: the arc-cosine kernel of degree 1 and of degree 0 (Cho & Saul 2009).

For a centred Gaussian pair ``(u, v)`` with covariance ``[[a, k], [k, b]]``,
``k = √(ab) cos θ`` and ``θ ∈ [0, π]``:

.. math::

   V(a, b, k) = E[\mathrm{relu}(u)\,\mathrm{relu}(v)]
              = \frac{\sqrt{ab}}{2π}\,\bigl(\sin θ + (π - θ)\cos θ\bigr),
   \qquad
   \dot V(θ) = E[\mathrm{relu}'(u)\,\mathrm{relu}'(v)] = \frac{π - θ}{2π},

and the diagonal maps to ``a/2``. Cho & Saul (2009), "Kernel methods for deep
learning", arc-cosine kernels of degree 1 and 0.

In the balanced-gap representation of :mod:`analytic._pairs`
(``G∓ = 2(√(ab) ∓ k)``), with ``θ = 2·atan2(√G⁻, √G⁺)`` and

.. math::

   T = \sqrt{ab}\,(\sin θ - θ\cos θ) = \tfrac12\sqrt{G^+G^-} - \tfrac14 θ\,(G^+ - G^-) \;\ge 0,

the ReLU output is ``G⁻ ↦ G⁻/2 − T/π`` and ``G⁺ ↦ G⁺/2 + T/π``
(so ``V = (G⁺ − G⁻)/8 + T/(2π)``). ``G⁻/2 − T/π = √(ab)·g(θ)`` with
``g(θ) = (1 − cos θ) − (sin θ − θ cos θ)/π`` loses at most a factor 2 to
cancellation (``g ≥ (1 − cos θ)/2``). For ``θ < 1/4``, ``sin θ − θ cos θ`` is
summed from its Taylor series ``Σ_{k≥1} (−1)^{k+1} 2k θ^{2k+1} / (2k+1)!``
(seven terms reach float64 precision), so the ``O(θ³)`` difference is never
formed by cancellation.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from analytic._pairs import BalancedGaps

__all__ = ["relu_gaps", "relu_moments"]

#: Below this angle, ``sin θ − θ cos θ`` comes from its Taylor series.
_SERIES_BELOW = 0.25
#: Taylor coefficients of ``(sin θ − θ cos θ) / θ³`` in powers of ``θ²``.
_SERIES = tuple((-1) ** (k + 1) * 2 * k / math.factorial(2 * k + 1) for k in range(1, 8))


def _sin_minus_theta_cos_series(theta):
    """``sin θ − θ cos θ`` from its Taylor series, accurate for ``θ < 1/4``."""
    theta_sq = theta * theta
    series = jnp.zeros_like(theta)
    for coefficient in reversed(_SERIES):
        series = series * theta_sq + coefficient
    return series * theta_sq * theta


def relu_gaps(gaps: BalancedGaps):
    """Apply a ReLU to a Gaussian pair carried as balanced gaps.

    Returns:
      ``(out, derivative, theta)``: the balanced gaps of ``E[relu(u) relu(v)]``,
      the derivative kernel ``V̇ = (π − θ)/2π`` and the angle ``θ``. Pairs with
      a zero-variance input (``G⁺ = G⁻ = 0``) get ``θ = 0``, ``V = 0`` and
      ``V̇ = 1/2``, which keeps every later product finite.
    """
    root_plus = jnp.sqrt(gaps.plus)
    root_minus = jnp.sqrt(gaps.minus)
    theta = 2.0 * jnp.arctan2(root_minus, root_plus)
    # T = √(ab)(sin θ − θ cos θ), with √(ab) sin θ = √(G⁺G⁻)/2 and √(ab) cos θ = (G⁺ − G⁻)/4.
    direct = 0.5 * root_plus * root_minus - 0.25 * theta * (gaps.plus - gaps.minus)
    series = 0.25 * (gaps.plus + gaps.minus) * _sin_minus_theta_cos_series(theta)
    t = jnp.where(theta < _SERIES_BELOW, series, direct) / math.pi
    out = BalancedGaps(
        0.5 * gaps.plus + t,
        jnp.maximum(0.5 * gaps.minus - t, 0.0),
        gaps.root1 * math.sqrt(0.5),
        gaps.root2 * math.sqrt(0.5),
    )
    derivative = 0.5 - theta / (2.0 * math.pi)
    return out, derivative, theta


def relu_moments(var1, cov, var2):
    """``(V, V̇)`` of the arc-cosine kernels for plain covariance entries (elementwise).

    A convenience for callers holding ``a = var1``, ``k = cov``, ``b = var2``
    (broadcastable arrays). The angle comes from ``arccos`` of the clipped
    correlation, so near ``θ = 0`` or ``π`` it is only as accurate as the
    correlation; the kernels of :mod:`analytic` use :func:`relu_gaps` instead.
    """
    var1, cov, var2 = jnp.asarray(var1), jnp.asarray(cov), jnp.asarray(var2)
    scale = jnp.sqrt(var1 * var2)
    cosine = jnp.clip(jnp.where(scale > 0, cov / jnp.where(scale > 0, scale, 1.0), 1.0), -1, 1)
    theta = jnp.arccos(cosine)
    value = scale / (2.0 * math.pi) * (jnp.sin(theta) + (math.pi - theta) * cosine)
    return value, 0.5 - theta / (2.0 * math.pi)
