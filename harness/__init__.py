"""Measurements and reporting: empirical kernels of finite networks against the analytic limits.

The jobs (each also ``python -m harness.<job>``):

* :func:`run_convergence` with a :class:`ConvergeConfig`: do finite networks
  converge to a kernel formula? (:mod:`harness.converge`); :func:`judge` is the same
  run in memory, for a notebook: ``harness.judge(f, widths="128..8192").ntk``.
* :func:`run_training` with a :class:`TrainConfig`: do wide networks train like
  their NTK says? (:mod:`harness.train`)
* :mod:`harness.bench`: our estimators against neural-tangents, side by side.
* :mod:`harness.calibrate`: the formula test's size and power on real network
  kernels.

The decision rule is :func:`formula_test` (result: :class:`FormulaTest`): per-width,
per-network kernels and a formula in, a calibrated outcome out. The main
estimators (:mod:`harness.kernels`) are re-exported here too; everything else lives
in its subpackage.
"""

# First: under `python -m harness.<job>`, streams, signals and shadowed packages are
# set up before the seconds of imports below (see harness/_startup.py).
from harness import _startup  # noqa: F401
from harness.converge import ConvergeConfig
from harness.converge import Judgement
from harness.converge import Verdict
from harness.converge import judge
from harness.converge import run_convergence
from harness.kernels import empirical_nngp
from harness.kernels import empirical_ntk
from harness.kernels import monte_carlo_kernels
from harness.kernels import per_seed_kernels
from harness.stats import FormulaTest
from harness.stats import formula_test
from harness.stats import relative_frobenius_error
from harness.train import TrainConfig
from harness.train import run_training

__all__ = [
    "ConvergeConfig",
    "FormulaTest",
    "Judgement",
    "TrainConfig",
    "Verdict",
    "empirical_nngp",
    "empirical_ntk",
    "formula_test",
    "judge",
    "monte_carlo_kernels",
    "per_seed_kernels",
    "relative_frobenius_error",
    "run_convergence",
    "run_training",
]
