"""Argument checks of every kernel function, analytic and empirical: numbers, architecture, inputs.

The one home of these checks. :mod:`analytic` applies them to its own
arguments; :mod:`harness.kernels` builds its model, parameter and seed checks on
them (dependencies point down: the harness imports :mod:`analytic`, never the
reverse). Every check raises ``ValueError`` naming the argument:

* :func:`check_whole`: an integer (not a ``bool``) at least ``minimum``;
* :func:`check_real`: a finite real scalar, ``> 0`` or ``>= 0``;
* :func:`validate_architecture`: ``num_res_blocks`` in ``0 … 2**31 - 1``,
  ``W_std > 0`` and ``b_std >= 0``, finite;
* :func:`check_input_array`: a 2-D ``(N, d)`` array of real numbers (not complex,
  bool or text), ``N, d >= 1``, finite when its values are known (a
  ``jax.jit`` tracer is checked for shape and dtype only);
* :func:`validate_inputs`: the same for concrete inputs, returned as float64.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "MAX_RES_BLOCKS",
    "check_input_array",
    "check_real",
    "check_whole",
    "validate_architecture",
    "validate_inputs",
]

#: The depth is an int32 loop bound in the compiled recursion.
MAX_RES_BLOCKS = 2**31 - 1


def check_whole(name: str, value, minimum: int) -> int:
    """Return ``value`` as an ``int``; refuse non-integers, ``bool`` and values below ``minimum``.

    Raises:
      ValueError: ``"{name} must be a whole number >= {minimum}, got {value}"``.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value}")
    return int(value)


def check_real(name: str, value, *, positive: bool) -> float:
    """Return ``value`` as a ``float``: a finite real scalar, ``> 0`` if ``positive`` else ``>= 0``.

    Raises:
      ValueError: for a ``bool``, complex number, string, array of more than one
        value, or a value that is not finite or out of range.
    """
    if isinstance(value, bool | np.bool_ | complex | str | bytes) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a real number, got {value!r}") from error
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def validate_architecture(
    num_res_blocks, W_std, b_std, *, prefix: str = ""
) -> tuple[int, float, float]:
    """Check the architecture hyper-parameters and return them as ``(int, float, float)``.

    Args:
      num_res_blocks, W_std, b_std: the residual MLP's depth and scales.
      prefix: put before each name in messages (``"model."`` for a model's attributes).

    Raises:
      ValueError: unless ``num_res_blocks`` is an integer in ``0 … 2**31 - 1``, ``W_std`` is
        finite and ``> 0`` and ``b_std`` is finite and ``>= 0``.
    """
    num_res_blocks = check_whole(f"{prefix}num_res_blocks", num_res_blocks, 0)
    if num_res_blocks > MAX_RES_BLOCKS:
        raise ValueError(
            f"{prefix}num_res_blocks must be <= {MAX_RES_BLOCKS} (2**31 - 1, the compiled "
            f"loop's int32 bound), got {num_res_blocks}"
        )
    W_std = check_real(f"{prefix}W_std", W_std, positive=True)
    b_std = check_real(f"{prefix}b_std", b_std, positive=False)
    return num_res_blocks, W_std, b_std


def check_input_array(xs, name: str = "xs", *, dim: int | None = None):
    """Check that ``xs`` is a finite real ``(N, d)`` array; return it as a NumPy array.

    A ``jax.jit`` tracer is checked for shape and dtype only (its values are
    unknown) and returned unchanged; anything else is returned as
    ``np.asarray(xs)``, in its own dtype.

    Args:
      xs: array-like of inputs, one row per input.
      name: the argument's name, used in error messages.
      dim: if given, the required number of columns ``d``.

    Raises:
      ValueError: if ``xs`` is not a 2-D array of real numbers (integer or
        floating, not bool or complex) with at least one row and one column (and
        ``dim`` columns when ``dim`` is set), or holds NaN or Inf.
    """
    traced = isinstance(xs, jax.core.Tracer)
    if not traced:
        try:
            xs = np.asarray(xs)
        except Exception as error:
            raise ValueError(f"{name} must be a 2-D array of real numbers: {error}") from None
    shape, dtype = np.shape(xs), xs.dtype
    if np.dtype(dtype).kind in "bOSU" or not (
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {dtype}")
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (inputs x features), got shape {shape}")
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, got {shape}")
    if dim is not None and shape[1] != dim:
        raise ValueError(f"{name} has {shape[1]} features but the other input has {dim}")
    if not traced:
        finite = np.isfinite(xs)
        if not np.all(finite):
            row = int(np.argwhere(~finite)[0][0])
            raise ValueError(f"{name} holds NaN or Inf (first in row {row})")
    return xs


def validate_inputs(xs, name: str = "xs", *, dim: int | None = None) -> np.ndarray:
    """Concrete inputs as a float64 ``(N, d)`` NumPy array, checked by :func:`check_input_array`.

    Raises:
      ValueError: as :func:`check_input_array`, and for a ``jax.jit`` tracer (the
        closed forms need the values).
    """
    if isinstance(xs, jax.core.Tracer):
        raise ValueError(f"{name} must be a concrete array of real numbers, not a jax tracer")
    return check_input_array(xs, name, dim=dim).astype(np.float64)
