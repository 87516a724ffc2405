r"""A layer map on balanced gaps from closed-form moments of a smooth activation.

A smooth activation gives :math:`V` and :math:`\dot V` of a pair from the
roots :math:`r_i = \sqrt a`, :math:`r_j = \sqrt b` and the gaps
:math:`G^\mp = 2(\sqrt{ab} \mp k)` (:mod:`analytic._pairs`), which also give
:math:`ab - k^2 = G^+G^-/4` without cancellation. Its maps have no
singularity at :math:`\theta = 0` or :math:`\pi` (unlike the ReLU's angle),
so the output needs only *absolute* accuracy: the output gaps are formed as
:math:`2(\sqrt{V_{ii}V_{jj}} \mp V_{ij})`, clipped at 0.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from analytic._pairs import BalancedGaps

__all__ = ["PairMoments", "smooth_layer_map"]

#: ``(r_i, r_j, G⁺, G⁻) ↦ (V, V̇)``, broadcasting.
PairMoments = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def _diagonal(moments: PairMoments, roots: jax.Array) -> jax.Array:
    """:math:`V(a, a, a)` at ``a = roots²``."""
    value, _ = moments(roots, roots, 4.0 * roots * roots, jnp.zeros_like(roots))
    return jnp.maximum(value, 0.0)


def smooth_layer_map(moments: PairMoments):
    """The :data:`~analytic.activations._activation.LayerMap` of closed-form ``moments``."""

    def layer_map(gaps: BalancedGaps):
        r1, r2 = gaps.root1[:, None], gaps.root2[None, :]
        value, derivative = moments(r1, r2, gaps.plus, gaps.minus)
        new1 = jnp.sqrt(_diagonal(moments, gaps.root1))
        new2 = jnp.sqrt(_diagonal(moments, gaps.root2))
        scale = new1[:, None] * new2[None, :]
        out = BalancedGaps(
            jnp.maximum(2.0 * (scale + value), 0.0),
            jnp.maximum(2.0 * (scale - value), 0.0),
            new1,
            new2,
        )
        return out, derivative

    return layer_map
