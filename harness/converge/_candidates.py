"""Candidate kernel formulas, plugged in with ``--candidate``, and their contract.

A *candidate* is someone's formula for the infinite-width kernels, to be judged
against finite networks exactly like our own analytic kernels are.

Spec syntax (``--candidate`` is repeatable):

* ``notebook``: built in, the seed notebook's original recursions
  (:func:`analytic.notebook_rmlp_nngp` and :func:`analytic.notebook_rmlp_ntk`).
  They were only ever checked at ``W_std = 1, b_std = 0`` and are wrong
  elsewhere. ``seed``, its first name, is an alias that keeps working; a
  candidate is reported under the name it was given by.
* ``pkg.module:function``: any importable function (the current folder is on
  ``sys.path`` under ``python -m``).
* ``none``: no candidates (the default run has the notebook's).

Contract. The function is called once, as ::

    function(xs, arch)        # the residual MLP
    function(xs)              # a custom --model (harness.converge._model)

with ``xs`` a read-only float64 ``(N, d)`` NumPy array (rows are inputs; a copy,
so the networks never see what a candidate does to it) and ``arch`` an
:class:`analytic.Architecture`: ``arch.num_res_blocks`` (int), ``arch.W_std``,
``arch.b_std``, ``arch.branch_scale`` (floats) and ``arch.activation`` (the
activation's name, e.g. ``"relu"`` or ``"leaky_relu:0.1"``). A function whose
signature takes four positional arguments is called the earlier way,
``function(xs, num_res_blocks, W_std, b_std)`` (the signature of
:func:`analytic.rmlp_ntk`), which can describe only the ReLU network with branch
scale 1; with any other architecture it is a usage error. The built-in
``notebook`` is the seed's ReLU recursion whatever the architecture, and is
refused with a custom ``--model``, whose formulas take the inputs alone (the
model's own constants are the formula's to know). What it returns decides what
it is compared with:

* one ``(N, N)`` array: an **NTK** formula;
* an object with attributes ``.nngp`` and ``.ntk`` (e.g. the NamedTuple of
  :func:`analytic.rmlp_kernels`), a mapping with keys ``"nngp"`` and
  ``"ntk"``, or a pair ``(nngp, ntk)``: **both** kernels.

Each kernel must be a finite, real ``(N, N)`` array (any real dtype; it is used
in float64; not a masked array, whose mask would be lost), not all zero, with
entries between ``1e-150`` and ``1e150`` in magnitude (so that its Frobenius
norm, the denominator of every relative error, exists in float64). An NTK
returned as a list of rows is refused (at ``N = 2`` it could not be told from a
pair): return it as an array. Attributes ``.nngp`` and ``.ntk`` are read once
each, so properties may compute. A spec that does not import, a function that
raises or calls ``sys.exit``, a result whose attributes raise, or a return
value that breaks the contract is a usage error (one line, exit status 2),
reported before any network is built.

What the function prints goes to stderr, each line prefixed with the candidate's
name, so that stdout keeps the run's own lines. The same function is judged once:
giving it twice (by one spec, or by two names of one function) is a usage error.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import sys
from collections.abc import Callable
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

import analytic
from analytic import Architecture
from harness.runs import UsageError

__all__ = [
    "Candidate",
    "callable_candidate",
    "callable_spec",
    "evaluate_candidate",
    "import_spec",
    "load_candidate",
    "parse_candidates",
    "raised",
]

#: Built-in candidates by every name they answer to (``seed`` is the notebook's first name).
BUILT_IN = {"notebook": "notebook", "seed": "notebook"}


class Candidate(NamedTuple):
    """A loaded candidate: its ``name`` (used in reports), ``spec`` and ``function``."""

    name: str
    spec: str
    function: Callable


def _notebook_candidate(xs, arch):
    return {
        "nngp": analytic.notebook_rmlp_nngp(xs, arch.num_res_blocks, arch.W_std, arch.b_std),
        "ntk": analytic.notebook_rmlp_ntk(xs, arch.num_res_blocks, arch.W_std, arch.b_std),
    }


def _takes_four(function) -> bool:
    """Whether ``function`` has the earlier signature ``(xs, num_res_blocks, W_std, b_std)``.

    True when it needs more than two positional arguments and accepts four; a
    signature that cannot be read, or that accepts two, gets ``(xs, arch)``.
    """
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = sum(p.default is inspect.Parameter.empty for p in positional)
    return required > 2 and len(positional) >= 4


_BUILT_IN_FUNCTIONS = {"notebook": _notebook_candidate}


def load_candidate(spec: str) -> Candidate:
    """Resolve ``"notebook"`` (alias ``"seed"``) or ``"pkg.module:function"``.

    A built-in candidate is named as it was given (``seed`` stays ``seed``).

    Raises:
      UsageError: if the spec cannot be resolved.
    """
    spec = spec.strip()
    if spec in BUILT_IN:
        return Candidate(spec, spec, _BUILT_IN_FUNCTIONS[BUILT_IN[spec]])
    function = import_spec(spec, "--candidate", "'notebook', 'seed' or 'pkg.module:function'")
    return Candidate(spec.partition(":")[2].split(".")[-1], spec, function)


def import_spec(spec: str, option: str, expected: str) -> Callable:
    """The callable that ``"pkg.module:function"`` names (``function`` may be dotted).

    Raises:
      UsageError: naming ``option``, when ``spec`` is not of that form (``expected``
        says what is), its module does not import, or it names nothing callable.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise UsageError(f"{option}: {spec!r} is not {expected}")
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as error:  # a user's module may fail in any way
        raise UsageError(f"{option}: cannot import {module_name!r} ({_describe(error)})") from None
    function = module
    for part in attribute.split("."):
        function = getattr(function, part, None)
        if function is None:
            raise UsageError(f"{option}: {module_name!r} has no attribute {attribute!r}")
    if not callable(function):
        raise UsageError(f"{option}: {spec!r} is not callable")
    return function


