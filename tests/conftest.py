"""Shared pytest configuration and fixtures.

Tests do not turn on ``jax_enable_x64`` globally: the analytic kernels must be
float64 whatever the flag says, and some tests check exactly that. Tests that
need float64 networks use the ``jax.enable_x64`` context locally.

The test folders are not packages (pytest imports them with
``--import-mode=importlib``), so logic that several test files share is written
once here, as fixtures; a fixture that is a helper returns the function:

* ``run_python`` and ``start_python``: ``python ...`` in a new process that can
  import this repository;
* ``cli_exit``: a command's ``main`` run through ``run_cli`` in this process,
  which must exit with one ``error: ...`` line and no traceback;
* ``held_store``: another process holding a result folder open.

A test marked ``@pytest.mark.bad_arguments(group)`` takes ``argv`` and ``message``
and runs once per row of that group of ``tests/bad_arguments.txt``.

Jobs started by the tests (in this process or in new ones) share one persistent
compilation cache in a temporary folder for the session, unless
``HARNESS_COMPILATION_CACHE`` is set: the suite never writes into the user's cache
folder, and a program compiled by one test's process is read back by the next.
"""

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.runs import run_cli

ROOT = Path(__file__).resolve().parents[1]
BAD_ARGUMENTS = ROOT / "tests" / "bad_arguments.txt"


_SESSION_CACHE: list[str] = []


def pytest_configure(config):
    """One compilation cache for the session's jobs (see the module docstring), and no
    figures (``HARNESS_PLOTS=off``) except in the tests that check them (:func:`figures_on`)."""
    os.environ.setdefault("HARNESS_PLOTS", "off")
    # A suite started in the background of a non-interactive shell inherits an ignored
    # SIGINT, which every child would inherit too (the signal tests need the default).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if "HARNESS_COMPILATION_CACHE" not in os.environ:
        folder = tempfile.mkdtemp(prefix="harness-test-jax-cache-")
        os.environ["HARNESS_COMPILATION_CACHE"] = folder
        _SESSION_CACHE.append(folder)


def pytest_unconfigure(config):
    for folder in _SESSION_CACHE:
        shutil.rmtree(folder, ignore_errors=True)


def _bad_arguments(group: str) -> list:
    """The ``(argv, message)`` rows of ``group`` in ``tests/bad_arguments.txt``."""
    rows = []
    for line in BAD_ARGUMENTS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, arguments, message = (cell.strip() for cell in line.split(" | "))
            if name == group:
                rows.append(pytest.param(shlex.split(arguments), message, id=arguments))
    assert rows, f"no rows of group {group!r} in {BAD_ARGUMENTS}"
    return rows


def pytest_generate_tests(metafunc):
    """Parametrize ``@pytest.mark.bad_arguments(group)`` tests from the table."""
    marker = metafunc.definition.get_closest_marker("bad_arguments")
    if marker is not None:
        metafunc.parametrize(("argv", "message"), _bad_arguments(*marker.args))


def _child_env(extra: dict | None) -> dict:
    """This process's environment, with the repository first on ``PYTHONPATH`` and ``extra``."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


@pytest.fixture(scope="session")
def start_python():
    """``start_python(*args, env=None, cwd=ROOT, **popen_options)``: ``python *args`` started.

    A text-mode ``subprocess.Popen``; ``env`` adds variables to this process's
    environment, and the repository is importable whatever ``cwd`` is.
    """

    def start(*args, env=None, cwd=ROOT, **popen_options):
        command = [sys.executable, *map(str, args)]
        return subprocess.Popen(command, cwd=cwd, env=_child_env(env), text=True, **popen_options)

    return start


@pytest.fixture(scope="session")
def run_python():
    """``run_python(*args, env=None, cwd=ROOT, timeout=300)``: ``python *args`` run to its end.

    The ``subprocess.CompletedProcess``, with ``stdout`` and ``stderr`` as text, whatever
    the exit status; a run longer than ``timeout`` seconds fails the test. ``env`` adds
    variables to this process's environment, and the repository is importable
    whatever ``cwd`` is.
    """

    def run(*args, env=None, cwd=ROOT, timeout=300):
        return subprocess.run(
            [sys.executable, *map(str, args)],
            cwd=cwd,
            env=_child_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def cli_exit(capsys):
    """``cli_exit(main, argv, warnings=False)``: ``(exit status, the one error line)``.

    Runs ``run_cli(main, argv)`` in this process and asserts the command-line
    contract for a refusal or a fault: it exits, prints no traceback, and its
    stderr is exactly one line, ``error: ...``. With ``warnings=True``,
    ``warning: ...`` lines beside that one are allowed.
    """

    def run(main, argv, *, warnings=False):
        with pytest.raises(SystemExit) as info:
            run_cli(main, argv)
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = err.splitlines()
        if warnings:
            lines = [line for line in lines if not line.startswith("warning: ")]
        else:
            assert err.endswith("\n"), err
        assert len(lines) == 1, err
        assert lines[0].startswith("error: "), err
        return info.value.code, lines[0]

    return run


@pytest.fixture
def held_store(start_python):
    """``with held_store(folder, config) as holder:`` another process holds ``folder``.

    That process opens ``folder`` as a converge ``RunStore`` of ``config`` and keeps it
    open (locked) until the block ends; ``holder`` is its ``Popen``.
    """

    @contextlib.contextmanager
    def hold(folder: Path, config: dict):
        code = (
            "import sys; from harness.runs import RunStore; "
            f"s = RunStore({str(folder)!r}, {config!r}, kind='converge'); "
            "print('held', flush=True); sys.stdin.read()"
        )
        process = start_python("-c", code, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert process.stdout.readline().strip() == "held"
            yield process
        finally:
            process.stdin.close()
            process.wait(timeout=30)
            process.stdout.close()

    return hold


@contextlib.contextmanager
def _figures_on():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_PLOTS", "on")
        yield


@pytest.fixture(scope="session")
def figures_on():
    """``with figures_on():`` draws figures inside the block (the session turns them off,
    ``HARNESS_PLOTS=off``, as they take seconds per job and change no number)."""
    return _figures_on
