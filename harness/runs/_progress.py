"""Progress of a long run: a live bar on a terminal, plain timed lines in a batch job.

Work is counted in *weighted units*: each unit carries a cost (for a network
of width ``n`` roughly ``n²``, its parameter count), so the ETA stays honest
when late units are far more expensive than early ones. Units found already
done (a resumed run) are marked with :meth:`Progress.skip`: they fill the bar
but do not enter the rate, which is measured only over work done now::

    with Progress(total=sum(costs), label="converge", quiet=args.quiet) as bar:
        for cost in costs:
            ...
            bar.advance(cost, note="width 1024 seed 3")

Where it goes (``stream``, default ``sys.stderr``):

* a terminal: a one-line ``rich`` bar, redrawn twice a second by rich's own timer
  (so elapsed time and ETA move while a long unit runs) and fitted to the
  terminal's width, never wrapped or stacked;
* anything else (a log file, a cluster job's stderr): a plain line at most every
  ``interval`` seconds (30 by default), also while a long unit runs, and one at the
  end, so a job that runs for hours shows it is alive;
* ``quiet``: nothing.

Progress never ends a run: a stream that cannot be written (closed, a full disk)
is given up at its first failure, and the work goes on.

The ETA excludes compilation: the rate is measured from the end of the first unit
done now (which carries the compilation) over the units after it, so the ETA is
``?`` until a second unit is done. When units were skipped, the first unit done
(or the end) prints ``resumed N of M networks`` (``N, M`` given through ``units=``
and ``skip(count=)``; without them, the resumed fraction of the work). *Resumed* means
found on disk when the process started: a run that adds networks in rounds opens one
``Progress`` per round and passes ``done_earlier=``, the units that this process itself
finished in earlier rounds, which are skipped like resumed ones but not reported as such.

``rich`` is used rather than a bar of our own because it already solves redrawing
on a timer, terminal width and cursor handling, and it ships with Flax.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from rich.console import Console
from rich.progress import BarColumn
from rich.progress import Progress as RichProgress
from rich.progress import ProgressColumn
from rich.text import Text

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
      label: text in front of the bar (e.g. ``"converge"``).
      quiet: print nothing.
      stream: where to write (default ``sys.stderr``): a bar if it is a terminal,
        else plain lines.
      units: the number of units (networks) in ``total``, for the counts in the
        lines; ``None`` shows fractions of the work only.
      unit_name: what a unit is called in the lines.
      done_earlier: of the units that will be skipped, how many this process finished
        itself, under an earlier ``Progress`` (an earlier round): they fill the bar but
        are not counted in the ``resumed`` line (which needs ``units``).
      interval: seconds between plain lines (not on a terminal).
      clock: a monotonic clock, replaceable in tests.
      live: draw the rich bar (``None``: when ``stream`` is a terminal).
    """

    def __init__(
        self,
        total: float,
        *,
        label: str = "",
        quiet: bool = False,
        stream=None,
        units: int | None = None,
        unit_name: str = "networks",
        done_earlier: int = 0,
        interval: float = 30.0,
        clock=time.monotonic,
        live: bool | None = None,
    ):
        self.total = float(total) if total > 0 else 1.0
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.units = units
        self.unit_name = unit_name
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.done = 0.0  # all finished cost, skipped included
        self.done_now = 0.0  # cost finished in this process
        self.count = 0  # finished units, skipped included (when counts are given)
        self.skipped = 0.0  # cost found done
        self.skipped_count = 0
        self.done_earlier = int(done_earlier)
        self.note = ""
        self._first_done_at = None  # (time, cost) at the end of the first unit done now
        self._resumed_told = False
        self._closed = False
        self._lock = threading.RLock()
        tty = False
        with contextlib.suppress(OSError, ValueError):  # a closed stream
            isatty = getattr(self.stream, "isatty", None)
            tty = callable(isatty) and bool(isatty())
        self.enabled = not quiet and self.stream is not None  # None: stderr was closed
        self.live = self.enabled and (tty if live is None else live)
        self._bar = None
        self._heartbeat = None
        self._last_line = self.start
        self._last_text = ""
        if self.live:
            self._start_bar()
        elif self.enabled:
            self._stop = threading.Event()
            self._heartbeat = threading.Thread(target=self._beat, daemon=True)
            self._heartbeat.start()

    # -- counting ---------------------------------------------------------------------

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def skip(self, cost: float = 1.0, *, count: int | None = None) -> None:
        """Mark ``cost`` (``count`` units) as already done (resumed): not part of the rate."""
        with self._lock:
            self.done += cost
            self.skipped += cost
            if count:
                self.count += count
                self.skipped_count += count
        self._update()

    def advance(self, cost: float = 1.0, *, note: str = "", count: int = 1) -> None:
        """Mark ``cost`` (``count`` units) as done now."""
        self._tell_resumed()
        with self._lock:
            self.done += cost
            self.done_now += cost
            self.count += count
            if note:
                self.note = note
            if self._first_done_at is None:
                self._first_done_at = (self.clock(), self.done_now)
        self._update()

    def eta_seconds(self) -> float:
        """Seconds left at the rate of the units after the first (``nan`` before two)."""
        if self._first_done_at is None:
            return float("nan")
        since, first_cost = self._first_done_at
        elapsed = self.clock() - since
        work = self.done_now - first_cost
        if work <= 0 or elapsed <= 0:
            return float("nan")
        return max(self.total - self.done, 0.0) * elapsed / work

    # -- text -------------------------------------------------------------------------

    def _amount(self) -> str:
        fraction = min(self.done / self.total, 1.0)
        if self.units:
            return f"{self.count}/{self.units} {self.unit_name} ({100 * fraction:.0f}%)"
        return f"{100 * fraction:.1f}%"

    def status(self) -> str:
        """``"12/80 networks (15%), 1m30s elapsed, ETA 8m00s, width 1024 seed 3"``."""
        elapsed = format_duration(self.clock() - self.start)
        note = f", {self.note}" if self.note else ""
        return (
            f"{self._amount()}, {elapsed} elapsed, ETA {format_duration(self.eta_seconds())}{note}"
        )

    def render(self) -> str:
        """The plain line: ``"<label>: <status>"``."""
        label = f"{self.label}: " if self.label else ""
        return label + self.status()

    def _resumed(self) -> int:
        """Units found done that this process did not finish itself."""
        return self.skipped_count - self.done_earlier

    def _resumed_text(self) -> str:
        label = f"{self.label}: " if self.label else ""
        if self.units and self.skipped_count:
            return f"{label}resumed {self._resumed()} of {self.units} {self.unit_name}"
        return f"{label}resumed: {100 * self.skipped / self.total:.0f}% of the work was done before"

    def _print(self, line: str) -> None:
        """Write ``line``; a stream that fails (closed, full disk) is given up, never raised."""
        try:
            if self._bar is not None:
                self._bar.console.print(line, markup=False, highlight=False)
            else:
                self.stream.write(line + "\n")
                self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def _tell_resumed(self) -> None:
        if self.enabled and not self._resumed_told and self.skipped > 0:
            self._resumed_told = True
            if not (self.units and self.skipped_count and self._resumed() <= 0):
                self._print(self._resumed_text())

    # -- drawing ----------------------------------------------------------------------

    def _start_bar(self) -> None:

        owner = self

        class Status(ProgressColumn):
            def render(self, task):
                return Text(owner.status(), no_wrap=True, overflow="ellipsis")

        console = Console(file=self.stream, force_terminal=True, soft_wrap=False)
        self._bar = RichProgress(
            *(["{task.description}"] if self.label else []),
            BarColumn(bar_width=24),
            Status(),
            console=console,
            refresh_per_second=2,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._task = self._bar.add_task(self.label, total=self.total)
        self._bar.start()

    def _update(self) -> None:
        if self._closed or not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=min(self.done, self.total))
        elif self.clock() - self._last_line >= self.interval:
            self._line()

    def _line(self) -> None:
        with self._lock:
            self._last_line = self.clock()
            text = self.render()
            if text != self._last_text:
                self._last_text = text
                self._print(text)

    def _beat(self) -> None:
        while not self._stop.wait(min(self.interval / 4, 5.0)):
            if self.clock() - self._last_line >= self.interval:
                with self._lock:
                    if self._closed:
                        return
                    self._line()

    def close(self) -> None:
        """Print the final state (and the resumed count if nothing ran now), then stop."""
        if self._closed:
            return
        self._tell_resumed()
        with self._lock:
            self._closed = True
        if self._heartbeat is not None:
            self._stop.set()
        if self._bar is not None:
            self._bar.update(self._task, completed=min(self.done, self.total))
            with contextlib.suppress(OSError, ValueError):  # the last redraw may fail
                self._bar.stop()
        elif self.enabled:
            self._line()
