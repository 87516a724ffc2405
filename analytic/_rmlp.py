r"""Infinite-width NNGP and NTK of the seed's ReLU residual MLP, in float64.

Architecture (the seed notebook, 000_eb9df717aa1cff35): a Dense embedding of the
``d`` input features, ``L = num_res_blocks`` residual blocks
``h ↦ h + Dense(Relu(Dense(h)))``, a Relu, and a Dense readout with
``b_std = 0``. Every Dense layer is in NTK parameterization,

.. math::  z = \frac{W_{std}}{\sqrt{fan_{in}}}\, W x + b_{std}\, b,
           \qquad W_{ij}, b_i \sim \mathcal N(0, 1),

with ``fan_in = d`` for the embedding and the width for the others.

Recursion (Jacot et al. 2018; Lee et al. 2019; Arora et al. 2019, "On exact
computation with an infinitely wide neural net"; Yang 2019/2020, Tensor
Programs, for residual sums of independent branches). Write ``w = W_std²``,
``β = b_std²``, and ``V``, ``V̇`` for the arc-cosine kernels of
:mod:`analytic._arccos` applied to a covariance matrix entrywise.

* Embedding: ``K_0 = w/d · x xᵀ + β``, ``Θ_0 = K_0``.
* Block ``l = 1..L``, with ``Σ_l = w K_{l−1} + β`` (first Dense):

  - ``K_l = K_{l−1} + w V(Σ_l) + β``;
  - ``Θ_{z1} = w Θ_{l−1} + Σ_l``, ``Θ_{z2} = w V̇(Σ_l) ⊙ Θ_{z1} + w V(Σ_l) + β``,
    ``Θ_l = Θ_{l−1} + Θ_{z2}`` (the skip and the branch are independent in the
    infinite-width limit, so kernels add).
* Readout: ``NNGP = w V(K_L)``, ``NTK = w V̇(K_L) ⊙ Θ_L + w V(K_L)``.

The seed notebook's ``rmlp_ntk_ours`` (kept as :func:`analytic.notebook_rmlp_ntk`) adds
``V(Σ_l)`` and ``K_{l−1}`` for the two weight layers of a block where the
recursion above has ``w V(Σ_l) + β`` and ``w K_{l−1} + β``; the two agree
only at ``W_std = 1, b_std = 0``, the one case the notebook checked.

Numerics: the covariance is carried as balanced gaps (:mod:`analytic._pairs`),
so that the angle of every pair, including near-duplicate and antipodal
inputs, is accurate to a few ulps. The kernels are tested against a 50-digit
mpmath evaluation of the same recursion (``tests/analytic/test_reference.py``:
up to 100 blocks, rows equal to 1e-7, scales 1e-2..1e2, ``W_std`` 0.5..2; it
asserts ``max|ΔK| / max|K| <= 1e-12``) on the cases where neural-tangents'
``arccos`` of the correlation loses accuracy at every ReLU (measured figures:
docs/measurements.md). The cost is ``O(L·N1·N2)`` elementwise work plus three
``N1 × N2 × d`` matrix products for the input layer.

The computation is one ``jax.jit``-compiled function run in float64 on the CPU
(:func:`analytic._float64.float64_on_cpu`), whatever the global x64 flag and the
default device.
The depth is a traced loop bound (one compilation serves every depth), and
inputs are zero-padded to size buckets (zero rows and features leave the
other entries unchanged), so nearby sizes share a compilation too.

Checks after the work (:func:`_evaluate`): a non-finite kernel is explained as an
overflow; an activation that is neither exact nor kinked is evaluated a second time on
plain covariance entries and refused beyond :data:`SMOOTH_AGREEMENT` (rounding); a
numerical activation (``tanh``, ``pkg.module:function``,
:mod:`analytic.activations._numerical`) is evaluated at two quadrature orders and
refused beyond :data:`QUADRATURE_AGREEMENT`, the refined kernels being returned. Its
layer map costs ``O(10⁴)`` integrand evaluations per pair, so it is called from one
place in the loop (one compilation) and, for one input set, on one triangle only.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from analytic._float64 import float64_on_cpu
from analytic._pairs import BalancedGaps
from analytic._pairs import affine_gaps
from analytic._pairs import input_gaps
from analytic._pairs import kernel_of
from analytic._pairs import residual_sum_gaps
from analytic._range import check_float64_range
from analytic._range import overflow_error
from analytic._validation import check_real
from analytic._validation import validate_architecture
from analytic._validation import validate_inputs
from analytic.activations import Activation
from analytic.activations import get_activation

__all__ = ["RMLPKernels", "rmlp_kernels", "rmlp_nngp", "rmlp_ntk"]


class RMLPKernels(NamedTuple):
    """The NNGP and NTK of the residual MLP between two input sets, float64 ``(N1, N2)``."""

    nngp: np.ndarray
    ntk: np.ndarray


def _bucket(size: int) -> int:
    """Padded size: powers of two up to 128, then multiples of 128 (fewer compilations)."""
    if size <= 128:
        return max(8, 1 << (size - 1).bit_length())
    return -(-size // 128) * 128


def _pad(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return np.pad(x, ((0, rows - x.shape[0]), (0, cols - x.shape[1])))


@functools.partial(jax.jit, static_argnames=("activation", "symmetric"))
def _kernels(
    x1, x2, num_res_blocks, weight_var, bias_var, dim, branch_var, activation, symmetric=False
):
    """Both kernels; ``dim`` is the true input dimension (inputs may carry zero padding).

    ``branch_var`` is ``α²``: the branch's weight and bias variances are scaled by it,
    which is exact (``α² · w = w`` bit for bit at ``α = 1``). ``symmetric``: ``x2`` is
    ``x1``, so that a numerical activation integrates only one triangle of each layer.
    """
    gaps = input_gaps(x1, x2, weight_var / dim, bias_var)
    ntk = kernel_of(gaps)
    branch_weight_var, branch_bias_var = branch_var * weight_var, branch_var * bias_var
    if activation.refined is not None:
        # A numerical layer map is slow to compile: one call site, in L + 1 steps whose
        # last is the readout (the same arithmetic as the loop and readout below).
        def step(i, carry):
            gaps, ntk, _, _ = carry
            readout = i == num_res_blocks
            pre = affine_gaps(gaps, weight_var, bias_var)
            layer_input = _select(readout, gaps, pre)
            post, derivative = activation.layer_map(layer_input, symmetric=symmetric)
            branch = affine_gaps(post, branch_weight_var, branch_bias_var)
            first = weight_var * ntk + kernel_of(pre)
            block = (
                residual_sum_gaps(gaps, branch),
                ntk + branch_weight_var * derivative * first + kernel_of(branch),
            )
            nngp = weight_var * kernel_of(post)
            ntk_out = weight_var * derivative * ntk + nngp
            return (*_select(readout, (gaps, ntk), block), nngp, ntk_out)

        zero = jnp.zeros_like(ntk)
        *_, nngp, ntk = jax.lax.fori_loop(0, num_res_blocks + 1, step, (gaps, ntk, zero, zero))
        return nngp, ntk

    def block(_, carry):
        gaps, ntk = carry
        pre = affine_gaps(gaps, weight_var, bias_var)
        post, derivative = activation.layer_map(pre)
        branch = affine_gaps(post, branch_weight_var, branch_bias_var)
        first = weight_var * ntk + kernel_of(pre)
        ntk = ntk + branch_weight_var * derivative * first + kernel_of(branch)
        return residual_sum_gaps(gaps, branch), ntk

    gaps, ntk = jax.lax.fori_loop(0, num_res_blocks, block, (gaps, ntk))
    post, derivative = activation.layer_map(gaps)
    nngp = weight_var * kernel_of(post)
    ntk = weight_var * derivative * ntk + nngp
    return nngp, ntk


@functools.partial(jax.jit, static_argnames=("activation", "symmetric"))
def _plain_kernels(
    x1, x2, num_res_blocks, weight_var, bias_var, dim, branch_var, activation, symmetric=False
):
    """The same recursion on plain covariance entries: the smooth activations' cross-check
    (``activation.smooth`` and not ``exact``).

    Each layer rebuilds the gaps from ``(K_ii, K_jj, K_ij)`` by subtraction, a different
    rounding path from :func:`_kernels`. Where the two disagree, float64 cannot follow
    the network (see :data:`SMOOTH_AGREEMENT`).
    """
    highest = jax.lax.Precision.HIGHEST
    k = weight_var / dim * jnp.matmul(x1, x2.T, precision=highest) + bias_var
    d1 = weight_var / dim * jnp.sum(x1 * x1, axis=1) + bias_var
    d2 = weight_var / dim * jnp.sum(x2 * x2, axis=1) + bias_var

    def phi(d1, d2, k):
        r1, r2 = jnp.sqrt(d1), jnp.sqrt(d2)
        scale = r1[:, None] * r2[None, :]
        gaps = BalancedGaps(
            jnp.maximum(2.0 * (scale + k), 0.0), jnp.maximum(2.0 * (scale - k), 0.0), r1, r2
        )
        if activation.refined is None:
            out, derivative = activation.layer_map(gaps)
        else:
            out, derivative = activation.layer_map(gaps, symmetric=symmetric)
        return kernel_of(out), out.root1**2, out.root2**2, derivative

    def update(carry, value, v1, v2, derivative, sk):
        d1, d2, k, ntk = carry
        ntk = ntk + branch_var * (weight_var * derivative * (weight_var * ntk + sk))
        ntk = ntk + branch_var * (weight_var * value + bias_var)
        k = k + branch_var * (weight_var * value + bias_var)
        d1 = d1 + branch_var * (weight_var * v1 + bias_var)
        d2 = d2 + branch_var * (weight_var * v2 + bias_var)
        return d1, d2, k, ntk

    def affine(d1, d2, k):
        return weight_var * d1 + bias_var, weight_var * d2 + bias_var, weight_var * k + bias_var

    if activation.refined is not None:
        # One call site of a numerical layer map, as in :func:`_kernels`.
        def step(i, carry):
            readout = i == num_res_blocks
            pre = affine(*carry[:3])
            value, v1, v2, derivative = phi(*_select(readout, carry[:3], pre))
            nngp = weight_var * value
            block = update(carry[:4], value, v1, v2, derivative, pre[2])
            ntk_out = weight_var * derivative * carry[3] + nngp
            return (*_select(readout, carry[:4], block), nngp, ntk_out)

        zero = jnp.zeros_like(k)
        *_, nngp, ntk = jax.lax.fori_loop(0, num_res_blocks + 1, step, (d1, d2, k, k, zero, zero))
        return nngp, ntk

    def block(_, carry):
        s1, s2, sk = affine(*carry[:3])
        return update(carry, *phi(s1, s2, sk), sk)

    d1, d2, k, ntk = jax.lax.fori_loop(0, num_res_blocks, block, (d1, d2, k, k))
    value, _, _, derivative = phi(d1, d2, k)
    nngp = weight_var * value
    return nngp, weight_var * derivative * ntk + nngp


def _select(flag, first, second):
    """``first`` where ``flag`` else ``second``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), first, second)


