"""The Gaussian-conditioning sampler against instantiated networks and the analytic limit.

Independent truths used here:

* the exact law of one conditioned matrix product, from the covariance of the
  instantiated products (deterministic, to rounding), for both bases (Gram
  and Householder) and the square root of the cotangent Gram matrix;
* the two conditions that law needs of a basis (``QᵀQ`` a projector,
  ``Hᵀ = QR``), measured directly, and Householder QR where they fail;
* the normal generator: its angles against the regular grid of the circle
  (exact integers), its radii at the ends of their range, and a
  Kolmogorov-Smirnov test against ``scipy.stats.norm``;
* instantiated Flax networks (:class:`models.ResidualMLP`,
  :func:`models.draw_parameters`), NNGP from their last hidden layer and NTK
  from the literal parameter Jacobian (``jax.jacrev`` of ``model.apply``);
* the analytic infinite-width kernels (:func:`analytic.rmlp_nngp`,
  :func:`analytic.rmlp_ntk`).

Every statistical assertion is a z- or t-test whose standard error comes from
the samples, with a Bonferroni threshold that holds the test's false-failure
probability below ``ALPHA = 1e-4`` under the normal approximation; the file
has fewer than ten such tests, so its false-failure rate is below 1e-3. All
seeds are fixed. The normal approximation was checked when this file was
written, on 150 pairs of independent sampler runs at the sizes of configs
``w8-L1`` and ``w8-L10`` (NTK kurtosis ~100 there): the z's had standard
deviation 0.94-1.04, none exceeded 3.5, and the largest max |z| of a
two-sample test was 3.5 against the threshold 4.79.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import analytic
from harness.kernels import conditional_kernels
from harness.kernels import conditional_keys
from harness.kernels import conditional_network_bytes
from harness.kernels import conditional_network_kernels
from harness.kernels.conditional._basis import _backward_product
from harness.kernels.conditional._basis import _basis
from harness.kernels.conditional._basis import _gram_basis
from harness.kernels.conditional._basis import _householder
from harness.kernels.conditional._basis import _square_root
from harness.kernels.conditional._linalg import _gram
from harness.kernels.conditional._normals import _box_muller
from harness.kernels.conditional._normals import _normal
from models import ResidualMLP
from models import draw_parameters
from models import residual_mlp_trace

ALPHA = 1e-4  # false-failure probability of each statistical test
QUANTILE = 0.9
HIGHEST = jax.lax.Precision.HIGHEST

# Four inputs in R^3: different norms, one pair close to antipodal.
XS = np.array(
    [[1.0, 0.2, -0.3], [0.1, -1.0, 0.5], [-0.9, -0.25, 0.35], [0.4, 0.3, 1.6]],
)
# Ten inputs in R^3 (so rank <= 3 < N): rows 0 and 4 identical, row 7 zero.
XS_DEFICIENT = np.array(
    [
        [1.0, 0.2, -0.3],
        [0.1, -1.0, 0.5],
        [-0.9, -0.25, 0.35],
        [0.4, 0.3, 1.6],
        [1.0, 0.2, -0.3],
        [0.0, 0.8, 0.8],
        [-1.2, 0.5, 0.1],
        [0.0, 0.0, 0.0],
        [0.5, -0.5, -0.5],
        [2.0, 0.1, 0.0],
    ]
)
# The smallest such set: rows 0 and 2 identical, row 3 zero.
XS_DUPLICATE_ZERO = XS_DEFICIENT[[0, 1, 4, 7, 3]]


# --------------------------------------------------------------------------- statistics


def bonferroni_z(n_comparisons: int, alpha: float = ALPHA) -> float:
    """Two-sided normal threshold whose union bound over the comparisons is ``alpha``."""
    return float(stats.norm.isf(alpha / (2 * n_comparisons)))


def _sparsity(x, p):
    """``1/f(q_p)`` per column: Siddiqui's difference quotient, Bofinger's bandwidth.

    Koenker (2005), *Quantile Regression*, §3.4: ``(q̂_{p+h} − q̂_{p−h}) / 2h``
    with ``h = S^{-1/5} [4.5 φ(Φ⁻¹(p))⁴ / (2Φ⁻¹(p)² + 1)²]^{1/5}``.
    """
    z = stats.norm.ppf(p)
    h = len(x) ** -0.2 * (4.5 * stats.norm.pdf(z) ** 4 / (2 * z**2 + 1) ** 2) ** 0.2
    high, low = np.quantile(x, [min(p + h, 1.0), max(p - h, 0.0)], axis=0)
    return (high - low) / (2 * h)


def two_sample_z(a, b, p: float = QUANTILE):
    """z-statistics of ``a`` (S_a, M) against ``b`` (S_b, M), one row per statistic.

    Rows: mean (SE² = s²/S), variance (SE² = (m₄ − s⁴)/S, the delta-method
    variance of the sample variance) and ``p``-quantile (SE² =
    p(1−p)/(f(q)² S), the asymptotic variance of a sample quantile).
    """

    def moments(x):
        centred = x - x.mean(0)
        var = (centred**2).mean(0)
        return (
            x.mean(0),
            x.var(0, ddof=1) / len(x),
            x.var(0, ddof=1),
            ((centred**4).mean(0) - var**2) / len(x),
            np.quantile(x, p, axis=0),
            p * (1 - p) * _sparsity(x, p) ** 2 / len(x),
        )

    ma, sma, va, sva, qa, sqa = moments(a)
    mb, smb, vb, svb, qb, sqb = moments(b)
    return np.stack(
        [
            (ma - mb) / np.sqrt(sma + smb),
            (va - vb) / np.sqrt(sva + svb),
            (qa - qb) / np.sqrt(sqa + sqb),
        ]
    )


def upper_entries(kernels):
    """(S, N, N) -> (S, N(N+1)/2) upper-triangle entries."""
    i, j = np.triu_indices(kernels.shape[1])
    return kernels[:, i, j]


def kernel_z(reference, candidate):
    """|z| of every entry and statistic of both kernels; entries constant in both are checked
    to be the same constant and left out (e.g. exact zeros of a zero input)."""
    zs = []
    for ref, cand in zip(reference, candidate, strict=True):
        ref, cand = upper_entries(ref), upper_entries(cand)
        constant = (np.ptp(ref, axis=0) == 0) & (np.ptp(cand, axis=0) == 0)
        np.testing.assert_array_equal(ref[0, constant], cand[0, constant])
        zs.append(np.abs(two_sample_z(ref[:, ~constant], cand[:, ~constant])))
    return np.concatenate(zs, axis=1)


# --------------------------------------------------------------------------- instantiated networks


def flax_kernels(xs, seeds, *, width, num_res_blocks, W_std, b_std, chunk=200):
    """NNGP and literal-Jacobian NTK of ``draw_parameters(model, PRNGKey(s), d)`` per seed.

    ``chunk`` networks per call (it divides every config's count, so one program serves a
    config): the literal Jacobians of many wide networks at once only cost memory traffic.
    """
    model = ResidualMLP(width, num_res_blocks, W_std=W_std, b_std=b_std, precision=HIGHEST)
    xs = jnp.asarray(xs, jnp.float32)
    n_inputs, input_dim = xs.shape

    def one(key):
        params = draw_parameters(model, key, input_dim)
        trace = residual_mlp_trace(params, xs, W_std=W_std, b_std=b_std, precision=HIGHEST)
        phi = trace.readout_input
        nngp = W_std**2 / width * jnp.matmul(phi, phi.T, precision=HIGHEST)
        jacobian = jax.jacrev(lambda p: model.apply(p, xs)[:, 0])(params)
        ntk = 0.0
        for leaf in jax.tree_util.tree_leaves(jacobian):
            leaf = leaf.reshape(n_inputs, -1)
            ntk = ntk + jnp.matmul(leaf, leaf.T, precision=HIGHEST)
        return nngp, ntk

    batched = jax.jit(jax.vmap(one))
    nngps, ntks = [], []
    for start in range(0, len(seeds), chunk):
        keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds[start : start + chunk]])
        nngp, ntk = batched(keys)
        nngps.append(np.asarray(nngp, np.float64))
        ntks.append(np.asarray(ntk, np.float64))
    return np.concatenate(nngps), np.concatenate(ntks)


#: name: (inputs, width, num_res_blocks, W_std, b_std, networks per side)
CONFIGS = {
    "w8-L1": (XS, 8, 1, 1.0, 0.5, 3000),
    "w16-L3": (XS, 16, 3, 1.3, 0.2, 3000),
    "w8-L10": (XS, 8, 10, 0.9, 0.3, 2000),
    "w8-L3-rank-deficient": (XS_DEFICIENT, 8, 3, 1.1, 0.0, 2000),
    "w256-L3": (XS, 256, 3, 1.0, 0.5, 800),
    "w64-L10": (XS, 64, 10, 1.0, 0.1, 800),
}
SLOW_CONFIGS = ("w256-L3", "w64-L10", "w8-L10")


@functools.cache
def flax_samples(name):
    xs, width, depth, W_std, b_std, seeds = CONFIGS[name]
    return flax_kernels(
        xs, list(range(seeds)), width=width, num_res_blocks=depth, W_std=W_std, b_std=b_std
    )


def conditional_samples(name, *, W_scale=1.0, base_seed=20240601):
    xs, width, depth, W_std, b_std, seeds = CONFIGS[name]
    result = conditional_kernels(
        xs,
        seeds,
        width=width,
        num_res_blocks=depth,
        W_std=W_std * W_scale,
        b_std=b_std,
        base_seed=base_seed,
    )
    return result.nngp, result.ntk


# --------------------------------------------------------------------------- tests


def _factors(h, basis):
    """``(Qᵀ, R)`` of ``Hᵀ = QR`` as the sampler makes them (instantiated when ``n_in <= N``)."""
    n_inputs, n_in = h.shape
    if n_in <= n_inputs:
        return jnp.eye(n_in, dtype=h.dtype), h.T
    if basis == "gram":
        q_t, r, ok = _gram_basis(h, _gram(h))
        assert ok
        return q_t, r
    return _householder(h)


@pytest.mark.parametrize(
    ("n_in", "n_out", "h_rows", "d_rows", "basis"),
    [
        pytest.param(7, 6, None, None, "gram", id="full-rank-gram"),
        pytest.param(7, 6, None, None, "householder", id="full-rank-householder"),
        pytest.param(7, 6, "deficient", None, "gram", id="H-duplicate-and-zero-rows-gram"),
        pytest.param(7, 6, "deficient", None, "householder", id="H-duplicate-and-zero-rows-qr"),
        pytest.param(3, 6, None, None, None, id="n_in<N"),
        pytest.param(7, 3, None, "deficient", "gram", id="n_out<N-D-deficient-gram"),
        pytest.param(7, 3, None, "deficient", "householder", id="n_out<N-D-deficient-qr"),
    ],
)
def test_one_matrix_products_have_the_exact_joint_law(n_in, n_out, h_rows, d_rows, basis):
    """(Rᵀ Z₁, Y + (D Z₁ᵀ − Y Q) Qᵀ), Y = R_Dᵀ Z₂, has the covariance of (H W, D Wᵀ).

    Both pairs are linear in Gaussians, so equal covariances mean equal laws;
    the covariances are computed exactly (Jacobians of the linear maps).
    A sampler that ignored the forward product in the backward pass (the
    gradient-independence assumption) would miss the cross-covariance
    ``Cov((HW)_ij, (DWᵀ)_kl) = H_il D_kj``. This test is needed because the
    whole-network two-sample test below cannot see that mistake: with 4000
    networks per side at widths 2, 4 and 8 such a sampler's NTK entries
    passed it (measured when this test was written).
    """
    n_inputs = 4
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        h = rng.normal(size=(n_inputs, n_in))
        d = rng.normal(size=(n_inputs, n_out))
        if h_rows == "deficient":
            h[2], h[3] = h[0], 0.0
        if d_rows == "deficient":
            d[1], d[2] = d[3], 0.0
        h, d = jnp.asarray(h), jnp.asarray(d)
        q_t, r = _factors(h, basis)
        r_d = _square_root(d, _gram(d))
        k, k_d = r.shape[0], r_d.shape[0]
        if h_rows == "deficient":
            assert np.all(np.asarray(r)[:, 3] == 0)  # a zero input row: an exactly zero column

        def conditioned(z):
            z1 = z[: k * n_out].reshape(k, n_out)
            z2 = z[k * n_out :].reshape(k_d, n_in)
            forward = r.T @ z1
            backward = _backward_product(d, r_d, z1, q_t, z2)
            return jnp.concatenate([forward.ravel(), backward.ravel()])

        def instantiated(w):
            w = w.reshape(n_in, n_out)
            return jnp.concatenate([(h @ w).ravel(), (d @ w.T).ravel()])

        m = jax.jacfwd(conditioned)(jnp.zeros(k * n_out + k_d * n_in))
        j = jax.jacfwd(instantiated)(jnp.zeros(n_in * n_out))
        cov_conditioned, cov_true = np.asarray(m @ m.T), np.asarray(j @ j.T)
    np.testing.assert_allclose(cov_conditioned, cov_true, rtol=0, atol=1e-12)
    cross = cov_true[: n_inputs * n_out, n_inputs * n_out :]
    assert np.abs(cross).max() > 0.1  # the forward-backward coupling is really there


def _with_singular_values(singular_values, m, seed):
    """``U diag(σ) Vᵀ`` with random orthonormal ``U`` (N × N) and ``V`` (m × N)."""
    rng = np.random.default_rng(seed)
    n_inputs = len(singular_values)
    u = np.linalg.qr(rng.normal(size=(n_inputs, n_inputs)))[0]
    v = np.linalg.qr(rng.normal(size=(m, n_inputs)))[0]
    return (u * singular_values) @ v.T


def _basis_cases():
    rng = np.random.default_rng(3)
    generic = rng.normal(size=(12, 300))
    deficient = rng.normal(size=(12, 3)) @ rng.normal(size=(3, 300))  # rank 3
    deficient[5], deficient[7], deficient[9] = deficient[2], 0.0, deficient[2]
    near = generic.copy()
    near[1] = near[0] + 1e-7 * rng.normal(size=300)
    nearer = generic.copy()
    nearer[1] = nearer[0] + 1e-13 * rng.normal(size=300)
    scales = generic * np.logspace(0, -9, 12)[:, None]  # rows from 1 to 1e-9
    return {
        "generic": generic,
        "rank-3-duplicates-zero-row": deficient,
        "near-duplicates-1e-7": near,
        "near-duplicates-1e-13": nearer,
        "row-norms-1-to-1e-9": scales,
        "kappa-1e6-graded": _with_singular_values(np.logspace(0, -6, 12), 300, 0),
    }


@pytest.mark.parametrize("name", list(_basis_cases()))
def test_gram_basis_is_a_partial_isometry_with_h_in_its_span(name):
    """The two conditions of the proof, measured: ``QᵀQ`` is an orthogonal projector and every
    row of ``H`` equals ``Q r_i`` to rounding of that row (as Householder QR achieves)."""
    h = _basis_cases()[name]
    with jax.enable_x64(True):
        h = jnp.asarray(h)
        q_t, r, ok = (np.asarray(x) for x in _gram_basis(h, _gram(h)))
        h = np.asarray(h)
    assert ok
    eps = np.finfo(np.float64).eps
    projector = q_t @ q_t.T
    np.testing.assert_allclose(projector @ projector, projector, rtol=0, atol=50 * eps)
    np.testing.assert_allclose(projector, projector.T, rtol=0, atol=50 * eps)
    residual = np.linalg.norm(h - r.T @ q_t, axis=1)
    assert np.all(residual <= 50 * eps * np.linalg.norm(h, axis=1))
    if name == "rank-3-duplicates-zero-row":
        assert np.isclose(np.trace(projector), 3, atol=1e-12)  # the span is the row space
        assert np.all(r[:, 7] == 0)
    else:
        assert np.isclose(np.trace(projector), 12, atol=1e-12)


def test_ill_conditioned_h_falls_back_to_householder_also_under_vmap():
    """A graded spectrum down to 1e-12 fails the checks and gets Householder's factors;
    batched with a well-conditioned matrix, each gets its own (the fallback is per network)."""
    bad = _with_singular_values(np.logspace(0, -12, 12), 300, 1)
    good = _basis_cases()["generic"]
    with jax.enable_x64(True):
        bad, good = jnp.asarray(bad), jnp.asarray(good)
        assert not _gram_basis(bad, _gram(bad))[2]
        q_bad, r_bad = _householder(bad)
        q_good, r_good, ok = _gram_basis(good, _gram(good))
        assert ok
        stacked = jnp.stack([good, bad])
        q_t, r = jax.jit(jax.vmap(_basis))(stacked, jax.vmap(_gram)(stacked))
        one_q, one_r = jax.jit(_basis)(bad, _gram(bad))
    for got, want in ((q_t[0], q_good), (r[0], r_good), (q_t[1], q_bad), (r[1], r_bad)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(one_q), np.asarray(q_bad), rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(one_r), np.asarray(r_bad), rtol=0, atol=1e-13)


def test_box_muller_angles_are_the_midpoint_grid_of_the_circle():
    """Angle codes map one-to-one onto the 2^32 cell midpoints ``(j + ½) 2π/2^32``, and
    the radius spans ``√(−2 ln U)`` for ``U`` from ``2^-53`` (all-zero bits) to 1."""
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2**32, size=20000, dtype=np.uint64)
    codes = np.concatenate([codes, codes ^ 1, codes ^ 2, codes ^ 4, codes ^ 7])
    codes = np.concatenate([codes, [0, 1, 2**29, 2**32 - 1]]).astype(np.uint32)
    zeros = np.zeros_like(codes)
    with jax.enable_x64(True):
        first, second = (np.asarray(x) for x in _box_muller(zeros, zeros, codes, jnp.float64))
        ones = np.full(3, 2**32 - 1, np.uint32)
        top = np.asarray(_box_muller(ones, ones, ones, jnp.float64))
    radius = np.hypot(first, second)
    np.testing.assert_allclose(radius, np.sqrt(2 * 53 * np.log(2)), rtol=1e-15)
    cells = np.mod(np.arctan2(second, first), 2 * np.pi) / (2 * np.pi / 2**32) - 0.5
    index = np.round(cells)
    assert np.abs(cells - index).max() < 1e-4
    unique_codes = np.unique(codes)
    assert len(np.unique(np.mod(index, 2**32))) == len(unique_codes)
    assert np.all(top == 0)  # U = 1


def test_normal_draws_are_standard_normal():
    """Kolmogorov-Smirnov against N(0, 1) on 2^21 draws from several calls, at ``ALPHA``."""
    with jax.enable_x64(True):
        z = np.asarray(_normal(jax.random.PRNGKey(11), (32, 2**16), jnp.float64)).ravel()
    assert stats.kstest(z, "norm").pvalue > ALPHA


@pytest.mark.parametrize(
    "name",
    [
        name if name not in SLOW_CONFIGS else pytest.param(name, marks=pytest.mark.slow)
        for name in CONFIGS
    ],
)
def test_same_law_as_instantiated_networks(name):
    """Mean, variance and 0.9-quantile of every NNGP and NTK entry match Flax networks."""
    z = kernel_z(flax_samples(name), conditional_samples(name))
    threshold = bonferroni_z(z.size)
    assert z.max() < threshold, (
        f"{name}: max |z| {z.max():.2f} >= {threshold:.2f} (mean, var, q rows: "
        f"{z.max(axis=1).round(2)})"
    )


def test_two_sample_test_rejects_a_five_percent_weight_scale_error():
    """Power: the same test, the same sample sizes, W_std off by 5% in the sampler."""
    z = kernel_z(flax_samples("w8-L1"), conditional_samples("w8-L1", W_scale=1.05))
    assert z.max() > bonferroni_z(z.size)


def _one_sample_t(samples, reference):
    """|t| of the seed mean of every entry against ``reference``, and the Bonferroni t."""
    mean = samples.mean(0)
    se = samples.std(0, ddof=1) / np.sqrt(len(samples))
    upper = np.triu_indices(reference.shape[0])
    t = np.abs(mean - reference)[upper] / se[upper]
    # Two-sided, over the entries of both kernels (each call covers one kernel).
    return t, float(stats.t.isf(ALPHA / (2 * 2 * t.size), df=len(samples) - 1))


@pytest.mark.parametrize(
    ("xs", "b_std", "width"),
    [
        pytest.param(XS, 0.5, 2**16, id="generic"),
        pytest.param(XS_DUPLICATE_ZERO, 0.0, 2**14, id="rank-deficient"),
    ],
)
def test_wide_networks_match_the_analytic_kernels(xs, b_std, width):
    """At widths 2^14-2^16 the seed means are within Bonferroni t-thresholds of the limit.

    The finite-width bias is O(1/n) while the standard error of the mean of
    S networks is O(1/√(nS)), so with S = 24 the bias is a few percent of the
    standard error (2^16) to ~10% (2^14), and the limit is what the test sees.
    """
    depth, W_std, seeds = 3, 1.2, 24
    result = conditional_kernels(
        xs, seeds, width=width, num_res_blocks=depth, W_std=W_std, b_std=b_std, base_seed=7
    )
    nngp = analytic.rmlp_nngp(xs, depth, W_std, b_std)
    ntk = analytic.rmlp_ntk(xs, depth, W_std, b_std)
    assert np.all(np.isfinite(result.nngp))
    assert np.all(np.isfinite(result.ntk))
    nonzero = np.ones(len(xs), bool)
    if b_std == 0.0:
        # A zero input has zero kernel rows in the network and in the limit.
        nonzero = np.any(xs != 0, axis=1)
        assert np.all(result.nngp[:, ~nonzero] == 0)
        assert np.all(result.ntk[:, ~nonzero] == 0)
        assert np.all(nngp[~nonzero] == 0)
        assert np.all(ntk[~nonzero] == 0)
    keep = np.ix_(nonzero, nonzero)
    for samples, reference in ((result.nngp, nngp), (result.ntk, ntk)):
        t, threshold = _one_sample_t(samples[(slice(None), *keep)], reference[keep])
        assert t.max() < threshold, f"max |t| {t.max():.2f} >= {threshold:.2f}"


@pytest.mark.parametrize("width", [3, 64, 4096])
def test_rank_deficient_inputs_give_the_structure_of_the_network(width):
    """Duplicate inputs give equal kernel rows (to rounding) and a zero input with
    ``b_std = 0`` gives exactly zero rows; widths below, near and above N = 10."""
    with jax.enable_x64(True):
        keys = conditional_keys(3, base_seed=5)
        for key in keys:
            nngp, ntk = (
                np.asarray(k)
                for k in conditional_network_kernels(
                    key, XS_DEFICIENT, width=width, num_res_blocks=3, W_std=1.1, b_std=0.0
                )
            )
            for kernel in (nngp, ntk):
                assert np.all(np.isfinite(kernel))
                np.testing.assert_array_equal(kernel, kernel.T)
                assert np.all(kernel[7] == 0)
                scale = np.abs(kernel).max()
                np.testing.assert_allclose(kernel[0], kernel[4], rtol=0, atol=1e-12 * scale)
                # Positive semi-definite up to rounding (both are Gram matrices).
                assert np.linalg.eigvalsh(kernel).min() > -1e-12 * scale


@pytest.mark.slow
def test_batching_and_keys_do_not_change_a_network():
    """Chunk sizes, seed subsets and the one-network function agree; x64 does not leak;
    float32 draws the same networks as float64, to float32 rounding."""
    flag = jax.config.jax_enable_x64
    kwargs = dict(width=32, num_res_blocks=1, W_std=1.0, b_std=0.4, base_seed=3)
    per_network = conditional_network_bytes(32, 1, *XS.shape)
    whole = conditional_kernels(XS, 5, **kwargs)
    chunked = conditional_kernels(XS, 5, memory_budget_bytes=2 * per_network, **kwargs)
    subset = conditional_kernels(XS, [4, 1], **kwargs)
    assert jax.config.jax_enable_x64 == flag
    assert whole.nngp.dtype == np.float64
    assert whole.nngp.shape == (5, 4, 4)
    np.testing.assert_allclose(chunked.ntk, whole.ntk, rtol=1e-13)
    np.testing.assert_allclose(subset.nngp, whole.nngp[[4, 1]], rtol=1e-13)
    with jax.enable_x64(True):
        # The one-network function, jitted with traced key and inputs.
        one = jax.jit(
            lambda key, xs: conditional_network_kernels(
                key, xs, width=32, num_res_blocks=1, W_std=1.0, b_std=0.4
            )
        )
        nngp, ntk = one(jax.random.fold_in(jax.random.PRNGKey(3), 4), jnp.asarray(XS))
    np.testing.assert_allclose(np.asarray(ntk), whole.ntk[4], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(nngp), whole.nngp[4], rtol=1e-12)
    single = conditional_kernels(XS, 2, dtype="float32", **kwargs)
    assert single.dtype == "float32"
    for a, b in ((whole.nngp[:2], single.nngp), (whole.ntk[:2], single.ntk)):
        scale = np.abs(a).max(axis=(1, 2), keepdims=True)
        assert np.all(np.abs(a - b) <= 2e-5 * scale)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(width=0), "width"),
        (dict(width=2.0), "width"),
        (dict(width=True), "width"),
        (dict(num_res_blocks=-1), "num_res_blocks"),
        (dict(W_std=0.0), "W_std"),
        (dict(W_std=float("inf")), "W_std"),
        (dict(b_std=-0.1), "b_std"),
        (dict(b_std=float("nan")), "b_std"),
        (dict(xs=np.ones(3)), "2-D"),
        (dict(xs=np.array([[1.0, np.nan]])), "NaN"),
        (dict(xs=np.ones((2, 2), complex)), "real"),
        (dict(seeds=0), "seeds"),
        (dict(seeds=[-1]), "seed"),
        (dict(seeds=[]), "empty"),
        (dict(base_seed=2**31), "base_seed"),
        (dict(memory_budget_bytes=0), "memory_budget_bytes"),
        (dict(dtype="float16"), "dtype"),
    ],
)
def test_invalid_arguments_raise(change, message):
    kwargs = dict(xs=XS, seeds=2, width=8, num_res_blocks=1, W_std=1.0, b_std=0.0)
    kwargs.update(change)
    with pytest.raises(ValueError, match=message):
        conditional_kernels(kwargs.pop("xs"), kwargs.pop("seeds"), **kwargs)


def test_float64_without_x64_is_refused():
    with jax.enable_x64(False), pytest.raises(ValueError, match="x64"):
        conditional_network_kernels(
            jax.random.PRNGKey(0),
            XS,
            width=8,
            num_res_blocks=1,
            W_std=1.0,
            b_std=0.0,
            dtype="float64",
        )


@pytest.mark.slow
def test_width_2_to_the_20_runs_on_a_cpu():
    """One network at n = 2^20, N = 8, L = 3: finite, symmetric, and within 2% of the limit.

    One network deviates from the limit by O(1/√n): for these inputs the
    largest entry deviation was 1.3% of the largest entry on average (3% at
    most, 16 networks) at n = 2^16, so ~0.3% is expected at 2^20 and 2% is
    over six times that.
    """
    xs = np.random.default_rng(1).normal(size=(8, 5))
    result = conditional_kernels(xs, 1, width=2**20, num_res_blocks=3, W_std=1.0, b_std=0.5)
    for sample, reference in (
        (result.nngp[0], analytic.rmlp_nngp(xs, 3, 1.0, 0.5)),
        (result.ntk[0], analytic.rmlp_ntk(xs, 3, 1.0, 0.5)),
    ):
        assert np.all(np.isfinite(sample))
        np.testing.assert_array_equal(sample, sample.T)
        assert np.abs(sample - reference).max() < 0.02 * np.abs(reference).max()


def test_memory_estimate_counts_float_slopes_for_smooth_activations():
    """ReLU keeps one-byte masks; any other activation keeps φ' as floats (L·N·n entries)."""
    width, blocks, n, d = 512, 3, 16, 10
    relu = conditional_network_bytes(width, blocks, n, d, dtype_bytes=4)
    erf = conditional_network_bytes(width, blocks, n, d, dtype_bytes=4, activation="erf")
    assert erf - relu == (4 - 1) * blocks * n * width
