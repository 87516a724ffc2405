"""The exact mean-zero control variates of :mod:`harness.kernels._control`.

Independent truths used here:

* the one-layer Gaussian identities the control variates rest on, by
  quadrature (``scipy.integrate.quad`` of the conditional expectation) and
  Sheppard's formula ``P(z_a > 0, z_b > 0) = 1/4 + arcsin(c)/(2π)``;
* central finite differences of ``V`` and ``V̇`` (the hand-written
  derivatives of the ``custom_jvp`` rules);
* a NumPy recomputation, for one instantiated network, of the martingale
  differences from its own layers and of their push to the output by finite
  differences of a NumPy covariance recursion;
* the sampled networks themselves: the mean of the control variates over
  thousands of networks is zero within its standard error (a z-test with a
  Bonferroni cut at ``ALPHA = 1e-4`` per test, fixed seeds), and the kernels
  minus their controls have a smaller variance.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate
from scipy import stats

from analytic import relu_moments
from harness.kernels import conditional_kernels
from harness.kernels import monte_carlo_kernels
from harness.kernels._control import _derivative_moment
from harness.kernels._control import _second_moment
from models import ResidualMLP
from models import draw_parameters
from models import residual_mlp_trace

ALPHA = 1e-4


def _covariance(seed: int, n: int = 5) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n, n + 2))
    return a @ a.T / (n + 2) + 0.1 * np.eye(n)


def _relu_product_by_quadrature(var_a: float, cov: float, var_b: float) -> float:
    """``E[relu(z_a) relu(z_b)]``: ``∫ x E[relu(z_b) | z_a = x] φ_a(x) dx`` over ``x > 0``."""
    slope = cov / var_a
    sd = math.sqrt(max(var_b - cov * cov / var_a, 0.0))

    def integrand(x):
        mean = slope * x
        if sd == 0.0:
            inner = max(mean, 0.0)
        else:
            inner = mean * stats.norm.cdf(mean / sd) + sd * stats.norm.pdf(mean / sd)
        return x * inner * stats.norm.pdf(x, scale=math.sqrt(var_a))

    value, _ = integrate.quad(integrand, 0.0, np.inf, epsabs=1e-15, epsrel=1e-13, limit=200)
    return value


def test_one_layer_identities_against_quadrature_and_sheppard():
    sigma = _covariance(0)
    with jax.enable_x64(True):
        value = np.asarray(_second_moment(jnp.asarray(sigma)))
        derivative = np.asarray(_derivative_moment(jnp.asarray(sigma)))
    n = sigma.shape[0]
    for a in range(n):
        for b in range(n):
            expected = _relu_product_by_quadrature(sigma[a, a], sigma[a, b], sigma[b, b])
            assert value[a, b] == pytest.approx(expected, rel=1e-10)
            cosine = sigma[a, b] / math.sqrt(sigma[a, a] * sigma[b, b])
            sheppard = 0.25 + math.asin(min(cosine, 1.0)) / (2 * math.pi)
            assert derivative[a, b] == pytest.approx(sheppard, rel=1e-12)


@pytest.mark.parametrize("function", [_second_moment, _derivative_moment], ids=["V", "V_dot"])
def test_derivatives_against_central_differences(function):
    sigma = _covariance(1)
    direction = _covariance(2) - _covariance(3)
    step = 1e-6
    with jax.enable_x64(True):
        _, tangent = jax.jvp(function, (jnp.asarray(sigma),), (jnp.asarray(direction),))
        plus = np.asarray(function(jnp.asarray(sigma + step * direction)))
        minus = np.asarray(function(jnp.asarray(sigma - step * direction)))
    tangent = np.asarray(tangent)
    off = ~np.eye(sigma.shape[0], dtype=bool)
    np.testing.assert_allclose(
        tangent[off], ((plus - minus) / (2 * step))[off], rtol=1e-6, atol=1e-9
    )
    # On the diagonal: V_aa = Σ_aa / 2 and V̇_aa = 1/2 exactly.
    expected_diagonal = 0.5 * np.diag(direction) if function is _second_moment else 0.0
    np.testing.assert_allclose(np.diag(tangent), expected_diagonal, atol=1e-15)


def _numpy_recursion(k0, m_0, m_v, m_h, w, beta):
    """NNGP, NTK and Θ_L of the covariance recursion with perturbations, in NumPy."""

    def moments(sigma):
        diag = np.diag(sigma)
        with jax.enable_x64(True):
            value, derivative = relu_moments(diag[:, None], sigma, diag[None, :])
        return np.asarray(value), np.asarray(derivative)

    k, theta = k0 + m_0, k0.copy()
    for l in range(len(m_v)):
        sigma = w * k + beta
        value, derivative = moments(sigma)
        k_v = value + m_v[l]
        theta = theta + w * derivative * (w * theta + sigma) + w * k_v + beta
        k = k + w * k_v + beta + m_h[l]
    value, derivative = moments(k)
    return w * value, w * derivative * theta + w * value, theta


def test_flax_controls_match_a_numpy_recomputation():
    blocks, W_std, b_std, width = 2, 1.3, 0.4, 64
    xs = np.random.default_rng(4).standard_normal((5, 3))
    model = ResidualMLP(width, blocks, W_std, b_std, dtype=jnp.float64)
    with jax.enable_x64(True):
        kernels = monte_carlo_kernels(model, xs, [7])
        variables = draw_parameters(model, jax.random.PRNGKey(7), 3)
        trace = residual_mlp_trace(variables, xs, W_std=W_std, b_std=b_std, precision="highest")
    hidden = [np.asarray(h) for h in (*trace.block_inputs, trace.last_hidden)]
    branch = [np.maximum(np.asarray(u), 0.0) for u in trace.block_preactivations]
    gram = [h @ h.T / width for h in hidden]
    gram_v = [v @ v.T / width for v in branch]
    w, beta = W_std**2, b_std**2
    k0 = w * xs @ xs.T / 3 + beta

    def moment(sigma):
        return _numpy_recursion(sigma, np.zeros_like(sigma), [], [], 1.0, 0.0)[0]

    m_0 = gram[0] - k0
    m_v = [gram_v[l] - moment(w * gram[l] + beta) for l in range(blocks)]
    m_h = [gram[l + 1] - (gram[l] + w * gram_v[l] + beta) for l in range(blocks)]
    step = 1e-5
    plus = _numpy_recursion(
        k0, step * m_0, [step * m for m in m_v], [step * m for m in m_h], w, beta
    )
    minus = _numpy_recursion(
        k0, -step * m_0, [-step * m for m in m_v], [-step * m for m in m_h], w, beta
    )
    readout = np.asarray(variables["params"]["readout"]["kernel"])[:, 0]
    mask = (hidden[-1] > 0).astype(float)
    m_r = w * (mask * (readout**2 - 1)) @ mask.T / width
    theta = _numpy_recursion(k0, 0 * k0, [0 * m for m in m_v], [0 * m for m in m_h], w, beta)[2]
    expected_nngp = (plus[0] - minus[0]) / (2 * step)
    expected_ntk = (plus[1] - minus[1]) / (2 * step) + m_r * theta
    scale = np.abs(expected_ntk).max()
    np.testing.assert_allclose(kernels.nngp_control[0], expected_nngp, rtol=1e-5, atol=1e-7 * scale)
    np.testing.assert_allclose(kernels.ntk_control[0], expected_ntk, rtol=1e-5, atol=1e-7 * scale)


def _special_inputs():
    """A zero row, a near-duplicate pair and an antipodal pair (the guards' cases)."""
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((6, 4))
    xs[1] = xs[0] + 1e-7 * rng.standard_normal(4)
    xs[3] = -xs[2]
    xs[5] = 0.0
    return xs


def _mean_zero_z(controls: np.ndarray) -> float:
    """Largest ``|mean / se|`` over the upper-triangle entries of the control variates."""
    rows, cols = np.triu_indices(controls.shape[1])
    values = controls[:, rows, cols]
    se = values.std(axis=0, ddof=1) / math.sqrt(values.shape[0])
    varying = se > 0
    assert np.all(values[:, ~varying] == 0.0)  # e.g. the zero row with b_std = 0
    return float(np.max(np.abs(values.mean(axis=0)[varying] / se[varying])))


# Three samplers x two kernels, each a max over <= 21 entries: Bonferroni over 21 per test.
CUT = float(stats.norm.isf(ALPHA / (2 * 21)))


@pytest.mark.parametrize(
    ("inputs", "b_std", "width"),
    [("gaussian", 0.5, 8), ("special", 0.0, 8), ("gaussian", 0.5, 64)],
)
def test_conditional_controls_have_mean_zero_and_reduce_variance(inputs, b_std, width):
    xs = (
        _special_inputs()
        if inputs == "special"
        else np.random.default_rng(6).standard_normal((6, 4))
    )
    kernels = conditional_kernels(
        xs, 4000, width=width, num_res_blocks=2, W_std=1.5, b_std=b_std, base_seed=11
    )
    for kernel in ("nngp", "ntk"):
        raw, control = getattr(kernels, kernel), getattr(kernels, f"{kernel}_control")
        assert _mean_zero_z(control) < CUT
        assert np.sum(np.var(raw - control, axis=0)) < 0.7 * np.sum(np.var(raw, axis=0))


def test_flax_controls_have_mean_zero():
    xs = np.random.default_rng(6).standard_normal((6, 4)).astype(np.float32)
    model = ResidualMLP(16, 2, 1.5, 0.5)
    kernels = monte_carlo_kernels(model, xs, range(2000))
    for kernel in ("nngp", "ntk"):
        assert _mean_zero_z(getattr(kernels, f"{kernel}_control").astype(np.float64)) < CUT
