"""XLA compilation: JAX's persistent cache for the jobs, and what a run spent compiling.

Every ``jax.jit`` program is traced to a jaxpr, lowered to StableHLO and compiled
by XLA the first time it meets a new shape; on the CPU that takes longer than
computing one network. Two things here:

* **The persistent cache.** A job (``python -m harness.<job>``) turns on JAX's
  persistent compilation cache (``jax_compilation_cache_dir``): a compiled
  executable is written to disk, keyed by the program, the JAX and XLA versions,
  the device and the compile options, and a later process that compiles the same
  program reads it back instead. The folder is
  ``$XDG_CACHE_HOME/rmlp-kernel-harness/jax`` (``~/.cache/…`` without
  ``XDG_CACHE_HOME``); ``HARNESS_COMPILATION_CACHE`` names another folder, or
  ``off`` turns the cache off, as does a job's ``--no-compilation-cache``. Deleting
  the folder clears it. Every program is cached, however short its compilation
  (``jax_persistent_cache_min_compile_time_secs = 0``): a run compiles dozens of
  small ones, and together they are most of a short run's start. A folder that
  cannot be created or written leaves the cache off, with one warning line.
  Library calls (``import harness``) never change JAX's configuration.
* **What was compiled.** :class:`CompileLog` listens to JAX's monitoring events
  (``jax.monitoring``: the durations of tracing, lowering and XLA compilation,
  each with the function's name, and the persistent cache's hits) and sums them
  per program, for a run's ``results.json`` and the benchmark's cold/warm split.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
from pathlib import Path

import jax
from jax.experimental.compilation_cache import compilation_cache as _jax_cache

__all__ = [
    "CACHE_ENV",
    "CompileLog",
    "compilation_cache_folder",
    "compilation_cache_in_use",
    "configure_compilation_cache",
]

#: Environment variable: a folder for the cache, or ``off`` (also ``0``, ``false``, ``no``).
CACHE_ENV = "HARNESS_COMPILATION_CACHE"
_OFF = {"off", "0", "false", "no", "none"}

#: JAX's monitoring events (``jax._src.dispatch``) and the stage each one times.
_STAGES = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}
_CACHE_HIT = "/jax/compilation_cache/cache_hits"


def compilation_cache_folder(environ=None) -> Path | None:
    """The cache folder the environment asks for (``None``: turned off); see the module."""
    environ = os.environ if environ is None else environ
    value = environ.get(CACHE_ENV, "").strip()
    if value.lower() in _OFF:
        return None
    if value:
        return Path(value).expanduser().absolute()  # a later chdir must not move it
    base = environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "rmlp-kernel-harness" / "jax"


def configure_compilation_cache(*, enabled: bool = True, environ=None) -> Path | None:
    """Turn JAX's persistent compilation cache on (or off) for this process; its folder.

    ``enabled=False`` (``--no-compilation-cache``) or ``HARNESS_COMPILATION_CACHE=off``
    turns it off. Returns the folder in use, or ``None``.
    """
    folder = compilation_cache_folder(environ) if enabled else None
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(13, "not writable", str(folder))
        except OSError as error:
            with contextlib.suppress(Exception):
                print(
                    f"warning: compilation cache off: cannot use {folder} "
                    f"({error.strerror or error}); set {CACHE_ENV} to another folder",
                    file=sys.stderr,
                )
            folder = None
    # JAX decides once per process whether and where it caches; reset_cache makes it
    # decide again, so the setting holds even after something was compiled.
    _jax_cache.reset_cache()
    if folder is None:
        jax.config.update("jax_enable_compilation_cache", False)
        return None
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def compilation_cache_in_use() -> str | None:
    """The persistent cache's folder if JAX is using one in this process, else None."""
    if not jax.config.jax_enable_compilation_cache:
        return None
    return jax.config.jax_compilation_cache_dir or None


_LOCK = threading.Lock()
#: The open logs; JAX's listeners are registered once, and do nothing while it is empty.
_ACTIVE: list[CompileLog] = []
_LISTENING = False


def _listen() -> None:
    global _LISTENING
    if not _LISTENING:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _LISTENING = True


def _on_duration(event: str, duration: float, **kwargs) -> None:
    stage = _STAGES.get(event)
    if stage is None or not _ACTIVE:
        return
    name = str(kwargs.get("fun_name", "?"))
    name = name[4:-1] if name.startswith("jit(") and name.endswith(")") else name
    for log in tuple(_ACTIVE):
        program = log.programs.setdefault(name, _Program())
        setattr(program, stage, getattr(program, stage) + float(duration))
        if stage == "compile":
            program.count += 1


def _on_event(event: str, **kwargs) -> None:
    if event == _CACHE_HIT:
        for log in tuple(_ACTIVE):
            log.cache_hits += 1


@dataclasses.dataclass
class _Program:
    trace: float = 0.0
    lower: float = 0.0
    compile: float = 0.0
    count: int = 0

    @property
    def seconds(self) -> float:
        return self.trace + self.lower + self.compile


class CompileLog:
    """Seconds spent tracing, lowering and compiling each program while the log is open.

    Use as a context manager (``with CompileLog() as log: ...``) or with
    :meth:`start` and :meth:`stop`. JAX names a program after its function
    (``jit(per_seed_kernels)``; tracing is reported under the bare name, so both are
    merged). ``compile`` includes reading an executable back from the persistent
    cache, which is what a cache hit costs instead.
    """

    def __init__(self):
        self.programs: dict[str, _Program] = {}
        self.cache_hits = 0

    def start(self) -> CompileLog:
        with _LOCK:
            if not _ACTIVE:
                _listen()
            _ACTIVE.append(self)
        return self

    def stop(self) -> None:
        with _LOCK, contextlib.suppress(ValueError):
            _ACTIVE.remove(self)

    def __enter__(self) -> CompileLog:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def seconds(self) -> float:
        """Total seconds of tracing, lowering and compilation."""
        return sum(p.seconds for p in self.programs.values())

    def start_up(self, first_saved: float | None) -> dict:
        """What a run's ``results.json`` says of its start and its compilations.

        ``{"first_network_s", "compilation", "compilation_cache"}``: seconds from the
        process's start (:data:`harness._startup.PROCESS_START`, imports included) to
        ``first_saved``, the ``time.monotonic()`` of the first unit this process
        stored (None: none), then :meth:`to_json` and the cache's folder.
        """
        from harness._startup import PROCESS_START

        return {
            "first_network_s": None if first_saved is None else first_saved - PROCESS_START,
            "compilation": self.to_json(),
            "compilation_cache": compilation_cache_in_use(),
        }

    def to_json(self, top: int = 12) -> dict:
        """``{"seconds", "programs", "compilations", "cache_hits", "slowest": [...]}``."""
        ranked = sorted(self.programs.items(), key=lambda item: -item[1].seconds)
        return {
            "seconds": self.seconds,
            "programs": len(self.programs),
            "compilations": sum(p.count for p in self.programs.values()),
            "cache_hits": self.cache_hits,
            "slowest": [
                {
                    "program": name,
                    "seconds": p.seconds,
                    "trace_s": p.trace,
                    "lower_s": p.lower,
                    "compile_s": p.compile,
                    "compilations": p.count,
                }
                for name, p in ranked[:top]
            ],
        }
