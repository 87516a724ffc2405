"""Crash-safe, resumable result folders: atomic writes, a config fingerprint, per-unit files.

A *run* writes into one output folder (``--out``)::

    out/
      .lock               held (fcntl.flock) by the one process writing here; names it
      run.json            {"kind", "fingerprint", "config", "unit_schema"}: what it holds
      units/<key>.npz     one file per finished unit of work, e.g. (width, seed)
      units/bad/          damaged units, set aside and computed again
      results.json, ...   summaries, rewritten as units finish
      previous/           the results found here when this run took the folder

Every file is written atomically: the bytes go to a temporary file in the
same folder, which is flushed and ``fsync``-ed and then renamed over the
target with :func:`os.replace` (atomic on POSIX), and the folder itself is
``fsync``-ed. A ``kill -9`` at any instant leaves either the old or the new
file, never a torn one, so a rerun with the same config skips every unit that
has a file and recomputes only the rest.

Temporary files (unique per process) a killed run left behind are deleted when
the folder is opened again, under its lock, so no live writer's file is touched.

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

Every unit carries its identity (``__unit__``: its key, and from it width, seed and
sampler; the run's kind, config and fingerprint) and is validated when it is loaded
(it loads, is the unit asked for, belongs to a run of this config, has the run's
arrays and shapes, holds no NaN/Inf); a bad one is set aside in ``units/bad/`` with
a one-line warning and computed again, so one damaged or misplaced file never
blocks a rerun, and a unit copied over another's file is never used as that one.
Units without an identity are accepted only in folders written before units had
one.

In a multi-process (multi-host) run only the writer (process 0) passes
``writer=True``; the others read but never write.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from harness.runs._cli import UsageError

__all__ = [
    "LOCK_NAME",
    "ConfigMismatchError",
    "FolderBusyError",
    "FolderKindError",
    "RunStore",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npz",
    "atomic_write_text",
    "check_folder_kind",
    "check_out_folder",
    "claim_folder",
    "config_fingerprint",
    "csv_text",
    "file_sha256",
    "strict_json",
    "unit_key",
]

_UMASK = os.umask(0)
os.umask(_UMASK)
_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
#: The lock file of an output folder (kept; only the ``flock`` on it matters).
LOCK_NAME = ".lock"
#: An output folder needs at least this much free space to start.
MIN_FREE_BYTES = 1024**2
#: Where the results found in a folder go when a new run takes it.
PREVIOUS_NAME = "previous"
#: What a folder holds besides results: lock, manifest, units, the previous results.
_NOT_RESULTS = (LOCK_NAME, "run.json", "units", PREVIOUS_NAME)
#: The array of a unit file that holds its identity (JSON text).
_IDENTITY = "__unit__"
#: ``run.json`` field saying that every unit of the folder carries its identity.
_IDENTIFIED = "unit_identity"


class ConfigMismatchError(UsageError):
    """The output folder holds a run of a different config."""


class FolderKindError(ConfigMismatchError):
    """The output folder holds another job's results (``force`` does not override it)."""


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
    # mkstemp names are unique; the pid says which process a leftover came from.
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
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


def _identity(config: Mapping) -> dict:
    """The part of a config that decides its numbers: an inputs file counts by content.

    When ``inputs_sha256`` is set, ``inputs_file`` (a path) is recorded but left out of
    the identity, so the same file named by another path resumes.
    """
    identity = dict(config)
    if identity.get("inputs_sha256") and identity.get("inputs_file") is not None:
        identity["inputs_file"] = None
    return identity


def _fingerprint(kind, config: Mapping) -> str:
    return config_fingerprint({"kind": kind, "config": _identity(config)})


#: Config fields whose option is not ``--`` + the field name with dashes.
_OPTION_OF_FIELD = {"num_res_blocks": "--blocks", "inputs_sha256": "--inputs", "inputs_file": None}
_ABSENT = object()


def _plain(value):
    """``value`` as it reads back from JSON (tuples are lists, NumPy scalars numbers)."""
    return json.loads(json.dumps(value, sort_keys=True, default=_json_default))


def _show(value) -> str:
    if value is _ABSENT:
        return "not recorded"
    if isinstance(value, str):
        return value if len(value) <= 20 else value[:12] + "…"
    return json.dumps(value, default=_json_default)


