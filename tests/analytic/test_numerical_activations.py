"""Numerical activations (``tanh``, ``pkg.module:function``) against independent truths.

Truths used here:

* ``tanh``: the 30-digit mpmath recursion of ``tests/analytic/_mp_activations.py``
  (:func:`mp_residual_kernels`, which integrates ``tanh`` by its own polar Gauss–Legendre
  rule). It takes minutes per case, so its values are stored below (``GOLDEN``);
  ``tests/analytic/tanh_golden.py`` recomputes them all (run explicitly) and a slow test
  here the cheapest. Cases:
  near-duplicate and near-antipodal rows (1e-7 apart), depth 3 and 50, ``W_std`` 0.5
  to 2, input scales 1e-3 to 30.
* user functions from ``tests/analytic/_user_activations.py`` (written from
  ``jax.numpy``): their quadrature against the closed forms of the same functions
  (``erf``, ``relu``, ``sin`` of :mod:`analytic.activations`), pair by pair and through the
  recursion;
* the refusal of a quadrature disagreement: a twin whose kernels differ by a known
  amount; and a rough function (``sin 40x``) that neither quadrature order resolves;
* neural-tangents' ``ElementwiseNumerical``, an independent 2-D Gauss–Hermite rule, at
  ``deg=300`` (at its default ``deg=25``, the harness's reference, it is only ~1e-3
  accurate).

Measured when written (2-core CPU, JAX 0.12.0.1): ``tanh`` within 1.0e-14 of the
30-digit reference on every case (worst: NTK, antipode at depth 50; the others
1.5e-15 to 3.6e-15; ``pytest -s`` prints them); the user ``erf``, ``relu`` and ``sine``
layers (refined rule) within 6e-15 of the 50-digit closed forms, with the small gap of
near-duplicate and near-antipodal pairs to 2e-11 *relative*; whole networks of user
``erf`` and ``relu`` within 1.2e-14 and 2.6e-15 of the closed forms.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

import analytic
from analytic import rmlp_diagonal_log10
from analytic import rmlp_kernels
from analytic._pairs import BalancedGaps
from analytic._rmlp import QUADRATURE_AGREEMENT
from analytic.activations import Activation
from analytic.activations import get_activation
from harness.stats import max_relative_difference
from models import load_neural_tangents
from models import neural_tangents_available
from models import stax_activation
from tests.analytic._mp_activations import mp_moments
from tests.analytic._mp_activations import mp_residual_kernels

USER = "tests.analytic._user_activations"
ACCURACY = 1e-10


def _input_sets():
    rng = np.random.default_rng(20261204)
    x = rng.normal(size=5)
    near = x * (1.0 + 1e-7 * rng.normal(size=5))
    antipode = -x * (1.0 + 1e-7 * rng.normal(size=5))
    return {
        "near+antipode": np.stack([x, near, antipode]),
        "near": np.stack([x, near]),
        "antipode": np.stack([x, antipode]),
    }


SETS = _input_sets()
#: name: (input set, input scale, num_res_blocks, W_std, b_std)
CASES = {
    "near+antipode, depth 3": ("near+antipode", 1.0, 3, 1.0, 0.2),
    "large W_std": ("near+antipode", 1.0, 3, 2.0, 0.5),
    "small W_std, large inputs": ("near+antipode", 30.0, 3, 0.5, 0.0),
    "small inputs": ("near+antipode", 1e-3, 3, 1.0, 0.0),
    "near-duplicate, depth 50": ("near", 1.0, 50, 0.7, 0.1),
    "antipode, depth 50": ("antipode", 1.0, 50, 1.3, 0.0),
}
SHALLOW = [name for name, case in CASES.items() if case[2] < 50]
DEEP = [name for name, case in CASES.items() if case[2] >= 50]

#: ``mp_residual_kernels(SETS[s] * scale, blocks, W_std, b_std, "tanh")``: (NNGP, NTK).
GOLDEN = {
    "near+antipode, depth 3": (
        [
            [0.677403516115733, 0.6774035231441455, -0.5772394938779883],
            [0.6774035231441455, 0.6774035301725774, -0.5772395044466527],
            [-0.5772394938779883, -0.5772395044466527, 0.6774035073822489],
        ],
        [
            [3.5728446370922975, 3.5728446842579156, -2.4043192466785444],
            [3.5728446842579156, 3.572844731423876, -2.4043192971647835],
            [-2.4043192466785444, -2.4043192971647835, 3.572844578484312],
        ],
    ),
    "large W_std": (
        [
            [3.370562107737062, 3.3705621197258986, -2.369098655782906],
            [3.3705621197258986, 3.3705621317153422, -2.36909870098017],
            [-2.369098655782906, -2.36909870098017, 3.3705620928394135],
        ],
        [
            [110.19421323386484, 110.19421300367944, -13.109072403878645],
            [110.19421300367944, 110.1942127738368, -13.109072705570622],
            [-13.109072403878645, -13.109072705570622, 110.19421351967911],
        ],
    ),
    "small W_std, large inputs": (
        [
            [0.2426472146547687, 0.24264721492044364, -0.24264721448965873],
            [0.24264721492044364, 0.2426472151861629, -0.24264721475532539],
            [-0.24264721448965873, -0.24264721475532539, 0.24264721432461472],
        ],
        [
            [3.900536026966174, 3.9005361576829527, -3.900535945724073],
            [3.9005361576829527, 3.9005362884263435, -3.9005360764358525],
            [-3.900535945724073, -3.9005360764358525, 3.900535864521599],
        ],
    ),
    "small inputs": (
        [
            [2.611130253310133e-05, 2.611130442392229e-05, -2.6111301358338472e-05],
            [2.611130442392229e-05, 2.6111306314743703e-05, -2.6111303249159285e-05],
            [-2.6111301358338472e-05, -2.6111303249159285e-05, 2.6111300183576138e-05],
        ],
        [
            [0.00013055591616962725, 0.00013055592562364566, -0.00013055591029586663],
            [0.00013055592562364566, 0.00013055593507766634, -0.0001305559197498843],
            [-0.00013055591029586663, -0.0001305559197498843, 0.00013055590442210863],
        ],
    ),
    "near-duplicate, depth 50": (
        [
            [0.39712052137568427, 0.397120522004704],
            [0.397120522004704, 0.3971205226337611],
        ],
        [
            [14.257080448049622, 14.257080388366923],
            [14.257080388366923, 14.257080328693718],
        ],
    ),
    "antipode, depth 50": (
        [
            [1.5405924112003713, -1.5405924108406936],
            [-1.5405924108406936, 1.5405924106238562],
        ],
        [
            [24695.168528801893, -24695.169081381708],
            [-24695.169081381708, 24695.169703769032],
        ],
    ),
}  # fmt: skip


def _tanh_kernels(name):
    inputs, scale, blocks, W_std, b_std = CASES[name]
    return rmlp_kernels(
        SETS[inputs] * scale, num_res_blocks=blocks, W_std=W_std, b_std=b_std, activation="tanh"
    )


def _error(name, kernels):
    nngp, ntk = (np.array(k) for k in GOLDEN[name])
    return max(
        max_relative_difference(kernels.nngp, nngp), max_relative_difference(kernels.ntk, ntk)
    )


# --------------------------------------------------------------------------- tanh


@pytest.mark.parametrize("name", SHALLOW)
def test_tanh_matches_the_30_digit_reference(name):
    error = _error(name, _tanh_kernels(name))
    print(f"\ntanh, {name}: {error:.1e}")
    assert error <= ACCURACY


@pytest.mark.slow
@pytest.mark.parametrize("name", DEEP)
def test_tanh_matches_the_30_digit_reference_at_depth_50(name):
    error = _error(name, _tanh_kernels(name))
    print(f"\ntanh, {name}: {error:.1e}")
    assert error <= ACCURACY


@pytest.mark.slow
def test_golden_values_are_the_30_digit_reference():
    """Spot check of ``GOLDEN`` on its cheapest case (about a minute); every case is
    recomputed by ``tests/analytic/tanh_golden.py`` (run explicitly, about an hour)."""
    name = "near+antipode, depth 3"
    inputs, scale, blocks, W_std, b_std = CASES[name]
    nngp, ntk = mp_residual_kernels(SETS[inputs] * scale, blocks, W_std, b_std, "tanh")
    golden_nngp, golden_ntk = (np.array(k) for k in GOLDEN[name])
    np.testing.assert_allclose(nngp, golden_nngp, rtol=1e-14, atol=0)
    np.testing.assert_allclose(ntk, golden_ntk, rtol=1e-14, atol=0)


# --------------------------------------------------------------------------- user functions

#: Pairs ``(a, b, c)``: variances and correlation ``c`` (``1 − c`` or ``1 + c`` small for
#: near-duplicate and near-antipodal pairs).
HARD_PAIRS = (
    (1.0, 1.0, 0.3),
    (1.0, 1.0, 1 - 1e-13),
    (1.0, 1.0, -1 + 1e-13),
    (663.0, 4.12, 1 - 1e-13),
    (2.5e-4, 1.4e-4, 1 - 1e-9),
    (9e4, 38.0, -1 + 1e-6),
    (1e4, 1e4, 0.5),
    (30.0, 0.01, 0.0),
    (4.0, 4.0, -0.97),
)


def _pair_gaps(pairs):
    """Balanced gaps of the pairs, one per diagonal entry, exact to float64 rounding."""
    roots = np.sqrt([[a, b] for a, b, _ in pairs])
    with mpmath.workdps(40):
        plus = [
            float(2 * mpmath.mpf(r1) * r2 * (1 + mpmath.mpf(c)))
            for (r1, r2), (*_, c) in zip(roots, pairs, strict=True)
        ]
        minus = [
            float(2 * mpmath.mpf(r1) * r2 * (1 - mpmath.mpf(c)))
            for (r1, r2), (*_, c) in zip(roots, pairs, strict=True)
        ]
    return roots, np.diag(plus), np.diag(minus)


def _mp_pair_truth(name, r1, r2, plus, minus):
    """``(G⁻, G⁺, V̇, n1, n2)`` of the pair that the gaps carry, from the 50-digit closed form.

    The covariance is ``r1 r2 ρ`` with ``ρ = (G⁺ − G⁻)/(G⁺ + G⁻)``: exactly the pair the
    float64 gaps describe (``(G⁺ − G⁻)/4`` alone would differ from it by rounding, which
    near-duplicate pairs cannot afford).
    """
    with mpmath.workdps(50):
        a, b = mpmath.mpf(r1) ** 2, mpmath.mpf(r2) ** 2
        plus, minus = mpmath.mpf(plus), mpmath.mpf(minus)
        k = mpmath.mpf(r1) * mpmath.mpf(r2) * (plus - minus) / (plus + minus)
        value, slope = mp_moments(name, a, b, k)
        n1, n2 = (
            mpmath.sqrt(mp_moments(name, a, a, a)[0]),
            mpmath.sqrt(mp_moments(name, b, b, b)[0]),
        )
        return 2 * (n1 * n2 - value), 2 * (n1 * n2 + value), slope, n1, n2


@pytest.mark.parametrize(
    ("spelling", "closed_form"),
    [("erf", "erf"), ("relu", "relu"), pytest.param("sine", "sin", marks=pytest.mark.slow)],
)
def test_user_function_layer_matches_the_closed_form_pair_by_pair(spelling, closed_form):
    """One layer of ``pkg.module:function`` against the 50-digit closed form of that function.

    The refined rule (whose kernels are the ones returned): gaps and ``V̇`` within 1e-13 of
    the pair's scale, and the small gap of a near-duplicate or near-antipodal pair within
    1e-9 of *itself*. (The base rule, which only serves to estimate the error, is within
    about 2e-12 on these pairs.)
    """
    act = get_activation(f"{USER}:{spelling}").refined
    # sin never stops oscillating: at variance 30 its integrands need more nodes than the
    # default scales give (the refined check would refuse); keep it to variances <= 4.
    pairs = [p for p in HARD_PAIRS if closed_form != "sin" or max(p[:2]) <= 4]
    roots, plus, minus = _pair_gaps(pairs)
    with jax.enable_x64(True):
        gaps = BalancedGaps(*(jnp.asarray(x) for x in (plus, minus, roots[:, 0], roots[:, 1])))
        out, slope = jax.jit(act.layer_map)(gaps)
        out = [np.asarray(x, np.float64) for x in out]
        slope = np.asarray(slope, np.float64)
    worst = worst_small = 0.0
    for i, (r1, r2) in enumerate(roots):
        minus_true, plus_true, slope_true, n1, n2 = _mp_pair_truth(
            closed_form, r1, r2, plus[i, i], minus[i, i]
        )
        scale = n1 * n2
        slope_scale = mpmath.sqrt(
            mp_moments(closed_form, r1**2, r1**2, r1**2)[1]
            * mp_moments(closed_form, r2**2, r2**2, r2**2)[1]
        )
        errors = (
            abs(out[1][i, i] - minus_true) / scale,
            abs(out[0][i, i] - plus_true) / scale,
            abs(slope[i, i] - slope_true) / slope_scale,
            abs(out[2][i] - n1) / n1,
            abs(out[3][i] - n2) / n2,
        )
        worst = max(worst, *(float(e) for e in errors))
        small_true, small = min((minus_true, out[1][i, i]), (plus_true, out[0][i, i]))
        if small_true < 1e-6 * scale:
            worst_small = max(worst_small, float(abs(small - small_true) / small_true))
    print(f"\n{spelling}: {worst:.1e} of the scale; small gaps {worst_small:.1e} relative")
    assert worst <= 1e-13
    assert worst_small <= 1e-9


GENERIC = np.random.default_rng(20261205).normal(size=(4, 5))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spelling", "closed_form", "cases"),
    [
        ("erf", "erf", (("near+antipode", 1.0, 3, 1.2, 0.3), ("near", 1.0, 20, 0.9, 0.1))),
        # Kinked: the plain-covariance cross-check (see analytic._rmlp) cannot follow
        # near-duplicate rows through a kink and refuses them, so generic rows here.
        ("relu", "relu", (("generic", 1.0, 3, 1.2, 0.3), ("generic", 10.0, 10, 0.9, 0.0))),
    ],
)
def test_user_function_kernels_match_the_closed_form(spelling, closed_form, cases):
    """The whole recursion, ``pkg.module:function`` against the closed form of the function."""
    worst = 0.0
    for inputs, scale, blocks, W_std, b_std in cases:
        xs = (GENERIC if inputs == "generic" else SETS[inputs]) * scale
        arch = {"num_res_blocks": blocks, "W_std": W_std, "b_std": b_std}
        ours = rmlp_kernels(xs, activation=f"{USER}:{spelling}", **arch)
        closed = rmlp_kernels(xs, activation=closed_form, **arch)
        worst = max(
            worst,
            max_relative_difference(ours.nngp, closed.nngp),
            max_relative_difference(ours.ntk, closed.ntk),
        )
    print(f"\n{spelling}: {worst:.1e}")
    assert worst <= ACCURACY


# --------------------------------------------------------------------------- error control


def _twin(factor: float) -> Activation:
    """The erf closed form, with a ``refined`` twin whose ``V`` is ``factor`` times larger.

    At depth 0 the NNGP is ``w V(K₀)``, so the two kernels differ by exactly
    ``factor − 1`` relative: the size of the quadrature disagreement is known.
    """
    erf = get_activation("erf")

    def layer_map(gaps, symmetric=False):  # numerical layer maps take ``symmetric``
        return erf.layer_map(gaps)

    def scaled_map(gaps, symmetric=False):
        out, slope = erf.layer_map(gaps)
        root = math.sqrt(factor)
        return BalancedGaps(
            factor * out.plus, factor * out.minus, root * out.root1, root * out.root2
        ), slope

    refined = dataclasses.replace(erf, name=f"erf-twin-{factor!r}#refined", layer_map=scaled_map)
    # smooth=False skips the plain-covariance check (and its compilation): not tested here.
    return dataclasses.replace(
        erf, name=f"erf-twin-{factor!r}", layer_map=layer_map, refined=refined, smooth=False
    )


def test_a_quadrature_disagreement_is_refused_with_its_size():
    arch = {"num_res_blocks": 0, "W_std": 1.3, "b_std": 0.2}
    with pytest.raises(ValueError, match=r"NNGP .* quadrature at two orders .* differ by 1\.0e-09"):
        rmlp_kernels(SETS["near+antipode"], activation=_twin(1.0 + 1e-9), **arch)
    assert QUADRATURE_AGREEMENT == 1e-10


@pytest.mark.slow
def test_a_quadrature_agreement_returns_the_refined_kernels():
    arch = {"num_res_blocks": 2, "W_std": 1.3, "b_std": 0.2}
    close = rmlp_kernels(SETS["near+antipode"], activation=_twin(1.0 + 1e-12), **arch)
    base = rmlp_kernels(SETS["near+antipode"], activation="erf", **arch)
    # V is 1 + 1e-12 times larger at every layer: the kernels are larger, by about that much.
    assert 0 < max_relative_difference(close.nngp, base.nngp) <= 1e-11
    assert np.all(close.nngp[np.abs(base.nngp) > 1e-3] / base.nngp[np.abs(base.nngp) > 1e-3] > 1)


@pytest.mark.slow
def test_a_function_rougher_than_its_declared_scales_is_refused():
    """``sin 40x`` at unit variance: neither quadrature order resolves it, and they disagree."""
    with pytest.raises(ValueError, match=r"quadrature at two orders .* differ by \d"):
        rmlp_kernels(
            SETS["near+antipode"],
            num_res_blocks=1,
            W_std=1.0,
            b_std=0.0,
            activation=f"{USER}:rough",
        )


# --------------------------------------------------------------------------- spellings


def test_spellings_of_numerical_activations():
    assert get_activation("tanh").name == "tanh"
    assert get_activation(" TANH ").refined.name == "tanh#refined"
    user = get_activation(f"{USER}:relu")
    assert user.name == f"{USER}:relu"
    assert get_activation(f" {USER}:relu ") is user  # probed once per spelling
    assert user.refined is not None
    assert not user.exact
    assert isinstance(get_activation("tanh"), Activation)
    for spelling, message in (
        (
            "no_such_module_xyz:f",
            r"^activation 'no_such_module_xyz:f': module 'no_such_module_xyz' not found$",
        ),
        (
            f"{USER}:missing",
            rf"^activation '{USER}:missing': module '{USER}' has no attribute 'missing'$",
        ),
        (f"{USER}:NOT_CALLABLE", r"'NOT_CALLABLE' is not callable$"),
        (f"{USER}:scalar", r"must return an array of its argument's shape and dtype"),
        (f"{USER}:single", r"must return an array of its argument's shape and dtype.*float32"),
        (f"{USER}:reciprocal", r"returns non-finite values \(e\.g\. at x = 0\)"),
        (f"{USER}:broken", r"raised RuntimeError: this activation is broken on purpose$"),
        (f"{USER}:", r"expected 'pkg\.module:function'"),
        ("tanh:2", r"tanh takes no parameters"),
        ("softplus", r"unknown activation 'softplus'; choose from .*tanh, pkg\.module:function$"),
    ):
        with pytest.raises(ValueError, match=message):
            get_activation(spelling)


# --------------------------------------------------------------------------- range


def test_diagonal_bounds_of_numerical_activations():
    """``tanh``: ``|tanh| <= 1`` and ``tanh' <= 1``; a user function: sampled estimates."""
    tanh = get_activation("tanh")
    assert (tanh.gain, tanh.offset, tanh.derivative_gain) == (0.0, 1.0, 1.0)
    relu = get_activation(f"{USER}:relu")  # relu(x)² = x² for x >= 0, relu' <= 1: ×1.25
    assert (relu.gain, relu.offset, relu.derivative_gain) == pytest.approx((1.25, 0.0, 1.25))
    sine = get_activation(f"{USER}:sine")  # bounded: sin² <= 1, cos² <= 1 (sampled maximum)
    assert sine.gain == 0.0
    assert sine.offset == pytest.approx(1.25, rel=1e-4)
    assert sine.derivative_gain == pytest.approx(1.25)
    kernels = _tanh_kernels("large W_std")
    inputs, scale, blocks, W_std, b_std = CASES["large W_std"]
    for i, row in enumerate(SETS[inputs] * scale):
        bound = rmlp_diagonal_log10(
            float(row @ row),
            input_dim=5,
            num_res_blocks=blocks,
            W_std=W_std,
            b_std=b_std,
            activation="tanh",
        )
        assert math.log10(kernels.nngp[i, i]) <= bound.nngp
        assert math.log10(kernels.ntk[i, i]) <= bound.ntk


