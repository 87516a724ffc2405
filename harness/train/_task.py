"""The regression task that ``harness.train`` fits: inputs, held-out inputs and targets.

Inputs (drawn in :mod:`harness.train._problem`) are Gaussian rows ``x ~ N(0, I_d)`` from a
fixed seed, as in ``converge``, or the user's own rows (``--inputs FILE.npy``). The first
``N_train`` rows are the training set; the next ``N_test`` rows are held out.

Targets (``--target``):

* ``smooth`` (default): a fixed sum of sinusoids of random projections,

  .. math::  y(x) = \\sqrt{2/K} \\sum_{k=1}^{K} \\sin(u_k · x / \\sqrt{d} + φ_k),

  with ``K = 4``, ``u_k ~ N(0, I_d)`` and ``φ_k ~ U[0, 2π)`` drawn once from
  ``numpy.random.default_rng(TARGET_SEED)``. For Gaussian inputs each ``u_k·x/√d`` is about
  standard normal, so ``y`` is smooth on the data's scale with variance about 1. The same
  function is used for every width and seed, so all networks fit the same problem.
* ``nngp``: one draw ``y ~ N(0, K_NNGP)`` of the analytic NNGP of the architecture on train
  and test inputs together (a target the infinite-width prior considers typical), from the
  same fixed seed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from analytic import rmlp_kernels

__all__ = [
    "TARGET_SEED",
    "RegressionTask",
    "make_regression_task",
    "nngp_target",
    "smooth_target",
]

TARGET_SEED = 20191010
"""Seed of the target function (fixed, so every run fits the same function)."""

TARGETS = ("smooth", "nngp")


class RegressionTask(NamedTuple):
    """Training and held-out inputs with their targets (float64 NumPy)."""

    x_train: np.ndarray  # (N_train, d)
    y_train: np.ndarray  # (N_train,)
    x_test: np.ndarray  # (N_test, d)
    y_test: np.ndarray  # (N_test,)
    target: str


def smooth_target(x, *, num_terms: int = 4, seed: int = TARGET_SEED) -> np.ndarray:
    """``y(x) = √(2/K) Σ_k sin(u_k·x/√d + φ_k)`` with fixed random ``u_k, φ_k`` (see module)."""
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((num_terms, d))
    phases = rng.uniform(0.0, 2.0 * np.pi, size=num_terms)
    return np.sqrt(2.0 / num_terms) * np.sin(x @ directions.T / np.sqrt(d) + phases).sum(axis=1)


def nngp_target(
    x,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    seed: int = TARGET_SEED,
    activation: str = "relu",
    branch_scale: float = 1.0,
):
    """One draw ``y ~ N(0, K_NNGP(x, x))`` of the analytic NNGP, via an eigendecomposition.

    The eigendecomposition (negative rounding eigenvalues clipped to 0) works even when the
    kernel is singular, e.g. for repeated inputs.
    """

    x = np.asarray(x, dtype=np.float64)
    K = np.asarray(
        rmlp_kernels(
            x,
            num_res_blocks=num_res_blocks,
            W_std=W_std,
            b_std=b_std,
            activation=activation,
            branch_scale=branch_scale,
        ).nngp
    )
    lam, V = np.linalg.eigh(0.5 * (K + K.T))
    z = np.random.default_rng(seed).standard_normal(x.shape[0])
    return V @ (np.sqrt(np.clip(lam, 0.0, None)) * z)


def make_regression_task(
    x_train,
    x_test,
    *,
    target: str = "smooth",
    num_res_blocks: int | None = None,
    W_std: float | None = None,
    b_std: float | None = None,
    activation: str = "relu",
    branch_scale: float = 1.0,
) -> RegressionTask:
    """Attach targets to the inputs. ``target="nngp"`` needs the architecture's parameters."""
    x_train = np.asarray(x_train, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    if target == "smooth":
        y_train, y_test = smooth_target(x_train), smooth_target(x_test)
    elif target == "nngp":
        if num_res_blocks is None or W_std is None or b_std is None:
            raise ValueError("target='nngp' needs num_res_blocks, W_std and b_std")
        y = nngp_target(
            np.concatenate([x_train, x_test]),
            num_res_blocks=num_res_blocks,
            W_std=W_std,
            b_std=b_std,
            activation=activation,
            branch_scale=branch_scale,
        )
        y_train, y_test = y[: len(x_train)], y[len(x_train) :]
    else:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return RegressionTask(x_train, y_train, x_test, y_test, target)