def _differences(stored_kind, stored: Mapping, kind: str, config: Mapping) -> list[str]:
    """``["--w-std: stored 1.5, now 1.0", ...]``: how ``config`` differs from ``stored``.

    Only fields of ``config`` count: a field only ``stored`` has is one the current
    code no longer counts. ``1`` and ``1.0`` are equal, as are a list and a tuple.
    """
    if stored_kind != kind:
        return [f"kind: stored {_show(stored_kind)}, now {kind}"]
    stored, config = _identity(stored), _identity(config)
    differences = []
    for field, value in config.items():
        before = stored.get(field, _ABSENT)
        if before is _ABSENT or _plain(before) != _plain(value):
            option = _OPTION_OF_FIELD.get(field, "--" + field.lower().replace("_", "-"))
            if option is not None:
                differences.append(f"{option}: stored {_show(before)}, now {_show(value)}")
    return differences


def _summary(differences: list[str]) -> str:
    more = len(differences) - 3
    return "; ".join(differences[:3]) + (f"; and {more} more" if more > 0 else "")


def _read_json(path: Path):
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
    manifest = _read_json(folder / "run.json")
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
    if found is None and not (out / "run.json").exists() and _results(out):
        raise ConfigMismatchError(
            f"{option}: {out} is not empty and holds no run (no run.json); use another {option}"
        )


def _results(folder: Path) -> list[Path]:
    """What ``folder`` holds besides lock, manifest, units, previous results and temp files."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.name not in _NOT_RESULTS
        and not (path.name.startswith(".") and path.name.endswith(".tmp"))
    )


def _remove(path: Path) -> None:
    """Delete a file, a link (not what it points to) or a folder; errors are raised."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _retire_results(folder: Path) -> None:
    """Move the results in ``folder`` to ``previous/`` (replacing it), as a new run takes it.

    Raises:
      UsageError: they cannot be moved (nothing of the new run has been written).
    """
    results = _results(folder)
    if not results:
        return
    previous = folder / PREVIOUS_NAME
    try:
        _remove(previous)
        previous.mkdir()
        for path in results:
            os.replace(path, previous / path.name)
    except OSError as error:
        raise UsageError(
            f"--out: cannot move the results already in {folder} to {previous} "
            f"({error.strerror or error}); move them away, or use another --out"
        ) from None
    _fsync_dir(folder)


_HELD: dict[str, list] = {}  # folder -> [file descriptor, holders] of the locks this process holds


class FolderBusyError(UsageError):
    """Another process is running into the same output folder."""


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _lock_folder(folder: Path) -> str:
    """Take the exclusive lock of ``folder`` (``.lock``, ``fcntl.flock``); return its key.

    The lock lives as long as the process holds the descriptor (a killed process
    releases it). Re-entrant within one process. The file records the holder.
    """
    key = os.path.realpath(folder)
    if key in _HELD:
        _HELD[key][1] += 1
        return key
    path = Path(key) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
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


def _unlock_folder(key: str) -> None:
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
    key = _lock_folder(out)
    try:
        check_folder_kind(out, kind, option=option)
        _retire_results(out)
        atomic_write_json(out / "run.json", {"kind": kind})
        yield out
    finally:
        _unlock_folder(key)


def _signature(path: Path) -> dict:
    """``{name: [shape, dtype]}`` of a ``.npz`` unit from its headers (raises if damaged)."""
    signature = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.filename.removesuffix(".npy") == _IDENTITY:
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, dtype = read_header(member)
            signature[info.filename.removesuffix(".npy")] = [list(shape), dtype.str]
    return signature


