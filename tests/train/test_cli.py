"""``python -m harness.train`` end to end on a tiny config, resume, and bad inputs (exit 2)."""

import dataclasses
import json
import os

import numpy as np
import pytest

from harness.runs import UsageError
from harness.runs import inputs_sha256
from harness.runs import strict_json
from harness.train import main
from harness.train._cli import build_parser
from harness.train._cli import config_from_args
from harness.train._problem import problem_inputs

BASE = [
    "--widths", "16,32",
    "--seeds", "2",
    "--blocks", "1",
    "--n-train", "4",
    "--n-test", "3",
    "--records", "4",
    "--quiet",
]  # fmt: skip
TINY = [*BASE, "--input-dim", "3"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, figures_on):
    out = tmp_path_factory.mktemp("train") / "run"
    with figures_on():
        assert main([*TINY, "--out", str(out)]) == 0
    return out


def _entry_keys():
    return {"widths", "mean", "std", "ci95_low", "ci95_high", "slope", "slope_ci95"}


@pytest.mark.slow  # shares the ~30 s tiny run (compilation dominates)
def test_tiny_run_writes_every_output(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    for stem in ("loss_curves", "test_predictions", "scaling"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    assert {"results.json", "results.csv", "report.md", "run.json"} <= names
    results = json.loads((tiny_run / "results.json").read_text())
    assert results["status"] == "complete"
    assert set(results) >= {"config", "environment", "kernel_drift", "function_gap", "problem"}
    gap = results["function_gap"]
    for entry in (results["kernel_drift"], gap, gap["train"], gap["test"], gap["linearized"]):
        assert _entry_keys() <= set(entry)
        assert entry["widths"] == [16, 32]
        assert all(np.isfinite(entry["mean"]))
        assert np.isfinite(entry["slope"])
    assert results["environment"]["jax"]
    # η is the requested fraction of the stability limit 2/λ_max of the analytic NTK.
    problem = results["problem"]
    assert problem["learning_rate"] == pytest.approx(0.5 * problem["learning_rate_limit"])
    rows = (tiny_run / "results.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2 * 2
    assert rows[0].startswith("width,seed,kernel_drift")
    assert "![drift and gaps against width](scaling.png)" in (tiny_run / "report.md").read_text()


@pytest.mark.slow  # shares the ~30 s tiny run (compilation dominates)
def test_unit_holds_consistent_trajectories(tiny_run):
    with np.load(tiny_run / "units" / "w32_s1.npz") as unit:
        steps = unit["steps"]
        assert steps[0] == 0
        assert steps[-1] == json.loads((tiny_run / "results.json").read_text())["problem"]["steps"]
        # All three dynamics start from the network's own initial outputs.
        np.testing.assert_array_equal(unit["ntk_train"][0], unit["train"][0])
        np.testing.assert_allclose(unit["lin_train"][0], unit["train"][0], rtol=1e-6)
        np.testing.assert_allclose(unit["lin_test"][0], unit["test"][0], rtol=1e-6)
        assert unit["kernel_0"].shape == unit["kernel_T"].shape == (4, 4)
        drift = np.linalg.norm(unit["kernel_T"] - unit["kernel_0"]) / np.linalg.norm(
            unit["kernel_0"]
        )
        assert float(unit["kernel_drift"]) == pytest.approx(drift)


@pytest.mark.slow  # shares the ~30 s tiny run (compilation dominates)
def test_rerun_resumes_with_identical_numbers(tiny_run):
    before = json.loads((tiny_run / "results.json").read_text())
    assert main([*TINY, "--out", str(tiny_run)]) == 0
    after = json.loads((tiny_run / "results.json").read_text())
    assert after["networks_computed_now"] == 0
    assert after["kernel_drift"] == before["kernel_drift"]
    assert after["function_gap"] == before["function_gap"]


@pytest.mark.slow  # shares the ~30 s tiny run (compilation dominates)
def test_other_config_in_same_out_is_refused(tiny_run):
    with pytest.raises(UsageError, match="different config"):
        main([*TINY, "--seeds", "3", "--out", str(tiny_run)])


@pytest.mark.bad_arguments("train")
def test_bad_arguments_raise_usage_errors(argv, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        main([*TINY, "--out", str(tmp_path / "o"), *argv])


def test_bad_inputs_files(tmp_path):
    nan = np.ones((10, 3))
    nan[4, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "short.npy", np.ones((5, 3)))
    np.save(tmp_path / "flat.npy", np.ones(12))
    for name, message in (
        ("nan", "NaN"),
        ("short", "need 7"),
        ("flat", "shape"),
        ("none", "no such"),
    ):
        with pytest.raises(UsageError, match=message):
            main([*BASE, "--inputs", str(tmp_path / f"{name}.npy"), "--out", str(tmp_path / "o")])


def test_bad_input_exits_2_without_traceback(tmp_path, run_python):
    result = run_python("-m", "harness.train", "--widths", "1024..128", "--out", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: --widths")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_non_finite_training_exits_1_naming_width_and_seed(tmp_path, monkeypatch, capsys):
    import harness.train._run as train_run

    def diverging(config, problem, width, seed):
        raise FloatingPointError(f"width {width}, seed {seed}: outputs became non-finite by step 3")

    monkeypatch.setattr(train_run, "train_one_network", diverging)
    assert main([*TINY, "--out", str(tmp_path / "o")]) == 1
    assert "width 16, seed 0" in capsys.readouterr().err


def test_inputs_file_rows_split_into_train_and_test(tmp_path):

    rows = np.random.default_rng(5).standard_normal((9, 2))
    np.save(tmp_path / "x.npy", rows)
    args = build_parser().parse_args([*BASE, "--inputs", str(tmp_path / "x.npy")])
    config = config_from_args(args)
    assert config.input_dim == 2
    assert config.inputs_sha256 == inputs_sha256(rows)
    # The first --n-train (4) rows train, the next --n-test (3) are held out; the rest unused.
    np.testing.assert_array_equal(problem_inputs(config), rows[:7])


@pytest.mark.slow  # shares the ~30 s tiny run (compilation dominates)
def test_results_json_is_strict(tiny_run):
    def refuse(constant):
        raise ValueError(f"non-strict JSON constant {constant}")

    json.loads((tiny_run / "results.json").read_text(), parse_constant=refuse)

    value = {"std": [float("nan"), 0.5], "ci": (float("-inf"), np.float64(2.0)), "n": 3}
    assert strict_json(value) == {"std": [None, 0.5], "ci": [None, 2.0], "n": 3}


@pytest.mark.slow  # one tiny run (compilation dominates)
def test_step_cap_is_said_and_out_stays_put_when_the_folder_changes(tmp_path, monkeypatch, capsys):
    import harness.train._cli as train_cli
    import harness.train._run as train_run

    # T capped at 2 steps: far from the loss target (the default run needs 39 steps).
    parse = train_cli.config_from_args
    monkeypatch.setattr(
        train_cli, "config_from_args", lambda args: dataclasses.replace(parse(args), max_steps=2)
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    train = train_run.train_one_network

    def wandering(*args):  # as user code might: change folder, then train
        os.chdir(elsewhere)
        return train(*args)

    monkeypatch.setattr(train_run, "train_one_network", wandering)
    monkeypatch.chdir(tmp_path)  # restored after the test
    argv = [arg for arg in TINY if arg != "--quiet"]
    assert main([*argv, "--widths", "16", "--seeds", "1", "--out", "run"]) == 0
    assert {"results.json", "report.md"} <= {p.name for p in (tmp_path / "run").iterdir()}
    assert list(elsewhere.iterdir()) == []
    problem = json.loads((tmp_path / "run" / "results.json").read_text())["problem"]
    assert (problem["steps"], problem["steps_capped"]) == (2, True)
    assert problem["expected_loss_ratio"] > 1e-3
    warning = (
        "loss target not reached: the automatic T stopped at its cap of 2 steps, where the "
        f"expected NTK training loss is {problem['expected_loss_ratio']:.3g} × ½‖y‖²"
    )
    said = [line for line in capsys.readouterr().out.splitlines() if "loss target" in line]
    assert len(said) == 1
    assert said[0].startswith(f"warning: {warning}")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "- steps T = 2 (auto, stopped at its cap; expected NTK training loss" in report
    assert f"- **{warning}" in report
    assert "at most 0.001 × ½‖y‖²" not in report


def test_activation_reaches_the_networks_and_the_ntk_prediction(tmp_path):
    """``--activation gelu --branch-scale 0.5``: the learning rate is set from the GELU NTK.

    Truth: ``η = lr_fraction · 2/λ_max`` of :func:`analytic.rmlp_kernels` for that network
    on the run's own training inputs.
    """
    import analytic

    out = tmp_path / "run"
    assert main([*TINY, "--activation", "gelu", "--branch-scale", "0.5", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert (results["config"]["activation"], results["config"]["branch_scale"]) == ("gelu", 0.5)
    args = build_parser().parse_args(
        [*TINY, "--activation", "gelu", "--branch-scale", "0.5", "--out", str(out)]
    )
    config = config_from_args(args)
    x = problem_inputs(config)[: config.n_train]
    ntk = analytic.rmlp_kernels(x, **config.architecture.kwargs()).ntk
    expected = config.lr_fraction * 2 / np.linalg.eigvalsh(ntk)[-1]
    assert results["problem"]["learning_rate"] == pytest.approx(expected, rel=1e-12)
