"""Adversarial sweep of the command lines: every option at its extremes, bad files, faults.

Run from the repository root (``make sweep``; pytest runs a fast selection of these
cases in ``tests/adversarial/test_sweep.py``)::

    .venv/bin/python tests/adversarial/sweep.py [--jobs 2] [--only converge,train,...]

Every case runs ``python -m harness.<job>`` in a fresh folder and is classified:

* ``clean``: exit 2 or 1 (130 for Ctrl-C, 143 for SIGTERM) with exactly one line (warnings
  aside), or exit 0 with complete, finite results and no wrong verdict;
* ``traceback``: a traceback, ``internal error``, a crash by signal, or more than one
  error line;
* ``hang``: still running at the timeout;
* ``silent-wrong``: exit 0 with NaN/missing numbers, only all-zero kernels, or our
  own (correct) analytic kernel judged ``inconsistent``;
* ``lost``: after a fault and a rerun, finished networks are gone or the numbers
  differ from an uninterrupted run.

It prints one line per case and the tally (tried / clean / traceback / hang /
silent wrong / lost). Widths, seeds and inputs are tiny, so the whole sweep takes a
few minutes on two cores.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CLASSES = ("clean", "traceback", "hang", "silent-wrong", "lost")

CONVERGE = ["--widths", "8,16", "--seeds", "2", "--blocks", "1", "--n-inputs", "4",
            "--input-dim", "2", "--candidate", "none", "--max-seeds", "8", "--quiet"]  # fmt: skip
TRAIN = ["--widths", "8,16", "--seeds", "1", "--blocks", "1", "--n-train", "4", "--n-test", "3",
         "--input-dim", "2", "--records", "4", "--quiet"]  # fmt: skip
BENCH = ["--widths", "8", "--n-inputs", "3", "--seeds", "2", "--blocks", "1", "--repeats", "1",
         "--analytic-n", "8"]  # fmt: skip

INTS = ["0", "-1", "1", "3.5", "abc", "", "1e3", "99999999999999999999", "0x10"]
FLOATS = ["0", "-1", "nan", "inf", "-inf", "1e308", "1e-308", "abc", ""]
WIDTHS = ["0", "-8", "8..4", "abc", "", "1..1", "2147483648", "8,8", "16,8", "1,2",
          "8..99999999999", "1e3", " 8 , 16 "]  # fmt: skip


@dataclasses.dataclass
class Case:
    """One command line, how to prepare for it and how to judge its outputs."""

    name: str
    job: str
    argv: list[str]
    env: dict = dataclasses.field(default_factory=dict)
    setup: Callable | None = None  # setup(folder) -> extra argv or None
    fault: Callable | None = None  # fault(folder, argv, env) -> (rc, out, err) of the fault run
    shell_suffix: str = ""  # e.g. "| head -1" or a ulimit prefix via env


@dataclasses.dataclass
class Outcome:
    case: Case
    kind: str
    rc: int | None
    detail: str
    seconds: float


def _env(extra: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(name, None)
    env.update(extra)
    return env


def _command(job: str, argv: list[str]) -> list[str]:
    return [PYTHON, "-m", f"harness.{job}", *argv]


def _run(job: str, argv: list[str], env: dict, timeout: float, cwd: Path = ROOT, shell=("", "")):
    """``(rc, stdout, stderr, timed_out)`` of ``python -m harness.<job> argv``.

    ``shell = (before, after)`` runs it inside a bash command line between the two,
    e.g. ``("ulimit -f 64;", "")`` or ``("", "| head -1")``.
    """
    command = _command(job, argv)
    if any(shell):
        command = ["bash", "-c", " ".join([shell[0], shlex.join(command), shell[1]])]
    try:
        done = subprocess.run(
            command, cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=timeout
        )
        return done.returncode, done.stdout, done.stderr, False
    except subprocess.TimeoutExpired as expired:
        return None, expired.stdout or "", expired.stderr or "", True


def _error_lines(err: str) -> list[str]:
    return [
        line
        for line in err.splitlines()
        if line.strip()
        and not line.startswith("warning: ")
        and not line.startswith(("converge: ", "train: ", "bench: "))
    ]


def _judge_exit(rc, err: str, timed_out: bool) -> tuple[str, str] | None:
    """The class of a non-zero exit (``None`` for exit 0, which needs the outputs)."""
    if timed_out:
        return "hang", "timeout"
    if "Traceback" in err or "internal error" in err or "Check failure" in err:
        return "traceback", _last(err)
    if rc == 0:
        return None
    if rc not in (1, 2, 130, 143):
        return "traceback", f"exit status {rc}: {_last(err)}"
    lines = _error_lines(err)
    expected = {130: "interrupted", 143: "terminated"}.get(rc, "error: ")
    if len(lines) != 1 or not lines[0].startswith(expected):
        return "traceback", f"{len(lines)} error lines: {_last(err)}"
    return "clean", lines[0][:150]


def _last(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    return lines[-1][:150] if lines else ""


def _finite(values) -> bool:
    array = np.asarray(values, dtype=object).ravel()
    return all(v is not None and np.isfinite(float(v)) for v in array)


def _complete_results(folder: Path) -> tuple[dict | None, str]:
    """``(results.json, "")`` of a completed run, or ``(None, why its exit 0 is wrong)``."""
    try:
        results = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError) as error:
        return None, f"exit 0 without results.json ({error})"
    if results.get("status") != "complete" or not (folder / "report.md").exists():
        return None, "exit 0 with an incomplete run"
    return results, ""


def _judge_converge(folder: Path) -> tuple[str, str]:
    results, wrong = _complete_results(folder)
    if results is None:
        return "silent-wrong", wrong
    for kernel in ("nngp", "ntk"):
        entry = results["kernels"][kernel]
        if entry.get("outcome") == "inconsistent":
            return "silent-wrong", f"our analytic {kernel} judged inconsistent"
        if not _finite(entry["rel_err_per_seed"]):
            return "silent-wrong", f"{kernel} errors hold NaN/null"
    nonzero = False
    for unit in (folder / "units").glob("*.npz"):
        with np.load(unit) as data:
            for name in data.files:
                if name == "__unit__":  # the unit's identity (JSON text)
                    continue
                if not np.all(np.isfinite(data[name])):
                    return "silent-wrong", f"{unit.name}:{name} is not finite"
                nonzero = nonzero or bool(np.any(data[name]))
    # One network's kernel may be exactly zero (width 1: a dead ReLU); all of them may not.
    if not nonzero:
        return "silent-wrong", "every stored kernel is zero"
    return "clean", "complete"


def _judge_train(folder: Path) -> tuple[str, str]:
    results, wrong = _complete_results(folder)
    if results is None:
        return "silent-wrong", wrong
    if not _finite(results["kernel_drift"]["mean"]):
        return "silent-wrong", "kernel drift holds NaN/null"
    return "clean", "complete"


def _judge_bench(folder: Path) -> tuple[str, str]:
    try:
        result = json.loads((folder / "bench.json").read_text())
    except (OSError, ValueError) as error:
        return "silent-wrong", f"exit 0 without its JSON ({error})"
    for row in result["rows"]:
        if not row["ntk_factored_s"] > 0 or not row["ntk_speedup_vs_nt"] > 0:
            return "silent-wrong", "a timing is not positive"
    return "clean", "complete"


JUDGES = {"converge": _judge_converge, "train": _judge_train, "bench": _judge_bench}


def _out_argv(job: str, folder: Path) -> list[str]:
    if job == "bench":
        return ["--json", str(folder / "bench.json")]
    return ["--out", str(folder / "out")]


def run_case(case: Case, timeout: float) -> Outcome:
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sweep-") as tmp:
        folder = Path(tmp)
        argv = list(case.argv)
        if case.setup is not None:
            argv = argv + (case.setup(folder) or [])
        if not any(a in ("--out", "--json") for a in argv):
            argv = argv + _out_argv(case.job, folder)
        env = {**case.env, "PYTHONPATH": f"{ROOT}{os.pathsep}{folder}"}
        if case.fault is not None:
            kind, detail = case.fault(case.job, folder, argv, env, timeout)
            return Outcome(case, kind, None, detail, time.monotonic() - start)
        rc, _, err, timed_out = _run(case.job, argv, env, timeout)
        judged = _judge_exit(rc, err, timed_out)
        if judged is None and case.job not in JUDGES:
            judged = "silent-wrong", "exit 0 where a refusal was expected"
        if judged is None:
            out = folder / "out" if case.job != "bench" else folder
            judged = JUDGES[case.job](out)
        return Outcome(case, judged[0], rc, judged[1], time.monotonic() - start)


# -- cases ---------------------------------------------------------------------------------


def option_cases(job: str, base: list[str], options: dict[str, list[str]]) -> list[Case]:
    cases = []
    for option, values in options.items():
        for value in values:
            argv = _replace(base, option, value)
            cases.append(Case(f"{job} {option} {value!r}", job, argv))
    return cases


def _replace(base: list[str], option: str, value: str) -> list[str]:
    argv = list(base)
    if option in argv:
        argv[argv.index(option) + 1] = value
        return argv
    return [*argv, option, value]


def _without(base: list[str], *options: str) -> list[str]:
    argv = []
    skip = False
    for item in base:
        if skip:
            skip = False
            continue
        if item in options:
            skip = True
            continue
        argv.append(item)
    return argv


def _saver(name: str, make: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def setup(folder: Path) -> list[str]:
        path = folder / name
        make(path)
        return ["--inputs", str(path)]

    return setup


def _npy(array):
    return lambda path: np.save(path, array)


def _bytes(data: bytes):
    return lambda path: path.write_bytes(data)


RNG = np.random.default_rng(7)
ROWS = RNG.standard_normal((8, 2))


def _npz(path: Path):
    with open(path, "wb") as handle:
        np.savez(handle, x=ROWS)


def _fifo(path: Path):
    os.mkfifo(path)


def _truncated(path: Path):
    np.save(path, ROWS)
    path.write_bytes(path.read_bytes()[:-16])


def input_file_cases(job: str, base: list[str]) -> list[Case]:
    base = _without(base, "--n-inputs", "--input-dim")
    files = {
        "empty": _bytes(b""),
        "text": _bytes(b"1 2\n3 4\n"),
        "npz": _npz,
        "pickled objects": _npy(np.array([[1, None]] * 8, dtype=object)),
        "complex": _npy(ROWS.astype(complex)),
        "bool": _npy(ROWS > 0),
        "1-D": _npy(ROWS[:, 0]),
        "3-D": _npy(ROWS[None]),
        "one row": _npy(ROWS[:1]),
        "zero columns": _npy(np.zeros((8, 0))),
        "NaN": _npy(np.where(np.eye(8, 2, dtype=bool), np.nan, ROWS)),
        "Inf": _npy(np.where(np.eye(8, 2, dtype=bool), np.inf, ROWS)),
        "all zeros": _npy(np.zeros((8, 2))),
        "x1e200": _npy(ROWS * 1e200),
        "x1e-200": _npy(ROWS * 1e-200),
        "x1e25": _npy(ROWS * 1e25),
        "duplicate rows": _npy(np.repeat(ROWS[:1], 8, axis=0)),
        "int64": _npy((ROWS * 10).astype(np.int64)),
        "float16": _npy(ROWS.astype(np.float16)),
        "uint8": _npy((np.abs(ROWS) * 10).astype(np.uint8)),
        "truncated": _truncated,
        "fifo": _fifo,
        "folder": lambda path: path.mkdir(),
    }
    cases = [
        Case(f"{job} --inputs {name}", job, base, setup=_saver("x.npy", make))
        for name, make in files.items()
    ]
    cases.append(Case(f"{job} --inputs missing", job, [*base, "--inputs", "/nonexistent.npy"]))
    cases.append(Case(f"{job} --inputs /dev/zero", job, [*base, "--inputs", "/dev/zero"]))
    cases.append(
        Case(
            f"{job} --inputs x1e-25 --b-std 0",
            job,
            _replace(base, "--b-std", "0"),
            setup=_saver("x.npy", _npy(ROWS * 1e-25)),
        )
    )
    return cases


def _out_file(folder: Path) -> list[str]:
    (folder / "file").write_text("keep me")
    return ["--out", str(folder / "file")]


def _out_under_file(folder: Path) -> list[str]:
    (folder / "file").write_text("keep me")
    return ["--out", str(folder / "file" / "sub")]


def out_cases(job: str, base: list[str]) -> list[Case]:
    return [
        Case(f"{job} --out ''", job, [*base, "--out", ""]),
        Case(f"{job} --out /dev/null", job, [*base, "--out", "/dev/null"]),
        Case(f"{job} --out /proc/sweep", job, [*base, "--out", "/proc/sweep"]),
        Case(f"{job} --out <file>", job, base, setup=_out_file),
        Case(f"{job} --out <file>/sub", job, base, setup=_out_under_file),
    ]


def _candidate_module(body: str):
    def setup(folder: Path) -> list[str]:
        (folder / "sweep_formula.py").write_text(
            "import sys\nimport numpy as np\nimport analytic\n\n" + body
        )
        return []

    return setup


CANDIDATE_BODIES = {
    "in-place": "def f(xs, L, W, b):\n    xs /= 2\n    return analytic.rmlp_ntk(xs, L, W, b)\n",
    "complex": "def f(xs, L, W, b):\n    return analytic.rmlp_ntk(xs, L, W, b) * 1j\n",
    "sys.exit(0)": "def f(xs, L, W, b):\n    sys.exit(0)\n",
    "sys.exit('bye')": "def f(xs, L, W, b):\n    sys.exit('bye')\n",
    "zeros": "def f(xs, L, W, b):\n    return np.zeros((len(xs), len(xs)))\n",
    "1e300": "def f(xs, L, W, b):\n    return np.full((len(xs), len(xs)), 1e300)\n",
    "NaN": "def f(xs, L, W, b):\n    return np.full((len(xs), len(xs)), np.nan)\n",
    "wrong shape": "def f(xs, L, W, b):\n    return np.eye(3)\n",
    "None": "def f(xs, L, W, b):\n    return None\n",
    "string": "def f(xs, L, W, b):\n    return 'kernel'\n",
    "raises": "def f(xs, L, W, b):\n    raise RuntimeError('no')\n",
    "raising property": (
        "class R:\n    ntk = np.eye(4)\n    @property\n    def nngp(self):\n"
        "        raise ValueError('no')\n\ndef f(xs, L, W, b):\n    return R()\n"
    ),
    "triple": "def f(xs, L, W, b):\n    return (1, 2, 3)\n",
    "dict without keys": "def f(xs, L, W, b):\n    return {'a': 1}\n",
    "import error": "raise ImportError('broken module')\ndef f(xs, L, W, b):\n    pass\n",
    "exit on import": "sys.exit(3)\n",
    "syntax error": "def f(:\n",
    "correct": "def f(xs, L, W, b):\n    return analytic.rmlp_kernels(xs, num_res_blocks=L, "
    "W_std=W, b_std=b)\n",
}


def candidate_cases() -> list[Case]:
    base = _without(CONVERGE, "--candidate")
    cases = [
        Case(
            f"converge --candidate {name}",
            "converge",
            [*base, "--candidate", "sweep_formula:f"],
            setup=_candidate_module(body),
        )
        for name, body in CANDIDATE_BODIES.items()
    ]
    for spec in ("", "nocolon", ":f", "math:", "math:nope", "math:pi", "os:getcwd", "seed"):
        cases.append(
            Case(f"converge --candidate {spec!r}", "converge", [*base, "--candidate", spec])
        )
    return cases


def env_cases() -> list[Case]:
    coordinator = {"JAX_COORDINATOR_ADDRESS": "127.0.0.1:1"}
    return [
        Case("converge env: coordinator only", "converge", CONVERGE, env=coordinator),
        Case(
            "converge env: JAX_NUM_PROCESSES=abc",
            "converge",
            CONVERGE,
            env={**coordinator, "JAX_NUM_PROCESSES": "abc", "JAX_PROCESS_ID": "0"},
        ),
        Case(
            "converge env: JAX_PROCESS_ID=5 of 2",
            "converge",
            CONVERGE,
            env={**coordinator, "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "5"},
        ),
        Case(
            "converge env: unreachable coordinator",
            "converge",
            CONVERGE,
            env={
                **coordinator,
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": "1",
                "HARNESS_DISTRIBUTED_TIMEOUT": "3",
            },
        ),
        Case(
            "converge env: peers never join",
            "converge",
            CONVERGE,
            env={
                "JAX_COORDINATOR_ADDRESS": "127.0.0.1:47613",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": "0",
                "HARNESS_DISTRIBUTED_TIMEOUT": "3",
            },
        ),
        Case(
            "converge env: bad host",
            "converge",
            CONVERGE,
            env={
                "JAX_COORDINATOR_ADDRESS": "no.such.host.invalid:1234",
                "JAX_NUM_PROCESSES": "2",
                "JAX_PROCESS_ID": "1",
            },
        ),
        Case(
            "converge env: JAX_NUM_PROCESSES only",
            "converge",
            CONVERGE,
            env={"JAX_NUM_PROCESSES": "2"},
        ),
        Case("converge env: JAX_PLATFORMS=gpu", "converge", CONVERGE, env={"JAX_PLATFORMS": "gpu"}),
        Case(
            "converge env: 3 host devices",
            "converge",
            CONVERGE,
            env={"XLA_FLAGS": "--xla_force_host_platform_device_count=3"},
        ),
    ]


# -- faults: results must survive -------------------------------------------------------------


_BASELINES: dict = {}
_BASELINE_LOCK = threading.Lock()


def _baseline(job: str, argv: list[str], timeout: float) -> dict:
    key = (job, tuple(argv))
    with _BASELINE_LOCK:
        return _BASELINES[key] if key in _BASELINES else _make_baseline(key, job, argv, timeout)


def _make_baseline(key, job: str, argv: list[str], timeout: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="sweep-baseline-"))
    rc, _, err, _ = _run(job, [*argv, "--out", str(folder / "out")], {}, timeout)
    if rc != 0:
        raise RuntimeError(f"baseline {job} failed: {err[-500:]}")
    _BASELINES[key] = _numbers(job, folder / "out")
    shutil.rmtree(folder, ignore_errors=True)
    return _BASELINES[key]


def _numbers(job: str, out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())
    if job == "converge":
        return {"kernels": results["kernels"], "candidates": results["candidates"]}
    return {"kernel_drift": results["kernel_drift"], "function_gap": results["function_gap"]}


def _units(out: Path) -> set[str]:
    return {p.name for p in (out / "units").glob("*.npz")} if (out / "units").exists() else set()


def _rerun_and_compare(job, argv, out: Path, before: set[str], timeout) -> tuple[str, str]:
    rc, _, err, timed_out = _run(job, argv, {}, timeout)
    judged = _judge_exit(rc, err, timed_out)
    if judged is not None:
        return judged[0], f"rerun: {judged[1]}"
    missing = before - _units(out)
    if missing:
        return "lost", f"finished units gone: {sorted(missing)[:3]}"
    if not _same_as_uninterrupted(job, argv, out, timeout):
        return "lost", "numbers differ from an uninterrupted run"
    return "clean", f"resumed ({len(before)} units kept)"


def _same_as_uninterrupted(job, argv, out: Path, timeout) -> bool:
    """Compare with the cached uninterrupted run, and with a fresh one if the code changed."""
    base = [a for a in argv if a not in ("--out", str(out))]
    if _numbers(job, out) == _baseline(job, base, timeout):
        return True
    with _BASELINE_LOCK:
        _BASELINES.pop((job, tuple(base)), None)
    return _numbers(job, out) == _baseline(job, base, timeout)


def _start(job: str, argv: list[str], env: dict) -> subprocess.Popen:
    """``python -m harness.<job> argv`` started, its stdout discarded and stderr piped."""
    return subprocess.Popen(
        _command(job, argv),
        cwd=ROOT,
        env=_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_fault(sig: int, units_before_signal: int):
    def fault(job, folder, argv, env, timeout):
        out = folder / "out"
        process = _start(job, argv, env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if len(_units(out)) >= units_before_signal:
                process.send_signal(sig)
                break
            time.sleep(0.02)
        _, err = process.communicate(timeout=timeout)
        if sig in (signal.SIGINT, signal.SIGTERM):
            judged = _judge_exit(process.returncode, err, False)
            if judged and judged[0] != "clean" and process.returncode != 0:
                return judged
        elif "Traceback" in err:
            return "traceback", _last(err)
        return _rerun_and_compare(job, argv, out, _units(out), timeout)

    return fault


def _ulimit_fault(job, folder, argv, env, timeout):
    out = folder / "out"
    rc, _, err, timed_out = _run(job, argv, env, timeout, shell=("ulimit -f 64;", ""))
    judged = _judge_exit(rc, err, timed_out)
    if judged is not None and judged[0] != "clean":
        return judged
    return _rerun_and_compare(job, argv, out, _units(out), timeout)


def _concurrent_fault(job, folder, argv, env, timeout):
    out = folder / "out"
    first = _start("converge", argv, env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (out / "run.json").exists():
        time.sleep(0.02)
    other = _replace(argv, "--blocks", "2")
    rc, _, err, timed_out = _run("converge", [*other, "--force"], env, timeout)
    _, first_err = first.communicate(timeout=timeout)
    second = _judge_exit(rc, err, timed_out)
    if first.returncode != 0:
        return "traceback", f"the first run failed: {_last(first_err)}"
    if second is None:
        return "lost", "the second run was not refused"
    if second[0] != "clean":
        return second
    if not _same_as_uninterrupted("converge", argv, out, timeout):
        return "lost", "numbers differ from an uninterrupted run"
    return "clean", second[1]


def _damage_fault(damage: Callable[[Path], None]):
    def fault(job, folder, argv, env, timeout):
        out = folder / "out"
        rc, _, err, _ = _run(job, argv, env, timeout)
        if rc != 0:
            return "traceback", f"first run: {_last(err)}"
        before = _units(out)
        uninterrupted = _numbers(job, out)  # this very run is the reference
        damage(out)
        damaged = _units(out)
        rc, _, err, timed_out = _run(job, argv, env, timeout)
        judged = _judge_exit(rc, err, timed_out)
        if judged is not None:  # refused or failed: nothing may have been deleted
            if judged[0] == "clean" and not damaged <= _units(out):
                return "lost", f"a refused rerun deleted units: {judged[1]}"
            return judged
        if not before <= _units(out):
            return "lost", "a unit is gone"
        if _numbers(job, out) != uninterrupted:
            return "silent-wrong", "numbers differ after the damage was repaired"
        warned = "warning: " in err
        return "clean", "recomputed the damaged unit" if warned else "resumed"

    return fault


def _unit(out: Path) -> Path:
    return out / "units" / "w16_s1.npz"


DAMAGES = {
    "truncated unit": lambda out: _unit(out).write_bytes(_unit(out).read_bytes()[:100]),
    "zero-byte unit": lambda out: _unit(out).write_bytes(b""),
    "unit missing a key": lambda out: np.savez(_unit(out), nngp=np.eye(4)),
    "unit of wrong shape": lambda out: np.savez(_unit(out), nngp=np.eye(3), ntk=np.eye(3)),
    "NaN unit": lambda out: np.savez(_unit(out), nngp=np.eye(4), ntk=np.full((4, 4), np.nan)),
    "unit is a folder": lambda out: (_unit(out).unlink(), _unit(out).mkdir()),
    "stale temporary files": lambda out: (out / "units" / ".w8_s0.npz.1.x.tmp").write_bytes(b"x"),
    "run.json []": lambda out: (out / "run.json").write_text("[]"),
    "run.json 'hello'": lambda out: (out / "run.json").write_text('"hello"'),
    "run.json truncated": lambda out: (out / "run.json").write_text('{"kind": "conv'),
    "run.json binary": lambda out: (out / "run.json").write_bytes(b"\xff\xfe\x00garbage"),
    ".lock is a folder": lambda out: ((out / ".lock").unlink(), (out / ".lock").mkdir()),
}


def fault_cases() -> list[Case]:
    cases = [
        Case("converge kill -9 mid-run", "converge", CONVERGE, fault=_signal_fault(9, 1)),
        Case("converge SIGINT mid-run", "converge", CONVERGE, fault=_signal_fault(2, 1)),
        Case("converge SIGTERM mid-run", "converge", CONVERGE, fault=_signal_fault(15, 1)),
        Case("train kill -9 mid-run", "train", TRAIN, fault=_signal_fault(9, 1)),
        Case("converge file-size limit", "converge", CONVERGE, fault=_ulimit_fault),
        Case("train file-size limit", "train", TRAIN, fault=_ulimit_fault),
        Case("converge concurrent --force", "converge", CONVERGE, fault=_concurrent_fault),
    ]
    for name, damage in DAMAGES.items():
        cases.append(Case(f"converge {name}", "converge", CONVERGE, fault=_damage_fault(damage)))
    cases.append(Case("converge | head -1", "converge", [a for a in CONVERGE if a != "--quiet"],
                      fault=_pipe_fault))  # fmt: skip
    cases.append(
        Case(
            "converge inputs by two paths",
            "converge",
            _without(CONVERGE, "--n-inputs", "--input-dim"),
            fault=_two_paths_fault,
        )
    )
    return cases  # fmt: skip


def _pipe_fault(job, folder, argv, env, timeout):
    _, _, err, timed_out = _run("converge", argv, env, timeout, shell=("", "| head -1"))
    if timed_out:
        return "hang", "timeout"
    if "Traceback" in err or "BrokenPipe" in err:
        return "traceback", _last(err)
    return _judge_converge(folder / "out")


def _two_paths_fault(job, folder, argv, env, timeout):
    np.save(folder / "x.npy", ROWS)
    out = folder / "out"
    rc, _, err, timed_out = _run("converge", [*argv, "--inputs", "x.npy"], env, timeout, cwd=folder)
    if rc != 0:
        return ("hang", "timeout") if timed_out else ("traceback", _last(err))
    rc, _, err, timed_out = _run("converge", [*argv, "--inputs", str(folder / "x.npy")], env,
                                 timeout)  # fmt: skip
    judged = _judge_exit(rc, err, timed_out)
    if judged is not None:
        return judged[0], f"refused: {judged[1]}"
    computed = json.loads((out / "results.json").read_text())["timing"]["networks_computed"]
    return ("clean", "resumed") if computed == 0 else ("lost", f"recomputed {computed}")


# -- start-up: options typed at their defaults, standard streams, signals, shadowing ------------


def _typed_default_fault(option_values: dict):
    """Run with options typed at values equal to their defaults; each must be in the config."""

    def fault(job, folder, argv, env, timeout):
        rc, _, err, timed_out = _run(job, argv, env, timeout)
        judged = _judge_exit(rc, err, timed_out)
        if judged is not None:
            return judged
        kind, detail = JUDGES[job](folder / "out")
        if kind != "clean":
            return kind, detail
        config = json.loads((folder / "out" / "results.json").read_text())["config"]
        for field, value in option_values.items():
            if config.get(field) != value:
                return "silent-wrong", f"{field} is {config.get(field)!r}, typed {value!r}"
        return "clean", "typed values honoured"

    return fault


def _stream_fault(redirect: str = "", env_extra: dict | None = None):
    """A run whose stderr is redirected (``2>&-``, ``2>/dev/full``) or whose streams are ASCII:
    it must finish with its results, the progress and banner printed (no ``--quiet``)."""

    def fault(job, folder, argv, env, timeout):
        argv = [a for a in argv if a != "--quiet"]
        shell = ("", redirect) if redirect else ("", "")
        rc, _, err, timed_out = _run(job, argv, {**env, **(env_extra or {})}, timeout, shell=shell)
        judged = _judge_exit(rc, err, timed_out)
        if judged is not None:
            return judged
        return JUDGES[job](folder / "out")

    return fault


def _startup_signal_fault(sig: int, status: int, after: float = 0.5):
    """A signal while the modules load (``import harness`` takes seconds): one line, ``status``."""

    def fault(job, folder, argv, env, timeout):
        process = _start(job, argv, env)
        time.sleep(after)
        process.send_signal(sig)
        _, err = process.communicate(timeout=timeout)
        if process.returncode == 0:
            return "silent-wrong", "exit 0 although signalled"
        judged = _judge_exit(process.returncode, err, False)
        if judged[0] == "clean" and process.returncode != status:
            return "traceback", f"exit status {process.returncode}, not {status}: {judged[1]}"
        return judged

    return fault


def _shadow_fault(name: str):
    """``name`` (e.g. ``models.py``) in the current folder shadows a package of the repository."""

    def fault(job, folder, argv, env, timeout):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("shadowing = True\n")
        rc, _, err, timed_out = _run(job, argv, env, timeout, cwd=folder)
        if name == "harness.py":  # Python imports it before any of our code: its own one line
            lines = _error_lines(err)
            if rc == 1 and len(lines) == 1 and "'harness'" in lines[0]:
                return "clean", "Python's own line: " + lines[0][-80:]
        judged = _judge_exit(rc, err, timed_out)
        if judged is None:
            return "silent-wrong", "ran with a shadowed package"
        shown = name.split("/")[0]
        if judged[0] == "clean" and (rc != 2 or shown not in judged[1]):
            return "traceback", f"exit status {rc}: {judged[1]}"
        return judged

    return fault


def startup_cases() -> list[Case]:
    """Issue 17's classes at the command-line layer (symlinked, cross-job and swapped-unit
    folders are in :func:`folder_cases`)."""
    typed = {"tolerance": 0.01, "target_error": 0.05}
    cases = [
        Case(
            "converge --target-error 0.05 --tolerance 0.01 (the default tolerance, typed)",
            "converge",
            [*CONVERGE, "--target-error", "0.05", "--tolerance", "0.01"],
            fault=_typed_default_fault(typed),
        ),
        Case("calibrate --configs ','", "calibrate", ["--quick", "--configs", ","]),
        Case("calibrate --configs ''", "calibrate", ["--quick", "--configs", ""]),
        Case("bench --json <x>.md", "bench", BENCH, setup=lambda f: ["--json", str(f / "b.md")]),
    ]
    for job, base in (("converge", CONVERGE), ("train", TRAIN)):
        cases += [
            Case(f"{job} 2>&- (closed stderr)", job, base, fault=_stream_fault("2>&-")),
            Case(f"{job} 2>/dev/full", job, base, fault=_stream_fault("2>/dev/full")),
            Case(
                f"{job} PYTHONIOENCODING=ascii",
                job,
                base,
                fault=_stream_fault(env_extra={"PYTHONIOENCODING": "ascii"}),
            ),
        ]
    for job, base in (("converge", CONVERGE), ("train", TRAIN), ("bench", BENCH)):
        cases += [
            Case(f"{job} SIGINT at start-up", job, base, fault=_startup_signal_fault(2, 130)),
            Case(f"{job} SIGTERM at start-up", job, base, fault=_startup_signal_fault(15, 143)),
        ]
    for name in ("models.py", "analytic.py", "models/__init__.py", "harness.py"):
        cases.append(Case(f"converge ./{name}", "converge", CONVERGE, fault=_shadow_fault(name)))
    cases.append(Case("calibrate ./analytic.py", "calibrate", ["--quick"],
                      fault=_shadow_fault("analytic.py")))  # fmt: skip
    return cases


# -- issue 17: symlinked folders, cross-job output folders, swapped units ----------------------


def _snapshot(folder: Path) -> dict:
    """Every file's bytes under ``folder`` (the lock file aside)."""
    files = (p for p in folder.rglob("*") if p.is_file() and p.name != ".lock")
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


