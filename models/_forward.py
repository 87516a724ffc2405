"""A pure forward pass of :class:`models.ResidualMLP` that keeps every layer's input.

The empirical kernels need more than the outputs: the NNGP needs the last
post-activation ``φ(h_L)``, and the factored NTK needs each dense layer's input
``X`` and the derivative ``φ'`` at each activation (a ReLU's sign pattern).
:func:`residual_mlp_trace` recomputes the network from its parameter dictionary
with the same arithmetic as
``ResidualMLP.apply`` (same :func:`~models._residual_mlp.ntk_dense`, same order
of operations), so its outputs are bit-identical to ``apply``'s.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from analytic.activations import get_activation
from models._residual_mlp import ntk_dense
from models._residual_mlp import scale_branch

__all__ = ["ForwardTrace", "model_trace", "residual_mlp_trace"]


class ForwardTrace(NamedTuple):
    """Everything one forward pass leaves behind.

    Attributes:
      outputs: ``f(x)``, shape ``(N, K)``.
      embed_input: the network input ``x``, shape ``(N, d)``.
      block_inputs: ``h_l`` for ``l = 0 … L-1`` (input of each block's inner dense).
      block_preactivations: ``u_l = Dense(h_l)``, the inner pre-activation.
      last_hidden: ``h_L``, the input of the final activation.
      block_activations: ``φ(u_l)``, the input of each block's outer dense.
      block_derivatives: ``φ'(u_l)``.
      readout_input: ``φ(h_L)``, the readout's input.
      readout_derivative: ``φ'(h_L)``.
    """

    outputs: jax.Array
    embed_input: jax.Array
    block_inputs: tuple
    block_preactivations: tuple
    last_hidden: jax.Array
    block_activations: tuple
    block_derivatives: tuple
    readout_input: jax.Array
    readout_derivative: jax.Array


def residual_mlp_trace(
    params,
    xs,
    *,
    W_std: float,
    b_std: float,
    precision=None,
    activation: str = "relu",
    branch_scale: float = 1.0,
) -> ForwardTrace:
    """Run the residual MLP on ``xs`` and keep every layer's input (see :class:`ForwardTrace`).

    ``params`` is ``variables["params"]`` (or ``variables``) of a
    :class:`models.ResidualMLP`; the number of blocks is read from it. ``activation``
    and ``branch_scale`` are the model's.
    """
    act = get_activation(activation)
    params = params.get("params", params)
    num_blocks = sum(1 for name in params if name.endswith("_dense_0"))
    xs = jnp.asarray(xs, params["embed"]["kernel"].dtype)

    def dense(layer, x, bias_std=b_std):
        return ntk_dense(
            x, layer["kernel"], layer.get("bias"), W_std=W_std, b_std=bias_std, precision=precision
        )

    h = dense(params["embed"], xs)
    block_inputs, block_preactivations, block_activations = [], [], []
    for block in range(num_blocks):
        block_inputs.append(h)
        u = dense(params[f"block_{block}_dense_0"], h)
        block_preactivations.append(u)
        block_activations.append(act.fn(u))
        h = h + scale_branch(dense(params[f"block_{block}_dense_1"], act.fn(u)), branch_scale)
    readout_input = act.fn(h)
    outputs = dense(params["readout"], readout_input, 0.0)
    return ForwardTrace(
        outputs,
        xs,
        tuple(block_inputs),
        tuple(block_preactivations),
        h,
        tuple(block_activations),
        tuple(act.derivative(u) for u in block_preactivations),
        readout_input,
        act.derivative(h),
    )


def model_trace(model, params, xs, *, precision=None) -> ForwardTrace:
    """:func:`residual_mlp_trace` of a :class:`models.ResidualMLP` with its own architecture."""
    return residual_mlp_trace(
        params,
        xs,
        W_std=model.W_std,
        b_std=model.b_std,
        precision=precision,
        activation=model.activation,
        branch_scale=model.branch_scale,
    )
