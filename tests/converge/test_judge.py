"""``harness.judge``: the convergence run in memory, for a notebook.

Truths: a formula of known error (our analytic NTK scaled by 1.10, so its
scale-free error is exactly 10%), and the README's example, run as written. That
``judge`` gives the command line's numbers for the same settings is checked beside the
command line's own run (``tests/converge/test_cli.py``, the activation test).
"""

import re
from pathlib import Path

import numpy as np
import pytest

import analytic
import harness
from harness.runs import UsageError

SMALL = {"widths": (64, 256), "seeds": 6, "n_inputs": 5, "input_dim": 3, "sampler": "conditional"}
#: The README example's widths, seeds and sampler (and its default 16 inputs in d = 10): a
#: run of these shapes shares its compiled programs (the conditional sampler's batch, and so
#: its program, follows the number of seeds).
README_RUN = {"widths": (1024, 8192), "seeds": 32, "sampler": "conditional"}


def scaled_ntk(xs, arch):
    """Our NNGP, and our NTK 10% too large."""
    kernels = analytic.rmlp_kernels(xs, **arch.kwargs())
    return kernels.nngp, 1.10 * kernels.ntk


def test_judge_sees_a_ten_percent_error_and_its_size():
    # The default run's inputs, given as an array.
    xs = harness.runs.gaussian_inputs(16, 10, seed=0) * 2.0
    verdict = harness.judge(
        scaled_ntk, inputs=xs, widths=(1024, 8192), seeds=16, sampler="conditional"
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

    verdict = harness.judge(ntk_only, **README_RUN)
    assert verdict.nngp is None
    assert verdict.ntk.label == "NTK, candidate `ntk_only`"
    # The formula *is* our NTK: the same numbers as ours, on the same networks.
    ours = verdict.analytic["ntk"]
    assert verdict.ntk.formula_error == pytest.approx(ours.formula_error, rel=1e-12)
    assert verdict.ntk.formula_error_ci95 == pytest.approx(ours.formula_error_ci95, rel=1e-12)
    alone = harness.judge(**README_RUN)  # no formula: our kernels' verdicts
    assert alone.ntk.formula_error == ours.formula_error
    assert alone.nngp.label == "NNGP"


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
