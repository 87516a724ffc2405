r"""Exact samples of one Gaussian matrix's products: the basis ``Hᵀ = QR`` and ``R_D``.

Sampling one matrix
-------------------
Let ``Q ∈ R^{n_in × k}`` be a *partial isometry* (``QᵀQ = Π``, an
orthogonal projector; ``Π = I`` means orthonormal columns) with ``Hᵀ = QR``,
``R = QᵀHᵀ ∈ R^{k × N}`` (``k = min(n_in, N)``; construction below), and
``P⊥ = I − QQᵀ``. Write ``W = Q Z₁ + P⊥ G`` with ``Z₁ ∈ R^{k × n_out}`` and
``G`` iid ``N(0, 1)``, so that

* ``W`` is iid ``N(0, 1)``: its columns are Gaussian with covariance
  ``QQᵀ + P⊥ = I`` (``QQᵀ`` is a projector because ``Q`` is a partial
  isometry);
* forward: ``H W = Rᵀ Z₁`` because ``H P⊥ = 0`` and ``HQ = RᵀΠ``,
  ``ΠR = R``;
* backward, for a cotangent ``D ∈ R^{N × n_out}``:
  ``D Wᵀ = (D Z₁ᵀ) Qᵀ + Y P⊥ = Y + (D Z₁ᵀ − Y Q) Qᵀ`` with ``Y = D Gᵀ``,
  and given ``D``, ``Y = R_Dᵀ Z₂`` in law for any ``R_D`` with
  ``R_DᵀR_D = D Dᵀ`` and ``Z₂`` iid ``N(0, 1)`` (row covariance
  ``D Dᵀ ⊗ I``) (:func:`_backward_product`).

When ``n_in <= N`` the matrix is instantiated instead: ``Q = I``, ``R = Hᵀ``,
``Z₁ = W`` and ``P⊥ = 0``.

Bases from Gram matrices
------------------------
For ``n_in > N`` the basis (:func:`_basis`) costs only matrix products and
``N × N`` work:

1. ``H Hᵀ = U Λ Uᵀ`` (``eigh``; the Gram matrix is needed for the NTK anyway)
   and ``M = Hᵀ U``, whose column norms ``ν_j = ‖Hᵀ u_j‖`` are accurate to
   rounding of ``‖H‖`` even where ``λ_j`` is rounding noise. Directions
   with ``ν_j <= 4 N ε max ν`` are numerically null (duplicate or zero
   inputs, ``d + 1 < N`` for ``h_0``) and are dropped.
2. ``Q₁ = M diag(1/ν)`` on the kept directions is orthonormal up to the
   errors of the eigenvectors; with its explicitly computed Gram matrix
   ``C = Q₁ᵀQ₁``, ``Q = Q₁ C^{-1/2} Uᵀ`` (``C^{-1/2}`` by ``eigh``). This is
   the second pass of CholeskyQR2 (Yamamoto, Nakatsukasa, Yanagisawa &
   Fukaya 2015, *ETNA* 44: 306-326) with Löwdin's symmetric
   orthogonalisation in place of the Cholesky factor, and with an
   eigendecomposition instead of the first Cholesky pass so that
   rank-deficient ``H`` is allowed; the final ``Uᵀ`` makes ``Q`` (≈
   ``Hᵀ (H Hᵀ)^{-1/2}``, the polar factor) independent of the eigensolver's
   choice of eigenvectors. ``R = QᵀHᵀ`` is one more product, so a zero
   input row gives an exactly zero column of ``R``.
3. Both conditions the proof (:mod:`harness.kernels.conditional._sampler`)
   needs are then *checked*: ``max |QᵀQ − U diag(kept) Uᵀ| <= 4 max(N, 16) ε``
   and, for every input, ``‖h_i − Q r_i‖ <= 4 max(N, 16) ε ‖h_i‖``. If either
   fails, the basis is recomputed by Householder QR (LAPACK), which is
   backward stable whatever the conditioning (Higham 2002, *Accuracy and
   Stability of Numerical Algorithms*, ch. 19). Under ``jax.vmap`` the QR
   runs only when some network of the batch needs it.

A single Gram-matrix pass (CholeskyQR) loses orthogonality like
``ε κ(H)²``; here the rounding of the Gram matrix only perturbs the
eigenvectors, and the second pass orthogonalises the computed ``M``
against its own Gram matrix. Spectra spread over many orders of magnitude
fail the checks and take the Householder path. The accuracy reached, and
which inputs pass the checks, were measured (docs/measurements.md); the
checks themselves are tested in ``tests/kernels/test_conditional.py``.

The cotangent side needs no basis: ``R_D = U diag(‖Dᵀu_j‖) Uᵀ`` with
``D Dᵀ = U Λ Uᵀ`` (the symmetric square root with accurate scales,
:func:`_square_root`), so ``R_DᵀR_D = D Dᵀ`` up to the rounding of ``eigh``,
and duplicate or zero cotangent rows give equal or rounding-size columns
(not the ``√ε ‖D‖`` of ``√λ_j``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from harness.kernels.conditional._linalg import _gram
from harness.kernels.conditional._linalg import _mm
from harness.kernels.conditional._linalg import _mm_t
from harness.kernels.conditional._linalg import _row_norms

#: A direction ``u`` of the eigenbasis of ``H Hᵀ`` is dropped from the basis
#: when ``‖Hᵀu‖ <= _DROP · N · eps · max_j ‖Hᵀu_j‖`` (numerically null).
_DROP = 4.0
#: The basis is accepted when ``|QᵀQ − I|`` (entrywise) and every relative row
#: residual ``‖h_i − Q r_i‖ / ‖h_i‖`` are at most ``_ACCEPT · max(N, 16) · eps``.
_ACCEPT = 4.0


def _householder(h):
    """Householder ``Hᵀ = QR`` (LAPACK on the CPU), returned as ``(Qᵀ (N, m), R (N, N))``."""
    q, r = jnp.linalg.qr(h.T)
    # Qᵀ through a matmul, so that it leaves in the row-major layout of the
    # fast path (else XLA gives the lax.cond result Householder's layout and
    # transposes the fast path's Qᵀ twice on every call).
    return _mm(jnp.eye(r.shape[0], dtype=r.dtype), q.T), r


def _gram_basis(h, gram):
    """Basis of the row space of ``H`` from its Gram matrix, and whether it holds.

    ``h``: ``(N, m)`` with ``m > N``; ``gram``: ``H Hᵀ``. Returns ``(Qᵀ, R, ok)``
    with ``Qᵀ`` ``(N, m)``, a partial isometry (``QᵀQ = U diag(kept) Uᵀ``),
    ``R = QᵀHᵀ`` ``(N, N)`` and ``ok``, a boolean scalar: both conditions of
    the proof (``QᵀQ`` a projector, ``Hᵀ = QR`` row by row) hold to
    ``_ACCEPT · max(N, 16) · eps``. See the module docstring.
    """
    n_inputs = h.shape[0]
    eps = jnp.finfo(h.dtype).eps
    tol = _ACCEPT * max(n_inputs, 16) * eps
    _, u = jnp.linalg.eigh(gram)
    m_t = _mm(u.T, h)  # (H U)ᵀ = Uᵀ H, (N, m): row j has norm ‖Hᵀu_j‖ (accurate, unlike λ_j)
    m_gram = _gram(m_t)
    norms = jnp.sqrt(jnp.diagonal(m_gram))
    keep = norms > _DROP * n_inputs * eps * jnp.max(norms)
    inv = jnp.where(keep, 1.0 / jnp.where(keep, norms, 1.0), 0.0)
    dropped = jnp.diag(jnp.where(keep, 0.0, 1.0).astype(h.dtype))
    # Second pass: Q = Q₁ C^{-1/2} with Q₁ = M diag(1/‖M_j‖) and C = Q₁ᵀQ₁
    # (identity on the dropped columns, which stay zero); then Q Uᵀ, which
    # does not depend on the eigensolver's choice of eigenvectors. (C^{-1/2}
    # by eigh: LAPACK's triangular solve is slower at this size on a CPU,
    # docs/measurements.md.)
    c_values, c_vectors = jnp.linalg.eigh(m_gram * inv[:, None] * inv[None, :] + dropped)
    c_root = _mm(c_vectors / jnp.sqrt(c_values)[None, :], c_vectors.T)
    t_t = c_root * inv[None, :]
    q_t = _mm(_mm(u, t_t), m_t)
    r = _mm_t(q_t, h)
    # A posteriori checks: QᵀQ is the projector U diag(kept) Uᵀ, and Hᵀ = QR row by row.
    projector = _mm(u * jnp.where(keep, 1.0, 0.0).astype(h.dtype)[None, :], u.T)
    orthogonality = jnp.max(jnp.abs(_gram(q_t) - projector))
    residual = _row_norms(h - _mm(r.T, q_t))
    ok = (orthogonality <= tol) & jnp.all(residual <= tol * jnp.sqrt(jnp.diagonal(gram)))
    return q_t, r, ok


@jax.custom_batching.custom_vmap
def _fallback(ok, h, q_t, r):
    """``(Qᵀ, R)`` if ``ok``, else Householder's; batched, the QR runs only if one needs it."""
    return jax.lax.cond(ok, lambda: (q_t, r), lambda: _householder(h))


