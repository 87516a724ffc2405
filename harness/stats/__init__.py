"""Statistics of finite-width errors: relative errors, per-width summaries, fitted rates and the
formula test that turns them into an outcome.
"""

from harness.stats._convergence import SLOPE_THRESHOLD
from harness.stats._convergence import Z_THRESHOLD
from harness.stats._convergence import ErrorSummary
from harness.stats._convergence import SlopeFit
from harness.stats._convergence import Verdict
from harness.stats._convergence import bootstrap_mean_ci
from harness.stats._convergence import convergence_verdict
from harness.stats._convergence import loglog_slope
from harness.stats._convergence import max_relative_difference
from harness.stats._convergence import relative_frobenius_error
from harness.stats._convergence import seed_mean_z
from harness.stats._convergence import summarize_errors

__all__ = [
    "SLOPE_THRESHOLD",
    "Z_THRESHOLD",
    "ErrorSummary",
    "SlopeFit",
    "Verdict",
    "bootstrap_mean_ci",
    "convergence_verdict",
    "loglog_slope",
    "max_relative_difference",
    "relative_frobenius_error",
    "seed_mean_z",
    "summarize_errors",
]