#: Largest difference (relative to the largest entry) allowed between the two float64
#: recursions of a smooth activation; beyond it the kernels are refused, not returned.
SMOOTH_AGREEMENT = 1e-10
#: Largest difference (relative to the largest entry) allowed between the kernels of a
#: numerical activation at its two quadrature orders (``activation.refined``): an
#: a-posteriori estimate of the quadrature error, not a rigorous bound.
QUADRATURE_AGREEMENT = 1e-10


def _relative_gap(kernel: np.ndarray, other: np.ndarray) -> float:
    """``max|kernel − other| / max|kernel|`` (0 for a zero kernel)."""
    scale = float(np.max(np.abs(kernel)))
    return float(np.max(np.abs(kernel - other))) / scale if scale > 0 else 0.0


def _evaluate(x1, x2, num_res_blocks, W_std, b_std, activation, branch_scale) -> RMLPKernels:
    num_res_blocks, W_std, b_std = validate_architecture(num_res_blocks, W_std, b_std)
    activation = get_activation(activation)
    branch_scale = check_real("branch_scale", branch_scale, positive=False)
    shape = {"activation": activation, "branch_scale": branch_scale}
    x1 = validate_inputs(x1, "x1" if x2 is not None else "xs")
    n1, dim = x1.shape
    if x2 is not None:
        x2 = validate_inputs(x2, "x2", dim=dim)
    n2 = n1 if x2 is None else x2.shape[0]
    both = x1 if x2 is None else np.concatenate([x1, x2])
    check_float64_range(both, num_res_blocks, W_std, b_std, **shape)
    # One input set: a numerical activation integrates one triangle of each layer.
    symmetric = x2 is None and activation.refined is not None
    # Zero rows and zero features do not change the other entries: pad to reuse compilations.
    padded_dim = _bucket(dim)
    x1 = _pad(x1, _bucket(n1), padded_dim)
    x2 = x1 if x2 is None else _pad(x2, _bucket(n2), padded_dim)
    with float64_on_cpu():
        arguments = (
            jnp.asarray(x1, jnp.float64),
            jnp.asarray(x2, jnp.float64),
            jnp.asarray(num_res_blocks, jnp.int32),
            jnp.asarray(W_std * W_std, jnp.float64),
            jnp.asarray(b_std * b_std, jnp.float64),
            jnp.asarray(dim, jnp.float64),
            jnp.asarray(branch_scale * branch_scale, jnp.float64),
        )
        nngp, ntk = _kernels(*arguments, activation, symmetric)
        plain = not activation.exact and activation.smooth
        check = _plain_kernels(*arguments, activation, symmetric) if plain else None
        refined = None
        if activation.refined is not None:
            refined = _kernels(*arguments, activation.refined, symmetric)
    kernels = RMLPKernels(_unpad(nngp, n1, n2), _unpad(ntk, n1, n2))
    if refined is not None:
        refined = RMLPKernels(_unpad(refined[0], n1, n2), _unpad(refined[1], n1, n2))
    for candidate in (kernels,) if refined is None else (kernels, refined):
        for name, kernel in zip(("NNGP", "NTK"), candidate, strict=True):
            if not np.all(np.isfinite(kernel)):
                raise overflow_error(both, num_res_blocks, W_std, b_std, name, **shape)
    if refined is not None:
        # The base rule's error, estimated by the refined rule (an estimate, not a bound).
        for name, kernel, other in zip(("NNGP", "NTK"), kernels, refined, strict=True):
            gap = _relative_gap(other, kernel)
            if not gap <= QUADRATURE_AGREEMENT:
                raise ValueError(
                    f"the {name} of this {activation.name} network cannot be computed reliably: "
                    f"its quadrature at two orders gives kernels that differ by {gap:.1e} "
                    f"relative (more than {QUADRATURE_AGREEMENT:.0e}), so the activation varies "
                    "on scales that the quadrature does not resolve at these variances; use "
                    "smaller inputs, a smaller W_std or fewer blocks"
                )
    if check is not None:
        for name, kernel, other in zip(("NNGP", "NTK"), kernels, check, strict=True):
            gap = _relative_gap(kernel, _unpad(other, n1, n2))
            if not gap <= SMOOTH_AGREEMENT:
                raise ValueError(
                    f"the {name} of this {activation.name} network cannot be computed reliably "
                    f"in float64: two evaluations of its recursion differ by {gap:.1e} relative "
                    f"(more than {SMOOTH_AGREEMENT:.0e}), as rounding is amplified through "
                    f"{num_res_blocks} blocks at W_std={W_std:g} (near-duplicate inputs and "
                    "large scales are the sensitive cases); use fewer blocks, a smaller W_std "
                    "or other inputs"
                )
    return kernels if refined is None else refined


