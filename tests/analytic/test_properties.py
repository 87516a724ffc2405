"""Properties of the analytic kernels that follow from theory alone.

Every check compares against an independent truth: exact symmetry, positive
semi-definiteness (kernels are covariances), positive homogeneity of ReLU
networks without biases, the one-hidden-layer ReLU kernel written out here
(Cho & Saul 2009), the closed-form diagonal (angle 0), the x64 flag, the
concatenation identity of cross kernels, and the seed notebook's recursions.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from analytic import RMLPKernels
from analytic import notebook_rmlp_kernels
from analytic import notebook_rmlp_nngp
from analytic import notebook_rmlp_ntk
from analytic import relu_moments
from analytic import rmlp_kernels
from analytic import rmlp_nngp
from analytic import rmlp_ntk

CONFIGS = [(0, 1.0, 0.0), (2, 1.4, 0.3), (7, 0.6, 1.1), (40, 1.0, 0.5)]


def _inputs(n=7, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)) * rng.uniform(0.2, 3.0, size=(n, 1))


@pytest.mark.parametrize(("num_res_blocks", "W_std", "b_std"), CONFIGS)
def test_symmetric_psd_positive_diagonal(num_res_blocks, W_std, b_std):
    xs = np.concatenate([_inputs(), _inputs()[:2]])  # with duplicated rows
    kernels = rmlp_kernels(xs, num_res_blocks=num_res_blocks, W_std=W_std, b_std=b_std)
    for kernel in kernels:
        assert kernel.dtype == np.float64
        assert kernel.shape == (9, 9)
        np.testing.assert_array_equal(kernel, kernel.T)
        assert np.all(np.diag(kernel) > 0)
        eigenvalues = np.linalg.eigvalsh(kernel)
        assert eigenvalues.min() >= -1e-12 * eigenvalues.max()
        # Duplicated inputs have identical kernel rows.
        np.testing.assert_allclose(kernel[7:], kernel[:2], rtol=1e-15, atol=0)


@pytest.mark.parametrize("alpha", [1e-3, 0.37, 52.0])
@pytest.mark.parametrize(("num_res_blocks", "W_std"), [(0, 1.0), (3, 1.7), (25, 0.8)])
def test_positive_homogeneity_without_biases(num_res_blocks, W_std, alpha):
    # With b_std = 0 every layer is positively homogeneous: K(αx) = α² K(x).
    xs = _inputs(seed=1)
    base = rmlp_kernels(xs, num_res_blocks=num_res_blocks, W_std=W_std, b_std=0.0)
    scaled = rmlp_kernels(alpha * xs, num_res_blocks=num_res_blocks, W_std=W_std, b_std=0.0)
    for a, b in zip(scaled, base, strict=True):
        np.testing.assert_allclose(a, alpha**2 * b, rtol=0, atol=1e-13 * alpha**2 * np.abs(b).max())


@pytest.mark.parametrize(("W_std", "b_std"), [(1.0, 0.0), (0.7, 0.4), (1.9, 1.3)])
def test_zero_blocks_is_the_one_hidden_layer_relu_kernel(W_std, b_std):
    # f(x) = W_std/√n · v·relu(W_std/√d · W x + b_std b): NNGP = w V(K0) and
    # NTK = w V̇(K0) K0 + w V(K0), with K0 = w x xᵀ/d + β and
    # V = √(ab)/2π (sin θ + (π − θ) cos θ), V̇ = (π − θ)/2π (Cho & Saul 2009).
    xs = _inputs(seed=2)
    w, beta, d = W_std**2, b_std**2, xs.shape[1]
    k0 = w * xs @ xs.T / d + beta
    scale = np.sqrt(np.outer(np.diag(k0), np.diag(k0)))
    theta = np.arccos(np.clip(k0 / scale, -1.0, 1.0))
    np.fill_diagonal(theta, 0.0)
    v = scale / (2 * math.pi) * (np.sin(theta) + (math.pi - theta) * np.cos(theta))
    v_dot = (math.pi - theta) / (2 * math.pi)
    np.testing.assert_allclose(rmlp_nngp(xs, 0, W_std, b_std), w * v, rtol=1e-13)
    np.testing.assert_allclose(rmlp_ntk(xs, 0, W_std, b_std), w * v_dot * k0 + w * v, rtol=1e-13)


@pytest.mark.parametrize(("num_res_blocks", "W_std", "b_std"), CONFIGS)
def test_diagonal_matches_the_closed_form(num_res_blocks, W_std, b_std):
    # On the diagonal θ = 0, so V(a) = a/2 and V̇ = 1/2 exactly (scalar recursion).
    xs = _inputs(seed=3)
    w, beta = W_std**2, b_std**2
    k = w * np.sum(xs * xs, axis=1) / xs.shape[1] + beta
    theta = k.copy()
    for _ in range(num_res_blocks):
        sigma = w * k + beta
        theta = theta + w / 2 * (w * theta + sigma) + w * sigma / 2 + beta
        k = k + w * sigma / 2 + beta
    kernels = rmlp_kernels(xs, num_res_blocks=num_res_blocks, W_std=W_std, b_std=b_std)
    np.testing.assert_allclose(np.diag(kernels.nngp), w * k / 2, rtol=1e-13)
    np.testing.assert_allclose(np.diag(kernels.ntk), w / 2 * theta + w * k / 2, rtol=1e-13)


def test_float64_whatever_the_x64_flag():
    xs = _inputs(seed=4).astype(np.float32)
    flag = jax.config.jax_enable_x64
    with jax.enable_x64(False):
        off = rmlp_kernels(xs, num_res_blocks=5, W_std=1.2, b_std=0.3)
    with jax.enable_x64(True):
        on = rmlp_kernels(xs, num_res_blocks=5, W_std=1.2, b_std=0.3)
    assert jax.config.jax_enable_x64 == flag  # the global flag is left alone
    for a, b in zip(off, on, strict=True):
        assert a.dtype == b.dtype == np.float64
        np.testing.assert_array_equal(a, b)


def test_cross_kernel_is_the_off_diagonal_block():
    x1, x2 = _inputs(n=5, seed=5), _inputs(n=3, seed=6)
    cross = rmlp_kernels(x1, x2, num_res_blocks=6, W_std=1.1, b_std=0.8)
    full = rmlp_kernels(np.concatenate([x1, x2]), num_res_blocks=6, W_std=1.1, b_std=0.8)
    assert isinstance(cross, RMLPKernels)
    for a, b in zip(cross, full, strict=True):
        assert a.shape == (5, 3)
        np.testing.assert_allclose(a, b[:5, 5:], rtol=1e-14)
    same = rmlp_kernels(x1, num_res_blocks=6, W_std=1.1, b_std=0.8)
    np.testing.assert_allclose(same.ntk, full.ntk[:5, :5], rtol=1e-14)


def test_zero_row_without_biases_is_exactly_zero():
    xs = _inputs(seed=7)
    xs[3] = 0.0
    xs[5] = -xs[1]  # an antipode as well
    for num_res_blocks in (0, 1, 30):
        kernels = rmlp_kernels(xs, num_res_blocks=num_res_blocks, W_std=1.3, b_std=0.0)
        for kernel in kernels:
            assert np.all(np.isfinite(kernel))
            assert np.all(kernel[3] == 0.0)
            assert np.all(kernel[:, 3] == 0.0)


@pytest.mark.parametrize("num_res_blocks", [0, 1, 4])
def test_notebook_recursions(num_res_blocks):
    xs = _inputs(seed=8)
    # The seed's NNGP is right everywhere; its NTK only at W_std = 1, b_std = 0.
    for W_std, b_std in [(1.0, 0.0), (1.5, 0.5)]:
        np.testing.assert_allclose(
            notebook_rmlp_nngp(xs, num_res_blocks, W_std, b_std),
            rmlp_nngp(xs, num_res_blocks, W_std, b_std),
            rtol=1e-12,
        )
    np.testing.assert_allclose(
        notebook_rmlp_ntk(xs, num_res_blocks, 1.0, 0.0),
        rmlp_ntk(xs, num_res_blocks, 1.0, 0.0),
        rtol=1e-12,
    )
    wrong, right = (
        notebook_rmlp_ntk(xs, num_res_blocks, 1.5, 0.5),
        rmlp_ntk(xs, num_res_blocks, 1.5, 0.5),
    )
    if num_res_blocks == 0:  # no block, nothing to get wrong
        np.testing.assert_allclose(wrong, right, rtol=1e-12)
    else:
        assert np.max(np.abs(wrong - right)) > 0.05 * np.max(np.abs(right))
    # The cross-kernel form is the off-diagonal block of the square one.
    x2 = _inputs(n=3, seed=9)
    cross = notebook_rmlp_kernels(xs, x2, num_res_blocks=num_res_blocks, W_std=1.5, b_std=0.5)
    full = notebook_rmlp_kernels(
        np.concatenate([xs, x2]), num_res_blocks=num_res_blocks, W_std=1.5, b_std=0.5
    )
    np.testing.assert_allclose(cross.ntk, full.ntk[:7, 7:], rtol=1e-13)
    np.testing.assert_allclose(cross.nngp, full.nngp[:7, 7:], rtol=1e-13)


def test_relu_moments_against_the_closed_form():
    # E[relu(u) relu(v)] and E[relu'(u) relu'(v)] for a = 2, b = 0.5, cos θ = k/1.
    with jax.enable_x64(True):
        for cosine in (-0.9, 0.0, 0.3, 0.99):
            value, derivative = relu_moments(2.0, cosine, 0.5)
            theta = math.acos(cosine)
            expected = (math.sin(theta) + (math.pi - theta) * cosine) / (2 * math.pi)
            assert float(value) == pytest.approx(expected, rel=1e-14)
            assert float(derivative) == pytest.approx((math.pi - theta) / (2 * math.pi), rel=1e-14)


BAD_ARGUMENTS = [
    ({"num_res_blocks": -1}, "num_res_blocks"),
    ({"num_res_blocks": 1.5}, "num_res_blocks"),
    ({"num_res_blocks": True}, "num_res_blocks"),
    ({"W_std": 0.0}, "W_std"),
    ({"W_std": -1.0}, "W_std"),
    ({"W_std": float("nan")}, "W_std"),
    ({"W_std": float("inf")}, "W_std"),
    ({"b_std": -0.1}, "b_std"),
    ({"b_std": float("nan")}, "b_std"),
    ({"b_std": "1"}, "b_std"),
    ({"xs": np.ones(4)}, "2-D"),
    ({"xs": np.ones((2, 3, 4))}, "2-D"),
    ({"xs": np.ones((0, 3))}, "at least one row"),
    ({"xs": np.array([[1.0, np.nan]])}, "NaN"),
    ({"xs": np.array([["a", "b"]])}, "real numbers"),
]


@pytest.mark.parametrize(("override", "message"), BAD_ARGUMENTS)
@pytest.mark.parametrize(
    "fn", [rmlp_nngp, rmlp_ntk, notebook_rmlp_nngp, notebook_rmlp_ntk], ids=lambda fn: fn.__name__
)
def test_invalid_arguments_raise_value_error(fn, override, message):
    arguments = {"xs": np.ones((2, 3)), "num_res_blocks": 2, "W_std": 1.0, "b_std": 0.5}
    arguments.update(override)
    with pytest.raises(ValueError, match=message):
        fn(**arguments)


@pytest.mark.parametrize("fn", [rmlp_kernels, notebook_rmlp_kernels], ids=lambda fn: fn.__name__)
def test_cross_kernel_feature_mismatch_raises(fn):
    with pytest.raises(ValueError, match="features"):
        fn(np.ones((2, 3)), np.ones((2, 4)), num_res_blocks=1, W_std=1.0, b_std=0.0)
