"""Full-batch gradient descent with ``optax.sgd`` on the summed ½-squared loss.

For a model ``f_θ`` (any ``apply_fn(params, x) -> (N,)`` or ``(N, 1)``) and training data
``(X, y)`` the loss is

.. math::  L(θ) = ½ \\sum_{i=1}^{N} (f_θ(x_i) - y_i)^2 ,

the convention of :mod:`harness.train._kernel_dynamics`, so that ``η < 2/λ_max(Θ)`` is the
stability limit of the kernel dynamics. Each step is one ``optax.sgd(η)`` update
``θ ← θ - η ∇L(θ)`` (no momentum). The outputs on the training and held-out inputs are
recorded at the requested steps; between two recorded steps the updates run inside one
compiled ``jax.lax.fori_loop`` whose trip count is traced, and a :class:`FullBatchGD` built
once per model serves every seed with one compilation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["FullBatchGD", "TrainingTrace", "half_squared_loss", "train_full_batch"]


class TrainingTrace(NamedTuple):
    """Outputs recorded during training, and the final parameters.

    ``train``: ``(len(steps), N_train)``; ``test``: ``(len(steps), N_test)``; both float64.
    """

    steps: np.ndarray
    train: np.ndarray
    test: np.ndarray
    params: Any


def half_squared_loss(outputs, targets):
    """``½ Σ_i (f_i - y_i)²`` (summed, not averaged; see the module docstring)."""
    return 0.5 * jnp.sum((jnp.reshape(outputs, (-1,)) - targets) ** 2)


class FullBatchGD:
    """Compiled full-batch GD for one model: build once, :meth:`run` for many initialisations.

    Args:
      apply_fn: ``apply_fn(params, x, extra)`` with one output per row of ``x``; ``extra`` is
        any fixed pytree the model needs (e.g. the expansion point of a linearisation), passed
        as a traced argument so that one compilation serves every seed.
      learning_rate: ``η`` of ``optax.sgd``.
    """

    def __init__(self, apply_fn: Callable, *, learning_rate: float):
        self.learning_rate = float(learning_rate)
        optimizer = optax.sgd(self.learning_rate)
        self.optimizer = optimizer

        def f(p, x, extra):
            return jnp.reshape(apply_fn(p, x, extra), (-1,))

        def one_step(_, carry):
            p, state, extra, x, y = carry
            grads = jax.grad(lambda q: half_squared_loss(f(q, x, extra), y))(p)
            updates, state = optimizer.update(grads, state, p)
            return optax.apply_updates(p, updates), state, extra, x, y

        @jax.jit
        def advance(p, state, extra, x, y, n):
            p, state, *_ = jax.lax.fori_loop(0, n, one_step, (p, state, extra, x, y))
            return p, state

        @jax.jit
        def evaluate(p, extra, x_train, x_test):
            return f(p, x_train, extra), f(p, x_test, extra)

        self._advance = advance
        self._evaluate = evaluate

    def run(self, params, x_train, y_train, x_test, *, record_steps, extra=None) -> TrainingTrace:
        """Train for ``max(record_steps)`` steps, recording outputs at ``record_steps``.

        Raises:
          FloatingPointError: if an output becomes NaN or Inf (names the step).
        """
        dtype = jax.tree_util.tree_leaves(params)[0].dtype
        x_train = jnp.asarray(x_train, dtype)
        x_test = jnp.asarray(x_test, dtype)
        y = jnp.asarray(y_train, dtype).reshape(-1)
        steps = np.asarray(sorted({int(t) for t in np.asarray(record_steps).reshape(-1)}))
        if steps.size == 0 or steps[0] < 0:
            raise ValueError("record_steps must be non-empty and >= 0")
        state = self.optimizer.init(params)
        train, test, t = [], [], 0
        for target in steps:
            if target > t:
                n = jnp.asarray(target - t, jnp.int32)
                params, state = self._advance(params, state, extra, x_train, y, n)
                t = int(target)
            out_train, out_test = self._evaluate(params, extra, x_train, x_test)
            out_train = np.asarray(out_train, np.float64)
            out_test = np.asarray(out_test, np.float64)
            if not (np.all(np.isfinite(out_train)) and np.all(np.isfinite(out_test))):
                raise FloatingPointError(
                    f"outputs became non-finite by step {t} (η={self.learning_rate})"
                )
            train.append(out_train)
            test.append(out_test)
        return TrainingTrace(steps, np.stack(train), np.stack(test), params)


def train_full_batch(
    apply_fn: Callable,
    params,
    x_train,
    y_train,
    x_test,
    *,
    learning_rate: float,
    record_steps,
) -> TrainingTrace:
    """Train ``params`` of ``apply_fn(params, x)`` by full-batch GD (a one-off trainer).

    Args:
      apply_fn: ``apply_fn(params, x)``, one output per row of ``x``.
      params: the initial parameters (a pytree; the dtype of the arrays is kept).
      x_train, y_train: the training inputs and targets.
      x_test: held-out inputs, evaluated (not trained on) at every recorded step.
      learning_rate: ``η`` of ``optax.sgd``.
      record_steps: non-negative integer steps at which to record outputs (``0`` is the
        initialisation).
    """
    trainer = FullBatchGD(lambda p, x, _: apply_fn(p, x), learning_rate=learning_rate)
    return trainer.run(params, x_train, y_train, x_test, record_steps=record_steps)
