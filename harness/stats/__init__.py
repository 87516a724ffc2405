"""Statistics of finite-width errors: relative errors, per-width summaries, fitted rates and the
formula test that turns them into an outcome.
"""

from harness.stats._errors import ErrorSummary
from harness.stats._errors import SlopeFit
from harness.stats._errors import bootstrap_mean_ci
from harness.stats._errors import loglog_slope
from harness.stats._errors import max_relative_difference
from harness.stats._errors import relative_frobenius_error
from harness.stats._errors import seed_mean_z
from harness.stats._errors import seed_variance
from harness.stats._errors import summarize_errors
from harness.stats._formula_test import DEFAULT_CUT
from harness.stats._formula_test import DEFAULT_POWER
from harness.stats._formula_test import DEFAULT_TOLERANCE
from harness.stats._formula_test import INTERVAL_CONSTRUCTION_LEVEL
from harness.stats._formula_test import LACK_OF_FIT_LEVEL
from harness.stats._formula_test import FormulaTest
from harness.stats._formula_test import WidthExtrapolation
from harness.stats._formula_test import critical_value
from harness.stats._formula_test import detectable_multiplier
from harness.stats._formula_test import extrapolate_to_infinite_width
from harness.stats._formula_test import formula_test
from harness.stats._formula_test import required_seeds

__all__ = [
    "DEFAULT_CUT",
    "DEFAULT_POWER",
    "DEFAULT_TOLERANCE",
    "INTERVAL_CONSTRUCTION_LEVEL",
    "LACK_OF_FIT_LEVEL",
    "ErrorSummary",
    "FormulaTest",
    "SlopeFit",
    "WidthExtrapolation",
    "bootstrap_mean_ci",
    "critical_value",
    "detectable_multiplier",
    "extrapolate_to_infinite_width",
    "formula_test",
    "loglog_slope",
    "max_relative_difference",
    "relative_frobenius_error",
    "required_seeds",
    "seed_mean_z",
    "seed_variance",
    "summarize_errors",
]
