"""Where the analytic kernels are computed: in float64, on the CPU, whatever JAX's defaults.

Every analytic computation (:mod:`analytic._rmlp`, :mod:`analytic._correction`, the
probe of a numerical activation) runs inside :func:`float64_on_cpu`: a local
``jax.enable_x64(True)`` (the global flag is never changed) and the CPU as the
default device. The kernels are validated against 50-digit references on the CPU
(``tests/analytic``). On an NVIDIA H200 the same compiled recursion, run on the GPU,
gave ReLU-family kernels that differed from the CPU's by far more than float64
rounding (``reports/gpu-check/summary.md``; the cause is not found yet), so the
GPU is not used for them. The cost is ``O(L N²)`` elementwise work, small beside
the networks the kernels are compared with.
"""

from __future__ import annotations

import contextlib

import jax

__all__ = ["float64_on_cpu"]


@contextlib.contextmanager
def float64_on_cpu():
    """Compute in float64 on this process's CPU device inside the ``with`` block
    (thread-local). This process's: in a multi-process run ``jax.devices("cpu")[0]``
    belongs to process 0, and another process computing there would wait on it."""
    with jax.enable_x64(True), jax.default_device(jax.local_devices(backend="cpu")[0]):
        yield
