"""Hostile inputs and faults against ``python -m harness.train``: one line and an exit status.

Bad input is exit status 2 and leaves ``--out`` untouched (a corrected rerun is never
refused because of it); a fault while running is exit status 1 and keeps finished
networks.
"""

import json

import numpy as np
import pytest

import harness.train._run as train_run
from harness.train import main
from harness.train._summary import _verdict
from harness.train._summary import measure_entry

OWN_INPUTS = ["--widths", "16", "--seeds", "1", "--blocks", "1", "--n-train", "4",
              "--n-test", "3", "--records", "4", "--quiet"]  # fmt: skip
TINY = [*OWN_INPUTS, "--input-dim", "2"]


@pytest.mark.bad_arguments("train-extreme")
def test_extreme_options_exit_2_and_touch_nothing(tmp_path, cli_exit, argv, message):
    code, line = cli_exit(main, [*TINY, "--out", str(tmp_path / "out"), *argv])
    assert code == 2
    assert message in line
    assert not (tmp_path / "out").exists()


def test_bad_input_files_exit_2_and_touch_nothing(tmp_path, cli_exit):
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "zeros.npy", np.zeros((7, 2)))
    rows = np.random.default_rng(1).standard_normal((7, 2))
    rows[:4] = 0
    np.save(tmp_path / "zero_train.npy", rows)
    for name, message in (
        ("empty.npy", "it is empty (0 bytes)"),
        ("zeros.npy", "every input is zero and --b-std is 0"),
        ("zero_train.npy", "every training input is zero and --b-std is 0"),
    ):
        argv = [*OWN_INPUTS, "--inputs", str(tmp_path / name), "--out", str(tmp_path / "out")]
        code, line = cli_exit(main, argv)
        assert (code, message in line) == (2, True), line
        assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_failed_run_does_not_block_the_corrected_rerun(tmp_path, cli_exit, monkeypatch):
    def diverging(config, problem, width, seed):
        raise FloatingPointError(f"width {width}, seed {seed}: outputs became non-finite")

    monkeypatch.setattr(train_run, "train_one_network", diverging)
    out = tmp_path / "out"
    code, line = cli_exit(main, [*TINY, "--out", str(out)])
    assert code == 1
    assert "width 16, seed 0" in line
    monkeypatch.undo()
    # Another config into the same folder: it holds no finished network, so no --force.
    assert main([*TINY, "--lr-fraction", "0.3", "--out", str(out)]) == 0
    assert json.loads((out / "run.json").read_text())["config"]["lr_fraction"] == 0.3


@pytest.mark.slow
def test_same_inputs_by_another_path_resume(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", np.random.default_rng(2).standard_normal((7, 2)))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main([*OWN_INPUTS, "--inputs", "x.npy", "--out", str(out)]) == 0
    assert main([*OWN_INPUTS, "--inputs", str(tmp_path / "x.npy"), "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["networks_computed_now"] == 0


def test_a_measure_that_is_exactly_zero_has_no_rate_instead_of_an_error():
    # --lr-fraction 1e-308: the float32 updates underflow, nothing moves, drift is 0.

    entry = measure_entry([8, 16], [np.zeros(2), np.zeros(2)])
    assert entry["slope"] is None
    assert _verdict("kernel drift", entry) == (
        "kernel drift: no rate (a value is zero or not finite, so no log-log rate exists)"
    )
    moving = measure_entry([8, 16, 32], [np.full(2, 0.4), np.full(2, 0.2), np.full(2, 0.1)])
    assert moving["slope"] == pytest.approx(-1.0)
