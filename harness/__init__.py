"""Measurements and reporting: empirical kernels of finite networks against the analytic limits.

Public API (one name per line; the modules behind them are private):
"""

from harness._candidates import Candidate
from harness._candidates import evaluate_candidate
from harness._candidates import load_candidate
from harness._cli import UsageError
from harness._cli import parse_widths
from harness._converge_config import ConvergeConfig
from harness._converge_run import run_convergence
from harness._environment import environment_stamp
from harness._gd_training import FullBatchGD
from harness._gd_training import TrainingTrace
from harness._gd_training import train_full_batch
from harness._kernel_dynamics import KernelGDPrediction
from harness._kernel_dynamics import kernel_gd_iteration
from harness._kernel_dynamics import kernel_gd_prediction
from harness._kernel_dynamics import stable_learning_rate
from harness._linearized import linearize_apply
from harness._neural_tangents import NeuralTangentsUnavailableError
from harness._neural_tangents import load_neural_tangents
from harness._progress import Progress
from harness._regression_task import RegressionTask
from harness._regression_task import make_regression_task
from harness._run_store import ConfigMismatchError
from harness._run_store import RunStore
from harness._run_store import atomic_write_json
from harness._run_store import atomic_write_npz
from harness._run_store import atomic_write_text
from harness._run_store import config_fingerprint
from harness._statistics import ErrorSummary
from harness._statistics import SlopeFit
from harness._statistics import Verdict
from harness._statistics import bootstrap_mean_ci
from harness._statistics import convergence_verdict
from harness._statistics import loglog_slope
from harness._statistics import relative_frobenius_error
from harness._statistics import seed_mean_z
from harness._statistics import summarize_errors
from harness._train_config import TrainConfig
from harness._train_run import run_training
from harness.empirical import PerSeedKernels
from harness.empirical import empirical_nngp
from harness.empirical import empirical_ntk
from harness.empirical import estimate_network_bytes
from harness.empirical import init_network
from harness.empirical import monte_carlo_kernels
from harness.empirical import output_nngp
from harness.empirical import per_seed_kernels
from harness.empirical import seed_keys

__all__ = [
    "Candidate",
    "ConfigMismatchError",
    "ConvergeConfig",
    "ErrorSummary",
    "FullBatchGD",
    "KernelGDPrediction",
    "NeuralTangentsUnavailableError",
    "PerSeedKernels",
    "Progress",
    "RegressionTask",
    "RunStore",
    "SlopeFit",
    "TrainConfig",
    "TrainingTrace",
    "UsageError",
    "Verdict",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_text",
    "bootstrap_mean_ci",
    "config_fingerprint",
    "convergence_verdict",
    "empirical_nngp",
    "empirical_ntk",
    "environment_stamp",
    "estimate_network_bytes",
    "evaluate_candidate",
    "init_network",
    "kernel_gd_iteration",
    "kernel_gd_prediction",
    "linearize_apply",
    "load_candidate",
    "load_neural_tangents",
    "loglog_slope",
    "make_regression_task",
    "monte_carlo_kernels",
    "output_nngp",
    "parse_widths",
    "per_seed_kernels",
    "relative_frobenius_error",
    "run_convergence",
    "run_training",
    "seed_keys",
    "seed_mean_z",
    "stable_learning_rate",
    "summarize_errors",
    "train_full_batch",
]
