r"""One network's NNGP and NTK by Gaussian conditioning, and why its law is exact.

Network and kernels
-------------------
Every dense layer is ``z = s · H W + β b`` with ``W ∈ R^{n_in × n_out}`` and
``b ∈ R^{n_out}`` iid ``N(0, 1)``, ``s = W_std/√n_in`` and ``β = b_std``
(NTK parameterization, Jacot et al. 2018)::

    h_0     = s_e X W_e + β b_e                           (s_e = W_std/√d)
    u_l     = s h_l A_l + β a_l,   v_l = φ(u_l)           l = 0 … L-1
    h_{l+1} = h_l + α (s v_l B_l + β b_l)
    f       = s φ(h_L) w                                  (no readout bias)

with ``φ`` any elementwise activation (ReLU in the seed), ``α`` the branch
scale and ``s = W_std/√n``. Reverse mode (one output, so the readout
cotangent is 1)::

    G_L = s wᵀ ⊙ φ'(h_L)
    Δ_l = s α (G_{l+1} B_lᵀ) ⊙ φ'(u_l),   G_l = G_{l+1} + s Δ_l A_lᵀ

The readout-marginalised NNGP is ``K̂ = s² φ(h_L) φ(h_L)ᵀ`` and the
empirical NTK factors over layers into (input Gram) ⊙ (cotangent Gram)::

    Θ̂ = s² φ(h_L)φ(h_L)ᵀ
        + Σ_l [α² (s² v_l v_lᵀ + β²) ⊙ G_{l+1}G_{l+1}ᵀ + (s² h_l h_lᵀ + β²) ⊙ Δ_l Δ_lᵀ]
        + (s_e² X Xᵀ + β²) ⊙ G_0 G_0ᵀ.

The activation and the branch scale act elementwise and on whole matrices, after
the products with the weights, so the argument below does not depend on them.

The embedding ``W_e`` is used forward only: ``X W_e = X Z`` (instantiated,
``d <= N``) or ``R_Xᵀ Z`` (``d > N``, with the basis of
:mod:`harness.kernels.conditional._basis`). Biases (length ``n``) and the
readout ``w`` are drawn directly. Each ``Z₁`` is drawn once and kept for the
backward pass.

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

Precision
---------
All matmuls run at ``Precision.HIGHEST``. The float32 sampler makes the same
draws (rounded) and the same polar-form bases as the float64 one, so both give
the same network up to rounding when the bases are well conditioned (how close
they came, measured: docs/measurements.md). Where a check passes in one dtype
and not the other the two draw different (equally exact) networks.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from analytic import check_input_array
from analytic import check_real
from analytic import check_whole
from analytic import validate_architecture
from analytic.activations import get_activation
from harness.kernels._control import control_variates
from harness.kernels._control import controls_apply
from harness.kernels._control import readout_noise
from harness.kernels.conditional._basis import _backward_product
from harness.kernels.conditional._basis import _basis
from harness.kernels.conditional._basis import _square_root
from harness.kernels.conditional._linalg import _gram
from harness.kernels.conditional._linalg import _mm
from harness.kernels.conditional._linalg import _mm_t
from harness.kernels.conditional._normals import _normal
from models import scale_branch

__all__ = ["conditional_network_kernels"]

_DTYPES = ("float32", "float64")


def _check_architecture(width, num_res_blocks, W_std, b_std, activation="relu", branch_scale=1.0):
    """``width >= 1``, and the analytic kernels' own checks of the rest."""
    return (
        check_whole("width", width, 1),
        *validate_architecture(num_res_blocks, W_std, b_std),
        get_activation(activation),
        check_real("branch_scale", branch_scale, positive=False),
    )


def _check_dtype(dtype):
    name = jnp.dtype(dtype).name if dtype is not None else None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return name


