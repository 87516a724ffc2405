"""The literal empirical NTK ``J Jᵀ`` from JAX autodiff, chunked under a memory budget.

``J`` is the Jacobian of the outputs with respect to every parameter,
shape ``(N, K, P)``; the empirical NTK of Jacot et al. (2018) is

.. math::

    \\Theta(x, x') = \\frac1K \\sum_k \\sum_p
        \\frac{\\partial f_k(x)}{\\partial θ_p}\\frac{\\partial f_k(x')}{\\partial θ_p},

the mean of the ``K`` diagonal output blocks (neural-tangents'
``trace_axes=(-1,)`` convention). ``J`` is computed with ``jax.jacrev`` (per
input, vectorised with ``jax.vmap``) and contracted without shortcuts, as an
independent check of the factored method.

At width 8192 one hidden layer's Jacobian is ``N · K · 8192² · 4`` bytes
(8.6 GB for N = 32), so the sum over parameters is split into *layers*
(parameter leaves) and each leaf's Jacobian into *chunks of inputs*: the block
``Θ[a, b]`` of input chunks ``a`` and ``b`` is ``J_a J_bᵀ``, with at most two
chunk Jacobians held at once, sized so that they fit ``memory_budget_bytes``.
When the whole Jacobian fits, it is computed in one piece.

The budget bounds the Jacobian chunks only, not the parameters or autodiff's
intermediates, so the peak memory is several times the budget (time, peak
memory and agreement with the factored method at width 8192, measured:
docs/measurements.md).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from harness.kernels._budget import DEFAULT_MEMORY_BUDGET_BYTES

__all__ = [
    "contract_jacobians",
    "dense_jacobian_ntk",
    "jacobian_ntk",
    "per_input_jacobian",
]


def contract_jacobians(ja, jb, precision=None):
    """``(1/K) Σ_k J_a J_bᵀ`` for Jacobians of shape ``(n_a, K, ...)`` and ``(n_b, K, ...)``."""
    ja = ja.reshape(ja.shape[0], ja.shape[1], -1)
    jb = jb.reshape(jb.shape[0], jb.shape[1], -1)
    return jnp.einsum("nkp,mkp->nm", ja, jb, precision=precision) / ja.shape[1]


def per_input_jacobian(apply_one, params, xs):
    """``∂f(x_i)/∂params`` for every input, leaves of shape ``(N, K, *param.shape)``.

    ``apply_one(params, x)`` maps one input ``(d,)`` to its ``K`` outputs. The
    Jacobian is taken per input (``vmap`` of ``jacrev``): the network has no
    interaction between inputs, and a ``jacrev`` of the batched function
    would back-propagate every cotangent through all ``N`` inputs.
    """
    return jax.vmap(jax.jacrev(apply_one), in_axes=(None, 0))(params, xs)


def _apply_one(model):
    return lambda variables, x: model.apply(variables, x[None])[0]


def dense_jacobian_ntk(model, variables, xs, precision=None):
    """``(1/K) Σ_k J_k J_kᵀ`` from the whole per-input Jacobian at once (pure, unchunked)."""
    jac = per_input_jacobian(_apply_one(model), variables, xs)
    blocks = [contract_jacobians(j, j, precision) for j in jax.tree_util.tree_leaves(jac)]
    return functools.reduce(jnp.add, blocks)


_full_jacobian_ntk = jax.jit(dense_jacobian_ntk, static_argnums=(0, 3))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _leaf_jacobian(model, variables, xs, leaf_index):
    leaves, treedef = jax.tree_util.tree_flatten(variables)

    def outputs(leaf, x):
        replaced = [*leaves[:leaf_index], leaf, *leaves[leaf_index + 1 :]]
        return _apply_one(model)(jax.tree_util.tree_unflatten(treedef, replaced), x)

    return per_input_jacobian(outputs, leaves[leaf_index], xs)


_contract_jit = jax.jit(contract_jacobians, static_argnums=(2,))


def _chunks(n, size):
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def jacobian_ntk(
    model, variables, xs, *, precision=None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES
):
    """Empirical NTK as the literal contraction ``J Jᵀ``, shape ``(N, N)``.

    Args:
      model: a :class:`models.ResidualMLP` (its ``precision`` is used for the
        forward pass; ``precision`` here overrides it everywhere).
      variables: the model's variables.
      xs: inputs, shape ``(N, d)``.
      precision: matmul precision of the forward pass and of the contraction.
      memory_budget_bytes: the most Jacobian bytes held at once (default
        :data:`harness.kernels._budget.DEFAULT_MEMORY_BUDGET_BYTES`, whatever
        the device: it bounds the chunks only).

    Raises:
      ValueError: if even one input's Jacobian for the largest layer, twice,
        exceeds ``memory_budget_bytes``.
    """
    if precision is not None:
        model = model.clone(precision=precision)
    precision = model.precision
    xs = jnp.asarray(xs, model.dtype)
    n_inputs, out_dim = xs.shape[0], model.out_dim
    leaves = jax.tree_util.tree_leaves(variables)
    itemsize = jnp.dtype(model.dtype).itemsize
    per_input = [out_dim * leaf.size * itemsize for leaf in leaves]
    if n_inputs * sum(per_input) <= memory_budget_bytes:
        return _full_jacobian_ntk(model, variables, xs, precision)

    if 2 * max(per_input) > memory_budget_bytes:
        raise ValueError(
            f"memory_budget_bytes={memory_budget_bytes} is below the {2 * max(per_input)} bytes "
            "needed to hold two single-input Jacobians of the largest layer"
        )
    ntk = np.zeros((n_inputs, n_inputs), dtype=np.float64)
    for index, leaf_bytes in enumerate(per_input):
        chunk = max(1, min(n_inputs, memory_budget_bytes // (2 * leaf_bytes)))
        chunks = _chunks(n_inputs, chunk)
        for a, rows in enumerate(chunks):
            ja = _leaf_jacobian(model, variables, xs[rows], index)
            for cols in chunks[a:]:
                jb = ja if cols == rows else _leaf_jacobian(model, variables, xs[cols], index)
                block = np.asarray(_contract_jit(ja, jb, precision), dtype=np.float64)
                ntk[rows, cols] += block
                if cols != rows:
                    ntk[cols, rows] += block.T
                del jb
            del ja
    return jnp.asarray(ntk, dtype=model.dtype)
