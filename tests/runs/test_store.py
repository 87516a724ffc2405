"""Tests of the resumable result folder (harness.runs._store) and the progress bar."""

import io
import json

import numpy as np
import pytest

from harness.runs import ConfigMismatchError
from harness.runs import Progress
from harness.runs import RunStore
from harness.runs import UsageError
from harness.runs import atomic_write_json
from harness.runs import config_fingerprint
from harness.runs import format_duration


def test_units_round_trip_and_resume(tmp_path):
    config = {"widths": [64, 128], "seeds": 2}
    store = RunStore(tmp_path / "out", config, kind="converge")
    kernel = np.arange(4.0).reshape(2, 2)
    store.save("w64_s0", ntk=kernel)
    assert store.has("w64_s0")
    assert not store.has("w64_s1")
    again = RunStore(tmp_path / "out", dict(reversed(config.items())), kind="converge")
    np.testing.assert_array_equal(again.load("w64_s0")["ntk"], kernel)
    assert not list((tmp_path / "out" / "units").glob(".*tmp"))  # no temporary files left
    (tmp_path / "out" / "units" / ".w64_s1.npz.abc.tmp").write_bytes(b"torn")  # kill -9
    RunStore(tmp_path / "out", config, kind="converge")
    assert not list((tmp_path / "out" / "units").glob(".*tmp"))


def test_different_config_is_refused_unless_forced(tmp_path):
    RunStore(tmp_path, {"seeds": 2}, kind="converge").save("w64_s0", ntk=np.eye(2))
    with pytest.raises(ConfigMismatchError, match="different config"):
        RunStore(tmp_path, {"seeds": 3}, kind="converge")
    assert issubclass(ConfigMismatchError, UsageError)
    with pytest.raises(ConfigMismatchError):
        RunStore(tmp_path, {"seeds": 2}, kind="dynamics")
    forced = RunStore(tmp_path, {"seeds": 3}, kind="converge", force=True)
    assert not forced.has("w64_s0")
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["config"] == {"seeds": 3}


def test_non_empty_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigMismatchError, match="not empty"):
        RunStore(tmp_path, {"seeds": 2}, kind="converge")


def test_non_writer_writes_nothing(tmp_path):
    store = RunStore(tmp_path / "out", {"a": 1}, kind="converge", writer=False)
    store.save("w1_s1", x=np.ones(1))
    store.write_json("results.json", {})
    assert not (tmp_path / "out").exists()


def test_fingerprint_is_order_independent_and_json_handles_numpy(tmp_path):
    assert config_fingerprint({"a": 1, "b": [1, 2]}) == config_fingerprint({"b": [1, 2], "a": 1})
    assert config_fingerprint({"a": 1}) != config_fingerprint({"a": 2})
    atomic_write_json(tmp_path / "x.json", {"v": np.float32(0.5), "a": np.arange(2)})
    assert json.loads((tmp_path / "x.json").read_text()) == {"v": 0.5, "a": [0, 1]}


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_eta_uses_only_work_done_now():
    clock = _Clock()
    stream = _Tty()
    bar = Progress(100, label="run", stream=stream, clock=clock, min_interval=0)
    bar.skip(50)  # resumed: fills the bar, not the rate
    clock.now = 10.0
    bar.advance(10, note="width 64")
    # 10 units in 10 s, 40 left: 40 s.
    assert bar.eta_seconds() == pytest.approx(40.0)
    assert "60.0%" in stream.getvalue()
    assert "ETA 40s" in stream.getvalue()
    bar.close()
    assert stream.getvalue().endswith("\n")


def test_progress_silent_when_not_a_tty_or_quiet():
    for stream, quiet in ((io.StringIO(), False), (_Tty(), True)):
        with Progress(10, stream=stream, quiet=quiet) as bar:
            bar.advance(10)
        assert stream.getvalue() == ""
    assert format_duration(75.2) == "1m15s"
    assert format_duration(float("nan")) == "?"


def test_seed_batches_fit_the_memory_budget_and_are_even():
    from harness.converge import ConvergeConfig
    from harness.converge import networks_per_device
    from harness.converge import seed_batches
    from harness.kernels import estimate_network_bytes

    config = ConvergeConfig(widths=(512,), seeds=16, num_res_blocks=3, n_inputs=32)
    one = estimate_network_bytes(512, 3, 10, 32)
    # Room for 10 networks: 16 seeds need two batches, filled evenly (8 + 8).
    assert networks_per_device(config, 512, 1, budget_bytes=10 * one) == 8
    assert networks_per_device(config, 512, 1, budget_bytes=one) == 1
    assert networks_per_device(config, 512, 1, budget_bytes=100 * one) == 16
    assert seed_batches(5, 2) == [[0, 1], [2, 3], [4]]
