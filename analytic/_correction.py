r"""The :math:`O(1/n)` correction to the mean NNGP of the residual MLP, in float64.

At width :math:`n` the seed mean of the readout-marginalised NNGP
:math:`\hat K = w\,\varphi(h_L)\varphi(h_L)^\top/n` (the empirical kernel that
:mod:`harness.kernels` measures) is

.. math:: \mathbb E\hat K_n = K_\infty + \frac{A}{n} + O(n^{-2}),

and this module computes :math:`A`. The network is the one of
:mod:`analytic._rmlp` (``w = W_std²``, ``β = b_std²``, branch scale ``α``, every
hidden width ``n``, no readout bias).

Layer-wise expansion
--------------------
For a layer's Gram matrix :math:`\hat M = h h^\top/n` (``n`` units) write, entry by
entry on the distinct entries :math:`e = (a, b)`, :math:`a \le b`,

.. math:: \mathbb E\hat M = K + G/n + O(n^{-2}), \qquad
          n\,\mathrm{Cov}(\hat M_e, \hat M_f) = V_{ef} + O(1/n),

and let :math:`\Phi(S)_{ab} = \mathbb E_{z\sim N(0,S)}[\varphi(z_a)\varphi(z_b)]` be
the activation's kernel map, :math:`J = \partial\Phi/\partial S` and
:math:`H = \partial^2\Phi/\partial S^2` its derivatives in the distinct entries
(so that :math:`\delta\Phi_e = J_{ef}\delta S_f + \tfrac12 H_{efg}\delta S_f\delta S_g`
with each off-diagonal entry counted once). The three facts used are exact
consequences of the parameterization (Roberts, Yaida & Hanin 2022, *The Principles of
Deep Learning Theory*, ch. 4; Yaida 2020, *Non-Gaussian processes and neural networks
at finite widths*):

1. *A dense layer on* :math:`h`: given :math:`h`, the ``n`` units of
   :math:`u = (W_{std}/\sqrt n) hW + b_{std} b` are iid :math:`N(0, \hat\Sigma)` with
   :math:`\hat\Sigma = w\hat M + \beta`, so :math:`\hat\Sigma` has mean
   :math:`wK + \beta + wG/n` and covariance :math:`w^2 V/n`.
2. *An activation on fresh Gaussian units*: :math:`\hat\Phi = \varphi(u)\varphi(u)^\top/n`
   has :math:`\mathbb E[\hat\Phi\mid\hat\Sigma] = \Phi(\hat\Sigma)`, hence, expanding
   :math:`\Phi` to second order about the mean,

   .. math:: G_\Phi = J\,G_\Sigma + \tfrac12 H : V_\Sigma, \qquad
             V_\Phi = \mathrm{Cov}_{z\sim N(0,\Sigma)}(\varphi_a\varphi_b,\varphi_c\varphi_d)
                      + J V_\Sigma J^\top,

   and, :math:`\hat\Phi - \Phi(\hat\Sigma)` being conditionally centred,
   :math:`n\,\mathrm{Cov}(\hat M, \hat\Phi) = V_M\,(wJ)^\top`. This is the recursion
   :math:`G^{\ell+1} = C_W[\nabla\Phi\cdot G^\ell + \tfrac12\nabla^2\Phi : V^\ell]`,
   :math:`V^{\ell+1} = C_W^2[\mathrm{Cov}(\varphi\varphi, \varphi\varphi) +
   \nabla\Phi\, V^\ell\nabla\Phi^\top]` of the finite-width literature.
3. *The residual sum*: given :math:`h` and :math:`v = \varphi(u)`, the branch
   :math:`y = \alpha((W_{std}/\sqrt n) vB + b_{std} b)` has iid units
   :math:`N(0, \hat\Psi)`, :math:`\hat\Psi = \alpha^2(w\hat\Phi + \beta)`, so
   :math:`\hat M' = \hat M + yy^\top/n + (hy^\top + yh^\top)/n` has

   .. math:: G' = G + G_\Psi, \qquad
             V' = V + V_\Psi + X + X^\top + \mathcal W(\Psi) + \mathcal C(K, \Psi),

   with :math:`X = n\,\mathrm{Cov}(\hat M, \hat\Psi)`,
   :math:`\mathcal W(\Psi)_{ab,cd} = \Psi_{ac}\Psi_{bd} + \Psi_{ad}\Psi_{bc}` (the
   Wishart noise of :math:`yy^\top/n`) and
   :math:`\mathcal C(K,\Psi)_{ab,cd} = K_{ac}\Psi_{bd} + K_{ad}\Psi_{bc} + K_{bc}\Psi_{ad}
   + K_{bd}\Psi_{ac}` (that of the cross term; the three pieces are conditionally
   uncorrelated). The identity path carries :math:`G` and :math:`V` through unchanged.

The embedding's units are exactly iid :math:`N(0, K_0)`, :math:`K_0 = w\,xx^\top/d +
\beta`: :math:`G_0 = 0` and :math:`V_0 = \mathcal W(K_0)`.

*The readout* applies :math:`\varphi` to the residual stream :math:`h_L` itself, whose
units are not conditionally Gaussian. One unit's law is still fixed to
:math:`O(1/n)` by its covariance :math:`K + G/n` and its fourth cumulant (the third
vanishes: flipping the signs of the embedding, of every block's second layer and of
the inner layer's weights maps :math:`h \to -h` and leaves the weights' law
unchanged). Following the single-unit fourth moment through rule 3 shows that it is
:math:`\kappa_{abcd} = (V^{\rm lat}_{ab,cd} + V^{\rm lat}_{ac,bd} +
V^{\rm lat}_{ad,bc})/n` with :math:`V^{\rm lat} = V - \mathcal W(K)`, at the
embedding (both zero) and after every block (both gain
:math:`V_\Psi + X + X^\top`): the unit is, to this order, a centred Gaussian with a
random covariance of mean :math:`K + G/n` and covariance :math:`V^{\rm lat}/n`. So

.. math:: A = w\left[J(K_L)\,G_L + \tfrac12 H(K_L) : V^{\rm lat}_L\right].

Everything is per pair of inputs: an entry :math:`(a, b)` of :math:`A` needs the
recursion on the two inputs :math:`a, b` alone (three distinct entries, a
:math:`3\times 3` :math:`V`), and a diagonal entry on input :math:`a` alone.

Sharp facts (tested): for a linear :math:`\varphi`, :math:`H = 0` and :math:`G`
stays 0, so :math:`A = 0`; with no block, :math:`A = 0`; for a positively homogeneous
:math:`\varphi` (ReLU, leaky ReLU, ABReLU) :math:`\Phi_{aa} = g\,S_{aa}` is linear, so
:math:`G_{aa}` stays 0 and the diagonal of :math:`A` vanishes, with or without biases
and blocks.

The Gaussian expectations
-------------------------
With :math:`z_1 = \sigma_1 r\cos t`, :math:`z_2 = \sigma_2 r\cos(t - \theta)`,
:math:`\cos\theta = \rho` (:math:`r` Rayleigh, :math:`t` uniform), a positively
homogeneous :math:`\varphi` gives

.. math:: \mathbb E[\varphi(z_1)^p\varphi(z_2)^q] = \sigma_1^p\sigma_2^q\,
          2^{k/2}\Gamma(1 + k/2)\,\frac1{2\pi}\int_{-\pi/2}^{3\pi/2}
          \varphi(\cos t)^p\varphi(\cos(t-\theta))^q\,dt, \quad k = p + q,

a trigonometric polynomial on each of the four arcs between the kinks
:math:`-\pi/2, \theta - \pi/2, \pi/2, \theta + \pi/2`; Gauss–Legendre with
:data:`ARC_NODES` nodes per arc is exact to rounding, and so are its derivatives in
:math:`\theta` (the arcs move with :math:`\theta` inside the differentiated rule).
:math:`p + q = 2` is the arc-cosine kernel (Cho & Saul 2009); :math:`p + q = 4` are the
fourth moments of the truncated bivariate normal. A smooth :math:`\varphi` (erf, GELU,
sine, tanh, a user's) uses a tensor composite Gauss–Legendre rule in whitened
coordinates on :math:`[-9, 9]^2`, its panels graded towards 0, at two orders
(:data:`SMOOTH_RULES`), and :math:`A` is
refused where they differ by more than :data:`QUADRATURE_AGREEMENT`. (Gauss–Hermite
converges too slowly here: ``E[erf(z)⁴]`` at 64 and 128 nodes still differ by 1e-5,
because ``erf`` grows like :math:`e^{z^2}` off the real axis.) :math:`J` and :math:`H`
are derivatives of these rules (``jax.jacfwd``), in float64 throughout.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from analytic._architecture import Architecture
from analytic._float64 import float64_on_cpu
from analytic._validation import validate_inputs
from analytic.activations import Activation

__all__ = ["rmlp_nngp_correction"]

#: Gauss–Legendre nodes per arc between kinks (homogeneous activations).
ARC_NODES = 24
#: Composite Gauss–Legendre rules ``(panels, nodes per panel)`` per whitened coordinate
#: for smooth activations: the check and the result.
SMOOTH_RULES = ((20, 16), (28, 20))
#: Whitened coordinates are integrated over ``[-T, T]`` (the tail beyond is below 1e-17).
TRUNCATION = 9.0
#: Panels are ``T sinh(c u)/sinh(c)`` for ``u`` uniform: denser near 0, where a
#: saturating or GELU-like activation turns at large variances.
GRADING = 2.5
#: Largest relative difference (Frobenius) between the two rules.
QUADRATURE_AGREEMENT = 1e-9
#: Correlations beyond this are too close to a duplicate (or antipodal) pair for the
#: derivatives of the kernel map, which diverge at :math:`|\rho| = 1`.
MAX_CORRELATION = 1.0 - 1e-6

# Distinct entries of a one- and a two-input system: (a, b) with a <= b.
_ENTRIES = {1: ((0, 0),), 2: ((0, 0), (1, 1), (0, 1))}


def _moments_homogeneous(phi, p: int, q: int, s11, s22, s12):
    """:math:`\\mathbb E[\\varphi(z_1)^p\\varphi(z_2)^q]`, positively homogeneous φ, p, q ≥ 1."""
    nodes, weights = np.polynomial.legendre.leggauss(ARC_NODES)
    sigma1, sigma2 = jnp.sqrt(s11), jnp.sqrt(s22)
    theta = jnp.arccos(s12 / (sigma1 * sigma2))
    half = math.pi / 2
    edges = jnp.stack([-half, theta - half, half, theta + half, 3 * half])
    lo, hi = edges[:-1, None], edges[1:, None]
    t = 0.5 * (hi - lo) * nodes[None, :] + 0.5 * (hi + lo)
    integrand = phi(jnp.cos(t)) ** p * phi(jnp.cos(t - theta)) ** q
    arc = jnp.sum(0.5 * (hi - lo) * weights[None, :] * integrand)
    k = p + q
    radial = 2.0 ** (k / 2) * math.gamma(1 + k / 2)
    return sigma1**p * sigma2**q * radial * arc / (2 * math.pi)


def _single_homogeneous(phi, k: int, s):
    """:math:`\\mathbb E[\\varphi(z)^k]`, :math:`z \\sim N(0, s)`, positively homogeneous φ."""
    positive = phi(jnp.ones((), s.dtype)) ** k
    negative = phi(-jnp.ones((), s.dtype)) ** k
    half_moment = 2.0 ** (k / 2) * math.gamma((k + 1) / 2) / (2 * math.sqrt(math.pi))
    return s ** (k / 2) * (positive + negative) * half_moment


def _panel_rule(panels: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre on ``[-T, T]`` times the standard normal density."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    edges = TRUNCATION * np.sinh(GRADING * np.linspace(-1.0, 1.0, panels + 1)) / np.sinh(GRADING)
    half = 0.5 * np.diff(edges)[:, None]
    points = (half * x[None, :] + 0.5 * (edges[1:] + edges[:-1])[:, None]).ravel()
    weights = (half * w[None, :]).ravel() * np.exp(-0.5 * points**2) / math.sqrt(2 * math.pi)
    return points, weights


def _moments_smooth(phi, rule, p: int, q: int, s11, s22, s12):
    """The same expectation for a smooth φ: a composite rule in whitened coordinates."""
    nodes, weights = _panel_rule(*rule)
    sigma1, sigma2 = jnp.sqrt(s11), jnp.sqrt(s22)
    rho = s12 / (sigma1 * sigma2)
    z1 = sigma1 * nodes[:, None]
    z2 = sigma2 * (rho * nodes[:, None] + jnp.sqrt(1.0 - rho**2) * nodes[None, :])
    return jnp.sum(weights[:, None] * weights[None, :] * phi(z1) ** p * phi(z2) ** q)


def _single_smooth(phi, rule, k: int, s):
    nodes, weights = _panel_rule(*rule)
    return jnp.sum(weights * phi(jnp.sqrt(s) * nodes) ** k)


class _Moments:
    """Gaussian expectations of products of φ at one or two inputs, differentiable in S."""

    def __init__(self, activation: Activation, order: tuple[int, int] | None):
        phi = activation.fn
        if order is None:
            self.pair = functools.partial(_moments_homogeneous, phi)
            self.single = functools.partial(_single_homogeneous, phi)
        else:
            self.pair = functools.partial(_moments_smooth, phi, order)
            self.single = functools.partial(_single_smooth, phi, order)

    def product(self, indices, s):
        """:math:`\\mathbb E[\\prod_i \\varphi(z_{a_i})]` for a two-input covariance ``s``."""
        p = sum(1 for i in indices if i == 0)
        q = len(indices) - p
        if q == 0:
            return self.single(p, s[0, 0])
        if p == 0:
            return self.single(q, s[1, 1])
        return self.pair(p, q, s[0, 0], s[1, 1], s[0, 1])


def _matrix(vector, size: int):
    """Symmetric ``(size, size)`` matrix from its distinct entries (the order of ``_ENTRIES``)."""
    out = jnp.zeros((size, size), vector.dtype)
    for value, (a, b) in zip(vector, _ENTRIES[size], strict=True):
        out = out.at[a, b].set(value).at[b, a].set(value)
    return out


def _wishart(k, size: int):
    entries = _ENTRIES[size]
    return jnp.stack(
        [jnp.stack([k[a, c] * k[b, d] + k[a, d] * k[b, c] for c, d in entries]) for a, b in entries]
    )


def _cross(k, psi, size: int):
    entries = _ENTRIES[size]
    rows = []
    for a, b in entries:
        rows.append(
            jnp.stack(
                [
                    k[a, c] * psi[b, d]
                    + k[a, d] * psi[b, c]
                    + k[b, c] * psi[a, d]
                    + k[b, d] * psi[a, c]
                    for c, d in entries
                ]
            )
        )
    return jnp.stack(rows)


def _system_correction(moments: _Moments, size: int, k0, blocks: int, w, beta, alpha2):
    """:math:`A` on the distinct entries of a one- or two-input system with input Gram ``k0``."""
    entries = _ENTRIES[size]

    def kernel_map(svec):
        s = _matrix(svec, size)
        return jnp.stack([moments.product((a, b), s) for a, b in entries])

    def fourth(svec):
        s = _matrix(svec, size)
        return jnp.stack(
            [jnp.stack([moments.product((a, b, c, d), s) for c, d in entries]) for a, b in entries]
        )

    jacobian = jax.jacfwd(kernel_map)
    hessian = jax.jacfwd(jacobian)

    def half_curvature(svec, v):
        return 0.5 * jnp.einsum("efg,fg->e", hessian(svec), v)

    def block(_, carry):
        k, g, v = carry
        sigma = w * k + beta
        g_sigma, v_sigma = w * g, w * w * v
        phi = kernel_map(sigma)
        j = jacobian(sigma)
        g_phi = j @ g_sigma + half_curvature(sigma, v_sigma)
        v_phi = fourth(sigma) - jnp.outer(phi, phi) + j @ v_sigma @ j.T
        psi = alpha2 * (w * phi + beta)
        x = alpha2 * w * (v @ (w * j).T)
        k_matrix, psi_matrix = _matrix(k, size), _matrix(psi, size)
        v_next = (
            v
            + alpha2 * alpha2 * w * w * v_phi
            + x
            + x.T
            + _wishart(psi_matrix, size)
            + _cross(k_matrix, psi_matrix, size)
        )
        return k + psi, g + alpha2 * w * g_phi, v_next

    k0vec = jnp.stack([k0[a, b] for a, b in entries])
    start = (k0vec, jnp.zeros_like(k0vec), _wishart(k0, size))
    k, g, v = jax.lax.fori_loop(0, blocks, block, start)
    latent = v - _wishart(_matrix(k, size), size)
    return w * (jacobian(k) @ g + half_curvature(k, latent))


@functools.partial(jax.jit, static_argnames=("activation", "order"))
def _correction(xs, blocks, w, beta, alpha2, activation, order):
    moments = _Moments(activation, order)
    gram = w * (xs @ xs.T) / xs.shape[1] + beta
    n = xs.shape[0]

    def diagonal(a):
        k0 = gram[a, a][None, None]
        return _system_correction(moments, 1, k0, blocks, w, beta, alpha2)[0]

    def off_diagonal(a, b):
        k0 = jnp.stack([jnp.stack([gram[a, a], gram[a, b]]), jnp.stack([gram[a, b], gram[b, b]])])
        return _system_correction(moments, 2, k0, blocks, w, beta, alpha2)[2]

    out = jnp.diag(jax.vmap(diagonal)(jnp.arange(n)))
    if n > 1:
        rows, cols = np.triu_indices(n, k=1)
        values = jax.vmap(off_diagonal)(jnp.asarray(rows), jnp.asarray(cols))
        out = out.at[rows, cols].set(values).at[cols, rows].set(values)
    return out


def rmlp_nngp_correction(
    xs,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    *,
    activation: str | Activation = "relu",
    branch_scale: float = 1.0,
) -> np.ndarray:
    """The :math:`1/n` coefficient :math:`A` of the mean NNGP (module docstring), ``(N, N)``.

    ``E K̂_n = K_∞ + A/n + O(1/n²)`` for the readout-marginalised empirical NNGP of the
    residual MLP at width ``n`` (every hidden layer), with ``K_∞`` from
    :func:`analytic.rmlp_nngp`. Arguments as there.

    Raises:
      ValueError: on invalid arguments; for an activation that is neither positively
        homogeneous nor smooth (the expansion needs a twice-differentiable kernel map
        and a quadrature this module can trust); for two inputs whose first-layer
        correlation is within 1e-6 of ±1 (the kernel map's derivatives diverge there);
        and when the two quadrature orders of a smooth activation disagree by more than
        :data:`QUADRATURE_AGREEMENT` (a function too rough for the quadrature at these
        variances).
    """
    arch = Architecture(num_res_blocks, W_std, b_std, activation, branch_scale)
    phi = arch.phi
    if not (phi.exact or phi.smooth):
        raise ValueError(
            f"no correction formula for activation {phi.name!r}: it is neither positively "
            "homogeneous nor smooth"
        )
    x = validate_inputs(xs).astype(np.float64)
    w, beta, alpha2 = arch.W_std**2, arch.b_std**2, arch.branch_scale**2
    gram = w * (x @ x.T) / x.shape[1] + beta
    diag = np.sqrt(np.diag(gram))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = gram / np.outer(diag, diag)
    off = ~np.eye(len(x), dtype=bool)
    if np.any(diag == 0.0):
        raise ValueError("an input is zero and b_std is 0: its kernel row is zero")
    if np.any(np.abs(rho[off]) > MAX_CORRELATION):
        raise ValueError(
            "two inputs are (anti)parallel to within 1e-6 in correlation; the correction's "
            "kernel-map derivatives diverge there"
        )
    args = (x, arch.num_res_blocks, w, beta, alpha2, phi)
    with float64_on_cpu():
        if phi.exact:
            result = np.asarray(_correction(*args, None))
        else:
            result, check = (np.asarray(_correction(*args, order)) for order in SMOOTH_RULES)
            scale = np.linalg.norm(check)
            if scale > 0 and np.linalg.norm(result - check) > QUADRATURE_AGREEMENT * scale:
                raise ValueError(
                    f"the quadrature rules {SMOOTH_RULES} disagree on the correction for "
                    f"{phi.name!r} by more than {QUADRATURE_AGREEMENT:g}; the activation is too "
                    "rough at these variances"
                )
            result = check
    if not np.all(np.isfinite(result)):
        raise ValueError(
            "the correction is not finite: a pair's correlation reaches ±1 in some layer (the "
            "kernel map's derivatives diverge there) or float64 overflowed"
        )
    return result
