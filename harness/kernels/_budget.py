"""How much memory an estimator may plan for when the caller gives no budget."""

from __future__ import annotations

import jax

__all__ = ["default_memory_budget_bytes"]


def default_memory_budget_bytes(*, cpu_bytes: int = 4 * 1024**3) -> int:
    """Half the accelerator's memory limit when JAX reports one, else ``cpu_bytes``.

    Asks this process's first device: in a multi-process run the others' devices
    report nothing, and the CPU reports no limit (it is shared with everything else).
    """
    stats = getattr(jax.local_devices()[0], "memory_stats", lambda: None)()
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"] // 2)
    return cpu_bytes
