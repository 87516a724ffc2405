r"""The error function :math:`\phi = \mathrm{erf}` (Williams 1997).

.. math::
   V = \frac{2}{\pi}\arcsin\frac{2k}{\sqrt{(1+2a)(1+2b)}}
     = \frac{2}{\pi}\,\mathrm{atan2}\bigl(2k, \sqrt{D}\bigr), \qquad
   \dot V = \frac{4}{\pi\sqrt{D}},

with :math:`D = (1+2a)(1+2b) - 4k^2 = 1 + 2a + 2b + G^+G^-`, a sum of
non-negative terms (the ``atan2`` form avoids ``arcsin`` near 1). :math:`\dot V`
is :math:`\partial V/\partial k`, and :math:`\phi' = \tfrac{2}{\sqrt\pi}e^{-x^2}`.
Bounds: :math:`V \le 1`, :math:`\dot V \le 4/\pi`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from analytic.activations._activation import Activation
from analytic.activations._smooth import smooth_layer_map

__all__ = ["erf"]


def _moments(r1, r2, plus, minus):
    a, b = r1 * r1, r2 * r2
    root_d = jnp.sqrt(1.0 + 2.0 * a + 2.0 * b + plus * minus)
    k = 0.25 * (plus - minus)
    return (2.0 / math.pi) * jnp.arctan2(2.0 * k, root_d), (4.0 / math.pi) / root_d


def erf() -> Activation:
    """:math:`\\mathrm{erf}(x)`."""
    return Activation(
        name="erf",
        fn=jax.scipy.special.erf,
        derivative=lambda x: (2.0 / math.sqrt(math.pi)) * jnp.exp(-x * x),
        layer_map=smooth_layer_map(_moments),
        gain=0.0,
        offset=1.0,
        derivative_gain=4.0 / math.pi,
        exact=False,
        source="Williams 1997, Computing with infinite networks",
    )
