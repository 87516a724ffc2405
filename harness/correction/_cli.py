"""``python -m harness.correction`` (also ``python -m harness.converge --correction``).

Measures the ``O(1/n)`` correction ``A`` of the residual MLP's mean NNGP at small widths
with many networks, judges our formula for it and any ``--candidate`` correction
formulas, and writes ``results.json``, ``report.md`` and ``correction.png`` into
``--out`` (resumable). See :mod:`harness.correction._config` for the defaults and
:mod:`harness.correction._run` for the method.

Exit status: 0 on success; 2 with one ``error: ...`` line for bad input; 1 when a
network's kernel is not finite (finished chunks are kept and a rerun resumes).
"""

from __future__ import annotations

from harness.correction._config import CorrectionConfig
from harness.correction._report import headlines
from harness.correction._run import DEFAULT_OUT
from harness.correction._run import run_correction
from harness.runs import ArgumentParser
from harness.runs import add_architecture_options
from harness.runs import add_inputs_options
from harness.runs import add_option
from harness.runs import add_run_options
from harness.runs import config_of
from harness.runs import parse_widths
from harness.runs import run_job
from harness.runs import with_inputs_option

__all__ = ["build_parser", "config_from_args", "main"]

_DEFAULTS = CorrectionConfig()
PROG = "python -m harness.correction"


def build_parser(prog: str = PROG) -> ArgumentParser:
    """The argument parser (errors raise :class:`~harness.runs.UsageError`)."""
    parser = ArgumentParser(
        prog=prog,
        description="Measure the O(1/n) finite-width correction A of the NNGP "
        "(E K̂_n = K_∞ + A/n + …) and judge correction formulas against it.",
    )
    add_architecture_options(parser, _DEFAULTS, widths="8,16,32,64")
    n_help = f"number of Gaussian inputs (default: {_DEFAULTS.n_inputs})"
    parser.add_argument("--n-inputs", type=int, default=None, help=n_help)
    add_inputs_options(parser, _DEFAULTS, rows="")
    seeds = "networks per width; network s of width n uses fold_in(PRNGKey(s), n)"
    add_option(parser, "--seeds", _DEFAULTS.seeds, seeds, type=int)
    first = "the first network's s (independent repetitions start apart)"
    add_option(parser, "--first-seed", _DEFAULTS.first_seed, first, type=int)
    candidate_help = (
        "a correction formula to judge, 'pkg.module:function', called f(xs, arch); it returns "
        "A for the NNGP as an (N, N) array (or a pair/dict with the NTK's too); repeatable"
    )
    parser.add_argument(
        "--candidate",
        "--correction-candidate",
        dest="candidate",
        action="append",
        metavar="SPEC",
        help=candidate_help,
    )
    tolerance = "a correction is 'consistent' only if its relative error is below this (95%%)"
    add_option(parser, "--tolerance", _DEFAULTS.tolerance, tolerance, type=float)
    add_option(parser, "--chunk", _DEFAULTS.chunk, "networks per stored unit", type=int)
    add_run_options(parser, default_out=DEFAULT_OUT)
    return parser


def config_from_args(args) -> CorrectionConfig:
    """The :class:`CorrectionConfig` of parsed arguments (raises ``UsageError``)."""
    config = config_of(
        CorrectionConfig,
        args,
        widths=parse_widths(args.widths),
        candidates=tuple(args.candidate or ()),
    )
    return with_inputs_option(config, args)


def _summary(results: dict, out: str) -> list[str]:
    return [*headlines(results), f"results: {out}/report.md"]


def main(argv=None, *, prog: str = PROG) -> int:
    """Parse ``argv``, measure, print the headlines; return the exit status."""
    return run_job(
        argv,
        prog=prog,
        parser=build_parser(prog),
        config_from_args=config_from_args,
        run=run_correction,
        default_out=DEFAULT_OUT,
        failures=(FloatingPointError, MemoryError),
        summary=_summary,
    )
