r"""The identity, :math:`\phi(x) = x`: :math:`V = k` and :math:`\dot V = 1`, exactly.

A linear residual network; its kernels are the input Gram matrix passed through
the affine recursion, a check that needs no special function.
"""

from __future__ import annotations

import jax.numpy as jnp

from analytic._pairs import BalancedGaps
from analytic.activations._activation import Activation

__all__ = ["identity"]


def _identity_map(gaps: BalancedGaps):
    return gaps, jnp.ones_like(gaps.plus)


def identity() -> Activation:
    """:math:`x`."""
    return Activation(
        name="identity",
        fn=lambda x: x,
        derivative=jnp.ones_like,
        layer_map=_identity_map,
        gain=1.0,
        offset=0.0,
        derivative_gain=1.0,
        exact=True,
        source="linear network",
    )
