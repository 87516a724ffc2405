"""Closed-form discrete-time gradient descent with a fixed kernel (the infinite-width prediction).

Loss convention (used everywhere in ``harness.train``): the *summed* squared error with a ½,

.. math::  L(θ) = ½ \\sum_{i=1}^{N} (f_θ(x_i) - y_i)^2 ,

so one full-batch gradient step ``θ ← θ - η ∇L`` moves the outputs of a network whose
tangent kernel ``Θ = J Jᵀ`` stays fixed (the infinite-width limit, Jacot et al. 2018;
Lee et al. 2019, "Wide neural networks of any depth evolve as linear models under
gradient descent", eqs. 8-11 in discrete time) by

.. math::
   f_{t+1}(X) = f_t(X) - η Θ (f_t(X) - y), \\qquad
   f_{t+1}(x) = f_t(x) - η Θ(x, X) (f_t(X) - y).

With ``Θ = V diag(λ) Vᵀ`` and the residual ``r_0 = f_0(X) - y`` this has the closed form

.. math::
   f_t(X) = y + V diag((1-ηλ)^t) Vᵀ r_0, \\qquad
   f_t(x) = f_0(x) - Θ(x, X) V diag(g_t(λ)) Vᵀ r_0,
   \\quad g_t(λ) = \\frac{1 - (1-ηλ)^t}{λ} .

``g_t`` is the stable form of ``Θ^{-1}(I - (I-ηΘ)^t)``: for small ``x = ηλ`` it is
evaluated as ``-η · expm1(t · log1p(-x)) / x`` (limit ``η t`` at ``λ = 0``), so an
ill-conditioned or singular ``Θ`` needs no inverse. The dynamics are stable exactly when
``0 < η λ_max < 2``; with the mean loss ``½N⁻¹Σ`` the bound would read ``2N/λ_max``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "KernelGDPrediction",
    "expected_loss_ratio",
    "kernel_gd_iteration",
    "kernel_gd_prediction",
    "stable_learning_rate",
    "steps_to_fit",
]


class KernelGDPrediction(NamedTuple):
    """Outputs of kernel gradient descent at the recorded ``steps``.

    ``train`` has shape ``(len(steps), N_train)`` and ``test`` ``(len(steps), N_test)``.
    """

    steps: np.ndarray
    train: np.ndarray
    test: np.ndarray


def stable_learning_rate(theta_train, *, fraction: float) -> float:
    """``fraction · 2/λ_max(Θ)``: the stability limit of GD on the summed ½-squared loss."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"learning-rate fraction must lie in (0, 1), got {fraction}")
    lam_max = float(np.linalg.eigvalsh(np.asarray(theta_train, dtype=np.float64))[-1])
    if not np.isfinite(lam_max) or lam_max <= 0.0:
        raise ValueError(f"the kernel's largest eigenvalue is {lam_max}; it must be > 0")
    return fraction * 2.0 / lam_max


def _decay_and_gain(lam: np.ndarray, eta: float, t: int) -> tuple[np.ndarray, np.ndarray]:
    """``(1-ηλ)^t`` and ``g_t(λ) = (1-(1-ηλ)^t)/λ``, both stable for ``λ → 0``."""
    x = eta * lam
    a = 1.0 - x
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.exp(t * np.log(np.abs(a)))  # |a|^t; a == 0 gives 0 for t > 0
        decay = np.where(a < 0, (-1.0) ** t, 1.0) * magnitude
        if t == 0:
            decay = np.ones_like(lam)
        small = np.abs(x) < 0.5
        # For |x| < 1/2: 1 - (1-x)^t = -expm1(t log1p(-x)), accurate to rounding.
        one_minus_small = -np.expm1(t * np.log1p(-np.where(small, x, 0.0)))
        one_minus = np.where(small, one_minus_small, 1.0 - decay)
        gain = np.where(x == 0.0, eta * t, eta * one_minus / np.where(x == 0.0, 1.0, x))
    return decay, gain


def _as_inputs(theta_train, theta_test_train, f0_train, f0_test, y_train):
    theta = np.asarray(theta_train, dtype=np.float64)
    cross = np.asarray(theta_test_train, dtype=np.float64)
    f0 = np.asarray(f0_train, dtype=np.float64).reshape(-1)
    f0x = np.asarray(f0_test, dtype=np.float64).reshape(-1)
    y = np.asarray(y_train, dtype=np.float64).reshape(-1)
    n = theta.shape[0]
    if theta.shape != (n, n) or f0.shape != (n,) or y.shape != (n,):
        raise ValueError(f"shapes disagree: Θ {theta.shape}, f0 {f0.shape}, y {y.shape}")
    if cross.shape != (f0x.shape[0], n):
        raise ValueError(f"Θ(test, train) has shape {cross.shape}, expected {(f0x.shape[0], n)}")
    return theta, cross, f0, f0x, y


