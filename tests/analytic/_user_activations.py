"""Elementwise functions that tests name as ``tests.analytic._user_activations:NAME``.

Each is written here from ``jax.numpy`` primitives, independently of
:mod:`analytic.activations`, so that a numerical activation built from it can be
compared with the closed form of the same function. The last few are deliberately
unusable: the spelling must be refused with one clear line.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def erf(x):
    """The error function (``jax.scipy.special.erf``), smooth and odd."""
    return jax.scipy.special.erf(x)


def relu(x):
    """``max(x, 0)``: a kink at 0, neither odd nor even."""
    return jnp.maximum(x, 0.0)


def sine(x):
    """``sin x``: odd, and it never stops oscillating."""
    return jnp.sin(x)


def rough(x):
    """``sin(40 x)``: it varies on a length scale (1/40) far below the default scales."""
    return jnp.sin(40.0 * x)


# --------------------------------------------------------------------------- unusable

NOT_CALLABLE = 3.0


def scalar(x):
    """Returns one number for a whole array: the wrong shape."""
    return jnp.sum(x)


def reciprocal(x):
    """``1/x``: not finite at 0."""
    return 1.0 / x


def single(x):
    """Rounds to float32: the wrong dtype for float64 kernels."""
    return x.astype(jnp.float32)


def broken(x):
    """Raises on every call."""
    raise RuntimeError("this activation is broken on purpose")
