"""Matrix products at ``Precision.HIGHEST``, and Gram matrices made exactly symmetric.

All the sampler's matmuls go through these, so none runs at a reduced precision.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_HIGHEST = jax.lax.Precision.HIGHEST


def _mm(a, b):
    """``A B`` at the highest precision."""
    return jnp.matmul(a, b, precision=_HIGHEST)


def _mm_t(a, b):
    """``A Bᵀ`` (contracting the last axes, no transposed copy of a wide ``B``)."""
    return jax.lax.dot_general(a, b, (((1,), (1,)), ((), ())), precision=_HIGHEST)


def _gram(a):
    """``A Aᵀ`` of an ``N × m`` matrix, made exactly symmetric."""
    gram = _mm_t(a, a)
    return 0.5 * (gram + gram.T)


def _row_norms(a):
    return jnp.sqrt(jnp.sum(a * a, axis=1))
