"""The environment stamp recorded with every result: versions, devices, precision."""

from __future__ import annotations

import platform

import jax

__all__ = ["device_description", "environment_stamp"]


def device_description() -> str:
    """A readable name for the default device, e.g. ``"NVIDIA H200"`` or ``"cpu (2 cores)"``."""
    import os

    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    return getattr(device, "device_kind", device.platform)


def environment_stamp(*, precision: str | None = None, dtype: str | None = None) -> dict:
    """Versions, backend, devices, matmul precision and dtype, as a JSON-ready dict.

    ``precision`` is the matmul precision the computation used; ``None`` records
    JAX's default (``jax_default_matmul_precision``, which on H100/H200 means
    TF32 for float32 matmuls).
    """
    import flax
    import numpy
    import optax

    devices = jax.devices()
    default_precision = jax.config.jax_default_matmul_precision
    return {
        "jax": jax.__version__,
        "jaxlib": getattr(jax.lib, "__version__", None) or jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "backend": jax.default_backend(),
        "device": device_description(),
        "devices": [str(d) for d in devices],
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "matmul_precision": precision or f"default ({default_precision or 'backend default'})",
        "dtype": dtype,
        "x64_enabled": bool(jax.config.jax_enable_x64),
    }
