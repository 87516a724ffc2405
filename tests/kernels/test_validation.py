"""Argument checks of the empirical kernels: bad networks, parameters and inputs raise ValueError.

Each case used to return a kernel silently: a ``(1, 1)`` kernel of a 1-D input,
NaN from NaN inputs, the real part of complex inputs, or numbers from parameters
of another network.
"""

import jax
import numpy as np
import pytest

from harness.kernels import empirical_nngp
from harness.kernels import empirical_ntk
from harness.kernels import init_network
from harness.kernels import monte_carlo_kernels
from harness.kernels import output_nngp
from harness.kernels import per_seed_kernels
from harness.kernels import seed_keys
from models import ResidualMLP

MODEL = ResidualMLP(8, 1, 1.2, 0.3)
XS = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def params():
    return init_network(MODEL, XS, 0)


def _ntk(model, params, xs):
    return empirical_ntk(model, params, xs)


def _nngp(model, params, xs):
    return empirical_nngp(model, params, xs)


def _raw(model, params, xs):
    return output_nngp(model, params, xs)


FUNCTIONS = [_ntk, _nngp, _raw]
BAD_INPUTS = [
    (XS[0], "must be 2-D"),
    (XS[None], "must be 2-D"),
    (np.zeros((0, 3), np.float32), "at least one row"),
    (np.where(np.eye(4, 3, dtype=bool), np.nan, XS), r"NaN or Inf \(first in row 0\)"),
    (np.where(np.eye(4, 3, dtype=bool), np.inf, XS), "NaN or Inf"),
    (XS.astype(np.complex64), "real numbers, got dtype complex64"),
    (XS > 0, "real numbers, got dtype bool"),
    (np.array([["a", "b", "c"]] * 4), "real numbers"),
    (XS * 1e30, r"NNGP of this network reaches 1e\+60, outside the 1e-30..1e\+30"),
]


@pytest.mark.parametrize(("xs", "message"), BAD_INPUTS)
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda fn: fn.__name__)
def test_bad_inputs_raise(fn, params, xs, message):
    with pytest.raises(ValueError, match=message):
        fn(MODEL, params, xs)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ResidualMLP(8, 1, -1.0, 0.3), r"W_std must be finite and > 0, got -1.0"),
        (ResidualMLP(8, 1, 0.0, 0.3), "W_std must be finite and > 0"),
        (ResidualMLP(8, 1, float("nan"), 0.3), "W_std must be finite"),
        (ResidualMLP(8, 1, 1.0, -0.5), "b_std must be finite and >= 0"),
        (ResidualMLP(8, -1, 1.0, 0.3), "num_res_blocks must be a whole number >= 0, got -1"),
        (ResidualMLP(0, 1, 1.0, 0.3), "width must be a whole number >= 1"),
        (ResidualMLP(8, 1.5, 1.0, 0.3), "num_res_blocks must be a whole number"),
    ],
)
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda fn: fn.__name__)
def test_impossible_models_raise(fn, params, model, message):
    with pytest.raises(ValueError, match=message):
        fn(model, params, XS)


@pytest.mark.parametrize(
    ("model", "xs", "message"),
    [
        (ResidualMLP(16, 1, 1.2, 0.3), XS, r"has shape \(8,\), expected \(16,\)"),
        (ResidualMLP(8, 2, 1.2, 0.3), XS, "missing .*block_1_dense_0"),
        (ResidualMLP(8, 0, 1.2, 0.3), XS, "unexpected .*block_0_dense_0"),
        (MODEL, XS[:, :2], r"inputs of dimension 2\): .*embed'\]\['kernel'\] has shape \(3, 8\)"),
        (ResidualMLP(8, 1, 1.2, 0.3, out_dim=2), XS, r"readout'\]\['kernel'\] has shape"),
    ],
)
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda fn: fn.__name__)
def test_parameters_of_another_network_raise(fn, params, model, xs, message):
    with pytest.raises(ValueError, match=f"params are not those of this network.*{message}"):
        fn(model, params, xs)


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda fn: fn.__name__)
def test_float32_underflow_without_biases_raises(fn, params):
    # Inputs at 1e-25 without biases: every kernel is ~1e-50, zero in float32.
    with pytest.raises(ValueError, match=r"NNGP of this network reaches 1e-5\d, outside"):
        fn(ResidualMLP(8, 1, 1.2, 0.0), params, XS * 1e-25)


def test_per_seed_and_monte_carlo_check_their_arguments():
    keys = seed_keys([0, 1])
    with pytest.raises(ValueError, match="must be 2-D"):
        per_seed_kernels(MODEL, keys, XS[0])
    with pytest.raises(ValueError, match=r"keys must be PRNG keys.*got shape \(2,\)"):
        per_seed_kernels(MODEL, np.array([0, 1], np.uint32), XS)
    with pytest.raises(ValueError, match="num_res_blocks"):
        per_seed_kernels(ResidualMLP(8, -1), keys, XS)
    with pytest.raises(ValueError, match="NaN or Inf"):
        monte_carlo_kernels(MODEL, np.full((4, 3), np.nan), [0])
    with pytest.raises(ValueError, match="whole numbers"):
        monte_carlo_kernels(MODEL, XS, [0.5])
    with pytest.raises(ValueError, match=r"0 … 2\*\*32 - 1"):
        monte_carlo_kernels(MODEL, XS, [-1])
    # Inside jax.jit the values are unknown: the shape is still checked.
    jitted = jax.jit(lambda k, x: per_seed_kernels(MODEL, k, x))
    with pytest.raises(ValueError, match="must be 2-D"):
        jitted(keys, XS[0])


def test_valid_arguments_still_give_kernels(params):
    ntk = np.asarray(empirical_ntk(MODEL, params, XS))
    assert ntk.shape == (4, 4)
    assert np.all(np.isfinite(ntk))
    assert np.asarray(empirical_nngp(MODEL, params, XS.astype(np.float64))).shape == (4, 4)
    assert np.asarray(empirical_ntk(MODEL, params, np.zeros((2, 3)))).shape == (2, 2)
