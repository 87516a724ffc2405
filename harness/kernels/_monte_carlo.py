"""Monte Carlo over initialisations: per-seed empirical NNGP and NTK, batched over seeds.

For each integer seed ``s`` the network is
``models.draw_parameters(model, PRNGKey(s), d)`` (all parameters from one
N(0, 1) draw: far cheaper to compile than ``model.init``'s one draw per
array), the same network whatever the batching, and its kernels are

* NNGP: the readout-marginalised ``(W_std²/n) φ(h_L) φ(h_L)ᵀ``
  (:mod:`harness.kernels._nngp`);
* NTK: ``(1/K) Σ_k J_k J_kᵀ`` by the factored method (default) or the
  literal Jacobian contraction (:mod:`harness.kernels._factored`,
  :mod:`harness.kernels._jacobian`).

The Monte Carlo estimate of the finite-width kernel is the mean over seeds;
its standard error is the per-seed standard deviation over ``√S``.

:func:`per_seed_kernels` is the core: a pure function of ``(keys, xs)``,
``jax.vmap`` over the leading axis of ``keys``, that can be jitted and fed
sharded keys (``jax.sharding``) without change. :func:`monte_carlo_kernels` is
the convenience driver: it makes the keys from integer seeds, sizes seed
batches from :func:`estimate_network_bytes`, and returns NumPy arrays.
"""

from __future__ import annotations

import functools
import operator
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from harness.kernels._budget import default_memory_budget_bytes
from harness.kernels._control import control_variates
from harness.kernels._control import controls_apply
from harness.kernels._control import readout_noise
from harness.kernels._control import trace_grams
from harness.kernels._factored import factored_ntk_from_trace
from harness.kernels._jacobian import dense_jacobian_ntk
from harness.kernels._nngp import readout_marginal_nngp
from harness.kernels._precision import precision_label
from harness.kernels._precision import resolve_precision
from harness.kernels._validation import check_inputs
from harness.kernels._validation import check_model
from models import draw_parameters
from models import model_trace

__all__ = [
    "NTK_METHODS_PER_SEED",
    "PerSeedKernels",
    "default_seed_loop",
    "estimate_network_bytes",
    "init_network",
    "monte_carlo_kernels",
    "network_controls",
    "per_seed_kernels",
    "seed_keys",
]

#: NTK methods available inside :func:`per_seed_kernels` (pure and jittable).
NTK_METHODS_PER_SEED = ("factored", "jacobian")


class PerSeedKernels(NamedTuple):
    """Per-seed kernels from :func:`monte_carlo_kernels` (NumPy, seeds on axis 0).

    ``nngp_control`` and ``ntk_control`` are each network's exact mean-zero
    control variates (:mod:`harness.kernels._control`): ``nngp − nngp_control``
    has the mean of ``nngp`` and a smaller variance; likewise for the NTK. ``None``
    when they were not asked for.
    """

    nngp: np.ndarray
    ntk: np.ndarray
    seeds: tuple
    precision: str
    nngp_control: np.ndarray | None
    ntk_control: np.ndarray | None


def _one_seed(model, key, xs, ntk_method, precision, controls=False):
    variables = draw_parameters(model, key, xs.shape[-1])
    trace = model_trace(model, variables, xs, precision=precision)
    nngp = readout_marginal_nngp(trace, W_std=model.W_std, precision=precision)
    if ntk_method is None:
        if not controls:
            return nngp
        return nngp, network_controls(model, variables, trace, xs, precision=precision)[0]
    if ntk_method == "factored":
        ntk = factored_ntk_from_trace(
            variables,
            trace,
            W_std=model.W_std,
            b_std=model.b_std,
            precision=precision,
            branch_scale=model.branch_scale,
        )
    else:
        ntk = dense_jacobian_ntk(model.clone(precision=precision), variables, xs, precision)
    if not controls:
        return nngp, ntk
    return nngp, ntk, *network_controls(model, variables, trace, xs, precision=precision)


def network_controls(model, variables, trace, xs, *, precision=None):
    """``(C_nngp, C_ntk)`` of an instantiated network (:mod:`harness.kernels._control`).

    Zero (an exactly mean-zero control variate that removes nothing) for a network
    they are not written for (:func:`~harness.kernels._control.controls_apply`).
    """
    if not controls_apply(model.activation, model.branch_scale):
        n_inputs = trace.last_hidden.shape[0]
        zero = jnp.zeros((n_inputs, n_inputs), trace.last_hidden.dtype)
        return zero, zero
    hidden, branch = trace_grams(trace, precision=precision)
    readout = variables.get("params", variables)["readout"]["kernel"]
    noise = readout_noise(trace.last_hidden, readout, W_std=model.W_std, precision=precision)
    return control_variates(
        xs, hidden, branch, noise, W_std=model.W_std, b_std=model.b_std, precision=precision
    )


