"""Monte Carlo kernels: determinism across batching, the pure per-seed core, and the
infinite-width limit (analytic kernels) at width 1024."""

import jax
import numpy as np
import pytest

from analytic import rmlp_nngp
from analytic import rmlp_ntk
from harness.kernels import empirical_nngp
from harness.kernels import empirical_ntk
from harness.kernels import estimate_network_bytes
from harness.kernels import init_network
from harness.kernels import monte_carlo_kernels
from harness.kernels import per_seed_kernels
from harness.kernels import seed_keys
from harness.stats import relative_frobenius_error
from models import ResidualMLP


@pytest.fixture(scope="module")
def xs():
    return jax.random.normal(jax.random.PRNGKey(21), (6, 10))


def alone_size(seed_loop):
    return 2 if seed_loop == "vmap" else 1


@pytest.mark.parametrize("seed_loop", ["vmap", "map"])
def test_seed_gives_same_kernels_whatever_the_batching(xs, seed_loop):
    model = ResidualMLP(64, 2, W_std=1.1, b_std=0.6, out_dim=2)
    # Full float32 matmuls (JAX's default is TF32 on NVIDIA GPUs): the comparison
    # with the single-network API below is at float32 rounding.
    options = {"seed_loop": seed_loop, "precision": "highest"}
    batch8 = monte_carlo_kernels(model, xs, range(8), batch_size=8, **options)
    alone = monte_carlo_kernels(model, xs, [5], **options)  # vmap: padded to a batch of 2
    # Seeds 5, 6 | 7 (padded) in batches of two: the same program as `alone`.
    batch3 = monte_carlo_kernels(
        model, xs, range(5, 8), batch_size=alone_size(seed_loop), **options
    )
    assert batch8.ntk.shape == (8, 6, 6)
    assert batch8.precision == "highest"
    # Bit-identical: seed 5 alone, in a batch of 8, and in smaller batches.
    np.testing.assert_array_equal(alone.ntk[0], batch8.ntk[5])
    np.testing.assert_array_equal(alone.nngp[0], batch8.nngp[5])
    np.testing.assert_array_equal(batch3.ntk, batch8.ntk[5:])
    np.testing.assert_array_equal(batch3.nngp, batch8.nngp[5:])
    # Different seeds are different networks.
    assert relative_frobenius_error(batch8.ntk[0], batch8.ntk[1]) > 1e-2
    # The same network through the single-network API (a separate program:
    # float32 rounding only).
    variables = init_network(model, xs, 5)
    ntk = empirical_ntk(model, variables, xs, precision="highest")
    assert relative_frobenius_error(ntk, alone.ntk[0]) < 1e-6
    nngp = empirical_nngp(model, variables, xs, precision="highest")
    assert relative_frobenius_error(nngp, alone.nngp[0]) < 1e-6


def test_per_seed_kernels_is_pure_and_jittable(xs):
    model = ResidualMLP(64, 1, W_std=1.0, b_std=0.5)
    keys = seed_keys([3, 4])
    fn = jax.jit(per_seed_kernels, static_argnames=("model", "ntk_method", "precision"))
    nngp, ntk = fn(model, keys, xs, precision="highest")
    expected = monte_carlo_kernels(model, xs, [3, 4], precision="highest", seed_loop="map")
    np.testing.assert_allclose(nngp, expected.nngp, rtol=1e-6)
    np.testing.assert_allclose(ntk, expected.ntk, rtol=1e-6)
    # The Jacobian contraction inside the same vmap gives the same NTK (see
    # tests/kernels/test_ntk.py for the 1e-5 tolerance).
    _, ntk_jac = fn(model, keys, xs, ntk_method="jacobian", precision="highest")
    assert np.all(relative_frobenius_error(ntk_jac, ntk) < 1e-5)  # each seed
    with pytest.raises(ValueError, match="ntk_method"):
        per_seed_kernels(model, keys, xs, ntk_method="nt")


