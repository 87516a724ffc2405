r"""Finite-width NNGP and NTK of the residual MLP by exact Gaussian conditioning.

The per-network kernels of :mod:`models._residual_mlp` (width ``n``, depth
``L``, ``N`` inputs) depend on each ``n × n`` weight matrix only through its
products with ``N``-column matrices. Those products can be *sampled* exactly
in distribution, without ever forming a weight matrix, in ``O(L n N²)`` time
(matrix products of ``N × n`` by ``n × N`` or ``N × N`` by ``N × n``
matrices, plus ``O(L N³)``) and ``O(L n N)`` memory (an instantiated network
needs ``O(L n² N)`` time and ``O(L n²)`` memory), which reaches widths of
``2^20`` and beyond on a CPU. The technique is the
Gaussian conditioning of approximate message passing (Bolthausen 2014;
Bayati & Montanari 2011) as used for wide networks by Tensor Programs
(Yang 2019, arXiv:1902.04760; Yang 2020, arXiv:2006.14548): given the
products already taken with an iid Gaussian matrix, its conditional law is
an explicit mean plus an independent Gaussian on the orthogonal complement.

Network and kernels
-------------------
Every dense layer is ``z = s · H W + β b`` with ``W ∈ R^{n_in × n_out}`` and
``b ∈ R^{n_out}`` iid ``N(0, 1)``, ``s = W_std/√n_in`` and ``β = b_std``
(NTK parameterization, Jacot et al. 2018)::

    h_0     = s_e X W_e + β b_e                           (s_e = W_std/√d)
    u_l     = s h_l A_l + β a_l,   v_l = φ(u_l)           l = 0 … L-1
    h_{l+1} = h_l + s v_l B_l + β b_l
    f       = s φ(h_L) w                                  (no readout bias)

with ``φ = ReLU`` and ``s = W_std/√n``. Reverse mode (one output, so the
readout cotangent is 1)::

    G_L = s wᵀ ⊙ 1[h_L > 0]
    Δ_l = s (G_{l+1} B_lᵀ) ⊙ 1[u_l > 0],   G_l = G_{l+1} + s Δ_l A_lᵀ

The readout-marginalised NNGP is ``K̂ = s² φ(h_L) φ(h_L)ᵀ`` and the
empirical NTK factors over layers into (input Gram) ⊙ (cotangent Gram)::

    Θ̂ = s² φ(h_L)φ(h_L)ᵀ
        + Σ_l [(s² v_l v_lᵀ + β²) ⊙ G_{l+1}G_{l+1}ᵀ + (s² h_l h_lᵀ + β²) ⊙ Δ_l Δ_lᵀ]
        + (s_e² X Xᵀ + β²) ⊙ G_0 G_0ᵀ.

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
  ``D Dᵀ ⊗ I``).

When ``n_in <= N`` the matrix is instantiated instead: ``Q = I``, ``R = Hᵀ``,
``Z₁ = W`` and ``P⊥ = 0``. The embedding ``W_e`` is used forward only:
``X W_e = X Z`` (instantiated, ``d <= N``) or ``R_Xᵀ Z`` (``d > N``, with
the basis below). Biases (length
``n``) and the readout ``w`` are drawn directly. Each ``Z₁`` is drawn once
and kept for the backward pass.

Bases from Gram matrices
------------------------
For ``n_in > N`` the basis costs only matrix products and ``N × N`` work:

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
3. Both conditions the proof below needs are then *checked*:
   ``max |QᵀQ − U diag(kept) Uᵀ| <= 4 max(N, 16) ε`` and, for every input,
   ``‖h_i − Q r_i‖ <= 4 max(N, 16) ε ‖h_i‖``. If either fails, the basis
   is recomputed by Householder QR (LAPACK), which is backward stable
   whatever the conditioning (Higham 2002, *Accuracy and Stability of
   Numerical Algorithms*, ch. 19). Under ``jax.vmap`` the QR runs only when
   some network of the batch needs it.

A single Gram-matrix pass (CholeskyQR) loses orthogonality like
``ε κ(H)²``; here the rounding of the Gram matrix only perturbs the
eigenvectors, and the second pass orthogonalises the computed ``M``
against its own Gram matrix. Measured in float64 on the layers of networks
of width 2^10-2^16: ``QᵀQ`` is a projector to 4e-15 and every row of ``H``
is reproduced to 4e-15 of its norm (Householder QR: 3e-15 and 1.3e-15),
with all checks passing, for the default inputs (32 Gaussian inputs in
``R^10``: ``κ(H)`` ≈ 25-30 for the hidden layers, ``h_0`` of rank 11), for
32 inputs on a line (``κ`` ≈ 3e3), for inputs in ``R^2`` and ``R^3``, and
for near-duplicate inputs 1e-4 to 1e-14 apart; with the same normal draws,
kernels computed with these bases and with Householder bases brought to the
same polar form agree to 1e-14 relative. The checks fail (and Householder
QR is used) for spectra spread over many orders of magnitude, e.g. singular
values graded geometrically from 1 to 1e-12 (1e-6 in float32), but not for
a cluster of small singular values apart from the rest.

The cotangent side needs no basis: ``R_D = U diag(‖Dᵀu_j‖) Uᵀ`` with
``D Dᵀ = U Λ Uᵀ`` (the symmetric square root with accurate scales), so
``R_DᵀR_D = D Dᵀ`` up to the rounding of ``eigh``, and duplicate or zero
cotangent rows give equal or rounding-size columns (not the ``√ε ‖D‖`` of
``√λ_j``).

Why this is exact for the residual MLP
--------------------------------------
*Which products are needed.* The kernels above use the layer inputs
``X, h_l, v_l, φ(h_L)`` and the cotangents ``G_{l+1}, Δ_l, G_0``, nothing
else. In the forward graph each of ``W_e, A_l, B_l`` is multiplied exactly
once (by ``X``, ``h_l``, ``v_l``); the skip connection adds ``h_l`` to the
block output but reuses no weight, and no weight is shared between layers.
In the backward graph the VJP of ``z = s H W`` with respect to ``H`` is
``D ↦ s D Wᵀ`` and the VJP of the skip is the identity, so ``B_l`` appears
once (``G_{l+1} B_lᵀ``), ``A_l`` once (``Δ_l A_lᵀ``), and ``W_e`` never (no
cotangent of ``X`` is needed). The readout ``w`` enters the backward pass
once, as ``G_L``; it also enters ``f``, but ``f`` is not used by either kernel
(the NNGP is marginalised over ``w`` and the NTK of a one-output network does
not depend on ``f``), so ``w`` is drawn directly. Hence, when the backward
product of a matrix is formed, the only product already taken with it is its
forward product: that is the whole conditioning set.

*Order.* Forward products are taken in the order ``W_e, A_0, B_0, …,
B_{L-1}``; the input ``H`` of each is a function of ``X``, the biases and the
forward products of earlier matrices only. Backward products are taken in the
order ``B_{L-1}, A_{L-1}, …, A_0``; the cotangent ``D`` of each is a function
of the forward pass, ``w`` and the backward products of matrices later in
that order, never of its own backward product.

*Joint law.* (1) Write every matrix as ``W = Q Z₁ + P⊥ G`` with ``(Z₁, G)``
iid and independent of everything else, where ``Q`` is a function of ``H``
(which basis, Gram or Householder, is also decided by ``H`` alone). By
induction in the forward order, conditional on the earlier matrices and the
biases (which fix ``H`` and so ``Q``), ``W`` is Gaussian with column
covariance ``QQᵀ + P⊥ = I``, i.e. iid ``N(0, 1)``: the matrices so built are
jointly those of an instantiated network. (2) For this network every forward
product equals ``Rᵀ Z₁`` and every backward product equals
``(D Z₁ᵀ) Qᵀ + (D Gᵀ) P⊥`` identically (algebra, not just in law), because
``Hᵀ = QR`` and ``W = QZ₁ + P⊥G``. (3) Replace ``D Gᵀ`` by ``R_Dᵀ Z₂``, one
matrix at a time in the backward order. ``G`` enters the computation only
through ``D Gᵀ`` (the forward pass uses ``Z₁`` alone), and ``D`` is a
function of variables independent of ``G``; given them, ``D Gᵀ`` and
``R_Dᵀ Z₂`` have the same Gaussian law (row covariance ``D Dᵀ ⊗ I``).
So each replacement leaves the joint law of all computed quantities
unchanged, and the sampled kernels have exactly the law of the instantiated
network's kernels (for each fixed input set, at every width).

*Rank deficiency.* Nothing above needs ``span(Q)`` to equal the row space of
``H``; it needs only that ``Q`` is a partial isometry and ``Hᵀ = QR``: a
larger span (Householder QR of a rank-deficient ``H``) conditions on
``QᵀW`` rather than on ``HW`` alone, which is still an exact representation.
When ``n_in <= N``, ``P⊥ = 0`` and the matrix is fully determined by its
forward product. In floating point the two conditions hold to the checked
``4 max(N, 16) ε``. Duplicate inputs give kernel rows equal to rounding; a
zero input row with ``b_std = 0`` gives exactly zero kernel rows, as the
network does (the ReLU derivative at 0 is taken as 0, as JAX does).

Random numbers
--------------
Normals come from the Box–Muller transform of threefry bits (the
non-partitionable stream, used whatever the ``jax_threefry_partitionable``
flag; JAX's own float64 ``normal`` spends most of its time in ``erf⁻¹``).
Each pair uses 53 bits for the radius ``√(−2 ln U)``, ``U`` uniform on the
``2⁵³`` points ``(j + 1) 2⁻⁵³`` of ``(0, 1]``, and 32 bits for the angle:
3 bits choose one of the 8 symmetries of the square and 29 bits the midpoint
``x = (f + ½) π/2³¹`` of one of ``2²⁹`` equal cells of ``(0, π/4)``, whose
sine and cosine are Taylor polynomials (1 ulp). So the angle is uniform on
the ``2³²`` midpoints of a regular partition of the circle, and
``(cos θ, sin θ)`` has every trigonometric moment of the uniform angle up to
order ``2³² − 1``; with ``U`` on a grid of ``2⁻⁵³`` this is exact to float64
rounding. (JAX's float32 normals, by contrast, have mean −3.3e-7 and
variance 1 − 1.1e-7: a 23-bit uniform, one-sided grid.)

Cost and precision
------------------
Per network and hidden matrix: two ``eigh`` of ``N × N`` for the basis and
one for ``R_D``; eight ``N × n`` by ``n × N`` or ``N × N`` by ``N × n``
products forward (Gram, ``M``, Gram of ``M``,
``Q``, ``R``, the two checks, ``RᵀZ₁``) and six backward (Gram of ``D``,
``Dᵀu_j``, ``Y``, ``D Z₁ᵀ``, ``Y Q``, ``(·) Qᵀ``), ``O(L n N²)`` flops in
all; ``2 N n`` normals per hidden matrix (``4 N n + 2n`` per block) and
``(min(d, N) + 2) n`` for the embedding, bias and readout. Memory: ``Qᵀ``
and ``Z₁`` of every hidden matrix and the ReLU masks are kept for the
backward pass, ``(4L + c) n N`` numbers.

All matmuls run at ``Precision.HIGHEST``. :func:`conditional_kernels`
computes in float64 by default, inside a local ``jax.enable_x64`` context
(the global flag is never changed); ``dtype="float32"`` is available. The
float32 sampler makes the same draws (rounded) and the same polar-form bases
as the float64 one, so both give the same network up to rounding when the
bases are well conditioned: measured on 4 networks at each of n = 2^9-2^16,
N = 6-32, the float32 kernels differ from the float64 ones by at most 2e-6
of the largest entry, except the NTK at N = 32, n = 2^16 (5e-5), while one network's
kernels deviate from the limit by O(1/√n) (~1e-2 at n = 2^16). Where a
check passes in one dtype and not the other the two draw different (equally
exact) networks.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import numbers
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from analytic import check_input_array
from analytic import check_whole
from analytic import validate_architecture
from harness.kernels._budget import default_memory_budget_bytes

__all__ = [
    "ConditionalKernels",
    "conditional_kernels",
    "conditional_keys",
    "conditional_network_bytes",
    "conditional_network_kernels",
]

_HIGHEST = jax.lax.Precision.HIGHEST
_MAX_SEED = 2**31  # seeds and base seeds below this give the same key whatever the x64 flag
_DTYPES = ("float32", "float64")


class ConditionalKernels(NamedTuple):
    """Per-network kernels from :func:`conditional_kernels` (NumPy float64, networks on axis 0).

    Attributes:
      nngp: readout-marginalised NNGP ``(W_std²/n) φ(h_L) φ(h_L)ᵀ``, ``(S, N, N)``.
      ntk: empirical NTK (one output), ``(S, N, N)``.
      seeds: the network indices ``s`` (key ``fold_in(PRNGKey(base_seed), s)``).
      dtype: the compute dtype, ``"float64"`` or ``"float32"``.
    """

    nngp: np.ndarray
    ntk: np.ndarray
    seeds: tuple
    dtype: str


# --------------------------------------------------------------------------- validation


def _check_architecture(width, num_res_blocks, W_std, b_std):
    """``width >= 1``, and the analytic kernels' own checks of the rest."""
    return (check_whole("width", width, 1), *validate_architecture(num_res_blocks, W_std, b_std))


