"""models.ResidualMLP: architecture, NTK parameterization, and conversion to/from stax.

Independent truths: a NumPy float64 forward pass written from the
architecture's definition (the seed notebook's stax network, NTK
parameterization ``W_std/√fan_in · x W + b_std · b``), and neural-tangents'
own ``stax`` network.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness.stats import relative_frobenius_error
from models import ResidualMLP
from models import flax_to_stax_params
from models import residual_mlp_trace
from models import stax_residual_mlp
from models import stax_to_flax_params

WIDTH, BLOCKS, W_STD, B_STD, OUT = 96, 3, 1.2, 0.5, 2


def numpy_forward(params, xs, W_std, b_std):
    """The residual MLP from its definition, in float64 NumPy."""
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params["params"])
    x = np.asarray(xs, np.float64)

    def dense(layer, v, beta):
        out = W_std / np.sqrt(v.shape[-1]) * v @ layer["kernel"]
        return out + beta * layer["bias"] if "bias" in layer else out

    h = dense(p["embed"], x, b_std)
    block = 0
    while f"block_{block}_dense_0" in p:
        u = dense(p[f"block_{block}_dense_0"], h, b_std)
        h = h + dense(p[f"block_{block}_dense_1"], np.maximum(u, 0.0), b_std)
        block += 1
    return dense(p["readout"], np.maximum(h, 0.0), 0.0)


@pytest.fixture(scope="module")
def xs():
    return jax.random.normal(jax.random.PRNGKey(11), (6, 5))


@pytest.fixture(scope="module")
def net(xs):
    model = ResidualMLP(WIDTH, BLOCKS, W_std=W_STD, b_std=B_STD, out_dim=OUT)
    return model, model.init(jax.random.PRNGKey(0), xs)


def test_parameter_shapes_and_standard_normal_draws(net):
    _model, params = net
    params = params["params"]
    shapes = jax.tree_util.tree_map(lambda a: a.shape, params)
    hidden = {"kernel": (WIDTH, WIDTH), "bias": (WIDTH,)}
    assert shapes == {
        "embed": {"kernel": (5, WIDTH), "bias": (WIDTH,)},
        **{f"block_{b}_dense_{i}": hidden for b in range(BLOCKS) for i in (0, 1)},
        "readout": {"kernel": (WIDTH, OUT)},
    }
    assert all(a.dtype == jnp.float32 for a in jax.tree_util.tree_leaves(params))
    # NTK parameterization: raw weights are N(0, 1) whatever W_std. Over the
    # 6 hidden kernels (6·96² draws) the sample mean has sd 1/(96√6) = 0.0043
    # and the sample variance sd √2/(96√6) = 0.006; 5 sd: 0.021 and 0.03.
    kernels = np.concatenate(
        [np.ravel(params[f"block_{b}_dense_{i}"]["kernel"]) for b in range(BLOCKS) for i in (0, 1)]
    )
    assert abs(kernels.mean()) < 0.021
    assert abs(kernels.var() - 1.0) < 0.03


def test_forward_and_trace_match_definition(net, xs):
    model, params = net
    # Full float32 matmuls: JAX's default is TF32 on NVIDIA GPUs (eps 4.9e-4).
    out = model.clone(precision="highest").apply(params, xs)
    assert out.dtype == jnp.float32
    assert out.shape == (6, OUT)
    # float32 against float64 NumPy: rounding of ~4 layers, eps 1.2e-7.
    assert relative_frobenius_error(out, numpy_forward(params, xs, W_STD, B_STD)) < 2e-6
    trace = residual_mlp_trace(params, xs, W_std=W_STD, b_std=B_STD, precision="highest")
    np.testing.assert_array_equal(trace.outputs, out)
    assert len(trace.block_inputs) == BLOCKS
    np.testing.assert_array_equal(trace.readout_input, jnp.maximum(trace.last_hidden, 0.0))


def test_flax_to_stax_gives_same_outputs_float32(net, xs):
    model, params = net
    _, apply_fn, _ = stax_residual_mlp(BLOCKS, W_STD, B_STD, width=WIDTH, out_dim=OUT)
    theirs = apply_fn(flax_to_stax_params(params), xs)
    # Same weights, same operations; neural-tangents contracts W with x as
    # Wᵀxᵀ (tensordot over W's first axis) where flax does x W, so the float
    # sums run in another order: the outputs differ by rounding only
    # (float32 eps 1.2e-7 times a few layers), not bit for bit.
    assert relative_frobenius_error(model.apply(params, xs), theirs) < 2e-6


@pytest.mark.parametrize(("blocks", "W_std", "b_std"), [(0, 1.0, 0.0), (2, 0.8, 1.2)])
def test_float64_forward_and_stax_twin(xs, blocks, W_std, b_std):
    with jax.enable_x64(True):
        model = ResidualMLP(32, blocks, W_std=W_std, b_std=b_std, dtype=jnp.float64)
        params = model.init(jax.random.PRNGKey(blocks), xs)
        assert params["params"]["embed"]["kernel"].dtype == jnp.float64
        out = model.apply(params, xs)
        assert out.dtype == jnp.float64
        _, apply_fn, _ = stax_residual_mlp(blocks, W_std, b_std, width=32)
        theirs = apply_fn(flax_to_stax_params(params), jnp.asarray(xs, jnp.float64))
        # float64, different summation order: a few ulps (eps 2.2e-16).
        assert relative_frobenius_error(out, numpy_forward(params, xs, W_std, b_std)) < 1e-13
        assert relative_frobenius_error(out, theirs) < 1e-13


def test_stax_to_flax_gives_same_outputs_and_round_trips(xs):
    init_fn, apply_fn, _ = stax_residual_mlp(2, 0.9, 0.3, width=48, out_dim=1)
    _, stax_params = init_fn(jax.random.PRNGKey(8), xs.shape)
    flax_params = stax_to_flax_params(stax_params)
    model = ResidualMLP(48, 2, W_std=0.9, b_std=0.3)
    assert relative_frobenius_error(model.apply(flax_params, xs), apply_fn(stax_params, xs)) < 2e-6
    # Round trip flax -> stax -> flax is exact (the readout's b_std=0 bias is dropped).
    back = stax_to_flax_params(flax_to_stax_params(flax_params))
    jax.tree_util.tree_map(np.testing.assert_array_equal, back, flax_params)
