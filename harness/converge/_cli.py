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
from harness.converge._report import judged_formulas
from harness.runs import ArgumentParser
from harness.runs import add_architecture_options
from harness.runs import add_numerics_options
from harness.runs import load_inputs_option
from harness.runs import parse_widths
from harness.runs import run_job

__all__ = ["build_parser", "config_from_args", "headlines", "main"]

_DEFAULTS = ConvergeConfig()


def build_parser() -> ArgumentParser:
    """The argument parser (errors raise :class:`UsageError`)."""
    parser = ArgumentParser(
        prog="python -m harness.converge",
        description="Measure how empirical NNGP/NTK kernels of finite residual MLPs converge "
        "to the analytic infinite-width kernels, with statistics, plots and a report.",
    )
    add_architecture_options(parser, _DEFAULTS, widths="256..65536")
    add = parser.add_argument
    add(
        "--n-inputs",
        type=int,
        default=None,
        help=f"number of Gaussian inputs (default: {_DEFAULTS.n_inputs})",
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
        help="your own inputs: a finite (N, d) .npy array, rows are inputs",
    )
    add(
        "--seeds",
        type=int,
        default=_DEFAULTS.seeds,
        help="networks per width; network s of width n uses fold_in(PRNGKey(s), n) "
        "(default: %(default)s)",
    )
    add(
        "--sampler",
        choices=SAMPLERS,
        default=_DEFAULTS.sampler,
        help="flax: instantiated networks; conditional: their kernels sampled exactly by "
        "Gaussian conditioning (cost ~ width, so widths up to 2^20); auto: flax up to "
        "--flax-max-width, conditional beyond it and at it as a check (default: %(default)s)",
    )
    add(
        "--flax-max-width",
        type=int,
        default=_DEFAULTS.flax_max_width,
        help="with --sampler auto, the widest instantiated network (default: %(default)s)",
    )
    add(
        "--tolerance",
        type=float,
        default=_DEFAULTS.tolerance,
        help="a formula is 'consistent' only if the run could detect a relative error this "
        "large (80%% power); else 'inconclusive' (default: %(default)s)",
    )
    add(
        "--target-error",
        type=float,
        default=None,
        metavar="E",
        help="add seeds until the detectable relative error of our kernels is at most E "
        "(also the tolerance, unless --tolerance is given)",
    )
    add(
        "--max-seeds",
        type=int,
        default=_DEFAULTS.max_seeds,
        help="the most seeds per width that --target-error may use (default: %(default)s)",
    )
    add_numerics_options(parser, _DEFAULTS)
    add(
        "--out",
        default=None,
        help="output folder; rerunning into it resumes (default: reports/converge-latest)",
    )
    add(
        "--candidate",
        action="append",
        default=None,
        metavar="SPEC",
        help="candidate formula to judge: 'seed' (built in), 'pkg.module:function', or 'none'; "
        "repeatable (default: seed)",
    )
    add("--quiet", action="store_true", help="no progress bar")
    add("--force", action="store_true", help="replace a run of another config in --out")
    return parser


def _tolerance(args) -> float:
    """``--tolerance``, or ``--target-error`` when only that is given."""
    explicit = args.tolerance != _DEFAULTS.tolerance
    if args.target_error is not None and not explicit:
        return args.target_error
    return args.tolerance


def config_from_args(args) -> ConvergeConfig:
    """The :class:`ConvergeConfig` of parsed arguments (raises :class:`UsageError`)."""
    config = ConvergeConfig(
        widths=parse_widths(args.widths),
        num_res_blocks=args.blocks,
        W_std=args.w_std,
        b_std=args.b_std,
        n_inputs=_DEFAULTS.n_inputs if args.n_inputs is None else args.n_inputs,
        input_dim=_DEFAULTS.input_dim if args.input_dim is None else args.input_dim,
        seeds=args.seeds,
        ntk_method=args.ntk_method,
        precision=args.precision,
        candidates=tuple(args.candidate) if args.candidate else _DEFAULTS.candidates,
        sampler=args.sampler,
        flax_max_width=args.flax_max_width,
        tolerance=_tolerance(args),
        target_error=args.target_error,
        max_seeds=args.max_seeds,
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


def headlines(results: dict) -> list[str]:
    """One line per judged formula: ours, neural-tangents' (if installed), each candidate."""
    lines = [entry["verdict"] for _, _, entry in judged_formulas(results)]
    target = results.get("target_error")
    if target:
        state = "met" if target["met"] else "not met (--max-seeds reached)"
        lines.append(
            f"target error {target['target']:.3g}: {state}; detectable error "
            f"{target['achieved']:.3g} with seeds per width {results['seeds_per_width']}"
        )
    return lines


def main(argv=None) -> int:
    """Parse ``argv``, run the measurement, print where the results are; return the exit status."""
    from harness.converge._measure import NonFiniteKernelError
    from harness.converge._references import NonFiniteReferenceError
    from harness.converge._run import DEFAULT_OUT
    from harness.converge._run import run_convergence

    job = run_job(
        argv,
        prog="python -m harness.converge",
        parser=build_parser(),
        config_from_args=config_from_args,
        run=run_convergence,
        default_out=DEFAULT_OUT,
        failures=(NonFiniteKernelError, NonFiniteReferenceError, MemoryError),
    )
    if job is None:
        return 1
    args, out, results = job.args, job.out, job.results
    if not args.quiet:
        for line in headlines(results):
            print(line)
        print(f"results: {out}/report.md")
    return 0
