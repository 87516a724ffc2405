"""``report.md``: a convergence run as a human-readable page.

Sections: verdicts (one line per kernel and candidate), configuration and
environment, the agreement of our analytic kernels with neural-tangents',
slopes with 95% CIs, a per-width table per kernel, and the embedded figures.
"""

from __future__ import annotations

__all__ = ["render_report"]

_TITLES = {"nngp": "NNGP", "ntk": "NTK"}


def _num(value, fmt=".3g") -> str:
    return "n/a" if value is None else format(value, fmt)


def _ci(pair, fmt=".2f") -> str:
    if pair is None:
        return "n/a"
    return f"[{_num(pair[0], fmt)}, {_num(pair[1], fmt)}]"


def _slope_row(name: str, kernel: str, entry: dict) -> str:
    return (
        f"| {name} | {_TITLES[kernel]} | {_num(entry['slope'], '.3f')} "
        f"{_ci(entry['slope_ci95'], '.3f')} | {_num(entry['seed_mean_slope'], '.3f')} "
        f"{_ci(entry['seed_mean_slope_ci95'], '.3f')} | {entry['verdict']} |"
    )


def _width_table(kernel: str, entry: dict, candidates: dict) -> list[str]:
    names = [name for name, c in candidates.items() if kernel in c]
    header = (
        "| width | mean error | std | bootstrap 95% CI | seed-mean kernel error "
        "| its distance in standard errors (z) |"
    )
    rule = "|---:|---:|---:|---|---:|---:|"
    for name in names:
        header += f" candidate {name}: mean error |"
        rule += "---:|"
    lines = [f"### {_TITLES[kernel]}", "", header, rule]
    for index, width in enumerate(entry["widths"]):
        line = (
            f"| {width} | {entry['rel_err_mean'][index]:.4g} "
            f"| {_num(entry['rel_err_std'][index], '.2g')} "
            f"| {_ci(entry['rel_err_ci95'][index], '.4g')} "
            f"| {entry['rel_err_of_seed_mean'][index]:.4g} "
            f"| {_num(entry['seed_mean_z'][index], '.2f')} |"
        )
        for name in names:
            line += f" {candidates[name][kernel]['rel_err_mean'][index]:.4g} |"
        lines.append(line)
    return [*lines, ""]


def render_report(results: dict, *, figures: dict[str, str], command: str | None = None) -> str:
    """The Markdown text; ``figures`` maps a title to a PNG file name in the same folder."""
    config, env = results["config"], results["environment"]
    kernels, candidates = results["kernels"], results.get("candidates", {})
    lines = [
        "# Convergence of finite-width residual MLP kernels to their infinite-width limits",
        "",
    ]
    if command:
        lines += ["```", command, "```", ""]
    lines += ["## Verdicts", ""]
    for kernel in ("nngp", "ntk"):
        lines.append(f"- **{_TITLES[kernel]}**, our analytic kernel: {kernels[kernel]['verdict']}")
    for name, candidate in candidates.items():
        for kernel in ("nngp", "ntk"):
            if kernel in candidate:
                lines.append(
                    f"- **{_TITLES[kernel]}**, candidate `{name}`: {candidate[kernel]['verdict']}"
                )
    agreement = results.get("analytic_vs_neural_tangents", {})
    lines += [
        "",
        "Our analytic kernels against neural-tangents' (maximum entrywise difference relative "
        f"to the largest entry): NNGP {_num(agreement.get('nngp'))}, "
        f"NTK {_num(agreement.get('ntk'))}.",
        "",
        "## Slopes",
        "",
        "Fitted `log error = a + p log n` over every network (per-seed slope) and over the "
        "seed-mean kernel's error; 95% confidence intervals from Student's t. Theory: "
        "one network's kernel fluctuates by O(n^-1/2), so p ≈ −1/2; the seed-mean error "
        "mixes fluctuation/√S with the O(1/n) bias, so its slope lies between −1/2 and −1 "
        "(noisy: one value per width). A reference *converges* when the per-seed slope's "
        "upper bound is below −0.1 and, at the largest width, the seed-mean kernel lies "
        "within 4 standard errors (z < 4) of it; a wrong formula leaves a plateau that "
        "seed averaging cannot remove, so its z grows with width.",
        "",
        "| reference | kernel | per-seed slope [95% CI] | seed-mean slope [95% CI] | verdict |",
        "|---|---|---|---|---|",
    ]
    for kernel in ("nngp", "ntk"):
        lines.append(_slope_row("analytic (ours)", kernel, kernels[kernel]))
        nt = kernels[kernel].get("references", {}).get("neural_tangents")
        if nt is not None:
            lines.append(_slope_row("neural-tangents", kernel, nt))
        for name, candidate in candidates.items():
            if kernel in candidate:
                lines.append(_slope_row(f"candidate `{name}`", kernel, candidate[kernel]))
    lines += ["", "## Relative Frobenius error per width (against our analytic kernels)", ""]
    for kernel in ("nngp", "ntk"):
        lines += _width_table(kernel, kernels[kernel], candidates)
    lines += ["## Figures", ""]
    for title, name in figures.items():
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    lines += ["## Configuration", "", "| option | value |", "|---|---|"]
    lines += [f"| {key} | `{value}` |" for key, value in config.items()]
    lines += ["", "## Environment", "", "| item | value |", "|---|---|"]
    lines += [f"| {key} | `{value}` |" for key, value in env.items()]
    timing = results.get("timing")
    if timing:
        lines += [
            "",
            f"Wall time of the measurement: {timing.get('wall_s', 0):.1f} s "
            f"({timing.get('networks_computed', 0)} networks computed in this process).",
        ]
    return "\n".join(lines) + "\n"
