r"""Empirical NNGP and NTK of any Flax module: a custom ``--model``.

A *custom model* is a ``flax.linen.Module`` that maps ``(N, d)`` float32 inputs to
``(N,)`` or ``(N, K)`` outputs, each row from its own input, with parameters
``variables = module.init(key, xs)``. It owns its parameterization: nothing here
knows its layers. Of one network, with :math:`J_k(x) = \partial f_k(x)/\partial
\theta` the Jacobian of output :math:`k` with respect to every parameter of the
``"params"`` collection (other collections are held fixed):

* **NTK**, the literal Jacobian contraction averaged over the outputs
  (Jacot et al. 2018; neural-tangents' ``trace_axes=(-1,)``),

  .. math:: \hat\Theta(x, x') = \frac1K \sum_k J_k(x)\, J_k(x')^\top.

* **NNGP**, one of two estimators whose mean over networks is the finite-width
  NNGP :math:`\mathbb E[f_k(x) f_k(x')]`:

  - *second moment* (:func:`second_moment_nngp`):
    :math:`\hat K(x, x') = \frac1K \sum_k f_k(x) f_k(x')`. Unbiased for any model;
    one network's :math:`f f^\top` has rank :math:`K`, so its noise does not
    shrink with the width.
  - *readout-marginalised*, when the model names a readout submodule whose
    parameters :math:`\theta_r` (i) enter the outputs linearly,
    :math:`f_k(x) = \sum_p \theta_{r,p}\, g_{kp}(x)` with :math:`g` independent of
    :math:`\theta_r`, and (ii) are drawn i.i.d. :math:`\mathcal N(0, 1)`,
    independently of the other parameters (the NTK parameterization). Then
    :math:`\partial f_k(x)/\partial\theta_{r,p} = g_{kp}(x)`, and averaging over the
    readout alone,

    .. math::

        \mathbb E_{\theta_r}\big[f_k(x) f_k(x')\big]
            = \sum_{p, q} g_{kp}(x)\, g_{kq}(x')\, \mathbb E[\theta_{r,p}\theta_{r,q}]
            = \sum_p g_{kp}(x)\, g_{kp}(x') = J_{r,k}(x)\, J_{r,k}(x')^\top,

    the readout's own block of the NTK. So :math:`\hat K_r = \frac1K \sum_k J_{r,k}
    J_{r,k}^\top` has the same mean over networks as the second moment, and none of
    the readout's noise. For a dense readout :math:`f = c\, h^\top w + c_b\, b` it is
    :math:`c^2\, h(x)\cdot h(x') + c_b^2`, which for the residual MLP is
    :func:`harness.kernels.empirical_nngp`.

Condition (i) is checked on a drawn network by :func:`readout_linearity_problem`
and (ii) by :func:`readout_normality_problem`; the run refuses the readout when
either fails. Neither check can prove the conditions (a readout bias drawn from
N(0, 0.01) passes the second on few values); they catch the usual mistakes: a
readout with Flax's default ``lecun_normal`` (variance ``1/fan_in``) or a bias
initialised to zero, a layer that is not the last one.

The Jacobian is taken per input (``vmap`` of ``jacrev``, as in
:mod:`harness.kernels._jacobian`), which is why each row must come from its own input.
"""

from __future__ import annotations

import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np

from harness.kernels._jacobian import contract_jacobians
from harness.kernels._jacobian import per_input_jacobian

__all__ = [
    "READOUT_Z",
    "model_kernels",
    "model_outputs",
    "per_seed_model_kernels",
    "readout_leaves",
    "readout_linearity_problem",
    "readout_normality_problem",
    "second_moment_nngp",
]

#: Standard deviations a standard-normal readout's sample moments may stray (two-sided
#: probability about 6e-7 per moment, so a right readout is refused almost never).
READOUT_Z = 5.0
#: Relative tolerance of the linearity check, f(2θ_r) = 2 f(θ_r) and f(0) = 0 (float32
#: rounding of a few layers is about 1e-6 relative).
LINEARITY_RTOL = 1e-3


def readout_path(readout: str) -> tuple[str, ...]:
    """``"readout"`` or ``"block/readout"``: the submodule's path in ``variables["params"]``."""
    return tuple(part for part in readout.split("/") if part)


def readout_leaves(params, readout: str) -> list[bool]:
    """Which leaves of ``params`` (in ``tree_leaves`` order) belong to the readout.

    Raises:
      KeyError: ``params`` has no submodule at that path (the message lists those it has).
    """
    path = readout_path(readout)
    node = params
    for depth, name in enumerate(path):
        if not isinstance(node, dict) or name not in node:
            where = "/".join(path[:depth]) or "the top level"
            names = sorted(node) if isinstance(node, dict) else []
            raise KeyError(f"no submodule {name!r} at {where} (it has {', '.join(names)})")
        node = node[name]
    flagged = jax.tree_util.tree_map_with_path(
        lambda key_path, _: tuple(getattr(k, "key", None) for k in key_path[: len(path)]) == path,
        params,
    )
    return list(jax.tree_util.tree_leaves(flagged))


def model_outputs(module, variables, xs):
    """The outputs as ``(N, K)`` (a ``(N,)`` output is one column)."""
    outputs = module.apply(variables, xs)
    return outputs.reshape(outputs.shape[0], -1)


def second_moment_nngp(outputs, precision=None):
    """``(1/K) Σ_k f_k fᵀ_k`` of one network's ``(N, K)`` outputs."""
    return jnp.dot(outputs, outputs.T, precision=precision) / outputs.shape[1]


