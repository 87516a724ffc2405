"""Empirical NTK methods against a J Jᵀ written out here, and the NNGP estimators.

Truth: ``Θ = (1/K) Σ_k J_k J_kᵀ`` with ``J`` the Jacobian of ``model.apply``
with respect to the flattened parameters (``jax.jacrev`` + ``ravel_pytree``),
all at ``precision="highest"``. Every method must agree with it to 1e-5
relative Frobenius error: float32 rounding of a sum of ~10 layers' terms is
~1e-6, so 1e-5 leaves a factor 10 and still catches any missing layer
(each layer contributes ≥ 1e-2 of the total).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from harness.kernels import empirical_nngp
from harness.kernels import empirical_ntk
from harness.kernels import output_nngp
from harness.stats import relative_frobenius_error
from models import ResidualMLP

# (width, blocks, out_dim, W_std, b_std): a multi-output net, and the
# Monte Carlo test's net at width 1024 (the widest the tests use).
CONFIGS = [(64, 2, 3, 1.3, 0.6), (1024, 2, 1, 1.0, 1.0)]
RTOL = 1e-5
# neural-tangents 0.6.5 calls jnp.size on ShapeDtypeStruct (deprecated in JAX 0.10).
pytestmark = pytest.mark.filterwarnings("ignore:size requires ndarray:DeprecationWarning")


def written_out_ntk(model, params, xs):
    flat, unravel = ravel_pytree(params)
    jac = jax.jacrev(lambda p: model.apply(unravel(p), xs))(flat)  # (N, K, P)
    return jnp.einsum("nkp,mkp->nm", jac, jac, precision="highest") / jac.shape[1]


@pytest.fixture(scope="module")
def xs():
    return jax.random.normal(jax.random.PRNGKey(2), (7, 6))


@pytest.mark.slow
@pytest.mark.parametrize(("width", "blocks", "out_dim", "W_std", "b_std"), CONFIGS)
def test_all_methods_equal_written_out_jjt(xs, width, blocks, out_dim, W_std, b_std):
    model = ResidualMLP(width, blocks, W_std=W_std, b_std=b_std, out_dim=out_dim)
    params = model.init(jax.random.PRNGKey(width), xs)
    truth = written_out_ntk(model.clone(precision="highest"), params, xs)
    results = {
        "factored": empirical_ntk(model, params, xs, precision="highest"),
        "jacobian": empirical_ntk(model, params, xs, method="jacobian", precision="highest"),
        "nt1": empirical_ntk(
            model, params, xs, method="nt", nt_implementation=1, precision="highest"
        ),
        "nt2": empirical_ntk(
            model, params, xs, method="nt", nt_implementation=2, precision="highest"
        ),
    }
    for name, ntk in results.items():
        assert ntk.shape == (7, 7), name
        error = relative_frobenius_error(ntk, truth)
        assert error < RTOL, (name, error)


def test_jacobian_chunked_equals_unchunked(xs):
    # No blocks keeps the number of per-layer compilations small (3 layers).
    model = ResidualMLP(300, 0, W_std=1.1, b_std=0.7, out_dim=2, precision="highest")
    params = model.init(jax.random.PRNGKey(4), xs)
    whole = empirical_ntk(model, params, xs, method="jacobian")
    # Per input, the readout kernel's Jacobian is 2 outputs · 600 · 4 B = 4.8 kB
    # and the embedding's 2 · 1800 · 4 B = 14.4 kB; a 40 kB budget holds chunks
    # of 4 and 1 inputs (two chunks at once), far below the 7 · 2 · 2.7 k
    # params · 4 B = 0.15 MB of the whole Jacobian, so every layer is chunked.
    chunked = empirical_ntk(model, params, xs, method="jacobian", memory_budget_bytes=40_000)
    # Same products, summed in another order (float64 accumulation of blocks).
    assert relative_frobenius_error(chunked, whole) < 1e-6
    np.testing.assert_allclose(chunked, np.asarray(chunked).T, rtol=0, atol=0)
    with pytest.raises(ValueError, match="memory_budget_bytes"):
        empirical_ntk(model, params, xs, method="jacobian", memory_budget_bytes=10_000)


def test_bad_method_and_nt_implementation_3(xs):
    # Both are refused before any parameter is touched.
    model, params = ResidualMLP(8, 1), None
    with pytest.raises(ValueError, match=r"implementation 3.*fails on current JAX"):
        empirical_ntk(model, params, xs, method="nt", nt_implementation=3)
    with pytest.raises(ValueError, match="method must be one of"):
        empirical_ntk(model, params, xs, method="fast")


def test_nngp_estimators(xs):
    # Readout marginalisation: with K = n outputs and readout W_out = √n · I,
    # the raw estimator (1/K) f fᵀ = (W_std²/n)(1/n) φ (n I) φᵀ is exactly the
    # readout-marginalised (W_std²/n) φ φᵀ: an independent path through
    # flax's apply for the formula E_{W_out}[f fᵀ].
    width, W_std = 40, 1.4
    model = ResidualMLP(width, 2, W_std=W_std, b_std=0.3, out_dim=width, precision="highest")
    params = model.init(jax.random.PRNGKey(9), xs)
    params["params"]["readout"]["kernel"] = jnp.sqrt(width) * jnp.eye(width)
    marginal = empirical_nngp(model, params, xs)
    raw = output_nngp(model, params, xs)
    f = model.apply(params, xs)
    assert relative_frobenius_error(raw, f @ f.T / width) < 1e-6
    assert relative_frobenius_error(marginal, raw) < 1e-6
    # Positive semi-definite and symmetric.
    np.testing.assert_allclose(marginal, np.asarray(marginal).T, rtol=1e-6)
    assert np.linalg.eigvalsh(np.asarray(marginal, np.float64)).min() > -1e-4
