"""How far to trust the formula test: its size and power measured on real network kernels.

The study (:func:`run_calibration`, ``python -m harness.calibrate``) samples
per-network kernels of residual MLPs over a grid of configurations and runs
:func:`harness.stats.formula_test` against our analytic kernels (size) and
against formulas wrong by known amounts (power and interval coverage).
"""

from harness.calibrate._design import DEEP_SMALL_WIDTH
from harness.calibrate._design import StudyConfig
from harness.calibrate._design import default_grid
from harness.calibrate._design import quick_grid
from harness.calibrate._recursion import recursion_kernels
from harness.calibrate._report import write_report
from harness.calibrate._study import CalibrationResult
from harness.calibrate._study import ConfigSamples
from harness.calibrate._study import FormulaRecord
from harness.calibrate._study import judge_config
from harness.calibrate._study import run_calibration
from harness.calibrate._study import sample_config
from harness.calibrate._summary import clopper_pearson
from harness.calibrate._summary import family_table
from harness.calibrate._summary import power_table
from harness.calibrate._summary import seeds_table
from harness.calibrate._summary import size_summary
from harness.calibrate._summary import size_table
from harness.calibrate._summary import theoretical_power
from harness.calibrate._summary import twin_table
from harness.calibrate._wrong_formulas import WrongFormula
from harness.calibrate._wrong_formulas import dropped_bias_formulas
from harness.calibrate._wrong_formulas import notebook_ntk_formula
from harness.calibrate._wrong_formulas import perturbed_w_std_formulas
from harness.calibrate._wrong_formulas import scaled_formulas
from harness.calibrate._wrong_formulas import w_std_for_error

__all__ = [
    "DEEP_SMALL_WIDTH",
    "CalibrationResult",
    "ConfigSamples",
    "FormulaRecord",
    "StudyConfig",
    "WrongFormula",
    "clopper_pearson",
    "default_grid",
    "dropped_bias_formulas",
    "family_table",
    "judge_config",
    "notebook_ntk_formula",
    "perturbed_w_std_formulas",
    "power_table",
    "quick_grid",
    "recursion_kernels",
    "run_calibration",
    "sample_config",
    "scaled_formulas",
    "seeds_table",
    "size_summary",
    "size_table",
    "theoretical_power",
    "twin_table",
    "w_std_for_error",
    "write_report",
]
