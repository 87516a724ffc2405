"""Command-line conventions shared by every ``python -m harness.*`` entry point.

:func:`run_cli` gives every outcome one line on stderr and an exit status, never a
traceback:

* ``0``: success;
* ``2``: bad input (:class:`UsageError`): options, files, environment variables,
  an output folder that cannot be used; nothing has been computed;
* ``1``: a fault while running (:class:`RunError`, ``MemoryError``, an ``OSError``
  such as a full disk, out of device memory); completed results are kept;
* ``130``: interrupted (Ctrl-C), ``143``: terminated (``SIGTERM``, as batch schedulers
  send before killing); completed results are kept. The process ends with
  ``os._exit`` after flushing, so that no XLA thread runs into interpreter shutdown;
* a closed standard output (``... | head``) ends the run quietly, status 1, as the
  Python documentation's note on ``SIGPIPE`` recommends;
* a closed or full standard error (``2>&-``, ``2>/dev/full``) loses the lines written
  to it and nothing else: the run goes on and its status is as above (under
  ``python -m``, :mod:`harness._startup` has made stderr unable to raise);
* anything else is a bug: ``error: internal error: ...``, status 1, and the traceback
  only with ``HARNESS_TRACEBACK=1``.

Width lists use one syntax everywhere: ``128..8192`` is the powers of two from 128 to
8192 inclusive; ``100,300,1000`` is an explicit list. Widths are at most
:data:`MAX_WIDTH` (``2**22``): float32 dot products over ``n`` terms carry a relative
rounding error of order ``√n · u``, with ``u = 2**-24`` float32's unit roundoff (the
probabilistic bound of Higham & Mary 2019, "A new approach to probabilistic rounding
error analysis"), while the fluctuation a convergence run measures is of order
``n^{-1/2}``. Their ratio ``n · u`` reaches ``1/4`` at ``2**22``; wider networks would
measure float32 rounding, not the kernel (the numbers at ``2**22``:
docs/measurements.md). (Instantiated networks are bounded far lower by memory:
``2L n²`` float32 weights; conditional samples reach ``2**20``.)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable
from collections.abc import Sequence

__all__ = [
    "MAX_WIDTH",
    "ArgumentParser",
    "RunError",
    "UsageError",
    "is_out_of_memory",
    "parse_widths",
    "run_cli",
]

#: The widest network any job accepts (see the module docstring).
MAX_WIDTH = 2**22


class UsageError(ValueError):
    """Invalid user input: reported as one line and exit status 2."""


class RunError(RuntimeError):
    """A fault while running (completed results are kept): one line and exit status 1."""


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors raise :class:`UsageError`.

    Every job's parser also takes ``--no-compilation-cache``, and parsing its command
    line configures JAX's persistent compilation cache for the process
    (:func:`harness.runs._compilation.configure_compilation_cache`): on, in the
    user's cache folder, unless that option or ``HARNESS_COMPILATION_CACHE=off``
    turns it off. A job that measures compilation (the benchmark) passes
    ``compilation_cache=False``: no option, and the cache is always off.
    """

    def __init__(self, *args, compilation_cache: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.compilation_cache = compilation_cache
        if not compilation_cache:  # a job that measures compilation (the benchmark)
            return
        self.add_argument(
            "--no-compilation-cache",
            action="store_true",
            help="do not read or write JAX's persistent compilation cache "
            "(also HARNESS_COMPILATION_CACHE=off; the default folder is "
            "$XDG_CACHE_HOME/rmlp-kernel-harness/jax, else ~/.cache/...)",
        )

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        from harness.runs._compilation import configure_compilation_cache  # imports JAX

        wanted = self.compilation_cache and not parsed.no_compilation_cache
        configure_compilation_cache(enabled=wanted)
        return parsed

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


def _positive_int(text: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{what}: {text.strip()[:40]!r} is not a whole number") from None
    if value < 1:
        raise UsageError(f"{what}: {value} is not >= 1")
    if value > MAX_WIDTH:
        raise UsageError(f"{what}: {value} is wider than {MAX_WIDTH} (2**22), the widest supported")
    return value


def parse_widths(text: str) -> tuple[int, ...]:
    """Parse ``"128..8192"`` (powers of two, inclusive) or ``"100,300,1000"``.

    Raises:
      UsageError: for non-numbers, widths < 1 or > :data:`MAX_WIDTH`, reversed or
        power-free ranges, and duplicates.
    """
    text = text.strip()
    if ".." in text:
        lo_text, _, hi_text = text.partition("..")
        lo = _positive_int(lo_text, "--widths")
        hi = _positive_int(hi_text, "--widths")
        if lo > hi:
            raise UsageError(f"--widths: range {lo}..{hi} is reversed (write {hi}..{lo})")
        widths = []
        power = 1
        while power <= hi:
            if power >= lo:
                widths.append(power)
            power *= 2
        if not widths:
            raise UsageError(f"--widths: no power of two lies in {lo}..{hi}")
        return tuple(widths)
    parts = list(text.split(","))
    if not text or any(not p.strip() for p in parts):
        raise UsageError(f"--widths: {text[:40]!r} is not a list such as 128..8192 or 100,300,1000")
    widths = tuple(_positive_int(p, "--widths") for p in parts)
    if len(set(widths)) != len(widths):
        raise UsageError(f"--widths: {text[:40]!r} repeats a width")
    return tuple(sorted(widths))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _describe_os_error(error: OSError) -> str:
    where = f": {error.filename}" if error.filename else ""
    reason = error.strerror or _one_line(error)
    return f"{reason}{where}; completed results are kept"


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception (from XLA or a device allocator) reports exhausted memory.

    XLA raises ``RESOURCE_EXHAUSTED: Out of memory while trying to allocate ...``; other
    allocators spell ``out of memory`` in either case.
    """
    text = str(error)
    return "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower()


def _tell(line: str) -> None:
    """Write ``line`` to stderr; a closed or full stderr loses it, never raises."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            print(line, file=sys.stderr, flush=True)


def _fail(message: str, status: int):
    _tell(f"error: {message}")
    sys.exit(status)


class _Terminated(KeyboardInterrupt):
    """``SIGTERM``, delivered as an interruption so that ``finally`` blocks and context
    managers (the progress bar, the folder lock) unwind as they do for Ctrl-C."""


def _terminate(signum, frame):
    raise _Terminated


def _quiet_stdout() -> None:
    """Point stdout at /dev/null (its reader is gone), so that later writes cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _exit_interrupted(interruption: KeyboardInterrupt) -> None:
    """One line, and status 130 (Ctrl-C) or 143 (``SIGTERM``); completed results are kept."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    terminated = isinstance(interruption, _Terminated)
    what = "terminated (SIGTERM)" if terminated else "interrupted"
    _tell(f"\n{what}; completed results are kept")
    os._exit(143 if terminated else 130)


def _unraisable(unraisable) -> None:
    """``sys.unraisablehook``: an interruption that lands where Python cannot raise it
    (a garbage-collection callback, such as JAX's, or a finalizer) still ends the run,
    instead of being printed and ignored. Anything else goes to Python's own hook."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _exit_interrupted(unraisable.exc_value)
    sys.__unraisablehook__(unraisable)


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv=None) -> None:
    """Run ``main(argv)`` and exit with the status of the module docstring, in one line."""
    # Only the main thread may set handlers (ValueError elsewhere); a signal the parent
    # made us ignore (a background job's SIGINT) stays ignored. SIGINT replaces the
    # handler that harness._startup installs for the imports.
    for signum, handler in (
        (signal.SIGINT, signal.default_int_handler),
        (signal.SIGTERM, _terminate),
    ):
        with contextlib.suppress(ValueError):
            if signal.getsignal(signum) is not signal.SIG_IGN:
                signal.signal(signum, handler)
    sys.unraisablehook = _unraisable
    try:
        status = main(argv)
        if sys.stdout is not None:  # None: descriptor 1 was closed at start
            sys.stdout.flush()
    except UsageError as error:
        _fail(_one_line(error), 2)
    except KeyboardInterrupt as interruption:
        _exit_interrupted(interruption)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(1)
    except (RunError, MemoryError) as error:
        _fail(_one_line(error), 1)
    except OSError as error:
        _fail(_describe_os_error(error), 1)
    except Exception as error:  # the last line of defence: one line, not a traceback
        if is_out_of_memory(error):
            first = _one_line(error).split(". ")[0][:200]
            _fail(f"out of memory ({first}); completed results are kept", 1)
        if os.environ.get("HARNESS_TRACEBACK") == "1":
            traceback.print_exc()
        _fail(
            f"internal error: {type(error).__name__}: {_one_line(error)[:300]} "
            "(a bug; HARNESS_TRACEBACK=1 shows the traceback)",
            1,
        )
    sys.exit(status or 0)
