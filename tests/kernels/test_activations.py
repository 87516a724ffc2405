"""Every estimator takes the activation and the branch scale.

Truths:

* the empirical NTK of one instantiated network, written out as ``J Jᵀ`` from
  ``jax.jacrev`` of ``model.apply`` (``tests/kernels/test_ntk.py``), against the
  factored method and neural-tangents' ``empirical_ntk_fn`` of the stax twin;
* the infinite-width kernels of :mod:`analytic` (closed forms, themselves checked
  against neural-tangents and quadrature in ``tests/analytic/test_activations.py``),
  which the mean of thousands of conditional samples must approach: each entry's
  deviation over its standard error is a z-score, and the largest of 21 must stay
  below 4 (Bonferroni at 21 entries and two-sided 1e-3 gives 4.0), with a
  finite-width bias below 1% at width 512.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import analytic
from harness.kernels import conditional_kernels
from harness.kernels import empirical_ntk
from harness.stats import relative_frobenius_error
from models import ResidualMLP
from models import neural_tangents_available

pytestmark = pytest.mark.filterwarnings("ignore:size requires ndarray:DeprecationWarning")

SHAPES = [("erf", 1.0), ("gelu", 0.5), ("sin", 1.0), ("abrelu:-0.5,1.5", 0.8), ("identity", 0.7)]


def _written_out_ntk(model, params, xs):
    flat, unravel = ravel_pytree(params)
    jac = jax.jacrev(lambda p: model.apply(unravel(p), xs))(flat)
    return jnp.einsum("nkp,mkp->nm", jac, jac, precision="highest") / jac.shape[1]


@pytest.mark.parametrize(("activation", "alpha"), SHAPES)
def test_factored_and_neural_tangents_ntk_equal_written_out_jjt(activation, alpha):
    xs = jax.random.normal(jax.random.PRNGKey(3), (5, 4))
    model = ResidualMLP(
        48, 2, W_std=1.3, b_std=0.4, out_dim=2, activation=activation, branch_scale=alpha
    )
    params = model.init(jax.random.PRNGKey(4), xs)
    truth = _written_out_ntk(model.clone(precision="highest"), params, xs)
    methods = {"factored": {}}
    if neural_tangents_available():
        methods["nt"] = {"method": "nt"}
    for name, options in methods.items():
        ntk = empirical_ntk(model, params, xs, precision="highest", **options)
        assert relative_frobenius_error(ntk, truth) < 1e-5, name


def test_gelu_model_is_the_exact_gelu_not_the_tanh_approximation():
    xs = jax.random.normal(jax.random.PRNGKey(5), (4, 3))
    model = ResidualMLP(32, 1, W_std=1.0, b_std=0.0, activation="gelu")
    params = model.init(jax.random.PRNGKey(6), xs)
    exact = model.apply(params, xs)
    h = xs @ params["params"]["embed"]["kernel"] / np.sqrt(3)
    u = h @ params["params"]["block_0_dense_0"]["kernel"] / np.sqrt(32)
    by_hand = h + (u * jax.scipy.stats.norm.cdf(u)) @ params["params"]["block_0_dense_1"][
        "kernel"
    ] / np.sqrt(32)
    out = (
        (by_hand * jax.scipy.stats.norm.cdf(by_hand))
        @ params["params"]["readout"]["kernel"]
        / np.sqrt(32)
    )
    np.testing.assert_allclose(exact, out, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize(("activation", "alpha"), [("relu", 0.6), *SHAPES[:2]])
def test_conditional_samples_converge_to_the_analytic_kernels(activation, alpha):
    xs = np.random.default_rng(11).normal(size=(6, 4))
    arch = dict(num_res_blocks=2, W_std=1.3, b_std=0.4, activation=activation, branch_scale=alpha)
    samples = conditional_kernels(xs, 1500, width=512, base_seed=12, **arch)
    limit = analytic.rmlp_kernels(xs, **arch)
    rows, cols = np.triu_indices(6)
    for name in ("nngp", "ntk"):
        per_seed = getattr(samples, name)[:, rows, cols]
        truth = getattr(limit, name)[rows, cols]
        z = (per_seed.mean(axis=0) - truth) / (per_seed.std(axis=0, ddof=1) / np.sqrt(1500))
        assert np.max(np.abs(z)) < 4.0, (name, np.round(z, 2))
        scale = np.max(np.abs(truth))
        assert np.max(np.abs(per_seed.mean(axis=0) - truth)) < 0.01 * scale
    # No control variates exist for this network: they are exactly zero.
    assert not np.any(samples.nngp_control)
    assert not np.any(samples.ntk_control)
