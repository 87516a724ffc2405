"""Measurements and reporting: empirical kernels of finite networks against the analytic limits.

Public API (one name per line; the modules behind them are private):
"""

from harness._cli import UsageError, parse_widths
from harness._environment import environment_stamp
from harness._neural_tangents import NeuralTangentsUnavailable, load_neural_tangents
from harness._progress import Progress
from harness._run_store import (
    ConfigMismatchError,
    RunStore,
    atomic_write_json,
    atomic_write_npz,
    atomic_write_text,
    config_fingerprint,
)
from harness._statistics import (
    ErrorSummary,
    SlopeFit,
    Verdict,
    bootstrap_mean_ci,
    convergence_verdict,
    loglog_slope,
    relative_frobenius_error,
    summarize_errors,
)

__all__ = [
    "ConfigMismatchError",
    "ErrorSummary",
    "NeuralTangentsUnavailable",
    "Progress",
    "RunStore",
    "SlopeFit",
    "UsageError",
    "Verdict",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_text",
    "bootstrap_mean_ci",
    "config_fingerprint",
    "convergence_verdict",
    "environment_stamp",
    "load_neural_tangents",
    "loglog_slope",
    "parse_widths",
    "relative_frobenius_error",
    "summarize_errors",
]
