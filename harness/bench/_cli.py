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
import types
from pathlib import Path

from harness.bench._report import format_table
from harness.bench._report import save_results
from harness.bench._run import PRNGS
from harness.bench._run import BenchConfig
from harness.bench._run import run_bench
from harness.runs import MAX_BLOCKS
from harness.runs import PRECISIONS
from harness.runs import ArgumentParser
from harness.runs import RunError
from harness.runs import UsageError
from harness.runs import announce
from harness.runs import bounded_int
from harness.runs import check_folder_kind
from harness.runs import check_out_folder
from harness.runs import check_run_memory
from harness.runs import check_shape
from harness.runs import config_of
from harness.runs import jax_precision_of
from harness.runs import parse_widths
from models import NeuralTangentsUnavailableError
from models import stax_activation

__all__ = ["BenchConfig", "main", "parse_args", "run_bench"]

REPORT_DIR = Path("reports/bench")


#: Most timed repeats of one measurement.
MAX_REPEATS = 1000
#: Most networks of the Monte Carlo comparison (memory bounds it first, except at tiny widths).
MAX_SEEDS = 4096


def parse_args(argv=None) -> tuple[BenchConfig, Path | None]:
    """Parse the command line into a :class:`BenchConfig` and the JSON path (``None``: default)."""
    parser = ArgumentParser(
        prog="python -m harness.bench",
        description=__doc__.splitlines()[0],
        compilation_cache=False,  # cold times include compiling
    )
    parser.add_argument("--widths", default="1024", help="e.g. 512..8192 or 1024,2048")
    parser.add_argument("--n-inputs", type=bounded_int("--n-inputs", 1, 2**31), default=32)
    parser.add_argument("--seeds", type=bounded_int("--seeds", 1, MAX_SEEDS), default=8)
    blocks = bounded_int("--blocks", 0, MAX_BLOCKS)
    parser.add_argument("--blocks", type=blocks, default=3, dest="num_res_blocks")
    parser.add_argument("--repeats", type=bounded_int("--repeats", 1, MAX_REPEATS), default=5)
    parser.add_argument(
        "--analytic-n", type=bounded_int("--analytic-n", 0, 2**31), default=4096, help="0 skips it"
    )
    parser.add_argument("--no-jacobian", action="store_true", help="skip ours jacobian")
    parser.add_argument("--precision", choices=PRECISIONS, default="default")
    parser.add_argument(
        "--activation",
        default="relu",
        help="the networks' activation (as for converge; default relu)",
    )
    parser.add_argument(
        "--branch-scale", type=float, default=1.0, help="alpha in h + alpha*Dense(phi(Dense(h)))"
    )
    parser.add_argument(
        "--prng",
        choices=PRNGS,
        default="threefry",
        help="random bits of the Monte Carlo networks, ours and neural-tangents' alike: "
        "threefry (JAX's default, the harness's networks) or rbg (XLA's generator)",
    )
    parser.add_argument("--note", default="", help="free text stored with the results")
    parser.add_argument("--json", type=Path, default=None, help="where to write the JSON")
    args = parser.parse_args(argv)
    config = config_of(
        BenchConfig,
        args,
        widths=parse_widths(args.widths),
        jacobian=not args.no_jacobian,
        precision=jax_precision_of(args.precision),
        activation=check_shape(args.activation, args.branch_scale),
    )
    if stax_activation(config.activation) is None:
        raise UsageError(
            f"--activation {config.activation}: neural-tangents has no layer for it, and the "
            "benchmark compares with neural-tangents"
        )
    return config, args.json


def _default_json_path(result: dict, config: BenchConfig) -> Path:
    device = re.sub(r"[^a-z0-9]+", "-", result["device"].lower()).strip("-")
    widths = "-".join(str(w) for w in config.widths)
    return REPORT_DIR / f"{device}_w{widths}_n{config.n_inputs}_s{config.seeds}.json"


def check_before_measuring(config: BenchConfig, json_path: Path | None) -> None:
    """Refuse, before any timing, outputs that cannot be written and runs that cannot fit.

    Raises:
      UsageError: ``--json`` is a folder or ends in ``.md`` (the Markdown report's path,
        so one output would overwrite the other), or its folder cannot be created or written
        (:func:`harness.runs.check_out_folder`); or the networks or the analytic
        kernels need more memory than this process may use.
    """
    if json_path is not None:
        if json_path.is_dir():
            raise UsageError(f"--json: {json_path} is a folder, not a file")
        if json_path.suffix.lower() == ".md":  # the Markdown report would overwrite it
            raise UsageError(
                f"--json: {json_path} is where the Markdown report goes (the JSON's path "
                "with .md); name the JSON file .json"
            )
        check_out_folder(json_path.parent, option="--json")
        check_folder_kind(json_path.parent, "bench", option="--json")
    else:
        check_out_folder(REPORT_DIR, option="--json (default reports/bench)")
        check_folder_kind(REPORT_DIR, "bench", option="--json (default reports/bench)")
    networks = types.SimpleNamespace(
        widths=config.widths, seeds=config.seeds, num_res_blocks=config.num_res_blocks
    )
    check_run_memory(networks, n_inputs=config.n_inputs, input_dim=config.input_dim)
    if config.analytic_n:
        analytic = types.SimpleNamespace(widths=(), seeds=0, num_res_blocks=config.num_res_blocks)
        check_run_memory(analytic, n_inputs=config.analytic_n, input_dim=config.input_dim)


def main(argv=None) -> int:
    """Parse, check the outputs, measure, print the table and write the JSON and Markdown."""

    config, json_path = parse_args(argv)
    check_before_measuring(config, json_path)
    announce("bench", precision=config.precision)
    try:
        result = run_bench(config, log=lambda line: print(line, file=sys.stderr, flush=True))
    except NeuralTangentsUnavailableError as error:
        raise RunError(f"the benchmark compares with neural-tangents: {error}") from None
    print(format_table(result))
    json_path = json_path or _default_json_path(result, config)
    args = sys.argv[1:] if argv is None else list(argv)
    command = "python -m harness.bench " + shlex.join(args)
    md_path = save_results(result, json_path, command=command.strip())
    print(f"\nwrote {json_path} and {md_path}")
    return 0
