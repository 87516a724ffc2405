"""The residual MLP of the seed notebook, with any activation and a branch scale, in ``flax.linen``.

Architecture (depth ``L = num_res_blocks``, width ``n``, input dimension ``d``)::

    h_0     = Dense_{d→n}(x)                                  embedding
    h_{l+1} = h_l + α·Dense_{n→n}(φ(Dense_{n→n}(h_l)))        l = 0 … L-1
    f(x)    = Dense_{n→K}(φ(h_L))        with b_std = 0       readout

with ``φ = ReLU`` and ``α = 1`` in the seed notebook; ``activation`` names any
activation of :mod:`analytic.activations` (the exact GELU for ``"gelu"``, not
Flax's tanh approximation) and ``α = branch_scale`` multiplies the branch's
whole output, its bias included (``1/√L`` is the Stable-ResNet choice, Hayou
et al. 2021). Every ``Dense`` is in the NTK parameterization
(Jacot et al. 2018; Novak et al. 2020, neural-tangents ``stax.Dense``):

.. math::

    z = \\frac{W_{std}}{\\sqrt{\\text{fan\\_in}}}\\, x W + b_{std}\\, b,
    \\qquad W_{ij}, b_j \\sim \\mathcal N(0, 1).

The readout has ``b_std = 0``, so it carries no bias parameter here (its
neural-tangents twin has a bias array that is multiplied by zero; see
:mod:`models._stax`).

Parameters (``variables["params"]``)::

    embed:           {kernel: (d, n), bias: (n,)}
    block_l_dense_0: {kernel: (n, n), bias: (n,)}      l = 0 … L-1 (inner layer)
    block_l_dense_1: {kernel: (n, n), bias: (n,)}      (outer layer, added to h_l)
    readout:         {kernel: (n, K)}

Linen is used because its pure ``init``/``apply`` compose directly with
``jax.vmap`` over seeds and ``jax.jacrev`` over parameters.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from analytic.activations import get_activation

__all__ = ["NTKDense", "ResidualMLP", "ntk_dense", "scale_branch", "standard_normal"]

#: Matmul precision: ``None`` (JAX's default), a string such as ``"highest"``,
#: or a :class:`jax.lax.Precision`.
Precision = Any


def ntk_dense(x, kernel, bias, *, W_std: float, b_std: float, precision: Precision = None):
    """``W_std/√fan_in · x @ kernel + b_std · bias`` (``bias=None``: no bias term).

    The scale is applied after the matmul, as neural-tangents does, so that the
    same weights give bit-identical outputs in both libraries.
    """
    fan_in = kernel.shape[0]
    out = (W_std / fan_in**0.5) * jnp.dot(x, kernel, precision=precision)
    if bias is not None:
        out = out + b_std * bias
    return out


def standard_normal(key, shape, dtype=jnp.float32):
    """Draw N(0, 1) entries (the NTK parameterization puts every scale in the forward pass)."""
    return jax.random.normal(key, shape, dtype)


class NTKDense(nn.Module):
    """A dense layer in the NTK parameterization, weights and bias ~ N(0, 1)."""

    features: int
    W_std: float = 1.0
    b_std: float | None = 1.0
    precision: Precision = None
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", standard_normal, (x.shape[-1], self.features), self.dtype)
        bias = None
        if self.b_std is not None:
            bias = self.param("bias", standard_normal, (self.features,), self.dtype)
        return ntk_dense(
            x, kernel, bias, W_std=self.W_std, b_std=self.b_std or 0.0, precision=self.precision
        )


class ResidualMLP(nn.Module):
    """Residual MLP in the NTK parameterization (see the module docstring).

    Attributes:
      width: hidden width ``n``.
      num_res_blocks: number ``L`` of residual blocks.
      W_std: weight scale of every layer.
      b_std: bias scale of every layer except the readout (which has none).
      out_dim: number ``K`` of outputs.
      precision: matmul precision; ``None`` is JAX's default (TF32 on
        H100/H200 for float32, full float32 on the CPU).
      dtype: parameter and activation dtype (float32; float64 needs x64).
      activation: the activation's spelling (:func:`analytic.activations.get_activation`).
      branch_scale: ``α``, the factor on each block's branch.
    """

    width: int
    num_res_blocks: int
    W_std: float = 1.0
    b_std: float = 1.0
    out_dim: int = 1
    precision: Precision = None
    dtype: Any = jnp.float32
    activation: str = "relu"
    branch_scale: float = 1.0

    def _dense(self, features, name, b_std):
        return NTKDense(
            features,
            W_std=self.W_std,
            b_std=b_std,
            precision=self.precision,
            dtype=self.dtype,
            name=name,
        )

    @nn.compact
    def __call__(self, xs):
        phi = get_activation(self.activation).fn
        xs = jnp.asarray(xs, self.dtype)
        h = self._dense(self.width, "embed", self.b_std)(xs)
        for block in range(self.num_res_blocks):
            branch = self._dense(self.width, f"block_{block}_dense_0", self.b_std)(h)
            branch = self._dense(self.width, f"block_{block}_dense_1", self.b_std)(phi(branch))
            h = h + scale_branch(branch, self.branch_scale)
        return self._dense(self.out_dim, "readout", None)(phi(h))


def scale_branch(branch, branch_scale: float):
    """``α · branch``; the identity at ``α = 1`` (the seed's network, bit for bit)."""
    return branch if branch_scale == 1.0 else branch_scale * branch
