"""Everything a training run shares across widths and seeds: data, analytic kernels, η and T.

:func:`build_problem` turns a :class:`~harness.train._config.TrainConfig` into a
:class:`TrainingProblem`: the regression task (:mod:`harness.train._task`), the analytic
NTK ``Θ`` on the training set and between test and training inputs
(:func:`analytic.rmlp_kernels`, float64), the learning rate
``η = lr_fraction · 2/λ_max(Θ)`` (:func:`harness.train._kernel_dynamics.stable_learning_rate`),
the number of steps ``T`` and the recorded steps (0 and ``records`` log-spaced steps in
``1..T``), and the expected training loss that ``T`` steps reach
(:func:`harness.train._kernel_dynamics.expected_loss_ratio`): when the automatic ``T``
stops at ``max_steps`` before reaching ``loss_ratio``, the run says so instead of
claiming the target.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from analytic import rmlp_kernels
from harness.runs import UsageError
from harness.runs import check_float32_range
from harness.runs import check_run_memory
from harness.runs import gaussian_inputs
from harness.runs import load_inputs_file
from harness.train._kernel_dynamics import expected_loss_ratio
from harness.train._kernel_dynamics import stable_learning_rate
from harness.train._kernel_dynamics import steps_to_fit
from harness.train._task import RegressionTask
from harness.train._task import make_regression_task

__all__ = ["TrainingProblem", "build_problem", "problem_inputs", "record_schedule"]


class TrainingProblem(NamedTuple):
    """Data, analytic kernels and the GD schedule of one run (all float64 NumPy)."""

    task: RegressionTask
    theta_train: np.ndarray  # analytic Θ(X, X), (N_train, N_train)
    theta_test_train: np.ndarray  # analytic Θ(X*, X), (N_test, N_train)
    nngp_train: np.ndarray  # analytic K(X, X): covariance of the initial outputs
    learning_rate: float
    steps: int
    record_steps: np.ndarray
    eigenvalues: np.ndarray  # of Θ(X, X), ascending
    #: E‖f_T(X) − y‖² / ‖y‖² of the NTK dynamics at ``steps`` (f_0 ~ N(0, K_NNGP)).
    expected_loss_ratio: float
    #: The automatic ``T`` hit ``max_steps`` with ``expected_loss_ratio > loss_ratio``.
    steps_capped: bool


def problem_inputs(config) -> np.ndarray:
    """The ``n_train + n_test`` input rows of a run (Gaussian, or the first rows of a file)."""
    needed = config.n_train + config.n_test
    if config.inputs_file is None:
        check_run_memory(config, n_inputs=needed, input_dim=config.input_dim)
        return gaussian_inputs(needed, config.input_dim, seed=config.input_seed)
    rows = load_inputs_file(config.inputs_file)
    check_run_memory(config, n_inputs=needed, input_dim=rows.shape[1])
    if rows.shape[0] < needed:
        raise UsageError(
            f"--inputs: {config.inputs_file} has {rows.shape[0]} rows; --n-train "
            f"{config.n_train} plus --n-test {config.n_test} need {needed}"
        )
    return rows[:needed]


def record_schedule(steps: int, records: int) -> np.ndarray:
    """Step 0 and about ``records`` distinct log-spaced integer steps in ``1..steps``."""
    spaced = np.unique(np.round(np.geomspace(1, steps, records)).astype(np.int64))
    return np.concatenate([[0], spaced])


def build_problem(config) -> TrainingProblem:
    """Draw the data and compute the analytic kernels, ``η`` and ``T`` for ``config``.

    Raises:
      UsageError: inputs whose kernels a float32 network cannot represent
        (:func:`harness.runs.check_float32_range`: all-zero inputs without biases,
        too large or too small a scale), a run that does not fit in memory, or a
        training NTK that is not finite and positive.
    """

    x = problem_inputs(config)
    x_train, x_test = x[: config.n_train], x[config.n_train :]
    arch = config.architecture.kwargs()
    check_float32_range(x, **arch)
    if not np.any(x_train) and config.b_std == 0:
        raise UsageError(
            "every training input is zero and --b-std is 0: the NTK of the training inputs "
            "is zero and gradient descent cannot move the network"
        )
    try:  # a network float64 cannot follow is refused by the analytic kernels: bad input
        task = make_regression_task(x_train, x_test, target=config.target, **arch)
        train = rmlp_kernels(x_train, **arch)
        cross = rmlp_kernels(x_test, x_train, **arch)
    except ValueError as error:
        raise UsageError(str(error)) from None
    theta = np.asarray(train.ntk, np.float64)
    eigenvalues = np.linalg.eigvalsh(theta)
    if not np.all(np.isfinite(theta)) or eigenvalues[-1] <= 0:
        raise UsageError("the analytic NTK of the training inputs is not finite and positive")
    eta = stable_learning_rate(theta, fraction=config.lr_fraction)
    nngp = np.asarray(train.nngp, np.float64)
    steps = config.steps
    if steps is None:
        steps = steps_to_fit(
            theta,
            nngp,
            task.y_train,
            learning_rate=eta,
            loss_ratio=config.loss_ratio,
            max_steps=config.max_steps,
        )
    steps = max(int(steps), 1)
    reached = float(
        expected_loss_ratio(theta, nngp, task.y_train, learning_rate=eta, steps=[steps])[0]
    )
    return TrainingProblem(
        task=task,
        theta_train=theta,
        theta_test_train=np.asarray(cross.ntk, np.float64),
        nngp_train=nngp,
        learning_rate=float(eta),
        steps=steps,
        record_steps=record_schedule(steps, config.records),
        eigenvalues=eigenvalues,
        expected_loss_ratio=reached,
        steps_capped=config.steps is None and reached > config.loss_ratio,
    )
