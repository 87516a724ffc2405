"""Reference kernels a convergence run compares finite networks with.

* ``analytic``: our closed-form recursions, :func:`analytic.rmlp_kernels`
  (float64), the primary reference.
* ``neural_tangents``: neural-tangents' analytic ``kernel_fn`` of the same
  architecture (:func:`models.stax_residual_mlp`; Novak et al. 2020), evaluated
  in float64 under ``jax.enable_x64``. It is an independent implementation;
  their mutual agreement is reported as the maximum relative difference
  :func:`max_relative_difference`. The NNGPs agree to rounding; the NTKs less
  well, and the gap grows with depth: neural-tangents takes ``arccos`` of
  correlations, which loses accuracy at angles near 0 (the diagonal); ours is
  the accurate one there (see ``tests/analytic/test_neural_tangents.py``;
  measured figures: docs/measurements.md).
* every candidate (:mod:`harness.converge._candidates`).

Every reference is checked for NaN/Inf here, before any network is built.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np

import analytic
from analytic import Architecture
from harness.runs import UsageError
from models import NeuralTangentsUnavailableError
from models import stax_activation
from models import stax_residual_mlp

__all__ = [
    "NonFiniteReferenceError",
    "analytic_references",
    "neural_tangents_references",
]


class NonFiniteReferenceError(RuntimeError):
    """An analytic reference kernel holds NaN or Inf."""


def _checked(name: str, kernels: dict) -> dict:
    for kind, kernel in kernels.items():
        if not np.all(np.isfinite(kernel)):
            raise NonFiniteReferenceError(f"the {name} {kind.upper()} holds NaN or Inf")
    return kernels


def analytic_references(xs, arch: Architecture) -> dict:
    """``{"nngp": K, "ntk": Θ}`` from :func:`analytic.rmlp_kernels`, float64 NumPy.

    Raises:
      UsageError: the analytic kernels refuse this network (e.g. a smooth activation in a
        regime float64 cannot follow); the run cannot judge anything without them.
    """
    try:
        kernels = analytic.rmlp_kernels(np.asarray(xs, np.float64), **arch.kwargs())
    except ValueError as error:
        raise UsageError(str(error)) from None
    return _checked(
        "analytic",
        {
            "nngp": np.asarray(kernels.nngp, np.float64),
            "ntk": np.asarray(kernels.ntk, np.float64),
        },
    )


def neural_tangents_references(xs, arch: Architecture) -> dict:
    """``{"nngp": K, "ntk": Θ}`` from neural-tangents' analytic ``kernel_fn`` in float64.

    Raises:
      NeuralTangentsUnavailableError: neural-tangents is missing, or has no layer for
        the activation ("not available" for it).
    """
    if stax_activation(arch.activation) is None:
        raise NeuralTangentsUnavailableError(
            f"neural-tangents has no layer for the activation {arch.activation!r}: not available"
        )
    with jax.enable_x64(True), warnings.catch_warnings():
        # FanInSum's reminder that branches must be independent: they are (Dense in each).
        warnings.filterwarnings("ignore", message="`FanIn` layers assume independent inputs")
        _, _, kernel_fn = stax_residual_mlp(
            arch.num_res_blocks,
            arch.W_std,
            arch.b_std,
            activation=arch.activation,
            branch_scale=arch.branch_scale,
        )
        x = jax.numpy.asarray(np.asarray(xs, np.float64))
        kernels = jax.jit(kernel_fn, static_argnames="get")(x, None, get=("nngp", "ntk"))
        result = {
            "nngp": np.asarray(kernels.nngp, np.float64),
            "ntk": np.asarray(kernels.ntk, np.float64),
        }
    return _checked("neural-tangents", result)
