"""End to end: formulas wrong in a few entries, or only at small input norms, are inconsistent.

The audit's cases, through ``run_convergence`` with the conditional sampler
(equal in law to instantiated networks, ``tests/kernels/test_conditional.py``):

* one symmetric pair of entries 8% too large, in both kernels: diluted to
  well under 1% in the Frobenius norm of the whole 8 × 8 kernel, but 8% of one
  entry is many standard errors at widths up to 32768 (the default run goes to 65536);
* ``b_std`` written for ``b_std²`` on inputs whose norms span 0.03 to 316: the
  raw Frobenius error is a fraction of a percent (the large-norm entries
  dominate), the scale-free error at the small-norm inputs up to 100%.

Our analytic kernels (truth: a 50-digit reference, ``tests/analytic``) are
judged on the same networks and must not be called inconsistent. The wrong
formulas are the README's example, ``reports/local-errors-cpu/wrong_kernels.py``.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from harness.converge import ConvergeConfig
from harness.converge import run_convergence

#: The wrong formulas of the README's example (``reports/local-errors-cpu``).
EXAMPLES = Path(__file__).resolve().parents[2] / "reports" / "local-errors-cpu"


@pytest.fixture(scope="module")
def candidates_module():
    sys.path.insert(0, str(EXAMPLES))
    yield EXAMPLES
    sys.path.remove(str(EXAMPLES))


def _run(tmp_path, config):
    return run_convergence(config, tmp_path / "out", quiet=True)


@pytest.mark.slow
def test_one_pair_of_entries_8_percent_off_is_inconsistent(tmp_path, candidates_module):
    config = ConvergeConfig(
        widths=(2048, 8192, 32768),
        seeds=32,
        sampler="conditional",
        n_inputs=8,
        candidates=("wrong_kernels:pair_8_percent",),
    )
    results = _run(tmp_path, config)
    for kernel in ("nngp", "ntk"):
        assert results["kernels"][kernel]["outcome"] != "inconsistent"
        wrong = results["candidates"]["pair_8_percent"][kernel]
        assert wrong["outcome"] == "inconsistent"
        worst = wrong["formula_test"]["worst_entries"][0]
        assert {worst["row"], worst["col"]} == {2, 5}
        # The entry-wise test sees it; the whole matrix's norm dilutes it.
        test = wrong["formula_test"]
        assert test["entry_z"] > test["entry_cut"]
        assert abs(worst["error"]) > 1.5 * wrong["formula_error"]


@pytest.mark.slow
def test_bias_variance_slip_at_small_norms_is_inconsistent(tmp_path, candidates_module):
    rng = np.random.default_rng(7)
    directions = rng.standard_normal((12, 10))
    norms = np.geomspace(0.03, 316.0, 12)
    xs = directions / np.linalg.norm(directions, axis=1, keepdims=True) * norms[:, None]
    path = tmp_path / "inputs.npy"
    np.save(path, xs)
    config = ConvergeConfig(
        widths=(256, 512, 1024, 2048),
        seeds=8,  # an error of 40-100% needs few networks
        sampler="conditional",
        candidates=("wrong_kernels:bias_variance_slip",),
        n_inputs=12,
    ).with_inputs_file(str(path))
    results = _run(tmp_path, config)
    for kernel in ("nngp", "ntk"):
        assert results["kernels"][kernel]["outcome"] != "inconsistent"
        wrong = results["candidates"]["bias_variance_slip"][kernel]
        assert wrong["outcome"] == "inconsistent"
        assert wrong["formula_error"] > 0.05
