"""``python -m harness.train``: do wide networks train like their NTK says?

Public API: :class:`TrainConfig` (what determines a run), :func:`run_training` (run or
resume one into a folder, return its results), :func:`main` (the command line), and
:class:`NonFiniteTrainingError`, which a run raises besides
:class:`harness.runs.UsageError` when a network's outputs or kernels hold NaN/Inf. The
modules behind them are private.
"""

from harness.train._cli import main
from harness.train._config import TrainConfig
from harness.train._run import NonFiniteTrainingError
from harness.train._run import run_training

__all__ = [
    "NonFiniteTrainingError",
    "TrainConfig",
    "main",
    "run_training",
]
