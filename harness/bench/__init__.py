"""``python -m harness.bench``: our empirical and analytic kernels against neural-tangents."""

from harness.bench._cli import main
from harness.bench._cli import parse_args
from harness.bench._report import format_table
from harness.bench._report import save_results
from harness.bench._run import BenchConfig
from harness.bench._run import run_bench
from harness.bench._timing import time_cold
from harness.bench._timing import time_warm

__all__ = [
    "BenchConfig",
    "format_table",
    "main",
    "parse_args",
    "run_bench",
    "save_results",
    "time_cold",
    "time_warm",
]
