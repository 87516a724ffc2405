"""The seed notebook's residual MLP in neural-tangents ``stax`` (test-only reference).

Built exactly as in the seed notebook (cell "In [3]"): a Dense
embedding, ``num_res_blocks`` blocks ``FanOut(2) → parallel(Identity,
serial(Dense, Relu, Dense)) → FanInSum``, then ``Relu`` and ``Dense(1,
b_std=0)``, all in neural-tangents' default NTK parameterization. neural-tangents
is imported through the project's compatibility module only.
"""

from __future__ import annotations

import jax
import numpy as np

from models import load_neural_tangents


def stax_kernel_fn(num_res_blocks: int, W_std: float, b_std: float):
    """neural-tangents' analytic ``kernel_fn`` of the seed's network."""
    stax = load_neural_tangents().stax

    def res_block():
        return stax.serial(
            stax.FanOut(2),
            stax.parallel(
                stax.Identity(),
                stax.serial(
                    stax.Dense(1, W_std=W_std, b_std=b_std),
                    stax.Relu(),
                    stax.Dense(1, W_std=W_std, b_std=b_std),
                ),
            ),
            stax.FanInSum(),
        )

    layers = [stax.Dense(1, W_std=W_std, b_std=b_std)]
    layers += [res_block() for _ in range(num_res_blocks)]
    layers += [stax.Relu(), stax.Dense(1, W_std=W_std, b_std=0)]
    return stax.serial(*layers)[2]


def stax_kernels(xs, num_res_blocks: int, W_std: float, b_std: float):
    """``(nngp, ntk)`` of neural-tangents in float64, as NumPy arrays."""
    kernel_fn = stax_kernel_fn(num_res_blocks, W_std, b_std)
    with jax.enable_x64(True):
        xs = jax.numpy.asarray(np.asarray(xs, np.float64))
        nngp, ntk = kernel_fn(xs, xs, ("nngp", "ntk"))
        return np.asarray(nngp, np.float64), np.asarray(ntk, np.float64)