def _unpad(kernel: jax.Array, rows: int, cols: int) -> np.ndarray:
    """A writable, contiguous float64 host copy without the padding."""
    kernel = np.array(kernel, np.float64)
    if kernel.shape != (rows, cols):
        kernel = np.ascontiguousarray(kernel[:rows, :cols])
    return kernel


def rmlp_nngp(
    xs,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    *,
    activation: str | Activation = "relu",
    branch_scale: float = 1.0,
) -> np.ndarray:
    """Infinite-width NNGP kernel of the residual MLP (see the module docstring).

    Args:
      xs: inputs, shape ``(N, d)``.
      num_res_blocks: number of residual blocks ``L >= 0``.
      W_std: weight standard deviation, ``> 0`` (NTK parameterization).
      b_std: bias standard deviation, ``>= 0`` (the readout has none).
      activation: an :class:`~analytic.activations.Activation` or its spelling
        (:func:`~analytic.activations.get_activation`): ``"relu"``,
        ``"leaky_relu:0.1"``, ``"abrelu:a,b"``, ``"erf"``, ``"gelu"`` (exact),
        ``"sin"``, ``"identity"``; numerically, ``"tanh"`` and any elementwise function
        as ``"pkg.module:function"``.
      branch_scale: ``α >= 0``, each block is ``h + α·Dense(φ(Dense(h)))``.

    Returns:
      The ``(N, N)`` float64 NNGP kernel ``w V(K_L)``, whatever the global
      ``jax_enable_x64`` flag.

    Raises:
      ValueError: on invalid arguments, and when the kernel leaves the float64 range
        (too deep, too large a ``W_std`` or too large inputs; see :mod:`analytic._range`);
        the message names the block at which it does. Also when float64 rounding or, for
        a numerical activation, the quadrature cannot be trusted to 1e-10 (two
        evaluations disagree).
    """
    return _evaluate(xs, None, num_res_blocks, W_std, b_std, activation, branch_scale).nngp


