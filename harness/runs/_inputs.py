"""The inputs ``X`` (rows are inputs) at which kernels are compared.

Either Gaussian, :math:`x_i \\sim N(0, I_d)` drawn with NumPy from a fixed seed
(so the first layer's kernel :math:`W_{std}^2 x\\cdot x'/d + b_{std}^2` has
diagonal about :math:`W_{std}^2 + b_{std}^2`), or the user's own ``.npy`` file
(``--inputs FILE.npy``), which must be a finite 2-D array with at least two rows.
Inputs are float64 on the host; networks see them in their own dtype.
"""

from __future__ import annotations

import numpy as np

from harness.runs._cli import UsageError

__all__ = ["gaussian_inputs", "load_inputs_file", "run_inputs"]


def gaussian_inputs(n_inputs: int, input_dim: int, *, seed: int = 0) -> np.ndarray:
    """``(n_inputs, input_dim)`` standard-normal float64 rows from ``default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal((n_inputs, input_dim))


def load_inputs_file(path) -> np.ndarray:
    """Read a ``.npy`` array of inputs, rows are inputs.

    Raises:
      UsageError: the file is missing or unreadable, not numeric, not 2-D,
        has fewer than two rows or no columns, or holds NaN/Inf.
    """
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"--inputs: no such file: {path}") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"--inputs: cannot read {path} as a .npy array ({error})") from None
    if not isinstance(data, np.ndarray) or not np.issubdtype(data.dtype, np.number):
        raise UsageError(f"--inputs: {path} does not hold a numeric array")
    if np.iscomplexobj(data):
        raise UsageError(f"--inputs: {path} holds complex numbers")
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 1:
        raise UsageError(
            f"--inputs: {path} has shape {data.shape}; expected (N, d) with N >= 2 rows of inputs"
        )
    data = data.astype(np.float64)
    bad = ~np.isfinite(data)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UsageError(f"--inputs: {path} holds NaN or Inf (first in row {row})")
    return data


def run_inputs(config) -> np.ndarray:
    """The inputs of a :class:`~harness.converge._config.ConvergeConfig`."""
    if config.inputs_file is not None:
        return load_inputs_file(config.inputs_file)
    return gaussian_inputs(config.n_inputs, config.input_dim, seed=config.input_seed)