#: Results of each kind of job, as the committed reports hold them (no units).
_FOREIGN = {
    "converge": {"run.json": '{"kind": "converge", "fingerprint": "0", "config": {}}',
                 "results.json": '{"status": "complete"}', "report.md": "# converge\n"},
    "train": {"run.json": '{"kind": "train", "fingerprint": "0", "config": {}}',
              "results.json": '{"status": "complete"}', "report.md": "# train\n"},
    "calibrate": {"records.csv.gz": "", "results.json": "{}", "report.md": "# calibrate\n"},
    "bench": {"cpu_w8.json": '{"rows": []}', "cpu_w8.md": "# bench\n"},
}  # fmt: skip


def _cross_job_fault(kind: str, *, force: bool = False):
    """The job run into a folder of ``kind``'s results: refused, exit 2, the kind named, and
    nothing in that folder changed."""

    def fault(job, folder, argv, env, timeout):
        other = folder / f"{kind}-folder"
        other.mkdir()
        for name, text in _FOREIGN[kind].items():
            (other / name).write_text(text)
        before = _snapshot(other)
        option = "--json" if job == "bench" else "--out"
        target = other / "results.json" if job == "bench" else other
        argv = _replace(argv, option, str(target)) + (["--force"] if force else [])
        rc, _, err, timed_out = _run(job, argv, env, timeout)
        judged = _judge_exit(rc, err, timed_out)
        if _snapshot(other) != before:
            return "lost", f"the {kind} folder's files changed (exit {rc})"
        if judged is None:
            return "silent-wrong", f"exit 0: wrote into a {kind} folder"
        if judged[0] == "clean" and (rc != 2 or f"{kind} folder" not in judged[1]):
            return "silent-wrong", f"exit {rc} without naming the {kind} folder: {judged[1]}"
        return judged

    return fault