def _split(variables):
    params = variables["params"]
    rest = {name: value for name, value in variables.items() if name != "params"}
    return params, rest


def model_kernels(module, variables, xs, *, readout: str | None = None, precision=None):
    """``(nngp, ntk)`` of one network, each ``(N, N)`` (see the module docstring).

    Args:
      module: the Flax module.
      variables: its variables (``module.init(key, xs)``).
      xs: inputs ``(N, d)``.
      readout: the readout submodule's path (``"readout"``, ``"a/b"``): the NNGP is
        then readout-marginalised, else the outputs' second moment.
      precision: matmul precision of the forward pass (through
        ``jax.default_matmul_precision``) and of the contraction; ``None``: JAX's default.

    Pure and jittable with ``module`` static.
    """
    context = jax.default_matmul_precision(precision) if precision else contextlib.nullcontext()
    with context:
        params, rest = _split(variables)

        def apply_one(p, x):
            return module.apply({**rest, "params": p}, x[None]).reshape(-1)

        jacobian = jax.tree_util.tree_leaves(per_input_jacobian(apply_one, params, xs))
        blocks = [contract_jacobians(leaf, leaf, precision) for leaf in jacobian]
        ntk = sum(blocks[1:], blocks[0])
        if readout is None:
            nngp = second_moment_nngp(model_outputs(module, variables, xs), precision)
        else:
            mask = readout_leaves(params, readout)
            mine = [block for block, r in zip(blocks, mask, strict=True) if r]
            nngp = sum(mine[1:], mine[0])
    return nngp, ntk


def per_seed_model_kernels(module, keys, xs, *, readout: str | None = None, precision=None):
    """``(nngp, ntk, zeros, zeros)``, each ``(S, N, N)``: one network per key.

    Network ``s`` is ``module.init(keys[s], xs)``. The two zero stacks stand where a
    residual MLP's exact control variates go (:func:`harness.kernels.per_seed_kernels`):
    a custom model has none, and a zero control variate is mean-zero and removes
    nothing. Pure in ``(keys, xs)``: ``jax.vmap`` over the keys, jittable, and the
    keys may be sharded along axis 0.
    """

    def one(key):
        variables = module.init(key, xs)
        nngp, ntk = model_kernels(module, variables, xs, readout=readout, precision=precision)
        zero = jnp.zeros_like(ntk)
        return nngp, ntk, zero, zero

    return jax.vmap(one)(keys)


def readout_normality_problem(draws: dict[str, np.ndarray], *, z: float = READOUT_Z) -> str | None:
    """Why readout parameters drawn in several networks are not i.i.d. N(0, 1), or None.

    ``draws`` maps each readout parameter's name to its values in ``S`` networks,
    ``(S, *shape)``. For ``m`` i.i.d. N(0, 1) values the sample mean has standard
    deviation ``1/√m`` and the mean square ``√(2/m)``; the values are refused when
    either strays more than ``z`` of those, pooled over every readout parameter, or
    when one parameter takes the same values in every network (a bias initialised
    to zero, whose one value per network the moments cannot judge).
    """
    for name, values in draws.items():
        values = np.asarray(values, np.float64)
        if values.shape[0] > 1 and np.all(values == values[:1]):
            return f"its parameter {name} is the same in every network drawn (zero-initialised?)"
    pooled = np.concatenate([np.asarray(v, np.float64).ravel() for v in draws.values()])
    m = pooled.size
    if m == 0:
        return "it has no parameters"
    mean, mean_square = float(pooled.mean()), float(np.mean(pooled**2))
    mean_bound, square_bound = z / math.sqrt(m), z * math.sqrt(2.0 / m)
    if abs(mean) > mean_bound or abs(mean_square - 1.0) > square_bound:
        return (
            f"its {m} parameter values drawn have mean {mean:.3g} and mean square "
            f"{mean_square:.3g}, not 0 ± {mean_bound:.2g} and 1 ± {square_bound:.2g} as i.i.d. "
            "N(0, 1) draws would"
        )
    return None


def readout_linearity_problem(module, variables, xs, readout: str) -> str | None:
    """Why the outputs are not linear in the readout's parameters, or None.

    Checks ``f(2θ_r) = 2 f(θ_r)`` and ``f(0) = 0`` (the other parameters as drawn) to
    :data:`LINEARITY_RTOL` of ``‖f‖``: a readout bias outside the readout, or a layer
    that is not the last, fails.
    """
    params, rest = _split(variables)
    mask = readout_leaves(params, readout)
    leaves, treedef = jax.tree_util.tree_flatten(params)

    def outputs(factor):
        scaled = [leaf * factor if r else leaf for leaf, r in zip(leaves, mask, strict=True)]
        tree = jax.tree_util.tree_unflatten(treedef, scaled)
        return np.asarray(model_outputs(module, {**rest, "params": tree}, xs), np.float64)

    base = outputs(1.0)
    scale = float(np.linalg.norm(base))
    if scale == 0:
        return "the outputs are all zero"
    doubled = float(np.linalg.norm(outputs(2.0) - 2 * base)) / (2 * scale)
    zeroed = float(np.linalg.norm(outputs(0.0))) / scale
    if doubled > LINEARITY_RTOL or zeroed > LINEARITY_RTOL:
        return (
            "the outputs are not linear in its parameters (doubling them changes f by "
            f"{doubled:.2g} relative to 2f, zeroing them leaves {zeroed:.2g} of f)"
        )
    return None
