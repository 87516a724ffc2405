"""What a ``python -m harness.<job>`` process sets up before it imports JAX.

Importing a job takes seconds (JAX, Flax, SciPy, neural-tangents), and ``python -m``
imports this package's ``__init__`` (and so all of that) before the job's
``__main__`` runs. What must hold from the first instant is therefore set up here,
by the first import of ``harness/__init__.py``, and only while Python is locating a
``-m harness.…`` module (``sys.argv[0] == "-m"``; a library ``import harness`` is
left alone):

* **Standard streams.** A closed descriptor 0, 1 or 2 (``2>&-``) is reopened on
  ``/dev/null``, so that no file the run opens later gets number 2 and receives
  XLA's log lines. Standard output and error replace the characters their encoding
  lacks (``PYTHONIOENCODING=ascii``: ``×`` becomes ``\\xd7``) instead of raising
  ``UnicodeEncodeError``, and standard error never raises: a closed or full log
  (``2>/dev/full``) loses its lines but never ends a run.
* **Signals.** Ctrl-C and ``SIGTERM`` while the modules load end the process with one
  line and status 130 or 143 (nothing has been computed yet);
  :func:`harness.runs.run_cli` installs its own handlers when the job starts.
* **Shadowed packages.** A ``models.py`` or ``analytic.py`` (or a foreign package of
  that name) in the folder Python searches first would be imported instead of this
  repository's package; the process says which file shadows which package, in one
  line, with status 2. (A ``harness.py`` there cannot be reported by us: Python
  imports it instead of this package and stops with its own one-line error.)

It also notes the moment the process started (:data:`PROCESS_START`), so that a job
can say how long its first network took from the start. Only the standard library
is imported here.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import itertools
import os
import signal
import sys
import time
from pathlib import Path

__all__ = ["PROCESS_START", "prepare_job_process"]

#: ``time.monotonic()`` when this package was first imported: under ``python -m harness.…``,
#: before JAX and the other heavy modules load, so a job's timings count its imports.
PROCESS_START = time.monotonic()

#: The repository's top-level packages that a job imports.
PACKAGES = ("analytic", "models", "harness")
_ROOT = Path(__file__).resolve().parents[1]


class _ForgivingStream:
    """A text stream whose ``write`` and ``flush`` never raise: a log that cannot take
    more lines (closed, full disk) loses them rather than ending the run."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _is_job_start() -> bool:
    """Whether Python is locating a ``python -m harness.<job>`` module right now."""
    if sys.argv[:1] != ["-m"]:
        return False
    argv = getattr(sys, "orig_argv", [])
    for flag, module in itertools.pairwise(argv):
        if flag == "-m" and module.startswith("harness."):
            return True
    return any(item.startswith("-mharness.") for item in argv)


def _reopen_closed_descriptors() -> None:
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)


def _text_stream(descriptor: int, current):
    """``current`` with ``errors="backslashreplace"``, or a new stream on ``descriptor``."""
    if current is not None:
        with contextlib.suppress(AttributeError, ValueError, OSError):
            current.reconfigure(errors="backslashreplace")
        return current
    return open(descriptor, "w", buffering=1, errors="backslashreplace", closefd=False)


def _prepare_streams() -> None:
    _reopen_closed_descriptors()
    sys.stdout = _text_stream(1, sys.stdout)
    sys.stderr = _ForgivingStream(_text_stream(2, sys.stderr))


def _say_and_exit(line: str, status: int) -> None:
    with contextlib.suppress(OSError):
        os.write(2, line.encode("ascii", "backslashreplace") + b"\n")
    os._exit(status)


def _stop_while_starting(signum, frame) -> None:
    if signum == signal.SIGINT:
        _say_and_exit("\ninterrupted while starting; nothing was computed", 130)
    _say_and_exit("\nterminated (SIGTERM) while starting; nothing was computed", 143)


def _install_start_up_handlers() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # a background job's SIGINT
            signal.signal(signum, _stop_while_starting)


def shadowing_file(package: str) -> str | None:
    """The file or folder that ``import package`` would load instead of this
    repository's ``package``, or ``None`` when it loads ours."""
    spec = importlib.machinery.PathFinder.find_spec(package, sys.path)
    if spec is None or spec.origin is None:
        return None  # not found at all: the import itself will say so
    ours = _ROOT / package / "__init__.py"
    return None if Path(spec.origin).resolve() == ours else spec.origin


def _refuse_shadowed_packages() -> None:
    for package in PACKAGES:
        found = shadowing_file(package)
        if found is not None:
            folder = os.path.basename(found) == "__init__.py"  # a package: name its folder
            found = os.path.dirname(found) if folder else found
            try:
                shown = os.path.relpath(found)
            except ValueError:  # another drive (Windows)
                shown = found
            shown += os.sep if folder else ""
            sys.stderr.write(
                f"error: {shown} shadows the package {package!r} ({_ROOT / package}); "
                "rename it, or run from another folder\n"
            )
            sys.stderr.flush()
            sys.exit(2)


def prepare_job_process() -> None:
    """Streams, start-up signal handlers and the shadowing check (see the module docstring)."""
    _install_start_up_handlers()
    _prepare_streams()
    _refuse_shadowed_packages()


if _is_job_start():
    prepare_job_process()
