"""neural-tangents' ``empirical_ntk_fn`` on a :class:`models.ResidualMLP`, for comparison.

The flax parameters are converted to the equivalent ``stax`` network's
(:func:`models.flax_to_stax_params`) and passed to
``nt.empirical_ntk_fn(apply_fn, trace_axes=(-1,), vmap_axes=0,
implementation=i)`` (Novak et al. 2020; Novak et al. 2022, "Fast finite width
neural tangent kernel"). ``trace_axes=(-1,)`` makes neural-tangents return the
trace over outputs divided by ``K``: the mean of the diagonal output blocks,
the same (N, N) kernel as this project's methods.

* implementation 1: Jacobian contraction;
* implementation 2: NTK-vector products;
* implementation 3 (structured derivatives) fails inside neural-tangents 0.6.5
  on JAX >= 0.10 (``linearize() got multiple values for argument 'has_aux'``),
  so it is refused with a clear error rather than attempted.

neural-tangents' ``Dense`` has no precision argument, so the matmul precision
is set with ``jax.default_matmul_precision`` while its function is traced.
"""

from __future__ import annotations

import functools

import jax

from harness.kernels._precision import precision_label
from harness.kernels._precision import resolve_precision
from models import flax_to_stax_params
from models import load_neural_tangents
from models import stax_residual_mlp

__all__ = ["NT_WORKING_IMPLEMENTATIONS", "nt_empirical_ntk_fn", "nt_ntk"]

#: ``empirical_ntk_fn`` implementations that work on current JAX.
NT_WORKING_IMPLEMENTATIONS = (1, 2)


def check_nt_implementation(implementation: int) -> int:
    """Return ``implementation`` if it works here; raise ``ValueError`` otherwise."""
    if implementation == 3:
        raise ValueError(
            "neural-tangents empirical_ntk_fn implementation 3 (structured derivatives) fails "
            "on current JAX (TypeError: linearize() got multiple values for argument "
            "'has_aux'); use implementation 1 or 2"
        )
    if implementation not in NT_WORKING_IMPLEMENTATIONS:
        raise ValueError(f"nt_implementation must be 1 or 2, not {implementation!r}")
    return implementation


def nt_empirical_ntk_fn(model, *, implementation: int = 2):
    """A jitted ``ntk(xs, stax_params)`` from neural-tangents for ``model``'s stax twin."""
    nt = load_neural_tangents()
    check_nt_implementation(implementation)
    _, apply_fn, _ = stax_residual_mlp(
        model.num_res_blocks,
        model.W_std,
        model.b_std,
        width=model.width,
        out_dim=model.out_dim,
        activation=model.activation,
        branch_scale=model.branch_scale,
    )
    ntk_fn = nt.empirical_ntk_fn(
        apply_fn, trace_axes=(-1,), vmap_axes=0, implementation=implementation
    )
    return jax.jit(lambda xs, stax_params: ntk_fn(xs, None, stax_params))


@functools.lru_cache(maxsize=16)
def _cached_fn(model, implementation, precision):
    fn = nt_empirical_ntk_fn(model, implementation=implementation)

    def run(xs, stax_params):
        with jax.default_matmul_precision(precision):
            return fn(xs, stax_params)

    return run


def nt_ntk(model, variables, xs, *, implementation: int = 2, precision=None):
    """neural-tangents' empirical NTK of ``model`` at ``variables``, shape ``(N, N)``."""
    check_nt_implementation(implementation)
    precision = resolve_precision(model, precision)
    fn = _cached_fn(
        model, implementation, None if precision is None else precision_label(precision)
    )
    return fn(jax.numpy.asarray(xs, model.dtype), flax_to_stax_params(variables))
