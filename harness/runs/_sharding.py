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
import socket
import sys
import threading
import time

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec

from harness.runs._cli import RunError
from harness.runs._cli import UsageError

__all__ = [
    "DEFAULT_DISTRIBUTED_TIMEOUT",
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


#: Seconds a process waits for the coordinator and the other processes (override with
#: ``HARNESS_DISTRIBUTED_TIMEOUT``).
DEFAULT_DISTRIBUTED_TIMEOUT = 120


def _env_int(environ, name: str, *, low: int, high: int | None = None) -> int:
    text = environ.get(name)
    if text is None or not text.strip():
        raise UsageError(
            f"{name} is not set; a multi-process run needs JAX_COORDINATOR_ADDRESS, "
            "JAX_NUM_PROCESSES and JAX_PROCESS_ID together"
        )
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{name}: {text.strip()[:40]!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise UsageError(f"{name}: {value} is not in {bound}")
    return value


def _parse_address(address: str) -> tuple[str, int]:
    host, colon, port_text = address.strip().rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(
            f"JAX_COORDINATOR_ADDRESS: {address[:60]!r} is not host:port (e.g. 10.0.0.1:1234)"
        )
    return host, int(port_text)


def _distributed_settings(environ) -> tuple[str, int, int, float]:
    """``(address, num_processes, process_id, timeout)`` from the environment, checked."""
    address = environ["JAX_COORDINATOR_ADDRESS"]
    host, port = _parse_address(address)
    count = _env_int(environ, "JAX_NUM_PROCESSES", low=1)
    index = _env_int(environ, "JAX_PROCESS_ID", low=0, high=count - 1)
    timeout_text = environ.get("HARNESS_DISTRIBUTED_TIMEOUT", str(DEFAULT_DISTRIBUTED_TIMEOUT))
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = -1.0
    if not 0 < timeout < 1e6:
        raise UsageError(
            f"HARNESS_DISTRIBUTED_TIMEOUT: {timeout_text[:40]!r} is not a number of seconds"
        )
    try:
        socket.getaddrinfo(host, port)
    except OSError:
        raise UsageError(f"JAX_COORDINATOR_ADDRESS: cannot resolve host {host!r}") from None
    return f"{host}:{port}" if ":" not in host else f"[{host}]:{port}", count, index, timeout


def _wait_for_coordinator(address: str, deadline: float) -> bool:
    host, _, port = address.rpartition(":")
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _give_up(message: str) -> None:
    """End the process with one line: JAX aborts (SIGABRT) when its own timeout expires."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    os._exit(1)


def initialize_distributed(environ=None) -> bool:
    """Call :func:`jax.distributed.initialize` once if a multi-process run is configured.

    Returns whether it was called. Reads ``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID`` (explicit; all three or none), or
    ``JAX_DISTRIBUTED_AUTO=1`` (let JAX detect SLURM/MPI/Kubernetes).

    Every process waits at most ``HARNESS_DISTRIBUTED_TIMEOUT`` seconds (default
    :data:`DEFAULT_DISTRIBUTED_TIMEOUT`) for the coordinator and the other processes.
    A process other than 0 first checks that the coordinator's port answers; past the
    deadline the process ends with one line and exit status 1 (JAX's own timeout
    would abort it with a C++ stack trace).

    Raises:
      UsageError: missing, non-numeric or out-of-range variables, or an address
        that is not ``host:port`` or does not resolve.
      RunError: the coordinator did not answer in time.
    """
    global _initialized
    environ = os.environ if environ is None else environ
    if _initialized:
        return True
    if environ.get("JAX_COORDINATOR_ADDRESS"):
        address, count, index, timeout = _distributed_settings(environ)
        deadline = time.monotonic() + timeout
        if index != 0 and not _wait_for_coordinator(address, deadline):
            raise RunError(
                f"the coordinator at {address} did not answer within {timeout:g} s "
                f"(process {index} of {count}); start process 0 there, or check "
                "JAX_COORDINATOR_ADDRESS (HARNESS_DISTRIBUTED_TIMEOUT sets the wait)"
            )
        watchdog = threading.Timer(
            max(deadline - time.monotonic(), 1.0),
            _give_up,
            args=(
                f"the {count} processes of the distributed run did not all join within "
                f"{timeout:g} s (this is process {index}, coordinator {address}); start every "
                "process with the same JAX_COORDINATOR_ADDRESS and JAX_NUM_PROCESSES",
            ),
        )
        watchdog.daemon = True
        watchdog.start()
        try:
            jax.distributed.initialize(
                coordinator_address=address,
                num_processes=count,
                process_id=index,
                initialization_timeout=int(timeout) + 30,
            )
        finally:
            watchdog.cancel()
    elif environ.get("JAX_NUM_PROCESSES") or environ.get("JAX_PROCESS_ID"):
        raise UsageError(
            "JAX_NUM_PROCESSES or JAX_PROCESS_ID is set without JAX_COORDINATOR_ADDRESS; "
            "a multi-process run needs all three"
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
        return np.asarray(multihost_utils.process_allgather(array, tiled=True))
    return np.asarray(array)