class RunStore:
    """One output folder holding a resumable run of one config.

    Args:
      out: the output folder (created if missing).
      config: a JSON-ready mapping that fully determines the numbers (an
        ``inputs_file`` path counts only through ``inputs_sha256``, when set).
      kind: a label for the run type (e.g. ``"converge"``); part of the identity.
      force: replace a run of a different config instead of refusing.
      writer: ``False`` in non-zero processes of a multi-process run: nothing
        is written and no lock is taken; existing units are still read, and units
        saved by this process are kept in memory, so it reads back what it computed
        without waiting for process 0 to write it.
      unit_schema: ``{name: shape}`` every unit must have (``None``: the arrays
        of the first unit saved, recorded in ``run.json``; for older folders, the
        arrays most units have).

    The writer holds an exclusive lock on the folder (``out/.lock``, ``fcntl.flock``)
    from construction until :meth:`close` (or the process ends): a second run into
    the same folder is refused with :class:`FolderBusyError`, naming the holder.

    A folder of another kind is refused. A folder whose ``run.json`` names another
    config or is damaged is refused if it holds finished units or results
    (``force`` deletes the units), and taken over if it holds neither (a run that
    failed before its first unit). The results found in the folder are moved to
    ``previous/``. A unit that does not load, is not the unit asked for, belongs
    to another config, lacks an array, has another shape or holds NaN/Inf is moved
    to ``units/bad/`` with a one-line warning on stderr, and counts as not finished.

    Raises:
      FolderKindError: the folder holds another kind of job's results.
      ConfigMismatchError: the folder holds finished units or results of another
        config, a damaged ``run.json`` beside them, or files but no ``run.json``.
      FolderBusyError: another process holds the folder.
      UsageError: the folder cannot be created or written, or ``force`` cannot
        delete the old units.
    """

    def __init__(
        self,
        out,
        config: Mapping,
        *,
        kind: str,
        force: bool = False,
        writer: bool = True,
        unit_schema: Mapping | None = None,
    ):
        self.out = Path(out)
        self.config = dict(config)
        self.kind = kind
        self.writer = writer
        self.fingerprint = _fingerprint(kind, self.config)
        self.units = self.out / "units"
        self._lock = None
        self._identified = True  # False: a folder written before units carried identities
        self._memory: dict[str, dict] = {}  # units saved by a non-writer process
        self._schema = (
            None
            if unit_schema is None
            else {name: [list(shape), None] for name, shape in unit_schema.items()}
        )
        manifest = self.out / "run.json"
        if writer:
            check_out_folder(self.out)
            created = not self.out.exists()
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UsageError(f"--out: cannot create {self.out} ({error.strerror})") from None
            try:
                self._lock = _lock_folder(self.out)
                self._open(manifest, force)
            except BaseException:
                self.close()
                if created:
                    with contextlib.suppress(OSError):
                        (self.out / LOCK_NAME).unlink()
                        self.out.rmdir()
                raise
        elif manifest.exists():
            state, schema, identified, _ = self._read_manifest(manifest)
            self._schema = self._schema or schema
            self._identified = identified or state != "same"

    def _read_manifest(self, manifest: Path) -> tuple[str, dict | None, bool, list[str]]:
        """``("same" | "different" | "damaged", recorded unit schema, whether its units
        carry identities, how the config differs)``."""
        previous = _read_json(manifest)
        if not isinstance(previous, dict) or not isinstance(previous.get("config"), dict):
            return "damaged", None, True, []
        schema = previous.get("unit_schema")
        schema = schema if isinstance(schema, dict) else None
        identified = previous.get(_IDENTIFIED) is True
        if previous.get("fingerprint") == self.fingerprint:
            return "same", schema, identified, []
        differences = _differences(previous.get("kind"), previous["config"], self.kind, self.config)
        return ("different" if differences else "same"), schema, identified, differences

    def _open(self, manifest: Path, force: bool) -> None:
        check_folder_kind(self.out, self.kind)
        if self.units.is_symlink() and not self.units.exists():
            raise UsageError(
                f"--out: {self.units} is a link to {os.readlink(self.units)}, which does not "
                "exist (is that storage mounted?); fix the link, or use another --out"
            )
        if self.units.exists() and not self.units.is_dir():
            raise ConfigMismatchError(f"--out: {self.units} is not a folder; use another --out")
        finished = sorted(self.units.glob("*.npz")) if self.units.is_dir() else []
        results = _results(self.out)
        if manifest.exists():
            state, schema, identified, differences = self._read_manifest(manifest)
            if state == "same":
                self._schema = self._schema or schema
                self._identified = identified or not finished
            elif (finished or results) and not force:
                held = f"the {len(finished)} finished units" if finished else "the results"
                if state == "damaged":
                    raise ConfigMismatchError(
                        f"{manifest} is damaged, so {held} beside it cannot be matched to a "
                        "config; use --force to start over (deleting the units), or another --out"
                    )
                raise ConfigMismatchError(
                    f"{self.out} holds a run of a different config ({_summary(differences)}); "
                    "use another --out, or --force to replace it"
                )
            else:
                self._clear_units()
                finished = []
        else:  # check_folder_kind refused other files
            if finished and not force:
                raise ConfigMismatchError(
                    f"{self.units} holds {len(finished)} units but {self.out} has no run.json; "
                    "use another --out, or --force to delete them"
                )
            self._clear_units()
            finished = []
        # Before run.json names this run: an older run's results never sit beside it.
        _retire_results(self.out)
        self.units.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.units):  # left by writes cut short (kill -9)
            for stale in folder.glob(".*.tmp"):
                if not stale.is_dir():
                    stale.unlink(missing_ok=True)
        if self._schema is None and finished:
            self._schema = self._common_schema(finished)
        self._write_manifest()

    def _clear_units(self) -> None:
        """Delete every unit, also behind a link (``units/`` on scratch storage).

        A real ``units/`` folder is deleted; for a link, the units, temporary files and
        ``bad/`` inside its target are (other files there are not this run's).

        Raises:
          UsageError: something could not be deleted (no old unit is ever kept silently).
        """
        try:
            if self.units.is_symlink():
                for path in self.units.iterdir():
                    if path.suffix == ".npz" or path.name == "bad" or path.name.endswith(".tmp"):
                        _remove(path)
            else:
                _remove(self.units)
        except OSError as error:
            where = error.filename or self.units
            raise UsageError(
                f"--out: cannot delete the old units in {self.units} ({where}: "
                f"{error.strerror or error}); delete them by hand, or use another --out"
            ) from None
        left = sorted(self.units.glob("*.npz")) if self.units.is_dir() else []
        if left:
            raise UsageError(f"--out: {left[0]} is still there after deleting the old units")

    def _common_schema(self, paths) -> dict | None:
        """The signature most readable units share (``None`` when none is most common)."""
        counts: dict[str, list] = {}
        for path in paths:
            with contextlib.suppress(Exception):
                signature = _signature(path)
                entry = counts.setdefault(json.dumps(signature, sort_keys=True), [signature, 0])
                entry[1] += 1
        ranked = sorted(counts.values(), key=lambda entry: -entry[1])
        if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
            return None
        return ranked[0][0]

    def _write_manifest(self) -> None:
        manifest = {"kind": self.kind, "fingerprint": self.fingerprint, "config": self.config}
        if self._identified:
            manifest[_IDENTIFIED] = True
        if self._schema is not None:
            manifest["unit_schema"] = self._schema
        atomic_write_json(self.out / "run.json", manifest)

    def close(self) -> None:
        """Release the folder's lock (also done when the store is garbage-collected)."""
        if self._lock is not None:
            _unlock_folder(self._lock)
            self._lock = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()

    def _unit_path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"unit key {key!r} must match {_KEY.pattern}")
        return self.units / f"{key}.npz"

    def has(self, key: str) -> bool:
        """Whether unit ``key`` is finished (its file exists, loads and is valid)."""
        return self.load(key) is not None

    def _problem(self, arrays: dict) -> str | None:
        """Why a unit's arrays are not a valid unit of this run (``None``: valid)."""
        if self._schema is not None:
            for name, (shape, dtype) in self._schema.items():
                if name not in arrays:
                    return f"it has no array {name!r}"
                if list(arrays[name].shape) != list(shape):
                    return f"{name!r} has shape {arrays[name].shape}, not {tuple(shape)}"
                if dtype is not None and arrays[name].dtype.str != dtype:
                    return f"{name!r} has dtype {arrays[name].dtype}, not {np.dtype(dtype)}"
        for name, array in arrays.items():
            if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
                return f"{name!r} is not numeric"
            if np.issubdtype(array.dtype, np.inexact) and not np.all(np.isfinite(array)):
                return f"{name!r} holds NaN or Inf"
        return None

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays of unit ``key``, or ``None`` if it is not finished.

        A damaged or invalid unit file is moved to ``units/bad/`` (writer only), with
        a warning on stderr, and counts as not finished, so it is computed again.
        """
        path = self._unit_path(key)
        if key in self._memory:
            return dict(self._memory[key])
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            identity = arrays.pop(_IDENTITY, None)
            problem = self._problem(arrays) or self._identity_problem(key, identity)
        except Exception as error:  # zipfile, numpy and OS errors of a damaged file
            arrays, problem = None, f"it does not load ({type(error).__name__}: {error})"
        if problem is None:
            return arrays
        self._set_aside(path, problem)
        return None

    def _unit_identity(self, key: str) -> dict:
        """What unit ``key`` of this run is: width, seed and sampler (from the key), run."""
        identity: dict = {"key": key}
        match = _UNIT_KEY.match(key)
        if match:
            prefix, width, seed = match.groups()
            identity |= {"width": int(width), "seed": int(seed), "sampler": _SAMPLER[prefix]}
        return identity | {
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "config": self.config,
        }

    def _identity_problem(self, key: str, stored) -> str | None:
        """Why a unit file is not unit ``key`` of this run (``None``: it is)."""
        if stored is None:
            return None if not self._identified else "it carries no identity (width, seed, run)"
        try:
            identity = json.loads(str(stored[()]))
        except (ValueError, TypeError, IndexError):
            identity = None
        if not isinstance(identity, dict):
            return "its identity does not read"
        expected = self._unit_identity(key)
        if any(identity.get(k) != expected.get(k) for k in ("key", "width", "seed", "sampler")):
            what = ", ".join(f"{k} {identity.get(k)}" for k in ("width", "seed", "sampler"))
            return f"it is unit {identity.get('key')} ({what}), not {key}"
        if identity.get("fingerprint") != self.fingerprint:
            config = identity.get("config")
            differences = _differences(
                identity.get("kind"), config if isinstance(config, dict) else {}, self.kind,
                self.config,
            )  # fmt: skip
            if differences:
                return f"it belongs to a run of another config ({_summary(differences)})"
        return None

    def _set_aside(self, path: Path, problem: str) -> None:
        if not self.writer:
            return
        bad = self.units / "bad"
        bad.mkdir(exist_ok=True)
        target = bad / f"{path.stem}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}.npz"
        with contextlib.suppress(OSError):
            os.replace(path, target)
        print(
            f"warning: {path} is damaged ({' '.join(problem.split())[:200]}); moved to "
            f"{target.relative_to(self.out)} and computing it again",
            file=sys.stderr,
            flush=True,
        )

    def save(self, key: str, **arrays) -> None:
        """Store unit ``key`` atomically (in memory only, in non-writer processes)."""
        arrays = {name: np.asarray(value) for name, value in arrays.items()}
        if not self.writer:
            self._memory[key] = arrays
            return
        if self._schema is None:
            self._schema = {name: [list(a.shape), a.dtype.str] for name, a in arrays.items()}
            self._write_manifest()
        identity = json.dumps(self._unit_identity(key), default=_json_default)
        atomic_write_npz(self._unit_path(key), **arrays, **{_IDENTITY: np.array(identity)})

    def write_json(self, name: str, obj) -> None:
        """Write ``out/name`` as JSON atomically (writer only)."""
        if self.writer:
            atomic_write_json(self.out / name, obj)

    def write_text(self, name: str, text: str) -> None:
        """Write ``out/name`` as text atomically (writer only)."""
        if self.writer:
            atomic_write_text(self.out / name, text)


#: First letter of a unit's key, per sampler of its kernels.
_UNIT_PREFIX = {"flax": "w", "conditional": "c"}
_SAMPLER = {prefix: sampler for sampler, prefix in _UNIT_PREFIX.items()}
_UNIT_KEY = re.compile(r"^([wc])(\d+)_s(\d+)$")


def unit_key(width: int, seed: int, sampler: str | None = None) -> str:
    """The run-store key of one network: ``"w{width}_s{seed}"``.

    ``sampler`` names what produced the unit when one run stores several kinds:
    ``None`` or ``"flax"`` (an instantiated network) keeps the ``w`` prefix,
    ``"conditional"`` (the conditional sampler of ``converge``) gives
    ``"c{width}_s{seed}"``. Stored folders are found by these exact strings, so
    they must not change.
    """
    return f"{_UNIT_PREFIX[sampler or 'flax']}{width}_s{seed}"


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
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError as error:
        raise UsageError(f"{option}: cannot read {path} ({error.strerror})") from None