def kernel_gd_prediction(
    theta_train, theta_test_train, f0_train, f0_test, y_train, *, learning_rate: float, steps
) -> KernelGDPrediction:
    """Closed-form outputs of GD with the fixed kernel ``Θ`` at each of ``steps``.

    Args:
      theta_train: ``Θ(X, X)``, shape ``(N, N)``, symmetric positive semi-definite.
      theta_test_train: ``Θ(X*, X)``, shape ``(M, N)``.
      f0_train, f0_test: the outputs at step 0 (the network's own initial outputs).
      y_train: the targets, shape ``(N,)``.
      learning_rate: ``η`` for the summed ½-squared loss (see the module docstring).
      steps: the non-negative integer steps at which to evaluate.

    Returns:
      :class:`KernelGDPrediction` in float64.
    """
    theta, cross, f0, f0x, y = _as_inputs(theta_train, theta_test_train, f0_train, f0_test, y_train)
    lam, V = np.linalg.eigh(0.5 * (theta + theta.T))
    lam = np.clip(lam, 0.0, None)  # rounding can leave tiny negative eigenvalues
    r0 = V.T @ (f0 - y)
    cross_v = cross @ V
    steps = np.asarray(steps, dtype=np.int64).reshape(-1)
    train = np.empty((steps.size, y.size))
    test = np.empty((steps.size, f0x.size))
    for k, t in enumerate(steps):
        if t < 0:
            raise ValueError(f"steps must be >= 0, got {t}")
        if t == 0:  # exactly the initial outputs, not their eigenbasis round trip
            train[k], test[k] = f0, f0x
            continue
        decay, gain = _decay_and_gain(lam, learning_rate, int(t))
        train[k] = y + V @ (decay * r0)
        test[k] = f0x - cross_v @ (gain * r0)
    return KernelGDPrediction(steps=steps, train=train, test=test)


def kernel_gd_iteration(
    theta_train, theta_test_train, f0_train, f0_test, y_train, *, learning_rate: float, steps
) -> KernelGDPrediction:
    """The same dynamics by explicit iteration, one step at a time (the reference).

    ``f ← f - η Θ (f(X) - y)`` on train and ``f(x) ← f(x) - η Θ(x, X)(f(X) - y)`` on test.
    Costs ``O(max(steps) · N²)``; used to check :func:`kernel_gd_prediction`.
    """
    theta, cross, f, fx, y = _as_inputs(theta_train, theta_test_train, f0_train, f0_test, y_train)
    steps = np.asarray(steps, dtype=np.int64).reshape(-1)
    wanted = {int(t) for t in steps}
    record_train, record_test = {}, {}
    for t in range(int(steps.max(initial=0)) + 1):
        if t in wanted:
            record_train[t], record_test[t] = f.copy(), fx.copy()
        residual = f - y
        f = f - learning_rate * (theta @ residual)
        fx = fx - learning_rate * (cross @ residual)
    train = np.stack([record_train[int(t)] for t in steps]) if steps.size else np.empty((0, y.size))
    test = np.stack([record_test[int(t)] for t in steps]) if steps.size else np.empty((0, fx.size))
    return KernelGDPrediction(steps=steps, train=train, test=test)


def expected_loss_ratio(
    theta_train, prior_cov, y_train, *, learning_rate: float, steps
) -> np.ndarray:
    """``E‖f_t(X) - y‖² / ‖y‖²`` of kernel GD when ``f_0 ~ N(0, prior_cov)``.

    The expected training loss relative to ``½‖y‖²``, the loss of the zero function. With
    ``r_0 = f_0 - y``, ``E[r_0 r_0ᵀ] = C + y yᵀ`` (``C`` = the NNGP of the network's initial
    outputs) and ``E‖r_t‖² = Σ_i (1-ηλ_i)^{2t} v_iᵀ (C + y yᵀ) v_i``.
    """
    theta = np.asarray(theta_train, dtype=np.float64)
    y = np.asarray(y_train, dtype=np.float64).reshape(-1)
    lam, V = np.linalg.eigh(0.5 * (theta + theta.T))
    weight = np.einsum("ij,jk,ki->i", V.T, np.asarray(prior_cov) + np.outer(y, y), V)
    steps = np.asarray(steps, dtype=np.int64).reshape(-1)
    lam = np.clip(lam, 0.0, None)
    decay = np.stack([_decay_and_gain(lam, learning_rate, int(t))[0] for t in steps])
    return (decay**2 @ weight) / (y @ y)


def steps_to_fit(
    theta_train, prior_cov, y_train, *, learning_rate: float, loss_ratio: float, max_steps: int
) -> int:
    """The smallest ``T <= max_steps`` with :func:`expected_loss_ratio` ``<= loss_ratio``.

    That is, the expected training loss of the infinite-width dynamics at ``T`` is at most
    ``loss_ratio · ½‖y‖²``. Returns ``max_steps`` if that is not reached by then.
    """
    low, high = 0, int(max_steps)
    ratio = lambda t: expected_loss_ratio(  # noqa: E731
        theta_train, prior_cov, y_train, learning_rate=learning_rate, steps=[t]
    )[0]
    if ratio(high) > loss_ratio:
        return high
    while high - low > 1:  # the ratio decreases monotonically in t for 0 < ηλ < 2
        mid = (low + high) // 2
        if ratio(mid) <= loss_ratio:
            high = mid
        else:
            low = mid
    return high