def test_overflow_is_refused_before_the_work_for_numerical_activations():
    for spelling in ("tanh", f"{USER}:relu"):
        with pytest.raises(
            ValueError, match=rf"may reach \(an upper bound\).*activation={spelling}"
        ):
            analytic.rmlp_ntk(np.ones((2, 3)), 100_000, 2.0, 0.5, activation=spelling)


# --------------------------------------------------------------------------- neural-tangents


@pytest.mark.slow
@pytest.mark.skipif(not neural_tangents_available(), reason="neural-tangents not installed")
def test_neural_tangents_elementwise_numerical_agrees_at_high_degree_only():
    """The ``stax`` layer for ``tanh`` is ``ElementwiseNumerical(tanh, deg=25)``; at
    ``deg=300`` its 2-D Gauss–Hermite rule (an independent quadrature) agrees with ours to
    1e-12 on a one-layer network (measured: 1e-14 NNGP, 3e-13 NTK); at 25 only to ~1e-3."""
    stax = load_neural_tangents().stax
    W_std, b_std = 1.0, 0.2
    ours = rmlp_kernels(GENERIC, num_res_blocks=0, W_std=W_std, b_std=b_std, activation="tanh")

    def one_layer(layer):
        net = stax.serial(
            stax.Dense(1, W_std=W_std, b_std=b_std), layer, stax.Dense(1, W_std=W_std, b_std=0.0)
        )
        return net[2](jnp.asarray(GENERIC, jnp.float64), None, ("nngp", "ntk"))

    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numerical Activation Layer")
        warnings.filterwarnings("ignore", message="Using JAX autodiff")
        ours_layer = one_layer(stax_activation("tanh"))
        deg25 = one_layer(stax.ElementwiseNumerical(fn=jnp.tanh, deg=25))
        deg300 = one_layer(stax.ElementwiseNumerical(fn=jnp.tanh, deg=300))
    np.testing.assert_array_equal(ours_layer.ntk, deg25.ntk)
    assert max_relative_difference(deg300.nngp, ours.nngp) <= 1e-12
    assert max_relative_difference(deg300.ntk, ours.ntk) <= 1e-12
    assert max_relative_difference(deg25.ntk, ours.ntk) >= 1e-4