def callable_spec(function) -> str:
    """``module:qualname`` of a callable, as ``--candidate`` or ``--model`` would spell it."""
    qualname = getattr(function, "__qualname__", None) or type(function).__name__
    return f"{getattr(function, '__module__', None) or '?'}:{qualname}"


def callable_candidate(
    function, name: str | None = None, *, signature: str = "f(xs, arch)"
) -> Candidate:
    """A candidate from a Python callable (:func:`harness.judge`), named ``name`` or by its
    ``__name__``; its spec is :func:`callable_spec`. ``signature`` is how it will be
    called, for the message.

    Raises:
      UsageError: ``function`` is not callable.
    """
    if not callable(function):
        raise UsageError(f"the formula must be a function {signature}, got {function!r}")
    spec = callable_spec(function)
    qualname = spec.partition(":")[2]
    return Candidate(name or getattr(function, "__name__", None) or qualname, spec, function)


def parse_candidates(specs) -> tuple[Candidate, ...]:
    """Load every spec (``none`` gives no candidates); names and formulas must be distinct."""
    specs = [s for s in specs if s.strip() != "none"]
    loaded = []
    names = set()
    for spec in specs:
        candidate = load_candidate(spec)
        same = [c.spec for c in loaded if c.function is candidate.function]
        if same:  # one spec twice, "notebook" and its alias "seed", or two names of one function
            also = "" if same[0] == candidate.spec else f" (as {same[0]!r})"
            raise UsageError(f"--candidate: {candidate.spec!r} is given twice{also}")
        name = candidate.name
        if name in names:  # two functions of the same name from different modules
            name = candidate.spec
        if name in names:
            raise UsageError(f"--candidate: {spec!r} is given twice")
        names.add(name)
        loaded.append(candidate._replace(name=name))
    return tuple(loaded)


#: Magnitudes a candidate kernel's entries must stay within (their squares must sum in float64).
KERNEL_MAGNITUDES = (1e-150, 1e150)


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r})"
    text = " ".join(str(error).split())[:200]
    if isinstance(error, ValueError) and "read-only" in text:
        text += " (xs is read-only: copy it before changing it)"
    return f"{type(error).__name__}: {text}"


def raised(error: BaseException) -> str:
    """``"raised TypeError: ..."`` or ``"called sys.exit(0)"``."""
    text = _describe(error)
    return text if isinstance(error, SystemExit) else f"raised {text}"


def _as_kernel(value, n: int, what: str) -> np.ndarray:
    if isinstance(value, np.ma.MaskedArray):
        raise UsageError(
            f"{what} is a masked array, whose mask would be lost; return a plain array"
        )
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        raise UsageError(f"{what} is not a numeric array") from None
    if np.iscomplexobj(array):
        raise UsageError(f"{what} is complex; a kernel is real")
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise UsageError(f"{what} is not a numeric array")
    array = array.astype(np.float64)
    if array.shape != (n, n):
        raise UsageError(f"{what} has shape {array.shape}; expected ({n}, {n})")
    if not np.all(np.isfinite(array)):
        raise UsageError(f"{what} holds NaN or Inf")
    largest = float(np.max(np.abs(array)))
    low, high = KERNEL_MAGNITUDES
    if largest == 0:
        raise UsageError(f"{what} is all zeros; no relative error against it is defined")
    if not low <= largest <= high:
        raise UsageError(
            f"{what} has entries up to {largest:.3g}, outside {low:.0e}..{high:.0e}, where its "
            "Frobenius norm would leave float64"
        )
    return array