def _check_keys(keys) -> None:
    """Raw ``uint32[S, 2]`` keys or typed keys of shape ``(S,)``, ``S >= 1``."""
    shape = np.shape(keys)
    typed = jax.dtypes.issubdtype(getattr(keys, "dtype", None), jax.dtypes.prng_key)
    if typed and len(shape) == 1 and shape[0] >= 1:
        return
    if not typed and len(shape) == 2 and shape[0] >= 1 and shape[1] == 2:
        return
    raise ValueError(
        f"keys must be PRNG keys, one per network: uint32[S, 2] (jax.random.PRNGKey) or a "
        f"typed key array of shape (S,); got shape {shape}"
    )


def per_seed_kernels(
    model,
    keys,
    xs,
    *,
    ntk_method: str = "factored",
    precision=None,
    seed_loop: str = "vmap",
    control_variates: bool = False,
):
    """Empirical NNGP and NTK of one network per key: ``(nngp[S, N, N], ntk[S, N, N])``.

    Pure in ``(keys, xs)``: wrap it in ``jax.jit`` (``model``, ``ntk_method``
    and ``precision`` static) and shard ``keys`` along axis 0 as you like.

    Args:
      model: a :class:`models.ResidualMLP`.
      keys: PRNG keys, one per network: raw ``uint32[S, 2]`` keys
        (``jax.random.PRNGKey``) or a typed key array of shape ``(S,)``.
      xs: inputs, shape ``(N, d)``.
      ntk_method: ``"factored"`` or ``"jacobian"`` (unchunked ``J Jᵀ``); ``None``: the
        NNGP alone (a forward pass; with ``control_variates``, ``(nngp, c_nngp)``).
      precision: matmul precision; ``None`` uses ``model.precision``.
      seed_loop: ``"vmap"`` computes all networks at once (``jax.vmap``: the
        parallel choice on accelerators, memory ∝ S); ``"map"`` computes one
        network at a time inside one compiled loop (``jax.lax.map``: memory of
        one network; on the CPU it compiles and runs faster, since XLA's
        CPU batched matmuls are slower than a loop of plain ones, see
        docs/measurements.md). Within one ``seed_loop`` a key gives
        bit-identical kernels whatever the batch; the two loops differ by
        float32 rounding.
      control_variates: also return each network's mean-zero control
        variates ``(C_nngp, C_ntk)`` (:mod:`harness.kernels._control`), as
        ``(nngp, ntk, c_nngp, c_ntk)``.
    """
    if ntk_method is not None and ntk_method not in NTK_METHODS_PER_SEED:
        raise ValueError(f"ntk_method must be one of {NTK_METHODS_PER_SEED}, not {ntk_method!r}")
    check_model(model)
    check_inputs(xs, model)
    _check_keys(keys)
    precision = resolve_precision(model, precision)
    xs = jnp.asarray(xs, model.dtype)
    one = functools.partial(
        _one_seed,
        model,
        ntk_method=ntk_method,
        precision=precision,
        controls=bool(control_variates),
    )
    if seed_loop == "vmap":
        return jax.vmap(lambda key: one(key, xs))(keys)
    if seed_loop == "map":
        return jax.lax.map(lambda key: one(key, xs), keys)
    raise ValueError(f"seed_loop must be 'vmap' or 'map', not {seed_loop!r}")


_per_seed_kernels_jit = jax.jit(
    per_seed_kernels,
    static_argnames=("model", "ntk_method", "precision", "seed_loop", "control_variates"),
)


def default_seed_loop() -> str:
    """``"map"`` on the CPU, ``"vmap"`` on accelerators (see :func:`per_seed_kernels`)."""
    return "map" if jax.default_backend() == "cpu" else "vmap"


def seed_keys(seeds, *, impl: str | None = None):
    """PRNG keys for integer seeds: ``PRNGKey(s)`` (threefry) or ``key(s, impl=impl)``.

    The default (threefry, raw ``uint32[2]`` keys) is reproducible across
    backends and JAX versions. ``impl="rbg"`` or ``"unsafe_rbg"`` draws the
    weights with XLA's bit generator, which is not guaranteed to give the same
    numbers on another backend or XLA version (and on the CPU it is slower
    than threefry, so it is no speed-up there: docs/measurements.md).
    """
    seeds = [int(s) for s in seeds]
    if impl is None:
        return jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    return jnp.stack([jax.random.key(s, impl=impl) for s in seeds])


@functools.partial(jax.jit, static_argnums=(0, 2))
def _draw_jit(model, key, input_dim):
    return draw_parameters(model, key, input_dim)


def init_network(model, xs, seed: int, *, prng_impl: str | None = None):
    """The variables of network ``seed``: ``draw_parameters(model, PRNGKey(seed), d)``, jitted.

    The same network that :func:`monte_carlo_kernels` uses for ``seed``.
    """
    (key,) = seed_keys([seed], impl=prng_impl)
    return _draw_jit(model, key, int(np.shape(xs)[-1]))


