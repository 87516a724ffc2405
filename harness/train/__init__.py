"""``python -m harness.train``: do wide networks train like their NTK says?"""

from harness.train._cli import build_parser
from harness.train._cli import config_from_args
from harness.train._cli import main
from harness.train._config import DEFAULT_TRAIN_WIDTHS
from harness.train._config import TrainConfig
from harness.train._gradient_descent import FullBatchGD
from harness.train._gradient_descent import TrainingTrace
from harness.train._gradient_descent import half_squared_loss
from harness.train._gradient_descent import train_full_batch
from harness.train._kernel_dynamics import KernelGDPrediction
from harness.train._kernel_dynamics import expected_loss_ratio
from harness.train._kernel_dynamics import kernel_gd_iteration
from harness.train._kernel_dynamics import kernel_gd_prediction
from harness.train._kernel_dynamics import stable_learning_rate
from harness.train._kernel_dynamics import steps_to_fit
from harness.train._linearized import linearize_apply
from harness.train._linearized import linearized_apply_fn
from harness.train._network import network_key
from harness.train._network import train_one_network
from harness.train._problem import TrainingProblem
from harness.train._problem import build_problem
from harness.train._problem import problem_inputs
from harness.train._problem import record_schedule
from harness.train._report import render_train_report
from harness.train._run import DEFAULT_TRAIN_OUT
from harness.train._run import NonFiniteTrainingError
from harness.train._run import run_training
from harness.train._summary import MEASURES
from harness.train._summary import THEORY_SLOPE
from harness.train._summary import csv_rows
from harness.train._summary import measure_entry
from harness.train._summary import summarize_training
from harness.train._task import TARGET_SEED
from harness.train._task import RegressionTask
from harness.train._task import make_regression_task
from harness.train._task import nngp_target
from harness.train._task import smooth_target

__all__ = [
    "DEFAULT_TRAIN_OUT",
    "DEFAULT_TRAIN_WIDTHS",
    "MEASURES",
    "TARGET_SEED",
    "THEORY_SLOPE",
    "FullBatchGD",
    "KernelGDPrediction",
    "NonFiniteTrainingError",
    "RegressionTask",
    "TrainConfig",
    "TrainingProblem",
    "TrainingTrace",
    "build_parser",
    "build_problem",
    "config_from_args",
    "csv_rows",
    "expected_loss_ratio",
    "half_squared_loss",
    "kernel_gd_iteration",
    "kernel_gd_prediction",
    "linearize_apply",
    "linearized_apply_fn",
    "main",
    "make_regression_task",
    "measure_entry",
    "network_key",
    "nngp_target",
    "problem_inputs",
    "record_schedule",
    "render_train_report",
    "run_training",
    "smooth_target",
    "stable_learning_rate",
    "steps_to_fit",
    "summarize_training",
    "train_full_batch",
    "train_one_network",
]
