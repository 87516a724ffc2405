r"""Covariances carried as *balanced gaps*, so that angles near 0 and π stay exact.

Every layer of the infinite-width recursion maps a 2×2 covariance
``[[a, k], [k, b]]`` of a pair of inputs (``a = K_ii``, ``b = K_jj``,
``k = K_ij = √(ab) cos θ``) to a new one. The ReLU maps need the angle θ, and
recovering it as ``arccos(k / √(ab))`` is ill-conditioned near ``θ = 0`` and
``θ = π``: a rounding error ε in the correlation becomes an error ``~ε/θ`` in θ
(``~1e-8`` for near-duplicate inputs), and the ReLU derivative kernel
``(π − θ) / 2π`` inherits it. This is why neural-tangents, which takes the
``arccos`` of the correlation, loses accuracy on near-duplicate inputs, an error
of order ``ε/θ`` at every ReLU that accumulates with depth (measured figures:
docs/measurements.md).

Here each pair is carried instead by the per-input roots ``r_i = √K_ii`` and the
two *balanced gaps*

.. math::

   G^-_{ij} = 2(\sqrt{K_{ii}K_{jj}} - K_{ij}) = 2\sqrt{ab}\,(1 - \cos θ) = 4\sqrt{ab}\sin^2(θ/2),
   \qquad
   G^+_{ij} = 2(\sqrt{K_{ii}K_{jj}} + K_{ij}) = 4\sqrt{ab}\cos^2(θ/2),

the squared distance and squared sum of the two inputs after rescaling both to
the geometric mean of their norms. Then ``K_ij = (G⁺ − G⁻)/4``,
``√(ab) = (G⁺ + G⁻)/4`` and ``θ = 2·atan2(√G⁻, √G⁺)``, which is accurate to
a few ulps at every angle as long as ``G⁻`` and ``G⁺`` carry small *relative*
errors. Every map below is written as a sum of non-negative terms, so they do.

* Input layer: ``G∓ = ‖x‖‖y‖·‖x̂ ∓ ŷ‖²`` with ``x̂ = x/‖x‖``, where the
  squared norms of ``x̂ ∓ ŷ`` come from an error-free splitting of the rows
  (never as ``2 ∓ 2 x̂·ŷ``; see :func:`_squared_sums_and_differences`).
* Affine layer ``K' = w K + β`` (``w = W_std²/fan_in``, ``β = b_std²``), with
  ``r' = √(w r² + β)``:
  ``G∓' = w G∓ + 2C (+ 4β for G⁺)``, where
  ``C = √(a'b') − w√(ab) − β = wβ (r_i − r_j)² / (r'_i r'_j + w r_i r_j + β) ≥ 0``.
* Residual sum of independent branches ``K_l = K + K_z``, ``r_l = √(r² + r_z²)``:
  ``G∓_l = G∓ + G∓_z + 2D``, where
  ``D = (r_i r_{z,j} − r_{z,i} r_j)² / (r_{l,i} r_{l,j} + r_i r_j + r_{z,i} r_{z,j}) ≥ 0``
  (the Cauchy–Schwarz gap of the two branches).

The cross-kernel case (inputs ``x1``, ``x2``) carries separate roots for the
rows (``r1``) and the columns (``r2``).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["BalancedGaps", "affine_gaps", "input_gaps", "kernel_of", "residual_sum_gaps"]

#: Grid of the high part of the error-free splitting of unit input rows.
_SPLIT_BITS = 25


class BalancedGaps(NamedTuple):
    """A covariance ``K`` between two input sets, carried as balanced gaps.

    Attributes:
      plus: ``G⁺ = 2(√(K_ii K_jj) + K_ij)``, shape ``(N1, N2)``.
      minus: ``G⁻ = 2(√(K_ii K_jj) − K_ij)``, shape ``(N1, N2)``.
      root1: ``√K_ii`` of the first input set, shape ``(N1,)``.
      root2: ``√K_jj`` of the second input set, shape ``(N2,)``.
    """

    plus: jax.Array
    minus: jax.Array
    root1: jax.Array
    root2: jax.Array


def kernel_of(gaps: BalancedGaps) -> jax.Array:
    """The covariance ``K_ij = (G⁺ − G⁻) / 4``."""
    return 0.25 * (gaps.plus - gaps.minus)


def _safe_ratio(numerator: jax.Array, denominator: jax.Array) -> jax.Array:
    """``numerator / denominator``, and 0 where the denominator is 0 (a zero input)."""
    positive = denominator > 0
    return jnp.where(positive, numerator / jnp.where(positive, denominator, 1.0), 0.0)


def _unit_rows(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    norms = jnp.sqrt(jnp.sum(x * x, axis=1))
    units = x / jnp.where(norms > 0, norms, 1.0)[:, None]
    return norms, units


def _split(units: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Split ``u = high + low``: ``high`` on the grid ``2^-_SPLIT_BITS``, ``low`` the rest."""
    scale = 2.0**_SPLIT_BITS
    high = jnp.round(units * scale) / scale
    return high, units - high


