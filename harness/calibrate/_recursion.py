r"""The ReLU residual MLP's infinite-width recursion again, in NumPy, with a bias that can go.

This is a second, independent implementation of the recursion documented in
:mod:`analytic._rmlp` (Jacot et al. 2018; Lee et al. 2019; Arora et al. 2019;
Yang 2019/2020 for residual sums of independent branches). It carries plain
covariance matrices, not the balanced gaps of :mod:`analytic._pairs`, and
takes the arc-cosine expectations of a ReLU (Cho & Saul 2009) from
:func:`analytic.relu_moments`, ``(V, V̇)`` for entries
``(Σ_ii, Σ_ij, Σ_jj)``, so it is the ReLU network's recursion only:

.. math:: V(\Sigma)_{ij} = \frac{\sqrt{\Sigma_{ii}\Sigma_{jj}}}{2\pi}
          \bigl(\sin\theta_{ij} + (\pi - \theta_{ij})\cos\theta_{ij}\bigr),
          \qquad \dot V(\Sigma)_{ij} = \frac{\pi - \theta_{ij}}{2\pi},

with :math:`\cos\theta_{ij} = \Sigma_{ij}/\sqrt{\Sigma_{ii}\Sigma_{jj}}`.
With :math:`w = W_{std}^2`, :math:`\beta = b_{std}^2`, the branch scale
:math:`\alpha` (each block is :math:`h + \alpha\,{\rm Dense}({\rm ReLU}({\rm Dense}(h)))`,
so the branch's second Dense has variances :math:`\alpha^2 w` and :math:`\alpha^2\beta`)
and ``d`` input features:

* embedding: :math:`K_0 = w\,x x^\top/d + \beta`, :math:`\Theta_0 = K_0`;
* block :math:`l = 1 \dots L`: :math:`\Sigma_l = w K_{l-1} + \beta_{l,0}`,

  .. math:: K_l = K_{l-1} + \alpha^2\bigl(w V(\Sigma_l) + \beta_{l,1}\bigr), \qquad
            \Theta_l = \Theta_{l-1} + \alpha^2\bigl(w \dot V(\Sigma_l) \odot
                       (w\Theta_{l-1} + \Sigma_l) + w V(\Sigma_l) + \beta_{l,1}\bigr);

* readout (no bias): :math:`\mathrm{NNGP} = w V(K_L)`,
  :math:`\mathrm{NTK} = w \dot V(K_L) \odot \Theta_L + w V(K_L)`.

Normally :math:`\beta_{l,0} = \beta_{l,1} = \beta`. ``drop_bias=(block, layer)``
sets :math:`\beta_{l,\mathrm{layer}} = 0` in block ``l = block + 1`` (0-based
``block``, ``layer`` 0 for the block's first Dense, 1 for its second), which
is the recursion of a network *without that one bias vector*: the bias enters
the layer's covariance and, being a parameter, the NTK through the same
:math:`+\beta` (its gradient is the unit vector), so both go together. For
``layer = 1`` that is the :math:`+\beta` of :math:`K_l` and of
:math:`\Theta_l`; for ``layer = 0`` it is the :math:`+\beta` of
:math:`\Sigma_l`, which reaches :math:`\Theta_l` through :math:`\Sigma_l`.

Precision: :func:`analytic.relu_moments` takes the angle from ``arccos`` of the
correlation, accurate while no pair of inputs is nearly parallel; for
Gaussian inputs with ``d >= N`` that holds, and the kernels agree with
:func:`analytic.rmlp_kernels` to ``1e-12`` relative, as
``tests/calibrate/test_calibration.py`` asserts (measured figures:
docs/measurements.md).
"""

from __future__ import annotations

import jax
import numpy as np

import analytic

__all__ = ["recursion_kernels"]


def _moments(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(V(Σ), V̇(Σ))`` of a covariance matrix, in float64."""
    diag = np.diag(sigma)
    with jax.enable_x64(True):
        value, derivative = analytic.relu_moments(diag[:, None], sigma, diag[None, :])
        return np.asarray(value, np.float64), np.asarray(derivative, np.float64)


def recursion_kernels(
    xs,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    branch_scale: float = 1.0,
    drop_bias: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(nngp, ntk)``, float64 ``(N, N)``, of the recursion in the module docstring.

    Args:
      xs: inputs ``(N, d)``.
      num_res_blocks: ``L >= 0``.
      W_std, b_std: the NTK-parameterization scales.
      branch_scale: ``α >= 0``, the factor on each block's branch.
      drop_bias: ``(block, layer)`` whose bias is left out (``0 <= block < L``,
        ``layer`` 0 or 1), or None for the network as it is.

    Raises:
      ValueError: for a ``drop_bias`` that names no layer of the network.
    """
    xs = np.asarray(xs, dtype=np.float64)
    if xs.ndim != 2:
        raise ValueError(f"xs must be (N, d), got shape {xs.shape}")
    if drop_bias is not None:
        block, layer = drop_bias
        if not (0 <= block < num_res_blocks and layer in (0, 1)):
            raise ValueError(
                f"drop_bias={drop_bias!r} names no layer of a network with {num_res_blocks} blocks"
            )
    w, beta, branch = float(W_std) ** 2, float(b_std) ** 2, float(branch_scale) ** 2
    K = w * (xs @ xs.T) / xs.shape[1] + beta
    ntk = K.copy()
    for block in range(num_res_blocks):
        beta_in = 0.0 if drop_bias == (block, 0) else beta
        beta_out = 0.0 if drop_bias == (block, 1) else beta
        sigma = w * K + beta_in
        value, derivative = _moments(sigma)
        # α² multiplies each branch term, so α = 1 rounds exactly as the unscaled recursion.
        branch_w, branch_beta = branch * w, branch * beta_out
        ntk = ntk + branch_w * derivative * (w * ntk + sigma) + branch_w * value + branch_beta
        K = K + branch_w * value + branch_beta
    value, derivative = _moments(K)
    nngp = w * value
    return nngp, w * derivative * ntk + nngp
