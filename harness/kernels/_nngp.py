"""Empirical NNGP of one network: readout-marginalised and raw-output estimators.

For the residual MLP (see :mod:`models._residual_mlp`) the output is
``f(x) = W_std/√n · φ(h_L(x)) W_out`` with ``W_out ~ N(0, 1)`` independent of
everything before it. Averaging ``f fᵀ`` over the readout weights alone gives
the *readout-marginalised* NNGP of one network,

.. math::

    \\hat K(x, x') = \\mathbb E_{W_{out}}\\big[f_k(x) f_k(x')\\big]
                  = \\frac{W_{std}^2}{n}\\, φ(h_L(x)) \\cdot φ(h_L(x')),

whose mean over independent initialisations is the finite-width NNGP and whose
infinite-width limit is the analytic NNGP (Neal 1996; Lee et al. 2018; Matthews
et al. 2018). It has much less variance than the raw estimator, because the
readout's randomness is integrated out exactly.

The *raw-output* estimator is ``(1/K) Σ_k f_k(x) f_k(x')`` for one network; its
mean over seeds is what ``nt.monte_carlo_kernel_fn`` reports as ``nngp``
(Novak et al. 2020, with ``trace_axes=(-1,)``, which averages over outputs).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from harness.kernels._precision import resolve_precision
from harness.kernels._validation import check_inputs
from harness.kernels._validation import check_model
from harness.kernels._validation import check_params
from models import model_trace

__all__ = ["empirical_nngp", "output_nngp", "readout_marginal_nngp"]


def readout_marginal_nngp(trace, *, W_std: float, precision=None):
    """``(W_std²/n) φ(h_L) φ(h_L)ᵀ`` from a :class:`models.ForwardTrace`."""
    phi = trace.readout_input
    width = phi.shape[-1]
    return (W_std**2 / width) * jnp.dot(phi, phi.T, precision=precision)


def _check(model, params, xs) -> None:
    check_model(model)
    check_inputs(xs, model)
    check_params(model, params, np.shape(xs)[1])


def empirical_nngp(model, params, xs, *, precision=None):
    """Readout-marginalised NNGP ``(W_std²/n) φ(h_L) φ(h_L)ᵀ``, shape ``(N, N)``.

    Args:
      model: a :class:`models.ResidualMLP` (supplies ``W_std``, ``b_std``).
      params: its variables (``model.init(...)``).
      xs: inputs, shape ``(N, d)``.
      precision: matmul precision; ``None`` uses ``model.precision``.

    Raises:
      ValueError: an impossible model, parameters of another network, or inputs
        that are not a finite real ``(N, d)`` array (:mod:`harness.kernels._validation`).
    """
    _check(model, params, xs)
    precision = resolve_precision(model, precision)
    trace = model_trace(model, params, xs, precision=precision)
    return readout_marginal_nngp(trace, W_std=model.W_std, precision=precision)


def output_nngp(model, params, xs, *, precision=None):
    """Raw-output estimator ``(1/K) Σ_k f_k(x) f_k(x')`` of one network, shape ``(N, N)``.

    Checks its arguments as :func:`empirical_nngp` does.
    """
    _check(model, params, xs)
    precision = resolve_precision(model, precision)
    f = model_trace(model, params, xs, precision=precision).outputs
    return jnp.dot(f, f.T, precision=precision) / f.shape[-1]
