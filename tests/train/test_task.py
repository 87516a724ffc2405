"""The regression targets: the NNGP draw has the analytic NNGP as its covariance.

Truth: :func:`analytic.rmlp_nngp`. For ``M`` independent draws ``y ~ N(0, K)`` the sample
second moment ``Ĉ_ij = mean(y_i y_j)`` has standard deviation ``√((K_ii K_jj + K_ij²)/M)``
(Isserlis), so every entry must lie within 5 of those standard deviations of ``K_ij``
(10 distinct entries; a 5σ excursion has probability ~6e-6 each). The seeds are fixed.
"""

import numpy as np

from analytic import rmlp_nngp
from harness.train._task import make_regression_task
from harness.train._task import nngp_target
from harness.train._task import smooth_target

ARCH = {"num_res_blocks": 2, "W_std": 1.5, "b_std": 0.5}


def test_nngp_target_has_the_nngp_covariance():
    x = np.random.default_rng(1).standard_normal((4, 3))
    K = rmlp_nngp(x, **ARCH)
    M = 800
    draws = np.stack([nngp_target(x, seed=s, **ARCH) for s in range(M)])
    C = draws.T @ draws / M
    sigma = np.sqrt((np.outer(np.diag(K), np.diag(K)) + K**2) / M)
    assert np.max(np.abs(C - K) / sigma) < 5.0


def test_targets_are_fixed_functions_of_the_inputs():
    x = np.random.default_rng(2).standard_normal((6, 5))
    task = make_regression_task(x[:4], x[4:])
    # Same function on every call and for every split: row by row, not jointly drawn.
    np.testing.assert_array_equal(task.y_train, smooth_target(x)[:4])
    np.testing.assert_array_equal(task.y_test, smooth_target(x)[4:])
    joint = make_regression_task(x[:4], x[4:], target="nngp", **ARCH)
    np.testing.assert_array_equal(np.r_[joint.y_train, joint.y_test], nngp_target(x, **ARCH))