def _network_kernels(
    key,
    xs,
    W_std,
    b_std,
    *,
    width,
    num_res_blocks,
    dtype,
    controls=False,
    activation=None,
    branch_scale=1.0,
):
    """``(nngp, ntk)`` of one sampled network; traced in ``key``, ``xs``, ``W_std``, ``b_std``.

    With ``controls``, ``(nngp, ntk, c_nngp, c_ntk)``: the network's mean-zero
    control variates (:mod:`harness.kernels._control`) as well, zero where
    :func:`~harness.kernels._control.controls_apply` says they do not exist. ``activation`` is an
    :class:`~analytic.activations.Activation` (static; ``None`` is the ReLU) and
    ``branch_scale`` ``α`` (a Python float: the identity at 1 is kept bit for bit).

    Randomness: ``fold_in(key, i)``, ``i = 0 … 2L``, gives one key for the
    embedding and readout and one forward and one backward key per block;
    each key feeds a single :func:`_normal` call whose rows are cut into the
    draws. Every normal is drawn once; the forward draws ``Z₁`` are kept for
    the backward pass.
    """
    act = get_activation("relu" if activation is None else activation)
    alpha = float(branch_scale)
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
        v = act.fn(u)
        q_v, r_v, gram_v = factor(v)
        h_next = h + scale_branch(s * _mm(r_v.T, z_b) + beta * bias_b, alpha)
        return h_next, (q_h, q_v, z_a, z_b, _slope(act, u), gram_h, gram_v)

    h, saved = jax.lax.scan(forward, h, forward_keys, length=L)

    nngp = s**2 * _gram(act.fn(h))
    # Readout: ∂f/∂w = s φ(h_L) gives the s² φφᵀ term; its cotangent is G_L.
    grad_h = s * readout * act.derivative(h).astype(dtype)

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
        # Outer dense B_l: input v_l, cotangent α G_{l+1}.
        grad_b = scale_branch(grad_h, alpha)
        gram_g = _gram(grad_b)
        ntk = ntk + (s**2 * gram_v + beta**2) * gram_g
        delta = s * backward_product(grad_b, gram_g, z_b, q_v, z2_b)
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
    if not controls:
        return nngp, ntk
    if not controls_apply(act, alpha):
        return nngp, ntk, jnp.zeros_like(nngp), jnp.zeros_like(ntk)
    grams_h, grams_v = saved[5], saved[6]
    hidden = jnp.concatenate([grams_h, _gram(h)[None]]) / n
    highest = jax.lax.Precision.HIGHEST
    noise = readout_noise(h, readout, W_std=W_std, precision=highest)
    c_nngp, c_ntk = control_variates(
        xs, hidden, grams_v / n, noise, W_std=W_std, b_std=beta, precision=highest
    )
    return nngp, ntk, c_nngp, c_ntk


def _slope(act, u):
    """What the backward pass keeps of ``u``: a ReLU's sign mask (a byte), else ``φ'(u)``."""
    return u > 0 if act.name == "relu" else act.derivative(u)


_network_kernels_jit = jax.jit(
    _network_kernels,
    static_argnames=(
        "width",
        "num_res_blocks",
        "dtype",
        "controls",
        "activation",
        "branch_scale",
    ),
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
    activation="relu",
    branch_scale: float = 1.0,
):
    """Readout-marginalised NNGP and empirical NTK of one network drawn by Gaussian conditioning.

    The pair has exactly the law of ``(empirical NNGP, empirical NTK)`` of a
    :class:`models.ResidualMLP` (``out_dim=1``) with N(0, 1) parameters, but it
    is a different network from ``models.draw_parameters(model, key, d)`` (see
    :mod:`harness.kernels.conditional` for the construction and the proof).

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
      activation: the activation or its spelling (:mod:`analytic.activations`).
      branch_scale: ``α >= 0``, the factor on each block's branch.

    Returns:
      ``(nngp, ntk)``, each ``(N, N)`` in ``dtype``.

    Raises:
      ValueError: on invalid arguments.
    """
    width, num_res_blocks, W_std, b_std, activation, branch_scale = _check_architecture(
        width, num_res_blocks, W_std, b_std, activation, branch_scale
    )
    xs = check_input_array(xs)
    dtype = _check_dtype(jnp.zeros((), float).dtype if dtype is None else dtype)
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype float64 needs jax_enable_x64 (e.g. `with jax.enable_x64(True):`)")
    return _network_kernels_jit(
        key,
        xs,
        W_std,
        b_std,
        width=width,
        num_res_blocks=num_res_blocks,
        dtype=dtype,
        activation=activation,
        branch_scale=branch_scale,
    )
