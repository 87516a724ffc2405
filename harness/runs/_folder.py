"""Who may write into an output folder: its kind, its lock, and the results it holds.

Who may take a folder:

* a folder is of one *kind* (the job that wrote it: ``run.json``'s ``kind``; for
  folders written before every job recorded it, ``records.csv.gz`` marks a
  calibration and ``X.json`` beside ``X.md`` a benchmark). A job never writes
  into another kind's folder, ``force`` or not (:class:`FolderKindError`);
* a rerun with a *different* config into a folder holding finished units or
  results is refused with :class:`ConfigMismatchError` (a
  :class:`~harness.runs._cli.UsageError`: one line, exit 2, naming the options that
  differ) unless ``force=True``, which deletes the old units first (the files
  *inside* ``units/`` when it is a link, say to scratch storage; a unit that cannot
  be deleted is an error). A folder holding neither (a run that failed before its
  first unit) is simply taken over. A non-empty folder without ``run.json`` is
  never taken;
* the config is compared field by field after :func:`config_fingerprint` (a
  SHA-256 of its canonical JSON) differs, with an inputs file identified by its
  content. A field the stored config has and the current one lacks is one the
  current code no longer counts (e.g. a converge run's seed count): it is ignored.

Whenever a writer takes a folder, the results already there (everything but
``run.json``, ``.lock``, ``units/`` and ``previous/``) are first moved to
``previous/`` (replacing what it held), before ``run.json`` names the new run: a
reader never sees an older run's complete-looking results beside a new run, even
if the new one is killed before it writes its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path

from harness.runs._atomic import UMASK
from harness.runs._atomic import atomic_write_json
from harness.runs._atomic import fsync_dir
from harness.runs._cli import UsageError

__all__ = [
    "LOCK_NAME",
    "MIN_FREE_BYTES",
    "PREVIOUS_NAME",
    "ConfigMismatchError",
    "FolderBusyError",
    "FolderKindError",
    "check_folder_kind",
    "check_out_folder",
    "claim_folder",
]

#: The lock file of an output folder (kept; only the ``flock`` on it matters).
LOCK_NAME = ".lock"
#: An output folder needs at least this much free space to start.
MIN_FREE_BYTES = 1024**2
#: Where the results found in a folder go when a new run takes it.
PREVIOUS_NAME = "previous"
#: What a folder holds besides results: lock, manifest, units, the previous results.
_NOT_RESULTS = (LOCK_NAME, "run.json", "units", PREVIOUS_NAME)


class ConfigMismatchError(UsageError):
    """The output folder holds a run of a different config."""


class FolderKindError(ConfigMismatchError):
    """The output folder holds another job's results (``force`` does not override it)."""


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _folder_kind(folder: Path) -> str | None:
    """The job whose results ``folder`` holds (``None``: none that is known).

    ``run.json``'s ``kind``; for folders written before every job recorded its kind,
    ``"calibrate"`` where ``records.csv.gz`` is, ``"bench"`` where ``X.json`` has an
    ``X.md`` beside it.
    """
    manifest = read_json(folder / "run.json")
    if isinstance(manifest, dict) and isinstance(manifest.get("kind"), str):
        return manifest["kind"]
    if (folder / "records.csv.gz").exists():
        return "calibrate"
    with contextlib.suppress(OSError):
        for path in folder.glob("*.json"):
            if path.name not in ("results.json", "run.json") and path.with_suffix(".md").exists():
                return "bench"
    return None


def check_folder_kind(out, kind: str, *, option: str = "--out") -> None:
    """Refuse ``out`` unless it is missing, empty, or a folder of ``kind``'s results.

    Raises:
      FolderKindError: it holds another kind of job's results, e.g. ``calibrate --out``
        a converge folder (one line, exit 2).
      ConfigMismatchError: it holds files but no ``run.json`` of any job.
    """
    out = Path(out)
    if not out.is_dir():
        return
    found = _folder_kind(out)
    if found is not None and found != kind:
        raise FolderKindError(
            f"{option}: {out} is a {found} folder (it holds {found} results); a {kind} run "
            f"writes only into {kind} folders; use another {option}"
        )
    if found is None and not (out / "run.json").exists() and result_files(out):
        raise ConfigMismatchError(
            f"{option}: {out} is not empty and holds no run (no run.json); use another {option}"
        )


