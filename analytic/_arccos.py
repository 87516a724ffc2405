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

#: [11/11] Padé approximant ``P(z)/Q(z)`` of ``atan(√z)/√z = Σ_k (−1)^k z^k/(2k+1)``
#: at ``z = 0``, coefficients of ``z^0 .. z^11``: ``mpmath.pade`` of the first 23
#: Taylor coefficients at 60 digits, rounded to float64 (a test recomputes them).
ATAN_PADE_P = (
    1.0, 5.288888888888889, 12.054608096468561, 15.491576587526673, 12.330866536879016,
    6.287270979878278, 2.0522397872369513, 0.41611404152527237, 0.04901897741117589,
    0.002947584301585674, 6.875217944503727e-05, 2.633819305186611e-07,
)  # fmt: skip
ATAN_PADE_Q = (
    1.0, 5.622222222222222, 13.728682170542635, 19.086216676120248, 16.639265820207395,
    9.44390762768528, 3.5077371188545325, 0.8351755044891743, 0.1212351538774608,
    0.00975455261083018, 0.00036127972632704364, 3.941233378113204e-06,
)  # fmt: skip
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


def _angle(root_plus, root_minus, root1, root2):
    """``θ = 2·atan2(√G⁻, √G⁺)``, vectorised (XLA's ``atan2`` is not, on CPU).

    ``t = tan(θ/4) = sin(θ/2) / (1 + cos(θ/2)) = √G⁻ / (√(G⁺ + G⁻) + √G⁺)``
    lies in ``[0, 1]`` (using ``√(G⁺ + G⁻) = 2 (ab)^{1/4}`` from the roots), and
    ``θ = 4 t R(t²)`` where ``R(z) = P(z)/Q(z)`` is the [11/11] Padé approximant
    of ``atan(√z)/√z`` at ``z = 0`` (:data:`ATAN_PADE_P`, :data:`ATAN_PADE_Q`),
    relative error ``< 7e-16`` in float64 on ``[0, 1]``. Pairs with a
    zero-variance input get ``θ = 0``.
    """
    scale = 2.0 * jnp.sqrt(root1)[:, None] * jnp.sqrt(root2)[None, :]
    denominator = scale + root_plus
    t = jnp.where(denominator > 0, root_minus / jnp.where(denominator > 0, denominator, 1.0), 0.0)
    z = t * t
    numerator = jnp.zeros_like(z)
    for coefficient in reversed(ATAN_PADE_P):
        numerator = numerator * z + coefficient
    denominator = jnp.zeros_like(z)
    for coefficient in reversed(ATAN_PADE_Q):
        denominator = denominator * z + coefficient
    return 4.0 * t * numerator / denominator


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
    theta = _angle(root_plus, root_minus, gaps.root1, gaps.root2)
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
