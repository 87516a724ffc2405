"""Command-line conventions shared by every ``python -m harness.*`` entry point.

* Bad input raises :class:`UsageError`; :func:`run_cli` turns it into a single
  line ``error: ...`` on stderr and exit status 2, with no traceback.
* Width lists use one syntax everywhere: ``128..8192`` is the powers of two
  from 128 to 8192 inclusive; ``100,300,1000`` is an explicit list.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from collections.abc import Sequence

__all__ = ["ArgumentParser", "UsageError", "parse_widths", "run_cli"]


class UsageError(ValueError):
    """Invalid user input: reported as one line and exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose errors raise :class:`UsageError`."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message)


def _positive_int(text: str, what: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise UsageError(f"{what}: {text.strip()!r} is not a whole number") from None
    if value < 1:
        raise UsageError(f"{what}: {value} is not >= 1")
    return value


def parse_widths(text: str) -> tuple[int, ...]:
    """Parse ``"128..8192"`` (powers of two, inclusive) or ``"100,300,1000"``.

    Raises:
      UsageError: for non-numbers, widths < 1, reversed or power-free ranges,
        and duplicates.
    """
    text = text.strip()
    if ".." in text:
        lo_text, _, hi_text = text.partition("..")
        lo = _positive_int(lo_text, "--widths")
        hi = _positive_int(hi_text, "--widths")
        if lo > hi:
            raise UsageError(f"--widths: range {lo}..{hi} is reversed (write {hi}..{lo})")
        widths = []
        power = 1
        while power <= hi:
            if power >= lo:
                widths.append(power)
            power *= 2
        if not widths:
            raise UsageError(f"--widths: no power of two lies in {lo}..{hi}")
        return tuple(widths)
    parts = [p for p in text.split(",")]
    if not text or any(not p.strip() for p in parts):
        raise UsageError(f"--widths: {text!r} is not a list such as 128..8192 or 100,300,1000")
    widths = tuple(_positive_int(p, "--widths") for p in parts)
    if len(set(widths)) != len(widths):
        raise UsageError(f"--widths: {text!r} repeats a width")
    return tuple(sorted(widths))


def run_cli(main: Callable[[Sequence[str] | None], int | None], argv=None) -> None:
    """Run ``main(argv)``; exit 2 with a one-line message on :class:`UsageError`."""
    try:
        status = main(argv)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted; completed results are kept", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)
