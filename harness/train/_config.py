"""The configuration of a training-dynamics run (``python -m harness.train``) and its defaults.

:class:`TrainConfig` fully determines the numbers of a run; the result folder's
fingerprint is computed from it (:mod:`harness.runs._store`).

Default run (``python -m harness.train``), chosen to finish in a few minutes on 2 CPU cores:

* ``widths = 128..1024``. A training step costs about ``n²`` per input, and on the CPU
  width 1024 already dominates; the drift and the gaps fall by ``√8 ≈ 2.8`` over the range.
* ``seeds = 6`` networks per width (24 per run): enough for every fitted slope to fall
  clearly below the -0.3 bar in the default run, the train-set gap (a small residual) being
  the noisiest (measured figures: docs/measurements.md). Wider ranges need a GPU: at ``n²``
  per step, width 8192 costs 64 times width 1024.
* ``n_train = 16``, ``n_test = 64``, ``input_dim = 10``: Gaussian inputs ``x ~ N(0, I_d)``
  (seed 0, as in ``converge``); the first 16 rows train, the next 64 are held out. Few
  training points keep the NTK well conditioned (``λ_max/λ_min ≈ 17``), so training
  converges in few steps; many held-out points make the test gap a well-averaged statistic.
* ``W_std = 1``, ``b_std = 0``, ``num_res_blocks = 3``: the outputs at initialisation then
  have variance ``K_NNGP(x, x) ≈ 1.6``, comparable to the targets' (≈ 0.6), so training fits
  the target instead of mostly erasing the initial function. (``converge``'s
  ``W_std = 1.5, b_std = 0.5`` gives ``K_NNGP(x, x) ≈ 126``: the loss would be dominated by
  ``f_0`` and need 2-3 times more steps for the same fit.)
* ``lr_fraction = 0.5``: ``η = 0.5 · 2/λ_max(Θ)`` for the summed ½-squared loss, half the
  stability limit of the kernel dynamics, so a finite network whose largest eigenvalue
  exceeds the analytic one by tens of percent is still stable.
* ``steps = None`` (auto): the smallest ``T`` at which the infinite-width prediction's
  expected training loss is at most ``loss_ratio = 1e-3`` times ``½‖y‖²`` (the loss of the
  zero function; expectation over ``f_0 ~ N(0, K_NNGP)``): a training residual of about
  3% RMS of the targets. At most ``max_steps = 5000``. The default problem gets ``T = 39``.
* ``records = 16`` log-spaced steps in ``1..T`` (plus step 0) at which outputs are kept
  (evaluating 80 inputs costs about as much as a few training steps).
"""

from __future__ import annotations

import dataclasses

from harness.runs import JobConfig
from harness.runs import UsageError
from harness.runs import check_choice
from harness.train._task import TARGETS

__all__ = ["DEFAULT_TRAIN_WIDTHS", "TrainConfig"]

DEFAULT_TRAIN_WIDTHS = (128, 256, 512, 1024)


@dataclasses.dataclass(frozen=True)
class TrainConfig(JobConfig):
    """Everything that determines a training-dynamics run's numbers.

    Attributes:
      widths: hidden widths ``n``, increasing.
      num_res_blocks, W_std, b_std: the architecture (NTK parameterization,
        ``z = W_std/√fan_in · W x + b_std · b``).
      n_train, n_test: training and held-out inputs (the first ``n_train`` rows, then the
        next ``n_test``).
      input_dim, input_seed: Gaussian inputs (ignored with ``inputs_file``).
      inputs_file, inputs_sha256: a ``.npy`` file of inputs and the SHA-256 of its values
        (:func:`harness.runs.inputs_sha256`: shape and C-ordered float64 values, not the
        file's bytes, so the same numbers stored another way resume the run).
      target: ``"smooth"`` or ``"nngp"`` (see :mod:`harness.train._task`).
      seeds: networks per width; network ``s`` at width ``n`` is initialised from
        ``fold_in(PRNGKey(s), n)`` (independent draws at different widths).
      lr_fraction: ``η = lr_fraction · 2/λ_max`` of the analytic NTK on the training set.
      steps: ``T``; ``None`` chooses it from ``loss_ratio`` (see the module docstring).
      loss_ratio, max_steps: the automatic choice of ``T``.
      records: log-spaced recorded steps (plus step 0).
      ntk_method: the empirical-NTK estimator (``harness.kernels._ntk.empirical_ntk``).
      precision: ``"default"``, ``"high"`` or ``"highest"`` matmul precision.
      activation, branch_scale: the activation's spelling and ``α`` (as in converge).
    """

    widths: tuple[int, ...] = DEFAULT_TRAIN_WIDTHS
    num_res_blocks: int = 3
    W_std: float = 1.0
    b_std: float = 0.0
    n_train: int = 16
    n_test: int = 64
    input_dim: int = 10
    input_seed: int = 0
    inputs_file: str | None = None
    inputs_sha256: str | None = None
    target: str = "smooth"
    seeds: int = 6
    lr_fraction: float = 0.5
    steps: int | None = None
    loss_ratio: float = 1e-3
    max_steps: int = 5000
    records: int = 16
    ntk_method: str = "factored"
    precision: str = "default"
    activation: str = "relu"
    branch_scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~harness.runs.UsageError` for impossible values."""
        self.check_shared(
            (
                ("--n-train", self.n_train, 2),
                ("--n-test", self.n_test, 1),
                ("--max-steps", self.max_steps, 1),
                ("--records", self.records, 2),
            )
        )
        if self.steps is not None and self.steps < 1:
            raise UsageError(f"--steps: {self.steps} is not >= 1")
        if not 0.0 < self.lr_fraction < 1.0:
            raise UsageError(f"--lr-fraction: {self.lr_fraction} is not in (0, 1)")
        if not 0.0 < self.loss_ratio < 1.0:
            raise UsageError(f"--loss-ratio: {self.loss_ratio} is not in (0, 1)")
        check_choice("--target", self.target, TARGETS)
