"""The original notebook's recursions, kept verbatim as a known-wrong candidate.

The project started from a notebook (the "seed notebook", 000_eb9df717aa1cff35)
that defines ``rmlp_nngp_ours`` and ``rmlp_ntk_ours``. They are reproduced here
in float64 NumPy, operation for operation, with three changes only:

* the correlation ``c = K / √(K_ii K_jj)`` is clipped to ``[−1, 1]`` before
  ``arccos`` (the notebook's ``v_relu`` could produce NaN from rounding), and a
  zero variance gives ``c = 1`` instead of ``0/0``;
* ``num_res_blocks = 0`` is allowed (the notebook asserted ``> 0``; its code
  works unchanged for 0);
* the cross-kernel form :func:`notebook_rmlp_kernels` carries the diagonals of
  both input sets alongside the ``(N1, N2)`` block; for ``x2 = x1`` it is the
  notebook's computation exactly.

The notebook's NNGP recursion is correct. Its NTK recursion is **not**, except at
``W_std = 1, b_std = 0`` (the only case the notebook checked): in the backward
pass it adds ``grad ⊙ V(Σ_l)`` for the second weight layer of each block and
``grad ⊙ K_{l−1}`` for the first, where the correct contributions are
``grad ⊙ (W_std² V(Σ_l) + b_std²)`` and ``grad ⊙ (W_std² K_{l−1} + b_std²)``
(see :mod:`analytic._rmlp`). The tests measure the difference against
neural-tangents.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from analytic._range import check_float64_range
from analytic._range import overflow_error
from analytic._validation import validate_architecture
from analytic._validation import validate_inputs

__all__ = ["NotebookKernels", "notebook_rmlp_kernels", "notebook_rmlp_nngp", "notebook_rmlp_ntk"]


class NotebookKernels(NamedTuple):
    """The notebook's NNGP and (wrong) NTK between two input sets, float64 ``(N1, N2)``."""

    nngp: np.ndarray
    ntk: np.ndarray


def _correlation(K, sqrt):
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(sqrt > 0, K / np.where(sqrt > 0, sqrt, 1.0), 1.0)
    return np.clip(c, -1.0, 1.0)


def _v_relu(K, sqrt):
    c = _correlation(K, sqrt)
    return 1 / (2 * np.pi) * (np.sqrt(1 - c * c) + (np.pi - np.arccos(c)) * c) * sqrt


def _v_relu_prime(K, sqrt):
    c = _correlation(K, sqrt)
    return 1 / (2 * np.pi) * (np.pi - np.arccos(c))


class _Covariance(NamedTuple):
    """The ``(N1, N2)`` block and the two diagonals; the notebook's ops act on all three."""

    cross: np.ndarray
    diag1: np.ndarray
    diag2: np.ndarray

    def map(self, fn):
        return _Covariance(fn(self.cross), fn(self.diag1), fn(self.diag2))

    def _sqrt(self):
        return np.sqrt(self.diag1[:, np.newaxis] * self.diag2[np.newaxis, :])

    def v_relu(self):
        return _Covariance(
            _v_relu(self.cross, self._sqrt()),
            _v_relu(self.diag1, np.sqrt(self.diag1 * self.diag1)),
            _v_relu(self.diag2, np.sqrt(self.diag2 * self.diag2)),
        )

    def v_relu_prime(self):
        return _v_relu_prime(self.cross, self._sqrt())


def _notebook_kernels(x1, x2, num_res_blocks, W_std, b_std):
    num_res_blocks, W_std, b_std = validate_architecture(num_res_blocks, W_std, b_std)
    x1 = validate_inputs(x1, "x1" if x2 is not None else "xs")
    x2 = x1 if x2 is None else validate_inputs(x2, "x2", dim=x1.shape[1])
    both = x1 if x2 is x1 else np.concatenate([x1, x2])
    check_float64_range(both, num_res_blocks, W_std, b_std)
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are refused below
        kernels = _notebook_recursion(x1, x2, num_res_blocks, W_std, b_std)
    for name, kernel in zip(("NNGP", "NTK"), kernels, strict=True):
        if not np.all(np.isfinite(kernel)):
            raise overflow_error(both, num_res_blocks, W_std, b_std, f"notebook {name}")
    return kernels


def _notebook_recursion(x1, x2, num_res_blocks, W_std, b_std):
    data_dim = x1.shape[1]
    W_var = W_std**2
    b_var = b_std**2

    init = _Covariance(x1 @ x2.T, np.sum(x1 * x1, axis=1), np.sum(x2 * x2, axis=1))
    if x2 is x1:  # the notebook reads the diagonal off the Gram matrix itself
        init = _Covariance(init.cross, np.diag(init.cross).copy(), np.diag(init.cross).copy())
    embedding_K = init.map(lambda K: W_var * K / data_dim + b_var)

    # Forward pass: NNGP (notebook cell "In [5]").
    forward_Ks = [embedding_K]
    for _ in range(num_res_blocks):
        prv_K = forward_Ks[-1]
        inner = prv_K.map(lambda K: W_var * K + b_var).v_relu()
        forward_Ks.append(
            _Covariance(*(p + W_var * v + b_var for p, v in zip(prv_K, inner, strict=True)))
        )
    out_K = W_var * forward_Ks[-1].v_relu().cross

    # Backward pass: NTK (notebook cell "In [53]"), unchanged including its error.
    ntk = np.zeros_like(out_K)
    ntk += out_K
    cur_grad_K = W_var * forward_Ks[-1].v_relu_prime()
    for i in range(num_res_blocks, 0, -1):
        skip_grad_K = cur_grad_K.copy()
        pre = forward_Ks[i - 1].map(lambda K: W_var * K + b_var)
        ntk += cur_grad_K * pre.v_relu().cross
        cur_grad_K *= W_var
        cur_grad_K *= pre.v_relu_prime()
        ntk += cur_grad_K * forward_Ks[i - 1].cross
        cur_grad_K *= W_var
        cur_grad_K += skip_grad_K
    ntk += cur_grad_K * embedding_K.cross
    return NotebookKernels(out_K, ntk)


def notebook_rmlp_nngp(xs, num_res_blocks: int, W_std: float, b_std: float) -> np.ndarray:
    """The notebook's ``rmlp_nngp_ours`` (correct NNGP recursion), float64 ``(N, N)``."""
    return _notebook_kernels(xs, None, num_res_blocks, W_std, b_std).nngp


def notebook_rmlp_ntk(xs, num_res_blocks: int, W_std: float, b_std: float) -> np.ndarray:
    """The notebook's ``rmlp_ntk_ours``, float64 ``(N, N)``.

    Correct only at ``W_std = 1, b_std = 0``; see the module docstring.
    """
    return _notebook_kernels(xs, None, num_res_blocks, W_std, b_std).ntk


def notebook_rmlp_kernels(
    x1, x2=None, *, num_res_blocks: int, W_std: float, b_std: float
) -> NotebookKernels:
    """The notebook's NNGP and NTK between ``x1`` ``(N1, d)`` and ``x2`` ``(N2, d)``.

    ``x2 = None`` means ``x1`` and then equals :func:`notebook_rmlp_nngp` and
    :func:`notebook_rmlp_ntk` exactly.
    """
    return _notebook_kernels(x1, x2, num_res_blocks, W_std, b_std)
