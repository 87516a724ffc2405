"""``harness.judge``: the convergence run in memory, for a notebook.

Truths: the command line's own numbers for the same settings (same seeds, same
statistics), a formula of known error (our analytic NTK scaled by 1.10, so its
scale-free error is exactly 10%), and the README's example, run as written.
"""

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

import analytic
import harness
from harness.converge import main
from harness.runs import UsageError

SMALL = {"widths": (64, 256), "seeds": 6, "n_inputs": 5, "input_dim": 3, "sampler": "conditional"}


def scaled_ntk(xs, arch):
    """Our NNGP, and our NTK 10% too large."""
    kernels = analytic.rmlp_kernels(xs, **arch.kwargs())
    return kernels.nngp, 1.10 * kernels.ntk


def test_judge_gives_the_command_lines_numbers(tmp_path, monkeypatch):
    (tmp_path / "judge_formulas.py").write_text(
        "import analytic\n\n"
        "def scaled_ntk(xs, arch):\n"
        "    kernels = analytic.rmlp_kernels(xs, **arch.kwargs())\n"
        "    return kernels.nngp, 1.10 * kernels.ntk\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    scaled = importlib.import_module("judge_formulas").scaled_ntk
    out = tmp_path / "run"
    argv = ["--widths", "64,256", "--seeds", "6", "--n-inputs", "5", "--input-dim", "3"]
    argv += ["--sampler", "conditional", "--blocks", "2", "--activation", "erf"]
    argv += ["--candidate", "judge_formulas:scaled_ntk", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    cli = json.loads((out / "results.json").read_text())
    verdict = harness.judge(scaled, num_res_blocks=2, activation="erf", **SMALL)
    assert verdict.results["config"] == cli["config"] | {"candidates": []}
    for kernel in ("nngp", "ntk"):
        ours, theirs = getattr(verdict, kernel), cli["candidates"]["scaled_ntk"][kernel]
        assert ours.formula_error == theirs["formula_error"]
        assert list(ours.formula_error_ci95) == theirs["formula_error_ci95"]
        assert ours.detectable_error == theirs["detectable_error"]
        assert ours.outcome == theirs["outcome"]
        analytic_verdict = verdict.analytic[kernel]
        assert analytic_verdict.formula_error == cli["kernels"][kernel]["formula_error"]
        assert (
            verdict.results["kernels"][kernel]["formula_test"]
            == cli["kernels"][kernel]["formula_test"]
        )


def test_judge_sees_a_ten_percent_error_and_its_size():
    xs = np.random.default_rng(3).normal(size=(6, 4))
    verdict = harness.judge(
        scaled_ntk, inputs=xs, widths="512..4096", seeds=16, sampler="conditional"
    )
    assert verdict.ntk.outcome == "inconsistent"
    low, high = verdict.ntk.formula_error_ci95
    assert low <= 0.10 <= high  # the scale-free error of 1.10·K is exactly 10%
    # The right NNGP is not rejected (16 networks cannot certify it below 1%).
    assert verdict.nngp.outcome != "inconsistent"
    assert verdict.analytic["ntk"].outcome != "inconsistent"
    assert repr(verdict.ntk).startswith("NTK, candidate `scaled_ntk`: inconsistent — formula off")
    assert repr(verdict.ntk) == verdict.ntk.test.headline("NTK, candidate `scaled_ntk`")
    assert verdict.results["config"]["inputs_sha256"] == harness.runs.inputs_sha256(xs)
    assert str(verdict).splitlines()[0].startswith("NNGP: ")


def test_judge_without_a_formula_judges_ours_and_ntk_only_formulas_have_no_nngp():
    def ntk_only(xs, arch):
        return analytic.rmlp_ntk(xs, arch.num_res_blocks, arch.W_std, arch.b_std)

    verdict = harness.judge(ntk_only, **SMALL)
    assert verdict.nngp is None
    assert verdict.ntk.label == "NTK, candidate `ntk_only`"
    ours = harness.judge(**SMALL)
    assert ours.ntk.formula_error == verdict.analytic["ntk"].formula_error
    # The formula *is* our NTK: the same numbers as ours.
    assert verdict.ntk.formula_error == pytest.approx(ours.ntk.formula_error, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widht": (64, 128)}, "unknown option(s) widht"),
        ({"widths": "64..x"}, "width"),
        ({"widths": [64, "x"]}, "judge: widths must be integers"),
        ({"inputs": np.array([[1.0, np.nan], [0.0, 1.0]])}, "judge: inputs holds NaN or Inf"),
        ({"inputs": np.ones(3)}, "judge: inputs has shape (3,)"),
        ({"tolerance": 2.0}, "--tolerance"),
        ({"activation": "softplus"}, "unknown activation"),
        ({"model": object()}, "judge: model= must be a factory(width) or 'pkg.module:factory'"),
        ({"readout": "readout"}, "judge: readout= names a layer of a custom model"),
    ],
)
def test_bad_options_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError) as caught:
        harness.judge(scaled_ntk, **{**SMALL, **kwargs})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_formula_that_breaks_the_contract_is_a_usage_error():
    with pytest.raises(UsageError, match="must be a function"):
        harness.judge(np.eye(5), **SMALL)

    def wrong_shape(xs, arch):
        return np.eye(3)

    with pytest.raises(UsageError, match=r"has shape \(3, 3\); expected \(5, 5\)"):
        harness.judge(wrong_shape, **SMALL)


def test_the_readmes_from_python_example_runs_as_written(capsys):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## From Python", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md (From Python)", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    verdict = namespace["verdict"]
    assert printed[0] == repr(verdict.ntk)
    assert verdict.ntk.outcome == "inconsistent"
    low, high = verdict.ntk.formula_error_ci95
    assert low <= 0.05 <= high
    assert verdict.nngp.outcome == "consistent"