def evaluate_candidate(
    candidate: Candidate, xs, arch: Architecture | None, *, single: str = "ntk"
) -> dict[str, np.ndarray]:
    """Call the candidate per the contract; return ``{"ntk": K}`` or ``{"nngp": K, "ntk": K}``.

    ``arch=None`` (a custom ``--model``, which has no architecture the harness knows)
    calls it as ``function(xs)``. ``single`` is what one array stands for: the NTK
    for a limit's formula, the NNGP for a correction's (:mod:`harness.correction`).
    """
    xs = np.array(xs, dtype=np.float64, copy=True)  # the networks' inputs stay untouched
    xs.setflags(write=False)
    n = xs.shape[0]
    what = f"--candidate {candidate.spec}"
    if arch is None and candidate.function in _BUILT_IN_FUNCTIONS.values():
        raise UsageError(
            f"{what} is the residual MLP's formula; with --model give your own "
            "--candidate pkg.module:function, called as f(xs)"
        )
    four = arch is not None and _takes_four(candidate.function)
    if four and not arch.is_seed:
        raise UsageError(
            f"{what} takes (xs, num_res_blocks, W_std, b_std), which cannot see the activation "
            f"({arch.activation}) or the branch scale ({arch.branch_scale:g}); write it as "
            "f(xs, arch) and read arch.activation and arch.branch_scale"
        )
    with _printed_to_stderr(candidate.name):
        try:
            if arch is None:
                result = candidate.function(xs)
            elif four:
                result = candidate.function(
                    xs, arch.num_res_blocks, float(arch.W_std), float(arch.b_std)
                )
            else:
                result = candidate.function(xs, arch)
        except (Exception, SystemExit) as error:  # the user's code: report, never crash or exit
            raise UsageError(f"{what} {raised(error)}") from None
        try:
            kernels = _unpack(result, n, what, single)
            return {
                kind: _as_kernel(value, n, f"{what} ({kind.upper()})") for kind, value in kernels
            }
        except UsageError:
            raise
        except (Exception, SystemExit) as error:  # e.g. a property of the result that raises
            raise UsageError(f"{what}: reading its result raised {_describe(error)}") from None


@contextlib.contextmanager
def _printed_to_stderr(name: str):
    """Capture what the candidate prints to stdout; write it to stderr as ``name: line``."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        text = captured.getvalue()
        if text and sys.stderr is not None:
            with contextlib.suppress(OSError, ValueError):  # a closed stderr
                for line in text.splitlines():
                    print(f"{name}: {line}", file=sys.stderr)
                sys.stderr.flush()


_MISSING = object()


def _is_row(value) -> bool:
    """Whether ``value`` is one row of numbers (a list, tuple or 1-D array)."""
    try:
        return np.ndim(value) == 1
    except ValueError:  # ragged
        return False


def _unpack(result, n: int, what: str, single: str = "ntk") -> list[tuple[str, object]]:
    """``[(single, K)]`` or ``[("nngp", K), ("ntk", K)]`` per the contract.

    Attributes are read once each (a property may compute, or count its reads).
    """
    if isinstance(result, np.ndarray):
        return [(single, result)]
    nngp = getattr(result, "nngp", _MISSING)
    ntk = getattr(result, "ntk", _MISSING) if nngp is not _MISSING else _MISSING
    if ntk is not _MISSING:
        return [("nngp", nngp), ("ntk", ntk)]
    if isinstance(result, Mapping):
        if not {"nngp", "ntk"} <= set(result):
            raise UsageError(f"{what} returned a mapping without keys 'nngp' and 'ntk'")
        return [("nngp", result["nngp"]), ("ntk", result["ntk"])]
    if not isinstance(result, tuple | list):
        return [(single, result)]
    kind = type(result).__name__
    expected = (
        f"expected the {single.upper()} as a ({n}, {n}) NumPy array, or a pair (nngp, ntk) of them"
    )
    if result and all(_is_row(row) for row in result):  # a kernel written as nested lists
        try:
            shape = f"of shape {np.shape(result)}"
        except ValueError:
            shape = f"of {len(result)} rows of unequal lengths"
        raise UsageError(f"{what} returned a nested {kind} {shape}, not an array; {expected}")
    if len(result) != 2:
        raise UsageError(f"{what} returned a {kind} of {len(result)} values; {expected}")
    return [("nngp", result[0]), ("ntk", result[1])]
