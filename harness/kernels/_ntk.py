"""Empirical NNGP and NTK of finite :class:`models.ResidualMLP` networks.

Estimators (Jacot et al. 2018; Lee et al. 2019; Novak et al. 2020):

* :func:`empirical_nngp`: the readout-marginalised NNGP of one network,
  ``(W_std²/n) φ(h_L) φ(h_L)ᵀ`` (the expectation of ``f(x) f(x')`` over the
  readout weights alone); its mean over initialisations is the Monte Carlo
  NNGP. :func:`output_nngp` is the raw ``(1/K) f fᵀ`` estimator that
  ``nt.monte_carlo_kernel_fn`` averages.
* :func:`empirical_ntk`: ``Θ = (1/K) Σ_k J_k J_kᵀ``, the mean of the ``K``
  diagonal output blocks of the parameter-Jacobian Gram matrix (neural-tangents'
  ``trace_axes=(-1,)``; for ``K = 1`` it is simply ``J Jᵀ``), by three methods:
  ``"factored"`` (default, per-layer ``(s² X Xᵀ + β²) ⊙ (Δ Δᵀ)``),
  ``"jacobian"`` (literal ``J Jᵀ``, chunked under a memory budget) and
  ``"nt"`` (neural-tangents' ``empirical_ntk_fn``, implementations 1 and 2).
* :func:`per_seed_kernels` / :func:`monte_carlo_kernels`: both kernels for
  many initialisations (network ``s`` is :func:`init_network` ``(model, xs, s)``,
  drawn by :func:`models.draw_parameters` from ``PRNGKey(s)``), batched with
  ``jax.vmap`` or looped with ``jax.lax.map``.

Matmul precision is a parameter everywhere; ``None`` means the model's own
``precision`` attribute, whose default ``None`` is JAX's default.
"""

from __future__ import annotations

import jax
import numpy as np

from harness.kernels._budget import DEFAULT_MEMORY_BUDGET_BYTES
from harness.kernels._factored import factored_ntk
from harness.kernels._jacobian import jacobian_ntk
from harness.kernels._nt import check_nt_implementation
from harness.kernels._nt import nt_ntk
from harness.kernels._precision import resolve_precision
from harness.kernels._validation import check_inputs
from harness.kernels._validation import check_model
from harness.kernels._validation import check_params

__all__ = ["NTK_METHODS", "empirical_ntk"]

#: The methods of :func:`empirical_ntk`.
NTK_METHODS = ("factored", "jacobian", "nt")

_factored_ntk_jit = jax.jit(
    factored_ntk, static_argnames=("W_std", "b_std", "precision", "activation", "branch_scale")
)


def empirical_ntk(
    model,
    params,
    xs,
    *,
    method: str = "factored",
    nt_implementation: int = 2,
    precision=None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
):
    """Empirical NTK ``(1/K) Σ_k J_k J_kᵀ`` of one network, shape ``(N, N)``.

    Args:
      model: a :class:`models.ResidualMLP`.
      params: its variables (``model.init(key, xs)``).
      xs: inputs, shape ``(N, d)``.
      method: ``"factored"``, ``"jacobian"`` or ``"nt"`` (see the module docstring).
      nt_implementation: neural-tangents implementation for ``method="nt"``:
        1 or 2; 3 fails on current JAX and raises ``ValueError``.
      precision: matmul precision; ``None`` uses ``model.precision``.
      memory_budget_bytes: Jacobian bytes held at once by ``method="jacobian"``.

    Raises:
      ValueError: for an unknown method or a neural-tangents implementation
        other than 1 or 2, an impossible model, parameters of another network,
        or inputs that are not a finite real ``(N, d)`` array or whose kernels
        leave the network dtype's range (:mod:`harness.kernels._validation`).
    """
    if method not in NTK_METHODS:
        raise ValueError(f"method must be one of {NTK_METHODS}, not {method!r}")
    if method == "nt":
        check_nt_implementation(nt_implementation)
    check_model(model)
    check_inputs(xs, model)
    check_params(model, params, np.shape(xs)[1])
    precision = resolve_precision(model, precision)
    if method == "factored":
        return _factored_ntk_jit(
            params,
            xs,
            W_std=model.W_std,
            b_std=model.b_std,
            precision=precision,
            activation=model.activation,
            branch_scale=model.branch_scale,
        )
    if method == "jacobian":
        return jacobian_ntk(
            model, params, xs, precision=precision, memory_budget_bytes=memory_budget_bytes
        )
    return nt_ntk(model, params, xs, implementation=nt_implementation, precision=precision)