def _linked_units_fault(job, folder, argv, env, timeout):
    """``out/units`` links to scratch storage; ``--force`` with another config must empty it."""
    out, scratch = folder / "out", folder / "scratch"
    scratch.mkdir()
    out.mkdir()
    (out / "units").symlink_to(scratch)
    rc, _, err, _ = _run(job, argv, env, timeout)
    if rc != 0:
        return "traceback", f"first run: {_last(err)}"
    old = {p.name: p.read_bytes() for p in scratch.glob("*.npz")}
    rc, _, err, timed_out = _run(job, [*_replace(argv, "--w-std", "1.2"), "--force"], env, timeout)
    judged = _judge_exit(rc, err, timed_out)
    if judged is not None:
        return judged
    if not (out / "units").is_symlink():
        return "lost", "units/ is no longer the link to scratch storage"
    kept = [p.name for p in scratch.glob("*.npz") if old.get(p.name) == p.read_bytes()]
    if kept:
        return "silent-wrong", f"--force kept the old config's networks: {sorted(kept)[:3]}"
    return JUDGES[job](out)


def _linked_out_fault(job, folder, argv, env, timeout):
    """``--out`` is a link to the real folder: the rerun resumes through it."""
    real = folder / "real"
    real.mkdir()
    (folder / "out").symlink_to(real)
    rc, _, err, _ = _run(job, argv, env, timeout)
    if rc != 0:
        return "traceback", f"first run: {_last(err)}"
    return _rerun_and_compare(job, argv, folder / "out", _units(real), timeout)


