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
from harness.runs import add_numerics_options
from harness.runs import bounded_int
from harness.runs import load_inputs_option
from harness.runs import parse_widths
from harness.runs import run_job
from harness.train._config import TRAIN_TARGETS
from harness.train._config import TrainConfig

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
    add = parser.add_argument
    add(
        "--n-train",
        type=int,
        default=_DEFAULTS.n_train,
        help="training inputs (default: %(default)s)",
    )
    add(
        "--n-test",
        type=int,
        default=_DEFAULTS.n_test,
        help="held-out inputs (default: %(default)s)",
    )
    add(
        "--input-dim",
        type=int,
        default=None,
        help=f"dimension of Gaussian inputs (default: {_DEFAULTS.input_dim})",
    )
    add(
        "--inputs",
        metavar="FILE.npy",
        default=None,
        help="your own inputs: a finite (N, d) .npy array, rows are inputs; the first "
        "--n-train rows train, the next --n-test are held out",
    )
    add(
        "--target",
        choices=TRAIN_TARGETS,
        default=_DEFAULTS.target,
        help="smooth: fixed sum of sinusoids; nngp: a draw from the analytic NNGP "
        "(default: %(default)s)",
    )
    add(
        "--seeds",
        type=int,
        default=_DEFAULTS.seeds,
        help="networks per width; network s of width n uses fold_in(PRNGKey(s), n) "
        "(default: %(default)s)",
    )
    add(
        "--lr-fraction",
        type=float,
        default=_DEFAULTS.lr_fraction,
        help="learning rate as a fraction of 2/λ_max of the analytic NTK, for the loss "
        "½Σ(f−y)² (default: %(default)s)",
    )
    add(
        "--steps",
        type=bounded_int("--steps", 1, MAX_STEPS),
        default=None,
        help="GD steps T (default: auto, until the NTK prediction's expected training loss "
        f"falls to --loss-ratio × ½‖y‖², at most {_DEFAULTS.max_steps})",
    )
    add(
        "--loss-ratio",
        type=float,
        default=_DEFAULTS.loss_ratio,
        help="the automatic T reaches an expected training loss of at most this × ½‖y‖² "
        "(default: %(default)s)",
    )
    add(
        "--records",
        type=bounded_int("--records", 2, MAX_RECORDS),
        default=_DEFAULTS.records,
        help="log-spaced recorded steps (default: %(default)s)",
    )
    add_numerics_options(parser, _DEFAULTS)
    add(
        "--out",
        default=None,
        help="output folder; rerunning into it resumes (default: reports/train-latest)",
    )
    add("--quiet", action="store_true", help="no progress bar and no summary lines")
    add("--force", action="store_true", help="replace a run of another config in --out")
    return parser


def config_from_args(args) -> TrainConfig:
    """The :class:`TrainConfig` of parsed arguments (raises :class:`UsageError`)."""
    from harness.runs import file_sha256

    config = TrainConfig(
        widths=parse_widths(args.widths),
        num_res_blocks=args.blocks,
        W_std=args.w_std,
        b_std=args.b_std,
        n_train=args.n_train,
        n_test=args.n_test,
        input_dim=_DEFAULTS.input_dim if args.input_dim is None else args.input_dim,
        target=args.target,
        seeds=args.seeds,
        lr_fraction=args.lr_fraction,
        steps=args.steps,
        loss_ratio=args.loss_ratio,
        records=args.records,
        ntk_method=args.ntk_method,
        precision=args.precision,
    )
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
            inputs_sha256=file_sha256(args.inputs),
            input_dim=data.shape[1],
        )
    return config


def main(argv=None) -> int:
    """Parse ``argv``, run the measurement, print where the results are; return the exit status."""
    from harness.train._run import DEFAULT_TRAIN_OUT
    from harness.train._run import NonFiniteTrainingError
    from harness.train._run import run_training

    job = run_job(
        argv,
        prog="python -m harness.train",
        parser=build_parser(),
        config_from_args=config_from_args,
        run=run_training,
        default_out=DEFAULT_TRAIN_OUT,
        failures=(NonFiniteTrainingError,),
    )
    if job is None:
        return 1
    args, out, results = job.args, job.out, job.results
    if not args.quiet:
        for verdict in results["verdicts"]:
            print(verdict)
        print(f"wall time {results['wall_seconds']:.1f} s; results: {out}/report.md")
    return 0
