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
activations, and honest upper bounds otherwise.
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
      source: where the closed form comes from.
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

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and other.name == self.name

    def __hash__(self) -> int:  # a static argument of compiled recursions
        return hash(("Activation", self.name))

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"

    def __str__(self) -> str:
        return self.name
