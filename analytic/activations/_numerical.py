r"""Numerical activations: ``tanh`` and any elementwise function, by an error-checked quadrature.

For an activation without a closed form the two kernel maps of
:mod:`analytic.activations._activation`,

.. math:: V = \mathbb E[\phi(u)\phi(v)], \qquad \dot V = \mathbb E[\phi'(u)\phi'(v)],

of the centred pair with :math:`\mathrm{Var}\,u = r_1^2`, :math:`\mathrm{Var}\,v = r_2^2`
and :math:`\mathrm{Cov}(u, v) = r_1 r_2\rho` (balanced gaps, :mod:`analytic._pairs`) are
two-dimensional Gaussian integrals, computed here as follows.

**Conditioning.** With :math:`z_1, z_2` independent standard normals,
:math:`u = r_1 z_1` and :math:`v = r_2(\rho z_1 + \bar\rho z_2)`, where the
correlation and its complement come from the gaps without cancellation,

.. math:: \rho = \frac{G^+ - G^-}{G^+ + G^-}, \qquad
          \bar\rho = \sqrt{1-\rho^2} = \frac{2\sqrt{G^+G^-}}{G^+ + G^-},

so that, given :math:`z_1`, :math:`v` has mean :math:`m = r_2\rho z_1` and standard
deviation :math:`t = r_2\bar\rho` (exactly 0 for duplicate and antipodal pairs). Each
integral is iterated: an *outer* one over :math:`z_1` and, at each of its nodes, an
*inner* one over :math:`z_2`, both :math:`\int_{-L}^{L} f(z)\varphi(z)\,dz` with
:math:`\varphi` the standard normal density and :math:`L = 9`, beyond which
:math:`\int_{|z|>L}(1 + z^2)\varphi(z)\,dz < 2\cdot10^{-17}`.

**Quadrature.** Each one-dimensional integral is a composite Gauss–Legendre rule
(``nodes`` per panel) on breakpoints that follow the integrand's length scales. The
activation is assumed (``scales = (s, e)``) to vary on length scales of at least
:math:`s` around :math:`x = 0`, to be smooth on its own scale beyond :math:`|x| = e`,
and to be analytic apart from ``kinks`` (for ``tanh`` the poles :math:`\pm i\pi/2` give
:math:`s = 1/2`, and :math:`\tanh x = \pm 1` to 1e-16 beyond :math:`e = 18`). The panel
width asked for at distance :math:`d` from a feature is

.. math:: \min\bigl(h,\ \gamma\,(d + s')\bigr) \quad (d < e'), \qquad h \quad (d \ge e'),

(``gauss_step`` :math:`h` for the Gaussian density, geometric grading with ratio
:math:`e^\gamma` down to the feature's scale :math:`s'`), and the breakpoints
equidistribute its reciprocal: a fixed number of panels, placed in closed form
(:func:`_graded`) wherever the current pair needs them.

* Inner integral: :math:`\phi(m + t z_2)` has its feature at :math:`z_2 = -m/t`, of
  scale :math:`s' = s/t` and extent :math:`e' = e/t` (a breakpoint there, and at every
  kink :math:`(x_k - m)/t`).
* Outer integral: :math:`\phi(r_1 z_1)\,h(z_1)` with
  :math:`h(z_1) = \mathbb E[\phi(v) \mid z_1]`, which is :math:`\phi` smoothed by a
  Gaussian of width :math:`t`, seen at :math:`r_2\rho z_1`. Both features sit at
  :math:`z_1 = 0`: scales :math:`s/r_1` and :math:`\max(s, t)/(r_2|\rho|)`, extents
  :math:`e/r_1` and :math:`(e + 8t)/(r_2|\rho|)`; the grid grades from the finer scale to
  the wider extent. A kink :math:`x_k` adds breakpoints at :math:`x_k/r_1`,
  :math:`x_k/(r_2\rho)`, and across the boundary layer of :math:`h` around the latter
  (width :math:`t/(r_2|\rho|)`, :data:`_LAYER`).

For an odd or even activation the integrands are even under
:math:`(z_1, z_2) \mapsto (-z_1, -z_2)` and the outer integral runs over
:math:`z_1 \ge 0`. Every breakpoint is computed from the current pair, so shapes are
static and the map is ``jax.jit``-compiled inside the recursion's loop; a square
covariance of one input set with itself (``symmetric=True``) integrates one triangle.

**Output gaps without cancellation.** The diagonal :math:`V_{ii} = \mathbb
E[\phi(r_i z)^2]` is a one-dimensional quadrature. With :math:`n_i = \sqrt{V_{ii}}` and
:math:`\lambda = (n_j / n_i)^{1/2}` the output gaps are themselves integrals of
non-negative integrands,

.. math:: G^\mp_{\rm out} = 2(n_i n_j \mp V_{ij})
          = \mathbb E\bigl[(\lambda\phi(u) \mp \phi(v)/\lambda)^2\bigr],

so the small gap of a near-duplicate (or near-antipodal) pair is integrated directly
and keeps a small *relative* error, as the ReLU family's closed forms do. The pair's
smaller gap (:math:`G^-` when :math:`\rho \ge 0` or :math:`\phi` is even, else
:math:`G^+`) is integrated, the other is :math:`4 n_i n_j` minus it; :math:`\dot V`
comes from the same nodes.

**Error control.** Every numerical activation carries a ``refined`` twin, the same
construction at a higher order (:data:`REFINED_RULE`: more nodes per panel and a
slightly different grading). The recursion is evaluated with both
(:func:`analytic._rmlp._evaluate`), and a kernel is refused when the two differ by more
than :data:`analytic._rmlp.QUADRATURE_AGREEMENT` (1e-10) relative to its largest entry;
the refined value is returned. The difference is an *a-posteriori estimate* of the
base rule's error (two quadrature orders compared), not a rigorous bound: an integrand
with features that neither rule resolves alike (say an oscillation far faster than
the declared scales, on panels that both rules share) can fool it, as can a user
function whose declared ``scales`` or ``kinks`` are wrong.

Accuracy, measured against 50-digit closed forms (``erf``, ``relu``, ``sin`` written as
user functions) on pairs with variances 1e-4 to 1e5 and correlations to within 1e-13 of
±1: the base rule within 2e-12 of the pair's scale (typically 1e-13), the refined rule
within 1e-14, and small gaps to 1e-11 relative. ``tanh`` through the whole recursion
(near-duplicate and near-antipodal rows, depths 3 and 50, ``W_std`` 0.5 to 2, input
scales 1e-3 to 30) within 1e-14 of a 30-digit reference
(``tests/analytic/test_numerical_activations.py``).

Cost: about 1.4e4 integrand evaluations per pair and layer at the base rule (98 outer
× 140 inner nodes for an odd ``φ``), 1.8e4 at the refined one; with the plain-covariance
check, three recursions per call. Measured on a shared 2-core CPU (load ~4), ``tanh``:
depth 3, 16 inputs 0.6 s; depth 50, 16 inputs 7 s; compilation about 15 s per
activation and input-size bucket.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from analytic._float64 import float64_on_cpu
from analytic._pairs import BalancedGaps
from analytic.activations._activation import Activation

__all__ = ["numerical", "tanh"]

#: Integration range ``[-L, L]`` of every standard-normal variable.
CUTOFF = 9.0
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
#: Boundary-layer breakpoints around a kink of ``h`` (in units of its width ``t/(r₂|ρ|)``).
_LAYER = (1.0, 2.5, 4.5, 8.0)


@dataclasses.dataclass(frozen=True)
class Rule:
    """One quadrature order (see the module docstring).

    Attributes:
      nodes: Gauss–Legendre nodes per panel.
      outer_panels: equidistributed panels of the outer integral over ``[0, L]`` (twice as
        many over ``[-L, L]`` for an activation that is neither odd nor even).
      inner_panels: panels of the inner integral (graded towards the activation's centre).
      gauss_step: panel width the Gaussian density asks for.
      grading: ``γ``, the log of the ratio of consecutive panels graded towards a feature.
      diagonal_panels: panels of the one-dimensional diagonal quadrature.
    """

    nodes: int
    outer_panels: int
    inner_panels: int
    gauss_step: float
    grading: float
    diagonal_panels: int


#: The rule a numerical activation uses, and its refined twin for the error estimate.
BASE_RULE = Rule(
    nodes=14,
    outer_panels=7,
    inner_panels=10,
    gauss_step=3.5,
    grading=1.0,
    diagonal_panels=24,
)
REFINED_RULE = Rule(
    nodes=16,
    outer_panels=7,
    inner_panels=10,
    gauss_step=3.5,
    grading=0.95,
    diagonal_panels=28,
)


@functools.cache
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _panel_nodes(points: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """Nodes and weights (times the normal density) of the composite rule on sorted ``points``.

    ``points`` has shape ``(..., P + 1)``; the result has shape ``(..., P, n)`` (kept
    unflattened, so that XLA fuses the nodes into the reductions that use them).
    """
    x, w = _legendre(n)
    lo, hi = points[..., :-1, None], points[..., 1:, None]
    half = 0.5 * (hi - lo)
    z = 0.5 * (hi + lo) + half * x
    return z, (half * w * _INV_SQRT_2PI) * jnp.exp(-0.5 * z * z)


def _graded(centre, inner, extent, panels, rule, lower, upper):
    """``panels + 1`` breakpoints on ``[lower, upper]``, graded towards ``centre`` (closed form).

    The local panel width is ``min(h, γ(|z − c| + s))`` within ``|z − c| < e`` and ``h``
    beyond (``h = gauss_step``, ``s = inner``, ``e = extent``; an infinite ``inner`` means
    no feature): its cumulative count ``F`` is ``log1p(|z − c|/s)/γ`` near ``c`` and linear
    beyond, so it inverts in closed form. When ``c`` lies inside, it is a breakpoint.
    """
    step, gamma = rule.gauss_step, rule.grading
    reach = jnp.clip(jnp.minimum(step / gamma - inner, extent), 0.0, None)
    at_reach = jnp.log1p(reach / inner) / gamma
    # A centre farther than ``reach`` outside the range leaves the grid uniform there: move
    # it closer, so that counts at both ends do not cancel (a centre at 1e17 would).
    centre = jnp.clip(centre, lower - reach - 1.0, upper + reach + 1.0)

    def count(z):
        c, s, r = (x[..., None] for x in (centre, inner, reach))
        distance = jnp.abs(z - c)
        near = jnp.log1p(jnp.minimum(distance, r) / s) / gamma
        return jnp.sign(z - c) * (near + jnp.maximum(distance - r, 0.0) / step)

    def position(y):
        c, s, r, g = (x[..., None] for x in (centre, inner, reach, at_reach))
        size = jnp.abs(y)
        near = s * jnp.expm1(gamma * jnp.minimum(size, g))
        far = r + (size - g) * step
        return c + jnp.sign(y) * jnp.where(size < g, near, far)

    ends = count(jnp.broadcast_to(jnp.array([lower, upper]), (*centre.shape, 2)))
    first, last = ends[..., :1], ends[..., 1:]
    k = jnp.arange(panels + 1)
    inside = (first < 0) & (last > 0)
    left = jnp.clip(jnp.round(panels * -first / (last - first)), 1, panels - 1)
    split = jnp.where(k <= left, first * (1 - k / left), last * (k - left) / (panels - left))
    targets = jnp.where(inside, split, first + (last - first) * (k / panels))
    points = jnp.clip(position(targets), lower, upper)
    return points.at[..., 0].set(lower).at[..., -1].set(upper)


def _inner_points(rule, scales, kinks, mean, spread):
    """Inner breakpoints: graded towards ``x = 0`` mapped to ``z₂ = −m/t``, and the kinks.

    Where ``spread`` (``t``) is 0 the conditional law is a point and the integrand is
    constant in ``z₂``: the grid is then uniform.
    """
    small, large = scales
    positive = spread > 0
    safe = jnp.where(positive, spread, 1.0)
    centre = jnp.where(positive, -mean / safe, 0.0)
    inner = jnp.where(positive, small / safe, jnp.inf)
    extent = jnp.where(positive, large / safe, jnp.inf)
    points = _graded(centre, inner, extent, rule.inner_panels, rule, -CUTOFF, CUTOFF)
    others = [kink for kink in kinks if kink != 0.0]
    if not others:
        return points
    extra = [jnp.where(positive, (kink - mean) / safe, CUTOFF)[..., None] for kink in others]
    points = jnp.concatenate([points, *extra], axis=-1)
    return jnp.sort(jnp.clip(points, -CUTOFF, CUTOFF), axis=-1)


def _loop(count: int, body, state):
    """``fori_loop(0, count, body, state)`` as a ``while_loop``: XLA unrolls loops of a
    known small trip count, which multiplies the compile time of a large body."""
    _, state = jax.lax.while_loop(
        lambda carry: carry[0] < count,
        lambda carry: (carry[0] + 1, body(carry[0], carry[1])),
        (jnp.asarray(0), state),
    )
    return state


def _safe_divide(numerator, denominator, fallback):
    positive = denominator > 0
    return jnp.where(positive, numerator / jnp.where(positive, denominator, 1.0), fallback)


@dataclasses.dataclass(frozen=True)
class _Quadrature:
    """The pieces of a numerical layer map: ``φ`` with ``φ'``, its scales, and a rule.

    ``parity`` is ``"odd"``, ``"even"`` or ``None``: an odd or even ``φ`` makes the
    integrands even under ``(z₁, z₂) ↦ (−z₁, −z₂)``, so the outer integral runs over
    ``z₁ >= 0``.
    """

    pair: Callable[[jax.Array], tuple[jax.Array, jax.Array]]
    scales: tuple[float, float]
    kinks: tuple[float, ...]
    parity: str | None
    rule: Rule

    @property
    def _lower(self) -> float:
        return -CUTOFF if self.parity is None else 0.0

    def _halves(self, weights):
        return weights if self.parity is None else 2.0 * weights

    def diagonal(self, roots: jax.Array) -> jax.Array:
        """``V(a, a, a) = E[φ(r z)²]`` for every root ``r``."""
        small, large = self.scales
        inverse = _safe_divide(1.0, roots, jnp.inf)
        points = _graded(
            jnp.zeros_like(roots),
            small * inverse,
            large * inverse,
            self.rule.diagonal_panels,
            self.rule,
            self._lower,
            CUTOFF,
        )
        points = self._with_points(points, [kink * inverse for kink in self.kinks])
        z, w = _panel_nodes(points, self.rule.nodes)
        value, _ = self.pair(roots[..., None, None] * z)
        return jnp.sum(self._halves(w) * value * value, axis=(-2, -1))

    def _with_points(self, points, extra):
        """``points`` and the ``extra`` breakpoints (each broadcasting to one per row), sorted."""
        if not extra:
            return points
        extra = [jnp.nan_to_num(e, nan=0.0, posinf=CUTOFF, neginf=-CUTOFF) for e in extra]
        extra = [jnp.broadcast_to(e, points.shape[:-1])[..., None] for e in extra]
        points = jnp.concatenate([points, *extra], axis=-1)
        return jnp.sort(jnp.clip(points, self._lower, CUTOFF), axis=-1)

    def moments(self, r1, r2, plus, minus, n1, n2, sign):
        """``(E[(λφ(u) − sign·φ(v)/λ)²], E[φ'(u)φ'(v)])`` for every pair.

        All arguments broadcast to the shape of ``plus`` (one entry per pair): the input
        roots ``r1``, ``r2``, the gaps, the output roots ``n1``, ``n2`` (``√V_ii``) and
        ``sign = ±1``, for which the first result is the output gap ``G^∓``.
        """
        rule = self.rule
        small, large = self.scales
        shape = plus.shape
        total = plus + minus
        rho = _safe_divide(plus - minus, total, 0.0)
        rho_bar = _safe_divide(2.0 * jnp.sqrt(plus * minus), total, 1.0)
        r1 = jnp.broadcast_to(r1, shape)
        r2 = jnp.broadcast_to(r2, shape)
        slope = r2 * rho  # the conditional mean of v is slope · z₁
        spread = r2 * rho_bar  # its conditional standard deviation t
        lam = jnp.sqrt(_safe_divide(jnp.broadcast_to(n2, shape), jnp.broadcast_to(n1, shape), 1.0))
        lam = jnp.where(lam > 0, lam, 1.0)
        signed_inverse_lam = sign / lam

        # Outer breakpoints: graded towards 0 from the finest scale of φ(r₁z₁) and of
        # h(z₁) = E[φ(v) | z₁] (φ smoothed by a Gaussian of width t, at r₂ρz₁) to the
        # largest; the kinks of both, and a boundary layer of width 8t around those of h.
        inverse1 = _safe_divide(1.0, r1, jnp.inf)
        inverse2 = _safe_divide(1.0, jnp.abs(slope), jnp.inf)
        signed2 = _safe_divide(1.0, slope, jnp.inf)
        fine1, fine2 = small * inverse1, jnp.maximum(small, spread) * inverse2
        # A feature no finer than a Gaussian panel needs no grading: its extent is ignored.
        relevant = rule.gauss_step / rule.grading
        wide1 = jnp.where(fine1 < relevant, large * inverse1, 0.0)
        wide2 = jnp.where(fine2 < relevant, (large + 8.0 * spread) * inverse2, 0.0)
        finest, widest = jnp.minimum(fine1, fine2), jnp.maximum(wide1, wide2)
        count = rule.outer_panels * (2 if self.parity is None else 1)
        points = _graded(jnp.zeros(shape), finest, widest, count, rule, self._lower, CUTOFF)
        extra = []
        for kink in self.kinks:
            centre = jnp.clip(jnp.nan_to_num(kink * signed2, nan=0.0), -2 * CUTOFF, 2 * CUTOFF)
            extra += [kink * inverse1, centre]
            extra += [
                centre + side * offset * spread * inverse2 for offset in _LAYER for side in (-1, 1)
            ]
        points = self._with_points(points, extra)
        z1, w1 = _panel_nodes(points, rule.nodes)  # (N1, N2, panels, n)
        w1 = self._halves(w1)

        def panel(p, sums):
            # One outer panel per step keeps the inner arrays small.
            z = jax.lax.dynamic_index_in_dim(z1, p, axis=-2, keepdims=False)  # (N1, N2, n)
            w = jax.lax.dynamic_index_in_dim(w1, p, axis=-2, keepdims=False)
            phi_u, dphi_u = self.pair(r1[..., None] * z)
            mean = slope[..., None] * z
            spreads = jnp.broadcast_to(spread[..., None], mean.shape)
            inner = _inner_points(rule, self.scales, self.kinks, mean, spreads)
            z2, w2 = _panel_nodes(inner, rule.nodes)  # (N1, N2, n, inner panels, n)
            phi_v, dphi_v = self.pair(mean[..., None, None] + spreads[..., None, None] * z2)
            scaled_u = (lam[..., None] * phi_u)[..., None, None]
            difference = scaled_u - signed_inverse_lam[..., None, None, None] * phi_v
            gap = (w[..., None, None] * w2) * jnp.square(difference)
            slope_product = (w * dphi_u)[..., None, None] * w2 * dphi_v
            # Both sums in one complex reduction: XLA then evaluates each node once.
            both = jnp.sum(jax.lax.complex(gap, slope_product), axis=(-3, -2, -1))
            return sums[0] + both.real, sums[1] + both.imag

        zero = jnp.zeros(shape, plus.dtype)
        return _loop(z1.shape[-2], panel, (zero, zero))

    def layer_map(self, gaps: BalancedGaps, *, symmetric: bool = False):
        """Output gaps and ``V̇`` of every pair.

        The smaller output gap is integrated (``G⁻`` for pairs with ``ρ >= 0`` or an even
        ``φ``, else ``G⁺``), the other is ``4 n_i n_j`` minus it. ``symmetric=True`` says
        that ``gaps`` is the covariance of one input set with itself (square, with
        ``root1 = root2``): only its upper triangle is integrated, and mirrored.
        """
        n1 = gaps.plus.shape[0]
        if symmetric:
            new = self._roots(gaps.root1)
            rows, cols = np.triu_indices(n1)
            direct, derivative, sign = self._pairs(
                gaps.root1[rows],
                gaps.root1[cols],
                gaps.plus[rows, cols],
                gaps.minus[rows, cols],
                new[rows],
                new[cols],
            )

            def full(values):
                return (
                    jnp.zeros((n1, n1), values.dtype)
                    .at[rows, cols]
                    .set(values)
                    .at[cols, rows]
                    .set(values)
                )

            direct, derivative, sign = full(direct), full(derivative), full(sign)
            new1 = new2 = new
        else:
            new = self._roots(jnp.concatenate([gaps.root1, gaps.root2]))
            new1, new2 = new[:n1], new[n1:]
            direct, derivative, sign = self._pairs(
                gaps.root1[:, None],
                gaps.root2[None, :],
                gaps.plus,
                gaps.minus,
                new1[:, None],
                new2[None, :],
            )
        scale = new1[:, None] * new2[None, :]
        other = jnp.maximum(4.0 * scale - direct, 0.0)
        defined = scale > 0
        plus = jnp.where(defined, jnp.where(sign > 0, other, direct), 0.0)
        minus = jnp.where(defined, jnp.where(sign > 0, direct, other), 0.0)
        return BalancedGaps(plus, minus, new1, new2), derivative

    def _roots(self, roots):
        """The output roots ``√V(a, a, a)`` (one diagonal quadrature for all of them)."""
        return jnp.sqrt(jnp.maximum(self.diagonal(roots), 0.0))

    def _pairs(self, r1, r2, plus, minus, n1, n2):
        """``(direct gap, V̇, sign)``, broadcasting: see :meth:`moments`."""
        # An even φ maps both near-duplicate and near-antipodal pairs to small G⁻.
        even = self.parity == "even"
        sign = jnp.ones_like(plus) if even else jnp.where(plus >= minus, 1.0, -1.0)
        direct, derivative = self.moments(r1, r2, plus, minus, n1, n2, sign)
        return direct, derivative, sign


def _activation(name, fn, derivative, quadrature, bounds, source, refined=None):
    gain, offset, derivative_gain = bounds
    return Activation(
        name=name,
        fn=fn,
        derivative=derivative,
        layer_map=quadrature.layer_map,
        gain=gain,
        offset=offset,
        derivative_gain=derivative_gain,
        exact=False,
        source=source,
        refined=refined,
        smooth=not quadrature.kinks,
    )


def _build(name, fn, derivative, pair, scales, kinks, parity, bounds, source) -> Activation:
    """The activation at :data:`BASE_RULE`, with its :data:`REFINED_RULE` twin as ``refined``."""
    make = functools.partial(_Quadrature, pair, scales, kinks, parity)
    refined = _activation(
        f"{name}#refined", fn, derivative, make(REFINED_RULE), bounds, source + " (refined rule)"
    )
    return _activation(name, fn, derivative, make(BASE_RULE), bounds, source, refined)


# --------------------------------------------------------------------------- tanh


def _tanh_pair(x):
    """``(tanh x, 1 − tanh² x)`` from one ``tanh`` (XLA's float64 ``tanh`` is within 4 ulps;
    ``1 − tanh²`` then carries an absolute error below 2e-15, enough for kernels of size 1)."""
    value = jnp.tanh(x)
    return value, (1.0 - value) * (1.0 + value)


def _tanh_derivative(x):
    return 1.0 / jnp.square(jnp.cosh(x))


def tanh() -> Activation:
    """:math:`\\tanh(x)`: numerical kernels (no closed form). Bounds: :math:`|\\tanh| \\le 1`,
    :math:`0 < \\tanh' \\le 1`, so ``gain = 0``, ``offset = 1``, ``derivative_gain = 1``."""
    return _build(
        "tanh",
        jnp.tanh,
        _tanh_derivative,
        _tanh_pair,
        scales=(0.5, 18.0),
        kinks=(),
        parity="odd",
        bounds=(0.0, 1.0, 1.0),
        source="numerical: conditioned Gauss–Legendre quadrature (analytic.activations._numerical)",
    )


# --------------------------------------------------------------------------- any function

#: Where a user function is probed: 0, ``±10^k`` for ``k`` in ``[-8, 8]`` (20 a decade),
#: and a fine grid on ``[-16, 16]``.
_LOG_PROBE = np.logspace(-8.0, 8.0, 321)
PROBE = np.unique(np.concatenate([[0.0], _LOG_PROBE, -_LOG_PROBE, np.linspace(-16, 16, 2049)]))
#: Factor applied to the sampled bounds (they are estimates, not proofs).
BOUND_INFLATION = 1.25


def _probe(name, fn, pair) -> tuple[np.ndarray, np.ndarray, str | None]:
    """``(φ, φ')`` on :data:`PROBE`, checked; and ``"odd"`` or ``"even"`` if ``φ`` is, exactly,
    on the probe points (with ``φ'`` even or odd), else ``None``."""
    x64 = jnp.asarray(PROBE, jnp.float64)
    x32 = jnp.asarray(PROBE, jnp.float32)
    try:
        value = jax.jit(fn)(x64)
        value32 = jax.jit(fn)(x32)
        value, slope = jax.jit(pair)(x64)
        mirrored, mirrored_slope = jax.jit(pair)(-x64)
    except Exception as error:  # a user function may raise anything
        raise ValueError(
            f"activation {name!r}: calling it on a float64 array under jax.jit raised "
            f"{type(error).__name__}: {error}"
        ) from None
    for label, result, dtype in (
        ("a float64 array", value, jnp.float64),
        ("a float32 array", value32, jnp.float32),
        ("its derivative at a float64 array", slope, jnp.float64),
    ):
        shape, got = getattr(result, "shape", None), getattr(result, "dtype", None)
        if shape != x64.shape or got != dtype:
            raise ValueError(
                f"activation {name!r} must return an array of its argument's shape and dtype: "
                f"{label} of shape {x64.shape} gave shape {shape}, dtype {got}"
            )
    value, slope = np.asarray(value, np.float64), np.asarray(slope, np.float64)
    for label, result in (("values", value), ("derivatives", slope)):
        bad = ~np.isfinite(result)
        if bad.any():
            raise ValueError(
                f"activation {name!r} returns non-finite {label} (e.g. at x = "
                f"{PROBE[np.argmax(bad)]:g}); it must be finite for |x| <= 1e8"
            )
    mirrored, mirrored_slope = np.asarray(mirrored), np.asarray(mirrored_slope)
    if np.array_equal(mirrored, -value) and np.array_equal(mirrored_slope, slope):
        return value, slope, "odd"
    if np.array_equal(mirrored, value) and np.array_equal(mirrored_slope, -slope):
        return value, slope, "even"
    return value, slope, None


def kinked_at_zero(pair) -> bool:
    """Whether ``φ'`` jumps at 0: its jump across ``±δ`` does not shrink with ``δ``.

    For a smooth ``φ`` the jump ``φ'(δ) − φ'(−δ) ≈ 2δφ''(0)`` falls 1e5-fold from
    ``δ = 1e-5`` to ``δ = 1e-10``; a kink's stays (``relu``: 1 at both).
    """
    points = jnp.asarray([-1e-10, 1e-10, -1e-5, 1e-5], jnp.float64)
    slope = np.asarray(jax.jit(pair)(points)[1], np.float64)
    small, large = abs(slope[1] - slope[0]), abs(slope[3] - slope[2])
    return bool(small > 1e-3 * large and small > 1e-12 * max(np.max(np.abs(slope)), 1e-300))


def estimated_bounds(value: np.ndarray, slope: np.ndarray) -> tuple[float, float, float]:
    r"""``(gain, offset, derivative_gain)`` with :math:`\phi(x)^2 \le g x^2 + c` and
    :math:`\phi'(x)^2 \le \dot g` on the samples of :data:`PROBE`, inflated by
    :data:`BOUND_INFLATION`.

    An *estimate*: nothing is proven between or beyond the samples (``|x| <= 1e8``).
    A function that does not grow over the last four decades is taken as bounded
    (``g = 0``, ``c = max φ²``); otherwise ``g = max_{|x|>=1} φ²/x²`` and ``c`` the
    largest excess of ``φ²`` over ``g x²``.
    """
    square = np.square(value)
    size = np.abs(PROBE)
    if np.max(square[size >= 1e4]) <= 1.01 * np.max(square[size < 1e4]):
        gain, offset = 0.0, float(np.max(square))
    else:
        gain = float(np.max(square[size >= 1.0] / np.square(size[size >= 1.0])))
        offset = float(max(np.max(square - gain * np.square(size)), 0.0))
    return (
        BOUND_INFLATION * gain,
        BOUND_INFLATION * offset,
        BOUND_INFLATION * float(np.max(np.square(slope))),
    )


def numerical(
    fn: Callable[[jax.Array], jax.Array],
    name: str,
    *,
    derivative: Callable[[jax.Array], jax.Array] | None = None,
    scales: tuple[float, float] = (0.5, 18.0),
    kinks: tuple[float, ...] | None = None,
    source: str = "numerical: a user function",
) -> Activation:
    r"""An activation whose kernel maps are computed by quadrature (module docstring).

    Args:
      fn: :math:`\phi`, elementwise on ``jax`` arrays (``jax.jit``-traceable), mapping a
        float64 (float32) array to one of the same shape and dtype.
      name: its canonical spelling; it names the compiled recursion, so two different
        functions must not share a name.
      derivative: :math:`\phi'`; by default forward-mode autodiff of ``fn``, elementwise.
      scales: ``(s, e)``: ``φ`` is assumed analytic on length scales ``>= s`` and to vary
        only for ``|x| <= e`` (beyond, smoothly on the Gaussian's scale), apart from
        ``kinks``.
      kinks: points where ``φ`` or ``φ'`` is not smooth; they become breakpoints. By
        default (``None``) a kink at 0 is detected (:func:`kinked_at_zero`) and no other is
        assumed: declare any other, or its quadrature may be refused.
      source: where the activation comes from.

    The diagonal bounds (``gain``, ``offset``, ``derivative_gain``) are *estimates* from
    samples of ``φ`` and ``φ'`` on ``|x| <= 1e8`` (:func:`estimated_bounds`), not proofs.

    Raises:
      ValueError: ``fn`` cannot be traced, returns the wrong shape or dtype, or returns
        non-finite values (or derivatives) on the probe points.
    """
    if derivative is None:

        def pair(x):
            return jax.jvp(fn, (x,), (jnp.ones_like(x),))

        def slope(x):
            return pair(x)[1]

    else:

        def pair(x):
            return fn(x), derivative(x)

        slope = derivative
    small, large = (float(s) for s in scales)
    if not 0 < small < large < math.inf:
        raise ValueError(f"activation {name!r}: scales must satisfy 0 < s < e, got {scales!r}")
    with float64_on_cpu():
        value, values_slope, parity = _probe(name, fn, pair)
        if kinks is None:
            kinks = (0.0,) if kinked_at_zero(pair) else ()
    kinks = tuple(sorted({float(k) for k in kinks}))
    bounds = estimated_bounds(value, values_slope)
    if kinks != tuple(sorted(-k for k in kinks)):
        parity = None
    return _build(name, fn, slope, pair, (small, large), kinks, parity, bounds, source)
