"""One width, one seed: train a finite network and its linearisation, and compare with theory.

For network ``s`` of width ``n`` (parameters from ``fold_in(PRNGKey(s), n)``):

1. train :class:`models.ResidualMLP` by full-batch GD with ``optax.sgd(η)`` on the summed
   ½-squared loss for ``T`` steps (:func:`harness.train._gradient_descent.train_full_batch`);
2. train its linearisation ``f_0 + J_0 (θ - θ_0)`` the same way
   (:func:`harness.train._linearized.linearize_apply`);
3. evaluate the infinite-width prediction of the same discrete-time GD from the analytic NTK,
   started from this network's own initial outputs ``f_0``
   (:func:`harness.train._kernel_dynamics.kernel_gd_prediction`);
4. compute the empirical NTK on the training inputs at the start and the end,
   ``Θ̂_0`` and ``Θ̂_T`` (``harness.kernels._ntk.empirical_ntk``).

Measures (all relative, Frobenius / Euclidean norms, at the final step ``T``):

* ``kernel_drift = ‖Θ̂_T - Θ̂_0‖_F / ‖Θ̂_0‖_F``;
* ``gap_{all,train,test} = ‖f_T - f_T^NTK‖ / ‖f_T^NTK‖`` over all ``N_train + N_test``
  outputs, the training outputs, and the held-out outputs;
* ``lin_gap_{all,train,test} = ‖f_T - f_T^lin‖ / ‖f_T^lin‖``, the same against the trained
  linearised network.

Theory (Jacot et al. 2018; Lee et al. 2019, Thm 2.1 and Fig. 1): each is ``O(n^{-1/2})`` or
smaller.
"""

from __future__ import annotations

import functools
import time

import jax
import numpy as np

from harness.kernels import empirical_ntk
from harness.stats import relative_frobenius_error
from harness.train._gradient_descent import FullBatchGD
from harness.train._kernel_dynamics import kernel_gd_prediction
from harness.train._linearized import linearized_apply_fn
from models import ResidualMLP

__all__ = ["network_key", "train_one_network"]


def network_key(seed: int, width: int):
    """``fold_in(PRNGKey(seed), width)``: independent initialisations at different widths."""
    return jax.random.fold_in(jax.random.PRNGKey(int(seed)), int(width))


def _gaps(prefix: str, train, test, ref_train, ref_test) -> dict[str, float]:
    """``‖f - f_ref‖ / ‖f_ref‖`` of output vectors, each taken as a one-row matrix."""

    def gap(outputs, reference) -> float:
        return relative_frobenius_error(
            np.reshape(outputs, (1, -1)), np.reshape(reference, (1, -1))
        )

    return {
        f"{prefix}_all": gap(np.r_[train, test], np.r_[ref_train, ref_test]),
        f"{prefix}_train": gap(train, ref_train),
        f"{prefix}_test": gap(test, ref_test),
    }


@functools.lru_cache(maxsize=4)
def _trainers(width, arch, precision, learning_rate):
    """The model, its compiled ``init`` and trainers (finite, linearised), shared by all seeds."""

    model = ResidualMLP(width=width, precision=precision, **arch.kwargs())

    def apply(params, x, _):
        return model.apply(params, x)

    linear = linearized_apply_fn(model.apply)
    return (
        model,
        jax.jit(model.init),  # one compilation instead of one per operation
        FullBatchGD(apply, learning_rate=learning_rate),
        FullBatchGD(linear, learning_rate=learning_rate),
    )


def train_one_network(config, problem, width: int, seed: int) -> dict[str, np.ndarray]:
    """Run steps 1-4 of the module docstring; return the arrays and measures of one unit.

    Raises:
      FloatingPointError: NaN or Inf anywhere, naming the width and seed.
    """

    start = time.perf_counter()
    task = problem.task
    model, init, finite_gd, linear_gd = _trainers(
        width, config.architecture, config.jax_precision, problem.learning_rate
    )
    params0 = init(network_key(seed, width), np.asarray(task.x_train[:1], np.float32))
    data = (params0, task.x_train, task.y_train, task.x_test)
    where = f"width {width}, seed {seed}"
    try:
        finite = finite_gd.run(*data, record_steps=problem.record_steps)
        linear = linear_gd.run(*data, record_steps=problem.record_steps, extra=params0)
    except FloatingPointError as error:
        raise FloatingPointError(f"{where}: {error}") from None
    theory = kernel_gd_prediction(
        problem.theta_train,
        problem.theta_test_train,
        finite.train[0],
        finite.test[0],
        task.y_train,
        learning_rate=problem.learning_rate,
        steps=finite.steps,
    )
    x_train = np.asarray(task.x_train, np.float32)
    kernel_0 = np.asarray(
        empirical_ntk(model, params0, x_train, method=config.ntk_method), np.float64
    )
    kernel_T = np.asarray(
        empirical_ntk(model, finite.params, x_train, method=config.ntk_method), np.float64
    )
    arrays = dict(
        steps=finite.steps,
        train=finite.train,
        test=finite.test,
        lin_train=linear.train,
        lin_test=linear.test,
        ntk_train=theory.train,
        ntk_test=theory.test,
        kernel_0=kernel_0,
        kernel_T=kernel_T,
    )
    for name, value in arrays.items():
        if not np.all(np.isfinite(value)):
            raise FloatingPointError(f"{where}: {name} holds NaN or Inf")
    measures = {"kernel_drift": relative_frobenius_error(kernel_T, kernel_0)}
    measures.update(
        _gaps("gap", finite.train[-1], finite.test[-1], theory.train[-1], theory.test[-1])
    )
    measures.update(
        _gaps("lin_gap", finite.train[-1], finite.test[-1], linear.train[-1], linear.test[-1])
    )
    for name, value in measures.items():
        arrays[name] = np.float64(value)
    arrays["seconds"] = np.float64(time.perf_counter() - start)
    return arrays
