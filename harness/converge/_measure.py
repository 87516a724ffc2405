"""Per-(width, seed) empirical kernels: sharded seed batches, resumable, OOM-safe.

Two samplers fill the same kind of unit (one network's NNGP and NTK):

* ``flax``: instantiated networks, unit ``w{n}_s{s}`` (below); a residual MLP, or a
  custom model (:mod:`harness.converge._model`, whose units hold zero control
  variates: it has none);
* ``conditional``: the kernels of network ``s`` sampled exactly by Gaussian
  conditioning (:func:`harness.kernels.conditional_kernels`, key
  ``fold_in(PRNGKey(n), s)``), unit ``c{n}_s{s}``, in fixed batches of
  :data:`CONDITIONAL_BATCH` seeds, on the default device.

For each width ``n`` the seeds ``0 … S-1`` are cut into *fixed* batches of
``B = b × D`` seeds (``D`` devices, ``b`` networks per device sized from
:func:`harness.kernels._monte_carlo.estimate_network_bytes` and the device memory).
Each batch is one ``jax.jit`` call of :func:`harness.kernels._monte_carlo.per_seed_kernels`
with the keys sharded along the ``"seeds"`` mesh axis (:mod:`harness.runs._sharding`);
network ``s`` of width ``n`` is ``models.draw_parameters(model, fold_in(PRNGKey(s), n), d)``
whatever the batching. Folding the width in makes networks of different widths
independent, which the formula test assumes: with ``PRNGKey(s)`` alone a narrow
network's weights are a prefix of the same random stream as a wide one's, and
their kernels correlate.

After every batch, each seed's kernels are checked for NaN/Inf
(:class:`NonFiniteKernelError` names the width and seed) and stored as one unit
``w{n}_s{s}`` in the :class:`~harness.runs.RunStore`, atomically. A
resumed run recomputes only batches with a missing seed, with the same batch
boundaries, so it reproduces an uninterrupted run's numbers exactly.

Out of memory (``RESOURCE_EXHAUSTED``) during a batch halves ``b`` and retries
that batch in halves; completed units are never touched. (The halves are
different XLA programs, so those seeds may then differ from an uninterrupted
run in the last float bits.)
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from harness.kernels import compile_conditional_kernels
from harness.kernels import conditional_kernels
from harness.kernels import default_memory_budget_bytes
from harness.kernels import empirical_nngp
from harness.kernels import estimate_network_bytes
from harness.kernels import network_controls
from harness.kernels import nt_ntk
from harness.kernels import per_seed_kernels
from harness.kernels import per_seed_model_kernels
from harness.kernels import seed_keys
from harness.runs import gather_to_host
from harness.runs import is_out_of_memory
from harness.runs import replicate
from harness.runs import shard_keys
from harness.runs import unit_key
from models import draw_parameters
from models import model_trace

__all__ = [
    "CONDITIONAL_BATCH",
    "UNIT_ARRAYS",
    "NonFiniteKernelError",
    "WidthMeasurement",
    "compile_conditional",
    "measure_batch",
    "measure_conditional",
    "networks_per_device",
    "nt_per_seed_kernels",
    "seed_batches",
]

#: Upper bound on networks per device in one batch (more gains nothing on a CPU).
MAX_NETWORKS_PER_DEVICE = 16
#: The arrays of every unit: one network's kernels and their control variates.
UNIT_ARRAYS = ("nngp", "ntk", "nngp_control", "ntk_control")
#: Seeds per call of the conditional sampler (fixed, so a resumed run repeats the batches).
CONDITIONAL_BATCH = 32


class NonFiniteKernelError(RuntimeError):
    """An empirical kernel holds NaN or Inf; the message names the width and seed."""


def networks_per_device(
    config, width: int, n_devices: int, *, budget_bytes=None, network_bytes=None
) -> int:
    """Networks one device computes per batch: memory budget over one network's peak bytes.

    The budget is :func:`harness.kernels.default_memory_budget_bytes` (half
    an accelerator's memory, or 4 GiB on the CPU, shared by all CPU devices).
    One network's bytes are :func:`harness.kernels.estimate_network_bytes` for the
    residual MLP, or ``network_bytes`` when given (a custom model's, measured at its
    widest width by :func:`harness.converge._model.probe_model`). Both depend only on
    the config and the machine, so batch boundaries, and hence the numbers, are the
    same on a rerun.
    """
    budget = budget_bytes or default_memory_budget_bytes()
    if jax.devices()[0].platform == "cpu":
        budget //= n_devices
    per_network = network_bytes or estimate_network_bytes(
        width, config.num_res_blocks, config.input_dim, config.n_inputs
    )
    most = max(1, min(MAX_NETWORKS_PER_DEVICE, budget // per_network))
    # Equal batches (one compiled shape): the fewest batches that fit, evenly filled.
    per_device_seeds = -(-config.seeds // n_devices)
    batches = -(-per_device_seeds // most)
    return int(-(-per_device_seeds // batches))


def seed_batches(num_seeds: int, batch: int) -> list[list[int]]:
    """Seeds ``0 … S-1`` cut into consecutive batches of ``batch`` (the last may be short)."""
    return [
        list(range(start, min(start + batch, num_seeds))) for start in range(0, num_seeds, batch)
    ]


@functools.lru_cache(maxsize=32)
def _compiled(model, ntk_method, precision, kernels_fn):
    """One ``jax.jit`` per (model, method, precision), reused by resumed and repeated runs."""

    def compute(keys, inputs):
        return kernels_fn(
            model, keys, inputs, ntk_method=ntk_method, precision=precision, control_variates=True
        )

    return jax.jit(compute)


class WidthMeasurement:
    """Computes the :data:`UNIT_ARRAYS` of a batch of seeds at one width, sharded over a mesh.

    Build it with :meth:`residual` (a residual MLP) or :meth:`custom` (a custom model).

    Args:
      compute: a jitted ``(keys, xs) → (nngp, ntk, nngp_control, ntk_control)``, each
        ``(S, N, N)``.
      width: the width folded into every network's key.
      xs: inputs ``(N, d)``.
      mesh: the ``"seeds"`` mesh.
    """

    def __init__(self, compute, width: int, xs, mesh):
        self.width = width
        self.mesh = mesh
        self.xs = replicate(np.asarray(xs, np.float32), mesh)
        self._compute = compute

    @classmethod
    def residual(cls, model, xs, mesh, *, ntk_method: str, precision, kernels_fn=None):
        """For a :class:`models.ResidualMLP`; ``ntk_method`` and ``precision`` go to
        ``per_seed_kernels``, which ``kernels_fn`` replaces (tests; same signature)."""
        if kernels_fn is None:
            kernels_fn = nt_per_seed_kernels if ntk_method == "nt" else per_seed_kernels
        return cls(_compiled(model, ntk_method, precision, kernels_fn), model.width, xs, mesh)

    @classmethod
    def custom(cls, module, width: int, xs, mesh, *, readout: str | None, precision):
        """For a custom model's ``module`` of ``width``
        (:func:`harness.kernels.per_seed_model_kernels`: zero control variates)."""

        def compute(keys, inputs):
            return per_seed_model_kernels(
                module, keys, inputs, readout=readout, precision=precision
            )

        return cls(jax.jit(compute), width, xs, mesh)

    def _keys(self, seeds: list[int]):
        """The sharded keys of ``seeds`` (padded to a multiple of the devices)."""
        devices = self.mesh.size
        padded = list(seeds) + [seeds[-1]] * (-len(seeds) % devices)
        keys = np.asarray(seed_keys(padded))
        keys = np.asarray(jax.vmap(jax.random.fold_in, (0, None))(keys, self.width))
        return shard_keys(keys, self.mesh)

    def compile(self, seeds: list[int]) -> None:
        """Compile the program of a batch of ``len(seeds)`` seeds, without running it
        (:mod:`harness.converge._ahead`)."""
        self._compute.lower(self._keys(seeds), self.xs).compile()

    def __call__(self, seeds: list[int]) -> dict[str, np.ndarray]:
        """The :data:`UNIT_ARRAYS` of ``seeds``, float64 ``(len(seeds), N, N)`` each."""
        arrays = self._compute(self._keys(seeds), self.xs)
        return {
            name: gather_to_host(array)[: len(seeds)].astype(np.float64)
            for name, array in zip(UNIT_ARRAYS, arrays, strict=True)
        }


def nt_per_seed_kernels(
    model, keys, xs, *, ntk_method="nt", precision=None, control_variates=False
):
    """Like ``per_seed_kernels`` with the NTK from neural-tangents (implementation 2).

    Seeds run one after another (``jax.lax.map``): neural-tangents' NTK-vector
    products are the reference estimator here, not the fast path.
    """
    del ntk_method

    def one(key):
        variables = draw_parameters(model, key, xs.shape[-1])
        kernels = (
            empirical_nngp(model, variables, xs, precision=precision),
            nt_ntk(model, variables, xs, implementation=2, precision=precision),
        )
        if not control_variates:
            return kernels
        trace = model_trace(model, variables, xs, precision=precision)
        return (*kernels, *network_controls(model, variables, trace, xs, precision=precision))

    return jax.lax.map(one, keys)


def _check_finite(width: int, seed: int, unit: dict) -> None:
    for name, kernel in unit.items():
        if not np.all(np.isfinite(kernel)):
            what = name.upper().replace("_CONTROL", " control variate")
            raise NonFiniteKernelError(
                f"the empirical {what} at width {width}, seed {seed} holds NaN or Inf "
                "(overflow? try smaller --w-std/--b-std or fewer --blocks)"
            )


def measure_conditional(config, xs, store, width: int, seeds: list[int], *, on_unit=None) -> None:
    """Sample, check and store the conditional units of ``seeds`` (one batch) at ``width``.

    Network ``s`` at width ``n`` has the key ``fold_in(PRNGKey(n), s)``: every width
    draws its own stream, so networks of different widths are independent.
    """
    kernels = conditional_kernels(xs, list(seeds), **_conditional_arguments(config, width))
    for index, seed in enumerate(seeds):
        key = unit_key(width, seed, "conditional")
        unit = {name: getattr(kernels, name)[index] for name in UNIT_ARRAYS}
        _check_finite(width, seed, unit)
        if not store.has(key):
            store.save(key, **unit)
            if on_unit is not None:
                on_unit(seed)


def compile_conditional(config, xs, width: int, seeds: list[int]) -> None:
    """Compile the program :func:`measure_conditional` runs for ``seeds``, without running it."""
    compile_conditional_kernels(xs, list(seeds), **_conditional_arguments(config, width))


def _conditional_arguments(config, width: int) -> dict:
    return {
        "width": width,
        "num_res_blocks": config.num_res_blocks,
        "W_std": config.W_std,
        "b_std": config.b_std,
        "base_seed": width,
        "activation": config.activation,
        "branch_scale": config.branch_scale,
    }


def measure_batch(measure, store, width: int, seeds: list[int], *, on_unit=None) -> int:
    """Compute one batch (halving it on OOM), check and store every seed; return the size used.

    ``on_unit(seed)`` is called after each seed is stored (progress).
    """
    try:
        arrays = measure(seeds)
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        if len(seeds) <= measure.mesh.size:
            raise MemoryError(
                f"out of memory at width {width} with one network per device; "
                f"completed results are kept in {store.out}"
            ) from error
        half = max(measure.mesh.size, (len(seeds) // 2) // measure.mesh.size * measure.mesh.size)
        used = measure_batch(measure, store, width, seeds[:half], on_unit=on_unit)
        measure_batch(measure, store, width, seeds[half:], on_unit=on_unit)
        return min(used, half)
    units = [{name: array[index] for name, array in arrays.items()} for index in range(len(seeds))]
    for seed, unit in zip(seeds, units, strict=True):  # store every finite seed before a bad one
        key = unit_key(width, seed)
        finite = all(np.all(np.isfinite(array)) for array in unit.values())
        if finite and not store.has(key):
            store.save(key, **unit)
            if on_unit is not None:
                on_unit(seed)
    for seed, unit in zip(seeds, units, strict=True):
        _check_finite(width, seed, unit)
    return len(seeds)
