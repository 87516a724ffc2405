"""``python -m harness.converge``: do finite-width networks converge to the analytic kernels?

Parses the command line into a :class:`~harness.converge._config.ConvergeConfig`
and calls :func:`harness.run_convergence`, which tests and notebooks call
directly. See ``--help`` for the options and
:mod:`harness.converge._config` for why the defaults are what they are.

``--model pkg.module:factory`` (with ``--readout NAME``) judges candidates on a
custom Flax model instead (:mod:`harness.converge._model`). ``--correction`` measures
the ``O(1/n)`` correction of the NNGP instead (:mod:`harness.correction`, whose options
then apply).

Exit status: 0 on success; 2 with a one-line ``error: ...`` for bad input
(widths, inputs file, candidate spec, a misbehaving ``--model``, config mismatch in
``--out``); 1 with
a one-line message when a kernel holds NaN/Inf or memory runs out (finished
networks are kept in ``--out`` and a rerun resumes).
"""

from __future__ import annotations

import math
import sys

from harness.converge._config import DEFAULT_BUDGET
from harness.converge._config import SAMPLERS
from harness.converge._config import ConvergeConfig
from harness.converge._measure import NonFiniteKernelError
from harness.converge._references import NonFiniteReferenceError
from harness.converge._report import headlines
from harness.converge._run import DEFAULT_OUT
from harness.converge._run import run_convergence
from harness.runs import ArgumentParser
from harness.runs import UsageError
from harness.runs import add_architecture_options
from harness.runs import add_inputs_options
from harness.runs import add_numerics_options
from harness.runs import add_option
from harness.runs import add_run_options
from harness.runs import config_of
from harness.runs import parse_widths
from harness.runs import run_job
from harness.runs import with_inputs_option

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
    seeds_help = (
        "networks per width; network s of width n uses fold_in(PRNGKey(s), n) (default: "
        f"{_DEFAULTS.seeds}, then rounds of networks until every formula is decided or "
        "--budget is spent; a given --seeds is used as it is)"
    )
    parser.add_argument("--seeds", type=int, default=None, help=seeds_help)
    budget_help = (
        "seconds after which no new round of networks starts "
        f"(default: {DEFAULT_BUDGET:g}; 0 or 'none': no limit)"
    )
    parser.add_argument("--budget", type=_budget, default=None, metavar="SECONDS", help=budget_help)
    sampler_help = (
        "flax: instantiated networks; conditional: their kernels sampled exactly by "
        "Gaussian conditioning (cost ~ width, so widths up to 2^20); auto: flax up to "
        "--flax-max-width, conditional beyond it and at it as a check"
    )
    add_option(parser, "--sampler", _DEFAULTS.sampler, sampler_help, choices=SAMPLERS)
    widest = "with --sampler auto, the widest instantiated network"
    add_option(parser, "--flax-max-width", _DEFAULTS.flax_max_width, widest, type=int)
    tolerance_help = (
        "a formula is 'consistent' only if its error is below this with 95%% confidence "
        f"(default: {_DEFAULTS.tolerance:g}, or --target-error when only that is given)"
    )
    parser.add_argument("--tolerance", type=float, default=None, help=tolerance_help)
    target_help = (
        "add seeds until the detectable relative error of our kernels is at most E "
        "(also the tolerance, unless --tolerance is given)"
    )
    parser.add_argument("--target-error", type=float, metavar="E", help=target_help)
    cap = "the most seeds per width that added rounds may use"
    add_option(parser, "--max-seeds", _DEFAULTS.max_seeds, cap, type=int)
    add_numerics_options(parser, _DEFAULTS)
    controls_help = (
        "judge each network's kernels as they are, without subtracting their exact mean-zero "
        "control variates (same mean, about 2-5x the variance; for checking the control variates)"
    )
    parser.add_argument(
        "--no-control-variates",
        dest="control_variates",
        action="store_false",
        default=None,
        help=controls_help,
    )
    candidate_help = (
        "candidate formula to judge: 'notebook' (built in; alias 'seed'), "
        "'pkg.module:function', or 'none'; repeatable (default: the notebook's)"
    )
    parser.add_argument("--candidate", action="append", metavar="SPEC", help=candidate_help)
    model_help = (
        "judge candidates on your own Flax model: factory(width) returns a flax.linen.Module "
        "mapping (N, d) inputs to (N,) or (N, K) outputs, parameters from module.init(key, xs); "
        "candidates are then called as f(xs), at least one is needed, and the residual MLP's "
        "options (--blocks, --w-std, --b-std, --activation, --branch-scale) do not apply"
    )
    parser.add_argument("--model", metavar="PKG.MODULE:FACTORY", default=None, help=model_help)
    readout_help = (
        "with --model, the readout submodule (e.g. 'readout', or 'block/readout'): its "
        "parameters must be i.i.d. N(0, 1) and enter the outputs linearly, and the NNGP is "
        "then marginalised over them (low noise); without it, the outputs' second moment"
    )
    parser.add_argument("--readout", metavar="NAME", default=None, help=readout_help)
    correction_help = (
        "measure the O(1/n) finite-width correction of the NNGP instead, and judge correction "
        "formulas: the options are then those of python -m harness.correction --help"
    )
    parser.add_argument("--correction", action="store_true", help=correction_help)
    add_run_options(parser, default_out=DEFAULT_OUT)
    return parser


def _tolerance(args) -> float:
    """``--tolerance`` as typed, else ``--target-error`` when given, else the default."""
    if args.tolerance is not None:
        return args.tolerance
    if args.target_error is not None:
        return args.target_error
    return _DEFAULTS.tolerance


def _budget(text: str) -> float | None:
    """``--budget``: seconds, or 0/none for no limit (bad values: one-line error)."""
    if text.strip().lower() in ("none", "0", "0.0", "inf"):
        return math.inf
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--budget: {text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"--budget: {text!r} is not a positive number of seconds")
    return value


def config_from_args(args) -> ConvergeConfig:
    """The :class:`ConvergeConfig` of parsed arguments (raises :class:`UsageError`)."""
    if args.model is not None and not args.candidate:
        raise UsageError(
            "--model has no analytic reference, so only candidates are judged: give at least "
            "one --candidate pkg.module:function (called as f(xs))"
        )
    config = config_of(
        ConvergeConfig,
        args,
        widths=parse_widths(args.widths),
        candidates=tuple(args.candidate) if args.candidate else _DEFAULTS.candidates,
        tolerance=_tolerance(args),
        seeds=_DEFAULTS.seeds if args.seeds is None else args.seeds,
        adaptive=args.seeds is None and args.target_error is None,
        budget=_DEFAULTS.budget if args.budget is None else _finite_or_none(args.budget),
    )
    return with_inputs_option(config, args)


def _finite_or_none(value: float) -> float | None:
    return None if math.isinf(value) else value


def _summary(results: dict, out: str) -> list[str]:
    """The headlines, then where the report is."""
    return [*headlines(results), f"results: {out}/report.md"]


def main(argv=None) -> int:
    """Parse ``argv``, run the measurement, print the headlines; return the exit status.

    ``--correction`` anywhere in ``argv`` runs :mod:`harness.correction` instead (the
    finite-width correction), with the other arguments.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--correction" in argv:
        from harness.correction._cli import main as correction_main

        rest = [a for a in argv if a != "--correction"]
        return correction_main(rest, prog="python -m harness.converge --correction")
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
