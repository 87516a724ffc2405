"""Elementwise activations and their infinite-width kernel maps, one module per closed form.

Public API:

* :class:`Activation`: an activation's function, derivative, layer map on
  balanced gaps and diagonal bounds (:mod:`analytic.activations._activation`);
* :func:`get_activation`: an activation from its spelling, e.g. ``"relu"``,
  ``"leaky_relu:0.1"``, ``"abrelu:-0.5,1"``, ``"tanh"``, ``"pkg.module:function"``;
  :data:`ACTIVATION_NAMES` lists them;
* the closed forms: :func:`relu`, :func:`leaky_relu`, :func:`abrelu` (arc-cosine
  kernels), :func:`erf` (Williams 1997), :func:`gelu` (the exact GELU, Tsuchida et
  al. 2021), :func:`sin`, :func:`identity`;
* the numerical activations (:mod:`analytic.activations._numerical`): :func:`tanh`, and
  :func:`numerical`, which gives any elementwise function kernels by a conditioned
  Gauss–Legendre quadrature with an a-posteriori error check (a refined twin).
"""

from analytic.activations._activation import Activation
from analytic.activations._erf import erf
from analytic.activations._gelu import gelu
from analytic.activations._identity import identity
from analytic.activations._numerical import numerical
from analytic.activations._numerical import tanh
from analytic.activations._registry import ACTIVATION_NAMES
from analytic.activations._registry import get_activation
from analytic.activations._relu import abrelu
from analytic.activations._relu import leaky_relu
from analytic.activations._relu import relu
from analytic.activations._sin import sin

__all__ = [
    "ACTIVATION_NAMES",
    "Activation",
    "abrelu",
    "erf",
    "gelu",
    "get_activation",
    "identity",
    "leaky_relu",
    "numerical",
    "relu",
    "sin",
    "tanh",
]
