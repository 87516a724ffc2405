"""High-precision (mpmath) infinite-width kernels of residual MLPs for several activations.

A test-only reference, written independently of the float64 implementation that it
checks. Three layers:

* :func:`mp_moments` gives the pair moments ``V = E[φ(u)φ(v)]`` and ``V̇ = E[φ'(u)φ'(v)]``
  of a centred Gaussian pair with ``Var u = a``, ``Var v = b``, ``Cov(u, v) = k`` from
  closed forms, at the current mpmath precision;
* :func:`mp_moments_by_integration` computes the same two expectations by direct 2-D
  Gaussian quadrature, for any ``φ`` that is analytic except possibly at 0; this is the
  independent check of the closed forms and the only path for ``tanh``;
* :func:`mp_residual_kernels` runs the NNGP/NTK recursion of the residual MLP in the NTK
  parameterization (``w = W_std²``, ``β = b_std²``, ``α = branch_scale``)::

      K_0 = w/d · x xᵀ + β,  Θ_0 = K_0
      per block:  Σ = w K + β
                  K ← K + α² (w V(Σ) + β)
                  Θ ← Θ + α² (w V̇(Σ) ⊙ (w Θ + Σ) + w V(Σ) + β)
      readout:    NNGP = w V(K),  NTK = w V̇(K) ⊙ Θ + w V(K)

  at 50 digits (30 for ``tanh``) from the exact binary values of the float64 inputs.

Closed forms (``S = √(ab − k²)``, ``θ = atan2(S, k)`` the angle of the pair, so that
``√(ab)·cos θ = k`` and ``√(ab)·sin θ = S``):

* ``relu`` (arc-cosine kernels, Cho & Saul 2009): ``V = (S + (π − θ) k) / 2π``,
  ``V̇ = (π − θ) / 2π``.
* ``abrelu`` with ``params = (a_neg, b_pos)``, ``φ(x) = a_neg·x`` for ``x < 0`` and
  ``b_pos·x`` for ``x ≥ 0`` (neural-tangents' ``ABRelu(a, b)``). Writing
  ``φ(x) = b_pos·relu(x) − a_neg·relu(−x)`` and using that ``(−u, −v)`` has the same law
  as ``(u, v)`` while ``(u, −v)`` has angle ``π − θ``::

      V̇ = ((a_neg² + b_pos²)(π − θ) + 2 a_neg b_pos θ) / 2π
      V  = (b_pos − a_neg)² S / 2π + V̇ · k

  (``V̇`` from the orthant probabilities ``P(u > 0, v > 0) = (π − θ)/2π`` and
  ``P(u > 0, v < 0) = θ/2π``; ``V`` from the relu kernel at angles ``θ`` and ``π − θ``.)
* ``leaky_relu`` with ``params = (s,)``: ``abrelu(s, 1)``.
* ``erf`` (Williams 1997): ``V = (2/π) asin(2k / √((1 + 2a)(1 + 2b)))``;
  ``V̇ = (4/π) / √((1 + 2a)(1 + 2b) − 4k²)`` (``φ' = (2/√π) e^{−x²}``, a Gaussian
  integral ``E[e^{−u²−v²}] = det(I + 2C)^{−1/2}``).
* ``gelu`` (exact, ``φ(x) = x Φ(x)``), derived here: write ``Φ(u) = P(g ≤ u)`` with
  independent standard normals ``g, h``; with ``s = u − g``, ``t = v − h`` (``Var s = 1 + a``,
  ``Var t = 1 + b``, ``Cov(s, t) = k``), ``V = E[u v 1{s ≥ 0} 1{t ≥ 0}]``. Gaussian
  integration by parts on ``u`` and the conditional moments of ``(v, t) | s = 0`` and
  ``(v, s) | t = 0`` give, with ``M = (1 + a)(1 + b)`` and ``D = M − k²``::

      V  = k/4 + k·asin(k/√M)/2π + (ab·M − (ab − 1)·k²) / (2π M √D)
      V̇ = ∂V/∂k (Price's theorem)
         = 1/4 + asin(k/√M)/2π + k (M(a + b + 3) − (a + b + 2) k²) / (2π M D^{3/2})

  (for ``a = b = k`` this is the known ``E[x²Φ(x)²]``; for comparison see Tsuchida et al.
  2021, arXiv:2002.08517). Both are checked against quadrature in the tests.
* ``sin``: ``V = e^{−(a+b)/2} sinh k``, ``V̇ = e^{−(a+b)/2} cosh k``
  (``sin u sin v = (cos(u − v) − cos(u + v))/2`` and ``E cos(w) = e^{−Var w/2}``).
* ``identity``: ``V = k``, ``V̇ = 1``.
* ``tanh``: no closed form; :func:`mp_residual_kernels` integrates.

Degenerate pairs: ``k² = ab`` (duplicate or antipodal inputs) is exact in every formula
(``S = 0``, ``θ ∈ {0, π}``). A zero variance makes the pair's angle undefined; the
piecewise-linear activations then take ``θ = 0`` (the duplicate-input limit, as in
``tests/analytic/_mp_reference.py``): ``V = 0`` and ``V̇ = (a_neg² + b_pos²)/2``. In the
recursion a zero variance only occurs for a zero input with ``b_std = 0``, where ``V̇``
multiplies an NTK entry that is exactly 0, so the convention never reaches the kernels.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from collections.abc import Sequence

import mpmath
import numpy as np

DIGITS = 50
TANH_DIGITS = 30

CLOSED_FORMS = ("relu", "leaky_relu", "abrelu", "erf", "gelu", "sin", "identity")
ACTIVATIONS = (*CLOSED_FORMS, "tanh")


def _mpf(x):
    return x if isinstance(x, mpmath.mpf) else mpmath.mpf(x)


def _slopes(activation: str, params: Sequence) -> tuple:
    """``(a_neg, b_pos)`` of a piecewise-linear activation, as mpf."""
    if activation == "relu":
        expected, slopes = 0, (0, 1)
    elif activation == "leaky_relu":
        expected, slopes = 1, (*tuple(params), 1)
    else:
        expected, slopes = 2, tuple(params)
    if len(params) != expected:
        raise ValueError(f"{activation} takes {expected} parameter(s), got {tuple(params)!r}")
    return tuple(_mpf(float(p)) for p in slopes)


def _check_params(activation: str, params: Sequence) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
    if activation in ("relu", "leaky_relu", "abrelu"):
        _slopes(activation, params)
    elif len(params):
        raise ValueError(f"{activation} takes no parameters, got {tuple(params)!r}")


def _pair_angle(a, b, k):
    """``(S, θ)`` with ``S = √(ab − k²)`` and ``θ = atan2(S, k)``; ``θ = 0`` if ``ab = 0``."""
    gap = a * b - k * k
    root = mpmath.sqrt(gap) if gap > 0 else mpmath.mpf(0)
    if a * b == 0:
        return root, mpmath.mpf(0)
    return root, mpmath.atan2(root, k)


def mp_moments(activation: str, a, b, k, *, params=()) -> tuple:
    """``(V, V̇)`` of ``activation`` for the pair ``(a, b, k)`` from the closed forms.

    Evaluated at the current mpmath precision; see the module docstring for the formulas
    and the zero-variance convention. ``params``: ``(s,)`` for ``leaky_relu``,
    ``(a_neg, b_pos)`` for ``abrelu``, empty otherwise. ``tanh`` has no closed form and
    raises ``ValueError`` (use :func:`mp_moments_by_integration`).
    """
    _check_params(activation, params)
    a, b, k = _mpf(a), _mpf(b), _mpf(k)
    pi = mpmath.pi
    if activation in ("relu", "leaky_relu", "abrelu"):
        neg, pos = _slopes(activation, params)
        root, theta = _pair_angle(a, b, k)
        dot = ((neg * neg + pos * pos) * (pi - theta) + 2 * neg * pos * theta) / (2 * pi)
        return (pos - neg) ** 2 * root / (2 * pi) + dot * k, dot
    if activation == "erf":
        m = (1 + 2 * a) * (1 + 2 * b)
        value = 2 / pi * mpmath.asin(2 * k / mpmath.sqrt(m))
        return value, 4 / pi / mpmath.sqrt(m - 4 * k * k)
    if activation == "gelu":
        m = (1 + a) * (1 + b)
        d = m - k * k
        angle = mpmath.asin(k / mpmath.sqrt(m)) / (2 * pi)
        value = (
            k / 4 + k * angle + (a * b * m - (a * b - 1) * k * k) / (2 * pi * m * mpmath.sqrt(d))
        )
        slope = k * (m * (a + b + 3) - (a + b + 2) * k * k) / (2 * pi * m * d * mpmath.sqrt(d))
        return value, mpmath.mpf(1) / 4 + angle + slope
    if activation == "sin":
        scale = mpmath.exp(-(a + b) / 2)
        return scale * mpmath.sinh(k), scale * mpmath.cosh(k)
    if activation == "identity":
        return k, mpmath.mpf(1)
    raise ValueError("tanh has no closed form; use mp_moments_by_integration")


@functools.cache
def _constants_at(prec: int) -> tuple:
    with mpmath.workprec(prec):
        return 2 / mpmath.sqrt(mpmath.pi), 1 / mpmath.sqrt(2), 1 / mpmath.sqrt(2 * mpmath.pi)


def _constants() -> tuple:
    """``(2/√π, 1/√2, 1/√(2π))`` at the current precision."""
    return _constants_at(mpmath.mp.prec)


def _last_value(fn):
    """``fn`` remembering its last argument (by identity, at the current precision).

    The quadrature evaluates ``φ`` and ``φ'`` at the same point one after the other; this
    lets them share ``Φ(x)`` (gelu) or ``tanh(x)``.
    """
    last = [None, None, None]

    def remembered(x):
        if x is not last[0] or last[1] != mpmath.mp.prec:
            last[:] = x, mpmath.mp.prec, fn(x)
        return last[2]

    return remembered


def mp_activation(activation: str, params=()) -> tuple[Callable, Callable]:
    """``(φ, φ')`` of ``activation`` as functions of one mpf (for the quadrature).

    At the kink of a piecewise-linear activation ``φ'(0)`` is the right derivative
    ``b_pos``; it only matters for a zero-variance input (a set of measure zero otherwise).
    """
    _check_params(activation, params)
    if activation in ("relu", "leaky_relu", "abrelu"):
        neg, pos = _slopes(activation, params)
        return (lambda x: pos * x if x >= 0 else neg * x), (lambda x: pos if x >= 0 else neg)
    if activation == "erf":
        return mpmath.erf, lambda x: _constants()[0] * mpmath.exp(-x * x)
    if activation == "gelu":
        cdf = _last_value(lambda x: mpmath.erfc(-x * _constants()[1]) / 2)

        def dgelu(x):
            return cdf(x) + x * _constants()[2] * mpmath.exp(-x * x / 2)

        return (lambda x: x * cdf(x)), dgelu
    if activation == "sin":
        return mpmath.sin, mpmath.cos
    if activation == "tanh":
        tanh = _last_value(mpmath.tanh)
        return tanh, lambda x: 1 - tanh(x) ** 2
    return (lambda x: x), (lambda x: mpmath.mpf(1))


# ---------------------------------------------------------------------------------------
# Quadrature
# ---------------------------------------------------------------------------------------


@functools.cache
def _legendre(n: int, prec: int) -> tuple:
    """Gauss–Legendre nodes and weights on [-1, 1], computed 30 bits above ``prec``."""
    with mpmath.workprec(prec + 30):
        nodes, weights = mpmath.mp.gauss_quadrature(n, "legendre")
    with mpmath.workprec(prec):
        return tuple((mpmath.mpf(x), mpmath.mpf(w)) for x, w in zip(nodes, weights, strict=True))


def _rule(points, n: int) -> list:
    """Composite ``n``-point Gauss–Legendre rule over the sorted, distinct ``points``."""
    edges = sorted(set(points))
    out = []
    for lo, hi in itertools.pairwise(edges):
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        out.extend((mid + half * x, half * w) for x, w in _legendre(n, mpmath.mp.prec))
    return out


def _cutoff():
    """Radius beyond which the standard normal tail is below 10^-(dps+10)."""
    return mpmath.sqrt(2 * mpmath.ln(10) * (mpmath.mp.dps + 10))


def _graded(scale, top):
    """Breakpoints ``4^j / scale`` below 2 and the point 3 (all in (0, top))."""
    points = [mpmath.mpf(3)]
    j = 0
    while (point := mpmath.mpf(4) ** j / scale) < 2:
        points.append(point)
        j += 1
    return [p for p in points if 0 < p < top]


def _default_nodes(scale) -> tuple[int, int]:
    """Points per piece (angle, radius), rounded up to multiples of 8 (cached rules)."""
    base = 1.2 * mpmath.mp.dps + 6
    return 8 * math.ceil((base + 6 * scale) / 8), 8 * math.ceil((base + 2 * scale) / 8)


def _normal_expectation(f, scale, n: int) -> tuple:
    """``E f(z)`` for a standard normal ``z``, componentwise for ``f`` returning a tuple.

    ``f`` is analytic except possibly at 0. Pieces graded towards 0 (as the radial rule),
    then of length 2, each with ``3n/4`` points (at least 16): short pieces resolve the
    oscillation of sin at large variance.
    """
    n = max(16, 8 * math.ceil(0.75 * n / 8))
    top = _cutoff()
    half = _graded(scale, top) + [mpmath.mpf(x) for x in range(5, int(top) + 1, 2)]
    points = [-top, mpmath.mpf(0), top, *half, *(-p for p in half)]
    density = 1 / mpmath.sqrt(2 * mpmath.pi)
    rows = []
    for z, w in _rule(points, n):
        weight = w * density * mpmath.exp(-z * z / 2)
        rows.append([weight * value for value in f(z)])
    return tuple(mpmath.fsum(column) for column in zip(*rows, strict=True))


def _products(f, x, y) -> tuple:
    return tuple(p * q for p, q in zip(f(x), f(y), strict=True))


def _pair_expectation(f, a, b, k, nodes, symmetric=False) -> tuple:
    """``E[f(u) f(v)]`` (componentwise) for the centred Gaussian pair ``(a, b, k)``.

    ``symmetric``: every component of ``f`` is even or odd, so ``f(u) f(v)`` is unchanged
    by ``(u, v) → (−u, −v)``, i.e. by ``ψ → ψ + π`` in the polar form below; the angle then
    runs over ``[0, π)`` only (the mean over it is the mean over the circle).
    """
    if a < b:  # the integrand is symmetric in (u, v); condition on the larger variance
        a, b = b, a
    if a == 0:
        return _products(f, mpmath.mpf(0), mpmath.mpf(0))
    root_a = mpmath.sqrt(a)
    scale = max(root_a, mpmath.mpf(1))
    n_angle, n_radius = nodes if nodes is not None else _default_nodes(scale)
    # v | u ~ N(k u / a, b - k²/a): with u = √a z, v = c z + s y and (z, y) standard normal.
    c = k / root_a
    rest = (a * b - k * k) / a  # exactly 0 when k² = ab in floating point
    s = mpmath.sqrt(rest) if rest > 0 else mpmath.mpf(0)
    if s == 0:  # v is a multiple of u (duplicate, antipodal or zero-variance partner)
        return _normal_expectation(lambda z: _products(f, root_a * z, c * z), scale, n_radius)
    if k == 0:  # independent
        left = _normal_expectation(lambda z: f(root_a * z), scale, n_radius)
        right = _normal_expectation(lambda z: f(s * z), scale, n_radius)
        return tuple(p * q for p, q in zip(left, right, strict=True))
    # Polar coordinates z = r cos ψ, y = r sin ψ: u = r √a cos ψ, v = r (c cos ψ + s sin ψ).
    # Along a ray the signs of u and v are fixed, so the kinks at 0 sit on the four rays
    # u = 0 (ψ = π/2, 3π/2) and v = 0 (ψ = ψ_v ± π/2): the angular pieces end there.
    tau = 2 * mpmath.pi
    quarter = mpmath.pi / 2
    psi_v = mpmath.atan2(s, c)
    cuts = [mpmath.mpf(0), tau]
    cuts += [x % tau for x in (quarter, 3 * quarter, psi_v + quarter, psi_v + 3 * quarter)]
    if symmetric:  # the same rays mod π, on [0, π]
        tau = mpmath.pi
        cuts = [mpmath.mpf(0), tau, quarter, (psi_v + quarter) % tau]
    # Radial density r e^{-r²/2} on [0, R], pieces graded towards 0 at the scale of the
    # steepest argument (1/√a): f(√a r ...) varies on that scale near r = 0.
    top = _cutoff()
    radial = [
        (r, w * r * mpmath.exp(-r * r / 2))
        for r, w in _rule([0, top, *_graded(scale, top)], n_radius)
    ]
    rows = []
    for psi, angular in _rule(cuts, n_angle):
        cos, sin = mpmath.cos(psi), mpmath.sin(psi)
        alpha, beta = root_a * cos, c * cos + s * sin
        ray = [
            [w * p * q for p, q in zip(f(alpha * r), f(beta * r), strict=True)] for r, w in radial
        ]
        rows.append([angular * mpmath.fsum(column) for column in zip(*ray, strict=True)])
    return tuple(mpmath.fsum(column) / tau for column in zip(*rows, strict=True))


def mp_moments_by_integration(phi, dphi, a, b, k, *, nodes=None, odd=False) -> tuple:
    """``(V, V̇) = (E[φ(u)φ(v)], E[φ'(u)φ'(v)])`` by 2-D Gaussian quadrature.

    ``phi`` and ``dphi`` map an mpf to an mpf and must be analytic except possibly at 0
    (a kink, as in the relu family). Method: condition ``v`` on ``u``,
    ``v | u ~ N(k u / a, b − k²/a)``, so ``u = √a z`` and ``v = c z + s y`` with ``(z, y)``
    independent standard normals; integrate the 2-D standard normal in polar coordinates
    ``(r, ψ)``. On each ray the signs of ``u`` and ``v`` are constant, so splitting the angle
    at the rays ``u = 0`` and ``v = 0`` leaves piecewise-analytic integrands; the radial
    density ``r e^{−r²/2}`` is cut at ``R`` where its tail is ``10^-(dps+10)`` and graded
    towards 0 at the scale ``1/√max(a, b)``. Both directions use composite Gauss–Legendre
    rules with ``nodes = (n_angle, n_radius)`` points per piece (default grows with
    ``mp.dps`` and ``√max(a, b)``); ``V`` and ``V̇`` come from one sweep over the same
    points. Pairs with ``k² = ab``, ``k = 0`` or a zero variance reduce to exact 1-D
    Gaussian expectations. ``odd=True`` declares ``φ`` odd (so ``φ'`` is even): both
    products are then unchanged by ``(u, v) → (−u, −v)``, i.e. ``ψ → ψ + π``, and the angle
    runs over half the circle: three angular pieces, each within a piece of the whole
    circle's five (or its translate by ``π``), with the same points per piece.

    ``k² ≤ ab`` is assumed (a larger ``|k|`` is treated as ``k² = ab``). Nested adaptive
    ``mpmath.quad`` on the conditional form took 5–190 s per expectation (``mp.dps``
    25–50) and failed near duplicates, hence the fixed product rule in polar coordinates.

    Accuracy, measured against the closed forms (relative differences; see the tests):

    * ``mp.dps = 22``, variances 0.6–1.9 including ``k = 0.999999 √(ab)`` and
      ``k = −0.999 √(ab)``: ≤ 3e-20 for erf and gelu with ``nodes = (40, 28)``, ≤ 7e-20 for
      sin with ``(32, 28)``; ≤ 3e-21 for the relu family and identity with ``(16, 28)``,
      also at ``a = 0.01, b = 50`` and ``a = b = 30``;
    * smooth activations at ``a = 0.01, b = 50`` and ``a = b = 30``: the angular integrand
      of a steep ``φ(√a r cos ψ)`` is analytic only in a strip of width ~1/√a, so more
      points are needed: ≤ 1.1e-20 with ``mp.dps = 30``, ``nodes = (72, 48)`` (erf, gelu);
      sin's moments there are ~e^{−(a+b)/2} of its O(1) integrand, so digits cancel:
      ≤ 2.2e-23 with ``mp.dps = 36``, ``nodes = (96, 64)``;
    * the 1-D reductions (``k = 0``, ``k = ±√(ab)``, zero variance) at ``mp.dps = 30`` with
      the default points: ≤ 4e-31 of the Cauchy–Schwarz scale ``√(V(a,a,a) V(b,b,b))``;
    * tanh at ``mp.dps = 30`` with the default points, variances up to 6: ≤ 3e-24 against
      ``nodes = (96, 64)``; neural-tangents' Gauss–Hermite ``ElementwiseNumerical(tanh,
      deg=200)`` agrees with the recursion to 2e-14 (its own error).

    The error is absolute at the scale of ``E|φ(u)φ(v)|``: a result much smaller than
    that scale loses the difference in digits.
    """
    a, b, k = _mpf(a), _mpf(b), _mpf(k)
    if a < 0 or b < 0:
        raise ValueError(f"variances must be >= 0, got a={a}, b={b}")
    if isinstance(nodes, int):
        nodes = (nodes, nodes)
    return _pair_expectation(lambda x: (phi(x), dphi(x)), a, b, k, nodes, symmetric=odd)


# ---------------------------------------------------------------------------------------
# Recursion
# ---------------------------------------------------------------------------------------


def _kernel_maps(moments, sigma, n):
    """``(V(Σ), V̇(Σ))`` as lists of lists, from the pairs ``(Σ_ii, Σ_jj, Σ_ij)``."""
    value = [[None] * n for _ in range(n)]
    slope = [[None] * n for _ in range(n)]
    for i in range(n):
        for j in range(i, n):
            v, dv = moments(sigma[i][i], sigma[j][j], sigma[i][j])
            value[i][j] = value[j][i] = v
            slope[i][j] = slope[j][i] = dv
    return value, slope


def mp_residual_kernels(
    xs,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation: str = "relu",
    params=(),
    branch_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(nngp, ntk)`` of the residual MLP, float64 ``(N, N)`` arrays rounded from mpmath.

    The recursion of the module docstring at ``DIGITS`` = 50 digits from the exact binary
    values of ``xs`` (shape ``(N, d)``), ``W_std``, ``b_std`` and ``branch_scale``. ``tanh``
    uses :func:`mp_moments_by_integration` at ``TANH_DIGITS`` = 30 over half the circle
    (``odd=True``; slow: ~1–2.5 s per off-diagonal pair and layer on one CPU core, twice
    that over the whole circle; keep ``N`` and the depth small).
    """
    _check_params(activation, params)
    xs = np.asarray(xs, dtype=np.float64)
    if xs.ndim != 2:
        raise ValueError(f"xs must have shape (N, d), got {xs.shape}")
    if int(num_res_blocks) != num_res_blocks or num_res_blocks < 0:
        raise ValueError(f"num_res_blocks must be an integer >= 0, got {num_res_blocks!r}")
    n, d = xs.shape
    digits = TANH_DIGITS if activation == "tanh" else DIGITS
    with mpmath.workdps(digits):
        if activation == "tanh":
            phi, dphi = mp_activation("tanh")

            def moments(a, b, k):  # tanh is odd
                return mp_moments_by_integration(phi, dphi, a, b, k, odd=True)
        else:

            def moments(a, b, k):
                return mp_moments(activation, a, b, k, params=params)

        w = mpmath.mpf(float(W_std)) ** 2
        beta = mpmath.mpf(float(b_std)) ** 2
        alpha2 = mpmath.mpf(float(branch_scale)) ** 2
        rows = [[mpmath.mpf(float(v)) for v in row] for row in xs]
        gram = [[mpmath.fsum(p * q for p, q in zip(u, v, strict=True)) for v in rows] for u in rows]
        kern = [[w / d * gram[i][j] + beta for j in range(n)] for i in range(n)]
        ntk = [row[:] for row in kern]
        for _ in range(int(num_res_blocks)):
            sigma = [[w * kern[i][j] + beta for j in range(n)] for i in range(n)]
            value, slope = _kernel_maps(moments, sigma, n)
            for i in range(n):
                for j in range(n):
                    branch = w * value[i][j] + beta
                    ntk[i][j] += alpha2 * (w * slope[i][j] * (w * ntk[i][j] + sigma[i][j]) + branch)
                    kern[i][j] += alpha2 * branch
        value, slope = _kernel_maps(moments, kern, n)
        nngp = [[w * value[i][j] for j in range(n)] for i in range(n)]
        ntk = [[w * slope[i][j] * ntk[i][j] + nngp[i][j] for j in range(n)] for i in range(n)]
        return (
            np.array([[float(v) for v in row] for row in nngp], dtype=np.float64),
            np.array([[float(v) for v in row] for row in ntk], dtype=np.float64),
        )
