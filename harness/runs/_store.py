"""Resumable runs: one file per finished unit, each with its identity, under a config fingerprint.

A *run* writes into one output folder (``--out``)::

    out/
      .lock               held (fcntl.flock) by the one process writing here; names it
      run.json            {"kind", "fingerprint", "config", "unit_schema"}: what it holds
      units/<key>.npz     one file per finished unit of work, e.g. (width, seed)
      units/bad/          damaged units, set aside and computed again
      results.json, ...   summaries, rewritten as units finish
      previous/           the results found here when this run took the folder

The folder itself (its kind, lock, and the results it already holds) is
:mod:`harness.runs._folder`'s; every file is written by :mod:`harness.runs._atomic`.

Every unit carries its identity (``__unit__``: its key, and from it width, seed and
sampler; the run's kind, config and fingerprint) and is validated when it is loaded
(it loads, is the unit asked for, belongs to a run of this config, has the run's
arrays and shapes, holds no NaN/Inf); a bad one is set aside in ``units/bad/`` with
a one-line warning and computed again, so one damaged or misplaced file never
blocks a rerun, and a unit copied over another's file is never used as that one.

In a multi-process (multi-host) run only the writer (process 0) passes
``writer=True``; the others read but never write.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from harness.runs._atomic import atomic_write_json
from harness.runs._atomic import atomic_write_npz
from harness.runs._atomic import atomic_write_text
from harness.runs._atomic import json_default
from harness.runs._cli import UsageError
from harness.runs._folder import LOCK_NAME
from harness.runs._folder import ConfigMismatchError
from harness.runs._folder import check_folder_kind
from harness.runs._folder import check_out_folder
from harness.runs._folder import lock_folder
from harness.runs._folder import read_json
from harness.runs._folder import remove_path
from harness.runs._folder import result_files
from harness.runs._folder import retire_results
from harness.runs._folder import unlock_folder

__all__ = ["RunStore", "config_fingerprint", "unit_key"]

_KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")
#: The array of a unit file that holds its identity (JSON text).
_IDENTITY = "__unit__"


def config_fingerprint(config: Mapping) -> str:
    """SHA-256 (hex) of the config's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=json_default)
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
    return json.loads(json.dumps(value, sort_keys=True, default=json_default))


def _show(value) -> str:
    if value is _ABSENT:
        return "not recorded"
    if isinstance(value, str):
        return value if len(value) <= 20 else value[:12] + "…"
    return json.dumps(value, default=json_default)


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
        of the first unit saved, recorded in ``run.json`` before that unit is written).

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
        #: ``time.monotonic()`` when this process stored its first unit (None: none yet).
        self.first_saved: float | None = None
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
                self._lock = lock_folder(self.out)
                self._open(manifest, force)
            except BaseException:
                self.close()
                if created:
                    with contextlib.suppress(OSError):
                        (self.out / LOCK_NAME).unlink()
                        self.out.rmdir()
                raise
        elif manifest.exists():
            _, schema, _ = self._read_manifest(manifest)
            self._schema = self._schema or schema

    def _read_manifest(self, manifest: Path) -> tuple[str, dict | None, list[str]]:
        """``("same" | "different" | "damaged", recorded unit schema, how the config differs)``."""
        previous = read_json(manifest)
        if not isinstance(previous, dict) or not isinstance(previous.get("config"), dict):
            return "damaged", None, []
        schema = previous.get("unit_schema")
        schema = schema if isinstance(schema, dict) else None
        if schema is not None and self._schema is not None and set(schema) != set(self._schema):
            # Units written by another version of the harness, which stored other arrays.
            stored, wanted = ", ".join(sorted(schema)), ", ".join(sorted(self._schema))
            return "different", schema, [f"its units hold {stored}; this version stores {wanted}"]
        if previous.get("fingerprint") == self.fingerprint:
            return "same", schema, []
        differences = _differences(previous.get("kind"), previous["config"], self.kind, self.config)
        return ("different" if differences else "same"), schema, differences

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
        results = result_files(self.out)
        if manifest.exists():
            state, schema, differences = self._read_manifest(manifest)
            if state == "same":
                self._schema = self._schema or schema
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
        retire_results(self.out)
        self.units.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.units):  # left by writes cut short (kill -9)
            for stale in folder.glob(".*.tmp"):
                if not stale.is_dir():
                    stale.unlink(missing_ok=True)
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
                        remove_path(path)
            else:
                remove_path(self.units)
        except OSError as error:
            where = error.filename or self.units
            raise UsageError(
                f"--out: cannot delete the old units in {self.units} ({where}: "
                f"{error.strerror or error}); delete them by hand, or use another --out"
            ) from None
        left = sorted(self.units.glob("*.npz")) if self.units.is_dir() else []
        if left:
            raise UsageError(f"--out: {left[0]} is still there after deleting the old units")

    def _write_manifest(self) -> None:
        manifest = {"kind": self.kind, "fingerprint": self.fingerprint, "config": self.config}
        if self._schema is not None:
            manifest["unit_schema"] = self._schema
        atomic_write_json(self.out / "run.json", manifest)

    def close(self) -> None:
        """Release the folder's lock (also done when the store is garbage-collected)."""
        if self._lock is not None:
            unlock_folder(self._lock)
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
            return "it carries no identity (width, seed, run)"
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
        identity = json.dumps(self._unit_identity(key), default=json_default)
        atomic_write_npz(self._unit_path(key), **arrays, **{_IDENTITY: np.array(identity)})
        if self.first_saved is None:
            self.first_saved = time.monotonic()

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
