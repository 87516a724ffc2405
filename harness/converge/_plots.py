r"""The four figures of a convergence report (PNG + SVG each, see :mod:`harness.runs.plots`).

Labels are plain Unicode (``n^-1/2``, ``‖K̂ − K‖_F``), not Matplotlib's mathtext,
whose parser is built on first use and costs seconds of every short run.

* ``convergence``: per kernel, the mean per-seed relative error against width
  on log-log axes with its bootstrap 95% band, the per-seed points, the fitted
  power law (slope and CI in the legend), the seed-mean kernel's error, every
  candidate, and an :math:`n^{-1/2}` guide through the first point.
* ``heatmaps``: per kernel, the analytic kernel next to one network's empirical
  kernel (seed 0) at the smallest and the largest width, on one colour scale,
  and the difference at the largest width.
* ``error_distributions``: per kernel, the distribution of per-seed errors at
  each width (box plots with the points).
* ``entry_deviations``: per judged formula, the standardized deviation
  :math:`(\hat K_\infty - K_{\rm ref})_{ij}/\mathrm{se}_{ij}` of every entry
  (the entry-wise test's statistic) on a diverging scale, the worst entry
  marked; an entry beyond its cut (about 5) makes the formula inconsistent.
* ``correction``: per kernel, the fitted :math:`1/n` coefficient :math:`\hat A` of the
  seed-mean kernel as a heatmap (:mod:`harness.stats._correction`), and
  :math:`n\,(m_n - \hat K_\infty)` against :math:`n` for four entries (the largest
  :math:`|\hat A_{ij}|` off the diagonal, and three diagonal entries) with their
  standard errors: the correction settling to :math:`A` as :math:`n` grows.

A custom model's run has no analytic kernels of ours: the convergence figure shows
the candidates alone, and the heatmaps, error distributions and power figure use,
per kernel, the first candidate that gives it (:func:`first_judged`).
* ``power``: the smallest formula error the run detects with 95% probability
  against (largest width × seeds). The formula test's noise falls like
  :math:`1/\sqrt{n_{max} S}` (one network's relative fluctuation is
  :math:`c/\sqrt n`), so each kernel's curve is :math:`\varepsilon_{det}
  \propto (n_{max} S)^{-1/2}` through the run's own point, with the tolerance
  and the other runs' budgets for orientation.
"""

from __future__ import annotations

import numpy as np

from harness.runs.plots import KERNEL_COLORS
from harness.runs.plots import REFERENCE_STYLES
from harness.runs.plots import new_figure
from harness.runs.plots import save_figure

__all__ = [
    "first_judged",
    "plot_convergence",
    "plot_correction",
    "plot_entry_deviations",
    "plot_error_distributions",
    "plot_heatmaps",
    "plot_power",
]

KERNEL_TITLES = {"nngp": "NNGP", "ntk": "NTK"}


def first_judged(results: dict, kernel: str) -> tuple[str, dict] | None:
    """``(name, entry)`` of ``kernel``'s first judged formula: ours, else the first
    candidate that gives it; None when nothing judged it."""
    ours = results["kernels"][kernel]
    if "formula_test" in ours:
        return "analytic", ours
    for name, candidate in results.get("candidates", {}).items():
        if kernel in candidate:
            return f"candidate {name}", candidate[kernel]
    return None


def _fit_label(summary: dict, what: str) -> str:
    if summary.get("slope") is None:
        return what
    low, high = (f"{v:.2f}" if v is not None else "?" for v in summary["slope_ci95"])
    return f"{what}: n^{summary['slope']:.2f} [{low}, {high}]"