def _check_dtype(dtype):
    name = jnp.dtype(dtype).name if dtype is not None else None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return name


def _seed_list(seeds):
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool | np.bool_):
        seeds = range(check_whole("seeds", seeds, 1))
    try:
        seeds = tuple(seeds)
    except TypeError as error:
        raise ValueError(f"seeds must be a positive int or a sequence of ints: {error}") from error
    if not seeds:
        raise ValueError("seeds must not be empty")
    for s in seeds:
        check_whole("each seed", s, 0)
        if s >= _MAX_SEED:
            raise ValueError(f"seeds must be < 2**31, got {s}")
    return tuple(int(s) for s in seeds)


# --------------------------------------------------------------------------- the sampler


#: Taylor coefficients of sin x / x and cos x in x², enough for 1 ulp on [0, π/4] in float64.
_SIN = tuple((-1) ** i / math.factorial(2 * i + 1) for i in range(8))
_COS = tuple((-1) ** i / math.factorial(2 * i) for i in range(9))


def _horner(coefficients, y):
    acc = jnp.full_like(y, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        acc = acc * y + c
    return acc


def _legacy_threefry():
    """The non-partitionable threefry stream (faster on the CPU), whatever the global flag."""
    flag = getattr(jax, "threefry_partitionable", None)
    return flag(False) if flag is not None else contextlib.nullcontext()


#: Normal pairs per threefry call: larger calls fall out of the CPU caches and
#: run several times slower per number.
_PAIRS_PER_CALL = 2**16


def _box_muller(high, low, angle_bits, dtype):
    """``(2, P)`` normals from three ``uint32[P]`` words per pair (see :func:`_normal`)."""
    u = (high.astype(dtype) * 2.0**21 + ((low >> 11).astype(dtype) + 1.0)) * 2.0**-53
    radius = jnp.sqrt(-2.0 * jnp.log(u))
    x = ((angle_bits >> 3).astype(dtype) + 0.5) * (math.pi / 2.0**31)
    y = x * x
    sin, cos = x * _horner(_SIN, y), _horner(_COS, y)
    swap = (angle_bits & 1) == 1
    first = jnp.where(swap, sin, cos)
    second = jnp.where(swap, cos, sin)
    first = jnp.where((angle_bits & 2) == 2, -first, first)
    second = jnp.where((angle_bits & 4) == 4, -second, second)
    return jnp.stack([radius * first, radius * second])


def _normal_pairs(key, pairs, dtype):
    with _legacy_threefry():
        words = jax.random.bits(key, (3, pairs), jnp.uint32)
    return _box_muller(*words, dtype)


def _normal(key, shape, dtype):
    """iid N(0, 1) of ``shape`` by the Box–Muller transform of threefry bits.

    Each pair uses 53 bits for the radius ``√(−2 ln U)``, ``U = (j + 1) 2⁻⁵³``
    (``j`` uniform on ``[0, 2⁵³)``), and 32 bits for the angle: 3 bits pick
    one of the 8 symmetries of the square (swap, two signs) and 29 bits the
    midpoint ``x = (f + ½) π/2³¹`` in ``(0, π/4)``, whose sine and cosine are
    Taylor polynomials (1 ulp in float64). The pairs are made in calls of
    :data:`_PAIRS_PER_CALL`, call ``i`` with key ``fold_in(key, i)``.
    """
    size = math.prod(shape)
    pairs = -(-size // 2)
    calls = -(-pairs // _PAIRS_PER_CALL)
    if calls == 1:
        out = _normal_pairs(jax.random.fold_in(key, 0), pairs, dtype)
    else:
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(calls, dtype=jnp.uint32))
        out = jax.lax.map(lambda k: _normal_pairs(k, _PAIRS_PER_CALL, dtype), keys)
    return out.reshape(-1)[:size].reshape(shape)


def _mm(a, b):
    """``A B`` at the highest precision."""
    return jnp.matmul(a, b, precision=_HIGHEST)


def _mm_t(a, b):
    """``A Bᵀ`` (contracting the last axes, no transposed copy of a wide ``B``)."""
    return jax.lax.dot_general(a, b, (((1,), (1,)), ((), ())), precision=_HIGHEST)


def _gram(a):
    """``A Aᵀ`` of an ``N × m`` matrix, made exactly symmetric."""
    gram = _mm_t(a, a)
    return 0.5 * (gram + gram.T)


def _row_norms(a):
    return jnp.sqrt(jnp.sum(a * a, axis=1))


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
    # by eigh: LAPACK's triangular solve is far slower at this size on a CPU.)
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


def _network_kernels(key, xs, W_std, b_std, *, width, num_res_blocks, dtype):
    """``(nngp, ntk)`` of one sampled network; traced in ``key``, ``xs``, ``W_std``, ``b_std``.

    Randomness: ``fold_in(key, i)``, ``i = 0 … 2L``, gives one key for the
    embedding and readout and one forward and one backward key per block;
    each key feeds a single :func:`_normal` call whose rows are cut into the
    draws. Every normal is drawn once; the forward draws ``Z₁`` are kept for
    the backward pass.
    """
    xs = jnp.asarray(xs).astype(dtype)
    W_std = jnp.asarray(W_std, dtype)
    beta = jnp.asarray(b_std, dtype)
    n_inputs, input_dim = xs.shape
    n, L = width, num_res_blocks
    k = min(n, n_inputs)  # rows of Z₁ for every hidden matrix
    wide = n > n_inputs  # else hidden matrices are instantiated (Z₁ = W, P⊥ = 0)
    s = W_std / math.sqrt(n)
    s_embed = W_std / math.sqrt(input_dim)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(2 * L + 1, dtype=jnp.uint32))
    forward_keys, backward_keys = keys[1 : L + 1], keys[L + 1 :]

    def factor(h):
        gram = _gram(h)
        if not wide:
            return jnp.eye(n, dtype=dtype), h.T, gram
        q_t, r = _basis(h, gram)
        return q_t, r, gram

    # Embedding: X W_e = R_Xᵀ Z (W_e is never needed again; instantiated,
    # R_X = Xᵀ, when d <= N); the same draw holds the embedding bias and the
    # readout weights w.
    r_x = xs.T if input_dim <= n_inputs else _basis(xs, _gram(xs))[1]
    k_x = r_x.shape[0]
    draw = _normal(keys[0], (k_x + 2, n), dtype)
    h = s_embed * _mm(r_x.T, draw[:k_x]) + beta * draw[k_x]
    readout = draw[k_x + 1]

    def forward(h, block_key):
        draw = _normal(block_key, (2 * k + 2, n), dtype)
        z_a, z_b, bias_a, bias_b = draw[:k], draw[k : 2 * k], draw[2 * k], draw[2 * k + 1]
        q_h, r_h, gram_h = factor(h)
        u = s * _mm(r_h.T, z_a) + beta * bias_a
        v = jax.nn.relu(u)
        q_v, r_v, gram_v = factor(v)
        h_next = h + s * _mm(r_v.T, z_b) + beta * bias_b
        return h_next, (q_h, q_v, z_a, z_b, u > 0, gram_h, gram_v)

    h, saved = jax.lax.scan(forward, h, forward_keys, length=L)

    nngp = s**2 * _gram(jax.nn.relu(h))
    # Readout: ∂f/∂w = s φ(h_L) gives the s² φφᵀ term; its cotangent is G_L.
    grad_h = s * readout * (h > 0).astype(dtype)

    def backward_product(d, gram_d, z1, q, z2):
        if not wide:
            return _mm_t(d, z1)
        return _backward_product(d, _square_root(d, gram_d), z1, q, z2)

    def backward(carry, inputs):
        grad_h, ntk = carry
        backward_key, q_h, q_v, z_a, z_b, mask_u, gram_h, gram_v = inputs
        if wide:  # Z₂ of B_l, then of A_l
            fresh = _normal(backward_key, (2 * k, n), dtype)
            z2_b, z2_a = fresh[:k], fresh[k:]
        else:
            z2_b = z2_a = None
        # Outer dense B_l: input v_l, cotangent G_{l+1}.
        gram_g = _gram(grad_h)
        ntk = ntk + (s**2 * gram_v + beta**2) * gram_g
        delta = s * backward_product(grad_h, gram_g, z_b, q_v, z2_b)
        delta = delta * mask_u.astype(dtype)
        # Inner dense A_l: input h_l, cotangent Δ_l.
        gram_d = _gram(delta)
        ntk = ntk + (s**2 * gram_h + beta**2) * gram_d
        grad_h = grad_h + s * backward_product(delta, gram_d, z_a, q_h, z2_a)
        return (grad_h, ntk), None

    (grad_h, ntk), _ = jax.lax.scan(
        backward, (grad_h, nngp), (backward_keys, *saved), length=L, reverse=True
    )
    x_factor = s_embed**2 * _gram(xs) + beta**2
    ntk = ntk + x_factor * _gram(grad_h)
    return nngp, ntk


_network_kernels_jit = jax.jit(
    _network_kernels, static_argnames=("width", "num_res_blocks", "dtype")
)


def conditional_network_kernels(
    key,
    xs,
    *,
    width: int,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    dtype=None,
):
    """Readout-marginalised NNGP and empirical NTK of one network drawn by Gaussian conditioning.

    The pair has exactly the law of ``(empirical NNGP, empirical NTK)`` of a
    :class:`models.ResidualMLP` (``out_dim=1``) with N(0, 1) parameters, but it
    is a different network from ``models.draw_parameters(model, key, d)`` (see
    the module docstring for the construction and the proof).

    Pure and jittable in ``key`` and ``xs`` (the other arguments are Python
    numbers, checked eagerly); ``jax.vmap`` over ``key`` samples many networks.

    Args:
      key: a PRNG key (raw ``uint32[2]`` or typed).
      xs: inputs, shape ``(N, d)``, finite real numbers.
      width: hidden width ``n >= 1``.
      num_res_blocks: number of residual blocks ``L >= 0``.
      W_std: weight scale, finite and ``> 0``.
      b_std: bias scale of all but the readout, finite and ``>= 0``.
      dtype: compute dtype; ``None`` is JAX's default float (float64 when
        ``jax_enable_x64`` is on where this is traced, else float32). Asking
        for float64 without x64 raises, since JAX would silently use float32.

    Returns:
      ``(nngp, ntk)``, each ``(N, N)`` in ``dtype``.

    Raises:
      ValueError: on invalid arguments.
    """
    width, num_res_blocks, W_std, b_std = _check_architecture(width, num_res_blocks, W_std, b_std)
    xs = check_input_array(xs)
    dtype = _check_dtype(jnp.zeros((), float).dtype if dtype is None else dtype)
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype float64 needs jax_enable_x64 (e.g. `with jax.enable_x64(True):`)")
    return _network_kernels_jit(
        key, xs, W_std, b_std, width=width, num_res_blocks=num_res_blocks, dtype=dtype
    )


# --------------------------------------------------------------------------- many networks


def conditional_keys(seeds, *, base_seed: int = 0):
    """Keys of networks ``seeds``: ``jax.random.fold_in(jax.random.PRNGKey(base_seed), s)``.

    ``seeds`` is a positive int ``S`` (networks ``0 … S-1``) or a sequence of
    ints in ``[0, 2**31)``; ``base_seed`` is an int in ``[0, 2**31)``. The keys
    are the same whatever the ``jax_enable_x64`` flag. Returns ``uint32[S, 2]``.
    """
    seeds = _seed_list(seeds)
    base = check_whole("base_seed", base_seed, 0)
    if base >= _MAX_SEED:
        raise ValueError(f"base_seed must be < 2**31, got {base}")
    return _keys(jnp.asarray(seeds, jnp.uint32), jax.random.PRNGKey(base))


def _keys(seeds, base_key):
    return jax.vmap(lambda s: jax.random.fold_in(base_key, s))(seeds)


#: Networks of fewer than this many ``N × n`` entries are ``vmap``-ped in groups
#: of ``_GROUP_ELEMENTS // (N n)``; wider ones run one at a time (``lax.map``),
#: which on a CPU is as fast and keeps the Householder fallback to the network
#: that needs it. The group depends on ``N n`` alone (chunks are padded to a
#: multiple of it), so that a network's kernels do not depend on the chunking.
_GROUP_ELEMENTS = 2**12


def _group_size(width, n_inputs):
    """Networks ``vmap``-ped together in one ``lax.map`` step, or ``None`` for no ``vmap``."""
    if width * n_inputs >= _GROUP_ELEMENTS:
        return None
    return _GROUP_ELEMENTS // (width * n_inputs)


def _batched(seeds, base_key, xs, W_std, b_std, *, width, num_res_blocks, dtype, group):
    def one(key):
        return _network_kernels(
            key, xs, W_std, b_std, width=width, num_res_blocks=num_res_blocks, dtype=dtype
        )

    return jax.lax.map(one, _keys(seeds, base_key), batch_size=group)


_batched_jit = jax.jit(_batched, static_argnames=("width", "num_res_blocks", "dtype", "group"))


def conditional_network_bytes(
    width: int, num_res_blocks: int, n_inputs: int, input_dim: int, *, dtype_bytes: int = 8
) -> int:
    """Peak bytes of one network in :func:`conditional_kernels` (an upper-side estimate).

    Counts what is kept for the backward pass, ``Qᵀ`` and ``Z₁`` of every
    hidden matrix (``4L`` arrays of ``min(n, N) × n``) and the boolean ReLU
    masks (``L N n`` bytes), and the live temporaries, ``(16 · dtype_bytes +
    64)`` bytes per ``N × n`` entry (fitted to the peak resident memory of
    the CPU backend with a margin of 15-60%). The input dimension ``d``
    enters through the ``min(d, N) × n`` embedding draw.
    """
    n = check_whole("width", width, 1)
    L = check_whole("num_res_blocks", num_res_blocks, 0)
    N = check_whole("n_inputs", n_inputs, 1)
    d = check_whole("input_dim", input_dim, 1)
    item = check_whole("dtype_bytes", dtype_bytes, 1)
    kept = item * 4 * L * n * min(n, N) + L * N * n
    temporaries = (16 * item + 64) * N * n + item * (min(d, N) * n + (4 * L + 8) * N * N)
    return int(kept + temporaries)


def _workers() -> int:
    """Chunks run at once: 2 on a CPU with two or more cores (XLA keeps about one busy), else 1."""
    if jax.default_backend() != "cpu":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


def conditional_kernels(
    xs,
    seeds,
    *,
    width: int,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    base_seed: int = 0,
    memory_budget_bytes: int | None = None,
    dtype="float64",
) -> ConditionalKernels:
    """Per-network NNGP and NTK of many networks drawn by Gaussian conditioning.

    Network ``s`` uses the key ``fold_in(PRNGKey(base_seed), s)``
    (:func:`conditional_keys`) and is the network that
    :func:`conditional_network_kernels` draws from that key, up to rounding
    (batched and single matmuls may round differently). Networks are computed
    in chunks of as many as :func:`conditional_network_bytes` fits in
    ``memory_budget_bytes`` (at least one, even if one network exceeds the
    budget), one compiled ``lax.map`` per chunk that takes the networks one at
    a time, or ``jax.vmap``-ed in small groups when they are narrow; chunks
    are padded so that one compilation serves all of them. On a CPU with two
    or more cores two chunks run at once, in two threads, each with half the
    budget (one XLA computation keeps about one core busy). A network's
    kernels do not depend on the chunking (bit-identical on the CPU, where
    this was checked).

    Args:
      xs: inputs, shape ``(N, d)``, finite real numbers.
      seeds: a positive int ``S`` (networks ``0 … S-1``) or a sequence of
        ints in ``[0, 2**31)``.
      width, num_res_blocks, W_std, b_std: the architecture, as in
        :func:`conditional_network_kernels`.
      base_seed: int in ``[0, 2**31)``, the root of the keys.
      memory_budget_bytes: bound on the memory of the chunks run at once;
        ``None`` is :func:`harness.kernels.default_memory_budget_bytes` (half
        the accelerator memory, or 4 GiB on a CPU).
      dtype: ``"float64"`` (default; run inside a local ``jax.enable_x64``
        context, the global flag untouched) or ``"float32"``.

    Returns:
      :class:`ConditionalKernels` with float64 NumPy arrays ``(S, N, N)``.

    Raises:
      ValueError: on invalid arguments.
    """
    width, num_res_blocks, W_std, b_std = _check_architecture(width, num_res_blocks, W_std, b_std)
    xs = np.asarray(check_input_array(xs))
    seeds = _seed_list(seeds)
    base = check_whole("base_seed", base_seed, 0)
    if base >= _MAX_SEED:
        raise ValueError(f"base_seed must be < 2**31, got {base}")
    dtype = _check_dtype(dtype)
    if memory_budget_bytes is None:
        budget = default_memory_budget_bytes()
    else:
        budget = check_whole("memory_budget_bytes", memory_budget_bytes, 1)
    per_network = conditional_network_bytes(
        width, num_res_blocks, *xs.shape, dtype_bytes=np.dtype(dtype).itemsize
    )
    workers = _workers()
    chunk = max(1, min(-(-len(seeds) // workers), budget // (workers * per_network)))
    group = _group_size(width, xs.shape[0])
    if group is not None:
        chunk = -(-chunk // group) * group
    base_key = np.asarray(jax.random.PRNGKey(base))

    def run(start):
        batch = list(seeds[start : start + chunk])
        real = len(batch)
        batch += [batch[-1]] * (chunk - real)
        # The x64 context is per thread, so it is entered here.
        with jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext():
            nngp, ntk = _batched_jit(
                jnp.asarray(batch, jnp.uint32),
                jnp.asarray(base_key),
                jnp.asarray(xs, dtype),
                W_std,
                b_std,
                width=width,
                num_res_blocks=num_res_blocks,
                dtype=dtype,
                group=group,
            )
            return np.asarray(nngp, np.float64)[:real], np.asarray(ntk, np.float64)[:real]

    starts = range(0, len(seeds), chunk)
    if workers > 1 and len(starts) > 1:
        pool = concurrent.futures.ThreadPoolExecutor(workers)
        try:
            results = list(pool.map(run, starts))
        except BaseException:  # e.g. Ctrl-C: drop the queued chunks, do not wait for the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    else:
        results = [run(start) for start in starts]
    nngps, ntks = zip(*results, strict=True)
    return ConditionalKernels(np.concatenate(nngps), np.concatenate(ntks), seeds, dtype)
