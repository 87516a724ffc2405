"""A wide network trained on a few points tracks the infinite-width GD prediction.

Tolerance derivation (no constant tuned to pass). Theory (Jacot et al. 2018; Lee et al. 2019,
Thm 2.1): the relative gap ``g_n = ‖f_T - f_T^NTK‖/‖f_T^NTK‖`` of a width-``n`` network is
``n^{-1/2} Z`` (or smaller), with ``Z`` a random variable whose law does not depend on ``n``
to leading order. The test *measures* the law of ``Z`` from ``S_0 = 16`` networks at
``n_0 = 128`` (mean ``m`` and standard deviation ``s`` of ``√n_0 g``) and requires every one
of ``S = 3`` networks at ``n = 1024`` to satisfy

    g_1024 ≤ (m + 4 s) / √1024.

For a Gaussian-like ``Z``, ``m + 4s`` is exceeded with probability ≈ 3e-5 per network; a
heavier right tail (``Z`` is a norm, so it is right-skewed) still leaves it below 1/16 by
Chebyshev-Cantelli (``1/(1+4²)``), and the seeds are fixed, so the test is deterministic. If
the rate is faster than ``n^{-1/2}`` (the kernel drift is closer to ``n^{-1}``), the bound is
only looser. The same bound is applied to the kernel drift.

The held-out set has 16 points, not 4: a relative gap is a ratio of norms, and over 4 points
the denominator ``‖f_T^NTK(x*)‖`` (a norm of 4 roughly Gaussian outputs) is small often
enough to give ``Z`` a heavy right tail (measured: one network in three had a denominator
2.5× below typical). 16 seeds at ``n_0`` estimate ``m + 4s`` to about ±25%.

Non-vacuity: on the training set, training moves the outputs far more than the tolerance:
the untrained outputs ``f_0(X)`` violate the ``gap_train`` bound five times over. (On held-out
points, 4 training points move the outputs little, so no such margin is claimed there.)
"""

import numpy as np
import pytest

from harness.stats import relative_frobenius_error
from harness.train import TrainConfig
from harness.train._network import train_one_network
from harness.train._problem import build_problem

pytestmark = pytest.mark.slow

SMALL, LARGE = 128, 1024
CONFIG = TrainConfig(
    widths=(SMALL, LARGE), num_res_blocks=2, n_train=4, n_test=16, input_dim=10, records=4
)


@pytest.fixture(scope="module")
def measured():
    problem = build_problem(CONFIG)
    small = [train_one_network(CONFIG, problem, SMALL, seed) for seed in range(16)]
    large = [train_one_network(CONFIG, problem, LARGE, seed) for seed in range(3)]
    return problem, small, large


def _bound(units, name):
    scaled = np.sqrt(SMALL) * np.array([float(u[name]) for u in units])
    return (scaled.mean() + 4 * scaled.std(ddof=1)) / np.sqrt(LARGE)


@pytest.mark.parametrize("name", ["gap_all", "gap_train", "gap_test", "kernel_drift"])
def test_wide_network_within_the_scaled_spread(measured, name):
    _, small, large = measured
    bound = _bound(small, name)
    values = [float(u[name]) for u in large]
    assert max(values) <= bound, (name, values, bound)


def test_training_moves_outputs_far_beyond_the_tolerance(measured):
    _, small, large = measured
    bound = _bound(small, "gap_train")
    for unit in large:
        moved = relative_frobenius_error(unit["train"][0][None], unit["ntk_train"][-1][None])
        assert moved > 5 * bound


def test_training_reaches_a_small_loss(measured):
    problem, _, large = measured
    y = problem.task.y_train
    for unit in large:
        # T is chosen so that the NTK prediction's *expected* loss is 1e-3 · ½‖y‖²; one
        # network's loss fluctuates around that, so allow 10× for one draw of f_0.
        assert 0.5 * np.sum((unit["train"][-1] - y) ** 2) < 1e-2 * 0.5 * np.sum(y**2)
