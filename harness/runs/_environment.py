"""The environment stamp recorded with every result, and the line every job starts with.

Every entry point names where it runs in its first line (:func:`device_banner`),
for example ``converge: 1 × NVIDIA H100 80GB HBM3, JAX 0.12.0.1, float32, TF32
matmuls``. The matmul precision is part of it because JAX's default float32
matmul on NVIDIA Hopper and Ampere GPUs is TF32 (10-bit mantissa), not full
float32; on the CPU the default is full float32.
"""

from __future__ import annotations

import os
import platform
import shutil

import flax
import jax
import numpy
import optax

__all__ = [
    "device_banner",
    "device_description",
    "environment_stamp",
    "gpu_fallback_warning",
    "matmul_description",
]


def device_description() -> str:
    """A readable name for the default device, e.g. ``"NVIDIA H200"`` or ``"cpu (2 cores)"``."""
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
        "matmuls": matmul_description(precision, dtype or "float32"),
        "dtype": dtype,
        "x64_enabled": bool(jax.config.jax_enable_x64),
    }


def matmul_description(precision: str | None, dtype: str = "float32") -> str:
    """What a float32 matmul at ``precision`` computes on the default backend.

    ``None`` is JAX's default (``jax_default_matmul_precision``, unset: TF32 on NVIDIA
    GPUs, full float32 on the CPU).
    ``"high"`` is three bfloat16 passes (about float32 accuracy) on GPUs.
    """
    if dtype != "float32":
        return f"{dtype} matmuls"
    precision = precision or jax.config.jax_default_matmul_precision
    if jax.default_backend() != "gpu":
        return "float32 matmuls"
    names = {"high": "bf16×3 matmuls", "bfloat16": "bf16 matmuls"}
    names |= dict.fromkeys((None, "default", "fastest", "tensorfloat32"), "TF32 matmuls")
    return names.get(precision, "full float32 matmuls")


def device_banner(job: str, *, precision: str | None, dtype: str = "float32") -> str:
    """``"<job>: <count> × <device>, JAX <version>, <dtype>, <matmul precision>"``."""
    devices = jax.devices()
    return (
        f"{job}: {len(devices)} × {device_description()}, JAX {jax.__version__}, "
        f"{dtype}, {matmul_description(precision, dtype)}"
    )


def _nvidia_gpu_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def gpu_fallback_warning(job: str) -> str | None:
    """A one-line notice when an NVIDIA GPU is present but JAX runs on the CPU, else ``None``."""
    if jax.default_backend() == "cpu" and _nvidia_gpu_present():
        return (
            f"{job}: an NVIDIA GPU is present but JAX runs on the CPU (no CUDA build of "
            "jaxlib); run `make` again to install it. Carrying on on the CPU."
        )
    return None
