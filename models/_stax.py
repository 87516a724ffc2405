"""The neural-tangents ``stax`` twin of :class:`models.ResidualMLP`, and parameter conversion.

The ``stax`` network is the seed notebook's::

    serial(Dense(n, W_std, b_std),
           [serial(FanOut(2), parallel(Identity(),
                                       serial(Dense(n, W_std, b_std), Relu(),
                                              Dense(n, W_std, b_std))),
                   FanInSum())] × L,
           Relu(), Dense(K, W_std, b_std=0))

with ``Relu()`` replaced by the activation's ``stax`` layer
(:func:`stax_activation`) and, for a branch scale ``α``, the branch's second
``Dense`` given ``α·W_std`` and ``α·b_std``: ``α(s v W + β b)`` is that layer,
for the function and for its parameter gradients alike.

``stax.Dense`` in its default NTK parameterization computes
``W_std/√fan_in · x W + b_std · b`` with ``W`` of shape ``(fan_in, fan_out)``
and ``b`` of shape ``(1, fan_out)``, both N(0, 1) (Novak et al. 2020). That is
exactly :func:`models._residual_mlp.ntk_dense`, so the same arrays give the same
outputs. The readout's ``Dense(b_std=0)`` still owns a bias array, which is
multiplied by zero: :func:`flax_to_stax_params` fills it with zeros and
:func:`stax_to_flax_params` drops it (any value gives the same function and the
same NTK, since its gradient is multiplied by ``b_std = 0`` too).

neural-tangents is imported only through :func:`models.load_neural_tangents`.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp

from analytic.activations import get_activation
from models._neural_tangents import load_neural_tangents

__all__ = [
    "flax_to_stax_params",
    "stax_activation",
    "stax_residual_mlp",
    "stax_to_flax_params",
]


#: Gauss–Hermite degree of neural-tangents' ``ElementwiseNumerical`` for numerical
#: activations (its own example's choice; about 1e-3 accurate on ``tanh``, worse on kinks).
NUMERICAL_DEGREE = 25


def stax_activation(activation="relu"):
    """neural-tangents' layer for an activation, or ``None`` where it has none.

    ``relu`` → ``Relu``, ``leaky_relu:s`` → ``LeakyRelu(s)``, ``abrelu:a,b`` →
    ``ABRelu(a, b)``, ``erf`` → ``Erf()`` (``erf(x)`` at its defaults), ``gelu`` →
    ``Gelu(approximate=False)``, ``sin`` → ``Sin()``, ``identity`` → ``Identity()``;
    ``tanh`` and a user function ``pkg.module:function`` (the numerical activations) →
    ``ElementwiseNumerical(fn, deg=25)``, a tensor Gauss–Hermite quadrature whose kernels
    are only about 1e-3 accurate for ``tanh`` (:data:`NUMERICAL_DEGREE`).
    """
    stax = load_neural_tangents().stax
    act = get_activation(activation)
    if act.refined is not None:  # computed by quadrature: tanh or a user function
        with warnings.catch_warnings():
            # Its notices that deg=25 decides the accuracy and that φ' comes from autodiff:
            # both known, and what the reports' "neural-tangents" rows measure.
            warnings.filterwarnings("ignore", message="Numerical Activation Layer")
            warnings.filterwarnings("ignore", message="Using JAX autodiff")
            return stax.ElementwiseNumerical(fn=act.fn, deg=NUMERICAL_DEGREE)
    name, _, params = act.name.partition(":")
    numbers = [float(p) for p in params.split(",")] if params else []
    layers = {
        "relu": lambda: stax.Relu(),
        "leaky_relu": lambda: stax.LeakyRelu(*numbers),
        "abrelu": lambda: stax.ABRelu(*numbers),
        "erf": lambda: stax.Erf(),
        "gelu": lambda: stax.Gelu(approximate=False),
        "sin": lambda: stax.Sin(),
        "identity": lambda: stax.Identity(),
    }
    return layers[name]() if name in layers else None


def stax_residual_mlp(
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    *,
    width: int = 1,
    out_dim: int = 1,
    activation="relu",
    branch_scale: float = 1.0,
):
    """Return ``(init_fn, apply_fn, kernel_fn)`` of the seed's ``stax`` residual MLP.

    ``width`` only matters for ``init_fn``/``apply_fn`` (the analytic
    ``kernel_fn`` is the infinite-width limit and ignores it).

    Raises:
      ValueError: when neural-tangents has no layer for ``activation``.
    """
    stax = load_neural_tangents().stax
    W_std, b_std = float(W_std), float(b_std)
    alpha = float(branch_scale)
    if stax_activation(activation) is None:
        raise ValueError(f"neural-tangents has no layer for the activation {activation!r}")

    def block():
        return stax.serial(
            stax.FanOut(2),
            stax.parallel(
                stax.Identity(),
                stax.serial(
                    stax.Dense(width, W_std=W_std, b_std=b_std),
                    stax_activation(activation),
                    stax.Dense(width, W_std=alpha * W_std, b_std=alpha * b_std),
                ),
            ),
            stax.FanInSum(),
        )

    return stax.serial(
        stax.Dense(width, W_std=W_std, b_std=b_std),
        *[block() for _ in range(num_res_blocks)],
        stax_activation(activation),
        stax.Dense(out_dim, W_std=W_std, b_std=0.0),
    )


def _num_blocks(params) -> int:
    return sum(1 for name in params if name.endswith("_dense_0"))


def flax_to_stax_params(params):
    """Convert ``ResidualMLP`` parameters (``variables["params"]`` or ``variables``) to ``stax``.

    The result has the nesting ``stax.serial`` uses: a list with one entry per
    layer; ``(W, b)`` for a ``Dense``, ``()`` for parameter-free layers, and for
    each residual block ``[(), ((), [dense_0, (), dense_1]), ()]``.
    """
    params = params.get("params", params)

    def dense(layer):
        bias = layer.get("bias")
        if bias is None:
            bias = jnp.zeros_like(layer["kernel"][0])
        return (layer["kernel"], bias.reshape(1, -1))

    blocks = [
        [
            (),
            ((), [dense(params[f"block_{l}_dense_0"]), (), dense(params[f"block_{l}_dense_1"])]),
            (),
        ]
        for l in range(_num_blocks(params))
    ]
    return [dense(params["embed"]), *blocks, (), dense(params["readout"])]


def stax_to_flax_params(stax_params) -> dict:
    """Convert ``stax`` parameters of :func:`stax_residual_mlp` to ``{"params": ...}`` for flax."""
    embed, *blocks, _relu, readout = stax_params
    params = {"embed": {"kernel": embed[0], "bias": embed[1].reshape(-1)}}
    for l, block in enumerate(blocks):
        dense_0, _, dense_1 = block[1][1]
        params[f"block_{l}_dense_0"] = {"kernel": dense_0[0], "bias": dense_0[1].reshape(-1)}
        params[f"block_{l}_dense_1"] = {"kernel": dense_1[0], "bias": dense_1[1].reshape(-1)}
    params["readout"] = {"kernel": readout[0]}
    return {"params": params}