def result_files(folder: Path) -> list[Path]:
    """What ``folder`` holds besides lock, manifest, units, previous results and temp files."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.name not in _NOT_RESULTS
        and not (path.name.startswith(".") and path.name.endswith(".tmp"))
    )


def remove_path(path: Path) -> None:
    """Delete a file, a link (not what it points to) or a folder; errors are raised."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def retire_results(folder: Path) -> None:
    """Move the results in ``folder`` to ``previous/`` (replacing it), as a new run takes it.

    Raises:
      UsageError: they cannot be moved (nothing of the new run has been written).
    """
    results = result_files(folder)
    if not results:
        return
    previous = folder / PREVIOUS_NAME
    try:
        remove_path(previous)
        previous.mkdir()
        for path in results:
            os.replace(path, previous / path.name)
    except OSError as error:
        raise UsageError(
            f"--out: cannot move the results already in {folder} to {previous} "
            f"({error.strerror or error}); move them away, or use another --out"
        ) from None
    fsync_dir(folder)


_HELD: dict[str, list] = {}  # folder -> [file descriptor, holders] of the locks this process holds


class FolderBusyError(UsageError):
    """Another process is running into the same output folder."""


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
    except (ValueError, KeyError, TypeError):
        return "another process"


def lock_folder(folder: Path) -> str:
    """Take the exclusive lock of ``folder`` (``.lock``, ``fcntl.flock``); return its key.

    The lock lives as long as the process holds the descriptor (a killed process
    releases it). Re-entrant within one process. The file records the holder.
    """
    key = os.path.realpath(folder)
    if key in _HELD:
        _HELD[key][1] += 1
        return key
    path = Path(key) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~UMASK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        os.close(fd)
        raise FolderBusyError(
            f"--out: {folder} is in use by {_describe_holder(holder)}; wait for that run to "
            "finish, or use another --out"
        ) from None
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
    _HELD[key] = [fd, 1]
    return key


def unlock_folder(key: str) -> None:
    entry = _HELD.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _HELD[key]
        with contextlib.suppress(OSError):
            os.ftruncate(entry[0], 0)
        os.close(entry[0])  # closing the descriptor releases the flock


def check_out_folder(out, *, option: str = "--out") -> None:
    """Refuse an output folder that cannot be created or written, before any work.

    Raises:
      UsageError: ``out`` (or a folder above it) is a file, is not writable, or its
        file system has less than 1 MiB free.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{option}: {out} is a file, not a folder")
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option}: {existing} is a file, so {out} cannot be created")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: cannot write in {existing} (permission denied)")
    with contextlib.suppress(OSError):
        stats = os.statvfs(existing)
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
            raise UsageError(f"{option}: no space left on the file system of {existing}")


@contextlib.contextmanager
def claim_folder(out, *, kind: str, option: str = "--out"):
    """``with claim_folder(out, kind="calibrate") as folder:`` write a report into ``out``.

    For jobs that write one report rather than resumable units. Under the folder's
    lock: a folder of another kind, or a non-empty one that holds no run, is
    refused; the results already there are moved to ``previous/``; ``run.json``
    records ``kind``. The lock is held until the block ends.

    Raises:
      FolderKindError, ConfigMismatchError, FolderBusyError, UsageError: as above.
    """
    out = Path(out)
    check_folder_kind(out, kind, option=option)
    check_out_folder(out, option=option)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option}: cannot create {out} ({error.strerror})") from None
    key = lock_folder(out)
    try:
        check_folder_kind(out, kind, option=option)
        retire_results(out)
        atomic_write_json(out / "run.json", {"kind": kind})
        yield out
    finally:
        unlock_folder(key)
