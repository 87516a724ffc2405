"""``python -m harness.bench``: our empirical and analytic kernels against neural-tangents.

Public API: :class:`BenchConfig` (what to benchmark), :func:`run_bench` (measure, return
the timings as a dict; it raises :class:`models.NeuralTangentsUnavailableError` without
neural-tangents) and :func:`main` (the command line, which also prints the table and
writes the JSON and Markdown). The modules behind them are private.
"""

from harness.bench._cli import main
from harness.bench._run import BenchConfig
from harness.bench._run import run_bench

__all__ = [
    "BenchConfig",
    "main",
    "run_bench",
]