def estimate_network_bytes(
    width: int,
    num_res_blocks: int,
    input_dim: int,
    n_inputs: int,
    *,
    out_dim: int = 1,
    dtype_bytes: int = 4,
) -> int:
    """Peak bytes to draw one network and compute its kernels (an upper-side estimate).

    Counts the parameters twice (the flat N(0, 1) draw and the arrays cut
    from it), the random-bit temporaries of the draw (one more copy), the
    activations and cotangents kept for the factored NTK (``(3L + 4)(K + 1)``
    arrays of ``N × n``), and the ``N × N`` Gram matrices. One network at
    width 8192 with 3 blocks is 1.6 GB of float32 parameters.
    """
    n, d, L, N, K = width, input_dim, num_res_blocks, n_inputs, out_dim
    params = d * n + n + 2 * L * (n * n + n) + n * K
    draw_temporaries = 2 * params
    activations = N * n * (3 * L + 4) * (K + 1)
    grams = N * N * (2 * L + 4) * 2
    return int(dtype_bytes * (params + draw_temporaries + activations + grams))


def monte_carlo_kernels(
    model,
    xs,
    seeds,
    *,
    batch_size: int | None = None,
    memory_budget_bytes: int | None = None,
    ntk_method: str = "factored",
    precision=None,
    prng_impl: str | None = None,
    seed_loop: str | None = None,
    control_variates: bool = True,
) -> PerSeedKernels:
    """Per-seed NNGP and NTK for every integer seed, batched under a memory budget.

    Seed ``s`` always gives the network :func:`init_network` ``(model, xs, s)``. Seeds
    are processed ``batch_size`` at a time (by default as many as
    :func:`estimate_network_bytes` fits in ``memory_budget_bytes`` with
    ``seed_loop="vmap"``, all of them with ``"map"``); the last
    batch is padded with copies of its last seed, so every batch has one shape
    and compiles once. With ``"vmap"`` batches are padded to at least two
    networks, which makes the kernels of seed ``s`` bit-identical whatever the
    batching (a lone unpadded network rounds its matmuls differently, at
    float32 rounding); ``"map"`` is bit-identical whatever the batching as it is.

    ``seed_loop`` is passed to :func:`per_seed_kernels`; ``None`` chooses
    :func:`default_seed_loop` (``"map"`` on the CPU, ``"vmap"`` elsewhere).
    ``control_variates=False`` leaves out each network's control variates (the
    kernels alone, as ``neural_tangents.monte_carlo_kernel_fn`` computes them).

    Returns:
      :class:`PerSeedKernels` with ``nngp`` and ``ntk`` of shape ``(S, N, N)``
      and their control variates (``None`` without ``control_variates``).

    Raises:
      ValueError: no seeds, seeds that are not whole numbers in ``0 … 2**32 - 1``,
        an impossible model, or inputs that are not a finite real ``(N, d)`` array
        or whose kernels leave the network dtype's range
        (:mod:`harness.kernels._validation`).
    """
    try:
        seeds = tuple(operator.index(s) for s in seeds)
    except TypeError:
        raise ValueError(f"seeds must be whole numbers, got {seeds!r}") from None
    if not seeds:
        raise ValueError("monte_carlo_kernels needs at least one seed")
    if any(s < 0 or s >= 2**32 for s in seeds):
        raise ValueError("seeds must lie in 0 … 2**32 - 1 (PRNGKey(s) of a uint32 seed)")
    check_model(model)
    check_inputs(xs, model)
    precision = resolve_precision(model, precision)
    seed_loop = seed_loop or default_seed_loop()
    xs = jnp.asarray(xs, model.dtype)
    if batch_size is None:
        budget = memory_budget_bytes or default_memory_budget_bytes()
        per_network = estimate_network_bytes(
            model.width,
            model.num_res_blocks,
            xs.shape[-1],
            xs.shape[0],
            out_dim=model.out_dim,
            dtype_bytes=jnp.dtype(model.dtype).itemsize,
        )
        batch_size = max(1, budget // per_network) if seed_loop == "vmap" else len(seeds)
    batch_size = max(1, min(int(batch_size), len(seeds)))
    # XLA emits unbatched matmuls for a vmap of size 1, whose float32 rounding
    # differs from the batched ones; every size >= 2 gives
    # bit-identical per-seed kernels (tested), so vmap batches are padded to >= 2.
    padded_size = max(2, batch_size) if seed_loop == "vmap" else batch_size
    parts = []
    for start in range(0, len(seeds), batch_size):
        batch = list(seeds[start : start + batch_size])
        real = len(batch)
        batch += [batch[-1]] * (padded_size - real)
        arrays = _per_seed_kernels_jit(
            model,
            seed_keys(batch, impl=prng_impl),
            xs,
            ntk_method=ntk_method,
            precision=precision,
            seed_loop=seed_loop,
            control_variates=bool(control_variates),
        )
        parts.append([np.asarray(array)[:real] for array in arrays])
    nngp, ntk, *controls = (np.concatenate(p) for p in zip(*parts, strict=True))
    nngp_control, ntk_control = controls or (None, None)
    return PerSeedKernels(nngp, ntk, seeds, precision_label(precision), nngp_control, ntk_control)