def _squared_sums_and_differences(u1: jax.Array, u2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(‖u1_i + u2_j‖², ‖u1_i − u2_j‖²)`` for unit rows, accurate *relative* to their size.

    ``2 ∓ 2 u1_i·u2_j`` would carry an absolute error of a few ulps, a large
    relative error when two rows nearly coincide (or are nearly antipodal).
    Instead each row is split as ``u = h + l`` (an error-free splitting, as in
    Ozaki et al. 2012, "Error-free transformations of matrix multiplication by
    using fast routines of matrix multiplication"): the entries of ``h`` are
    multiples of ``2^-25`` in ``[−1, 1]``, so every product and partial sum of
    ``h hᵀ`` is a multiple of ``2^-50`` below 8, and

    .. math::  ‖u_i ∓ u_j‖² = ‖h_i ∓ h_j‖² + 2 (h_i ∓ h_j)·(l_i ∓ l_j) + ‖l_i ∓ l_j‖²

    has an exact first term. The middle term (from ``h lᵀ``, ``|l| <= 2^-26``)
    carries an absolute error ``~√d·ε·2^-26 ≈ 1e-24 √d``, which is below
    ``1e-16`` relative for rows at angles ``θ ≳ 1e-4`` and gives an angle error
    ``~1e-24/θ`` below that; it is exactly 0 whenever ``h_i ∓ h_j = 0`` (so
    duplicate and antipodal rows get ``‖l_i ∓ l_j‖²``, whose error is
    ``~ε·2^-52``). The last term comes from ``l lᵀ``.
    """
    h1, l1 = _split(u1)
    h2, l2 = _split(u2)
    dot = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
    hh = dot(h1, h2.T)
    mixed = dot(jnp.concatenate([h1, l1], axis=1), jnp.concatenate([l2, h2], axis=1).T)
    ll = dot(l1, l2.T)
    hh1, hh2 = jnp.sum(h1 * h1, axis=1)[:, None], jnp.sum(h2 * h2, axis=1)[None, :]
    hl1, hl2 = jnp.sum(h1 * l1, axis=1)[:, None], jnp.sum(h2 * l2, axis=1)[None, :]
    ll1, ll2 = jnp.sum(l1 * l1, axis=1)[:, None], jnp.sum(l2 * l2, axis=1)[None, :]

    def squared_norm(sign):
        high = hh1 + hh2 + sign * 2.0 * hh  # exact
        middle = jnp.where(high == 0, 0.0, hl1 + hl2 + sign * mixed)
        low = ll1 + ll2 + sign * 2.0 * ll
        return jnp.maximum(high + 2.0 * middle + low, 0.0)

    return squared_norm(1.0), squared_norm(-1.0)


def input_gaps(x1: jax.Array, x2: jax.Array, weight_var, bias_var) -> BalancedGaps:
    """Balanced gaps of the first Dense layer ``K = w x1 x2ᵀ + β``.

    Args:
      x1, x2: inputs ``(N1, d)`` and ``(N2, d)``.
      weight_var: ``w = W_std² / d``.
      bias_var: ``β = b_std²``.
    """
    norm1, unit1 = _unit_rows(x1)
    norm2, unit2 = _unit_rows(x2)
    plus, minus = _squared_sums_and_differences(unit1, unit2)
    scale = norm1[:, None] * norm2[None, :]
    raw = BalancedGaps(scale * plus, scale * minus, norm1, norm2)
    return affine_gaps(raw, weight_var, bias_var)


def affine_gaps(gaps: BalancedGaps, weight_var, bias_var) -> BalancedGaps:
    """The map ``K ↦ w K + β`` of a Dense layer (``w = W_std²/fan_in``, ``β = b_std²``)."""
    r1, r2 = gaps.root1, gaps.root2
    new1 = jnp.sqrt(weight_var * r1 * r1 + bias_var)
    new2 = jnp.sqrt(weight_var * r2 * r2 + bias_var)
    old_product = r1[:, None] * r2[None, :]
    denominator = new1[:, None] * new2[None, :] + weight_var * old_product + bias_var
    gap = 2.0 * _safe_ratio(
        weight_var * bias_var * jnp.square(r1[:, None] - r2[None, :]), denominator
    )
    return BalancedGaps(
        weight_var * gaps.plus + 4.0 * bias_var + gap,
        weight_var * gaps.minus + gap,
        new1,
        new2,
    )


def residual_sum_gaps(skip: BalancedGaps, branch: BalancedGaps) -> BalancedGaps:
    """The map ``(K, K_z) ↦ K + K_z`` of a residual sum of independent branches."""
    s1, s2, z1, z2 = skip.root1, skip.root2, branch.root1, branch.root2
    new1 = jnp.sqrt(s1 * s1 + z1 * z1)
    new2 = jnp.sqrt(s2 * s2 + z2 * z2)
    numerator = jnp.square(s1[:, None] * z2[None, :] - z1[:, None] * s2[None, :])
    denominator = (
        new1[:, None] * new2[None, :] + s1[:, None] * s2[None, :] + z1[:, None] * z2[None, :]
    )
    gap = 2.0 * _safe_ratio(numerator, denominator)
    return BalancedGaps(
        skip.plus + branch.plus + gap,
        skip.minus + branch.minus + gap,
        new1,
        new2,
    )
