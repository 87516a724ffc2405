"""The activation family: spellings, closed forms against neural-tangents and a quadrature,
the residual recursion with a branch scale, and the float64 range bounds.

Independent truths used here:

* neural-tangents' ``Erf``, ``Gelu(approximate=False)``, ``ABRelu``, ``LeakyRelu``,
  ``Sin`` and ``Identity`` layers, built here in a test-only ``stax`` network (the
  branch scale ``α`` folded into the branch's second ``Dense`` as ``α·W_std`` and
  ``α·b_std``, which is the same function of the same parameters);
* a 2-D Gauss–Hermite quadrature of ``E[φ(u)φ(v)]`` and ``E[φ'(u)φ'(v)]`` (200² nodes,
  exact to ~1e-15 for the smooth activations; not used for the kinked ReLU family,
  whose arc-cosine kernels ``tests/analytic/test_arccos.py`` checks);
* closed forms by hand: the linear (identity) network's kernels, the ReLU family's
  exact diagonal ``(a² + b²)/2 · Σ``.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analytic
from analytic import Architecture
from analytic import rmlp_diagonal_log10
from analytic import rmlp_kernels
from analytic._pairs import BalancedGaps
from analytic.activations import ACTIVATION_NAMES
from analytic.activations import get_activation
from harness.stats import max_relative_difference
from models import load_neural_tangents
from models import neural_tangents_available

CLOSED_FORMS = ("relu", "leaky_relu:0.2", "abrelu:-0.5,1.5", "erf", "gelu", "sin", "identity")
SMOOTH = ("erf", "gelu", "sin", "identity")
#: (blocks, W_std, b_std, branch scale) compared with neural-tangents.
NT_CASES = ((0, 1.6, 0.5, 1.0), (3, 0.8, 0.5, 0.4), (3, 1.6, 0.0, 1.0), (2, 1.2, 0.3, 0.7))


def _stax_layer(stax, name):
    base, _, params = name.partition(":")
    numbers = [float(p) for p in params.split(",")] if params else []
    return {
        "relu": lambda: stax.Relu(),
        "leaky_relu": lambda: stax.LeakyRelu(*numbers),
        "abrelu": lambda: stax.ABRelu(*numbers),
        "erf": lambda: stax.Erf(),
        "gelu": lambda: stax.Gelu(approximate=False),
        "sin": lambda: stax.Sin(),
        "identity": lambda: stax.Identity(),
    }[base]()


def _nt_kernels(xs, blocks, W_std, b_std, activation, alpha):
    stax = load_neural_tangents().stax

    def block():
        return stax.serial(
            stax.FanOut(2),
            stax.parallel(
                stax.Identity(),
                stax.serial(
                    stax.Dense(1, W_std=W_std, b_std=b_std),
                    _stax_layer(stax, activation),
                    stax.Dense(1, W_std=alpha * W_std, b_std=alpha * b_std),
                ),
            ),
            stax.FanInSum(),
        )

    layers = [stax.Dense(1, W_std=W_std, b_std=b_std), *[block() for _ in range(blocks)]]
    layers += [_stax_layer(stax, activation), stax.Dense(1, W_std=W_std, b_std=0.0)]
    kernel_fn = stax.serial(*layers)[2]
    # On the CPU whatever the default device, where ours is computed too
    # (analytic._float64): two implementations of one recursion, on one backend.
    cpu = jax.local_devices(backend="cpu")[0]
    with jax.enable_x64(True), jax.default_device(cpu), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`FanIn` layers")
        k = kernel_fn(jnp.asarray(xs, jnp.float64), None, ("nngp", "ntk"))
        return np.asarray(k.nngp), np.asarray(k.ntk)


# --------------------------------------------------------------------------- spellings


def test_spellings_are_canonical_and_bad_ones_are_refused():
    assert get_activation("ReLU").name == "relu"
    assert get_activation(" leaky_relu:0.10 ").name == "leaky_relu:0.1"
    assert get_activation("leaky_relu").name == "leaky_relu:0.01"  # Flax's default slope
    assert get_activation("abrelu:0,1").name == "relu"  # the same function, one name
    assert get_activation("abrelu:-1,1") == get_activation("abrelu:-1.0,1.0")
    assert hash(get_activation("erf")) == hash(get_activation("erf"))
    for bad, message in (
        ("softplus", "unknown activation"),
        ("abrelu:1", "expected 2 number"),
        ("erf:2", "takes no parameters"),
        ("leaky_relu:x", "expected 1 number"),
        ("tanh:2", "takes no parameters"),
    ):
        with pytest.raises(ValueError, match=message):
            get_activation(bad)
    assert get_activation("Tanh").name == "tanh"
    assert len(ACTIVATION_NAMES) == 9


def test_architecture_is_one_validated_value():
    arch = Architecture(3, 1.5, 0.5, "LEAKY_RELU:0.3", 0.5)
    assert arch.activation == "leaky_relu:0.3"
    assert not arch.is_seed
    assert Architecture(2, 1.0, 0.0).is_seed
    kernels = rmlp_kernels(np.eye(3), **arch.kwargs())
    expected = rmlp_kernels(
        np.eye(3),
        num_res_blocks=3,
        W_std=1.5,
        b_std=0.5,
        activation="leaky_relu:0.3",
        branch_scale=0.5,
    )
    np.testing.assert_array_equal(kernels.ntk, expected.ntk)
    for bad, message in (
        ((-1, 1.0, 0.0), "num_res_blocks"),
        ((1, 0.0, 0.0), "W_std"),
        ((1, 1.0, 0.0, "nope"), "unknown activation"),
        ((1, 1.0, 0.0, "relu", -1), "branch_scale"),
    ):
        with pytest.raises(ValueError, match=message):
            Architecture(*bad)


# --------------------------------------------------------------------------- one layer


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_layer_maps_match_a_gauss_hermite_quadrature(name):
    """``V``, ``V̇`` and the new diagonal of one layer, against 200×200 Gauss–Hermite nodes."""
    act = get_activation(name)
    nodes, weights = np.polynomial.hermite_e.hermegauss(200)
    weights = weights / weights.sum()
    cases = [(1.3, 0.7, -0.6), (0.4, 0.4, 0.39999), (2.0, 0.05, 0.2), (0.9, 0.9, -0.9)]
    for a, b, k in cases:
        r1, r2 = math.sqrt(a), math.sqrt(b)
        with jax.enable_x64(True):
            gaps = BalancedGaps(
                jnp.array([[2 * (r1 * r2 + k)]], jnp.float64),
                jnp.array([[2 * (r1 * r2 - k)]], jnp.float64),
                jnp.array([r1], jnp.float64),
                jnp.array([r2], jnp.float64),
            )
            out, derivative = act.layer_map(gaps)
            value = float(0.25 * (out.plus - out.minus)[0, 0])
            chol = np.linalg.cholesky([[a, k], [k, b]]) if k * k < a * b else None
            z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")
            w = np.outer(weights, weights)
            if chol is None:  # a degenerate pair: v = (k/a) u
                u, v = r1 * z1, (k / r1) * z1
            else:
                u, v = chol[0, 0] * z1, chol[1, 0] * z1 + chol[1, 1] * z2
            phi = lambda t: np.asarray(act.fn(jnp.asarray(t)))  # noqa: E731
            dphi = lambda t: np.asarray(act.derivative(jnp.asarray(t)))  # noqa: E731
            expected = float(np.sum(w * phi(u) * phi(v)))
            expected_derivative = float(np.sum(w * dphi(u) * dphi(v)))
            expected_diagonal = float(np.sum(weights * phi(r1 * nodes) ** 2))
        assert value == pytest.approx(expected, abs=1e-13)
        assert float(derivative[0, 0]) == pytest.approx(expected_derivative, abs=1e-13)
        assert float(out.root1[0]) ** 2 == pytest.approx(expected_diagonal, abs=1e-13)


# --------------------------------------------------------------------------- the recursion


@pytest.mark.skipif(not neural_tangents_available(), reason="neural-tangents not installed")
@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_kernels_match_neural_tangents_for_every_activation_and_branch_scale(name):
    """Two implementations, one recursion: agreement to 1e-12 (measured: <= 3e-14, GELU NTK)."""
    xs = np.random.default_rng(20261203).normal(size=(6, 4))
    worst = 0.0
    for blocks, W_std, b_std, alpha in NT_CASES:
        ours = rmlp_kernels(
            xs,
            num_res_blocks=blocks,
            W_std=W_std,
            b_std=b_std,
            activation=name,
            branch_scale=alpha,
        )
        nt_nngp, nt_ntk = _nt_kernels(xs, blocks, W_std, b_std, name, alpha)
        worst = max(
            worst,
            max_relative_difference(ours.nngp, nt_nngp),
            max_relative_difference(ours.ntk, nt_ntk),
        )
    print(f"\n{name}: worst relative difference from neural-tangents {worst:.1e}")
    assert worst <= 1e-12


def test_relu_through_its_family_is_the_relu_bit_for_bit():
    xs = np.random.default_rng(7).normal(size=(5, 3))
    relu = rmlp_kernels(xs, num_res_blocks=4, W_std=1.3, b_std=0.2)
    for spelling in ("relu", "abrelu:0,1", "leaky_relu:0"):
        same = rmlp_kernels(xs, num_res_blocks=4, W_std=1.3, b_std=0.2, activation=spelling)
        np.testing.assert_array_equal(same.nngp, relu.nngp)
        np.testing.assert_array_equal(same.ntk, relu.ntk)


def test_linear_network_kernels_by_hand():
    """Identity activation: every map is affine, so the kernels have a closed form.

    With ``K_0 = w XXᵀ/d + β`` and ``s = α²``: ``K_l = (1 + s w²) K_{l−1} + s β(1 + w)``;
    ``Θ_l = (1 + s w²) Θ_{l−1} + s(w² K_{l−1} + wβ + w K_{l−1}·w … )`` is checked through
    its definition ``Θ_l = Θ + s(w(wΘ + Σ) + wK' + β)``, ``Σ = wK + β``, ``K' = Σ``.
    """
    rng = np.random.default_rng(8)
    xs = rng.normal(size=(4, 3))
    w, beta, s, blocks = 1.2**2, 0.3**2, 0.7**2, 5
    K = w * xs @ xs.T / 3 + beta
    theta = K.copy()
    for _ in range(blocks):
        sigma = w * K + beta
        theta = theta + s * (w * (w * theta + sigma) + w * sigma + beta)
        K = K + s * (w * sigma + beta)
    nngp, ntk = w * K, w * theta + w * K
    ours = rmlp_kernels(
        xs, num_res_blocks=blocks, W_std=1.2, b_std=0.3, activation="identity", branch_scale=0.7
    )
    np.testing.assert_allclose(ours.nngp, nngp, rtol=1e-14)
    np.testing.assert_allclose(ours.ntk, ntk, rtol=1e-14)


def test_zero_branch_scale_leaves_only_the_skip_path():
    xs = np.random.default_rng(9).normal(size=(4, 3))
    deep = rmlp_kernels(
        xs, num_res_blocks=7, W_std=1.1, b_std=0.4, activation="erf", branch_scale=0
    )
    shallow = rmlp_kernels(xs, num_res_blocks=0, W_std=1.1, b_std=0.4, activation="erf")
    np.testing.assert_allclose(deep.nngp, shallow.nngp, rtol=1e-15)
    np.testing.assert_allclose(deep.ntk, shallow.ntk, rtol=1e-15)


# --------------------------------------------------------------------------- range


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_diagonal_bounds_hold_and_are_exact_for_homogeneous_activations(name):
    xs = np.random.default_rng(10).normal(size=(5, 4)) * np.array([[0.1], [1], [3], [10], [30]])
    for blocks, W_std, b_std, alpha in ((2, 1.5, 0.5, 1.0), (6, 0.9, 0.0, 0.6)):
        kernels = rmlp_kernels(
            xs,
            num_res_blocks=blocks,
            W_std=W_std,
            b_std=b_std,
            activation=name,
            branch_scale=alpha,
        )
        for i, row in enumerate(xs):
            bound = rmlp_diagonal_log10(
                float(row @ row),
                input_dim=4,
                num_res_blocks=blocks,
                W_std=W_std,
                b_std=b_std,
                activation=name,
                branch_scale=alpha,
            )
            for value, log10 in ((kernels.nngp[i, i], bound.nngp), (kernels.ntk[i, i], bound.ntk)):
                if get_activation(name).exact:
                    assert math.log10(value) == pytest.approx(log10, abs=1e-12)
                else:
                    assert math.log10(value) <= log10 + 1e-12


def test_overflow_is_refused_before_the_work_naming_the_activation():
    with pytest.raises(ValueError, match=r"reaches .*activation=identity"):
        rmlp_kernels(
            np.ones((2, 3)), num_res_blocks=2000, W_std=2.0, b_std=0.0, activation="identity"
        )
    with pytest.raises(ValueError, match=r"may reach \(an upper bound\).*activation=gelu"):
        rmlp_kernels(np.ones((2, 3)), num_res_blocks=3000, W_std=2.0, b_std=0.0, activation="gelu")
    # A bounded activation's NNGP grows only linearly with depth, but its NTK grows like
    # exp(c·√L); the bound (V̇ <= 4/π) refuses depth 10⁵ at W_std = 2 before any work.
    with pytest.raises(ValueError, match=r"may reach \(an upper bound\).*activation=erf"):
        analytic.rmlp_ntk(np.ones((2, 3)), 100_000, 2.0, 0.5, activation="erf")
    # 12 blocks: the two evaluations differ by about 1e-16·2^L, far below the 1e-10 that
    # refuses; at 20 blocks an H200's float64 erf and exp already reached 1.3e-10.
    deep = analytic.rmlp_kernels(
        np.ones((2, 3)), num_res_blocks=12, W_std=2.0, b_std=0.5, activation="erf"
    )
    assert np.all(np.isfinite(deep.ntk))
    assert deep.nngp[0, 0] < 4.0
    # Deeper, rounding is amplified past what float64 resolves: refused, not returned.
    with pytest.raises(ValueError, match="cannot be computed reliably in float64"):
        analytic.rmlp_kernels(
            np.ones((2, 3)), num_res_blocks=40, W_std=2.0, b_std=0.5, activation="erf"
        )