def _dangling_units(folder: Path) -> list[str]:
    (folder / "out").mkdir()
    (folder / "out" / "units").symlink_to(folder / "unmounted")
    return []


def _swap(source: str, target: str = "w16_s1"):
    def damage(out: Path):
        units = out / "units"
        (units / f"{target}.npz").write_bytes((units / f"{source}.npz").read_bytes())

    return damage


def folder_cases() -> list[Case]:
    """Issue 17: ``--out`` folders that are links, belong to another job, or hold swapped units."""
    cases = [
        Case("converge --force, units/ linked to scratch", "converge", CONVERGE,
             fault=_linked_units_fault),
        Case("train --force, units/ linked to scratch", "train", TRAIN, fault=_linked_units_fault),
        Case("converge --out is a link", "converge", CONVERGE, fault=_linked_out_fault),
        Case("converge units/ links to nothing", "converge", CONVERGE, setup=_dangling_units),
        Case("converge unit copied over another seed", "converge", CONVERGE,
             fault=_damage_fault(_swap("w16_s0"))),
        Case("converge unit copied over another width", "converge", CONVERGE,
             fault=_damage_fault(_swap("w8_s1"))),
        Case("train unit copied over another seed", "train", _replace(TRAIN, "--seeds", "2"),
             fault=_damage_fault(_swap("w16_s0"))),
    ]  # fmt: skip
    crossings = [
        ("converge", CONVERGE, "train", False),
        ("converge", CONVERGE, "train", True),
        ("converge", CONVERGE, "calibrate", True),
        ("converge", CONVERGE, "bench", True),
        ("train", TRAIN, "converge", False),
        ("train", TRAIN, "converge", True),
        ("train", TRAIN, "calibrate", True),
        ("calibrate", ["--quick"], "converge", False),
        ("calibrate", ["--quick"], "train", False),
        ("calibrate", ["--quick"], "bench", False),
        ("bench", BENCH, "converge", False),
        ("bench", BENCH, "calibrate", False),
    ]
    for job, base, kind, force in crossings:
        name = f"{job} {'--force ' if force else ''}into a {kind} folder"
        cases.append(Case(name, job, base, fault=_cross_job_fault(kind, force=force)))
    return cases


