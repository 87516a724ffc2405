"""Float64 range of the analytic kernels: the closed-form diagonal and the overflow errors.

Independent truths: the diagonal computed by the recursion itself (the closed form
must match it to rounding), and the exactly homogeneous scaling of bias-free
kernels (``K(s x) = s² K(x)``), which shows when a result is still right.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytic import notebook_rmlp_ntk
from analytic import rmlp_diagonal_log10
from analytic import rmlp_kernels
from analytic import rmlp_nngp
from analytic import rmlp_ntk

X = np.random.default_rng(0).standard_normal((5, 3)) * np.array([[0.1], [1], [3], [10], [0.5]])


@pytest.mark.parametrize(
    ("blocks", "W_std", "b_std"), [(0, 1.0, 0.0), (3, 1.5, 0.5), (7, 0.6, 1.1), (200, 1.5, 0.5)]
)
def test_closed_form_diagonal_matches_the_recursion(blocks, W_std, b_std):
    kernels = rmlp_kernels(X, num_res_blocks=blocks, W_std=W_std, b_std=b_std)
    for i, row in enumerate(X):
        diagonal = rmlp_diagonal_log10(
            float(row @ row), input_dim=3, num_res_blocks=blocks, W_std=W_std, b_std=b_std
        )
        assert diagonal.nngp == pytest.approx(math.log10(kernels.nngp[i, i]), abs=1e-12)
        assert diagonal.ntk == pytest.approx(math.log10(kernels.ntk[i, i]), abs=1e-12)


def test_diagonal_beyond_float64_is_reported_not_overflowed():
    diagonal = rmlp_diagonal_log10(3.0, input_dim=3, num_res_blocks=2**31 - 1, W_std=1.5, b_std=0.5)
    assert 1e9 < diagonal.ntk < 2e9  # (1 + 1.5⁴/2)^(2³¹) ≈ 10^(1.18e9)
    zero = rmlp_diagonal_log10(0.0, input_dim=3, num_res_blocks=4, W_std=1.0, b_std=0.0)
    assert zero.nngp == zero.ntk == -math.inf


@pytest.mark.parametrize(
    ("scale", "blocks", "W_std", "b_std", "message"),
    [
        (1, 1000, 1.5, 0.5, r"overflows float64: its diagonal reaches 1e\+554 \(past 1e\+300 at "),
        (1, 3, 1e200, 0.5, "overflows float64: .* in the input layer"),
        (1e200, 3, 1.5, 0.5, "overflows float64 in the input layer: the largest input norm"),
        (1e100, 3, 1.5, 0.5, r"passes 1e\+154 in the input layer, and the residual step"),
        (1, 400, 1.5, 0.5, r"passes 1e\+154 at block 27\d, and the residual step"),
        (1e-200, 3, 1.5, 0.0, "underflows float64 in the input layer"),
        (1, 3, 1e-160, 0.0, "NNGP underflows float64"),
        (1, 2**31, 1.5, 0.5, r"num_res_blocks must be <= 2147483647"),
    ],
)
@pytest.mark.parametrize("fn", [rmlp_nngp, rmlp_ntk, notebook_rmlp_ntk], ids=lambda f: f.__name__)
def test_out_of_range_raises_value_error_naming_the_scale(fn, scale, blocks, W_std, b_std, message):
    with pytest.raises(ValueError, match=message):
        fn(X * scale, blocks, W_std, b_std)


@pytest.mark.parametrize("scale", [1e-140, 1e-60, 1e60, 1e75])
def test_results_inside_the_range_stay_exact(scale):
    # Bias-free kernels are homogeneous of degree 2 in the inputs.
    reference = rmlp_kernels(X, num_res_blocks=3, W_std=1.5, b_std=0.0)
    scaled = rmlp_kernels(X * scale, num_res_blocks=3, W_std=1.5, b_std=0.0)
    for got, want in zip(scaled, reference, strict=True):
        np.testing.assert_allclose(got / scale**2, want, rtol=1e-13)


def test_tiny_inputs_beside_a_bias_are_exact():
    # w/d·‖x‖² ~ 1e-400 next to β = 0.25: the inputs do not matter, and the kernels are
    # those of zero inputs (the squares of the entries underflow, harmlessly).
    tiny = rmlp_kernels(X * 1e-200, num_res_blocks=2, W_std=1.5, b_std=0.5)
    zero = rmlp_kernels(X * 0, num_res_blocks=2, W_std=1.5, b_std=0.5)
    for got, want in zip(tiny, zero, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-15)


def test_zero_inputs_and_tiny_rows_beside_normal_ones_are_fine():
    assert not np.any(rmlp_ntk(np.zeros((3, 2)), 2, 1.5, 0.0))
    mixed = np.vstack([X, X[:1] * 1e-170])
    np.testing.assert_allclose(rmlp_ntk(mixed, 3, 1.5, 0.0)[:5, :5], rmlp_ntk(X, 3, 1.5, 0.0))
