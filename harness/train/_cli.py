"""``python -m harness.train``: do wide networks train like their NTK says?

Parses the command line into a :class:`~harness.train._config.TrainConfig` and calls
:func:`harness.run_training`, which tests and notebooks call directly. See ``--help`` for the
options and :mod:`harness.train._config` for why the defaults are what they are.

Exit status: 0 on success; 2 with a one-line ``error: ...`` for bad input (widths, inputs file,
config mismatch in ``--out``); 1 with a one-line message when training produces NaN/Inf
(finished networks are kept in ``--out`` and a rerun resumes).
"""

from __future__ import annotations

import dataclasses

from harness.runs import ArgumentParser
from harness.runs import UsageError
from harness.runs import add_architecture_options
from harness.runs import add_inputs_options
from harness.runs import add_numerics_options
from harness.runs import add_option
from harness.runs import add_run_options
from harness.runs import add_seeds_option
from harness.runs import bounded_int
from harness.runs import config_of
from harness.runs import inputs_sha256
from harness.runs import load_inputs_option
from harness.runs import parse_widths
from harness.runs import run_job
from harness.train._config import TrainConfig
from harness.train._report import step_cap_warning
from harness.train._run import DEFAULT_TRAIN_OUT
from harness.train._run import NonFiniteTrainingError
from harness.train._run import run_training
from harness.train._task import TARGETS

__all__ = ["build_parser", "config_from_args", "main"]

_DEFAULTS = TrainConfig()
#: Most GD steps a run may ask for (each step is a full-batch pass of every network).
MAX_STEPS = 1_000_000
#: Most recorded steps (each is an evaluation of every input).
MAX_RECORDS = 10_000


def build_parser() -> ArgumentParser:
    """The argument parser (errors raise :class:`UsageError`)."""
    parser = ArgumentParser(
        prog="python -m harness.train",
        description="Train finite residual MLPs by full-batch gradient descent (optax) and "
        "compare them with the NTK's infinite-width prediction and with their linearisation.",
    )
    add_architecture_options(parser, _DEFAULTS, widths="128..1024")
    add_option(parser, "--n-train", _DEFAULTS.n_train, "training inputs", type=int)
    add_option(parser, "--n-test", _DEFAULTS.n_test, "held-out inputs", type=int)
    held_out = "; the first --n-train rows train, the next --n-test are held out"
    add_inputs_options(parser, _DEFAULTS, rows=held_out)
    targets = "smooth: fixed sum of sinusoids; nngp: a draw from the analytic NNGP"
    add_option(parser, "--target", _DEFAULTS.target, targets, choices=TARGETS)
    add_seeds_option(parser, _DEFAULTS)
    rate = "learning rate as a fraction of 2/λ_max of the analytic NTK, for the loss ½Σ(f−y)²"
    add_option(parser, "--lr-fraction", _DEFAULTS.lr_fraction, rate, type=float)
    steps_help = (
        "GD steps T (default: auto, until the NTK prediction's expected training loss "
        f"falls to --loss-ratio × ½‖y‖², at most {_DEFAULTS.max_steps})"
    )
    parser.add_argument("--steps", type=bounded_int("--steps", 1, MAX_STEPS), help=steps_help)
    ratio = "the automatic T reaches an expected training loss of at most this × ½‖y‖²"
    add_option(parser, "--loss-ratio", _DEFAULTS.loss_ratio, ratio, type=float)
    records = bounded_int("--records", 2, MAX_RECORDS)
    add_option(parser, "--records", _DEFAULTS.records, "log-spaced recorded steps", type=records)
    add_numerics_options(parser, _DEFAULTS)
    add_run_options(parser, default_out=DEFAULT_TRAIN_OUT)
    return parser


def config_from_args(args) -> TrainConfig:
    """The :class:`TrainConfig` of parsed arguments (raises :class:`UsageError`)."""
    config = config_of(TrainConfig, args, widths=parse_widths(args.widths))
    if args.inputs is not None:
        data = load_inputs_option(
            args.inputs, conflicting="--input-dim", conflict_given=args.input_dim is not None
        )
        needed = config.n_train + config.n_test
        if data.shape[0] < needed:
            raise UsageError(
                f"--inputs: {args.inputs} has {data.shape[0]} rows; --n-train {config.n_train} "
                f"plus --n-test {config.n_test} need {needed}"
            )
        config = dataclasses.replace(
            config,
            inputs_file=str(args.inputs),
            inputs_sha256=inputs_sha256(data),
            input_dim=data.shape[1],
        )
    return config


def _summary(results: dict, out: str) -> list[str]:
    """The step cap, when the loss target was not reached; the verdicts, the wall time and
    where the report is."""
    warning = step_cap_warning(results)
    return [
        *([f"warning: {warning}"] if warning else []),
        *results["verdicts"],
        f"wall time {results['wall_seconds']:.1f} s; results: {out}/report.md",
    ]


def main(argv=None) -> int:
    """Parse ``argv``, run the measurement, print the verdicts; return the exit status."""
    return run_job(
        argv,
        prog="python -m harness.train",
        parser=build_parser(),
        config_from_args=config_from_args,
        run=run_training,
        default_out=DEFAULT_TRAIN_OUT,
        failures=(NonFiniteTrainingError,),
        summary=_summary,
    )
