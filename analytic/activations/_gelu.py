r"""The exact GELU, :math:`\phi(x) = x\,\Phi(x)` (Hendrycks & Gimpel 2016).

**Not the default GELU of Flax or JAX.** ``flax.linen.gelu`` and
``jax.nn.gelu`` use ``approximate=True`` by default, the tanh approximation
:math:`\tfrac12 x(1 + \tanh(\sqrt{2/\pi}(x + 0.044715x^3)))`, whose kernels differ
from the exact GELU's by about :math:`10^{-4}` relative: enough for a formula
test to call a correct formula wrong. The models here use
``jax.nn.gelu(x, approximate=False)``.

**Closed form** (Tsuchida et al. 2021, arXiv 2002.08517, derived here through
orthant moments). Write :math:`\Phi(u) = P(g \le u)` with :math:`g \sim N(0,1)`
independent, so :math:`\mathbb E[\phi(u)\phi(v)] = \mathbb E[uv\,1_{s>0}1_{t>0}]`
with :math:`s = u - g_1`, :math:`t = v - g_2`: a Gaussian vector with
:math:`\mathrm{Var}\,s = S = 1+a`, :math:`\mathrm{Var}\,t = T = 1+b`,
:math:`\mathrm{Cov}(s,t) = k`, :math:`\mathrm{Cov}(u, (s,t)) = (a, k)`,
:math:`\mathrm{Cov}(v, (s,t)) = (k, b)`. With :math:`q = ab - k^2 = G^+G^-/4`
and :math:`\Delta = ST - k^2 = 1 + a + b + q`, regress :math:`u = \alpha\cdot(s,t) + e_1`,
:math:`v = \beta\cdot(s,t) + e_2`:
:math:`\alpha = (a+q, k)/\Delta`, :math:`\beta = (k, b+q)/\Delta`,
:math:`\mathrm{Cov}(e_1, e_2) = k/\Delta`, and the residuals are independent of
:math:`(s, t)`. The orthant moments of :math:`(s, t)` (correlation
:math:`\rho = k/\sqrt{ST}`, :math:`\sqrt{1-\rho^2} = \sqrt{\Delta/(ST)}`) are

.. math::
   P = \tfrac14 + \tfrac{1}{2\pi}\mathrm{atan2}(k, \sqrt\Delta), \quad
   \mathbb E[s^2 1] = SP + \frac{k\sqrt\Delta}{2\pi T}, \quad
   \mathbb E[t^2 1] = TP + \frac{k\sqrt\Delta}{2\pi S}, \quad
   \mathbb E[st\,1] = kP + \frac{\sqrt\Delta}{2\pi},

so

.. math::
   V = \frac{(a+q)k\,\mathbb E[s^21] + ((a+q)(b+q) + k^2)\,\mathbb E[st1]
       + k(b+q)\,\mathbb E[t^21]}{\Delta^2} + \frac{kP}{\Delta}.

:math:`\dot V = \partial V/\partial k` at fixed :math:`a, b` (Price 1958), by
forward-mode differentiation with :math:`\partial q/\partial k = -2k`. Every
denominator is at least 1. Bounds: :math:`|\phi(x)| \le |x|` gives
:math:`V(a,a,a) \le a`; :math:`\max|\phi'| = \phi'(\sqrt2) = 1.12890\ldots`
gives :math:`\dot V \le 1.2745`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from analytic.activations._activation import Activation
from analytic.activations._smooth import smooth_layer_map

__all__ = ["gelu"]

#: :math:`\max_x \phi'(x)^2 = (\Phi(\sqrt2) + \sqrt2\,\varphi(\sqrt2))^2 = 1.27442`, rounded up.
_DERIVATIVE_BOUND = 1.2745


def _value(a, b, k, q):
    S, T = 1.0 + a, 1.0 + b
    delta = 1.0 + a + b + q
    root = jnp.sqrt(delta)
    P = 0.25 + jnp.arctan2(k, root) / (2.0 * math.pi)
    ss = S * P + k * root / (2.0 * math.pi * T)
    tt = T * P + k * root / (2.0 * math.pi * S)
    st = k * P + root / (2.0 * math.pi)
    quadratic = (a + q) * k * ss + ((a + q) * (b + q) + k * k) * st + k * (b + q) * tt
    return quadratic / (delta * delta) + k * P / delta


def _moments(r1, r2, plus, minus):
    a, b = r1 * r1, r2 * r2
    a, b = jnp.broadcast_to(a, plus.shape), jnp.broadcast_to(b, plus.shape)
    k = 0.25 * (plus - minus)
    q = 0.25 * plus * minus
    zero = jnp.zeros_like(k)
    value, derivative = jax.jvp(_value, (a, b, k, q), (zero, zero, jnp.ones_like(k), -2.0 * k))
    return value, derivative


def _gelu(x):
    return jax.nn.gelu(x, approximate=False)


def _gelu_derivative(x):
    return jax.scipy.stats.norm.cdf(x) + x * jax.scipy.stats.norm.pdf(x)


def gelu() -> Activation:
    """The exact GELU :math:`x\\Phi(x)` (not the tanh approximation)."""
    return Activation(
        name="gelu",
        fn=_gelu,
        derivative=_gelu_derivative,
        layer_map=smooth_layer_map(_moments),
        gain=1.0,
        offset=0.0,
        derivative_gain=_DERIVATIVE_BOUND,
        exact=False,
        source="Tsuchida et al. 2021 (arXiv 2002.08517); orthant moments",
    )
