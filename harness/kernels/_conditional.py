r"""Finite-width NNGP and NTK of the residual MLP by exact Gaussian conditioning.

The per-network kernels of :mod:`models._residual_mlp` (width ``n``, depth
``L``, ``N`` inputs) depend on each ``n × n`` weight matrix only through its
products with ``N``-column matrices. Those products can be *sampled* exactly
in distribution, without ever forming a weight matrix, in ``O(L n N²)`` time
and ``O(L n N)`` memory (an instantiated network needs ``O(L n² N)`` time and
``O(L n²)`` memory),
which reaches widths of ``2^20`` and beyond on a CPU. The technique is the
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
Let ``Hᵀ = Q R`` be a thin Householder QR (``Q ∈ R^{n_in × k}`` with
orthonormal columns, ``R ∈ R^{k × N}``, ``k = min(n_in, N)``) and
``P⊥ = I − QQᵀ``. With ``Z₁ = QᵀW`` and ``G`` a fresh iid ``N(0, 1)``
matrix,

* forward: ``H W = Rᵀ QᵀW = Rᵀ Z₁``, and ``Z₁`` is iid ``N(0, 1)``
  (``k × n_out``) because the columns of ``W`` are ``N(0, I)`` and
  ``QᵀQ = I``;
* ``W = Q Z₁ + P⊥ W`` with ``P⊥ W`` independent of ``Z₁`` (jointly Gaussian,
  ``Cov(Qᵀw, P⊥w) = QᵀP⊥ = 0``) and distributed as ``P⊥ G``;
* backward, for a cotangent ``D ∈ R^{N × n_out}``:
  ``D Wᵀ = (D Z₁ᵀ) Qᵀ + (D Gᵀ) P⊥``, and with ``Dᵀ = Q_D R_D`` (thin QR),
  ``D Gᵀ = R_Dᵀ (Q_Dᵀ Gᵀ) = R_Dᵀ Z₂`` with ``Z₂`` iid ``N(0, 1)``
  (``k_D × n_in``) given ``D``.

So a hidden matrix costs two ``n × N`` QRs, a handful of ``N × n × N``
matmuls and ``k × n`` normal draws (``Z₁`` is drawn in the forward pass and
redrawn from the same key in the backward pass instead of being stored). The
embedding ``W_e`` is used forward only: ``X W_e = R_Xᵀ Z`` with
``Xᵀ = Q_X R_X``. Biases (length ``n``) and the readout ``w`` are drawn
directly.

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
iid and independent of everything else, where ``Q`` comes from ``H``. By
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
``H``; it needs only ``QᵀQ = I`` and ``Hᵀ = QR``. Householder QR
(``jnp.linalg.qr``: LAPACK on the CPU) returns an orthonormal ``Q`` also when
``H`` has rank ``< N`` (duplicate inputs, a zero row with ``b_std = 0``,
``d < N`` for the embedding, width ``n < N``): ``span(Q)`` may then be
larger than the row space, which conditions on ``QᵀW`` rather than on
``HW`` alone. That is still an exact representation, step (1) holding for
any orthonormal ``Q`` that is a function of the past. When ``n_in ≤ N``,
``P⊥ = 0`` and the matrix is fully determined by its forward product. Numerically, Householder QR is
backward stable (Higham 2002, *Accuracy and Stability of Numerical
Algorithms*, ch. 19): the computed factors satisfy ``Hᵀ + E = QR`` and
``‖QᵀQ − I‖ = O(u)`` with ``‖E‖ = O(u ‖H‖)``, whatever the rank. Duplicate
inputs give kernel rows equal to rounding, not bitwise (Householder QR meets
the two equal columns at different steps); a zero input row with
``b_std = 0`` gives exactly zero kernel rows, as the network does (the ReLU
derivative at 0 is taken as 0, as JAX does).

Cost and precision
------------------
Per network, per hidden matrix: one QR with ``Q`` and one ``R``-only QR of
``n × N`` matrices, about six ``N × n × N`` matmuls, and three ``k × n``
draws: ``O(L n N²)`` flops. Memory: the ``Q`` of every hidden matrix and the
ReLU masks are kept for the backward pass, ``(2L + c) n N`` numbers.
Input Grams come free from the QRs (``H Hᵀ = RᵀR``); cotangent Grams are
``R_DᵀR_D`` from the backward QRs.

All matmuls run at ``Precision.HIGHEST``. :func:`conditional_kernels`
computes in float64 by default, inside a local ``jax.enable_x64`` context (the
global flag is never changed); ``dtype="float32"`` is available. Measured on
one network (N = 32 inputs of full rank, L = 3) with the same normal draws
run through both dtypes, the float32 kernels differ from the float64 ones by
at most 3e-7 (n = 2^10 and 2^16) and 1.1e-6 (n = 2^20) of the largest entry,
while one network's kernels deviate from the limit by O(1/√n) (~3e-3 at
n = 2^20). So float32 rounding is ~1e-3 of one network's sampling deviation
and would show only in seed means over millions of networks; float64
removes the question at about twice the memory. Draws are made in
the compute dtype, so the two dtypes give different (equally exact) networks
for the same key. So do different backends when some ``H`` is rank
deficient (e.g. ``d < N``): the extra columns of ``Q`` are then set by
rounding, which changes the realised network but not its law.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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


def _check_int(name, value, minimum):
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_real(name, value, *, positive):
    if isinstance(value, bool | np.bool_ | complex | str | bytes) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a real number, got {value!r}") from error
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if not positive and not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _check_architecture(width, num_res_blocks, W_std, b_std):
    return (
        _check_int("width", width, 1),
        _check_int("num_res_blocks", num_res_blocks, 0),
        _check_real("W_std", W_std, positive=True),
        _check_real("b_std", b_std, positive=False),
    )


def _check_xs(xs):
    """Shape and dtype checks (always); finiteness only when ``xs`` is concrete."""
    if isinstance(xs, jax.core.Tracer):
        shape, dtype = xs.shape, xs.dtype
    else:
        try:
            xs = np.asarray(xs)
        except Exception as error:
            raise ValueError(f"xs must be a 2-D array of real numbers: {error}") from error
        shape, dtype = xs.shape, xs.dtype
    if np.dtype(dtype).kind == "O" or not (
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    ):
        raise ValueError(f"xs must hold real numbers, got dtype {dtype}")
    if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"xs must be 2-D (inputs x features) and non-empty, got shape {shape}")
    if not isinstance(xs, jax.core.Tracer) and not np.all(np.isfinite(xs)):
        raise ValueError("xs contains NaN or infinite values")
    return xs


def _check_dtype(dtype):
    name = jnp.dtype(dtype).name if dtype is not None else None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return name


def _seed_list(seeds):
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool | np.bool_):
        seeds = range(_check_int("seeds", seeds, 1))
    try:
        seeds = tuple(seeds)
    except TypeError as error:
        raise ValueError(f"seeds must be a positive int or a sequence of ints: {error}") from error
    if not seeds:
        raise ValueError("seeds must not be empty")
    for s in seeds:
        _check_int("each seed", s, 0)
        if s >= _MAX_SEED:
            raise ValueError(f"seeds must be < 2**31, got {s}")
    return tuple(int(s) for s in seeds)


# --------------------------------------------------------------------------- the sampler


def _normal(key, shape, dtype):
    return jax.random.normal(key, shape, dtype)


def _mm(a, b):
    return jnp.matmul(a, b, precision=_HIGHEST)


def _gram_of_r(r):
    """``H Hᵀ`` from the ``R`` of ``Hᵀ = QR``: ``RᵀR`` (symmetric by construction)."""
    gram = _mm(r.T, r)
    return 0.5 * (gram + gram.T)


def _backward_product(d, r_d, z1, q, z2):
    """A draw of ``D Wᵀ`` given ``W``'s forward factor: ``(D Z₁ᵀ) Qᵀ + (R_Dᵀ Z₂) P⊥``.

    ``d``: cotangent ``(N, n_out)``; ``r_d``: the ``R`` of ``dᵀ`` ``(k_D, N)``;
    ``z1``: ``QᵀW`` ``(k, n_out)``; ``q``: ``(n_in, k)`` orthonormal columns;
    ``z2``: fresh N(0, 1) ``(k_D, n_in)``.
    """
    conditional = _mm(_mm(d, z1.T), q.T)
    fresh = _mm(r_d.T, z2)
    fresh = fresh - _mm(_mm(fresh, q), q.T)
    return conditional + fresh


def _network_kernels(key, xs, W_std, b_std, *, width, num_res_blocks, dtype):
    """``(nngp, ntk)`` of one sampled network; traced in ``key``, ``xs``, ``W_std``, ``b_std``.

    Randomness: ``split(key, 2L + 1)`` gives one key for the embedding and
    readout and one forward and one backward key per block. Each key feeds a
    single ``normal`` call whose rows are cut into the draws (few threefry
    instances keep the compiled program small); a block's forward draw is
    made again from its key in the backward pass instead of being stored.
    """
    xs = jnp.asarray(xs).astype(dtype)
    W_std = jnp.asarray(W_std, dtype)
    beta = jnp.asarray(b_std, dtype)
    n_inputs, input_dim = xs.shape
    n, L = width, num_res_blocks
    k = min(n, n_inputs)  # rows of R for every hidden QR (h, v and cotangents are N × n)
    s = W_std / math.sqrt(n)
    s_embed = W_std / math.sqrt(input_dim)
    keys = jax.random.split(key, 2 * L + 1)
    forward_keys, backward_keys = keys[1 : L + 1], keys[L + 1 :]

    def forward_draw(block_key):
        """Rows: Z₁ of A_l (k), Z₁ of B_l (k), bias a_l, bias b_l."""
        draw = _normal(block_key, (2 * k + 2, n), dtype)
        return draw[:k], draw[k : 2 * k], draw[2 * k], draw[2 * k + 1]

    # Embedding: X W_e = R_Xᵀ Z (W_e is never needed again); the same draw
    # holds the embedding bias and the readout weights w.
    r_x = jnp.linalg.qr(xs.T, mode="r")  # (min(d, N), N)
    k_x = r_x.shape[0]
    draw = _normal(keys[0], (k_x + 2, n), dtype)
    h = s_embed * _mm(r_x.T, draw[:k_x]) + beta * draw[k_x]
    readout = draw[k_x + 1]

    def forward(h, block_key):
        z_a, z_b, bias_a, bias_b = forward_draw(block_key)
        q_h, r_h = jnp.linalg.qr(h.T)  # (n, k), (k, N)
        u = s * _mm(r_h.T, z_a) + beta * bias_a
        v = jax.nn.relu(u)
        q_v, r_v = jnp.linalg.qr(v.T)
        h_next = h + s * _mm(r_v.T, z_b) + beta * bias_b
        return h_next, (q_h, q_v, u > 0, _gram_of_r(r_h), _gram_of_r(r_v))

    h, saved = jax.lax.scan(forward, h, forward_keys, length=L)

    phi = jax.nn.relu(h)
    phi_gram = _mm(phi, phi.T)
    nngp = s**2 * 0.5 * (phi_gram + phi_gram.T)
    # Readout: ∂f/∂w = s φ(h_L) gives the s² φφᵀ term; its cotangent is G_L.
    grad_h = s * readout * (h > 0).astype(dtype)

    def backward(carry, inputs):
        grad_h, ntk = carry
        forward_key, backward_key, q_h, q_v, mask_u, gram_h, gram_v = inputs
        z_a, z_b, _, _ = forward_draw(forward_key)
        fresh = _normal(backward_key, (2 * k, n), dtype)  # Z₂ of B_l, then of A_l
        # Outer dense B_l: input v_l, cotangent G_{l+1}.
        r_g = jnp.linalg.qr(grad_h.T, mode="r")
        ntk = ntk + (s**2 * gram_v + beta**2) * _gram_of_r(r_g)
        delta = s * _backward_product(grad_h, r_g, z_b, q_v, fresh[:k])
        delta = delta * mask_u.astype(dtype)
        # Inner dense A_l: input h_l, cotangent Δ_l.
        r_d = jnp.linalg.qr(delta.T, mode="r")
        ntk = ntk + (s**2 * gram_h + beta**2) * _gram_of_r(r_d)
        grad_h = grad_h + s * _backward_product(delta, r_d, z_a, q_h, fresh[k:])
        return (grad_h, ntk), None

    (grad_h, ntk), _ = jax.lax.scan(
        backward, (grad_h, nngp), (forward_keys, backward_keys, *saved), length=L, reverse=True
    )
    x_gram = _mm(xs, xs.T)
    x_factor = s_embed**2 * 0.5 * (x_gram + x_gram.T) + beta**2
    ntk = ntk + x_factor * _gram_of_r(jnp.linalg.qr(grad_h.T, mode="r"))
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
    xs = _check_xs(xs)
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
    base = _check_int("base_seed", base_seed, 0)
    if base >= _MAX_SEED:
        raise ValueError(f"base_seed must be < 2**31, got {base}")
    return _keys(jnp.asarray(seeds, jnp.uint32), jax.random.PRNGKey(base))


def _keys(seeds, base_key):
    return jax.vmap(lambda s: jax.random.fold_in(base_key, s))(seeds)


def _batched(seeds, base_key, xs, W_std, b_std, *, width, num_res_blocks, dtype):
    def one(key):
        return _network_kernels(
            key, xs, W_std, b_std, width=width, num_res_blocks=num_res_blocks, dtype=dtype
        )

    return jax.vmap(one)(_keys(seeds, base_key))


_batched_jit = jax.jit(_batched, static_argnames=("width", "num_res_blocks", "dtype"))


def conditional_network_bytes(
    width: int, num_res_blocks: int, n_inputs: int, input_dim: int, *, dtype_bytes: int = 8
) -> int:
    """Peak bytes of one network in :func:`conditional_kernels` (an upper-side estimate).

    Counts the ``Q`` factors kept for the backward pass (``2L`` arrays of
    ``n × min(n, N)``), the boolean ReLU masks (``L N n`` bytes) and the live
    temporaries, ``(24 · dtype_bytes + 48)`` bytes per ``N × n`` entry (the
    normal draws and their threefry intermediates dominate; fitted to the
    peak resident memory of the CPU backend with some margin). The input
    dimension ``d`` enters through the ``min(d, N) × n`` embedding draw.
    """
    n = _check_int("width", width, 1)
    L = _check_int("num_res_blocks", num_res_blocks, 0)
    N = _check_int("n_inputs", n_inputs, 1)
    d = _check_int("input_dim", input_dim, 1)
    item = _check_int("dtype_bytes", dtype_bytes, 1)
    kept = item * 2 * L * n * min(n, N) + L * N * n
    temporaries = (24 * item + 48) * N * n + item * (min(d, N) * n + (4 * L + 8) * N * N)
    return int(kept + temporaries)


def _default_memory_budget_bytes() -> int:
    """Half the accelerator's memory limit when JAX reports one, else 2 GiB (a shared CPU)."""
    stats = getattr(jax.devices()[0], "memory_stats", lambda: None)()
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"] // 2)
    return 2 * 1024**3


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
    ``jax.vmap``-ed in chunks of as many as :func:`conditional_network_bytes`
    fits in ``memory_budget_bytes`` (at least one, even if one network
    exceeds the budget); the last chunk is padded so that one compilation
    serves all chunks. A network's kernels do not depend on the chunking
    (bit-identical on the CPU, where this was checked).

    Args:
      xs: inputs, shape ``(N, d)``, finite real numbers.
      seeds: a positive int ``S`` (networks ``0 … S-1``) or a sequence of
        ints in ``[0, 2**31)``.
      width, num_res_blocks, W_std, b_std: the architecture, as in
        :func:`conditional_network_kernels`.
      base_seed: int in ``[0, 2**31)``, the root of the keys.
      memory_budget_bytes: bound on the memory of one chunk; ``None`` is half
        the accelerator memory, or 2 GiB on a CPU.
      dtype: ``"float64"`` (default; run inside a local ``jax.enable_x64``
        context, the global flag untouched) or ``"float32"``.

    Returns:
      :class:`ConditionalKernels` with float64 NumPy arrays ``(S, N, N)``.

    Raises:
      ValueError: on invalid arguments.
    """
    width, num_res_blocks, W_std, b_std = _check_architecture(width, num_res_blocks, W_std, b_std)
    xs = np.asarray(_check_xs(xs))
    seeds = _seed_list(seeds)
    base = _check_int("base_seed", base_seed, 0)
    if base >= _MAX_SEED:
        raise ValueError(f"base_seed must be < 2**31, got {base}")
    dtype = _check_dtype(dtype)
    if memory_budget_bytes is None:
        budget = _default_memory_budget_bytes()
    else:
        budget = _check_int("memory_budget_bytes", memory_budget_bytes, 1)
    per_network = conditional_network_bytes(
        width, num_res_blocks, *xs.shape, dtype_bytes=np.dtype(dtype).itemsize
    )
    chunk = max(1, min(len(seeds), budget // per_network))
    context = jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()
    nngps, ntks = [], []
    with context:
        xs_device = jnp.asarray(xs, dtype)
        base_key = jax.random.PRNGKey(base)
        for start in range(0, len(seeds), chunk):
            batch = list(seeds[start : start + chunk])
            real = len(batch)
            batch += [batch[-1]] * (chunk - real)
            nngp, ntk = _batched_jit(
                jnp.asarray(batch, jnp.uint32),
                base_key,
                xs_device,
                W_std,
                b_std,
                width=width,
                num_res_blocks=num_res_blocks,
                dtype=dtype,
            )
            nngps.append(np.asarray(nngp, np.float64)[:real])
            ntks.append(np.asarray(ntk, np.float64)[:real])
    return ConditionalKernels(np.concatenate(nngps), np.concatenate(ntks), seeds, dtype)
