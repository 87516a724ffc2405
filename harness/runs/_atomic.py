"""Atomic writes: a file is either its old or its new content, never a torn one.

Every file is written atomically: the bytes go to a temporary file in the
same folder, which is flushed and ``fsync``-ed and then renamed over the
target with :func:`os.replace` (atomic on POSIX), and the folder itself is
``fsync``-ed. A ``kill -9`` at any instant leaves either the old or the new
file, never a torn one, so a rerun with the same config skips every unit that
has a file and recomputes only the rest.

Temporary files (unique per process) a killed run left behind are deleted when
the folder is opened again, under its lock, so no live writer's file is touched.

``strict_json`` and ``csv_text`` give the text such files hold.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_text",
    "csv_text",
    "strict_json",
]

UMASK = os.umask(0)
os.umask(UMASK)


def fsync_dir(folder: Path) -> None:
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
    # mkstemp names are unique; the pid says which process a leftover came from.
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp creates 0600; give the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def json_default(value):
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
    text = json.dumps(obj, indent=2, sort_keys=False, default=json_default)
    atomic_write_text(path, text + "\n")


def atomic_write_npz(path, **arrays) -> None:
    """Write arrays as an uncompressed ``.npz`` atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    atomic_write_bytes(path, buffer.getvalue())


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
