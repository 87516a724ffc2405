"""A dependency-free progress bar with an ETA, silent unless it writes to a terminal.

Work is counted in *weighted units*: each unit carries a cost (for a network
of width ``n`` roughly ``n²``, its parameter count), so the ETA stays honest
when late units are far more expensive than early ones. Units found already
done (a resumed run) are marked with :meth:`Progress.skip`: they fill the bar
but do not enter the rate, which is measured only over work done now::

    with Progress(total=sum(costs), label="converge", quiet=args.quiet) as bar:
        for cost in costs:
            ...
            bar.advance(cost, note="width 1024 seed 3")

The bar is drawn on ``stream`` (default ``sys.stderr``) with carriage returns,
at most every ``min_interval`` seconds, and only when ``stream.isatty()`` and
not ``quiet``; otherwise every method is a no-op, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75.2`` → ``"1m15s"``; ``3725`` → ``"1h02m"``; unknown → ``"?"``."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class Progress:
    """Progress over ``total`` weighted units, with elapsed time and ETA.

    Args:
      total: total cost of all units (> 0).
      label: text in front of the bar.
      quiet: never draw.
      stream: where to draw (default ``sys.stderr``); drawn only if a TTY.
      width: characters of the bar itself.
      min_interval: seconds between redraws (the final draw always happens).
      clock: a monotonic clock, replaceable in tests.
    """

    def __init__(
        self,
        total: float,
        *,
        label: str = "",
        quiet: bool = False,
        stream=None,
        width: int = 30,
        min_interval: float = 0.2,
        clock=time.monotonic,
    ):
        self.total = float(total) if total > 0 else 1.0
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = not quiet and callable(isatty) and bool(isatty())
        self.width = width
        self.min_interval = min_interval
        self.clock = clock
        self.start = clock()
        self.done = 0.0  # all finished cost, skipped included
        self.done_now = 0.0  # cost finished in this process (enters the rate)
        self.note = ""
        self._last_draw = -float("inf")
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def skip(self, cost: float = 1.0) -> None:
        """Mark ``cost`` as already done (e.g. resumed); it does not affect the rate."""
        self.done += cost
        self._draw()

    def advance(self, cost: float = 1.0, *, note: str = "") -> None:
        """Mark ``cost`` as done now."""
        self.done += cost
        self.done_now += cost
        if note:
            self.note = note
        self._draw()

    def eta_seconds(self) -> float:
        """Seconds left at the rate measured so far (``nan`` before any work)."""
        elapsed = self.clock() - self.start
        if self.done_now <= 0 or elapsed <= 0:
            return float("nan")
        return max(self.total - self.done, 0.0) * elapsed / self.done_now

    def render(self) -> str:
        """The current line, without carriage return."""
        fraction = min(self.done / self.total, 1.0)
        filled = round(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = format_duration(self.clock() - self.start)
        eta = format_duration(self.eta_seconds())
        label = f"{self.label} " if self.label else ""
        note = f"  {self.note}" if self.note else ""
        return f"{label}[{bar}] {100 * fraction:5.1f}%  {elapsed} elapsed, ETA {eta}{note}"

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled or self._closed:
            return
        now = self.clock()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        self.stream.write("\r" + self.render().ljust(100)[:160])
        self.stream.flush()

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled and not self._closed:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
        self._closed = True
