"""Compiling a run's programs ahead, in background threads, while earlier widths compute.

A convergence run needs one XLA program per width (a width is a shape), and on a GPU
each costs seconds to compile, far more than the networks it then computes. The
programs do not depend on each other's results, so :class:`CompileAhead` compiles
them in the background, in the order the run needs them, on a few threads (XLA
releases the GIL while it compiles): the first width's program alone, so that the
first network is not delayed, then the others together while the first width
computes. The run waits for a width's program only when it reaches that width. The
compiled executable lands in JAX's in-memory cache
(``jax.jit(f).lower(*args).compile()`` fills the cache that ``jax.jit(f)(*args)``
reads) and in the persistent cache, so the run's own call compiles nothing.

Nothing about the numbers changes: the run calls the same programs with the same
arguments. A compilation that fails in the background is forgotten; the run's own
call then compiles again and reports the error where it always did.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading

import jax

__all__ = ["CompileAhead", "ahead_workers"]


def ahead_workers() -> int:
    """Background compilations at once: on an accelerator up to 8 (half the CPU cores,
    which the device leaves idle); none on a CPU backend, where the cores that would
    compile are the ones computing (no gain measured on 2 cores), and none in a
    multi-process run, where it has not been tried (compile when needed, as without
    this module)."""
    if jax.default_backend() == "cpu" or jax.process_count() > 1:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(8, cores // 2))


def _after(first: concurrent.futures.Future, closed: threading.Event, task) -> None:
    """``task()`` once ``first`` is done, unless ``closed`` by then: the run's first
    program compiles alone, so that the first network comes as soon as without this."""
    concurrent.futures.wait([first])
    if not closed.is_set():
        task()


class CompileAhead:
    """Runs ``{key: compile_fn}`` in background threads; :meth:`wait` blocks on one key.

    The first task compiles alone; the others start together once it is done.

    Use as a context manager: leaving it drops the compilations not yet started (and
    does not wait for the ones running). With ``workers=0`` it does nothing.
    """

    def __init__(self, tasks: dict, *, workers: int | None = None):
        workers = ahead_workers() if workers is None else workers
        self._futures: dict = {}
        self._pool = None
        self._closed = threading.Event()
        if workers > 0 and tasks:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                min(workers, len(tasks)), thread_name_prefix="compile-ahead"
            )
            (first, task), *rest = tasks.items()
            self._futures = {first: self._pool.submit(task)}
            for key, task in rest:
                self._futures[key] = self._pool.submit(
                    _after, self._futures[first], self._closed, task
                )

    def wait(self, key) -> None:
        """Return once ``key``'s compilation is done (or failed, or was never asked for)."""
        future = self._futures.pop(key, None)
        if future is None:
            return
        # A failure is forgotten: the run's own call compiles again and reports it.
        with contextlib.suppress(Exception):
            future.result()

    def close(self) -> None:
        self._closed.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._futures = {}

    def __enter__(self) -> CompileAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
