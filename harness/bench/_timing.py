"""Wall-clock timing for the benchmark: warm medians and honest cold (compile-included) calls.

*Warm*: the function is called once untimed (compilation, caches), then
``repeats`` times; the median is reported. *Cold*: :func:`jax.clear_caches`
empties every in-memory JAX cache first (the benchmark's process never uses the
persistent compilation cache, :mod:`harness.runs._compilation`), and the caller
passes a function built fresh for the measurement, so the time includes tracing and
compiling, as a first call in a new process with an empty cache would (apart from
the one-off import cost). The seconds spent tracing, lowering and
compiling during the cold call are measured too (:class:`harness.runs.CompileLog`).
Every result is forced with ``jax.block_until_ready``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import jax

from harness.runs import CompileLog

__all__ = ["time_cold", "time_warm"]


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - start, out


def time_warm(fn: Callable[[], object], *, repeats: int = 5) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls after one warm-up call, and the last result."""
    _, out = _timed(fn)
    times = []
    for _ in range(max(1, repeats)):
        seconds, out = _timed(fn)
        times.append(seconds)
    return statistics.median(times), out


def time_cold(make_fn: Callable[[], Callable[[], object]]) -> tuple[float, float, object]:
    """Seconds of the first call of a freshly built function, of them the seconds spent
    compiling, and the result; JAX's caches cleared and the persistent cache off.

    ``make_fn`` builds the function (e.g. ``nt.monte_carlo_kernel_fn(...)``);
    building is included in the time, since it is part of a first call's cost.
    """
    jax.clear_caches()
    with CompileLog() as log:
        start = time.perf_counter()
        fn = make_fn()
        out = jax.block_until_ready(fn())
        seconds = time.perf_counter() - start
    return seconds, log.seconds, out
