"""``python -m harness.converge``: do finite-width networks converge to the analytic kernels?

Parses the command line into a :class:`~harness.converge._config.ConvergeConfig`
and calls :func:`harness.run_convergence`, which tests and notebooks call
directly. See ``--help`` for the options and
:mod:`harness.converge._config` for why the defaults are what they are.

Exit status: 0 on success; 2 with a one-line ``error: ...`` for bad input
(widths, inputs file, candidate spec, config mismatch in ``--out``); 1 with
a one-line message when a kernel holds NaN/Inf or memory runs out (finished
networks are kept in ``--out`` and a rerun resumes).
"""

from __future__ import annotations

import dataclasses

from harness.converge._config import SAMPLERS
from harness.converge._config import ConvergeConfig
from harness.converge._measure import NonFiniteKernelError
from harness.converge._references import NonFiniteReferenceError
from harness.converge._report import headlines
from harness.converge._run import DEFAULT_OUT
from harness.converge._run import run_convergence
from harness.runs import ArgumentParser
from harness.runs import add_architecture_options
from harness.runs import add_inputs_options
from harness.runs import add_numerics_options
from harness.runs import add_option
from harness.runs import add_run_options
from harness.runs import add_seeds_option
from harness.runs import config_of
from harness.runs import load_inputs_option
from harness.runs import parse_widths
from harness.runs import run_job

__all__ = ["build_parser", "config_from_args", "main"]

_DEFAULTS = ConvergeConfig()


def build_parser() -> ArgumentParser:
    """The argument parser (errors raise :class:`UsageError`)."""
    parser = ArgumentParser(
        prog="python -m harness.converge",
        description="Measure how empirical NNGP/NTK kernels of finite residual MLPs converge "
        "to the analytic infinite-width kernels, with statistics, plots and a report.",
    )
    add_architecture_options(parser, _DEFAULTS, widths="256..65536")
    n_help = f"number of Gaussian inputs (default: {_DEFAULTS.n_inputs})"
    parser.add_argument("--n-inputs", type=int, default=None, help=n_help)
    add_inputs_options(parser, _DEFAULTS, rows="")
    add_seeds_option(parser, _DEFAULTS)
    sampler_help = (
        "flax: instantiated networks; conditional: their kernels sampled exactly by "
        "Gaussian conditioning (cost ~ width, so widths up to 2^20); auto: flax up to "
        "--flax-max-width, conditional beyond it and at it as a check"
    )
    add_option(parser, "--sampler", _DEFAULTS.sampler, sampler_help, choices=SAMPLERS)
    widest = "with --sampler auto, the widest instantiated network"
    add_option(parser, "--flax-max-width", _DEFAULTS.flax_max_width, widest, type=int)
    tolerance_help = (
        "a formula is 'consistent' only if the run could detect a relative error this "
        "large (80%% power); else 'inconclusive'"
    )
    add_option(parser, "--tolerance", _DEFAULTS.tolerance, tolerance_help, type=float)
    target_help = (
        "add seeds until the detectable relative error of our kernels is at most E "
        "(also the tolerance, unless --tolerance is given)"
    )
    parser.add_argument("--target-error", type=float, metavar="E", help=target_help)
    cap = "the most seeds per width that --target-error may use"
    add_option(parser, "--max-seeds", _DEFAULTS.max_seeds, cap, type=int)
    add_numerics_options(parser, _DEFAULTS)
    candidate_help = (
        "candidate formula to judge: 'seed' (built in), 'pkg.module:function', or 'none'; "
        "repeatable (default: seed)"
    )
    parser.add_argument("--candidate", action="append", metavar="SPEC", help=candidate_help)
    add_run_options(parser, default_out=DEFAULT_OUT)
    return parser


def _tolerance(args) -> float:
    """``--tolerance``, or ``--target-error`` when only that is given."""
    explicit = args.tolerance != _DEFAULTS.tolerance
    if args.target_error is not None and not explicit:
        return args.target_error
    return args.tolerance


def config_from_args(args) -> ConvergeConfig:
    """The :class:`ConvergeConfig` of parsed arguments (raises :class:`UsageError`)."""
    config = config_of(
        ConvergeConfig,
        args,
        widths=parse_widths(args.widths),
        candidates=tuple(args.candidate) if args.candidate else _DEFAULTS.candidates,
        tolerance=_tolerance(args),
    )
    if args.inputs is not None:
        data = load_inputs_option(
            args.inputs,
            conflicting="--n-inputs/--input-dim",
            conflict_given=args.n_inputs is not None or args.input_dim is not None,
        )
        config = dataclasses.replace(
            config.with_inputs_file(args.inputs), n_inputs=data.shape[0], input_dim=data.shape[1]
        )
    return config


def _summary(results: dict, out: str) -> list[str]:
    """The headlines, then where the report is."""
    return [*headlines(results), f"results: {out}/report.md"]


def main(argv=None) -> int:
    """Parse ``argv``, run the measurement, print the headlines; return the exit status."""
    return run_job(
        argv,
        prog="python -m harness.converge",
        parser=build_parser(),
        config_from_args=config_from_args,
        run=run_convergence,
        default_out=DEFAULT_OUT,
        failures=(NonFiniteKernelError, NonFiniteReferenceError, MemoryError),
        summary=_summary,
    )
