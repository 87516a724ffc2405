"""50-digit kernels of the residual recursion for an activation given by its spelling.

A thin adapter (test-only): spellings such as ``"abrelu:-0.5,1.5"`` or ``"leaky_relu"``
become the arguments of :func:`tests.analytic._mp_activations.mp_residual_kernels`, the
one 50-digit recursion, whose moments are derived independently of ``analytic`` (GELU
by integration by parts, a different route and final form from the orthant moments of
``analytic/activations/_gelu.py``) and checked against a 2-D quadrature to better than
1e-18. Plain covariances at 50 digits: any difference from the float64 code is the
float64 code's.
"""

from __future__ import annotations

from tests.analytic._mp_activations import DIGITS
from tests.analytic._mp_activations import mp_residual_kernels

__all__ = ["DIGITS", "mp_kernels"]


def mp_kernels(xs, num_res_blocks, W_std, b_std, activation="relu", branch_scale=1.0):
    """``(nngp, ntk)`` as float64 arrays rounded from 50-digit values."""
    base, _, params = activation.partition(":")
    numbers = tuple(float(p) for p in params.split(",")) if params else ()
    if base == "leaky_relu" and not numbers:
        numbers = (0.01,)
    return mp_residual_kernels(
        xs,
        num_res_blocks,
        W_std,
        b_std,
        activation=base,
        params=numbers,
        branch_scale=branch_scale,
    )
