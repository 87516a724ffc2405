r"""A two-layer ReLU MLP in the NTK parameterization, and its exact kernels.

The worked example of ``python -m harness.converge --model``::

    python -m harness.converge --model models.examples.two_layer:factory \
        --readout readout --candidate models.examples.two_layer:formula

The network of width :math:`n` on inputs :math:`x \in \mathbb R^d`, with every
parameter drawn i.i.d. :math:`\mathcal N(0, 1)` (the NTK parameterization,
Jacot et al. 2018):

.. math::

    h(x) = \frac{\sigma_w}{\sqrt d} W x + \sigma_b\, b \in \mathbb R^n, \qquad
    f(x) = \frac{\sigma_w}{\sqrt n}\, \mathrm{relu}(h(x))^\top v + \sigma_b\, c,

with :math:`\sigma_w` = :data:`W_STD`, :math:`\sigma_b` = :data:`B_STD`; ``hidden``
holds ``W, b`` and ``readout`` holds ``v, c`` (``--readout readout``: the outputs
are linear in the readout's standard-normal parameters, so the harness can
marginalise them out of the NNGP estimate).

Its infinite-width kernels (Neal 1996; Cho & Saul 2009; Jacot et al. 2018). The
first layer's covariance is :math:`\Sigma(x, x') = \sigma_w^2\, x \cdot x'/d +
\sigma_b^2`; with :math:`\theta = \arccos\big(\Sigma(x, x')/\sqrt{\Sigma(x, x)
\Sigma(x', x')}\big)`, the arc-cosine kernels of degree 1 and 0 (Cho & Saul 2009)
give, for :math:`(u, v)` centred Gaussian with covariance :math:`\Sigma`,

.. math::

    \mathbb E[\mathrm{relu}(u)\,\mathrm{relu}(v)]
        = \frac{\sqrt{\Sigma(x, x)\Sigma(x', x')}}{2\pi}
          \big(\sin\theta + (\pi - \theta)\cos\theta\big), \qquad
    \mathbb E[\mathrm{relu}'(u)\,\mathrm{relu}'(v)] = \frac{\pi - \theta}{2\pi},

so that

.. math::

    K(x, x') = \sigma_w^2\, \mathbb E[\mathrm{relu}(u)\,\mathrm{relu}(v)] + \sigma_b^2,
    \qquad
    \Theta(x, x') = K(x, x') + \sigma_w^2\, \frac{\pi - \theta}{2\pi}\, \Sigma(x, x').

The NTK's first term is the readout's own parameters (``v`` gives
:math:`\sigma_w^2 \mathbb E[\mathrm{relu}\,\mathrm{relu}]`, ``c`` gives
:math:`\sigma_b^2`), the second the hidden layer's (``W`` and ``b`` give
:math:`\sigma_w^2 x\cdot x'/d` and :math:`\sigma_b^2`, each through
:math:`\frac{\sigma_w^2}{n}\sum_j v_j^2\, \mathrm{relu}'(h_j)\mathrm{relu}'(h_j')`).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np

__all__ = [
    "B_STD",
    "W_STD",
    "NTKDense",
    "TwoLayerMLP",
    "factory",
    "formula",
    "formula_ntk_4_percent_off",
]

#: The weight scale :math:`\sigma_w` of both layers.
W_STD = 1.5
#: The bias scale :math:`\sigma_b` of both layers.
B_STD = 0.5


class NTKDense(nn.Module):
    """``W_std/√fan_in · x @ kernel + b_std · bias``, kernel and bias drawn N(0, 1)."""

    features: int
    W_std: float = W_STD
    b_std: float = B_STD

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", jax.random.normal, (x.shape[-1], self.features))
        bias = self.param("bias", jax.random.normal, (self.features,))
        return self.W_std / np.sqrt(x.shape[-1]) * (x @ kernel) + self.b_std * bias


class TwoLayerMLP(nn.Module):
    """``f(x) = readout(relu(hidden(x)))``: outputs ``(N,)`` for one output, else ``(N, K)``."""

    width: int
    out_dim: int = 1

    @nn.compact
    def __call__(self, x):
        h = NTKDense(self.width, name="hidden")(x)
        f = NTKDense(self.out_dim, name="readout")(nn.relu(h))
        return f[:, 0] if self.out_dim == 1 else f


def factory(width: int) -> nn.Module:
    """The network of hidden width ``width``, one output."""
    return TwoLayerMLP(width)


def formula(xs):
    """The exact NNGP and NTK of :func:`factory`'s networks, ``(nngp, ntk)`` in float64.

    ``xs`` is an ``(N, d)`` array (rows are inputs); see the module docstring.
    """
    xs = np.asarray(xs, np.float64)
    sigma = W_STD**2 * (xs @ xs.T) / xs.shape[1] + B_STD**2
    norms = np.sqrt(np.diag(sigma))
    cosine = np.clip(sigma / np.outer(norms, norms), -1.0, 1.0)
    theta = np.arccos(cosine)
    relu_relu = np.outer(norms, norms) / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * cosine)
    step_step = (np.pi - theta) / (2 * np.pi)
    nngp = W_STD**2 * relu_relu + B_STD**2
    ntk = nngp + W_STD**2 * step_step * sigma
    return nngp, ntk


def formula_ntk_4_percent_off(xs):
    """:func:`formula` with the NTK 4% too large (its scale-free error is exactly 4%): a
    wrong formula for the harness to call inconsistent."""
    nngp, ntk = formula(xs)
    return nngp, 1.04 * ntk
