"""``python -m harness.calibrate``: the formula test's size and power on real network kernels.

Examples::

    python -m harness.calibrate              # the default grid, into reports/calibration/
    python -m harness.calibrate --quick      # a smoke run, into reports/calibration-quick/
    python -m harness.calibrate --configs c26,f48 --out /tmp/deep
    python -m harness.calibrate --activation gelu    # into reports/calibration-gelu/
    python -m harness.calibrate --quick --activation erf --branch-scale '1/sqrt(L)'
    python -m harness.calibrate --corrections  # the correction test, into
                                               # reports/calibration-corrections/
    python -m harness.calibrate --model models.examples.two_layer:factory
        # the test on a custom model, into reports/calibration-custom-model/
    python -m harness.calibrate --model pkg.module:factory --formula pkg.module:function \
        --readout readout --quick --out /tmp/mine

``--activation NAME`` and ``--branch-scale α`` calibrate the rule for another
network: every config of the grid (after ``--configs``) keeps its design (depth,
scales, inputs, widths, seeds) and takes that activation and/or branch scale
(``1/sqrt(L)``: each config's own ``1/√L``). A config whose analytic kernels that
network refuses (it leaves float64, or a smooth activation's two evaluations
disagree) is left out and listed in the report. Without ``--out`` the results go
to ``reports/calibration[-quick]-<activation>[-alpha-<α>]/``, never into the
committed report.

``--model pkg.module:factory --formula pkg.module:function [--readout NAME]``
calibrates the test on a custom model (as ``python -m harness.converge --model``
takes it), the formula being its exact kernels: its own design of widths, seeds and
inputs (:mod:`harness.calibrate._custom_model`), so ``--corrections``,
``--configs``, ``--activation`` and ``--branch-scale`` are refused beside it. For the
worked example's factory, ``models.examples.two_layer:factory``, ``--formula`` and
``--readout`` default to its ``formula`` and ``readout``; another model needs
``--formula``, and without ``--readout`` its NNGP is the outputs' second moment.
Without ``--out`` the results go to ``reports/calibration-custom-model[-quick]/``.

Writes ``report.md``, ``results.json`` and ``power.{png,svg}`` (see
:mod:`harness.calibrate._report`); the design is in
:mod:`harness.calibrate._design`, the method in :mod:`harness.calibrate._study`.
"""

from __future__ import annotations

import inspect
import shlex
import subprocess
import sys
from pathlib import Path

from analytic.activations import ACTIVATION_NAMES
from analytic.activations import get_activation
from harness.calibrate._custom_model import EXAMPLE_FORMULA
from harness.calibrate._custom_model import EXAMPLE_MODEL
from harness.calibrate._custom_model import EXAMPLE_READOUT
from harness.calibrate._custom_model import run_model_calibration
from harness.calibrate._design import INVERSE_SQRT_DEPTH
from harness.calibrate._design import default_grid
from harness.calibrate._design import parse_branch_scale
from harness.calibrate._design import quick_grid
from harness.calibrate._design import with_shape
from harness.calibrate._report import write_report
from harness.calibrate._study import refusals
from harness.calibrate._study import run_calibration
from harness.kernels import conditional_kernels
from harness.runs import ArgumentParser
from harness.runs import ConfigMismatchError
from harness.runs import FolderKindError
from harness.runs import UsageError
from harness.runs import check_folder_kind
from harness.runs import check_out_folder
from harness.runs import device_banner
from harness.runs import environment_stamp
from harness.runs import file_sha256

__all__ = ["main"]

