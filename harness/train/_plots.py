"""Figures of a training-dynamics run (PNG + SVG via :mod:`harness.runs.plots`).

* ``loss_curves``: training loss ``½Σ(f_t - y)²`` against the step, per width (mean over
  seeds), finite network solid, infinite-width NTK prediction dashed in the same colour.
* ``test_predictions``: held-out outputs ``f_T(x*)`` of every network against the NTK
  prediction ``f_T^NTK(x*)`` at the smallest and the largest width; the diagonal is exact
  agreement.
* ``scaling``: kernel drift and function-space gaps against width on log-log axes, per-width
  means with bootstrap 95% CIs, fitted lines and an ``n^-1/2`` guide.
"""

from __future__ import annotations

import numpy as np

from harness.runs.plots import new_figure
from harness.runs.plots import plt
from harness.runs.plots import save_figure

__all__ = ["plot_loss_curves", "plot_scaling", "plot_test_predictions"]


def _colors(count: int):

    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.05, 0.85, max(count, 1))]


def plot_loss_curves(config, problem, units: dict, widths, folder) -> list[str]:
    """Mean training loss per width (solid) against the NTK prediction (dashed)."""
    figure, axes = new_figure(width=6.0, height=4.2)
    ax = axes[0, 0]
    y = problem.task.y_train
    for color, width in zip(_colors(len(widths)), widths, strict=True):
        runs = [units[(width, s)] for s in range(config.seeds)]
        steps = runs[0]["steps"]
        for key, style, label in (("train", "-", f"n={width}"), ("ntk_train", "--", None)):
            loss = np.mean([0.5 * np.sum((r[key] - y) ** 2, axis=1) for r in runs], axis=0)
            ax.plot(steps, loss, style, color=color, label=label)
    ax.plot([], [], "k--", label="NTK prediction")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_yscale("log")
    ax.set_xlabel("GD step t")
    ax.set_ylabel("training loss ½Σ(f_t − y)²  (mean over seeds)")
    ax.set_title(f"Training loss, η = {config.lr_fraction:g}·2/λ_max")
    ax.legend(fontsize=8)
    return save_figure(figure, folder, "loss_curves")


def plot_test_predictions(config, problem, units: dict, widths, folder) -> list[str]:
    """Held-out outputs of the networks against the NTK prediction, smallest and largest width."""
    chosen = [widths[0]] if len(widths) == 1 else [widths[0], widths[-1]]
    figure, axes = new_figure(ncols=len(chosen), width=4.2, height=4.2)
    for ax, width in zip(axes[0], chosen, strict=True):
        runs = [units[(width, s)] for s in range(config.seeds)]
        predicted = np.concatenate([r["ntk_test"][-1] for r in runs])
        actual = np.concatenate([r["test"][-1] for r in runs])
        low, high = (
            float(min(predicted.min(), actual.min())),
            float(max(predicted.max(), actual.max())),
        )
        ax.plot([low, high], [low, high], "k-", lw=0.8, label="exact agreement")
        ax.scatter(predicted, actual, s=6, alpha=0.6, label=f"{len(runs)} networks")
        ax.set_xlabel("NTK prediction f_T^NTK(x*)")
        ax.set_ylabel("trained network f_T(x*)")
        ax.set_title(f"held-out outputs, n = {width}, T = {problem.steps}")
        ax.legend(fontsize=8)
    return save_figure(figure, folder, "test_predictions")


def _curve(ax, entry, color, label):
    widths = np.asarray(entry["widths"], float)
    mean = np.asarray(entry["mean"])
    ax.fill_between(widths, entry["ci95_low"], entry["ci95_high"], color=color, alpha=0.2)
    text = label
    if entry.get("slope") is not None:
        low, high = entry["slope_ci95"]
        text = f"{label}: n^{entry['slope']:.2f} [{low:.2f}, {high:.2f}]"
        ax.plot(widths, np.exp(entry["intercept"]) * widths ** entry["slope"], ":", color=color)
    ax.plot(widths, mean, "o-", color=color, label=text)


def plot_scaling(results: dict, folder) -> list[str]:
    """Kernel drift (left) and function-space gaps (right) against width, log-log."""
    figure, axes = new_figure(ncols=2, width=5.2, height=4.2)
    gap = results["function_gap"]
    panels = (
        (axes[0, 0], "kernel drift ‖Θ̂_T − Θ̂_0‖/‖Θ̂_0‖", [(results["kernel_drift"], "drift")]),
        (
            axes[0, 1],
            "function-space gap ‖f_T − f_ref‖/‖f_ref‖",
            [
                (gap, "vs NTK, train ∪ test"),
                (gap["train"], "vs NTK, train"),
                (gap["test"], "vs NTK, test"),
                (gap["linearized"], "vs linearised, train ∪ test"),
            ],
        ),
    )
    colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"]
    for ax, title, curves in panels:
        for color, (entry, label) in zip(colors, curves, strict=False):
            _curve(ax, entry, color, label)
        first = curves[0][0]
        widths = np.asarray(first["widths"], float)
        guide = first["mean"][0] * (widths / widths[0]) ** -0.5
        ax.plot(widths, guide, "k--", lw=0.8, label="n^-1/2 guide")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("width n")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    return save_figure(figure, folder, "scaling")
