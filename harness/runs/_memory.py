"""Will a run fit in memory? An estimate made before anything is computed.

A run that does not fit fails late and badly: XLA aborts the process
(``RESOURCE_EXHAUSTED``, or ``SIGABRT`` under ``ulimit -v``) after minutes of work.
:func:`check_run_memory` refuses it first, from the config alone, when the estimate
exceeds the memory the process may use (:func:`memory_limit_bytes`: the smallest of
physical memory, the cgroup limit and ``RLIMIT_AS``/``RLIMIT_DATA``).

The estimate, in bytes, for ``N`` inputs in ``d`` dimensions (:func:`estimate_run_bytes`):

* the inputs, ``4 N d`` float64 values (float64 and float32 copies, and their products);
* the reference kernels: ``48 N²`` float64 values, for our recursion (its inputs padded
  to the next size bucket, about a dozen live ``N × N`` arrays) and neural-tangents';
* the per-seed empirical kernels every width keeps: ``2 S N²`` float64 per width (``S``
  seeds, or the most seeds a ``target_error`` run may use), twice over while they
  are summarised;
* one network at the costliest width: :func:`harness.kernels.estimate_network_bytes`
  for an instantiated one, :func:`harness.kernels.conditional_network_bytes` for a
  conditional sample. The cost of a custom model's network cannot be known from the
  config: the caller measures it (its compiled program's memory analysis,
  :mod:`harness.converge._model`) and passes ``network_bytes``; until then it counts 0.

It errs on the generous side of what is needed and counts nothing the operating system
and JAX themselves hold, so it refuses only runs that cannot fit.
"""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

from harness.kernels import conditional_network_bytes
from harness.kernels import estimate_network_bytes
from harness.runs._cli import UsageError

__all__ = ["check_run_memory", "estimate_run_bytes", "format_bytes", "memory_limit_bytes"]

_REFERENCE_ARRAYS = 48


def format_bytes(count: float) -> str:
    """``3.2e9`` → ``"3.2 GB"`` (decimal units)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def memory_limit_bytes() -> int | None:
    """The memory this process may use: physical memory, cgroup and rlimits (``None``: unknown)."""
    limits = []
    with contextlib.suppress(ValueError, OSError):
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    cgroup = _cgroup_limit()
    if cgroup:
        limits.append(cgroup)
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        soft, _ = resource.getrlimit(getattr(resource, name))
        if soft != resource.RLIM_INFINITY and soft > 0:
            limits.append(soft)
    return min(limits) if limits else None


def _seeds(config) -> int:
    seeds = int(getattr(config, "seeds", 1))
    if getattr(config, "target_error", None) is not None:
        seeds = max(seeds, int(getattr(config, "max_seeds", seeds)))
    return seeds


def _network_bytes(config, width: int, n_inputs: int, input_dim: int) -> float:
    if getattr(config, "model", None) is not None:
        return 0.0  # measured by the caller, who passes network_bytes
    blocks = int(getattr(config, "num_res_blocks", 0))
    sampler_of = getattr(config, "sampler_of", None)
    if sampler_of is not None and sampler_of(width) == "conditional":
        activation = getattr(config, "activation", "relu")
        return float(
            conditional_network_bytes(width, blocks, n_inputs, input_dim, activation=activation)
        )
    return float(estimate_network_bytes(width, blocks, input_dim, n_inputs))


def estimate_run_bytes(
    config, *, n_inputs: int, input_dim: int, network_bytes: float | None = None
) -> dict[str, float]:
    """The estimate of the module docstring, by part (``"inputs"``, ``"references"``, ...).

    ``network_bytes``: one network's measured peak bytes at the costliest width, in place
    of the residual MLP's estimate.
    """
    square = float(n_inputs) * float(n_inputs) * 8.0
    widths = list(getattr(config, "widths", ()))
    parts = {
        "inputs": 4 * 8.0 * float(n_inputs) * float(input_dim),
        "references": _REFERENCE_ARRAYS * square,
        "kernels": 2 * 2 * _seeds(config) * len(widths) * square,
        "network": float(network_bytes)
        if network_bytes is not None
        else max((_network_bytes(config, w, n_inputs, input_dim) for w in widths), default=0.0),
    }
    return parts


def check_run_memory(
    config,
    *,
    n_inputs: int,
    input_dim: int,
    limit: int | None = None,
    network_bytes: float | None = None,
) -> None:
    """Refuse a run whose estimated memory (:func:`estimate_run_bytes`) exceeds ``limit``.

    Args:
      config: a run config (``widths``, ``seeds``, ``num_res_blocks`` and, for
        converge, ``sampler_of``, ``target_error``, ``max_seeds``).
      n_inputs, input_dim: the inputs' shape.
      limit: bytes available (default :func:`memory_limit_bytes`).
      network_bytes: one network's measured bytes (a custom model), see
        :func:`estimate_run_bytes`.

    Raises:
      UsageError: naming the estimate, its largest part and the limit.
    """
    limit = memory_limit_bytes() if limit is None else limit
    if limit is None:
        return
    parts = estimate_run_bytes(
        config, n_inputs=n_inputs, input_dim=input_dim, network_bytes=network_bytes
    )
    total = sum(parts.values())
    if total <= limit:
        return
    largest = max(parts, key=parts.get)
    advice = {
        "inputs": f"{n_inputs} inputs of dimension {input_dim} are "
        f"{format_bytes(8.0 * n_inputs * input_dim)} in float64; use fewer or smaller inputs",
        "references": f"each {n_inputs}×{n_inputs} float64 kernel is "
        f"{format_bytes(8.0 * n_inputs * n_inputs)}; use fewer inputs",
        "kernels": f"{_seeds(config)} seeds × {len(config.widths)} widths of "
        f"{n_inputs}×{n_inputs} kernels are kept; use fewer seeds, widths or inputs",
        "network": f"one network of the widest width with "
        f"{getattr(config, 'num_res_blocks', 0)} blocks needs "
        f"{format_bytes(parts['network'])}; use smaller widths or fewer blocks",
    }[largest]
    if largest == "network" and getattr(config, "model", None) is not None:
        advice = (
            f"one network of --model {config.model} at width {max(config.widths)} needs "
            f"{format_bytes(parts['network'])}, by its compiled program; use smaller widths"
        )
    raise UsageError(
        f"the run needs about {format_bytes(total)} of memory, more than the "
        f"{format_bytes(limit)} this process may use ({advice})"
    )