DEFAULT_OUT = Path("reports/calibration")
QUICK_OUT = Path("reports/calibration-quick")
CUSTOM_OUT = Path("reports/calibration-custom-model")


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m harness.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the small smoke grid")
    parser.add_argument(
        "--configs", default=None, help="comma-separated config names of the grid to run (e.g. c24)"
    )
    parser.add_argument(
        "--activation",
        default=None,
        metavar="NAME",
        help=f"give every config this activation ({', '.join(ACTIVATION_NAMES)}; gelu is the "
        "exact x·Φ(x)); default: each row's own, ReLU for most",
    )
    parser.add_argument(
        "--branch-scale",
        default=None,
        metavar="α",
        help=f"give every config this branch scale α in h + α·Dense(φ(Dense(h))): a number "
        f">= 0 or {INVERSE_SQRT_DEPTH} (each config's 1/√L); default: each row's own, 1 for most",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default: {DEFAULT_OUT}, {QUICK_OUT} with --quick; with "
        "--activation or --branch-scale their names are added, e.g. "
        f"{DEFAULT_OUT}-gelu-alpha-0.5)",
    )
    parser.add_argument("--quiet", action="store_true", help="no line per config")
    parser.add_argument(
        "--corrections",
        action="store_true",
        help="calibrate the test of 1/n correction formulas instead (harness.correction), "
        "into reports/calibration-corrections[-quick]/",
    )
    parser.add_argument(
        "--model",
        default=None,
        metavar="pkg.module:factory",
        help="calibrate the test on this custom model instead (as harness.converge --model), "
        f"into {CUSTOM_OUT}[-quick]/; e.g. {EXAMPLE_MODEL}",
    )
    parser.add_argument(
        "--formula",
        default=None,
        metavar="pkg.module:function",
        help="with --model: the function f(xs) returning its exact (nngp, ntk) "
        f"(default for {EXAMPLE_MODEL}: {EXAMPLE_FORMULA})",
    )
    parser.add_argument(
        "--readout",
        default=None,
        metavar="NAME",
        help="with --model: its readout submodule, marginalised out of the NNGP (default for "
        f"{EXAMPLE_MODEL}: {EXAMPLE_READOUT}; else none, the outputs' second moment)",
    )
    return parser


def _source_stamp() -> dict:
    """The git commit, the tracked files modified in the working tree, and the sampler's hash.

    The conditional sampler's source is hashed because the study's numbers
    depend on it, and a working tree may hold uncommitted changes to it.
    """
    root = Path(__file__).resolve().parents[2]

    def git(*args) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout

    modified = git("status", "--porcelain", "--untracked-files=no")
    commit = git("rev-parse", "HEAD")
    sampler = Path(inspect.getfile(conditional_kernels))
    return {
        "git_commit": None if commit is None else commit.strip(),
        "git_modified": None if modified is None else [line[3:] for line in modified.splitlines()],
        "conditional_sampler_sha256": file_sha256(sampler),
    }


def _shape_options(args) -> tuple[str | None, float | str | None]:
    """``--activation`` (canonical spelling) and ``--branch-scale`` (a number or the rule)."""
    activation = branch_scale = None
    if args.activation is not None:
        try:
            activation = get_activation(args.activation).name
        except ValueError as error:
            raise UsageError(f"--activation: {error}") from None
    if args.branch_scale is not None:
        try:
            branch_scale = parse_branch_scale(args.branch_scale)
        except ValueError as error:
            raise UsageError(f"--branch-scale: {error}") from None
    return activation, branch_scale


def _default_out(quick: bool, activation: str | None, branch_scale) -> Path:
    """``reports/calibration[-quick]``, then ``-<activation>`` and ``-alpha-<α>`` if given."""
    name = (QUICK_OUT if quick else DEFAULT_OUT).name
    if activation is not None:
        name += "-" + activation.replace(":", "-").replace(",", "_")
    if branch_scale == INVERSE_SQRT_DEPTH:
        name += "-alpha-inv-sqrt-depth"
    elif branch_scale is not None:
        name += f"-alpha-{branch_scale:g}"
    return DEFAULT_OUT.parent / name


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    if args.model is not None:
        return _custom_model(args)
    if args.formula is not None or args.readout is not None:
        raise UsageError("--formula and --readout describe a custom --model; give --model too")
    if args.corrections:
        return _corrections(args)
    activation, branch_scale = _shape_options(args)
    configs = quick_grid() if args.quick else default_grid()
    if args.configs is not None:  # typed, even empty: a list of names, not "the whole grid"
        wanted = [name.strip() for name in args.configs.split(",")]
        known = {c.name for c in configs}
        if not all(wanted):
            raise UsageError(
                f"--configs: {args.configs[:40]!r} is not a list of config names such as "
                f"c24,f33 (the grid has {', '.join(sorted(known))})"
            )
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise UsageError(
                f"--configs: unknown {', '.join(unknown)}; the grid has {', '.join(sorted(known))}"
            )
        configs = tuple(c for c in configs if c.name in wanted)
    reshaped = activation is not None or branch_scale is not None
    if reshaped:
        configs = with_shape(configs, activation=activation, branch_scale=branch_scale)
        refused = refusals(configs)
        if len(refused) == len(configs):
            name, reason = next(iter(refused.items()))
            raise UsageError(f"the analytic kernels refuse every chosen config ({name}: {reason})")
    out = args.out or _default_out(args.quick, activation, branch_scale)
    check_out_folder(out)
    check_folder_kind(out, "calibrate")  # before an hour of work, not after
    print(device_banner("calibrate", precision="highest", dtype="float64"), flush=True)
    log = None if args.quiet else (lambda line: print(line, flush=True))
    # The grid as written must be computable; a reshaped one leaves out what is not.
    result = run_calibration(configs, skip_refused=reshaped, log=log)
    command = shlex.join(["python", "-m", "harness.calibrate", *argv])
    environment = environment_stamp(
        precision="highest (conditional sampler); default (Flax networks)",
        dtype="float64 (conditional sampler); float32 (Flax networks)",
    )
    environment.update(_source_stamp())
    data = write_report(result, out, command=command, environment=environment)
    size, power = data["size"], data["power_by_ratio"][-1]
    print(
        f"size: {size['false_inconsistent']} false inconsistent in {size['tests']} tests "
        f"({size['configs']} configs); power at true/detectable >= 1: "
        f"{power['flagged']}/{power['tests']}; wrote {out}/report.md "
        f"in {result.total_seconds / 60:.1f} min"
        + (f" ({len(result.skipped)} configs left out)" if result.skipped else ""),
        flush=True,
    )
    return 0


