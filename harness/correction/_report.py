"""``report.md``, ``results.json`` and the figure of a correction run, and its headlines.

The figure has two panels: the measured :math:`\\hat A` as a heatmap, and
:math:`n\\,(m_n - K_\\infty)` against :math:`n` for the largest off-diagonal entry
and three diagonal ones, with their standard errors, settling to the fitted
:math:`A` (dotted) and to our formula's (dashed), so that a reader sees the
correction settle.
"""

from __future__ import annotations

import numpy as np

from harness.runs import figures_wanted
from harness.stats._formula_test import percent

__all__ = ["headlines", "write_report"]


def headlines(results: dict) -> list[str]:
    """One line for the measurement, one per judged formula."""
    correction = results["kernels"]["nngp"]["correction"]
    half = correction["relative_halfwidth"]
    curvature = correction["curvature"]["matters"]
    lines = [
        "NNGP correction A: measured to "
        + (f"±{percent(half)} (95%, relative Frobenius)" if half is not None else "an unknown ±")
        + f" at widths {', '.join(str(w) for w in correction['widths'])}"
        + ("; the 1/n² term matters at these widths" if curvature else "")
    ]
    diagonal = correction["diagonal"]
    found = "consistent with 0" if diagonal["zero"] else "not 0"
    if diagonal.get("expected_zero", True):
        found += " (theory: exactly 0 for this activation)"
    else:
        found += " (theory: not 0 for this activation)"
    lines.append(
        f"  diagonal of A: {found}; max |z| {diagonal['max_z']:.2f}, cut {diagonal['cut']:.2f}"
    )
    ours = correction["ours"]
    if ours.get("headline"):
        lines.append("  ours: " + ours["headline"])
    else:
        lines.append(f"  ours: not judged ({ours.get('problem')})")
    for name, entry in results["correction_candidates"].items():
        test = entry.get("nngp")
        if test is None:
            lines.append(f"  {name}: no NNGP correction given")
        else:
            lines.append(f"  {name}: {_headline(test)}")
    return lines


def _headline(test: dict) -> str:
    lo, hi = test["formula_error_ci95"]
    if test["outcome"] == "consistent":
        return f"A: consistent — correction error < {percent(hi)} (95%)"
    if test["outcome"] == "inconsistent":
        return (
            f"A: inconsistent — correction off by {percent(test['formula_error'])} "
            f"[{percent(lo)}, {percent(hi if hi is not None else float('inf'))}]"
        )
    return f"A: inconclusive — {test['reason']}"


def _matrix_table(matrix, rows: int = 6) -> list[str]:
    m = np.asarray(matrix)[:rows, :rows]
    header = "| | " + " | ".join(str(j) for j in range(m.shape[1])) + " |"
    lines = [header, "|" + "---|" * (m.shape[1] + 1)]
    for i, row in enumerate(m):
        lines.append(f"| {i} | " + " | ".join(f"{v:.4g}" for v in row) + " |")
    return lines


