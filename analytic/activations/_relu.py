r"""The ReLU family: ReLU, leaky ReLU and ABReLU, through the arc-cosine kernels.

ABReLU (neural-tangents' ``ABRelu``) is :math:`\phi(x) = a x` for :math:`x < 0`
and :math:`b x` for :math:`x \ge 0`; leaky ReLU with slope :math:`s` is
:math:`(a, b) = (s, 1)` and ReLU is :math:`(0, 1)`. Writing
:math:`\phi(x) = b\,\mathrm{relu}(x) - a\,\mathrm{relu}(-x)` and using
:math:`\mathrm{relu}(-v) = \mathrm{relu}(v) - v` and the symmetry of the
Gaussian pair (Cho & Saul 2009 for the arc-cosine kernels :math:`V_r, \dot V_r`
of :mod:`analytic._arccos`):

.. math::
   V = (b - a)^2 V_r + ab\,k, \qquad \dot V = (b - a)^2 \dot V_r + ab,

so on the diagonal :math:`V(a,a,a) = \tfrac12(a^2 + b^2)\,\Sigma` and
:math:`\dot V = \tfrac12(a^2 + b^2)`. In balanced gaps, with :math:`c = (b-a)^2`
and the ReLU's output gaps :math:`G^\mp_r`, the output gaps are
:math:`G^\mp = c\,G^\mp_r + ab\,G^\mp_{\rm in}` (from :math:`V_r = (G^+_r -
G^-_r)/4` and :math:`\sqrt{V_r(a)V_r(b)} = (G^+_r + G^-_r)/4`): sums of
non-negative terms when :math:`ab \ge 0`, so exact near :math:`\theta = 0, \pi`
as the ReLU's are. For ReLU itself the map is :func:`analytic._arccos.relu_gaps`
unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from analytic._arccos import relu_gaps
from analytic._pairs import BalancedGaps
from analytic.activations._activation import Activation

__all__ = ["abrelu", "leaky_relu", "relu"]

_SOURCE = "Cho & Saul 2009 (arc-cosine kernels); ABReLU as a combination of ReLUs"


def _relu_map(gaps: BalancedGaps):
    out, derivative, _ = relu_gaps(gaps)
    return out, derivative


def _abrelu_map(gaps: BalancedGaps, negative: float, positive: float):
    relu_out, relu_derivative, _ = relu_gaps(gaps)
    c = (positive - negative) ** 2
    ab = negative * positive
    gain = math.sqrt(0.5 * (negative**2 + positive**2))
    out = BalancedGaps(
        c * relu_out.plus + ab * gaps.plus,
        jnp.maximum(c * relu_out.minus + ab * gaps.minus, 0.0),
        gaps.root1 * gain,
        gaps.root2 * gain,
    )
    return out, c * relu_derivative + ab


def relu() -> Activation:
    """:math:`\\max(x, 0)`."""
    return Activation(
        name="relu",
        fn=jax.nn.relu,
        derivative=lambda x: (x > 0).astype(x.dtype),
        layer_map=_relu_map,
        gain=0.5,
        offset=0.0,
        derivative_gain=0.5,
        exact=True,
        source=_SOURCE,
    )


def abrelu(negative: float, positive: float) -> Activation:
    """:math:`\\phi(x) = a x` below 0 and :math:`b x` above (``a, b`` finite)."""
    negative, positive = float(negative), float(positive)
    if not (math.isfinite(negative) and math.isfinite(positive)):
        raise ValueError(f"abrelu slopes must be finite, got {negative}, {positive}")
    if (negative, positive) == (0.0, 1.0):
        return relu()
    gain = 0.5 * (negative**2 + positive**2)
    return Activation(
        name=f"abrelu:{negative!r},{positive!r}",
        fn=lambda x: jnp.where(x < 0, negative * x, positive * x),
        derivative=lambda x: jnp.where(x < 0, negative, positive).astype(x.dtype),
        layer_map=functools.partial(_abrelu_map, negative=negative, positive=positive),
        gain=gain,
        offset=0.0,
        derivative_gain=gain,
        exact=True,
        source=_SOURCE,
    )


def leaky_relu(slope: float = 0.01) -> Activation:
    """:math:`x` for :math:`x \\ge 0`, ``slope``·x below (Flax's default slope is 0.01)."""
    base = abrelu(slope, 1.0)
    if base.name == "relu":
        return base
    return dataclasses.replace(base, name=f"leaky_relu:{float(slope)!r}")