def test_memory_estimate_and_batch_sizing(xs):
    # Width 8192, 3 blocks, d = 10: 6 · 8192² + ... = 403 M parameters, 1.6 GB in float32.
    params_bytes = 4 * (10 * 8192 + 8192 + 6 * (8192**2 + 8192) + 8192)
    estimate = estimate_network_bytes(8192, 3, 10, 64)
    assert params_bytes == pytest.approx(1.61e9, rel=0.01)
    assert params_bytes < estimate < 5 * params_bytes
    assert estimate_network_bytes(1024, 3, 10, 64) < estimate
    # A budget below one network still runs, one network per batch.
    model = ResidualMLP(32, 1)
    tiny = monte_carlo_kernels(model, xs, [0, 1], memory_budget_bytes=1, seed_loop="vmap")
    whole = monte_carlo_kernels(model, xs, [0, 1], seed_loop="vmap")
    np.testing.assert_array_equal(tiny.ntk, whole.ntk)


@pytest.mark.slow
def test_monte_carlo_means_match_analytic_kernels_at_width_1024(xs):
    # Width 1024, 2 blocks, W_std = b_std = 1, 6 inputs, S = 48 fixed seeds.
    #
    # Tolerance: the mean over S seeds differs from the infinite-width kernel
    # by (i) Monte Carlo noise, whose relative Frobenius size is
    # ‖sd‖_F/(√S ‖K‖_F); the per-seed relative spread measured here is
    # 0.09 (NNGP) and 0.085 (NTK), so 0.09/√48 = 1.3%; the entries of one
    # kernel move together (few effective degrees of freedom), so 3 of these
    # standard errors, 3.9%, is a ~3σ bound; and (ii) the O(1/n) finite-width
    # bias: measured with 256 seeds at width 128, the whole error was ≤ 2.1%
    # with a standard error of 1.5%, so the bias there is ≲ 2.1% + 2 · 1.5% =
    # 5.1% and at width 1024 ≲ 5.1% · 128/1024 = 0.6%. Together 4.5% < 5%.
    # The test also checks that the observed standard error keeps that budget.
    num_res_blocks, W_std, b_std, seeds = 2, 1.0, 1.0, 48
    model = ResidualMLP(1024, num_res_blocks, W_std=W_std, b_std=b_std)
    result = monte_carlo_kernels(model, xs, range(seeds))
    x64 = np.asarray(xs, np.float64)
    for name, per_seed, analytic in (
        ("nngp", result.nngp, rmlp_nngp(x64, num_res_blocks, W_std, b_std)),
        ("ntk", result.ntk, rmlp_ntk(x64, num_res_blocks, W_std, b_std)),
    ):
        standard_error = np.linalg.norm(per_seed.std(0, ddof=1)) / np.sqrt(seeds)
        relative_se = standard_error / np.linalg.norm(analytic)
        assert relative_se < 0.015, (name, relative_se)
        error = relative_frobenius_error(per_seed.mean(0), analytic)
        assert error < 0.05, (name, error)


def test_without_control_variates_the_kernels_are_the_same_networks(xs):
    """``control_variates=False`` (the benchmark's like-for-like with neural-tangents) drops
    the controls, not the networks: the kernels of each seed agree with the default's to
    float32 rounding (a different program), and with the single-network API."""
    model = ResidualMLP(64, 2, W_std=1.1, b_std=0.6)
    options = {"precision": "highest"}
    with_controls = monte_carlo_kernels(model, xs, range(3), **options)
    plain = monte_carlo_kernels(model, xs, range(3), control_variates=False, **options)
    assert plain.nngp_control is None
    assert plain.ntk_control is None
    assert with_controls.nngp_control.shape == plain.nngp.shape == (3, 6, 6)
    for s in range(3):
        assert relative_frobenius_error(plain.ntk[s], with_controls.ntk[s]) < 1e-6
        assert relative_frobenius_error(plain.nngp[s], with_controls.nngp[s]) < 1e-6
    variables = init_network(model, xs, 2)
    ntk = empirical_ntk(model, variables, xs, precision="highest")
    assert relative_frobenius_error(ntk, plain.ntk[2]) < 1e-6
