"""The O(1/n) correction of the mean NNGP (:mod:`analytic._correction`) against truths
that do not share its code.

1. *Gaussian expectations* ``E[φ(z1)^p φ(z2)^q]`` (``p, q >= 1``, ``p + q`` in {2, 4}) and
   ``E[φ(z)^k]`` (``k`` = 2, 4), the raw material of ``A``:

   * ReLU, leaky ReLU (0.1), ABReLU (-0.5, 1), the arc rule: a 30-digit mpmath reference
     (:func:`mp_homogeneous`) that conditions on ``z1``: ``E[φ(z2)^q | z1]`` is a closed
     form (truncated-normal moments), integrated over ``z1`` by a composite Gauss–Legendre
     rule with a break at the kink (20 and 30 points per piece agree to 3e-30).
     Correlations -0.9, -0.3, 0.2, 0.95 with unequal variances. Bound 1e-13 (the rule is
     exact, so this is rounding); measured at most 1.9e-15.
   * erf, GELU, tanh, the composite rule ``SMOOTH_RULES[-1]``, variances up to 10,
     correlations -0.9, -0.3, 0.56, 0.95: erf and GELU by the same conditioning, with
     ``E[φ(z2) | z1]`` in closed form (``q = 1``; ``(1, 3)`` conditions on ``z2``), at 30
     digits; erf ``(2, 2)`` by Plackett's formula, a one-dimensional integral of closed
     forms (:func:`mp_erf_squares`); GELU ``(2, 2)`` and every tanh pair from
     :data:`GOLDEN`, a 20-digit nested ``mpmath.quad`` (:func:`mp_pair_nested`), whose
     method reproduces the erf reduction to 1.1e-20 on all four covariances (a test;
     ``CORRECTION_GOLDEN=one`` or ``all`` recomputes stored values). Bound 1e-11, the
     figure asked for: the measured errors are at most 6.9e-16, and the module's two
     rules differ by at most 4.4e-16 on the same cases (its own error estimate; it
     refuses ``A`` beyond 1e-9).

2. *Derivatives*: ``jax.jacfwd`` once and twice of ``E φ(z1)φ(z2)`` in
   ``(s11, s22, s12)`` and of ``E φ(z)²`` in ``s`` (the ``J`` and ``H`` of ``A``), against
   ``mpmath.diff`` (central differences at 30 digits, whose own error is far below 1e-20)
   of the closed forms of :func:`tests.analytic._mp_activations.mp_moments` (arc-cosine
   kernels, Cho & Saul 2009; erf, Williams 1997; exact GELU), at correlations -0.49, 0.9,
   0.28. Float64 differences would only give ~1e-7; these allow 1e-12 relative to the
   largest entry (rounding of the rule, amplified by at most ``1/sin³θ ≈ 12``); measured
   at most 2.9e-15.

3. *Sharp facts of the theory* (module docstring): ReLU, leaky ReLU, ABReLU have an
   exactly zero diagonal of ``A`` (depths 1, 3, 6; ``b_std`` 0, 0.5; branch scale 1,
   0.5; measured exactly 0); the identity has ``A = 0`` (measured ``|A| <= 2.1e-15
   max|K|``); no block gives ``A = 0`` exactly; ReLU's off-diagonal ``A`` is negative
   (5 Gaussian input sets, 4 architectures; the largest is -0.10 of the largest
   magnitude).

4. *Instantiated networks* (the real truth): ``E K̂_n`` from many networks of the
   documented architecture per width, written here in NumPy float64
   (:func:`draw_networks`). Each product ``h W`` with a fresh weight matrix is drawn
   from its exact law (``L Z``, ``L Lᵀ = h hᵀ``: the columns of ``h W`` are iid
   ``N(0, h hᵀ)`` and no weight is used twice), the network's law exactly at ``N/n`` of
   the cost; control variates of exactly zero mean, with coefficients fitted on the
   other half of the draws, cut the variance 2-3 times. ``A`` is estimated by weighted
   least squares of ``m_n - K_∞ = A/n + B/n²`` over the widths, entry by entry
   (:func:`measure_correction`), and compared with the formula at the Bonferroni
   two-sided 1e-3 level over the six distinct entries (``z <= 3.76``); the measurement
   must resolve the largest entries to 20% and reject ``1.3 A``. Widths 8, 16, 32: a
   million networks per width (ReLU, widths 4 to 24) agree with the formula
   (three-term fit: ``z`` -0.7 and -0.4 on the two largest entries) and show the
   ``C/n³`` term biasing a two-term fit that includes width 4 by 4% of ``A`` (2σ
   there); its size (``C ≈ -3.7``) puts the bias from width 8 on near 1% of ``A``
   (0.2 se here).

Measured when written (2 CPU cores shared with other jobs; ``pytest -s`` prints the
figures): ReLU (depth 2, ``W_std`` 1.2, ``b_std`` 0.4) ``|z| <= 2.3``, se 5.2% and 4.8%
of the two largest entries, ``1.3 A`` rejected at ``z`` = 3.98 and 4.34; erf (depth 2,
1.5, 0.3) ``|z| <= 1.1``, se 4.7% of the largest, ``1.3 A`` rejected at 6.1; ReLU
(depth 1, 2.0, 0.4, branch scale 0.5) ``|z| <= 0.73``, se 4.7% and 6.1%, ``1.3 A``
rejected at 6.7 and 5.3.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from statistics import NormalDist

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy.special import erf as scipy_erf

import analytic
from analytic._correction import SMOOTH_RULES
from analytic._correction import _moments_homogeneous
from analytic._correction import _moments_smooth
from analytic._correction import _single_homogeneous
from analytic._correction import _single_smooth
from analytic.activations import get_activation
from tests.analytic._mp_activations import mp_moments

# ---------------------------------------------------------------------------------------
# mpmath references for the Gaussian expectations
# ---------------------------------------------------------------------------------------

#: Digits of the live references.
DIGITS = 30
#: Break points (and their negatives) of the composite rule in a standard normal
#: variable: graded towards 0, where a kink sits or a steep activation turns.
_EDGES = (0.0, 0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.5, 6.0, 8.0, 10.0, 13.0)
#: Gauss–Legendre points per piece (20 and 30 agree to 3e-30 on every case below).
_NODES = 20

#: (negative slope, positive slope) of the positively homogeneous activations.
HOMOGENEOUS = {"relu": (0.0, 1.0), "leaky_relu:0.1": (0.1, 1.0), "abrelu:-0.5,1": (-0.5, 1.0)}
#: (p, q) of E[φ(z1)^p φ(z2)^q] with p, q >= 1 and p + q in {2, 4}.
PAIRS = ((1, 1), (1, 3), (2, 2), (3, 1))


def _covariance(var1: float, var2: float, rho: float) -> tuple[float, float, float]:
    return var1, var2, rho * math.sqrt(var1 * var2)


#: Correlations -0.9, -0.3, 0.2, 0.95; unequal variances.
HOMOGENEOUS_COVARIANCES = (
    _covariance(1.0, 1.0, -0.9),
    _covariance(0.3, 2.5, -0.3),
    _covariance(4.0, 0.7, 0.2),
    _covariance(2.0, 0.5, 0.95),
)
#: Correlations -0.9, 0.56, 0.95, -0.30; variances up to 10.
SMOOTH_COVARIANCES = ((0.5, 2.0, -0.9), (10.0, 2.0, 2.5), (3.0, 3.0, 2.85), (1.0, 10.0, -0.95))


@functools.cache
def _constants(dps: int) -> tuple:
    with mpmath.workdps(dps):
        return 1 / mpmath.sqrt(2 * mpmath.pi), 1 / mpmath.sqrt(2)


def _npdf(x):
    return _constants(mpmath.mp.dps)[0] * mpmath.exp(-x * x / 2)


def _ncdf(x):
    return mpmath.erfc(-x * _constants(mpmath.mp.dps)[1]) / 2


@functools.cache
def _normal_rule(nodes: int, dps: int) -> tuple:
    """``(x, weight · pdf(x))`` of a composite Gauss–Legendre rule on ``[-13, 13]``.

    The standard normal tail beyond 13 is 2e-37 (times at most a fourth power of the
    integrand's growth), below the 30 digits used.
    """
    with mpmath.workdps(dps + 10):
        x, w = mpmath.mp.gauss_quadrature(nodes, "legendre")
        edges = sorted({mpmath.mpf(e) for e in _EDGES} | {-mpmath.mpf(e) for e in _EDGES})
        rule = []
        for lo, hi in itertools.pairwise(edges):
            half, mid = (hi - lo) / 2, (hi + lo) / 2
            for xi, wi in zip(x, w, strict=True):
                point = mid + half * xi
                rule.append((point, half * wi * mpmath.npdf(point)))
    with mpmath.workdps(dps):
        return tuple((+point, +weight) for point, weight in rule)


def _normal_expectation(f, nodes: int = _NODES) -> list:
    """``E f(x)`` for a standard normal ``x``, componentwise for ``f`` returning a list;
    ``f`` is analytic on each side of 0 (a break point of the rule)."""
    total = None
    for x, weight in _normal_rule(nodes, mpmath.mp.dps):
        values = f(x)
        if total is None:
            total = [weight * v for v in values]
        else:
            total = [t + weight * v for t, v in zip(total, values, strict=True)]
    return total


def _positive_moments(m, tau, top: int) -> list:
    """``E[Y^q 1{Y > 0}]`` for ``Y ~ N(m, tau²)``, ``q = 0 .. top``.

    ``Y = m + tau X``; with ``c = m/tau``, ``I_j = E[X^j 1{X > -c}]`` satisfies
    ``I_0 = Φ(c)``, ``I_1 = pdf(c)``, ``I_j = (-c)^(j-1) pdf(c) + (j - 1) I_(j-2)``
    (integration by parts), and the binomial theorem does the rest.
    """
    c = m / tau
    pdf = _npdf(c)
    partial = [_ncdf(c), pdf]
    for j in range(2, top + 1):
        partial.append((-c) ** (j - 1) * pdf + (j - 1) * partial[j - 2])
    return [
        sum(math.comb(q, j) * m ** (q - j) * tau**j * partial[j] for j in range(q + 1))
        for q in range(top + 1)
    ]


def mp_homogeneous(slopes, s11, s22, s12, nodes: int = _NODES) -> list:
    """``[E φ(z1)^p φ(z2)^q for PAIRS] + [E φ(z1)^2, E φ(z1)^4]`` for the activation with
    ``(negative, positive)`` slopes.

    Conditioned on ``z1``, ``z2 ~ N(s12/s11 · z1, s22 - s12²/s11)`` and
    ``E[φ(z2)^q | z1] = pos^q E[z2^q 1{z2 > 0}] + (-neg)^q E[(-z2)^q 1{-z2 > 0}]`` in closed
    form (:func:`_positive_moments`); the expectation over ``z1`` is the composite rule.
    """
    neg, pos = (mpmath.mpf(v) for v in slopes)
    s11, s22, s12 = (mpmath.mpf(v) for v in (s11, s22, s12))
    sigma, slope, tau = mpmath.sqrt(s11), s12 / s11, mpmath.sqrt(s22 - s12 * s12 / s11)

    def integrand(x):
        z1 = sigma * x
        phi1 = pos * z1 if x >= 0 else neg * z1
        up = _positive_moments(slope * z1, tau, 3)
        down = _positive_moments(-slope * z1, tau, 3)
        inner = [pos**q * up[q] + (-neg) ** q * down[q] for q in range(4)]
        return [phi1**p * inner[q] for p, q in PAIRS] + [phi1**2, phi1**4]

    return _normal_expectation(integrand, nodes)


def _mp_phi(name: str):
    if name == "erf":
        return mpmath.erf
    if name == "gelu":
        return lambda x: x * _ncdf(x)
    if name == "tanh":
        return mpmath.tanh
    raise ValueError(name)


def _conditional_mean(name: str, m, tau):
    """``E φ(m + tau X)`` for a standard normal ``X``, in closed form.

    erf: ``erf(m / √(1 + 2tau²))``. GELU (``y Φ(y)``): by Stein's lemma
    ``E[Y Φ(Y)] = m E Φ(Y) + tau² E pdf(Y)``, with ``E Φ(Y) = Φ(m/r)`` and
    ``E pdf(Y) = pdf(m/r)/r``, ``r = √(1 + tau²)``.
    """
    if name == "erf":
        return mpmath.erf(m / mpmath.sqrt(1 + 2 * tau * tau))
    r = mpmath.sqrt(1 + tau * tau)
    return m * _ncdf(m / r) + tau * tau * _npdf(m / r) / r


def mp_smooth_conditioned(name: str, s11, s22, s12, nodes: int = _NODES) -> list:
    """``[E φ1 φ2, E φ1³ φ2, E φ1², E φ1⁴, E φ1² φ(κ z1)²]`` (``φi = φ(zi)``) for erf and
    GELU: conditioned on ``z1``, ``E[φ(z2) | z1]`` is :func:`_conditional_mean` of
    ``m = s12/s11 · z1``, ``tau² = s22 - s12²/s11``; the last entry (erf only, with
    ``κ = (s12/s11)/√(1 + 2tau²)``) is the first term of :func:`mp_erf_squares`."""
    phi = _mp_phi(name)
    s11, s22, s12 = (mpmath.mpf(v) for v in (s11, s22, s12))
    sigma, slope, tau = mpmath.sqrt(s11), s12 / s11, mpmath.sqrt(s22 - s12 * s12 / s11)

    def integrand(x):
        phi1 = phi(sigma * x)
        inner = _conditional_mean(name, slope * sigma * x, tau)
        out = [phi1 * inner, phi1**3 * inner, phi1**2, phi1**4]
        if name == "erf":
            out.append(phi1**2 * inner**2)
        return out

    return _normal_expectation(integrand, nodes)


def mp_erf_squares(s11, s22, s12, first=None):
    """``E[erf(z1)² erf(z2)²]`` by one-dimensional integrals of closed forms.

    Given ``z1``, ``z2 = m + tau X``. Writing ``erf(y) = E sign(y - g/√2)``
    (``g ~ N(0, 1)``), ``erf(z2)² = E[sign U1 sign U2]`` with ``U_i = z2 - g_i/√2``:
    mean ``m``, variance ``h = tau² + 1/2``, covariance ``tau²``. Then
    ``E[erf(z2)² | z1] = 1 - 4Φ(c) + 4Φ2(c, c; r)`` with ``c = m/√h``, ``r = tau²/h``, and
    Plackett's formula ``Φ2(c, c; r) = Φ(c)² + (1/2π) ∫_0^r e^(-c²/(1+t)) / √(1-t²) dt``
    gives ``erf(m/√(1 + 2tau²))² + (2/π) ∫_0^r e^(-c²/(1+t)) / √(1-t²) dt``. With
    ``m = s12/s11 · z1``, ``c²/(1 + t) = γ(t) z1²``, and the ``z1`` expectation of
    ``erf(z1)² e^(-γ z1²)`` is ``(2/π) asin(2v/(1 + 2v)) / √(1 + 2γ s11)``,
    ``v = s11/(1 + 2γ s11)`` (Williams' kernel at the narrowed variance ``v``). ``first``:
    the last entry of :func:`mp_smooth_conditioned`, if already computed.
    """
    if first is None:
        first = mp_smooth_conditioned("erf", s11, s22, s12)[4]
    s11, s22, s12 = (mpmath.mpf(v) for v in (s11, s22, s12))
    slope, tau2 = s12 / s11, s22 - s12 * s12 / s11
    h = tau2 + mpmath.mpf(1) / 2

    def integrand(t):
        gamma = slope * slope / (h * (1 + t))
        v = s11 / (1 + 2 * gamma * s11)
        williams = 2 / mpmath.pi * mpmath.asin(2 * v / (1 + 2 * v))
        return williams / mpmath.sqrt(1 + 2 * gamma * s11) / mpmath.sqrt(1 - t * t)

    return first + 2 / mpmath.pi * mpmath.quad(integrand, [0, tau2 / h])


def mp_pair_nested(name: str, p: int, q: int, s11, s22, s12):
    """``E[φ(z1)^p φ(z2)^q]`` by a nested (two-dimensional) ``mpmath.quad`` (tanh-sinh):
    the source of :data:`GOLDEN` (one to three minutes each at 20 digits)."""
    phi = _mp_phi(name)
    s11, s22, s12 = (mpmath.mpf(v) for v in (s11, s22, s12))
    slope, tau, sigma = s12 / s11, mpmath.sqrt(s22 - s12 * s12 / s11), mpmath.sqrt(s11)
    inf = mpmath.inf

    def inner(z1):
        shift = slope * z1
        return mpmath.quad(lambda y: phi(shift + tau * y) ** q * _npdf(y), [-inf, inf])

    return mpmath.quad(lambda x: phi(sigma * x) ** p * inner(sigma * x) * _npdf(x), [-inf, 0, inf])


# ---------------------------------------------------------------------------------------
# Instantiated networks
# ---------------------------------------------------------------------------------------


def _arccos_map(s):
    """``E[relu(u_a) relu(u_b)]`` for every pair of the covariances ``s`` (``(B, N, N)``):
    the degree-1 arc-cosine kernel (Cho & Saul 2009)."""
    scale = np.sqrt(np.einsum("bii->bi", s))
    outer = scale[:, :, None] * scale[:, None, :]
    cosine = np.clip(s / outer, -1.0, 1.0)
    theta = np.arccos(cosine)
    return outer / (2 * np.pi) * (np.sqrt(1.0 - cosine**2) + (np.pi - theta) * cosine)


def _williams_map(s):
    """``E[erf(u_a) erf(u_b)]`` for every pair of ``s`` (Williams 1997)."""
    grow = 1.0 + 2.0 * np.einsum("bii->bi", s)
    return (
        2 / np.pi * np.arcsin(np.clip(2 * s / np.sqrt(grow[:, :, None] * grow[:, None, :]), -1, 1))
    )


#: φ (NumPy) and its kernel map, for the networks.
NETWORK_ACTIVATIONS = {
    "relu": (lambda x: np.maximum(x, 0.0), _arccos_map),
    "erf": (scipy_erf, _williams_map),
}


def _square_root(gram):
    """A lower-triangular ``L`` with ``L Lᵀ = gram``, for a stack of PSD matrices.

    Cholesky without pivoting, with a zero pivot giving a zero column: exact for the
    singular Grams of ReLU layers in which an input has no active unit.
    """
    size = gram.shape[-1]
    root = np.zeros_like(gram)
    for j in range(size):
        pivot = np.sqrt(np.maximum(gram[:, j, j] - np.sum(root[:, j, :j] ** 2, axis=1), 0.0))
        root[:, j, j] = pivot
        safe = np.where(pivot > 0, pivot, 1.0)
        for i in range(j + 1, size):
            rest = gram[:, i, j] - np.sum(root[:, i, :j] * root[:, j, :j], axis=1)
            root[:, i, j] = np.where(pivot > 0, rest / safe, 0.0)
    return root


def _product(h, scale, rng):
    """``scale · h W`` for a fresh ``W`` (``n × n``, iid ``N(0, 1)``), drawn from its law.

    Each column of ``h W`` (``h``: ``(B, N, n)``) is ``N(0, h hᵀ)`` and the columns are
    independent, so ``h W`` has the law of ``L Z``, ``L Lᵀ = h hᵀ``, ``Z`` iid ``N(0, 1)``
    (``N × n``): exact, and ``n/N`` times fewer normals than forming ``W``.
    """
    count, size, width = h.shape
    root = _square_root(h @ h.transpose(0, 2, 1))
    return scale * (root @ rng.standard_normal((count, size, width)))


def _entries(m):
    rows, cols = np.triu_indices(m.shape[-1])
    return m[:, rows, cols]


def draw_networks(xs, width, arch, count, rng):
    """The distinct entries of ``K̂`` of ``count`` networks, and their controls.

    The network: ``h0 = (W_std/√d) x W_e + b_std b_e``; per block ``u = (W_std/√n) h A
    + b_std a``, ``v = φ(u)``, ``y = α((W_std/√n) v B + b_std b)``, ``h ← h + y``;
    ``K̂ = (W_std²/n) φ(h_L) φ(h_L)ᵀ``; every weight and bias iid ``N(0, 1)``, every
    hidden width ``n``; each ``h W`` drawn by :func:`_product`. The controls are the
    distinct entries of matrices whose mean is exactly 0 at every width:
    ``h0 h0ᵀ/n - K_0`` and, per block, ``u uᵀ/n - (w h hᵀ/n + β)``,
    ``v vᵀ/n - Φ(w h hᵀ/n + β)``, ``y yᵀ/n - α²(w v vᵀ/n + β)`` and ``(h yᵀ + y hᵀ)/n``
    (each a conditionally centred Gaussian or Wishart fluctuation).
    """
    blocks, W_std, b_std, alpha, name = arch
    phi, kernel_map = NETWORK_ACTIVATIONS[name]
    dim = xs.shape[1]
    w, beta, scale = W_std**2, b_std**2, W_std / math.sqrt(width)

    def gram(a, b):
        return a @ b.transpose(0, 2, 1) / width

    def bias():
        return b_std * rng.standard_normal((count, 1, width))

    h = (W_std / math.sqrt(dim)) * (xs @ rng.standard_normal((count, dim, width))) + bias()
    controls = [_entries(gram(h, h) - (w * xs @ xs.T / dim + beta))]
    for _ in range(blocks):
        sigma = w * gram(h, h) + beta
        u = _product(h, scale, rng) + bias()
        v = phi(u)
        y = alpha * (_product(v, scale, rng) + bias())
        controls += [
            _entries(gram(u, u) - sigma),
            _entries(gram(v, v) - kernel_map(sigma)),
            _entries(gram(y, y) - alpha**2 * (w * gram(v, v) + beta)),
            _entries(gram(h, y) + gram(y, h)),
        ]
        h = h + y
    f = phi(h)
    return _entries(w * gram(f, f)), np.concatenate(controls, axis=1)


def moment_matrix(values, controls, shift):
    """``Zᵀ Z`` for ``Z = [1, controls, values - shift]``: all that the controlled mean
    needs of a batch of draws (the shift, ``K_∞``, keeps the sums well conditioned)."""
    z = np.concatenate([np.ones((len(values), 1)), controls, values - shift], axis=1)
    # einsum, not BLAS: OpenBLAS threads stall on a loaded 2-core machine.
    return np.einsum("mi,mj->ij", z, z)


def _moments(matrix):
    count = matrix[0, 0]
    mean = matrix[0, 1:] / count
    return count, mean, matrix[1:, 1:] / count - np.outer(mean, mean)


def controlled_mean(fit, use, entries: int):
    """Mean of the last ``entries`` columns of the draws summarised by :func:`moment_matrix`
    ``use`` and its standard error, with control variates fitted on ``fit``.

    The least-squares coefficients come from the other half of the draws (``fit``): as
    the controls have mean exactly 0 and the coefficients are independent of the draws
    they are applied to, the controlled mean is unbiased; its variance is the spread of
    the controlled values over the count.
    """
    _, _, cov = _moments(fit)
    k = cov.shape[0] - entries
    coef = np.linalg.lstsq(cov[:k, :k], cov[:k, k:])[0]
    count, mean, cov = _moments(use)
    adjusted = mean[k:] - mean[:k] @ coef
    spread = (
        np.diag(cov[k:, k:])
        - 2 * np.einsum("ie,ie->e", coef, cov[:k, k:])
        + np.einsum("ie,ij,je->e", coef, cov[:k, :k], coef)
    )
    return adjusted, spread / (count - 1)


def bonferroni_z(tests: int, level: float = 1e-3) -> float:
    """Two-sided normal quantile at ``level`` shared out over ``tests`` entries."""
    return NormalDist().inv_cdf(1 - level / (2 * tests))


def measure_correction(xs, arch, widths, count, seed, chunk=25_000):
    """``(Â, se, χ²)`` on the distinct entries: weighted least squares of
    ``m_n - K_∞ = A/n + B/n²`` over ``widths`` (``m_n`` the controlled mean of ``count``
    networks, weights its inverse variance), and the fit's χ² (``len(widths) - 2`` dof)."""
    blocks, W_std, b_std, alpha, name = arch
    rng = np.random.default_rng(seed)
    rows, cols = np.triu_indices(len(xs))
    limit = analytic.rmlp_nngp(xs, blocks, W_std, b_std, activation=name, branch_scale=alpha)
    gaps, errors = [], []
    shift = limit[rows, cols]
    for width in widths:
        halves = [0.0, 0.0]
        for part in range(2):
            left = count // 2
            while left:
                size = min(chunk, left)
                halves[part] += moment_matrix(*draw_networks(xs, width, arch, size, rng), shift)
                left -= size
        first, second = (controlled_mean(*pair, len(shift)) for pair in (halves, halves[::-1]))
        # The two halves' controlled means, averaged (each is unbiased).
        gaps.append((first[0] + second[0]) / 2)
        errors.append(np.sqrt(first[1] + second[1]) / 2)
    gaps, errors = np.array(gaps), np.array(errors)
    design = np.stack([1 / np.asarray(widths, float), 1 / np.asarray(widths, float) ** 2], 1)
    a_hat, se, chi2 = [], [], []
    for entry in range(gaps.shape[1]):
        weight = 1 / errors[:, entry] ** 2
        normal = (design.T * weight) @ design
        coef = np.linalg.solve(normal, (design.T * weight) @ gaps[:, entry])
        a_hat.append(coef[0])
        se.append(math.sqrt(np.linalg.inv(normal)[0, 0]))
        chi2.append(float(np.sum(weight * (gaps[:, entry] - design @ coef) ** 2)))
    return np.array(a_hat), np.array(se), np.array(chi2)


# ---------------------------------------------------------------------------------------
# 1. Gaussian expectations
# ---------------------------------------------------------------------------------------

#: ``E[φ(z1)^p φ(z2)^q]`` by 20-digit nested ``mpmath.quad`` (:func:`mp_pair_nested`),
#: keyed by activation, (p, q) and the index into :data:`SMOOTH_COVARIANCES`: the
#: reference for GELU (2, 2) and tanh, which have no one-dimensional reduction here. The
#: erf values check the method against :func:`mp_erf_squares`.
GOLDEN_DIGITS = 20
GOLDEN = {
    ("erf", (2, 2), 0): "0.26818965245563138404",
    ("erf", (2, 2), 1): "0.48631086426115660675",
    ("erf", (2, 2), 2): "0.52699585752429940338",
    ("erf", (2, 2), 3): "0.37632536088648745583",
    ("gelu", (2, 2), 0): "0.017703989168260292822",
    ("gelu", (2, 2), 1): "14.886902889806828439",
    ("gelu", (2, 2), 2): "12.315671202229126654",
    ("gelu", (2, 2), 3): "0.82607032938147190574",
    ("tanh", (1, 1), 0): "-0.33007896856743990714",
    ("tanh", (3, 1), 0): "-0.16265464577234050084",
    ("tanh", (1, 3), 0): "-0.26186741215216128222",
    ("tanh", (2, 2), 0): "0.2032028883853809095",
    ("tanh", (1, 1), 1): "0.30284331770324174411",
    ("tanh", (3, 1), 1): "0.2876061649289796112",
    ("tanh", (1, 3), 1): "0.24208995279397413256",
    ("tanh", (2, 2), 1): "0.40871454536490586334",
    ("tanh", (1, 1), 2): "0.54775973069165928091",
    ("tanh", (3, 1), 2): "0.44568786363808115504",
    ("tanh", (1, 3), 2): "0.44568786363808115504",
    ("tanh", (2, 2), 2): "0.44429889329022104539",
    ("tanh", (1, 1), 3): "-0.14087152680927347889",
    ("tanh", (3, 1), 3): "-0.097800713802252315599",
    ("tanh", (1, 3), 3): "-0.13422855378396851819",
    ("tanh", (2, 2), 3): "0.30243025102346274476",
}
#: Relative error allowed for the homogeneous (exact) arc rule: rounding.
HOMOGENEOUS_ACCURACY = 1e-13
#: Relative error allowed for the smooth rule ``SMOOTH_RULES[-1]``.
SMOOTH_ACCURACY = 1e-11


def _relative(got, reference) -> float:
    return float(abs(mpmath.mpf(float(got)) - reference) / abs(reference))


@pytest.mark.parametrize("name", list(HOMOGENEOUS))
def test_homogeneous_expectations_match_the_30_digit_reference(name):
    phi = get_activation(name).fn
    worst = 0.0
    with mpmath.workdps(DIGITS), jax.enable_x64(True):
        for cov in HOMOGENEOUS_COVARIANCES:
            reference = mp_homogeneous(HOMOGENEOUS[name], *cov)
            s11, s22, s12 = (jnp.asarray(v, jnp.float64) for v in cov)
            got = [_moments_homogeneous(phi, p, q, s11, s22, s12) for p, q in PAIRS]
            got += [_single_homogeneous(phi, k, s11) for k in (2, 4)]
            errors = [_relative(g, r) for g, r in zip(got, reference, strict=True)]
            worst = max(worst, *errors)
    print(f"\n{name}: worst relative error {worst:.2e}")
    assert worst <= HOMOGENEOUS_ACCURACY


def _smooth_references(name: str, index: int) -> dict:
    """``{(p, q): E φ1^p φ2^q, ("single", k, i): E φi^k}`` at ``SMOOTH_COVARIANCES[index]``."""
    s11, s22, s12 = SMOOTH_COVARIANCES[index]
    refs = {}
    for (act, pair, where), value in GOLDEN.items():
        if act == name != "erf" and where == index:
            refs[pair] = mpmath.mpf(value)
    if name == "tanh":
        for i, s in enumerate((s11, s22)):
            root = mpmath.sqrt(mpmath.mpf(s))

            def powers(x, root=root):
                t = mpmath.tanh(root * x)
                return [t**2, t**4]

            refs["single", 2, i], refs["single", 4, i] = _normal_expectation(powers)
        return refs
    first = mp_smooth_conditioned(name, s11, s22, s12)
    second = mp_smooth_conditioned(name, s22, s11, s12)
    refs[1, 1], refs[3, 1], refs[1, 3] = first[0], first[1], second[1]
    refs["single", 2, 0], refs["single", 4, 0] = first[2], first[3]
    refs["single", 2, 1], refs["single", 4, 1] = second[2], second[3]
    if name == "erf":
        refs[2, 2] = mp_erf_squares(s11, s22, s12, first=first[4])
    return refs


@pytest.mark.parametrize("name", ["erf", "gelu", "tanh"])
def test_smooth_expectations_match_mpmath(name):
    phi = get_activation(name).fn
    coarse, fine = SMOOTH_RULES
    worst, spread = 0.0, 0.0
    with mpmath.workdps(DIGITS), jax.enable_x64(True):
        for index, cov in enumerate(SMOOTH_COVARIANCES):
            refs = _smooth_references(name, index)
            assert len(refs) == len(PAIRS) + 4
            s = [jnp.asarray(v, jnp.float64) for v in cov]
            for key, reference in refs.items():
                if key[0] == "single":
                    _, k, i = key
                    got, check = (_single_smooth(phi, rule, k, s[i]) for rule in (fine, coarse))
                else:
                    got, check = (_moments_smooth(phi, rule, *key, *s) for rule in (fine, coarse))
                worst = max(worst, _relative(got, reference))
                spread = max(spread, abs(float(got) - float(check)) / abs(float(reference)))
    print(f"\n{name}: worst relative error {worst:.2e}; the two rules differ by {spread:.2e}")
    assert worst <= SMOOTH_ACCURACY


# ---------------------------------------------------------------------------------------
# 2. Derivatives of the kernel map
# ---------------------------------------------------------------------------------------

#: ``(s11, s22, s12)``: correlations -0.49, 0.9 and 0.28.
DERIVATIVE_POINTS = ((1.3, 0.8, -0.5), (2.0, 0.5, 0.9), (6.0, 3.0, 1.2))
#: Name and parameters of each activation in :func:`mp_moments`.
MP_NAMES = {
    "relu": ("relu", ()),
    "leaky_relu:0.1": ("leaky_relu", (0.1,)),
    "abrelu:-0.5,1": ("abrelu", (-0.5, 1.0)),
    "erf": ("erf", ()),
    "gelu": ("gelu", ()),
}
#: Derivative error allowed, relative to the largest entry of the gradient or Hessian.
DERIVATIVE_ACCURACY = 1e-12


@pytest.mark.parametrize("name", list(MP_NAMES))
def test_kernel_map_derivatives_match_mpmath_differences(name):
    """``jax.jacfwd`` (once and twice) of ``E φ(z1)φ(z2)`` in ``(s11, s22, s12)`` and of
    ``E φ(z)²`` in ``s``, the maps whose derivatives ``J`` and ``H`` the correction uses,
    against central differences (``mpmath.diff``) of the closed forms of
    :func:`mp_moments` at 30 digits."""
    phi = get_activation(name).fn
    if name in HOMOGENEOUS:
        pair = functools.partial(_moments_homogeneous, phi, 1, 1)
        single = functools.partial(_single_homogeneous, phi, 2)
    else:
        pair = functools.partial(_moments_smooth, phi, SMOOTH_RULES[-1], 1, 1)
        single = functools.partial(_single_smooth, phi, SMOOTH_RULES[-1], 2)
    base, params = MP_NAMES[name]

    def kernel(a, b, k):
        return mp_moments(base, a, b, k, params=params)[0]

    def diagonal(a):
        return kernel(a, a, a)

    def f(v):
        return pair(v[0], v[1], v[2])

    worst = 0.0
    with jax.enable_x64(True):
        # Compiled once per test: evaluating the nested jacfwd op by op costs more.
        maps = [jax.jit(d) for d in (jax.jacfwd(f), jax.jacfwd(jax.jacfwd(f)))]
        maps += [jax.jit(d) for d in (jax.jacfwd(single), jax.jacfwd(jax.jacfwd(single)))]
    for point in DERIVATIVE_POINTS:
        with jax.enable_x64(True):
            s = jnp.asarray(point, jnp.float64)
            grad, hess = (np.asarray(m(s)) for m in maps[:2])
            slope, curvature = (float(m(s[0])) for m in maps[2:])
        with mpmath.workdps(DIGITS):
            x = [mpmath.mpf(v) for v in point]
            unit = np.eye(3, dtype=int)
            ref_grad = np.array([float(mpmath.diff(kernel, x, tuple(unit[i]))) for i in range(3)])
            ref_hess = np.array(
                [
                    [float(mpmath.diff(kernel, x, tuple(unit[i] + unit[j]))) for j in range(3)]
                    for i in range(3)
                ]
            )
            ref_slope = float(mpmath.diff(diagonal, x[0]))
            ref_curvature = float(mpmath.diff(diagonal, x[0], 2))
        errors = (
            np.max(np.abs(grad - ref_grad)) / np.max(np.abs(ref_grad)),
            np.max(np.abs(hess - ref_hess)) / np.max(np.abs(ref_hess)),
            abs(slope - ref_slope) / abs(ref_slope),
            abs(curvature - ref_curvature) * point[0] / abs(ref_slope),
        )
        worst = max(worst, *errors)
    print(f"\n{name}: worst relative derivative error {worst:.2e}")
    assert worst <= DERIVATIVE_ACCURACY


# ---------------------------------------------------------------------------------------
# 3. Sharp facts of the theory
# ---------------------------------------------------------------------------------------

#: Three inputs in five dimensions (one compilation per activation serves every test).
SHARP_INPUTS = np.random.default_rng(11).standard_normal((3, 5))


@pytest.mark.parametrize("name", list(HOMOGENEOUS))
def test_homogeneous_correction_has_zero_diagonal(name):
    """``Φ_aa = g S_aa`` is linear for a positively homogeneous φ, so ``G_aa`` stays 0 and
    ``H_aa = 0``: the diagonal of ``A`` is exactly 0 (the off-diagonal is not)."""
    worst, smallest = 0.0, np.inf
    for blocks in (1, 3, 6):
        for b_std in (0.0, 0.5):
            for alpha in (1.0, 0.5):
                a = analytic.rmlp_nngp_correction(
                    SHARP_INPUTS, blocks, 1.3, b_std, activation=name, branch_scale=alpha
                )
                scale = np.max(np.abs(a))
                worst = max(worst, np.max(np.abs(np.diag(a))) / scale)
                smallest = min(smallest, scale)
    print(f"\n{name}: max |diag A| / max |A| = {worst:.1e}; smallest max |A| {smallest:.3f}")
    assert smallest > 0.01
    assert worst <= 1e-12


def test_identity_correction_is_zero():
    """A linear φ has ``H = 0`` and ``G`` stays 0, so ``A = 0``."""
    worst = 0.0
    for blocks in (1, 3, 6):
        for b_std in (0.0, 0.5):
            kw = {"activation": "identity", "branch_scale": 0.7}
            a = analytic.rmlp_nngp_correction(SHARP_INPUTS, blocks, 1.3, b_std, **kw)
            k = analytic.rmlp_nngp(SHARP_INPUTS, blocks, 1.3, b_std, **kw)
            worst = max(worst, np.max(np.abs(a)) / np.max(np.abs(k)))
    print(f"\nidentity: max |A| / max |K| = {worst:.1e}")
    assert worst <= 1e-13


@pytest.mark.parametrize("name", ["relu", "leaky_relu:0.1"])
def test_correction_without_blocks_is_zero(name):
    """With no block the readout sees the embedding, exactly Gaussian: ``A = 0``."""
    for b_std in (0.0, 0.5):
        a = analytic.rmlp_nngp_correction(SHARP_INPUTS, 0, 1.3, b_std, activation=name)
        assert np.all(a == 0.0)


def test_relu_correction_is_negative_off_the_diagonal():
    """ReLU: every off-diagonal entry of ``A`` is negative, on Gaussian inputs."""
    largest = -np.inf
    for seed in range(5):
        xs = np.random.default_rng(100 + seed).standard_normal((3, 5))
        for blocks, W_std, b_std, alpha in (
            (1, 1.0, 0.0, 1.0),
            (2, 1.2, 0.4, 1.0),
            (4, 0.8, 0.3, 0.5),
            (8, 1.5, 1.0, 0.3),
        ):
            a = analytic.rmlp_nngp_correction(xs, blocks, W_std, b_std, branch_scale=alpha)
            off = a[~np.eye(3, dtype=bool)]
            largest = max(largest, np.max(off / np.max(np.abs(off))))
    print(f"\nrelu: largest off-diagonal A / max |off-diagonal A| = {largest:.3f}")
    assert largest < 0


# ---------------------------------------------------------------------------------------
# 4. Against instantiated networks
# ---------------------------------------------------------------------------------------

#: Three inputs in five dimensions.
NETWORK_INPUTS = np.random.default_rng(0).standard_normal((3, 5))
#: ``(blocks, W_std, b_std, branch scale, activation)``, widths, networks per width, seed.
NETWORK_CASES = {
    "relu": ((2, 1.2, 0.4, 1.0, "relu"), (8, 16, 32), 250_000, 1),
    "erf": ((2, 1.5, 0.3, 1.0, "erf"), (8, 16, 32), 150_000, 1),
    # At W_std 1.2 a branch scale of 0.5 leaves |A| <= 0.07, unresolved by 10^5 networks.
    "relu-depth1-branch0.5": ((1, 2.0, 0.4, 0.5, "relu"), (8, 16, 32), 150_000, 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(NETWORK_CASES))
def test_correction_matches_instantiated_networks(case):
    """``A`` against ``E K̂_n`` of instantiated networks (module docstring, item 4)."""
    arch, widths, count, seed = NETWORK_CASES[case]
    blocks, W_std, b_std, alpha, name = arch
    rows, cols = np.triu_indices(len(NETWORK_INPUTS))
    formula = analytic.rmlp_nngp_correction(
        NETWORK_INPUTS, blocks, W_std, b_std, activation=name, branch_scale=alpha
    )[rows, cols]
    a_hat, se, chi2 = measure_correction(NETWORK_INPUTS, arch, widths, count, seed)
    z = bonferroni_z(len(formula))
    scores = (a_hat - formula) / se
    off = (a_hat - 1.3 * formula) / se
    largest = np.abs(formula) >= 0.5 * np.max(np.abs(formula))
    print(f"\n{case}: A {np.round(formula, 4)}\n  Â {np.round(a_hat, 4)}\n  se {np.round(se, 4)}")
    print(f"  z {np.round(scores, 2)} (bound {z:.2f}); z against 1.3 A {np.round(off, 2)}")
    print(f"  fit chi2 ({len(widths) - 2} dof) {np.round(chi2, 2)}")
    assert np.all(np.abs(scores) <= z)
    # Resolution: the largest entries are measured to 20% or better ...
    assert np.all(se[largest] <= 0.2 * np.abs(formula[largest]))
    # ... so that a formula 30% off fails the same rule.
    assert np.any(np.abs(off) > z)


def test_nested_quadrature_agrees_with_the_erf_reduction():
    """The method of :data:`GOLDEN` (nested two-dimensional tanh-sinh) against the
    independent one-dimensional reduction :func:`mp_erf_squares`, on every covariance."""
    worst = 0.0
    with mpmath.workdps(DIGITS):
        for index, cov in enumerate(SMOOTH_COVARIANCES):
            live = mp_erf_squares(*cov)
            worst = max(worst, float(abs(live - mpmath.mpf(GOLDEN["erf", (2, 2), index])) / live))
    print(f"\nnested quadrature vs reduction: {worst:.1e}")
    assert worst <= 10.0 ** (1 - GOLDEN_DIGITS)


@pytest.mark.slow
def test_golden_values_are_the_nested_quadrature():
    """Recomputes :data:`GOLDEN` by :func:`mp_pair_nested` and prints the table: on demand
    only (``CORRECTION_GOLDEN=one``: the cheapest value, about half a CPU minute;
    ``all``: every value, one to six minutes each on 2 shared cores). A mistyped value
    already fails :func:`test_smooth_expectations_match_mpmath`, and the method is
    checked by :func:`test_nested_quadrature_agrees_with_the_erf_reduction`."""
    which = os.environ.get("CORRECTION_GOLDEN")
    if which not in ("one", "all"):
        pytest.skip("set CORRECTION_GOLDEN=one or all to recompute the golden values")
    keys = list(GOLDEN) if which == "all" else [("tanh", (3, 1), 0)]
    with mpmath.workdps(GOLDEN_DIGITS):
        for key in keys:
            name, (p, q), index = key
            value = mp_pair_nested(name, p, q, *SMOOTH_COVARIANCES[index])
            print(f"\n    {key!r}: {mpmath.nstr(value, GOLDEN_DIGITS)!r},", end="")
            assert abs(value - mpmath.mpf(GOLDEN[key])) <= 10.0 ** (1 - GOLDEN_DIGITS) * abs(value)
