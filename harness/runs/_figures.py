"""Whether jobs draw their figures: ``HARNESS_PLOTS=off`` skips them.

Figures never change a number: ``results.json``, ``results.csv`` and ``report.md``
are written either way, and the report says when its figures were skipped. Drawing
them (PNG and SVG through Matplotlib) takes seconds per job, which is why the test
suite turns them off except in the tests that check them (``tests/conftest.py``).
"""

from __future__ import annotations

import os

__all__ = ["PLOTS_ENV", "figures_wanted"]

#: The environment variable: ``off`` (or ``0``, ``no``, ``false``) skips the figures.
PLOTS_ENV = "HARNESS_PLOTS"


def figures_wanted() -> bool:
    """False when :data:`PLOTS_ENV` says ``off``, ``0``, ``no`` or ``false``."""
    return os.environ.get(PLOTS_ENV, "").strip().lower() not in ("off", "0", "no", "false")
