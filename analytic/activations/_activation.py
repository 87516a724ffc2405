r"""What an activation is to the harness: its function, its kernel maps, and bounds on them.

For a centred Gaussian pair :math:`(u, v)` with variances :math:`a, b` and
covariance :math:`k`, an elementwise activation :math:`\phi` has the two kernel maps

.. math:: V(a, b, k) = \mathbb E[\phi(u)\phi(v)], \qquad
          \dot V(a, b, k) = \mathbb E[\phi'(u)\phi'(v)]
          = \frac{\partial V}{\partial k}\ \text{(Price 1958)},

which are all the infinite-width recursion needs (Lee et al. 2018; Jacot et
al. 2018). An :class:`Activation` carries them as a map on balanced gaps
(:mod:`analytic._pairs`), the representation in which the recursion keeps
near-duplicate and antipodal inputs exact, together with :math:`\phi` and
:math:`\phi'` for the empirical side (Flax models, the conditional sampler).

For the float64 range checks (:mod:`analytic._range`) it also gives bounds on
the diagonal: :math:`V(a, a, a) \le g\,a + c` and :math:`\dot V(a, a, a) \le
\dot g`; they are equalities (``exact``) for positively homogeneous
activations, and honest upper bounds otherwise (estimates, from samples, for a
user function: :mod:`analytic.activations._numerical`).

An activation computed by quadrature (``tanh``, user functions) carries a ``refined``
twin, the same maps at a finer quadrature order; the recursion is evaluated with both
and refused where they disagree (:func:`analytic._rmlp._evaluate`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax

from analytic._pairs import BalancedGaps

__all__ = ["Activation", "LayerMap"]

#: ``gaps ↦ (gaps of V, V̇)``: one activation applied to every pair of a covariance.
LayerMap = Callable[[BalancedGaps], tuple[BalancedGaps, jax.Array]]


@dataclasses.dataclass(frozen=True, eq=False)
class Activation:
    r"""An elementwise activation and its infinite-width kernel maps.

    Attributes:
      name: the canonical spelling, e.g. ``"relu"`` or ``"leaky_relu:0.1"``
        (:func:`analytic.activations.get_activation` reads it back); two
        activations are equal exactly when their names are.
      fn: :math:`\phi`, elementwise on ``jax`` arrays.
      derivative: :math:`\phi'` (almost everywhere), elementwise.
      layer_map: ``gaps ↦ (out, derivative)``: the balanced gaps of :math:`V`
        and the matrix :math:`\dot V`, for every pair of the covariance ``gaps``.
      gain, offset, derivative_gain: :math:`V(a,a,a) \le g a + c`,
        :math:`\dot V(a,a,a) \le \dot g` for every :math:`a \ge 0`.
      exact: whether those bounds are equalities (with ``offset = 0``).
      source: where the closed form (or the quadrature) comes from.
      refined: for a numerical activation, the same activation at a finer quadrature
        order (a different ``name``, so compiled recursions do not collide); the
        difference between the two kernels is the a-posteriori error estimate that
        :func:`analytic._rmlp._evaluate` checks. ``None`` for a closed form. A numerical
        activation's ``layer_map`` also takes ``symmetric=True`` (the covariance of one
        input set with itself: one triangle is integrated).
      smooth: whether ``φ`` has no kink, so that ``V`` and ``V̇`` are smooth in the
        covariance even at angles 0 and π; only then is a second evaluation on plain
        covariance entries (:func:`analytic._rmlp._plain_kernels`, which rebuilds the gaps
        by subtraction) a fair check of rounding. ``False`` for a numerical activation
        with kinks, whose maps, like the ReLU family's (``exact``, never so checked),
        depend on small gaps more sharply than that path resolves.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array]
    derivative: Callable[[jax.Array], jax.Array]
    layer_map: LayerMap
    gain: float
    offset: float
    derivative_gain: float
    exact: bool
    source: str
    refined: Activation | None = None
    smooth: bool = True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and other.name == self.name

    def __hash__(self) -> int:  # a static argument of compiled recursions
        return hash(("Activation", self.name))

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"

    def __str__(self) -> str:
        return self.name