# -- the sweep ---------------------------------------------------------------------------------


def all_cases() -> dict[str, list[Case]]:
    converge_options = {
        **{o: INTS for o in ("--seeds", "--blocks", "--n-inputs", "--input-dim",
                             "--flax-max-width", "--max-seeds")},
        **{o: FLOATS for o in ("--w-std", "--b-std", "--tolerance", "--target-error")},
        "--widths": WIDTHS,
        "--sampler": ["", "bogus", "flax", "conditional", "auto"],
        "--ntk-method": ["", "bogus", "jacobian", "nt"],
        "--precision": ["", "bogus", "high", "highest"],
    }  # fmt: skip
    train_options = {
        **{o: INTS for o in ("--seeds", "--blocks", "--n-train", "--n-test", "--input-dim",
                             "--steps", "--records")},
        **{o: FLOATS for o in ("--w-std", "--b-std", "--lr-fraction", "--loss-ratio")},
        "--widths": WIDTHS,
        "--target": ["", "bogus", "nngp"],
        "--ntk-method": ["bogus", "jacobian"],
        "--precision": ["bogus", "highest"],
    }  # fmt: skip
    bench_options = {
        **{o: ["0", "-1", "abc", "99999999999999999999"] for o in
           ("--n-inputs", "--seeds", "--blocks", "--repeats", "--analytic-n")},
        "--widths": ["0", "abc", "2147483648", "4194304"],
        "--precision": ["bogus"],
    }  # fmt: skip
    return {
        "converge": option_cases("converge", CONVERGE, converge_options),
        "train": option_cases("train", TRAIN, train_options),
        "bench": [
            *option_cases("bench", BENCH, bench_options),
            Case("bench --json <file>/x.json", "bench", BENCH, setup=_json_under_file),
            Case("bench --json <folder>", "bench", BENCH, setup=lambda f: ["--json", str(f)]),
        ],
        "files": input_file_cases("converge", CONVERGE) + input_file_cases("train", TRAIN),
        "out": out_cases("converge", CONVERGE) + out_cases("train", TRAIN),
        "candidates": candidate_cases(),
        "environment": env_cases(),
        "faults": fault_cases(),
        "startup": startup_cases(),
        "folders": folder_cases(),
    }


