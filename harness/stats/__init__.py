"""Statistics of finite-width kernels: relative errors, per-width summaries, fitted rates, the
formula test that turns per-width, per-network kernels into a calibrated outcome, and the
measured finite-width correction (:func:`finite_width_correction`) with the test of a
correction formula (:func:`correction_test`), and per-width sufficient statistics
(:class:`WidthMoments`) for runs too large to keep every network's kernel.
"""

from harness.stats._agreement import sample_agreement
from harness.stats._correction import DEFAULT_CORRECTION_TOLERANCE
from harness.stats._correction import FiniteWidthCorrection
from harness.stats._correction import correction_test
from harness.stats._correction import finite_width_correction
from harness.stats._errors import ErrorSummary
from harness.stats._errors import SlopeFit
from harness.stats._errors import bootstrap_mean_ci
from harness.stats._errors import loglog_slope
from harness.stats._errors import max_relative_difference
from harness.stats._errors import relative_frobenius_error
from harness.stats._errors import seed_mean_z
from harness.stats._errors import seed_variance
from harness.stats._errors import summarize_errors
from harness.stats._extrapolation import WidthExtrapolation
from harness.stats._extrapolation import extrapolate_to_infinite_width
from harness.stats._formula_test import DEFAULT_POWER
from harness.stats._formula_test import DEFAULT_SIZE
from harness.stats._formula_test import DEFAULT_TOLERANCE
from harness.stats._formula_test import EntryDeviation
from harness.stats._formula_test import FormulaTest
from harness.stats._formula_test import formula_test
from harness.stats._layout import scale_free_errors
from harness.stats._moments import WidthMoments
from harness.stats._planning import allocate_seeds
from harness.stats._planning import network_variances

__all__ = [
    "DEFAULT_CORRECTION_TOLERANCE",
    "DEFAULT_POWER",
    "DEFAULT_SIZE",
    "DEFAULT_TOLERANCE",
    "EntryDeviation",
    "ErrorSummary",
    "FiniteWidthCorrection",
    "FormulaTest",
    "SlopeFit",
    "WidthExtrapolation",
    "WidthMoments",
    "allocate_seeds",
    "bootstrap_mean_ci",
    "correction_test",
    "extrapolate_to_infinite_width",
    "finite_width_correction",
    "formula_test",
    "loglog_slope",
    "max_relative_difference",
    "network_variances",
    "relative_frobenius_error",
    "sample_agreement",
    "scale_free_errors",
    "seed_mean_z",
    "seed_variance",
    "summarize_errors",
]
