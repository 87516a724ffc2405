"""Seeds sharded over every device, on one host or many.

Independent networks are embarrassingly parallel: a batch of ``B`` PRNG keys
is laid out along a one-axis :class:`jax.sharding.Mesh` named ``"seeds"``
(``NamedSharding(mesh, P("seeds"))``), the inputs are replicated
(``P()``), and one ``jax.jit`` computes every device's networks where its keys
live. ``B`` is always a multiple of the device count.

Multi-host: :func:`initialize_distributed` calls
:func:`jax.distributed.initialize` when the standard variables are set
(``JAX_COORDINATOR_ADDRESS`` with ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``)
or when a cluster JAX auto-detects is present (SLURM, Open MPI, Kubernetes
jobs; opt in with ``JAX_DISTRIBUTED_AUTO=1``). The mesh then spans every
process's devices, keys are built on each process with
:func:`jax.make_array_from_callback`, and results are gathered to every
process with :func:`jax.experimental.multihost_utils.process_allgather`; only
process 0 writes files (:attr:`is_writer`).

Numbers do not depend on the number of devices beyond float rounding:
each network's arithmetic is the same program on whichever device holds it.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec

__all__ = [
    "SEED_AXIS",
    "gather_to_host",
    "initialize_distributed",
    "is_writer",
    "replicate",
    "seed_mesh",
    "shard_keys",
]

SEED_AXIS = "seeds"
_initialized = False


def initialize_distributed(environ=None) -> bool:
    """Call :func:`jax.distributed.initialize` once if a multi-process run is configured.

    Returns whether it was called. Reads ``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID`` (explicit), or
    ``JAX_DISTRIBUTED_AUTO=1`` (let JAX detect SLURM/MPI/Kubernetes).
    """
    global _initialized
    environ = os.environ if environ is None else environ
    if _initialized:
        return True
    address = environ.get("JAX_COORDINATOR_ADDRESS")
    if address:
        jax.distributed.initialize(
            coordinator_address=address,
            num_processes=int(environ["JAX_NUM_PROCESSES"]),
            process_id=int(environ["JAX_PROCESS_ID"]),
        )
    elif environ.get("JAX_DISTRIBUTED_AUTO") == "1":
        jax.distributed.initialize()
    else:
        return False
    _initialized = True
    return True


def is_writer() -> bool:
    """Whether this process writes results (process 0)."""
    return jax.process_index() == 0


def seed_mesh() -> Mesh:
    """A one-axis mesh ``("seeds",)`` over every device of every process."""
    return Mesh(np.asarray(jax.devices()), (SEED_AXIS,))


def shard_keys(keys: np.ndarray, mesh: Mesh) -> jax.Array:
    """Place a host ``(B, ...)`` key array along the ``seeds`` axis (B divisible by devices)."""
    sharding = NamedSharding(mesh, PartitionSpec(SEED_AXIS))
    keys = np.asarray(keys)
    if keys.shape[0] % mesh.size:
        raise ValueError(f"batch {keys.shape[0]} is not a multiple of {mesh.size} devices")
    return jax.make_array_from_callback(keys.shape, sharding, lambda index: keys[index])


def replicate(value, mesh: Mesh) -> jax.Array:
    """Place a host array on every device of the mesh."""
    value = np.asarray(value)
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def gather_to_host(array) -> np.ndarray:
    """The full value of a (possibly multi-process) sharded array as a NumPy array."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(array, tiled=True))
    return np.asarray(array)
