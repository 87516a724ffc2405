"""``python -m harness.converge``: do finite-width networks converge to the analytic kernels?"""

from harness.converge._candidates import Candidate
from harness.converge._candidates import evaluate_candidate
from harness.converge._candidates import load_candidate
from harness.converge._candidates import parse_candidates
from harness.converge._cli import build_parser
from harness.converge._cli import config_from_args
from harness.converge._cli import main
from harness.converge._config import DEFAULT_WIDTHS
from harness.converge._config import SAMPLERS
from harness.converge._config import ConvergeConfig
from harness.converge._measure import CONDITIONAL_BATCH
from harness.converge._measure import NonFiniteKernelError
from harness.converge._measure import WidthMeasurement
from harness.converge._measure import measure_batch
from harness.converge._measure import measure_conditional
from harness.converge._measure import networks_per_device
from harness.converge._measure import nt_per_seed_kernels
from harness.converge._measure import seed_batches
from harness.converge._references import NonFiniteReferenceError
from harness.converge._references import analytic_references
from harness.converge._references import neural_tangents_references
from harness.converge._report import headlines
from harness.converge._report import render_report
from harness.converge._run import DEFAULT_OUT
from harness.converge._run import run_convergence
from harness.converge._summary import csv_rows
from harness.converge._summary import error_curves
from harness.converge._summary import summarize_curve

__all__ = [
    "CONDITIONAL_BATCH",
    "DEFAULT_OUT",
    "DEFAULT_WIDTHS",
    "SAMPLERS",
    "Candidate",
    "ConvergeConfig",
    "NonFiniteKernelError",
    "NonFiniteReferenceError",
    "WidthMeasurement",
    "analytic_references",
    "build_parser",
    "config_from_args",
    "csv_rows",
    "error_curves",
    "evaluate_candidate",
    "headlines",
    "load_candidate",
    "main",
    "measure_batch",
    "measure_conditional",
    "networks_per_device",
    "neural_tangents_references",
    "nt_per_seed_kernels",
    "parse_candidates",
    "render_report",
    "run_convergence",
    "seed_batches",
    "summarize_curve",
]
