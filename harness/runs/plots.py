"""Figure conventions shared by every report: headless Matplotlib, PNG + SVG, atomic files.

* The ``Agg`` backend is selected before ``pyplot`` is imported, so plotting
  works without a display (CI, clusters).
* :func:`save_figure` writes ``<stem>.png`` (150 dpi, for the Markdown report
  and README) and ``<stem>.svg`` (vector, for papers), each atomically
  (:func:`harness.runs._atomic.atomic_write_bytes`), with the creation date left
  out of the metadata so that a rerun writes identical bytes.
* Logarithmic axes get plain tick labels (``0.01``, ``1e+04``) from
  :class:`matplotlib.ticker.LogFormatter` instead of Matplotlib's default
  ``10^k`` in mathtext, whose parser is built on first use and costs seconds of
  every short run; figure text is plain Unicode for the same reason.
* :data:`KERNEL_COLORS` gives NNGP and NTK the same colours in every figure.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "harness"  # deterministic SVG element ids

import matplotlib.pyplot as plt  # noqa: E402  (after selecting the backend)
from matplotlib.ticker import LogFormatter  # noqa: E402

from harness.runs._atomic import atomic_write_bytes  # noqa: E402

__all__ = ["KERNEL_COLORS", "REFERENCE_STYLES", "new_figure", "plt", "save_figure"]

KERNEL_COLORS = {"nngp": "#1f77b4", "ntk": "#d62728"}
#: Line styles of extra references/candidates, cycled in order.
REFERENCE_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 5.0, height: float = 4.0):
    """``(figure, axes)`` of ``nrows × ncols`` panels, each ``width × height`` inches."""
    return plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout="constrained"
    )


def save_figure(figure, folder, stem: str, *, writer: bool = True) -> list[str]:
    """Write ``folder/stem.png`` and ``folder/stem.svg`` atomically; close the figure.

    Returns the file names written (relative to ``folder``).
    """
    names = []
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                base = axis.get_transform().base
                axis.set_major_formatter(LogFormatter(base))
                axis.set_minor_formatter(LogFormatter(base, labelOnlyBase=False))
    figure.canvas.draw()  # lay out once, then freeze: each savefig would redo the layout
    figure.set_layout_engine("none")
    for fmt, extra in (
        ("png", {"dpi": 150, "metadata": {"Software": None}}),
        ("svg", {"metadata": {"Date": None}}),
    ):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, **extra)
        if writer:
            atomic_write_bytes(Path(folder) / f"{stem}.{fmt}", buffer.getvalue())
        names.append(f"{stem}.{fmt}")
    plt.close(figure)
    return names
