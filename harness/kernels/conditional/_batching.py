r"""Many conditional networks: keys from seeds, chunks under a memory budget, two threads.

Network ``s`` uses the key ``fold_in(PRNGKey(base_seed), s)``
(:func:`conditional_keys`) and is the network
:func:`conditional_network_kernels` draws from that key. Networks are computed
in chunks sized by :func:`conditional_network_bytes`; narrow networks are
``vmap``-ped in groups whose size depends on ``N n`` alone, and chunks are
padded to a multiple of it, so a network's kernels do not depend on the
chunking. On a CPU with two or more cores two chunks run at once, in two
threads, because one XLA computation keeps about one core busy (measured:
docs/measurements.md).

Cost of one network
-------------------
Per network and hidden matrix: two ``eigh`` of ``N × N`` for the basis and
one for ``R_D``; eight ``N × n`` by ``n × N`` or ``N × N`` by ``N × n``
products forward (Gram, ``M``, Gram of ``M``, ``Q``, ``R``, the two checks,
``RᵀZ₁``) and six backward (Gram of ``D``, ``Dᵀu_j``, ``Y``, ``D Z₁ᵀ``,
``Y Q``, ``(·) Qᵀ``), ``O(L n N²)`` flops in all; ``2 N n`` normals per
hidden matrix (``4 N n + 2n`` per block) and ``(min(d, N) + 2) n`` for the
embedding, bias and readout. Memory: ``Qᵀ`` and ``Z₁`` of every hidden
matrix and the ReLU masks are kept for the backward pass, ``(4L + c) n N``
numbers (:func:`conditional_network_bytes`).

:func:`conditional_kernels` computes in float64 by default, inside a local
``jax.enable_x64`` context (the global flag is never changed);
``dtype="float32"`` is available.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import numbers
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from analytic import check_input_array
from analytic import check_whole
from analytic.activations import get_activation
from harness.kernels._budget import default_memory_budget_bytes
from harness.kernels.conditional._sampler import _check_architecture
from harness.kernels.conditional._sampler import _check_dtype
from harness.kernels.conditional._sampler import _network_kernels

__all__ = [
    "ConditionalKernels",
    "chunk_workers",
    "compile_conditional_kernels",
    "conditional_kernels",
    "conditional_keys",
    "conditional_network_bytes",
]

_MAX_SEED = 2**31  # seeds and base seeds below this give the same key whatever the x64 flag


class ConditionalKernels(NamedTuple):
    """Per-network kernels from :func:`conditional_kernels` (NumPy float64, networks on axis 0).

    Attributes:
      nngp: readout-marginalised NNGP ``(W_std²/n) φ(h_L) φ(h_L)ᵀ``, ``(S, N, N)``.
      ntk: empirical NTK (one output), ``(S, N, N)``.
      seeds: the network indices ``s`` (key ``fold_in(PRNGKey(base_seed), s)``).
      dtype: the compute dtype, ``"float64"`` or ``"float32"``.
      nngp_control, ntk_control: each network's mean-zero control variates
        (:mod:`harness.kernels._control`): ``nngp − nngp_control`` has the
        mean of ``nngp`` and a smaller variance; likewise for the NTK.
    """

    nngp: np.ndarray
    ntk: np.ndarray
    seeds: tuple
    dtype: str
    nngp_control: np.ndarray
    ntk_control: np.ndarray


def _seed_list(seeds):
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool | np.bool_):
        seeds = range(check_whole("seeds", seeds, 1))
    try:
        seeds = tuple(seeds)
    except TypeError as error:
        raise ValueError(f"seeds must be a positive int or a sequence of ints: {error}") from error
    if not seeds:
        raise ValueError("seeds must not be empty")
    for s in seeds:
        check_whole("each seed", s, 0)
        if s >= _MAX_SEED:
            raise ValueError(f"seeds must be < 2**31, got {s}")
    return tuple(int(s) for s in seeds)


def conditional_keys(seeds, *, base_seed: int = 0):
    """Keys of networks ``seeds``: ``jax.random.fold_in(jax.random.PRNGKey(base_seed), s)``.

    ``seeds`` is a positive int ``S`` (networks ``0 … S-1``) or a sequence of
    ints in ``[0, 2**31)``; ``base_seed`` is an int in ``[0, 2**31)``. The keys
    are the same whatever the ``jax_enable_x64`` flag. Returns ``uint32[S, 2]``.
    """
    seeds = _seed_list(seeds)
    base = check_whole("base_seed", base_seed, 0)
    if base >= _MAX_SEED:
        raise ValueError(f"base_seed must be < 2**31, got {base}")
    return _keys(jnp.asarray(seeds, jnp.uint32), jax.random.PRNGKey(base))


def _keys(seeds, base_key):
    return jax.vmap(lambda s: jax.random.fold_in(base_key, s))(seeds)


#: Networks of fewer than this many ``N × n`` entries are ``vmap``-ped in groups
#: of ``_GROUP_ELEMENTS // (N n)``; wider ones run one at a time (``lax.map``),
#: which on a CPU is as fast and keeps the Householder fallback to the network
#: that needs it. The group depends on ``N n`` alone (chunks are padded to a
#: multiple of it), so that a network's kernels do not depend on the chunking.
_GROUP_ELEMENTS = 2**12


#: The most networks in one chunk. Chunks hold a power of two of networks up to this
#: (fewer where the memory budget says so), so calls with different seed counts at one
#: width, e.g. ``harness.converge``'s batches of 32 and 16 and its later rounds, share a
#: compiled program: on a GPU each compilation costs seconds, the networks of a chunk
#: milliseconds. Within a chunk ``lax.map`` takes the networks one at a time anyway.
_MAX_CHUNK = 8


def _group_size(width, n_inputs):
    """Networks ``vmap``-ped together in one ``lax.map`` step, or ``None`` for no ``vmap``."""
    if width * n_inputs >= _GROUP_ELEMENTS:
        return None
    return _GROUP_ELEMENTS // (width * n_inputs)


def _batched(
    seeds,
    base_key,
    xs,
    W_std,
    b_std,
    *,
    width,
    num_res_blocks,
    dtype,
    group,
    activation=None,
    branch_scale=1.0,
):
    def one(key):
        return _network_kernels(
            key,
            xs,
            W_std,
            b_std,
            width=width,
            num_res_blocks=num_res_blocks,
            dtype=dtype,
            controls=True,
            activation=activation,
            branch_scale=branch_scale,
        )

    return jax.lax.map(one, _keys(seeds, base_key), batch_size=group)


_batched_jit = jax.jit(
    _batched,
    static_argnames=("width", "num_res_blocks", "dtype", "group", "activation", "branch_scale"),
)


def conditional_network_bytes(
    width: int,
    num_res_blocks: int,
    n_inputs: int,
    input_dim: int,
    *,
    dtype_bytes: int = 8,
    activation="relu",
) -> int:
    """Peak bytes of one network in :func:`conditional_kernels` (an upper-side estimate).

    Counts what is kept for the backward pass, ``Qᵀ`` and ``Z₁`` of every
    hidden matrix (``4L`` arrays of ``min(n, N) × n``) and the activation's
    derivatives ``φ'`` (``L N n`` entries: one byte each for the ReLU's boolean
    masks, ``dtype_bytes`` for any other activation), and the live temporaries,
    ``(16 · dtype_bytes + 64)`` bytes per ``N × n`` entry (fitted to the peak resident memory of
    the CPU backend, with a margin: docs/measurements.md). The input
    dimension ``d`` enters through the ``min(d, N) × n`` embedding draw.
    """
    n = check_whole("width", width, 1)
    L = check_whole("num_res_blocks", num_res_blocks, 0)
    N = check_whole("n_inputs", n_inputs, 1)
    d = check_whole("input_dim", input_dim, 1)
    item = check_whole("dtype_bytes", dtype_bytes, 1)
    slope = 1 if get_activation(activation).name == "relu" else item
    kept = item * 4 * L * n * min(n, N) + slope * L * N * n
    temporaries = (16 * item + 64) * N * n + item * (min(d, N) * n + (4 * L + 8) * N * N)
    return int(kept + temporaries)


def chunk_workers() -> int:
    """Chunks run at once: 2 on a CPU with two or more cores, else 1 (see the module docstring)."""
    if jax.default_backend() != "cpu":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


def conditional_kernels(
    xs,
    seeds,
    *,
    width: int,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    base_seed: int = 0,
    memory_budget_bytes: int | None = None,
    dtype="float64",
    activation="relu",
    branch_scale: float = 1.0,
) -> ConditionalKernels:
    """Per-network NNGP and NTK of many networks drawn by Gaussian conditioning.

    Network ``s`` uses the key ``fold_in(PRNGKey(base_seed), s)``
    (:func:`conditional_keys`) and is the network that
    :func:`conditional_network_kernels` draws from that key, up to rounding
    (batched and single matmuls may round differently). Networks are computed
    in chunks of as many as :func:`conditional_network_bytes` fits in
    ``memory_budget_bytes`` (at least one, even if one network exceeds the
    budget), one compiled ``lax.map`` per chunk that takes the networks one at
    a time, or ``jax.vmap``-ed in small groups when they are narrow; chunks
    hold a power of two of networks, at most 8, and are padded, so that one
    compilation serves all of them and every other call at that width and
    architecture with 8 or more networks per worker. On a CPU with two
    or more cores two chunks run at once, in two threads, each with half the
    budget (one XLA computation keeps about one core busy). A network's
    kernels do not depend on the chunking (bit-identical on the CPU:
    ``tests/kernels/test_conditional.py::test_batching_and_keys_do_not_change_a_network``).

    Args:
      xs: inputs, shape ``(N, d)``, finite real numbers.
      seeds: a positive int ``S`` (networks ``0 … S-1``) or a sequence of
        ints in ``[0, 2**31)``.
      width, num_res_blocks, W_std, b_std: the architecture, as in
        :func:`conditional_network_kernels`.
      base_seed: int in ``[0, 2**31)``, the root of the keys.
      memory_budget_bytes: bound on the memory of the chunks run at once;
        ``None`` is :func:`harness.kernels.default_memory_budget_bytes` (half
        the accelerator memory, or 4 GiB on a CPU).
      dtype: ``"float64"`` (default; run inside a local ``jax.enable_x64``
        context, the global flag untouched) or ``"float32"``.
      activation, branch_scale: as in :func:`conditional_network_kernels`.

    Returns:
      :class:`ConditionalKernels` with float64 NumPy arrays ``(S, N, N)``: the
      kernels and each network's control variates (zero where
      :func:`~harness.kernels._control.controls_apply` is False).

    Raises:
      ValueError: on invalid arguments.
    """
    plan = _plan(
        xs, seeds, width=width, num_res_blocks=num_res_blocks, W_std=W_std, b_std=b_std,
        base_seed=base_seed, memory_budget_bytes=memory_budget_bytes, dtype=dtype,
        activation=activation, branch_scale=branch_scale,
    )  # fmt: skip
    seeds, chunk, workers = plan.seeds, plan.chunk, plan.workers

    def run(start):
        return _run_chunk(plan, list(seeds[start : start + chunk]))

    starts = range(0, len(seeds), chunk)
    if workers > 1 and len(starts) > 1:
        pool = concurrent.futures.ThreadPoolExecutor(workers)
        try:
            results = list(pool.map(run, starts))
        except BaseException:  # e.g. Ctrl-C: drop the queued chunks, do not wait for the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    else:
        results = [run(start) for start in starts]
    nngp, ntk, nngp_control, ntk_control = (
        np.concatenate(part) for part in zip(*results, strict=True)
    )
    return ConditionalKernels(nngp, ntk, seeds, plan.dtype, nngp_control, ntk_control)


def compile_conditional_kernels(xs, seeds, **architecture) -> None:
    """Compile the program that :func:`conditional_kernels` ``(xs, seeds, **architecture)``
    runs, without running it (the same arguments, so that call then compiles nothing)."""
    plan = _plan(xs, seeds, **architecture)
    _run_chunk(plan, list(plan.seeds[: plan.chunk]), compile_only=True)


class _Plan(NamedTuple):
    """The checked arguments of :func:`conditional_kernels` and its chunking."""

    xs: np.ndarray
    seeds: tuple
    chunk: int
    workers: int
    base_key: np.ndarray
    dtype: str
    arguments: tuple  # (W_std, b_std), traced
    static: dict  # width, num_res_blocks, dtype, group, activation, branch_scale


def _plan(
    xs,
    seeds,
    *,
    width,
    num_res_blocks,
    W_std,
    b_std,
    base_seed=0,
    memory_budget_bytes=None,
    dtype="float64",
    activation="relu",
    branch_scale=1.0,
) -> _Plan:
    """Check the arguments of :func:`conditional_kernels` and size its chunks."""
    width, num_res_blocks, W_std, b_std, activation, branch_scale = _check_architecture(
        width, num_res_blocks, W_std, b_std, activation, branch_scale
    )
    xs = np.asarray(check_input_array(xs))
    seeds = _seed_list(seeds)
    base = check_whole("base_seed", base_seed, 0)
    if base >= _MAX_SEED:
        raise ValueError(f"base_seed must be < 2**31, got {base}")
    dtype = _check_dtype(dtype)
    if memory_budget_bytes is None:
        budget = default_memory_budget_bytes()
    else:
        budget = check_whole("memory_budget_bytes", memory_budget_bytes, 1)
    per_network = conditional_network_bytes(
        width,
        num_res_blocks,
        *xs.shape,
        dtype_bytes=np.dtype(dtype).itemsize,
        activation=activation,
    )
    workers = chunk_workers()
    share = 1 << (-(-len(seeds) // workers) - 1).bit_length()  # a worker's, as a power of 2
    chunk = max(1, min(_MAX_CHUNK, share, budget // (workers * per_network)))
    group = _group_size(width, xs.shape[0])
    if group is not None:
        chunk = -(-chunk // group) * group
    static = {
        "width": width,
        "num_res_blocks": num_res_blocks,
        "dtype": dtype,
        "group": group,
        "activation": activation,
        "branch_scale": branch_scale,
    }
    base_key = np.asarray(jax.random.PRNGKey(base))
    return _Plan(xs, seeds, chunk, workers, base_key, dtype, (W_std, b_std), static)


def _run_chunk(plan: _Plan, batch: list, *, compile_only: bool = False):
    """The kernels of ``batch`` (at most ``plan.chunk`` seeds, padded to it), NumPy float64;
    with ``compile_only``, compile the chunk's program and return None."""
    real = len(batch)
    batch = batch + [batch[-1]] * (plan.chunk - real)
    # The x64 context is per thread, so it is entered here.
    with jax.enable_x64(True) if plan.dtype == "float64" else contextlib.nullcontext():
        arguments = (
            jnp.asarray(batch, jnp.uint32),
            jnp.asarray(plan.base_key),
            jnp.asarray(plan.xs, plan.dtype),
            *plan.arguments,
        )
        if compile_only:
            _batched_jit.lower(*arguments, **plan.static).compile()
            return None
        kernels = _batched_jit(*arguments, **plan.static)
        return tuple(np.asarray(kernel, np.float64)[:real] for kernel in kernels)
