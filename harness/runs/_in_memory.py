"""A run store that keeps its units in memory: what :func:`harness.judge` measures into.

It answers the part of :class:`~harness.runs.RunStore`'s interface that measuring
and judging use (``has``, ``load``, ``save``, ``write_json``, ``write_text``,
``first_saved``, ``out``), so one code path draws the networks of a folder run and
of an in-memory verdict, and the two give the same numbers. Nothing is written:
there is no folder, no lock and nothing to resume.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["InMemoryStore"]


class InMemoryStore:
    """Units keyed like a :class:`~harness.runs.RunStore`'s, held in a dict.

    ``out`` is a description for messages (``"memory"``): an error that says where
    completed results are kept names it.
    """

    out = "memory (nothing is written)"

    def __init__(self):
        self._units: dict[str, dict[str, np.ndarray]] = {}
        #: ``time.monotonic()`` when the first unit was stored (None: none yet).
        self.first_saved: float | None = None

    def has(self, key: str) -> bool:
        """Whether unit ``key`` was stored."""
        return key in self._units

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays of unit ``key``, or ``None``."""
        unit = self._units.get(key)
        return None if unit is None else dict(unit)

    def save(self, key: str, **arrays) -> None:
        """Keep unit ``key`` (its arrays are copied, so later changes do not reach it)."""
        self._units[key] = {name: np.array(value) for name, value in arrays.items()}
        if self.first_saved is None:
            self.first_saved = time.monotonic()

    def write_json(self, name: str, obj) -> None:
        """Nothing: an in-memory run writes no files."""

    def write_text(self, name: str, text: str) -> None:
        """Nothing: an in-memory run writes no files."""
