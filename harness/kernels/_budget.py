"""How much memory an estimator may plan for when the caller gives no budget.

One default for every estimator of :mod:`harness.kernels`:

* :data:`DEFAULT_MEMORY_BUDGET_BYTES` (4 GiB) where no device reports a limit
  (the CPU, shared with everything else on the machine), and as the fixed
  default of :func:`jacobian_ntk <harness.kernels._jacobian.jacobian_ntk>`,
  whose budget bounds only its Jacobian chunks (autodiff's intermediates come
  on top), so it is not scaled up to an accelerator's memory;
* :func:`default_memory_budget_bytes`: half an accelerator's memory limit, else
  :data:`DEFAULT_MEMORY_BUDGET_BYTES`; used by the Monte Carlo driver, the
  conditional sampler and the convergence runs' seed batches.

The budget only sizes batches: the Monte Carlo driver, the conditional sampler
and the Jacobian NTK give the same kernels whatever the budget, up to rounding
(bit-identical for the first two; see their docstrings).
"""

from __future__ import annotations

import jax

__all__ = ["DEFAULT_MEMORY_BUDGET_BYTES", "default_memory_budget_bytes"]

#: The memory budget when no device reports a limit: 4 GiB.
DEFAULT_MEMORY_BUDGET_BYTES = 4 * 1024**3


def default_memory_budget_bytes() -> int:
    """Half the accelerator's memory limit when JAX reports one, else the 4 GiB default.

    Asks this process's first device: in a multi-process run the others' devices
    report nothing, and the CPU reports no limit (it is shared with everything else).
    """
    stats = getattr(jax.local_devices()[0], "memory_stats", lambda: None)()
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"] // 2)
    return DEFAULT_MEMORY_BUDGET_BYTES
