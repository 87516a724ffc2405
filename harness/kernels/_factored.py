"""The factored empirical NTK: per-layer Gram matrices, no Jacobian stored.

For a network whose parameters enter only through dense layers
``z = s · X W + β b`` (``s = W_std/√fan_in``, ``β = b_std``), the parameter
Jacobian of output ``f_k`` factorises layer by layer:
``∂f_k(x)/∂W_ij = s X_i(x) Δ_{k,j}(x)`` and ``∂f_k(x)/∂b_j = β Δ_{k,j}(x)``,
where ``Δ_k(x) = ∂f_k(x)/∂z`` is the output cotangent at that layer. Hence

.. math::

    \\Theta_k(x, x') = \\sum_{\\text{layers}}
        \\big(s^2\\, X(x)\\cdot X(x') + β^2\\big)\\;\\big(Δ_k(x)\\cdot Δ_k(x')\\big),

i.e. ``(s² X Xᵀ + β²) ⊙ (Δ_k Δ_kᵀ)`` summed over layers. This is the exact
``J Jᵀ`` (Jacot et al. 2018), computed with one forward pass (keeping each
layer's input ``X``) and one backward pass (each layer's ``Δ``), in
``O(N n²)`` time and ``O(N n)`` memory instead of the ``O(N P)`` of a Jacobian.

For ``K`` outputs the (N, N) kernel returned is the mean of the ``K`` diagonal
output blocks, ``Θ = (1/K) Σ_k Θ_k``, which is neural-tangents'
``empirical_ntk_fn(..., trace_axes=(-1,))`` (it divides the trace by ``K``).
Only ``Δ Δᵀ`` depends on ``k``, so the mean is taken over ``Δ_k Δ_kᵀ``.

The backward pass of the residual MLP ``h ← h + α·Dense(φ(Dense(h)))``, with
``G`` the cotangent of ``h``: ``G_L = s_out W_out[:, k]ᵀ ⊙ φ'(h_L)`` (for a ReLU,
``1[h_L > 0]``); in block ``l`` (reversed), ``Δ_outer = αG``,
``Δ_inner = s (Δ_outer W_outerᵀ) ⊙ φ'(u_l)`` and ``G ← G + s Δ_inner W_innerᵀ``;
finally ``Δ_embed = G_0``.
"""

from __future__ import annotations

import jax.numpy as jnp

from models import residual_mlp_trace
from models import scale_branch

__all__ = ["factored_ntk", "factored_ntk_from_trace"]


def _cotangent_gram(delta, precision):
    """``(1/K) Σ_k Δ_k Δ_kᵀ`` for ``delta`` of shape ``(K, N, m)``."""
    return jnp.einsum("kni,kmi->nm", delta, delta, precision=precision) / delta.shape[0]


def _input_factor(x, scale_sq, bias_sq, precision):
    return scale_sq * jnp.dot(x, x.T, precision=precision) + bias_sq


def factored_ntk_from_trace(
    params, trace, *, W_std: float, b_std: float, precision=None, branch_scale: float = 1.0
):
    """The factored NTK from parameters and a :class:`models.ForwardTrace` of them."""
    params = params.get("params", params)
    readout = params["readout"]["kernel"]  # (n, K)
    width, _ = readout.shape
    s_hidden = W_std / width**0.5
    bias_sq = b_std**2

    # Readout: Δ_k = e_k, so Δ_k Δ_kᵀ is all ones for every k (and β = 0).
    phi = trace.readout_input
    ntk = _input_factor(phi, s_hidden**2, 0.0, precision)

    # Cotangent of h_L for every output unit: (K, N, n).
    grad_h = s_hidden * readout.T[:, None, :] * trace.readout_derivative[None]
    blocks = range(len(trace.block_inputs))
    for block in reversed(blocks):
        inner = params[f"block_{block}_dense_0"]["kernel"]
        outer = params[f"block_{block}_dense_1"]["kernel"]
        h = trace.block_inputs[block]
        # Outer dense: input φ(u), cotangent αG.
        delta_outer = scale_branch(grad_h, branch_scale)
        ntk = ntk + _input_factor(
            trace.block_activations[block], s_hidden**2, bias_sq, precision
        ) * _cotangent_gram(delta_outer, precision)
        delta_inner = (
            s_hidden * jnp.matmul(delta_outer, outer.T, precision=precision)
        ) * trace.block_derivatives[block]
        ntk = ntk + _input_factor(h, s_hidden**2, bias_sq, precision) * _cotangent_gram(
            delta_inner, precision
        )
        grad_h = grad_h + s_hidden * jnp.matmul(delta_inner, inner.T, precision=precision)

    x = trace.embed_input
    s_embed_sq = W_std**2 / x.shape[-1]
    return ntk + _input_factor(x, s_embed_sq, bias_sq, precision) * _cotangent_gram(
        grad_h, precision
    )


def factored_ntk(
    params,
    xs,
    *,
    W_std: float,
    b_std: float,
    precision=None,
    activation: str = "relu",
    branch_scale: float = 1.0,
):
    """Empirical NTK ``(1/K) Σ_k J_k J_kᵀ`` of a :class:`models.ResidualMLP`, shape ``(N, N)``.

    One forward and one backward pass; see the module docstring for the formula.
    """
    trace = residual_mlp_trace(
        params,
        xs,
        W_std=W_std,
        b_std=b_std,
        precision=precision,
        activation=activation,
        branch_scale=branch_scale,
    )
    return factored_ntk_from_trace(
        params, trace, W_std=W_std, b_std=b_std, precision=precision, branch_scale=branch_scale
    )
