"""``python -m harness.bench``: our empirical and analytic kernels against neural-tangents.

Example::

    python -m harness.bench --widths 1024 --n-inputs 32 --seeds 8

Prints a table and writes the JSON (``device``, ``rows`` with every timing,
``ntk_speedup_vs_nt`` and ``mc_speedup_vs_nt``) and a Markdown report under
``reports/bench/`` (or to ``--json PATH``). What is measured is described in
:mod:`harness.bench._run`.
"""

from __future__ import annotations

import re
import shlex
import sys
from argparse import ArgumentTypeError
from pathlib import Path

from harness.bench._report import format_table
from harness.bench._report import save_results
from harness.bench._run import BenchConfig
from harness.bench._run import run_bench
from harness.runs import PRECISIONS
from harness.runs import ArgumentParser
from harness.runs import UsageError
from harness.runs import announce
from harness.runs import jax_precision_of
from harness.runs import parse_widths

__all__ = ["BenchConfig", "main", "parse_args", "run_bench"]

REPORT_DIR = Path("reports/bench")


def _whole_number(*, low: int, complaint: str):
    """An argparse ``type``: a whole number ``>= low``, else ``"<value> <complaint>"``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise ArgumentTypeError(f"{value} {complaint}")
        return value

    return parse


def _positive():
    return _whole_number(low=1, complaint="is not >= 1")


def _non_negative():
    return _whole_number(low=0, complaint="is negative")


def parse_args(argv=None) -> tuple[BenchConfig, Path | None]:
    """Parse the command line into a :class:`BenchConfig` and the JSON path (``None``: default)."""
    parser = ArgumentParser(prog="python -m harness.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="1024", help="e.g. 512..8192 or 1024,2048")
    parser.add_argument("--n-inputs", type=_positive(), default=32)
    parser.add_argument("--seeds", type=_positive(), default=8)
    parser.add_argument("--blocks", type=_non_negative(), default=3)
    parser.add_argument("--repeats", type=_positive(), default=5)
    parser.add_argument("--analytic-n", type=_non_negative(), default=4096, help="0 skips it")
    parser.add_argument("--no-jacobian", action="store_true", help="skip ours jacobian")
    parser.add_argument("--precision", choices=PRECISIONS, default="default")
    parser.add_argument("--note", default="", help="free text stored with the results")
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON")
    args = parser.parse_args(argv)
    config = BenchConfig(
        widths=parse_widths(args.widths),
        n_inputs=args.n_inputs,
        seeds=args.seeds,
        blocks=args.blocks,
        repeats=args.repeats,
        analytic_n=args.analytic_n,
        jacobian=not args.no_jacobian,
        precision=jax_precision_of(args.precision),
        note=args.note,
    )
    return config, args.json


def _default_json_path(result: dict, config: BenchConfig) -> Path:
    device = re.sub(r"[^a-z0-9]+", "-", result["device"].lower()).strip("-")
    widths = "-".join(str(w) for w in config.widths)
    return REPORT_DIR / f"{device}_w{widths}_n{config.n_inputs}_s{config.seeds}.json"


def main(argv=None) -> int:
    config, json_path = parse_args(argv)
    announce("bench", precision=config.precision)
    if json_path is not None and json_path.exists() and json_path.is_dir():
        raise UsageError(f"--json: {json_path} is a directory")
    result = run_bench(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_table(result))
    json_path = json_path or _default_json_path(result, config)
    args = sys.argv[1:] if argv is None else list(argv)
    command = "python -m harness.bench " + shlex.join(args)
    md_path = save_results(result, json_path, command=command.strip())
    print(f"\nwrote {json_path} and {md_path}")
    return 0
