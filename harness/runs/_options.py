"""Options and the ``main()`` shape shared by ``python -m harness.converge`` and ``harness.train``.

Both entry points measure a ladder of residual MLPs of hidden widths ``n`` in the NTK
parameterization ``z = W_std/√fan_in · W x + b_std · b`` (weights and biases N(0,1);
Jacot et al. 2018, Lee et al. 2019), so they take the same architecture and numerics
options and check them the same way. What is shared lives here, once:

* argparse additions: :func:`add_architecture_options` (``--widths``, ``--blocks``,
  ``--w-std``, ``--b-std``) and :func:`add_numerics_options` (``--ntk-method``,
  ``--precision``, choices :data:`NTK_METHODS` and :data:`PRECISIONS`), with the same
  help texts in both;
* config validation, in small pieces that each config calls in its own order:
  :func:`check_widths`, :func:`check_minimums`, :func:`check_scales`, :func:`check_choice`;
* ``--inputs``: :func:`load_inputs_option` refuses options that also set the inputs;
* ``main()``: :func:`run_job` parses, builds the config, runs it into ``--out`` and turns
  a non-finite (or out-of-memory) failure into a one-line ``error: ...`` (exit status 1).

Every check raises :class:`~harness.runs._cli.UsageError`, one line, exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from harness.kernels import NTK_METHODS
from harness.runs._cli import MAX_WIDTH
from harness.runs._cli import ArgumentParser
from harness.runs._cli import UsageError
from harness.runs._environment import device_banner
from harness.runs._environment import gpu_fallback_warning

__all__ = [
    "MAX_BLOCKS",
    "PRECISIONS",
    "Job",
    "add_architecture_options",
    "add_numerics_options",
    "announce",
    "bounded_int",
    "check_choice",
    "check_minimums",
    "check_scales",
    "check_widths",
    "jax_precision_of",
    "load_inputs_option",
    "run_job",
]

#: Empirical NTK estimators of :func:`harness.kernels._ntk.empirical_ntk` (``--ntk-method``).
#: Matmul precisions: ``default`` is JAX's default (TF32 on H100/H200 in float32).
PRECISIONS = ("default", "high", "highest")
#: The deepest network the command lines build: Flax unrolls every block into the
#: compiled program, so compilation grows linearly with depth, and float32 networks
#: leave their range long before this depth unless ``W_std`` is small.
MAX_BLOCKS = 1000


def bounded_int(name: str, low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number in ``low … high`` (``name`` is for messages)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text.strip()[:40]!r} is not a whole number"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is not >= {low}")
        if value > high:
            raise argparse.ArgumentTypeError(f"{value} is more than {high}, the most supported")
        return value

    parse.__name__ = name

    return parse


def jax_precision_of(choice: str) -> str | None:
    """The ``precision=`` argument for JAX matmuls of a :data:`PRECISIONS` choice.

    ``"default"`` maps to ``None`` (JAX's own default); the others pass through.
    """
    return None if choice == "default" else choice


def add_architecture_options(parser: ArgumentParser, defaults: Any, *, widths: str) -> None:
    """Add ``--widths`` (default ``widths``), ``--blocks``, ``--w-std`` and ``--b-std``.

    ``defaults`` is the config whose ``num_res_blocks``, ``W_std`` and ``b_std`` are the defaults.
    """
    add = parser.add_argument
    add(
        "--widths",
        default=widths,
        help="128..8192 (powers of two, inclusive) or a list such as 100,300,1000 "
        "(default: %(default)s)",
    )
    add(
        "--blocks",
        type=bounded_int("--blocks", 0, MAX_BLOCKS),
        default=defaults.num_res_blocks,
        help=f"residual blocks, 0..{MAX_BLOCKS} (default: %(default)s)",
    )
    add("--w-std", type=float, default=defaults.W_std, help="weight scale (default: %(default)s)")
    add("--b-std", type=float, default=defaults.b_std, help="bias scale (default: %(default)s)")


def add_numerics_options(parser: ArgumentParser, defaults: Any) -> None:
    """Add ``--ntk-method`` (:data:`NTK_METHODS`) and ``--precision`` (:data:`PRECISIONS`).

    ``defaults`` is the config whose ``ntk_method`` and ``precision`` are the defaults.
    """
    add = parser.add_argument
    add(
        "--ntk-method",
        choices=NTK_METHODS,
        default=defaults.ntk_method,
        help="empirical NTK estimator (default: %(default)s)",
    )
    add(
        "--precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help="float32 matmul precision (default: %(default)s)",
    )


def check_widths(widths: tuple[int, ...]) -> None:
    """Widths must be non-empty, each in ``1 … MAX_WIDTH`` (``2**22``), distinct and increasing."""
    if not widths or any(w < 1 for w in widths):
        raise UsageError("--widths: every width must be >= 1")
    if any(w > MAX_WIDTH for w in widths):
        raise UsageError(f"--widths: {max(widths)} is wider than {MAX_WIDTH} (2**22)")
    if list(widths) != sorted(set(widths)):
        raise UsageError("--widths: widths must be distinct and increasing")


def check_minimums(minimums: Iterable[tuple[str, int, int]]) -> None:
    """Each ``(option, value, low)`` must have ``value >= low``."""
    for name, value, low in minimums:
        if value < low:
            raise UsageError(f"{name}: {value} is not >= {low}")


def check_scales(W_std: float, b_std: float) -> None:
    """``W_std`` and ``b_std`` must be finite and >= 0, and ``W_std`` > 0."""
    for name, value in (("--w-std", W_std), ("--b-std", b_std)):
        if not (value == value and abs(value) != float("inf")) or value < 0:
            raise UsageError(f"{name}: {value} is not a finite number >= 0")
    if W_std == 0:
        raise UsageError("--w-std: must be > 0")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """``value`` must be one of ``choices`` (configs built in Python skip argparse's check)."""
    if value not in choices:
        raise UsageError(f"{name}: {value!r} is not one of {choices}")


def load_inputs_option(path: str, *, conflicting: str, conflict_given: bool):
    """The ``(N, d)`` array of ``--inputs path``; refuses ``conflicting`` options if given."""
    from harness.runs._inputs import load_inputs_file

    if conflict_given:
        raise UsageError(f"--inputs sets the inputs; do not combine it with {conflicting}")
    return load_inputs_file(path)


def start_backend() -> None:
    """Join a multi-process run if one is configured, then start JAX's backend.

    :func:`jax.distributed.initialize` must come before anything touches the backend
    (even the device line), so it is called here first.

    Raises:
      UsageError: a bad distributed environment, or a backend JAX cannot start (for
        example ``JAX_PLATFORMS=gpu`` on a machine without one).
    """
    import jax

    from harness.runs._sharding import initialize_distributed

    initialize_distributed()
    try:
        jax.devices()
    except RuntimeError as error:
        first = " ".join(str(error).split())[:200]
        platforms = os.environ.get("JAX_PLATFORMS")
        hint = f"; check JAX_PLATFORMS={platforms!r}" if platforms else ""
        raise UsageError(f"JAX cannot start its backend ({first}){hint}") from None


def announce(job: str, *, precision: str | None, quiet: bool = False) -> None:
    """Print the device line (stdout), and a notice (stderr) if JAX fell back to the CPU.

    Starts the backend first (:func:`start_backend`).
    """
    start_backend()
    warning = gpu_fallback_warning(job)
    if warning:
        print(warning, file=sys.stderr)
    if not quiet:
        print(device_banner(job, precision=precision), flush=True)


@dataclasses.dataclass(frozen=True)
class Job:
    """A finished run: the parsed arguments, the output folder and the run's results."""

    args: Any
    out: str
    results: dict


def run_job(
    argv,
    *,
    prog: str,
    parser: ArgumentParser,
    config_from_args: Callable[[Any], Any],
    run: Callable[..., dict],
    default_out: str,
    failures: tuple[type[BaseException], ...],
) -> Job | None:
    """Parse ``argv`` (``None``: ``sys.argv[1:]``), build the config and ``run`` it into ``--out``.

    ``run(config, out, force=, quiet=, command=)`` gets the command line as typed.
    ``--out`` is checked first (:func:`harness.runs._store.check_out_folder`): a file,
    an unwritable folder or a full disk is a usage error before any work. A
    ``failures`` exception is printed as ``error: ...`` on stderr and gives ``None``
    (the caller exits 1; finished networks stay in ``--out`` and a rerun resumes).
    """
    from harness.runs._store import check_out_folder

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    config = config_from_args(args)
    if args.out is not None and not args.out.strip():
        raise UsageError("--out: the folder name is empty")
    out = args.out or default_out
    check_out_folder(out)
    announce(prog.rsplit(".", 1)[-1], precision=config.jax_precision, quiet=args.quiet)
    command = " ".join([prog, shlex.join(argv)]).strip()
    try:
        results = run(config, out, force=args.force, quiet=args.quiet, command=command)
    except failures as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    return Job(args=args, out=out, results=results)
