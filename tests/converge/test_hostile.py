"""Hostile inputs and faults against ``python -m harness.converge``.

Every case must end in one of three ways: a one-line ``error: ...`` with exit
status 2 (bad input, nothing computed), one line with status 1 (a fault while
running, finished networks kept), or the correct result. Never a traceback, a
silent NaN or a wrong verdict, and never lost results.
"""

import errno
import json
import os
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import analytic
import harness.runs._atomic as atomic_module
import harness.runs._sharding as sharding
from analytic import Architecture
from harness.converge import main
from harness.converge._candidates import Candidate
from harness.converge._candidates import evaluate_candidate
from harness.converge._candidates import parse_candidates
from harness.runs import UsageError

OWN_INPUTS = ["--widths", "8,16", "--seeds", "2", "--blocks", "1", "--candidate", "none", "--quiet"]
TINY = [*OWN_INPUTS[:-1], "--n-inputs", "4", "--input-dim", "2", "--quiet"]


@pytest.fixture
def formulas(tmp_path, monkeypatch):
    """A module of hostile candidate formulas, importable as ``hostile_formulas``."""
    (tmp_path / "hostile_formulas.py").write_text(
        textwrap.dedent(
            """
            import sys

            import numpy as np

            import analytic


            def normalises_in_place(xs, num_res_blocks, W_std, b_std):
                xs /= np.linalg.norm(xs, axis=1, keepdims=True)
                return analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std)


            def complex_ntk(xs, num_res_blocks, W_std, b_std):
                return analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std) * (1 + 1j)


            def exits(xs, num_res_blocks, W_std, b_std):
                sys.exit(0)


            def zeros(xs, num_res_blocks, W_std, b_std):
                return np.zeros((len(xs), len(xs)))


            def huge(xs, num_res_blocks, W_std, b_std):
                return np.full((len(xs), len(xs)), 1e300)


            def nan(xs, num_res_blocks, W_std, b_std):
                return np.full((len(xs), len(xs)), np.nan)


            class Raising:
                ntk = np.eye(4)

                @property
                def nngp(self):
                    raise RuntimeError("no NNGP today")


            def raising_property(xs, num_res_blocks, W_std, b_std):
                return Raising()


            def masked(xs, num_res_blocks, W_std, b_std):
                ntk = analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std)
                return np.ma.masked_array(ntk, mask=np.eye(len(xs), dtype=bool))


            def nested_list(xs, num_res_blocks, W_std, b_std):
                return analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std).tolist()


            def ragged_rows(xs, num_res_blocks, W_std, b_std):
                return [[1.0] * (i + 1) for i in range(len(xs))]
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("normalises_in_place", "xs is read-only: copy it before changing it"),
        ("complex_ntk", "(NTK) is complex; a kernel is real"),
        ("exits", "called sys.exit(0)"),
        ("zeros", "(NTK) is all zeros"),
        ("huge", "(NTK) has entries up to 1e+300, outside 1e-150..1e+150"),
        ("nan", "(NTK) holds NaN or Inf"),
        ("raising_property", "reading its result raised RuntimeError: no NNGP today"),
        ("masked", "(NTK) is a masked array, whose mask would be lost; return a plain array"),
        (
            "nested_list",
            "returned a nested list of shape (4, 4), not an array; expected the NTK as a (4, 4) "
            "NumPy array, or a pair (nngp, ntk) of them",
        ),
        ("ragged_rows", "returned a nested list of 4 rows of unequal lengths, not an array"),
    ],
)
def test_hostile_candidates_are_refused_before_any_network(formulas, cli_exit, name, message):
    out = formulas / "out"
    argv = [*TINY[:-3], "--candidate", f"hostile_formulas:{name}", "--quiet", "--out", str(out)]
    code, line = cli_exit(main, argv, warnings=True)
    assert code == 2
    assert message in line
    assert not out.exists()


def test_candidate_properties_are_read_once(capsys):
    reads = {"nngp": 0, "ntk": 0}

    class Lazy:
        def __init__(self, xs):
            self.kernels = analytic.rmlp_kernels(xs, num_res_blocks=1, W_std=1.0, b_std=0.0)

        @property
        def nngp(self):
            reads["nngp"] += 1
            return self.kernels.nngp

        @property
        def ntk(self):
            reads["ntk"] += 1
            return self.kernels.ntk

    def lazy(xs, num_res_blocks, W_std, b_std):
        return Lazy(xs)

    xs = np.random.default_rng(0).standard_normal((4, 2))
    out = evaluate_candidate(Candidate("lazy", "lazy", lazy), xs, Architecture(1, 1.0, 0.0))
    assert set(out) == {"nngp", "ntk"}
    assert reads == {"nngp": 1, "ntk": 1}


def test_what_a_candidate_prints_goes_to_stderr_under_its_name(capsys):
    def chatty(xs, num_res_blocks, W_std, b_std):
        print("computing the NTK\nof 4 inputs")
        return analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std)

    def chatty_then_wrong(xs, num_res_blocks, W_std, b_std):
        print("almost there")
        return np.zeros((len(xs), len(xs)))

    xs = np.random.default_rng(0).standard_normal((4, 2))
    arch = Architecture(1, 1.0, 0.0)
    evaluate_candidate(Candidate("chatty", "mine:chatty", chatty), xs, arch)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["chatty: computing the NTK", "chatty: of 4 inputs"]
    candidate = Candidate("chatty_then_wrong", "mine:chatty_then_wrong", chatty_then_wrong)
    with pytest.raises(UsageError, match="is all zeros"):
        evaluate_candidate(candidate, xs, arch)
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "chatty_then_wrong: almost there\n")


def test_a_candidate_given_twice_is_refused(formulas):
    (formulas / "twice.py").write_text(
        "import analytic\n\n"
        "def ntk(xs, num_res_blocks, W_std, b_std):\n"
        "    return analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std)\n\n"
        "same_ntk = ntk\n"
    )
    for specs, message in (
        (["twice:ntk", "twice:ntk"], "--candidate: 'twice:ntk' is given twice"),
        (["twice:ntk", " twice:ntk "], "--candidate: 'twice:ntk' is given twice"),
        (["twice:ntk", "twice:same_ntk"], "'twice:same_ntk' is given twice (as 'twice:ntk')"),
        (["notebook", "seed"], "'seed' is given twice (as 'notebook')"),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            parse_candidates(specs)
    assert [c.name for c in parse_candidates(["twice:ntk", "notebook"])] == ["ntk", "notebook"]


@pytest.mark.slow  # one tiny converge run (compilation dominates)
def test_a_candidate_that_changes_folder_moves_neither_output_nor_headlines(
    tmp_path, monkeypatch, capsys
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "wanders.py").write_text(
        "import os\n\nimport analytic\n\n"
        "def ntk(xs, num_res_blocks, W_std, b_std):\n"
        f"    os.chdir({str(elsewhere)!r})\n"
        "    print('moved to', os.getcwd())\n"
        "    return analytic.rmlp_ntk(xs, num_res_blocks, W_std, b_std)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # restored after the test, whatever the candidate does
    argv = [*TINY[:-1], "--candidate", "wanders:ntk", "--out", "run"]  # TINY, not quiet
    assert main(argv) == 0
    assert (tmp_path / "run" / "results.json").is_file()
    assert (tmp_path / "run" / "report.md").is_file()
    assert list(elsewhere.iterdir()) == []
    captured = capsys.readouterr()
    assert "moved to" not in captured.out
    assert f"ntk: moved to {elsewhere}" in captured.err.splitlines()
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["candidates"]["ntk"]["spec"] == "wanders:ntk"


@pytest.mark.bad_arguments("converge-extreme")
def test_extreme_options_are_usage_errors(tmp_path, cli_exit, argv, message):
    code, line = cli_exit(main, [*TINY, "--out", str(tmp_path / "out"), *argv], warnings=True)
    assert code == 2
    assert message in line
    assert not (tmp_path / "out").exists()


def _save_inputs(path: Path, scale: float = 1.0) -> Path:
    np.save(path, np.random.default_rng(3).standard_normal((4, 2)) * scale)
    return path


def test_bad_input_files(tmp_path, cli_exit):
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_text("1 2\n3 4\n")
    with open(tmp_path / "archive.npy", "wb") as handle:
        np.savez(handle, x=np.ones((3, 2)))
    np.save(tmp_path / "objects.npy", np.array([[1, "a"], [2, "b"]], dtype=object))
    good = _save_inputs(tmp_path / "good.npy")
    (tmp_path / "short.npy").write_bytes(good.read_bytes()[:-8])
    (tmp_path / "folder.npy").mkdir()
    tiny = _save_inputs(tmp_path / "tiny.npy", 1e-25)
    zero = tmp_path / "zero.npy"
    np.save(zero, np.zeros((4, 2)))
    cases = [
        ("empty.npy", [], "it is empty (0 bytes)"),
        ("text.npy", [], "it is not a .npy file"),
        ("archive.npy", [], "it is a .npz archive"),
        ("objects.npy", [], "it holds Python objects (pickled), not numbers"),
        ("short.npy", [], "cannot read"),
        ("folder.npy", [], "it is a folder"),
        (tiny.name, ["--b-std", "0"], "would underflow to zero"),
        (zero.name, ["--b-std", "0"], "every input is zero and --b-std is 0"),
    ]
    for name, extra, message in cases:
        argv = [*OWN_INPUTS, "--inputs", str(tmp_path / name), "--out", str(tmp_path / "o"), *extra]
        code, line = cli_exit(main, argv, warnings=True)
        assert (code, message in line) == (2, True), (name, line)
        assert not (tmp_path / "o").exists()


def test_unusable_out(tmp_path, cli_exit, monkeypatch):
    (tmp_path / "file").write_text("mine")
    for out, message in (
        (tmp_path / "file", "is a file, not a folder"),
        (tmp_path / "file" / "sub", "is a file, so"),
    ):
        code, line = cli_exit(main, [*TINY, "--out", str(out)], warnings=True)
        assert (code, message in line) == (2, True), line
    assert (tmp_path / "file").read_text() == "mine"
    locked = tmp_path / "read-only"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)
    code, line = cli_exit(main, [*TINY, "--out", str(locked / "out")], warnings=True)
    assert code == 2
    assert "cannot write in" in line


@pytest.mark.parametrize("content", ["[]", '"hello"', '{"kind": "conv'])
def test_damaged_manifest_beside_units_is_one_line(tmp_path, cli_exit, content):
    out = tmp_path / "out"
    (out / "units").mkdir(parents=True)
    np.savez(out / "units" / "w8_s0.npz", nngp=np.eye(4), ntk=np.eye(4))
    (out / "run.json").write_text(content)
    code, line = cli_exit(main, [*TINY, "--out", str(out)], warnings=True)
    assert code == 2
    assert "run.json is damaged, so the 1 finished units" in line
    assert (out / "units" / "w8_s0.npz").exists()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"JAX_COORDINATOR_ADDRESS": "127.0.0.1:9"}, "JAX_NUM_PROCESSES is not set"),
        (
            {"JAX_COORDINATOR_ADDRESS": "127.0.0.1:9", "JAX_NUM_PROCESSES": "abc"},
            "JAX_NUM_PROCESSES: 'abc' is not a whole number",
        ),
    ],
)
def test_bad_distributed_environment(tmp_path, cli_exit, monkeypatch, environ, message):
    monkeypatch.setattr(sharding, "_initialized", False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code, line = cli_exit(main, [*TINY, "--out", str(tmp_path / "out")], warnings=True)
    assert code == 2
    assert message in line


def test_second_run_into_a_busy_folder_is_refused_even_with_force(tmp_path, cli_exit, held_store):
    with held_store(tmp_path / "out", {"other": 1}) as holder:
        code, line = cli_exit(
            main, [*TINY, "--out", str(tmp_path / "out"), "--force"], warnings=True
        )
    assert code == 2
    assert f"is in use by pid {holder.pid} on" in line
    assert json.loads((tmp_path / "out" / "run.json").read_text())["config"] == {"other": 1}


@pytest.mark.slow
def test_disk_full_keeps_finished_networks_and_exits_1(tmp_path, cli_exit, monkeypatch):
    real = atomic_module.atomic_write_bytes
    writes = []

    def filling(path, data):
        if Path(path).suffix == ".npz":
            writes.append(path)
            if len(writes) > 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(atomic_module, "atomic_write_bytes", filling)
    out = tmp_path / "out"
    code, line = cli_exit(main, [*TINY, "--out", str(out)], warnings=True)
    assert code == 1
    assert "No space left on device" in line
    assert "completed results are kept" in line
    assert sorted(p.name for p in (out / "units").glob("*.npz")) == ["w8_s0.npz", "w8_s1.npz"]
    monkeypatch.setattr(atomic_module, "atomic_write_bytes", real)
    assert main([*TINY, "--out", str(out)]) == 0  # the rerun resumes and completes
    assert len(list((out / "units").glob("*.npz"))) == 4


@pytest.mark.slow
def test_resume_after_damage_and_by_another_path(tmp_path, capsys, monkeypatch):
    inputs = _save_inputs(tmp_path / "x.npy")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main([*OWN_INPUTS, "--inputs", "x.npy", "--out", str(out)]) == 0
    before = json.loads((out / "results.json").read_text())
    unit = out / "units" / "w16_s1.npz"
    unit.write_bytes(unit.read_bytes()[:200])  # a torn copy, e.g. from a backup tool
    capsys.readouterr()
    # The same file by its absolute path resumes; only the damaged network is recomputed.
    assert main([*OWN_INPUTS, "--inputs", str(inputs), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {unit} is damaged (it does not load")
    after = json.loads((out / "results.json").read_text())
    assert after["timing"]["networks_computed"] == 1
    assert after["kernels"] == before["kernels"]
    assert len(list((out / "units" / "bad").glob("w16_s1.*.npz"))) == 1


@pytest.fixture
def converge_process(start_python):
    """``converge_process(out, *extra)``: the tiny run, not quiet, started in a new process."""

    def start(out: Path, *extra) -> subprocess.Popen:
        argv = [a for a in TINY if a != "--quiet"]
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        return start_python("-m", "harness.converge", *argv, "--out", out, *extra, **pipes)

    return start


@pytest.mark.slow
def test_ctrl_c_exits_130_cleanly_and_keeps_finished_networks(tmp_path, converge_process):
    out = tmp_path / "out"
    process = converge_process(out, "--widths", "8,16,32,64,128", "--seeds", "4")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if len(list(out.glob("units/*.npz"))) >= 2:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "interrupted; completed results are kept"
    assert len(list(out.glob("units/*.npz"))) >= 2
    assert not list(out.glob("units/.*.tmp"))


@pytest.mark.slow
def test_closed_stdout_ends_quietly(tmp_path, converge_process):
    process = converge_process(tmp_path / "out")
    process.stdout.readline()  # the banner
    process.stdout.close()  # the reader is gone, as after `| head -1`
    err = process.stderr.read()
    process.wait(timeout=120)
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert process.returncode in (0, 1)
    assert (tmp_path / "out" / "report.md").exists()  # the work itself completed
