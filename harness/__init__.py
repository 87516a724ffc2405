"""Measurements and reporting: empirical kernels of finite networks against the analytic limits.

Public API (one name per line; the modules behind them are private):
"""

from harness._candidates import Candidate, evaluate_candidate, load_candidate
from harness._cli import UsageError, parse_widths
from harness._converge_config import ConvergeConfig
from harness._converge_run import run_convergence
from harness._environment import environment_stamp
from harness._gd_training import FullBatchGD, TrainingTrace, train_full_batch
from harness._kernel_dynamics import (
    KernelGDPrediction,
    kernel_gd_iteration,
    kernel_gd_prediction,
    stable_learning_rate,
)
from harness._linearized import linearize_apply
from harness._neural_tangents import NeuralTangentsUnavailable, load_neural_tangents
from harness._progress import Progress
from harness._regression_task import RegressionTask, make_regression_task
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
    seed_mean_z,
    summarize_errors,
)
from harness._train_config import TrainConfig
from harness._train_run import run_training
from harness.empirical import (
    PerSeedKernels,
    empirical_nngp,
    empirical_ntk,
    estimate_network_bytes,
    init_network,
    monte_carlo_kernels,
    output_nngp,
    per_seed_kernels,
    seed_keys,
)

__all__ = [
    "Candidate",
    "ConfigMismatchError",
    "ConvergeConfig",
    "ErrorSummary",
    "FullBatchGD",
    "KernelGDPrediction",
    "NeuralTangentsUnavailable",
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