def plot_convergence(results: dict, folder, *, writer: bool = True) -> list[str]:
    """Log-log error against width for both kernels; returns the file names."""
    figure, axes = new_figure(2)
    for ax, kernel in zip(axes[0], ("nngp", "ntk"), strict=True):
        if "formula_test" in results["kernels"][kernel]:
            _plot_ours(ax, kernel, results["kernels"][kernel])
            ax.set_title(f"{KERNEL_TITLES[kernel]}: empirical vs analytic")
        else:
            ax.set_title(f"{KERNEL_TITLES[kernel]}: empirical vs candidates")
        for index, (name, candidate) in enumerate(results.get("candidates", {}).items()):
            if kernel not in candidate:
                continue
            entry = candidate[kernel]
            widths = np.asarray(entry["widths"], float)
            cband = np.asarray(entry["rel_err_ci95"])
            style = REFERENCE_STYLES[index % len(REFERENCE_STYLES)]
            ax.fill_between(widths, cband[:, 0], cband[:, 1], color="darkorange", alpha=0.15, lw=0)
            ax.plot(
                widths,
                entry["rel_err_mean"],
                marker="^",
                ls=style,
                color="darkorange",
                label=_fit_label(entry, f"candidate {name}"),
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.set_ylabel("‖K\u0302 − K‖_F / ‖K‖_F")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(figure, folder, "convergence", writer=writer)


def _plot_ours(ax, kernel: str, summary: dict) -> None:
    """Our kernels' per-network errors, their fit, the seed-mean error and the n^-1/2 guide."""
    widths = np.asarray(summary["widths"], float)
    color = KERNEL_COLORS[kernel]
    mean = np.asarray(summary["rel_err_mean"])
    band = np.asarray(summary["rel_err_ci95"])
    for width, values in zip(widths, summary["rel_err_per_seed"], strict=True):
        ax.scatter([width] * len(values), values, s=6, color=color, alpha=0.25, lw=0)
    ax.fill_between(widths, band[:, 0], band[:, 1], color=color, alpha=0.25, lw=0)
    ax.plot(widths, mean, "o-", color=color, label=_fit_label(summary, "per network"))
    if summary.get("slope") is not None:
        fitted = np.exp(summary["intercept"]) * widths ** summary["slope"]
        ax.plot(widths, fitted, "-", color="black", lw=0.8, alpha=0.7, label="fit")
    seed_mean = summary["rel_err_of_seed_mean"]
    label = "seed-mean kernel"
    if summary.get("seed_mean_slope") is not None:
        label += f": n^{summary['seed_mean_slope']:.2f}"
    ax.plot(widths, seed_mean, "s--", color=color, alpha=0.6, ms=4, label=label)
    guide = mean[0] * (widths / widths[0]) ** -0.5
    ax.plot(widths, guide, color="gray", lw=1, ls=(0, (2, 2)), label="n^-1/2 guide")


def plot_heatmaps(
    reference: dict, smallest: dict, largest: dict, widths, folder, *, writer=True, titles=None
):
    """A reference vs one network's kernels at the smallest and largest width; file names.

    ``reference`` maps each kernel to a matrix, ``titles`` each kernel to what that matrix
    is (default ``"analytic"``).
    """
    figure, axes = new_figure(4, 2, width=3.2, height=3.0)
    low, high = widths[0], widths[-1]
    for row, kernel in enumerate(("nngp", "ntk")):
        panels = (
            (reference[kernel], (titles or {}).get(kernel, "analytic")),
            (smallest[kernel], f"empirical, n={low}"),
            (largest[kernel], f"empirical, n={high}"),
        )
        vmin = min(p[0].min() for p in panels)
        vmax = max(p[0].max() for p in panels)
        for col, (matrix, title) in enumerate(panels):
            image = axes[row, col].imshow(matrix, vmin=vmin, vmax=vmax, cmap="viridis")
            axes[row, col].set_title(f"{KERNEL_TITLES[kernel]} {title}", fontsize=9)
        figure.colorbar(image, ax=axes[row, 2], shrink=0.8)
        difference = largest[kernel] - reference[kernel]
        scale = np.abs(difference).max() or 1.0
        image = axes[row, 3].imshow(difference, cmap="RdBu_r", vmin=-scale, vmax=scale)
        axes[row, 3].set_title(f"difference, n={high}", fontsize=9)
        figure.colorbar(image, ax=axes[row, 3], shrink=0.8)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(figure, folder, "heatmaps", writer=writer)


def plot_error_distributions(results: dict, folder, *, writer: bool = True) -> list[str]:
    """Per-seed error distributions at each width, both kernels; file names."""
    figure, axes = new_figure(2)
    for ax, kernel in zip(axes[0], ("nngp", "ntk"), strict=True):
        judged = first_judged(results, kernel)
        if judged is None:
            ax.axis("off")
            continue
        reference, summary = judged
        widths = summary["widths"]
        positions = np.log2(widths)
        data = [np.asarray(v) for v in summary["rel_err_per_seed"]]
        ax.boxplot(data, positions=positions, widths=0.4, showfliers=False)
        for position, values in zip(positions, data, strict=True):
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            ax.scatter(position + jitter, values, s=8, color=KERNEL_COLORS[kernel], alpha=0.6)
        ax.set_xticks(positions, [str(w) for w in widths])
        ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.set_ylabel(f"per-network relative error ({reference})")
        ax.set_title(f"{KERNEL_TITLES[kernel]}: spread over seeds")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    return save_figure(figure, folder, "error_distributions", writer=writer)


def plot_power(results: dict, folder, *, writer: bool = True) -> list[str]:
    """Detectable error against largest width × seeds, per kernel; returns the file names."""
    figure, axes = new_figure(1, width=6.0, height=4.2)
    ax = axes[0][0]
    tolerance = results["config"]["tolerance"]
    budgets = []
    for kernel in ("nngp", "ntk"):
        judged = first_judged(results, kernel)
        if judged is None:
            continue
        entry = judged[1]
        test = entry["formula_test"]
        detectable = entry["detectable_error"]
        if detectable is None or not test["widths"]:
            continue
        budget = float(max(test["widths"])) * float(test["seeds"][-1])
        budgets.append(budget)
        x = np.geomspace(budget / 256, budget * 256, 200)
        ax.loglog(
            x,
            detectable * np.sqrt(budget / x),
            color=KERNEL_COLORS[kernel],
            label=f"{KERNEL_TITLES[kernel]}: ∝ (n_max S)^-1/2",
        )
        ax.loglog(
            [budget],
            [detectable],
            "o",
            color=KERNEL_COLORS[kernel],
            label=f"{KERNEL_TITLES[kernel]}: this run, {100 * detectable:.2g}%",
        )
    ax.axhline(tolerance, color="0.3", ls="--", lw=1, label=f"tolerance {100 * tolerance:.2g}%")
    ax.set_xlabel("largest width × seeds, n_max S")
    ax.set_ylabel("detectable scale-free error (95% power)")
    ax.set_title("What this run can see")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(figure, folder, "power", writer=writer)


def plot_entry_deviations(judged: list, folder, *, writer: bool = True) -> list[str]:
    """Heatmaps of standardized entry deviations, one per ``(title, formula_test_json)``."""
    panels = [(title, test) for title, test in judged if test.get("z_matrix") is not None]
    if not panels:
        return []
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure, axes = new_figure(columns, rows, width=3.6, height=3.2)
    for index, (title, test) in enumerate(panels):
        ax = axes[index // columns][index % columns]
        z = np.array(test["z_matrix"], dtype=float)
        cut = test.get("entry_cut") or 5.0
        largest = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.0
        limit = max(1.5 * cut, largest)
        image = ax.imshow(z, cmap="RdBu_r", vmin=-limit, vmax=limit)
        worst = (test.get("worst_entries") or [None])[0]
        if worst is not None:
            ax.plot([worst["col"]], [worst["row"]], "s", mfc="none", mec="black", ms=8)
        ax.set_title(f"{title}\nz/cut {_ratio(test)}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    for index in range(len(panels), rows * columns):
        axes[index // columns][index % columns].axis("off")
    return save_figure(figure, folder, "entry_deviations", writer=writer)


def _ratio(test: dict) -> str:
    z, cut = test.get("entry_z"), test.get("entry_cut")
    return "n/a" if z is None or cut is None else f"{z / cut:.2f}"


def _correction_entries(coefficient: np.ndarray) -> list[tuple[int, int]]:
    """The largest ``|A_ij|`` off the diagonal and three diagonal entries."""
    n = coefficient.shape[0]
    off = np.abs(coefficient) + np.diag(np.full(n, -np.inf))
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    entries = [(int(min(i, j)), int(max(i, j)))]
    return entries + [(k, k) for k in sorted({0, n // 2, n - 1})]


def plot_correction(results: dict, empirical: dict, folder, *, writer: bool = True) -> list[str]:
    """The fitted 1/n coefficient: heatmaps and ``n(m_n − K∞)`` against ``n``; file names."""
    kernels = [k for k in ("nngp", "ntk") if results["kernels"][k].get("correction")]
    if not kernels:
        return []
    figure, axes = new_figure(len(kernels), 2, width=4.2, height=3.4)
    axes = np.atleast_2d(axes)
    for row, kernel in enumerate(kernels):
        correction = results["kernels"][kernel]["correction"]
        coefficient = np.asarray(correction["coefficient"])
        scale = np.abs(coefficient).max() or 1.0
        image = axes[row, 0].imshow(coefficient, cmap="RdBu_r", vmin=-scale, vmax=scale)
        axes[row, 0].set_title(f"{KERNEL_TITLES[kernel]}: fitted 1/n coefficient A", fontsize=9)
        axes[row, 0].set_xticks([])
        axes[row, 0].set_yticks([])
        figure.colorbar(image, ax=axes[row, 0], shrink=0.8)
        limit = np.asarray(correction["limit"])
        widths = [int(w) for w in correction["widths"]]
        for i, j in _correction_entries(coefficient):
            stacks = [np.asarray(empirical[w][kernel])[:, i, j] for w in widths]
            values = [w * (s.mean() - limit[i, j]) for w, s in zip(widths, stacks, strict=True)]
            errors = [
                w * s.std(ddof=1) / np.sqrt(len(s)) for w, s in zip(widths, stacks, strict=True)
            ]
            line = axes[row, 1].errorbar(
                widths, values, yerr=errors, marker="o", ms=3, capsize=2, label=f"({i}, {j})"
            )
            axes[row, 1].axhline(coefficient[i, j], color=line[0].get_color(), ls=":", lw=1)
        axes[row, 1].set_xscale("log", base=2)
        axes[row, 1].set_xlabel("width n")
        axes[row, 1].set_ylabel("n · (m_n − K∞)")
        axes[row, 1].set_title(f"{KERNEL_TITLES[kernel]}: settling to A (dotted)", fontsize=9)
        axes[row, 1].legend(fontsize=7)
    return save_figure(figure, folder, "correction", writer=writer)
