"""Argument checks of the empirical-kernel functions: the network, its parameters, the inputs.

Every public function of :mod:`harness.kernels` that takes a model, parameters or
inputs checks them here first and raises ``ValueError`` with the argument's name,
instead of returning a kernel of the wrong shape or of NaN. The checks of numbers
and input arrays are :mod:`analytic`'s (:func:`analytic.check_whole`,
:func:`analytic.validate_architecture`, :func:`analytic.check_input_array`); this
module adds what needs the network:

* the model: ``width >= 1``, ``num_res_blocks >= 0``, ``out_dim >= 1`` whole numbers,
  ``W_std`` finite and ``> 0``, ``b_std`` finite and ``>= 0``;
* the inputs: a 2-D ``(N, d)`` array of real numbers (not complex, not 1-D), ``N, d >= 1``;
  when the values are known (not traced inside ``jax.jit``), finite, and such that
  the kernels stay inside the range of the network's dtype (the closed-form diagonal
  of :func:`analytic.rmlp_diagonal_log10`: float32 networks represent kernels in
  about ``1e-30 … 1e30``);
* the parameters: exactly the arrays and shapes of this model at this input
  dimension (:func:`models.parameter_shapes`), so parameters of another width,
  depth or input dimension are refused.
"""

from __future__ import annotations

import decimal
import functools
import math

import jax
import numpy as np

from analytic import check_input_array
from analytic import check_real
from analytic import check_whole
from analytic import rmlp_diagonal_log10
from analytic import validate_architecture
from analytic.activations import get_activation
from models import parameter_shapes

__all__ = ["check_inputs", "check_model", "check_params"]

#: ``log10`` range of kernel values a network computes faithfully, by dtype.
_KERNEL_RANGE = {"float32": (-30.0, 30.0), "float64": (-290.0, 290.0)}


def check_model(model) -> None:
    """Refuse a :class:`models.ResidualMLP` with an impossible architecture."""
    check_whole("model.width", model.width, 1)
    check_whole("model.out_dim", getattr(model, "out_dim", 1), 1)
    validate_architecture(model.num_res_blocks, model.W_std, model.b_std, prefix="model.")
    check_real("model.branch_scale", getattr(model, "branch_scale", 1.0), positive=False)
    try:
        get_activation(getattr(model, "activation", "relu"))
    except ValueError as error:
        raise ValueError(f"model.activation: {error}") from None


def check_inputs(xs, model=None, *, name: str = "xs") -> None:
    """Refuse inputs that are not a finite real ``(N, d)`` array (see the module docstring)."""
    xs = check_input_array(xs, name)
    if model is not None and not isinstance(xs, jax.core.Tracer):
        _check_range(np.asarray(xs, np.float64), model, name)


def _check_range(values: np.ndarray, model, name: str) -> None:
    scale = float(np.max(np.abs(values)))
    if scale == 0:
        return  # zero inputs: the kernels are exactly β-terms or zero, nothing underflows
    unit = float(np.max(np.sum(np.square(values / scale), axis=1)))
    problem = _range_problem(model, unit, scale, values.shape[1])
    if problem:
        raise ValueError(f"{name}: {problem}")


@functools.lru_cache(maxsize=256)
def _range_problem(model, unit: float, scale: float, dim: int) -> str | None:
    """Why kernels at the largest input (norm² ``unit · scale²``) leave the dtype's range."""

    low, high = _KERNEL_RANGE.get(np.dtype(model.dtype).name, _KERNEL_RANGE["float32"])
    with decimal.localcontext(decimal.Context(prec=40, Emax=10**9, Emin=-(10**9))):
        squared = decimal.Decimal(unit) * decimal.Decimal(scale) ** 2
    diagonal = rmlp_diagonal_log10(
        squared,
        input_dim=dim,
        num_res_blocks=int(model.num_res_blocks),
        W_std=float(model.W_std),
        b_std=float(model.b_std),
        activation=model.activation,
        branch_scale=float(model.branch_scale),
    )
    exact = get_activation(model.activation).exact
    for kernel, value in zip(("NNGP", "NTK", "hidden variance"), diagonal[:3], strict=True):
        # For an activation that is not positively homogeneous the diagonal is an upper
        # bound: it proves underflow, not overflow.
        if value != -math.inf and (value < low or (exact and value > high)):
            return (
                f"the {kernel} of this network reaches 1e{value:+.0f}, outside the "
                f"1e{low:+.0f}..1e{high:+.0f} its {np.dtype(model.dtype).name} arithmetic "
                f"represents (W_std={model.W_std:g}, b_std={model.b_std:g}, "
                f"{model.num_res_blocks} blocks); rescale the inputs or the network"
            )
    return None


@functools.lru_cache(maxsize=64)
def _expected_shapes(model, input_dim: int) -> dict:

    expected = parameter_shapes(model, input_dim)
    expected = expected.get("params", expected)
    leaves = jax.tree_util.tree_leaves_with_path(expected)
    return {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in leaves}


def check_params(model, params, input_dim: int) -> None:
    """Refuse parameters whose arrays or shapes are not those of ``model`` at ``input_dim``."""
    names = _expected_shapes(model, int(input_dim))
    given = params.get("params", params) if hasattr(params, "get") else params
    try:
        have = jax.tree_util.tree_leaves_with_path(given)
    except Exception as error:
        raise ValueError(f"params must be the model's variables: {error}") from None
    found = {jax.tree_util.keystr(path): leaf for path, leaf in have}
    missing = sorted(set(names) - set(found))
    extra = sorted(set(found) - set(names))
    what = (
        f"width {model.width}, {model.num_res_blocks} blocks, out_dim "
        f"{getattr(model, 'out_dim', 1)}, inputs of dimension {input_dim}"
    )
    if missing or extra:
        difference = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise ValueError(f"params are not those of this network ({what}): {difference}")
    for key, expected in names.items():
        shape = tuple(np.shape(found[key]))
        if shape != expected:
            raise ValueError(
                f"params are not those of this network ({what}): {key} has shape {shape}, "
                f"expected {expected}"
            )
        dtype = getattr(found[key], "dtype", None)
        if dtype is not None and not np.issubdtype(np.dtype(dtype), np.floating):
            raise ValueError(f"params {key} must be real floating point, got dtype {dtype}")
