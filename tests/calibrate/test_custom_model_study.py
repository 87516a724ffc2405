r"""The formula test's calibration on a custom model (``harness.calibrate --model``).

Truths these tests check against, none of them the code under test:

* the worked example's exact kernels (:func:`models.examples.two_layer.formula`,
  Cho & Saul 2009; Jacot et al. 2018), which the mean of its networks' per-network
  kernels equals at every width: the correct formula has true error 0;
* the scale-free relative error of a kernel scaled by :math:`1 + \delta`, computed
  here on the test's own layout (:class:`harness.stats._layout.KernelLayout`, entries
  over :math:`s_i s_j` with weights) for arbitrary scales :math:`s`: it is
  :math:`|\delta|/(1+\delta)` whatever they are.

Tolerances. A tiny design (one setting, 2 replicates, NNGP and NTK: 4 tests of the
correct formula) at the rule's size :math:`10^{-4}` sees no false *inconsistent*
except with probability about :math:`4 \cdot 10^{-4}`. With 32 networks per width
the detectable error is about 0.2, so :math:`\delta = 0.5` (true error 1/3) and
:math:`\delta = -0.5` (true error 1) lie beyond 1.5 times it, where the rule's
power is above 99.9%.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.calibrate import main as calibrate_main
from harness.calibrate._custom_model import CORRECT
from harness.calibrate._custom_model import Setting
from harness.calibrate._custom_model import run_model_calibration
from harness.calibrate._custom_model import wrong_scale
from harness.stats._layout import KernelLayout
from models.examples.two_layer import formula

SCALES = (-0.5, -0.02, 0.5)


def _scale_free_error(wrong: np.ndarray, truth: np.ndarray, diagonal: np.ndarray) -> float:
    """``‖D‖/‖K_ref‖`` on the test's layout, with scales from ``diagonal``."""
    layout = KernelLayout.of(wrong, diagonal)
    return float(
        np.linalg.norm(layout.vector(truth - wrong)) / np.linalg.norm(layout.vector(wrong))
    )


@pytest.mark.slow
def test_tiny_design_sizes_and_flags(tmp_path):
    setting = Setting("tiny", (32, 128), 32, 4, 3)
    summary = run_model_calibration(
        tmp_path / "o", settings=(setting,), replicates=2, scales=SCALES, log=None
    )
    saved = json.loads((tmp_path / "o" / "results.json").read_text())
    assert "# Calibration of the formula test on a custom model" in (
        (tmp_path / "o" / "report.md").read_text()
    )
    records = saved["records"]
    assert len(records) == 2 * 2 * (1 + len(SCALES))
    assert {(r["setting"], r["kernel"]) for r in records} == {("tiny", "nngp"), ("tiny", "ntk")}

    # True errors: |δ|/(1+δ), the test's own measure whatever the scales s_i.
    exact = dict(zip(("nngp", "ntk"), formula(setting.inputs()), strict=True))
    rng = np.random.default_rng(0)
    for delta in SCALES:
        mine = [r for r in records if r["formula"] == wrong_scale(delta)]
        assert len(mine) == 4
        for r in mine:
            assert r["true_error"] == pytest.approx(abs(delta) / (1 + delta), rel=1e-15)
            truth = exact[r["kernel"]]
            diagonal = np.diag(rng.uniform(0.5, 2.0, truth.shape[0])) * np.diag(truth).max()
            measured = _scale_free_error(truth * (1 + delta), truth, diagonal)
            assert measured == pytest.approx(r["true_error"], rel=1e-12)

    correct = [r for r in records if r["formula"] == CORRECT]
    assert len(correct) == 4
    assert all(r["true_error"] == 0.0 for r in correct)
    assert all(r["outcome"] != "inconsistent" for r in correct)
    assert summary["size"]["false_inconsistent"] == 0

    # Far beyond the detectable error: flagged every time.
    for delta in (-0.5, 0.5):
        for r in (r for r in records if r["formula"] == wrong_scale(delta)):
            assert r["true_error"] / r["detectable_error"] > 1.5
            assert r["outcome"] == "inconsistent"
            assert r["ci95"][0] <= r["true_error"] <= r["ci95"][1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--corrections"], "--model has its own design; drop --corrections"),
        (["--configs", "c24"], "drop --configs"),
        (["--activation", "gelu"], "drop --activation"),
        (["--branch-scale", "0.5"], "drop --branch-scale"),
    ],
)
def test_model_with_another_design_exits_2_with_one_line(argv, message, cli_exit, tmp_path):
    out = str(tmp_path / "o")
    argv = ["--model", "models.examples.two_layer:factory", "--quick", "--out", out, *argv]
    code, line = cli_exit(calibrate_main, argv)
    assert code == 2
    assert message in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--formula", "models.examples.two_layer:formula"], "give --model too"),
        (["--model", "models.examples.two_layer:TwoLayerMLP"], "give --formula"),
    ],
)
def test_formula_needs_model_and_model_needs_formula(argv, message, cli_exit, tmp_path):
    out = str(tmp_path / "o")
    code, line = cli_exit(calibrate_main, ["--quick", "--out", out, *argv])
    assert code == 2
    assert message in line
    assert not (tmp_path / "o").exists()
