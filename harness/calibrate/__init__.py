"""How far to trust the formula test: its size and power measured on real network kernels.

The study (:func:`run_calibration`, ``python -m harness.calibrate``) samples
per-network kernels of residual MLPs over a grid of configurations and runs
:func:`harness.stats.formula_test` against our analytic kernels (size) and
against formulas wrong by known amounts (power and interval coverage).

Public API: :class:`StudyConfig` (one configuration of the grid),
:func:`run_calibration` (sample and test a sequence of them) and :func:`main` (the
command line, which runs the grid of ``grid.txt`` and writes the report). The modules
behind them are private.
"""

from harness.calibrate._cli import main
from harness.calibrate._design import StudyConfig
from harness.calibrate._study import run_calibration

__all__ = [
    "StudyConfig",
    "main",
    "run_calibration",
]
