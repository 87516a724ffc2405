"""Argument checks shared by every public kernel function of :mod:`analytic`."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["MAX_RES_BLOCKS", "validate_architecture", "validate_inputs"]

#: The depth is an int32 loop bound in the compiled recursion.
MAX_RES_BLOCKS = 2**31 - 1


def validate_architecture(num_res_blocks, W_std, b_std) -> tuple[int, float, float]:
    """Check the architecture hyper-parameters and return them as ``(int, float, float)``.

    Raises:
      ValueError: unless ``num_res_blocks`` is an integer in ``0 … 2**31 - 1``, ``W_std`` is
        finite and ``> 0`` and ``b_std`` is finite and ``>= 0``.
    """
    if isinstance(num_res_blocks, bool) or not isinstance(num_res_blocks, numbers.Integral):
        raise ValueError(f"num_res_blocks must be an integer >= 0, got {num_res_blocks!r}")
    if num_res_blocks < 0:
        raise ValueError(f"num_res_blocks must be >= 0, got {num_res_blocks}")
    if num_res_blocks > MAX_RES_BLOCKS:
        raise ValueError(
            f"num_res_blocks must be <= {MAX_RES_BLOCKS} (2**31 - 1, the compiled loop's "
            f"int32 bound), got {num_res_blocks}"
        )
    W_std = _real("W_std", W_std)
    b_std = _real("b_std", b_std)
    if not W_std > 0:
        raise ValueError(f"W_std must be > 0, got {W_std}")
    if not b_std >= 0:
        raise ValueError(f"b_std must be >= 0, got {b_std}")
    return int(num_res_blocks), W_std, b_std


def validate_inputs(xs, name: str = "xs", *, dim: int | None = None) -> np.ndarray:
    """Return ``xs`` as a float64 ``(N, d)`` NumPy array, checking shape and finiteness.

    Args:
      xs: array-like of inputs, one row per input.
      name: the argument's name, used in error messages.
      dim: if given, the required number of columns ``d``.

    Raises:
      ValueError: if ``xs`` is not a 2-D array of finite real numbers with at
        least one row and one column (and ``dim`` columns when ``dim`` is set).
    """
    try:
        array = np.asarray(xs)
    except Exception as error:
        raise ValueError(f"{name} must be a 2-D array of real numbers: {error}") from error
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (inputs x features), got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name} must have at least one row and one column, got {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{name} has {array.shape[1]} features but the other input has {dim}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _real(name: str, value) -> float:
    if isinstance(value, bool | np.bool_ | complex | str | bytes) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a real number, got {value!r}") from error
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value
