r"""Exact mean-zero control variates for one network's empirical NNGP and NTK.

Why
---
A network's empirical kernels fluctuate around their seed mean by
``O(1/√n)``, and that noise is what limits the formula test. Most of it is
made layer by layer, and layer by layer its conditional mean is known in
closed form. Subtracting those known-mean pieces, pushed to the output by
the linearised infinite-width recursion, leaves an estimator with *the same
mean at every width* and a much smaller variance: a control variate
(Glasserman 2003, *Monte Carlo Methods in Financial Engineering*, §4.1).

Martingale differences
----------------------
Write ``Ĝ(h) = h hᵀ / n`` for the Gram matrix of a layer's ``n`` neurons,
``w = W_std²``, ``β = b_std²`` and ``V``, ``V̇`` for the ReLU's arc-cosine
expectations (Cho & Saul 2009, :func:`analytic.relu_moments`):
``V(Σ) = E[φ(z)φ(z)ᵀ]``, ``V̇(Σ) = E[φ'(z)φ'(z)ᵀ]`` for ``z ~ N(0, Σ)``.
In the NTK parameterization (notation of :mod:`harness.kernels.conditional._sampler`),
given everything computed before it, each layer's neurons are iid, so

* embedding: ``E[Ĝ(h_0)] = w XXᵀ/d + β =: K_0`` (a fixed matrix);
* block ``l``, inner layer: given ``h_l``, ``u_l ~ N(0, w Ĝ(h_l) + β)`` per
  neuron, so ``E[Ĝ(v_l) | h_l] = V(w Ĝ(h_l) + β)``;
* block ``l``, outer layer: given ``h_l`` and ``v_l``,
  ``h_{l+1} − h_l ~ N(0, w Ĝ(v_l) + β)`` per neuron, independent of ``h_l``,
  so ``E[Ĝ(h_{l+1}) | h_l, v_l] = Ĝ(h_l) + w Ĝ(v_l) + β``;
* readout weights ``r`` (drawn independently of the forward pass): the
  readout cotangent Gram ``(w/n) Σ_k r_k² m_k m_kᵀ`` (``m = 1[h_L > 0]``) has
  mean ``(w/n) Σ_k m_k m_kᵀ`` given the forward pass.

The differences ``M_0 = Ĝ(h_0) − K_0``, ``M_{v,l}``, ``M_{h,l}`` and
``M_r = (w/n) Σ_k (r_k² − 1) m_k m_kᵀ`` therefore have conditional mean
zero given everything before them (a martingale-difference sequence), and
so has any sum of them with *fixed* (non-random) coefficient maps.

The control variate
-------------------
Feed the differences into the covariance form of the infinite-width
recursion (:mod:`analytic._rmlp`) as perturbations,

.. math::

    K_0 + M_0 \to K_0',\qquad
    K_{v,l} = V(wK_l + β) + M_{v,l},\qquad
    K_{l+1} = K_l + wK_{v,l} + β + M_{h,l},

with the NTK recursion reading ``K_{v,l}`` for ``V(Σ_l)``, and take the
derivative at ``M = 0`` (``jax.jvp``). Its value, ``C``, is linear in the
``M`` with coefficients fixed by the *inputs alone* (the infinite-width
trajectory), so ``E[C] = 0`` exactly, at every width. The NTK's ``C`` adds
``M_r ⊙ Θ_L`` (``Θ_L`` the infinite-width NTK before the readout, which
multiplies the readout cotangent Gram in the recursion). ``K̂ − C`` is then
an unbiased estimator of ``E[K̂]`` whose first-order fluctuation from every
hidden layer cancels; what remains is mainly the last layer's
``Ĝ(φ(h_L)) − V(Ĝ(h_L))`` and, for the NTK, the backward noise inside the
blocks. The variance reduction achieved is measured in every run and
recorded in its results.

What this does and does not assume
----------------------------------
* Unbiasedness rests only on the one-layer Gaussian identities above (the
  arc-cosine formula for a single Gaussian layer, tested against quadrature
  in ``tests/kernels/test_control.py``), never on the formula being judged
  or on :mod:`analytic`'s multi-layer recursion: the recursion only supplies
  the coefficients, and *any* fixed coefficients keep ``E[C] = 0``. Numerical
  safeguards below that change coefficients therefore cost variance, not bias.
* The derivatives of ``V`` and ``V̇`` are written out (``custom_jvp``) so that
  they stay finite on the diagonal and for parallel inputs:
  ``∂V_ab = V̇_ab δ_ab + (sin θ_ab / 4π)(√(Σ_bb/Σ_aa) δ_aa + √(Σ_aa/Σ_bb) δ_bb)``
  and ``∂V̇_ab = ∂c_ab / (2π sin θ_ab)`` with
  ``∂c_ab = δ_ab/√(Σ_aa Σ_bb) − (c_ab/2)(δ_aa/Σ_aa + δ_bb/Σ_bb)``, set to 0
  where ``sin θ_ab < 10⁻³`` (nearly parallel or antipodal pairs) or a
  variance is 0.
* Float32 networks compute ``V`` of their own Gram matrices in float32; the
  rounding of that mean is ``O(ε)`` relative, far below any error the test
  can resolve.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from analytic import relu_moments
from analytic.activations import get_activation

__all__ = ["control_variates", "controls_apply", "readout_noise", "trace_grams"]

#: Pairs with ``sin θ`` below this get no ``∂V̇`` coefficient (see the module docstring).
_MIN_SINE = 1e-3


def _diagonal_moments(sigma):
    diag = jnp.diagonal(sigma)
    return relu_moments(diag[:, None], sigma, diag[None, :])


def _angle_parts(sigma):
    """``(diag, scale, cos θ, θ)`` of a covariance matrix, safe where a variance is 0."""
    diag = jnp.diagonal(sigma)
    scale = jnp.sqrt(diag[:, None] * diag[None, :])
    positive = scale > 0
    cosine = jnp.clip(jnp.where(positive, sigma / jnp.where(positive, scale, 1.0), 1.0), -1, 1)
    return diag, scale, cosine, jnp.arccos(cosine)


@jax.custom_jvp
def _second_moment(sigma):
    """``V(Σ)`` of a covariance matrix."""
    return _diagonal_moments(sigma)[0]


@_second_moment.defjvp
def _second_moment_jvp(primals, tangents):
    (sigma,), (delta,) = primals, tangents
    value, derivative = _diagonal_moments(sigma)
    diag, _, _, theta = _angle_parts(sigma)
    positive = diag > 0
    safe = jnp.where(positive, diag, 1.0)
    ratio = jnp.where(
        positive[:, None] & positive[None, :], jnp.sqrt(safe[None, :] / safe[:, None]), 0.0
    )
    d_diag = jnp.diagonal(delta)
    side = jnp.sin(theta) / (4 * math.pi)
    tangent = derivative * delta + side * (ratio * d_diag[:, None] + ratio.T * d_diag[None, :])
    return value, tangent


@jax.custom_jvp
def _derivative_moment(sigma):
    """``V̇(Σ)`` of a covariance matrix."""
    return _diagonal_moments(sigma)[1]


@_derivative_moment.defjvp
def _derivative_moment_jvp(primals, tangents):
    (sigma,), (delta,) = primals, tangents
    derivative = _diagonal_moments(sigma)[1]
    diag, scale, cosine, theta = _angle_parts(sigma)
    positive = diag > 0
    safe = jnp.where(positive, diag, 1.0)
    d_diag = jnp.where(positive, jnp.diagonal(delta) / safe, 0.0)
    d_cos = delta / jnp.where(scale > 0, scale, 1.0) - 0.5 * cosine * (
        d_diag[:, None] + d_diag[None, :]
    )
    sine = jnp.sin(theta)
    usable = (sine >= _MIN_SINE) & (scale > 0)
    tangent = jnp.where(usable, d_cos / (2 * math.pi * jnp.where(usable, sine, 1.0)), 0.0)
    return derivative, tangent


def _recursion(perturbations, k0, *, weight_var, bias_var):
    """``(NNGP, NTK, Θ_L)`` of the covariance recursion with perturbations (module docstring)."""
    m_0, branch_noise, hidden_noise = perturbations

    def block(carry, noise):
        k, theta = carry
        m_v, m_h = noise
        sigma = weight_var * k + bias_var
        k_v = _second_moment(sigma) + m_v
        theta = theta + weight_var * _derivative_moment(sigma) * (weight_var * theta + sigma)
        theta = theta + weight_var * k_v + bias_var
        return (k + weight_var * k_v + bias_var + m_h, theta), None

    (k, theta), _ = jax.lax.scan(block, (k0 + m_0, k0), (branch_noise, hidden_noise))
    nngp = weight_var * _second_moment(k)
    return nngp, weight_var * _derivative_moment(k) * theta + nngp, theta


def _gram(x, precision):
    """``Ĝ(x) = x xᵀ / n`` for ``x`` of shape ``(N, n)``."""
    return jnp.matmul(x, x.T, precision=precision) / x.shape[-1]


def controls_apply(activation, branch_scale: float) -> bool:
    """Whether this module has the control variates of a network with this architecture.

    They are written for the ReLU network with unit branch scale (the recursion and
    the ``custom_jvp`` rules above); any other network gets the control variate
    ``C = 0``, still exactly mean-zero, which removes no variance.
    """
    return get_activation(activation).name == "relu" and float(branch_scale) == 1.0


def readout_noise(last_hidden, readout, *, W_std, precision=None):
    """``M_r = (w/n) Σ_k mean_o(r_{ko}² − 1) m_k m_kᵀ``, ``m = 1[h_L > 0]``.

    Args:
      last_hidden: ``h_L``, shape ``(N, n)``.
      readout: the readout weights, ``(n,)`` or ``(n, K)`` (the NTK of ``K``
        outputs is their mean, so is its noise).
    """
    readout = jnp.asarray(readout)
    excess = jnp.mean(jnp.reshape(readout**2 - 1, (readout.shape[0], -1)), axis=1)
    mask = (last_hidden > 0).astype(last_hidden.dtype)
    return W_std**2 * jnp.matmul(mask * excess, mask.T, precision=precision) / mask.shape[-1]


def trace_grams(trace, *, precision=None):
    """``(hidden, branch)`` Gram matrices ``Ĝ(h_0 … h_L)`` and ``Ĝ(v_0 … v_{L-1})`` of a
    :class:`models.ForwardTrace`, shapes ``(L+1, N, N)`` and ``(L, N, N)``."""
    hidden = [_gram(h, precision) for h in (*trace.block_inputs, trace.last_hidden)]
    branch = [_gram(jax.nn.relu(u), precision) for u in trace.block_preactivations]
    n_inputs = trace.last_hidden.shape[0]
    empty = jnp.zeros((0, n_inputs, n_inputs), trace.last_hidden.dtype)
    return jnp.stack(hidden), jnp.stack(branch) if branch else empty


def control_variates(xs, hidden, branch, readout, *, W_std, b_std, precision=None):
    """``(C_nngp, C_ntk)``: the mean-zero control variates of one network (module docstring).

    Subtract them from the network's empirical NNGP and NTK. Traced and
    jittable; the arithmetic runs in the dtype of ``hidden``.

    Args:
      xs: the inputs ``(N, d)``.
      hidden: ``Ĝ(h_l) = h_l h_lᵀ / n`` for ``l = 0 … L``, shape ``(L+1, N, N)``.
      branch: ``Ĝ(v_l)``, ``v_l = φ(u_l)`` the block's inner activation, ``(L, N, N)``.
      readout: :func:`readout_noise` of the network.
      W_std, b_std: the architecture's scales.
    """
    dtype = hidden.dtype
    weight_var = jnp.asarray(W_std, dtype) ** 2
    bias_var = jnp.asarray(b_std, dtype) ** 2
    xs = jnp.asarray(xs, dtype)
    k0 = weight_var * jnp.matmul(xs, xs.T, precision=precision) / xs.shape[-1] + bias_var
    previous = hidden[:-1]
    m_0 = hidden[0] - k0
    m_v = branch - jax.vmap(_second_moment)(weight_var * previous + bias_var)
    m_h = hidden[1:] - (previous + weight_var * branch + bias_var)
    zero = (jnp.zeros_like(m_0), jnp.zeros_like(m_v), jnp.zeros_like(m_h))
    recursion = functools.partial(_recursion, k0=k0, weight_var=weight_var, bias_var=bias_var)
    (_, _, theta), (c_nngp, c_ntk, _) = jax.jvp(recursion, (zero,), ((m_0, m_v, m_h),))
    return c_nngp, c_ntk + readout * theta