def _json_under_file(folder: Path) -> list[str]:
    (folder / "file").write_text("keep me")
    return ["--json", str(folder / "file" / "x.json")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--only", default="", help="comma-separated groups, e.g. files,faults")
    args = parser.parse_args()
    groups = all_cases()
    chosen = [g for g in args.only.split(",") if g] or list(groups)
    cases = [case for group in chosen for case in groups[group]]
    print(f"sweep: {len(cases)} cases in {', '.join(chosen)}", flush=True)
    tally = dict.fromkeys(CLASSES, 0)
    problems = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_case, case, args.timeout) for case in cases]
        for future in concurrent.futures.as_completed(futures):
            try:
                outcome = future.result()
            except Exception as error:  # the sweep's own failure: count it, keep going
                print(f"  sweep error: {type(error).__name__}: {error}", flush=True)
                continue
            tally[outcome.kind] += 1
            mark = "ok " if outcome.kind == "clean" else "BAD"
            print(
                f"{mark} {outcome.kind:12s} rc={outcome.rc!s:4s} {outcome.seconds:5.1f}s  "
                f"{outcome.case.name}: {outcome.detail}",
                flush=True,
            )
            if outcome.kind != "clean":
                problems.append(outcome)
    tried = sum(tally.values())
    print(
        f"\ntally: tried {tried} / clean {tally['clean']} / traceback {tally['traceback']} / "
        f"hang {tally['hang']} / silent wrong {tally['silent-wrong']} / lost {tally['lost']}"
    )
    for outcome in problems:
        print(f"  {outcome.kind}: {outcome.case.name}: {outcome.detail}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
