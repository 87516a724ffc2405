"""A pure forward pass of :class:`models.ResidualMLP` that keeps every layer's input.

The empirical kernels need more than the outputs: the NNGP needs the last
post-activation ``φ(h_L)``, and the factored NTK needs each dense layer's input
``X`` and the sign pattern of each ReLU. :func:`residual_mlp_trace` recomputes
the network from its parameter dictionary with the same arithmetic as
``ResidualMLP.apply`` (same :func:`~models._residual_mlp.ntk_dense`, same order
of operations), so its outputs are bit-identical to ``apply``'s.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from models._residual_mlp import ntk_dense

__all__ = ["ForwardTrace", "residual_mlp_trace"]


class ForwardTrace(NamedTuple):
    """Everything one forward pass leaves behind.

    Attributes:
      outputs: ``f(x)``, shape ``(N, K)``.
      embed_input: the network input ``x``, shape ``(N, d)``.
      block_inputs: ``h_l`` for ``l = 0 … L-1`` (input of each block's inner dense).
      block_preactivations: ``u_l = Dense(h_l)``, the inner pre-activation.
      last_hidden: ``h_L``, the input of the final ReLU.
    """

    outputs: jax.Array
    embed_input: jax.Array
    block_inputs: tuple
    block_preactivations: tuple
    last_hidden: jax.Array

    @property
    def readout_input(self) -> jax.Array:
        """``φ(h_L)``, the readout's input."""
        return jax.nn.relu(self.last_hidden)


def residual_mlp_trace(params, xs, *, W_std: float, b_std: float, precision=None) -> ForwardTrace:
    """Run the residual MLP on ``xs`` and keep every layer's input (see :class:`ForwardTrace`).

    ``params`` is ``variables["params"]`` (or ``variables``) of a
    :class:`models.ResidualMLP`; the number of blocks is read from it.
    """
    params = params.get("params", params)
    num_blocks = sum(1 for name in params if name.endswith("_dense_0"))
    xs = jnp.asarray(xs, params["embed"]["kernel"].dtype)

    def dense(layer, x, bias_std=b_std):
        return ntk_dense(
            x, layer["kernel"], layer.get("bias"), W_std=W_std, b_std=bias_std, precision=precision
        )

    h = dense(params["embed"], xs)
    block_inputs, block_preactivations = [], []
    for block in range(num_blocks):
        block_inputs.append(h)
        u = dense(params[f"block_{block}_dense_0"], h)
        block_preactivations.append(u)
        h = h + dense(params[f"block_{block}_dense_1"], jax.nn.relu(u))
    outputs = dense(params["readout"], jax.nn.relu(h), 0.0)
    return ForwardTrace(outputs, xs, tuple(block_inputs), tuple(block_preactivations), h)