@_fallback.def_vmap
def _fallback_vmap(axis_size, in_batched, ok, h, q_t, r):
    ok, h, q_t, r = (
        x if batched else jnp.broadcast_to(x, (axis_size, *x.shape))
        for x, batched in zip((ok, h, q_t, r), in_batched, strict=True)
    )

    def slow():
        q_h, r_h = jax.vmap(_householder)(h)
        keep = ok[:, None, None]
        return jnp.where(keep, q_t, q_h), jnp.where(keep, r, r_h)

    return jax.lax.cond(jnp.all(ok), lambda: (q_t, r), slow), (True, True)


def _basis(h, gram):
    """``(Qᵀ, R)``, ``Hᵀ = QR`` with ``Q`` a partial isometry (``m > N``): Gram or Householder."""
    q_t, r, ok = _gram_basis(h, gram)
    return _fallback(ok, h, q_t, r)


def _square_root(d, gram):
    """``R_D = U diag(‖Dᵀu_j‖) Uᵀ`` with ``D Dᵀ = U Λ Uᵀ``: ``R_DᵀR_D = D Dᵀ`` to rounding.

    The scales are the norms of ``Dᵀu_j`` (accurate also for null directions),
    not ``√λ_j`` (which is ``√eps ‖D‖`` for them); the symmetric form does not
    depend on the eigensolver's choice of eigenvectors.
    """
    _, u = jnp.linalg.eigh(gram)
    return _mm(u * _row_norms(_mm(u.T, d))[None, :], u.T)


def _backward_product(d, r_d, z1, q_t, z2):
    """A draw of ``D Wᵀ`` given ``W``'s forward factor: ``Y + (D Z₁ᵀ − Y Q) Qᵀ``, ``Y = R_Dᵀ Z₂``.

    ``d``: cotangent ``(N, n_out)``; ``r_d``: any ``R_D`` with ``R_DᵀR_D = D Dᵀ``
    ``(k_D, N)``; ``z1``: the forward draw ``(k, n_out)``; ``q_t``: ``Qᵀ``
    ``(k, n_in)`` with ``Q`` a partial isometry; ``z2``: fresh N(0, 1)
    ``(k_D, n_in)``.
    """
    y = _mm(r_d.T, z2)
    return y + _mm(_mm_t(d, z1) - _mm_t(y, q_t), q_t)