def _report_text(results: dict, figure: str | None) -> str:
    config = results["config"]
    correction = results["kernels"]["nngp"]["correction"]
    ours = correction["ours"]
    lines = [
        "# The finite-width correction of the NNGP",
        "",
        f"Command: `{results.get('command') or 'python -m harness.correction'}`",
        "",
        "At width `n` the seed mean of the readout-marginalised NNGP is "
        "`E K̂_n = K_∞ + A/n + B/n² + …`. This run measures `A` from "
        f"{config['seeds']} networks per width at widths "
        f"{', '.join(str(w) for w in correction['widths'])} (the analytic `K_∞` as the known "
        "limit, each network's exact mean-zero control variate subtracted), and judges "
        "correction formulas against it.",
        "",
        "## Headlines",
        "",
        *[f"- {line.strip()}" for line in headlines(results)],
        "",
        "## The measurement",
        "",
        f"- resolution: ±{percent(correction['relative_halfwidth'] or float('inf'))} "
        "(95%, relative Frobenius norm of `Â − A`)",
        f"- the `B/n²` term: largest `|B̂_ij|/se` = {correction['curvature']['max_z']:.3g} "
        f"against the Bonferroni cut {correction['curvature']['cut']:.3g} "
        f"({'matters' if correction['curvature']['matters'] else 'does not matter'} "
        "at these widths)",
    ]
    lof = correction.get("lack_of_fit")
    if lof:
        lines.append(
            f"- lack of fit of `K_∞ + A/n + B/n²` over the widths: F = {lof[0]:.3g}, "
            f"p = {lof[1]:.3g}"
        )
    diagonal = correction["diagonal"]
    lines += [
        f"- diagonal: largest `|Â_ii|/se` = {diagonal['max_z']:.3g} against the cut "
        f"{diagonal['cut']:.3g} (for ReLU-family networks it is exactly 0 at every width; "
        "for others it need not be)",
        "",
        "Measured `Â` (top-left block):",
        "",
        *_matrix_table(correction["coefficient"]),
        "",
    ]
    if ours.get("coefficient") is not None:
        lines += [
            "Our formula (`analytic.rmlp_nngp_correction`, the layer-wise expansion):",
            "",
            *_matrix_table(ours["coefficient"]),
            "",
            f"Verdict: {ours.get('headline') or ours.get('problem')}",
            "",
        ]
    else:
        lines += [f"Our formula: not available ({ours.get('problem')}).", ""]
    if results["correction_candidates"]:
        lines += ["## Candidates", "", "| candidate | outcome | error | 95% interval | detects |"]
        lines.append("|---|---|---|---|---|")
        for name, entry in results["correction_candidates"].items():
            test = entry.get("nngp")
            if test is None:
                lines.append(f"| {name} | no NNGP correction given | | | |")
                continue
            lo, hi = test["formula_error_ci95"]
            lines.append(
                f"| {name} | {test['outcome']} | {percent(test['formula_error'])} | "
                f"[{percent(lo)}, {percent(hi if hi is not None else float('inf'))}] | "
                f"{percent(test['detectable_error'] or float('inf'))} |"
            )
        lines.append("")
    lines += ["## Figure", ""]
    if figure:
        lines += [f"![the fitted 1/n coefficient]({figure})", ""]
    else:
        lines += ["Not drawn (`HARNESS_PLOTS=off`).", ""]
    timing = results.get("timing", {})
    lines += [
        "## Run",
        "",
        f"- networks drawn in {timing.get('draw_s', float('nan')):.1f} s, "
        f"{timing.get('total_s', float('nan')):.1f} s in all",
        f"- device: {results['environment'].get('device', results['environment'])}",
        "- float32 networks at matmul precision "
        f"`{results['environment'].get('matmul_precision', config['precision'])}`",
        "",
    ]
    return "\n".join(lines)


def _figure(results: dict, moments: dict, folder, writer: bool) -> str | None:
    if not figures_wanted():
        return None
    from harness.runs.plots import new_figure
    from harness.runs.plots import save_figure

    correction = results["kernels"]["nngp"]["correction"]
    coefficient = np.asarray(correction["coefficient"])
    ours = correction["ours"].get("coefficient")
    limit = np.asarray(results["limit"])
    figure, axes = new_figure(2, 1, width=4.6, height=3.6)
    scale = float(np.abs(coefficient).max()) or 1.0
    image = axes[0, 0].imshow(coefficient, cmap="RdBu_r", vmin=-scale, vmax=scale)
    axes[0, 0].set_title("NNGP: measured 1/n coefficient A", fontsize=9)
    axes[0, 0].set_xticks([])
    axes[0, 0].set_yticks([])
    figure.colorbar(image, ax=axes[0, 0], shrink=0.8)
    n = coefficient.shape[0]
    off = np.abs(coefficient) + np.diag(np.full(n, -np.inf))
    i, j = np.unravel_index(int(np.argmax(off)), off.shape)
    entries = [(int(min(i, j)), int(max(i, j)))] + [(k, k) for k in sorted({0, n // 2, n - 1})]
    widths = sorted(moments)
    rows, cols = np.triu_indices(n)
    for a, b in entries:
        index = int(np.flatnonzero((rows == a) & (cols == b))[0])
        values, errors = [], []
        for w in widths:
            m = moments[w]
            values.append(w * (m.mean[a, b] - limit[a, b]))
            errors.append(w * np.sqrt(m.scatter[index, index] / (m.count - 1) / m.count))
        line = axes[0, 1].errorbar(
            widths, values, yerr=errors, marker="o", ms=3, capsize=2, label=f"({a}, {b})"
        )
        color = line[0].get_color()
        axes[0, 1].axhline(coefficient[a, b], color=color, ls=":", lw=1)
        if ours is not None:
            axes[0, 1].axhline(np.asarray(ours)[a, b], color=color, ls="--", lw=1)
    axes[0, 1].set_xscale("log", base=2)
    axes[0, 1].set_xlabel("width n")
    axes[0, 1].set_ylabel("n · (m_n − K∞)")
    axes[0, 1].set_title("settling to A (dotted: fitted, dashed: ours)", fontsize=9)
    axes[0, 1].legend(fontsize=7)
    save_figure(figure, folder, "correction", writer=writer)
    return "correction.png"


def write_report(results: dict, moments: dict, store) -> None:
    """Write ``results.json``, the figure and ``report.md`` into the store's folder."""
    writer = getattr(store, "writer", True)
    store.write_json("results.json", results)
    figure = _figure(results, moments, store.out, writer)
    store.write_text("report.md", _report_text(results, figure))