def rmlp_ntk(
    xs,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    *,
    activation: str | Activation = "relu",
    branch_scale: float = 1.0,
) -> np.ndarray:
    """Infinite-width neural tangent kernel of the residual MLP (see the module docstring).

    Arguments as for :func:`rmlp_nngp`. Returns the ``(N, N)`` float64 NTK
    ``w V̇(K_L) ⊙ Θ_L + w V(K_L)``.
    """
    return _evaluate(xs, None, num_res_blocks, W_std, b_std, activation, branch_scale).ntk


def rmlp_kernels(
    x1,
    x2=None,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation: str | Activation = "relu",
    branch_scale: float = 1.0,
) -> RMLPKernels:
    """NNGP and NTK between two input sets, e.g. test-versus-train kernels.

    Args:
      x1: inputs ``(N1, d)``.
      x2: inputs ``(N2, d)``; ``None`` means ``x1``.
      num_res_blocks, W_std, b_std, activation, branch_scale: as for :func:`rmlp_nngp`.

    Returns:
      :class:`RMLPKernels` with float64 ``(N1, N2)`` arrays ``nngp`` and ``ntk``.
      ``rmlp_kernels(x1, x2)`` is the off-diagonal block of the kernels of
      ``concat(x1, x2)``.
    """
    return _evaluate(x1, x2, num_res_blocks, W_std, b_std, activation, branch_scale)