def _corrections(args) -> int:
    """``--corrections``: the correction test's calibration (:mod:`~._corrections`)."""
    from harness.calibrate._corrections import run_correction_calibration

    if args.configs is not None or args.activation is not None or args.branch_scale is not None:
        raise UsageError("--corrections has its own design; drop --configs, --activation and "
                         "--branch-scale")  # fmt: skip
    out = args.out or ("reports/calibration-corrections" + ("-quick" if args.quick else ""))
    check_out_folder(out)
    print(device_banner("calibrate", precision="highest", dtype="float32"), flush=True)
    log = None if args.quiet else (lambda line: print(line, flush=True))
    summary = run_correction_calibration(out, quick=args.quick, log=log)
    size = summary["size"]
    print(
        f"corrections: {size['false_inconsistent']} false inconsistent in {size['tests']} tests; "
        f"wrote {out}/report.md in {summary['minutes']:.1f} min",
        flush=True,
    )
    return 0


def _custom_model(args) -> int:
    """``--model``: the test's calibration on a custom model (:mod:`~._custom_model`)."""
    others = {
        "--corrections": args.corrections,
        "--configs": args.configs is not None,
        "--activation": args.activation is not None,
        "--branch-scale": args.branch_scale is not None,
    }
    given = [option for option, present in others.items() if present]
    if given:
        raise UsageError(f"--model has its own design; drop {', '.join(given)}")
    example = args.model.strip() == EXAMPLE_MODEL
    formula = args.formula or (EXAMPLE_FORMULA if example else None)
    if formula is None:
        raise UsageError(
            "--model: give --formula pkg.module:function, the exact (nngp, ntk) of its networks"
        )
    readout = args.readout or (EXAMPLE_READOUT if example else None)
    out = Path(args.out or (f"{CUSTOM_OUT}-quick" if args.quick else CUSTOM_OUT))
    check_out_folder(out)
    try:
        check_folder_kind(out, "calibrate")
    except FolderKindError:
        raise
    except ConfigMismatchError:  # this study's own report.md and results.json (no run.json)
        pass
    print(device_banner("calibrate", precision="default", dtype="float32"), flush=True)
    log = None if args.quiet else (lambda line: print(line, flush=True))
    summary = run_model_calibration(
        out, model=args.model, formula=formula, readout=readout, quick=args.quick, log=log
    )
    size = summary["size"]
    above = [row for row in summary["power_by_ratio"] if row["ratio"][0] >= 1.0]
    print(
        f"custom model: {size['false_inconsistent']} false inconsistent in {size['tests']} "
        f"tests; power at true/detectable >= 1: {sum(r['flagged'] for r in above)}/"
        f"{sum(r['tests'] for r in above)}; wrote {out}/report.md in {summary['minutes']:.1f} min",
        flush=True,
    )
    return 0
