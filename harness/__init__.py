"""Measurements and reporting: empirical kernels of finite networks against the analytic limits.

Public API (one name per line; the modules behind them are private):
"""

from harness._cli import UsageError
from harness._cli import parse_widths
from harness._environment import environment_stamp
from harness._neural_tangents import NeuralTangentsUnavailable
from harness._neural_tangents import load_neural_tangents

__all__ = [
    "NeuralTangentsUnavailable",
    "UsageError",
    "environment_stamp",
    "load_neural_tangents",
    "parse_widths",
]
