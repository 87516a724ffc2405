r"""The sine, :math:`\phi = \sin`: products of Gaussian characteristic functions.

From :math:`\sin u \sin v = \tfrac12(\cos(u-v) - \cos(u+v))` and
:math:`\mathbb E\cos z = e^{-\mathrm{Var}\,z/2}`:

.. math::
   V = \tfrac12\bigl(e^{-x} - e^{-y}\bigr) = -\tfrac12 e^{-x}\,\mathrm{expm1}(-2k)
     = \tfrac12 e^{-y}\,\mathrm{expm1}(2k),
   \qquad \dot V = \mathbb E[\cos u\cos v] = \tfrac12\bigl(e^{-x} + e^{-y}\bigr),

with :math:`x = (a + b - 2k)/2 = ((r_i - r_j)^2 + G^-)/2` and
:math:`y = x + 2k = ((r_i - r_j)^2 + G^+)/2`: both exponents are
:math:`\le 0`, so nothing overflows however large the variances
(``e^{-(a+b)/2} sinh k`` would give ``0·∞``). Bounds: :math:`V \le \tfrac12`,
:math:`\dot V \le 1`.
"""

from __future__ import annotations

import jax.numpy as jnp

from analytic.activations._activation import Activation
from analytic.activations._smooth import smooth_layer_map

__all__ = ["sin"]


def _moments(r1, r2, plus, minus):
    spread = jnp.square(r1 - r2)
    x = 0.5 * (spread + minus)
    y = 0.5 * (spread + plus)
    k = 0.25 * (plus - minus)
    # e^{-x} − e^{-y} = −e^{-x} expm1(−2k) = e^{-y} expm1(2k): the form whose expm1 stays
    # in (−1, 0] for the sign of k, so nothing overflows.
    value = jnp.where(
        k >= 0, -0.5 * jnp.exp(-x) * jnp.expm1(-2.0 * k), 0.5 * jnp.exp(-y) * jnp.expm1(2.0 * k)
    )
    return value, 0.5 * (jnp.exp(-x) + jnp.exp(-y))


def sin() -> Activation:
    """:math:`\\sin(x)`."""
    return Activation(
        name="sin",
        fn=jnp.sin,
        derivative=jnp.cos,
        layer_map=smooth_layer_map(_moments),
        gain=0.0,
        offset=0.5,
        derivative_gain=1.0,
        exact=False,
        source="the Gaussian identity E[cos z] = exp(-Var z / 2)",
    )
