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

:math:`P` is evaluated as :math:`\mathrm{atan2}(\sqrt\Delta, -k)/(2\pi)`, the same angle
without the cancellation of :math:`\tfrac14 - \tfrac14` as :math:`k \to -\sqrt{ST}`.

:math:`\dot V = \partial V/\partial k = \mathbb E[\phi'(u)\phi'(v)]` (Price 1958), with
:math:`\phi'(x) = \Phi(x) + x\varphi(x)`, in closed form term by term. The first is
:math:`\mathbb E[\Phi(u)\Phi(v)] = P`. Tilting the law by :math:`\varphi(v)` (a Gaussian
factor: covariance :math:`(\Sigma^{-1} + e_2e_2^\top)^{-1}`, mass
:math:`1/\sqrt{2\pi(1+b)}`) and Stein's lemma give
:math:`\mathbb E[\Phi(u)\,v\varphi(v)] = k/(2\pi T\sqrt\Delta)`, and symmetrically
:math:`\mathbb E[u\varphi(u)\Phi(v)] = k/(2\pi S\sqrt\Delta)`; tilting by
:math:`\varphi(u)\varphi(v)` (covariance :math:`\Sigma(I+\Sigma)^{-1}`, off-diagonal
:math:`k/\Delta`; mass :math:`1/(2\pi\sqrt\Delta)`) gives
:math:`\mathbb E[u\varphi(u)\,v\varphi(v)] = k/(2\pi\Delta^{3/2})`. So

.. math::
   \dot V = P + \frac{k}{2\pi\sqrt\Delta}\Bigl(\frac1S + \frac1T + \frac1\Delta\Bigr).

Differentiating the expression of :math:`V` instead (forward mode) subtracts terms of
size :math:`a` to get one of size 1, and lost digits in proportion to :math:`a` for
near-parallel inputs; this form has no cancellation there (both terms are positive).
Every denominator is at least 1. Bounds: :math:`|\phi(x)| \le |x|` gives
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


def _orthant(k, root):
    r""":math:`P = \tfrac14 + \mathrm{atan2}(k, \sqrt\Delta)/(2\pi)`, as one angle in
    :math:`[0, \pi]`."""
    return jnp.arctan2(root, -k) / (2.0 * math.pi)


def _value(a, b, k, q):
    S, T = 1.0 + a, 1.0 + b
    delta = 1.0 + a + b + q
    root = jnp.sqrt(delta)
    P = _orthant(k, root)
    ss = S * P + k * root / (2.0 * math.pi * T)
    tt = T * P + k * root / (2.0 * math.pi * S)
    st = k * P + root / (2.0 * math.pi)
    quadratic = (a + q) * k * ss + ((a + q) * (b + q) + k * k) * st + k * (b + q) * tt
    return quadratic / (delta * delta) + k * P / delta


def _derivative(a, b, k, q):
    r""":math:`\dot V = P + k(1/S + 1/T + 1/\Delta)/(2\pi\sqrt\Delta)` (module docstring)."""
    delta = 1.0 + a + b + q
    root = jnp.sqrt(delta)
    terms = 1.0 / (1.0 + a) + 1.0 / (1.0 + b) + 1.0 / delta
    return _orthant(k, root) + k * terms / (2.0 * math.pi * root)


def _moments(r1, r2, plus, minus):
    a, b = r1 * r1, r2 * r2
    a, b = jnp.broadcast_to(a, plus.shape), jnp.broadcast_to(b, plus.shape)
    k = 0.25 * (plus - minus)
    q = 0.25 * plus * minus
    return _value(a, b, k, q), _derivative(a, b, k, q)


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
