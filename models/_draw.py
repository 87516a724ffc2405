"""Draw all parameters of a :class:`models.ResidualMLP` with one random-number call.

``model.init`` draws each of the ``2 + 4L + 1`` arrays with its own key, which
compiles one threefry-plus-inverse-error-function kernel per array: on a small
CPU that compilation alone takes longer than drawing and running a width-1024
network (measured figures: docs/measurements.md). :func:`draw_parameters`
draws the same distribution, ``P`` independent N(0, 1) numbers, with a single
``jax.random.normal(key, (P,))`` and cuts it into the parameter arrays in a
fixed order (the pytree order of the parameter dictionary: sorted layer names,
then ``bias`` before ``kernel``). Given a key it always returns the same network; it is a
different network from ``model.init(key, ...)`` (both are exact draws from the
NTK-parameterization prior).
"""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["draw_parameters", "parameter_shapes"]


def parameter_shapes(model, input_dim: int):
    """The variables' pytree of ``jax.ShapeDtypeStruct`` (no numbers drawn, nothing compiled)."""
    dummy = jax.ShapeDtypeStruct((1, input_dim), model.dtype)
    return jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x), dummy)


def draw_parameters(model, key, input_dim: int):
    """Variables ``{"params": ...}`` of ``model`` for inputs of dimension ``input_dim``.

    Every entry is N(0, 1) (the scales ``W_std/√fan_in`` and ``b_std`` live in
    the forward pass). Pure and jittable; ``jax.vmap`` over ``key`` draws many
    networks.
    """
    shapes = parameter_shapes(model, input_dim)
    leaves, treedef = jax.tree_util.tree_flatten(shapes)
    sizes = [int(np.prod(leaf.shape)) for leaf in leaves]
    flat = jax.random.normal(key, (sum(sizes),), model.dtype)
    offsets = np.cumsum([0, *sizes])
    arrays = [
        jax.lax.slice(flat, (int(start),), (int(stop),)).reshape(leaf.shape)
        for start, stop, leaf in zip(offsets[:-1], offsets[1:], leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, arrays)
