"""Options and the ``main()`` shape shared by ``python -m harness.converge`` and ``harness.train``.

Both entry points measure a ladder of residual MLPs of hidden widths ``n`` in the NTK
parameterization ``z = W_std/√fan_in · W x + b_std · b`` (weights and biases N(0,1);
Jacot et al. 2018, Lee et al. 2019), so they take the same architecture and numerics
options and check them the same way. What is shared lives here, once:

* argparse additions, with the same help texts in both: :func:`add_architecture_options`
  (``--widths``, ``--blocks``, ``--w-std``, ``--b-std``), :func:`add_inputs_options`
  (``--input-dim``, ``--inputs``), :func:`add_seeds_option`, :func:`add_numerics_options`
  (``--ntk-method``, ``--precision``, choices :data:`NTK_METHODS` and :data:`PRECISIONS`)
  and :func:`add_run_options` (``--out``, ``--quiet``, ``--force``); :func:`add_option`
  ends a help text with the default;
* :func:`config_of`: a config dataclass from the parsed arguments named like its fields;
* config validation, in small pieces (:func:`check_widths`, :func:`check_minimums`,
  :func:`check_scales`, :func:`check_choice`), which
  :meth:`harness.runs._config.JobConfig.check_shared` and each config combine;
* ``--inputs``: :func:`load_inputs_option` refuses options that also set the inputs;
* ``main()``: :func:`run_job` parses, builds the config, runs it into ``--out``, prints
  the summary lines and turns a non-finite (or out-of-memory) failure into a one-line
  ``error: ...`` (exit status 1).

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

import jax

from analytic.activations import ACTIVATION_NAMES
from analytic.activations import get_activation
from harness.kernels import NTK_METHODS
from harness.runs._cli import MAX_WIDTH
from harness.runs._cli import ArgumentParser
from harness.runs._cli import UsageError
from harness.runs._environment import device_banner
from harness.runs._environment import gpu_fallback_warning
from harness.runs._folder import check_out_folder
from harness.runs._inputs import load_inputs_file
from harness.runs._sharding import initialize_distributed

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


def add_option(parser: ArgumentParser, name: str, default: Any, help: str, **kwargs) -> None:
    """Add ``name`` with ``default``; its help ends with ``(default: ...)``."""
    parser.add_argument(name, default=default, help=f"{help} (default: %(default)s)", **kwargs)


def config_of(cls: type, args: Any, **overrides: Any) -> Any:
    """The dataclass ``cls`` of parsed ``args``: each argument whose name is a field
    (``None`` keeps the field's default), then ``overrides``."""
    fields = {field.name for field in dataclasses.fields(cls)}
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return cls(**(given | overrides))


def add_architecture_options(parser: ArgumentParser, defaults: Any, *, widths: str) -> None:
    """Add ``--widths`` (default ``widths``), ``--blocks``, ``--w-std`` and ``--b-std``.

    ``defaults`` is the config whose ``num_res_blocks``, ``W_std`` and ``b_std`` are the defaults.
    """
    example = "128..8192 (powers of two, inclusive) or a list such as 100,300,1000"
    add_option(parser, "--widths", widths, example)
    blocks = bounded_int("--blocks", 0, MAX_BLOCKS)
    add_option(
        parser,
        "--blocks",
        defaults.num_res_blocks,
        f"residual blocks, 0..{MAX_BLOCKS}",
        type=blocks,
        dest="num_res_blocks",
    )
    add_option(parser, "--w-std", defaults.W_std, "weight scale", type=float, dest="W_std")
    add_option(parser, "--b-std", defaults.b_std, "bias scale", type=float, dest="b_std")
    if hasattr(defaults, "activation"):
        add_option(
            parser,
            "--activation",
            defaults.activation,
            f"the activation: {', '.join(ACTIVATION_NAMES)} (gelu is the exact x·Φ(x), "
            "not the tanh approximation that flax.linen.gelu and jax.nn.gelu default to)",
        )
        add_option(
            parser,
            "--branch-scale",
            defaults.branch_scale,
            "α in h + α·Dense(φ(Dense(h))), >= 0 (1/√L is the Stable-ResNet choice)",
            type=float,
            dest="branch_scale",
        )


def add_inputs_options(parser: ArgumentParser, defaults: Any, *, rows: str) -> None:
    """Add ``--input-dim`` (Gaussian inputs) and ``--inputs FILE.npy`` (``rows``: their use)."""
    dim_help = f"dimension of Gaussian inputs (default: {defaults.input_dim})"
    parser.add_argument("--input-dim", type=int, default=None, help=dim_help)
    file_help = f"your own inputs: a finite (N, d) .npy array, rows are inputs{rows}"
    parser.add_argument("--inputs", metavar="FILE.npy", default=None, help=file_help)


def add_seeds_option(parser: ArgumentParser, defaults: Any) -> None:
    """Add ``--seeds``: networks per width, network ``s`` of width ``n`` from ``fold_in``."""
    about = "networks per width; network s of width n uses fold_in(PRNGKey(s), n)"
    add_option(parser, "--seeds", defaults.seeds, about, type=int)


def add_run_options(parser: ArgumentParser, *, default_out: str) -> None:
    """Add ``--out`` (resumable output folder), ``--quiet`` and ``--force``."""
    out_help = f"output folder; rerunning into it resumes (default: {default_out})"
    parser.add_argument("--out", default=None, help=out_help)
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary lines")
    parser.add_argument(
        "--force", action="store_true", help="replace a run of another config in --out"
    )


def add_numerics_options(parser: ArgumentParser, defaults: Any) -> None:
    """Add ``--ntk-method`` (:data:`NTK_METHODS`) and ``--precision`` (:data:`PRECISIONS`).

    ``defaults`` is the config whose ``ntk_method`` and ``precision`` are the defaults.
    """
    estimator = "empirical NTK estimator"
    add_option(parser, "--ntk-method", defaults.ntk_method, estimator, choices=NTK_METHODS)
    add_option(
        parser, "--precision", defaults.precision, "float32 matmul precision", choices=PRECISIONS
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


def check_shape(activation: str, branch_scale: float) -> str:
    """The canonical activation spelling; refuse an unknown one or a bad ``branch_scale``."""
    if not (branch_scale == branch_scale and abs(branch_scale) != float("inf")) or (
        branch_scale < 0
    ):
        raise UsageError(f"--branch-scale: {branch_scale} is not a finite number >= 0")
    try:
        return get_activation(activation).name
    except ValueError as error:
        raise UsageError(f"--activation: {error}") from None


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


def with_inputs_option(config, args):
    """``config`` reading ``--inputs`` when it was given (``n_inputs``, ``input_dim`` from the
    file, which is identified by its values), refusing ``--n-inputs``/``--input-dim`` beside it."""
    if args.inputs is None:
        return config
    data = load_inputs_option(
        args.inputs,
        conflicting="--n-inputs/--input-dim",
        conflict_given=getattr(args, "n_inputs", None) is not None or args.input_dim is not None,
    )
    return dataclasses.replace(
        config.with_inputs_file(args.inputs), n_inputs=data.shape[0], input_dim=data.shape[1]
    )


def load_inputs_option(path: str, *, conflicting: str, conflict_given: bool):
    """The ``(N, d)`` array of ``--inputs path``; refuses ``conflicting`` options if given."""
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


def run_job(
    argv,
    *,
    prog: str,
    parser: ArgumentParser,
    config_from_args: Callable[[Any], Any],
    run: Callable[..., dict],
    default_out: str,
    failures: tuple[type[BaseException], ...],
    summary: Callable[[dict, str], list[str]],
) -> int:
    """``main()`` of a job: parse ``argv``, build the config, ``run`` it into ``--out``.

    ``argv=None`` reads ``sys.argv[1:]``. ``run(config, out, force=, quiet=, command=)``
    gets the command line as typed. ``--out`` is checked first
    (:func:`harness.runs._folder.check_out_folder`): a file, an unwritable folder or a
    full disk is a usage error before any work. Unless ``--quiet``, the lines of
    ``summary(results, out)`` are printed. Returns the exit status: 0, or 1 after a
    ``failures`` exception, printed as ``error: ...`` on stderr (finished networks stay
    in ``--out`` and a rerun resumes).
    """
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
        return 1
    if not args.quiet:
        for line in summary(results, out):
            print(line)
    return 0
