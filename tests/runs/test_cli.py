"""Command-line conventions (harness.runs._cli), input files and the preflight checks.

Every outcome is one line and an exit status: 2 for bad input, 1 for a fault while
running, 130 for Ctrl-C; never a traceback.
"""

import errno
import re
import subprocess
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from harness.runs import RunError
from harness.runs import UsageError
from harness.runs import check_float32_range
from harness.runs import check_run_memory
from harness.runs import is_out_of_memory
from harness.runs import load_inputs_file
from harness.runs import parse_widths
from harness.runs._cli import MAX_WIDTH


def test_widths_are_bounded():
    assert parse_widths("4194304") == (MAX_WIDTH,)
    assert parse_widths("2097152..4194304") == (2**21, 2**22)
    for text, message in (
        ("2147483648", r"wider than 4194304 \(2\*\*22\)"),
        ("8..99999999999999999999", "wider than 4194304"),
        ("9" * 5000, "is not a whole number"),
        ("8,-16", "-16 is not >= 1"),
        ("nan", "is not a whole number"),
        ("", "is not a list"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_widths(text)


def test_out_of_memory_is_recognised_in_every_spelling():
    for text in (
        "RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8 GB.",
        "CUDA_ERROR_OUT_OF_MEMORY: out of memory",
        "Out of memory",
    ):
        assert is_out_of_memory(RuntimeError(text))
    assert not is_out_of_memory(RuntimeError("INVALID_ARGUMENT: shapes differ"))


def _raising(error):
    def main(argv):
        raise error

    return main


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (UsageError("--seeds: 0 is not >= 1"), 2, "error: --seeds: 0 is not >= 1"),
        (RunError("the coordinator did not answer"), 1, "error: the coordinator did not answer"),
        (MemoryError("out of memory at width 8"), 1, "error: out of memory at width 8"),
        (
            OSError(errno.ENOSPC, "No space left on device", "/out/units/w8_s0.npz"),
            1,
            "error: No space left on device: /out/units/w8_s0.npz; completed results are kept",
        ),
        (
            RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8 GB."),
            1,
            "error: out of memory (RESOURCE_EXHAUSTED: Out of memory while trying to allocate "
            "8 GB.); completed results are kept",
        ),
        (
            KeyError("nngp"),
            1,
            "error: internal error: KeyError: 'nngp' (a bug; HARNESS_TRACEBACK=1 shows the "
            "traceback)",
        ),
    ],
)
def test_every_outcome_is_one_line_and_a_status(error, status, line, cli_exit):
    assert cli_exit(_raising(error), []) == (status, line)


def _script(tmp_path, body: str) -> Path:
    """A script that runs ``main`` (defined in ``body``) through ``run_cli``."""
    path = tmp_path / "job.py"
    path.write_text(
        "from harness.runs import run_cli\n\n" + textwrap.dedent(body) + "\nrun_cli(main)\n"
    )
    return path


_CTRL_C = """
import jax.numpy as jnp

def main(argv):
    jnp.ones(3).block_until_ready()  # XLA's threads are running
    raise KeyboardInterrupt
"""
_SIGTERM = """
import os
import signal

def main(argv):
    os.kill(os.getpid(), signal.SIGTERM)  # as a batch scheduler does
    raise AssertionError("not reached")
"""


@pytest.mark.parametrize(
    ("body", "status", "line"),
    [
        pytest.param(_CTRL_C, 130, "interrupted; completed results are kept", id="ctrl-c-130"),
        pytest.param(
            _SIGTERM, 143, "terminated (SIGTERM); completed results are kept", id="sigterm-143"
        ),
    ],
)
def test_ctrl_c_and_sigterm_end_with_their_status_and_no_traceback(
    tmp_path, run_python, body, status, line
):
    process = run_python(_script(tmp_path, body), timeout=120)
    assert process.returncode == status
    assert process.stderr.strip() == line


def test_closed_stdout_ends_quietly(tmp_path, start_python):
    script = _script(
        tmp_path,
        """
        def main(argv):
            for line in range(100000):
                print("line", line)
        """,
    )
    process = start_python(script, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    err = process.stderr.read()
    assert process.wait(timeout=60) == 1
    assert err == ""


def test_input_files_are_refused_precisely(tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "text.npy").write_text("1,2\n3,4\n")
    with open(tmp_path / "archive.npy", "wb") as handle:
        np.savez(handle, x=np.ones((2, 2)))
    np.save(tmp_path / "objects.npy", np.array([[1, None]], dtype=object))
    np.save(tmp_path / "complex.npy", np.ones((3, 2), complex))
    np.save(tmp_path / "bools.npy", np.ones((3, 2), bool))
    np.save(tmp_path / "good.npy", np.ones((3, 2)))
    (tmp_path / "torn.npy").write_bytes((tmp_path / "good.npy").read_bytes()[:-5])
    for name, message in (
        ("empty.npy", "it is empty (0 bytes)"),
        ("text.npy", "it is not a .npy file (it does not start with the NumPy format's magic"),
        ("archive.npy", "it is a .npz archive"),
        ("objects.npy", "holds Python objects (pickled), not numbers"),
        ("complex.npy", "holds complex numbers"),
        ("bools.npy", "does not hold a numeric array"),
        ("torn.npy", "cannot read"),
        ("missing.npy", "no such file"),
    ):
        with pytest.raises(UsageError, match=re.escape(message)):
            load_inputs_file(tmp_path / name)
    assert load_inputs_file(tmp_path / "good.npy").dtype == np.float64


def test_float32_range_of_the_kernels():
    xs = np.random.default_rng(0).standard_normal((5, 3))
    arch = {"num_res_blocks": 3, "W_std": 1.5, "b_std": 0.5}
    check_float32_range(xs, **arch)
    check_float32_range(xs * 1e-25, **arch)  # the biases keep the kernels near 1
    for scale, override, message in (
        (1.0, {"W_std": 1e-30}, "analytic NNGP reaches 1e-60"),
        (1e-25, {"b_std": 0.0}, "would underflow to zero"),
        (1e20, {}, "would overflow to Inf"),
        (1.0, {"num_res_blocks": 80}, "would overflow to Inf"),
        (0.0, {"b_std": 0.0}, "every input is zero and --b-std is 0"),
    ):
        with pytest.raises(UsageError, match=message):
            check_float32_range(xs * scale, **{**arch, **override})


def test_memory_estimate_refuses_what_cannot_fit():
    config = types.SimpleNamespace(widths=(256, 512), seeds=16, num_res_blocks=3)
    check_run_memory(config, n_inputs=32, input_dim=10, limit=2 * 1024**3)
    with pytest.raises(UsageError, match=r"16 seeds × 2 widths of 60000×60000 kernels are kept"):
        check_run_memory(config, n_inputs=60000, input_dim=10, limit=24 * 1024**3)
    one = types.SimpleNamespace(widths=(256,), seeds=1, num_res_blocks=3)
    with pytest.raises(UsageError, match=r"each 60000×60000 float64 kernel is 28.8 GB"):
        check_run_memory(one, n_inputs=60000, input_dim=10, limit=24 * 1024**3)
    with pytest.raises(UsageError, match="one network of the widest width with 3 blocks"):
        check_run_memory(
            types.SimpleNamespace(widths=(2**18,), seeds=1, num_res_blocks=3),
            n_inputs=32,
            input_dim=10,
            limit=24 * 1024**3,
        )
