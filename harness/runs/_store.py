"""Crash-safe, resumable result folders: atomic writes, a config fingerprint, per-unit files.

A *run* writes into one output folder (``--out``)::

    out/
      run.json            {"kind", "fingerprint", "config"}: what this folder holds
      units/<key>.npz     one file per finished unit of work, e.g. (width, seed)
      results.json, ...   summaries, rewritten as units finish

Every file is written atomically: the bytes go to a temporary file in the
same folder, which is flushed and ``fsync``-ed and then renamed over the
target with :func:`os.replace` (atomic on POSIX), and the folder itself is
``fsync``-ed. A ``kill -9`` at any instant leaves either the old or the new
file, never a torn one, so a rerun with the same config skips every unit that
has a file and recomputes only the rest.

Temporary files a killed run left behind are deleted when the folder is opened
again. A rerun with a *different* config into the same folder is refused with
:class:`ConfigMismatchError` (a :class:`~harness.runs._cli.UsageError`: one line, exit 2)
unless ``force=True``, which deletes the old units first. The config is
compared through :func:`config_fingerprint`, a SHA-256 of its canonical JSON.

In a multi-process (multi-host) run only the writer (process 0) passes
``writer=True``; the others read but never write.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from harness.runs._cli import UsageError

__all__ = [
    "ConfigMismatchError",
    "RunStore",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_text",
    "config_fingerprint",
    "csv_text",
    "file_sha256",
    "strict_json",
    "unit_key",
]

_UMASK = os.umask(0)
os.umask(_UMASK)
_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")


class ConfigMismatchError(UsageError):
    """The output folder holds a run of a different config."""


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync folders
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_json(path, obj) -> None:
    """Write ``obj`` as indented JSON atomically (NumPy scalars and arrays allowed).

    Non-finite floats are written as JSON ``NaN``/``Infinity`` (Python's
    extension), which ``json.load`` reads back.
    """
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default)
    atomic_write_text(path, text + "\n")


def atomic_write_npz(path, **arrays) -> None:
    """Write arrays as an uncompressed ``.npz`` atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    atomic_write_bytes(path, buffer.getvalue())


def config_fingerprint(config: Mapping) -> str:
    """SHA-256 (hex) of the config's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RunStore:
    """One output folder holding a resumable run of one config.

    Args:
      out: the output folder (created if missing).
      config: a JSON-ready mapping that fully determines the numbers.
      kind: a label for the run type (e.g. ``"converge"``); part of the identity.
      force: replace a run of a different config instead of refusing.
      writer: ``False`` in non-zero processes of a multi-process run: nothing
        is written, existing units are still read.

    Raises:
      ConfigMismatchError: the folder holds a run of another config or kind.
    """

    def __init__(
        self, out, config: Mapping, *, kind: str, force: bool = False, writer: bool = True
    ):
        self.out = Path(out)
        self.config = dict(config)
        self.kind = kind
        self.writer = writer
        self.fingerprint = config_fingerprint({"kind": kind, "config": self.config})
        self.units = self.out / "units"
        manifest = self.out / "run.json"
        if manifest.exists():
            try:
                previous = json.loads(manifest.read_text())
                same = previous.get("fingerprint") == self.fingerprint
            except (OSError, ValueError):
                same = False
            if not same and not force:
                raise ConfigMismatchError(
                    f"{self.out} holds a run of a different config; "
                    "use another --out, or --force to replace it"
                )
            if not same and writer:
                shutil.rmtree(self.units, ignore_errors=True)
        elif self.out.exists() and any(self.out.iterdir()) and not force:
            raise ConfigMismatchError(
                f"{self.out} is not empty and holds no run; use another --out, or --force"
            )
        if writer:
            self.units.mkdir(parents=True, exist_ok=True)
            for stale in self.units.glob(".*.tmp"):  # left by a write cut short (kill -9)
                stale.unlink(missing_ok=True)
            atomic_write_json(
                manifest, {"kind": kind, "fingerprint": self.fingerprint, "config": self.config}
            )

    def _unit_path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"unit key {key!r} must match {_KEY.pattern}")
        return self.units / f"{key}.npz"

    def has(self, key: str) -> bool:
        """Whether unit ``key`` is finished (its file exists and loads)."""
        return self.load(key) is not None

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays of unit ``key``, or ``None`` if it is not finished."""
        path = self._unit_path(key)
        try:
            with np.load(path) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError):
            return None

    def save(self, key: str, **arrays) -> None:
        """Store unit ``key`` atomically (a no-op in non-writer processes)."""
        if self.writer:
            atomic_write_npz(self._unit_path(key), **arrays)

    def write_json(self, name: str, obj) -> None:
        """Write ``out/name`` as JSON atomically (writer only)."""
        if self.writer:
            atomic_write_json(self.out / name, obj)

    def write_text(self, name: str, text: str) -> None:
        """Write ``out/name`` as text atomically (writer only)."""
        if self.writer:
            atomic_write_text(self.out / name, text)


def unit_key(width: int, seed: int) -> str:
    """The run-store key of one network: ``"w{width}_s{seed}"``."""
    return f"w{width}_s{seed}"


def strict_json(value):
    """A copy with every NaN/±Inf float as ``None`` (JSON ``null``) and tuples as lists.

    They arise legitimately (the spread of one seed, the slope CI of two points)
    and strict JSON has no spelling for them.
    """
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def csv_text(header, rows) -> str:
    """CSV with a header line; floats written with ``repr`` (round-trip exact)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([repr(float(v)) if isinstance(v, float | np.floating) else v for v in row])
    return buffer.getvalue()


def file_sha256(path, *, option: str = "--inputs") -> str:
    """SHA-256 (hex) of a file's bytes; an unreadable file is a :class:`UsageError`."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError as error:
        raise UsageError(f"{option}: cannot read {path} ({error.strerror})") from None
