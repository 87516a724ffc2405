r"""Standard normals by the Box–Muller transform of threefry bits, exact to float64 rounding.

The conditional sampler draws all its randomness here, through :func:`_normal`.
The bits come from threefry's non-partitionable stream, used whatever the
``jax_threefry_partitionable`` flag (so the draws do not depend on it); JAX's
own float64 ``normal`` inverts ``erf``, which is slower on the CPU, and its
float32 normals come from a 23-bit one-sided uniform grid (measured figures:
docs/measurements.md).

Each pair uses 53 bits for the radius ``√(−2 ln U)``, ``U`` uniform on the
``2⁵³`` points ``(j + 1) 2⁻⁵³`` of ``(0, 1]``, and 32 bits for the angle:
3 bits choose one of the 8 symmetries of the square and 29 bits the midpoint
``x = (f + ½) π/2³¹`` of one of ``2²⁹`` equal cells of ``(0, π/4)``, whose
sine and cosine are Taylor polynomials (1 ulp). So the angle is uniform on
the ``2³²`` midpoints of a regular partition of the circle, and
``(cos θ, sin θ)`` has every trigonometric moment of the uniform angle up to
order ``2³² − 1``; with ``U`` on a grid of ``2⁻⁵³`` this is exact to float64
rounding.
"""

from __future__ import annotations

import contextlib
import math

import jax
import jax.numpy as jnp

#: Taylor coefficients of sin x / x and cos x in x², enough for 1 ulp on [0, π/4] in float64.
_SIN = tuple((-1) ** i / math.factorial(2 * i + 1) for i in range(8))
_COS = tuple((-1) ** i / math.factorial(2 * i) for i in range(9))


def _horner(coefficients, y):
    acc = jnp.full_like(y, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        acc = acc * y + c
    return acc


def _sequential_threefry():
    """The non-partitionable threefry stream (faster on the CPU), whatever the global flag."""
    flag = getattr(jax, "threefry_partitionable", None)
    return flag(False) if flag is not None else contextlib.nullcontext()


#: Normal pairs per threefry call, sized so that one call's bits stay in the
#: CPU caches (larger calls are slower per number; measured figures:
#: docs/measurements.md).
_PAIRS_PER_CALL = 2**16


def _box_muller(high, low, angle_bits, dtype):
    """``(2, P)`` normals from three ``uint32[P]`` words per pair (see :func:`_normal`)."""
    u = (high.astype(dtype) * 2.0**21 + ((low >> 11).astype(dtype) + 1.0)) * 2.0**-53
    radius = jnp.sqrt(-2.0 * jnp.log(u))
    x = ((angle_bits >> 3).astype(dtype) + 0.5) * (math.pi / 2.0**31)
    y = x * x
    sin, cos = x * _horner(_SIN, y), _horner(_COS, y)
    swap = (angle_bits & 1) == 1
    first = jnp.where(swap, sin, cos)
    second = jnp.where(swap, cos, sin)
    first = jnp.where((angle_bits & 2) == 2, -first, first)
    second = jnp.where((angle_bits & 4) == 4, -second, second)
    return jnp.stack([radius * first, radius * second])


def _normal_pairs(key, pairs, dtype):
    with _sequential_threefry():
        words = jax.random.bits(key, (3, pairs), jnp.uint32)
    return _box_muller(*words, dtype)


def _normal(key, shape, dtype):
    """iid N(0, 1) of ``shape`` by the Box–Muller transform of threefry bits.

    Each pair uses 53 bits for the radius ``√(−2 ln U)``, ``U = (j + 1) 2⁻⁵³``
    (``j`` uniform on ``[0, 2⁵³)``), and 32 bits for the angle: 3 bits pick
    one of the 8 symmetries of the square (swap, two signs) and 29 bits the
    midpoint ``x = (f + ½) π/2³¹`` in ``(0, π/4)``, whose sine and cosine are
    Taylor polynomials (1 ulp in float64). The pairs are made in calls of
    :data:`_PAIRS_PER_CALL`, call ``i`` with key ``fold_in(key, i)``.
    """
    size = math.prod(shape)
    pairs = -(-size // 2)
    calls = -(-pairs // _PAIRS_PER_CALL)
    if calls == 1:
        out = _normal_pairs(jax.random.fold_in(key, 0), pairs, dtype)
    else:
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(calls, dtype=jnp.uint32))
        out = jax.lax.map(lambda k: _normal_pairs(k, _PAIRS_PER_CALL, dtype), keys)
    return out.reshape(-1)[:size].reshape(shape)
