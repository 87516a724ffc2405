"""Progress of long runs (harness.runs._progress): plain timed lines, the rich bar, the ETA."""

import io
import re
import time

import pytest

from harness.runs import Progress
from harness.runs._progress import format_duration


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_eta_excludes_the_first_unit_and_resumed_work():
    clock = _Clock()
    bar = Progress(100, label="run", stream=io.StringIO(), clock=clock, interval=1e9)
    bar.skip(50)  # resumed: fills the bar, not the rate
    clock.now = 60.0
    bar.advance(10)  # the first unit carries the compilation: no rate yet
    assert format_duration(bar.eta_seconds()) == "?"
    clock.now = 70.0
    bar.advance(10)  # 10 units in the 10 s since the first one, 30 left: 30 s
    assert bar.eta_seconds() == pytest.approx(30.0)
    bar.close()


def test_plain_lines_are_timed_counted_and_say_what_was_resumed():
    clock = _Clock()
    stream = io.StringIO()
    with Progress(8, label="converge", stream=stream, units=8, clock=clock, interval=30) as bar:
        bar.skip(2, count=2)
        for step in range(6):
            clock.now += 10.0
            bar.advance(1, note=f"width 64, seed {step}")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "converge: resumed 2 of 8 networks"
    # A line at most every 30 s of a 60 s run (the last one is also the final state).
    # At 30 s: two units in the 20 s since the first one, three left: 30 s.
    assert lines[1:] == [
        "converge: 5/8 networks (62%), 30s elapsed, ETA 30s, width 64, seed 2",
        "converge: 8/8 networks (100%), 1m00s elapsed, ETA 0s, width 64, seed 5",
    ]


def test_plain_lines_keep_coming_while_one_unit_runs():
    clock = _Clock()
    stream = io.StringIO()
    with Progress(4, label="train", stream=stream, interval=0.4, clock=clock):
        for _ in range(12):  # no unit finishes in 12 "seconds": the heartbeat still reports
            time.sleep(0.1)
            clock.now += 1.0
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 4
    assert all(line.startswith("train: 0.0%, ") for line in lines)
    assert len(set(lines)) == len(lines)  # each one later than the one before


def test_a_fully_resumed_run_says_so_without_fractions():
    stream = io.StringIO()
    with Progress(10, label="converge", stream=stream, interval=1e9) as bar:
        bar.skip(10)
    assert stream.getvalue().splitlines()[0] == (
        "converge: resumed: 100% of the work was done before"
    )


def _round(stream, *, units, done_earlier, skipped, computed):
    """One round of a run that adds networks in rounds: its lines that say "resumed"."""
    start = stream.tell()
    with Progress(
        units, label="converge", stream=stream, units=units, done_earlier=done_earlier
    ) as bar:
        bar.skip(skipped, count=skipped)
        for _ in range(computed):
            bar.advance(1)
    return [line for line in stream.getvalue()[start:].splitlines() if "resumed" in line]


def test_networks_of_an_earlier_round_of_this_process_are_not_resumed():
    # A fresh --target-error run: 4 networks, then a top-up to 64 in the same process.
    stream = io.StringIO()
    assert _round(stream, units=4, done_earlier=0, skipped=0, computed=4) == []
    assert _round(stream, units=64, done_earlier=4, skipped=4, computed=60) == []
    assert _round(stream, units=64, done_earlier=64, skipped=64, computed=0) == []
    # A rerun after an interruption: 2 networks on disk, 2 computed now, then the top-up.
    stream = io.StringIO()
    resumed = ["converge: resumed 2 of 4 networks"]
    assert _round(stream, units=4, done_earlier=0, skipped=2, computed=2) == resumed
    resumed = ["converge: resumed 2 of 64 networks"]
    assert _round(stream, units=64, done_earlier=2, skipped=4, computed=60) == resumed


def test_terminal_bar_redraws_in_place_within_the_width():
    stream = _Tty()
    with Progress(4, label="converge", stream=stream, units=4) as bar:
        for _ in range(4):
            bar.advance(1, note="width 4096 (flax), seed 12345 " + "x" * 80)
    text = stream.getvalue()
    assert "4/4 networks (100%)" in text
    assert "\r" in text  # redrawn in place
    # One bar line per redraw, none longer than the terminal (rich's default: 80).
    drawn = [line for line in text.replace("\r", "\n").splitlines() if "networks" in line]
    assert drawn
    assert all(len(_visible(line)) <= 80 for line in drawn)


def _visible(line: str) -> str:

    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line)


def test_quiet_prints_nothing():
    for stream in (io.StringIO(), _Tty()):
        with Progress(10, stream=stream, quiet=True) as bar:
            bar.skip(5)
            bar.advance(5)
        assert stream.getvalue() == ""
    assert format_duration(75.2) == "1m15s"
    assert format_duration(3725) == "1h02m"
    assert format_duration(float("nan")) == "?"


class _FullDisk(io.StringIO):
    """A stream on a full disk (``2>/dev/full``): every flush fails."""

    def flush(self):
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("stream", [_FullDisk(), io.StringIO()], ids=["full", "closed"])
def test_a_stream_that_cannot_be_written_never_ends_the_run(stream):
    if not isinstance(stream, _FullDisk):
        stream.close()  # writes raise ValueError
    clock = _Clock()
    bar = Progress(10, label="run", stream=stream, clock=clock, interval=1.0)
    for step in range(1, 4):
        clock.now = float(step)
        bar.advance(1)  # each advance is due a line
    bar.close()
    assert bar.done == 3
    assert not bar.enabled


def test_no_stream_at_all_prints_nothing(monkeypatch):
    monkeypatch.setattr("sys.stderr", None)  # descriptor 2 was closed at start
    bar = Progress(10, label="run", interval=0.0)
    bar.advance(5)
    bar.close()
    assert not bar.enabled
