"""``report.md``: a convergence run as a human-readable page.

Sections: outcomes (one line per judged formula: consistent, inconsistent or
inconclusive, with the formula error's 95% interval, then how the rounds of
networks ended), the formula-test table, the worst entries of every formula,
the rounds of networks, which sampler produced which width and their
agreement, the agreement of our analytic kernels with neural-tangents',
per-seed slopes as diagnostics, a per-width table per kernel, the embedded
figures, configuration and environment. :func:`write_outputs` writes the
report with ``results.json``, ``results.csv`` and the figures.

A custom model's run (``results["model"]``) has no analytic kernels of ours: the
headlines open with the model, that it has no analytic reference and which NNGP
estimate was used; every table and figure shows the candidates alone (the per-width
tables against each candidate, the heatmaps against the first candidate of each
kernel, or the widest width's seed mean when no candidate gives that kernel).
"""

from __future__ import annotations

import numpy as np

from harness.converge._summary import CSV_HEADER
from harness.runs import PLOTS_ENV
from harness.runs import csv_text
from harness.runs import figures_wanted
from harness.runs import format_bytes

__all__ = ["headlines", "judged_formulas", "render_report", "write_outputs"]

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
        f"{_ci(entry['seed_mean_slope_ci95'], '.3f')} |"
    )


def _pct(value) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.2g}%" if value < 0.1 else f"{100 * value:.0f}%"


def _test_row(name: str, kernel: str, entry: dict) -> str:
    test = entry["formula_test"]
    lo, hi = entry["formula_error_ci95"]
    lof = test.get("lack_of_fit")
    lof_text = "n/a" if not lof or lof[1] is None else f"p = {lof[1]:.2g}"
    z, cut = test.get("z"), test.get("cut")
    ez, ecut = test.get("entry_z"), test.get("entry_cut")
    return (
        f"| {name} | {_TITLES[kernel]} | **{entry['outcome']}** | {_pct(entry['formula_error'])} "
        f"[{_pct(lo)}, {_pct(hi)}] | {_pct(entry['detectable_error'])} "
        f"| {_pct(test.get('entry_detectable_error'))} "
        f"| {_num(z, '.2f')} / {_num(cut, '.2f')} | {_num(ez, '.2f')} / {_num(ecut, '.2f')} "
        f"| {_num(test.get('rank'), '.1f')} | {_num(test['df'], '.0f')} | {lof_text} |"
    )


def _worst_rows(name: str, kernel: str, entry: dict) -> list[str]:
    rows = []
    for worst in entry["formula_test"].get("worst_entries", [])[:3]:
        lo, hi = worst["ci95"]
        ratio = None if worst["z"] is None or not worst["cut"] else worst["z"] / worst["cut"]
        rows.append(
            f"| {name} | {_TITLES[kernel]} | ({worst['row']}, {worst['col']}) "
            f"| {_signed_pct(worst['error'])} [{_signed_pct(lo)}, {_signed_pct(hi)}] "
            f"| {_num(worst['z'], '.2f')} | {_num(ratio, '.2f')} |"
        )
    return rows


def _signed_pct(value) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:+.2g}%"


def judged_formulas(results: dict):
    """``(name, kernel, entry)`` for every judged formula, ours first (when there are ours)."""
    kernels, candidates = results["kernels"], results.get("candidates", {})
    for kernel in ("nngp", "ntk"):
        if "formula_test" in kernels[kernel]:
            yield "analytic (ours)", kernel, kernels[kernel]
        nt = kernels[kernel].get("references", {}).get("neural_tangents", {})
        if nt.get("outcome") is not None:
            yield "neural-tangents", kernel, nt
        for name, candidate in candidates.items():
            if kernel in candidate:
                yield f"candidate `{name}`", kernel, candidate[kernel]


def _size(results: dict):
    for _, _, entry in judged_formulas(results):
        return entry["formula_test"].get("size")
    return None


def model_line(model: dict) -> str:
    """The headline of a custom model: that it has no reference of ours, and its NNGP estimate."""
    if model["readout"] is not None:
        estimate = f"readout-marginalised over `{model['readout']}`"
    else:
        estimate = "the outputs' second moment (no --readout)"
    return (
        f"model `{model['spec']}`: no analytic reference for a custom model, only candidates "
        f"are judged; NNGP estimate: {estimate}"
    )


def _rounds_section(results: dict) -> list[str]:
    rounds = results.get("rounds") or []
    stopped = results.get("stopped") or {}
    if not rounds:
        return []
    lines = ["", "## Rounds of networks", ""]
    entries = list(rounds[0]["seeds"])
    lines += ["| round | " + " | ".join(entries) + " | undecided |"]
    lines += ["|---:|" + "---:|" * len(entries) + "---|"]
    for index, round_ in enumerate(rounds, start=1):
        cells = " | ".join(str(round_["seeds"].get(e, "")) for e in entries)
        lines.append(f"| {index} | {cells} | {', '.join(round_['undecided']) or 'none'} |")
    lines += ["", f"The run stopped because {stopped.get('message', 'n/a')}."]
    return lines


def headlines(results: dict) -> list[str]:
    """One line per judged formula (ours, neural-tangents' if installed, each candidate),
    then how the run's rounds ended, whether ``--target-error`` was met, and a sampler
    disagreement if there is one."""
    lines = [model_line(results["model"])] if results.get("model") else []
    lines += [entry["verdict"] for _, _, entry in judged_formulas(results)]
    stopped = results.get("stopped") or {}
    rounds = results.get("rounds") or []
    if stopped.get("reason") not in (None, "fixed seeds"):
        seeds = results.get("seeds_per_width", {})
        counts = sorted(set(seeds.values()))
        spread = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
        lines.append(
            f"networks: {spread} per width in {len(rounds)} round(s); stopped because "
            f"{stopped['message']}"
        )
    target = results.get("target_error")
    if target:
        state = "met" if target["met"] else f"not met ({target['stopped']})"
        lines.append(
            f"target detectable error {_pct(target['target'])}: {state}; achieved "
            f"{_pct(target['achieved'])}"
        )
    overlap = results.get("sampler_agreement")
    if overlap and not all(overlap[k]["agree"] for k in _TITLES):
        lines.append(
            f"warning: the two samplers DISAGREE at width {overlap['width']} ("
            + ", ".join(f"{_TITLES[k]} z = {_num(overlap[k]['z'], '.2f')}" for k in _TITLES)
            + ", cut 3)"
        )
    return lines


def _width_table(kernel: str, entry: dict, candidates: dict, *, title: str = "") -> list[str]:
    names = [name for name, c in candidates.items() if kernel in c]
    header = (
        "| width | mean error | std | bootstrap 95% CI | seed-mean kernel error "
        "| its distance in standard errors (z) |"
    )
    rule = "|---:|---:|---:|---|---:|---:|"
    for name in names:
        header += f" candidate {name}: mean error |"
        rule += "---:|"
    lines = [f"### {title or _TITLES[kernel]}", "", header, rule]
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
    model = results.get("model")
    title = (
        f"# Convergence of finite-width kernels of `{model['spec']}` to candidate formulas"
        if model
        else "# Convergence of finite-width residual MLP kernels to their infinite-width limits"
    )
    lines = [title, ""]
    if command:
        lines += ["```", command, "```", ""]
    lines += ["## Outcomes", ""]
    lines += [f"- {line}" for line in headlines(results)]
    if model:
        lines += _model_section(model)
    nt_state = kernels["nngp"].get("references", {}).get("neural_tangents", {})
    if nt_state.get("installed") is False:
        lines.append(
            "- neural-tangents reference: not installed (add it with `pip install --no-deps "
            "neural-tangents==0.6.5 frozendict==2.5.1`)"
        )
    lines += [
        "",
        "## The formula test",
        "",
        "Each formula `K_ref` is judged on the *scale-free* entries "
        "`(K_∞ − K_ref)_ij / √(K_ii K_jj)` (`K_ii`: the networks' mean diagonal), so an error "
        "at inputs of small norm weighs as much as one at large norms. The seed-mean kernels "
        "`m_n` are fitted as `m_n = K_∞ + A/n + B/n²` over the widths (`B = 0` with two), entry "
        "by entry, which removes the finite-width bias instead of reading it as error. Two "
        "tests share the "
        f"size {_num(_size(results))}: a global one, `z = ‖K_∞ − K_ref‖ / se` against the law "
        "of the noise with its estimated effective rank, and an entry-wise one, the largest "
        "`|z_ij|` against a Bonferroni cut, which sees an error in a single entry, a row or "
        "the diagonal. Either rejecting makes the formula **inconsistent**. Otherwise it is "
        f"**consistent** when its error is below the tolerance {_pct(config['tolerance'])} "
        "with 95% confidence (the interval's upper end), and **inconclusive** when it is not. "
        "The *formula error* is the scale-free relative Frobenius error; the *detectable "
        "error* is the one caught with 95% probability in the noise's worst direction, the "
        "*entry detectable* the smallest single-entry error caught with 95% probability. "
        "Lack of fit: the p-value of that law over the widths (below 1%, extrapolation is "
        "not trusted). The mathematics is in `harness/stats/_formula_test.py`.",
        "",
        _controls_sentence(results.get("control_variates"), custom=bool(model)),
        "",
        "| formula | kernel | outcome | formula error [95% CI] | detectable | entry detectable "
        "| z / cut | entry z / cut | noise rank | df | lack of fit |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [_test_row(name, kernel, entry) for name, kernel, entry in judged_formulas(results)]
    lines += [
        "",
        "### Worst entries",
        "",
        "The entries with the largest standardized deviation, per formula: the scale-free "
        "error `(K_∞ − K_ref)_ij / √(K_ii K_jj)` with its pointwise 95% interval; `z / cut` "
        "above 1 rejects.",
        "",
        "| formula | kernel | entry (i, j) | error [95% CI] | z | z / cut |",
        "|---|---|---|---|---:|---:|",
    ]
    for name, kernel, entry in judged_formulas(results):
        lines += _worst_rows(name, kernel, entry)
    lines += _rounds_section(results)
    samplers = results.get("samplers", {})
    seeds_per_width = results.get("seeds_per_width", {})
    if samplers:
        lines += ["", "## Networks per width", "", "| width | sampler | seeds |", "|---:|---|---:|"]
        lines += [
            f"| {w} | {kind} | {seeds_per_width.get(w, config['seeds'])} |"
            for w, kind in samplers.items()
        ]
        lines += [
            "",
            "`flax`: instantiated networks (the ground truth). `conditional`: the same "
            "networks' kernels sampled exactly by Gaussian conditioning "
            "(`harness/kernels/conditional/`), at a cost that grows like the width "
            "instead of its square.",
        ]
    overlap = results.get("sampler_agreement")
    if overlap:
        lines += [
            "",
            f"Both samplers at width {overlap['width']} (independent networks): "
            + "; ".join(
                f"{_TITLES[k]} seed means differ by {_pct(overlap[k]['relative_difference'])}, "
                f"z = {_num(overlap[k]['z'], '.2f')} "
                f"({'agree' if overlap[k]['agree'] else 'DISAGREE'}: cut 3)"
                for k in ("nngp", "ntk")
            )
            + ".",
        ]
    agreement = results.get("analytic_vs_neural_tangents")
    lines += [""]
    if agreement:
        lines.append(
            "Our analytic kernels against neural-tangents' (maximum entrywise difference "
            f"relative to the largest entry): NNGP {_num(agreement.get('nngp'))}, "
            f"NTK {_num(agreement.get('ntk'))}."
        )
    lines += [
        "",
        "## Diagnostics: slopes",
        "",
        "Fitted `log error = a + p log n` over every network (per-seed slope) and over the "
        "seed-mean kernel's error; 95% confidence intervals from Student's t. Theory: one "
        "network's kernel fluctuates by O(n^-1/2), so p ≈ −1/2; the seed-mean error mixes "
        "fluctuation/√S with the O(1/n) bias, so its slope lies between −1/2 and −1, and it "
        "plateaus for a wrong formula. These are diagnostics; the outcome comes from the "
        "formula test above.",
        "",
        "| reference | kernel | per-seed slope [95% CI] | seed-mean slope [95% CI] |",
        "|---|---|---|---|",
    ]
    lines += [_slope_row(name, kernel, entry) for name, kernel, entry in judged_formulas(results)]
    lines += _correction_section(kernels)
    if model:
        lines += ["", "## Relative Frobenius error per width (against each candidate)", ""]
        for name, candidate in candidates.items():
            for kernel in ("nngp", "ntk"):
                if kernel in candidate:
                    label = f"{_TITLES[kernel]}, candidate `{name}`"
                    lines += _width_table(kernel, candidate[kernel], {}, title=label)
    else:
        lines += ["", "## Relative Frobenius error per width (against our analytic kernels)", ""]
        for kernel in ("nngp", "ntk"):
            lines += _width_table(kernel, kernels[kernel], candidates)
    lines += ["## Figures", ""]
    if not figures:
        lines += [f"Not drawn ({PLOTS_ENV}=off).", ""]
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


def _model_section(model: dict) -> list[str]:
    """What a custom model is, how its kernels were estimated, and what the probe found."""
    parameters = ", ".join(f"{w}: {p}" for w, p in model["parameters"].items())
    if model["readout"] is not None:
        nngp = (
            f"**readout-marginalised** over the submodule `{model['readout']}` (`--readout`): "
            "the readout's own block of the NTK, `(1/K) Σ_k J_r,k J_r,kᵀ`, which is "
            "`E[f_k(x) f_k(x′)]` over the readout's parameters because the outputs are linear "
            "in them and they are i.i.d. N(0, 1) (both checked on drawn networks; "
            "`harness/kernels/_custom_model.py` has the derivation)"
        )
    else:
        nngp = (
            "the outputs' **second moment** `(1/K) Σ_k f_k(x) f_k(x′)` of each network, whose "
            "mean over networks is the NNGP (no `--readout`, so nothing is marginalised and "
            "each network's estimate keeps the readout's noise)"
        )
    return [
        "",
        "## The model",
        "",
        f"`{model['spec']}`, a custom Flax model: network `s` of width `n` is "
        "`factory(n).init(fold_in(PRNGKey(s), n), xs)`, with "
        f"{model['outputs']} output(s) per input. There are no analytic kernels of ours for "
        "it (nor neural-tangents'), so only the candidates are judged. Its NTK is the "
        "Jacobian contraction `(1/K) Σ_k J_k J_kᵀ` over `params`; its NNGP is " + nngp + ".",
        "",
        f"Parameters per width: {parameters}. One network at the widest width needs "
        f"{format_bytes(model['network_bytes'])} (its compiled program's memory analysis). The "
        f"checks before the first network took {model['probe_s']:.1f} s.",
    ]


def _controls_sentence(controls: dict | None, *, custom: bool = False) -> str:
    """What the judged kernels are: with or without control variates, and what they gained."""
    if custom:
        return (
            "The judged kernels are the networks' own: exact control variates "
            "(`harness/kernels/_control.py`) are written for the residual MLP, not for a "
            "custom model (`--no-control-variates` changes nothing here)."
        )
    if controls and not controls.get("available", True):
        return (
            "The judged kernels are the networks' own: exact control variates "
            "(`harness/kernels/_control.py`) exist for the ReLU network with branch scale 1 "
            "only, so this run's noise is not reduced by them."
        )
    if not controls or not controls.get("applied"):
        return (
            "The judged kernels are the networks' own (`--no-control-variates`): each network's "
            "exact mean-zero control variates were not subtracted."
        )
    ratios = controls.get("variance_ratio", {})
    gains = ", ".join(
        f"{kernel.upper()} {ratios[kernel]:.2f}×" for kernel in ("nngp", "ntk") if kernel in ratios
    )
    return (
        "Each network's kernels are judged minus their exact mean-zero control variates "
        "(`harness/kernels/_control.py`: every layer's Gram matrix minus its conditional mean "
        "given the layer before, pushed to the output by the linearised recursion), which "
        "keeps the mean at every width and divides the variance, summed over the scale-free "
        f"entries, by {gains}."
    )


def _correction_section(kernels: dict) -> list[str]:
    """The fitted 1/n coefficient of each kernel: its resolution, the 1/n² check, the diagonal."""
    rows = []
    for kernel in ("nngp", "ntk"):
        correction = kernels[kernel].get("correction")
        if not correction:
            continue
        coefficient = np.asarray(correction["coefficient"])
        se = np.asarray(correction["se"])
        diagonal_z = np.abs(np.diagonal(coefficient)) / np.where(
            np.diagonal(se) > 0, np.diagonal(se), np.inf
        )
        curvature = correction["curvature"]
        if curvature["matters"] is None:
            b_text = "not testable (two widths)"
        else:
            verdict = "**matters**" if curvature["matters"] else "not detected"
            b_text = f"{verdict} (max z {_num(curvature['max_z'])} / cut {_num(curvature['cut'])})"
        rows.append(
            f"| {_TITLES[kernel]} | {_num(float(np.linalg.norm(coefficient)), '.4g')} | "
            f"±{_pct(correction['relative_halfwidth'])} | {b_text} | "
            f"{_num(float(np.max(diagonal_z)))} |"
        )
    if not rows:
        return []
    return [
        "",
        "## The finite-width correction",
        "",
        "The seed-mean kernel is fitted as `m_n = K_∞ + A/n + B/n²` over the widths "
        "(`harness/stats/_correction.py`); `A`, the leading finite-width correction, is kept "
        "in `results.json` (`kernels.<k>.correction`: `coefficient`, per-entry `se` and "
        "pointwise `ci95`). *Resolution*: the 95% half-width of ‖Â − A‖_F relative to ‖Â‖_F. "
        "*1/n² term*: the largest |B̂_ij|/se against a Bonferroni cut at 5%. *Diagonal*: the "
        "largest |Â_ii|/se_ii (for a positively homogeneous activation such as ReLU the "
        "NNGP's diagonal is exact at every width, so its `A_ii` is 0).",
        "",
        "| kernel | ‖Â‖_F | resolution | 1/n² term | diagonal max |z| |",
        "|---|---|---|---|---|",
        *rows,
    ]


def _heatmap_references(candidates: dict, empirical: dict, widest: int) -> tuple[dict, dict]:
    """Per kernel, the first candidate that gives it, else the widest width's seed mean."""
    matrices, titles = {}, {}
    for kernel in _TITLES:
        given = [(n, kernels) for n, (_, kernels) in candidates.items() if kernel in kernels]
        if given:
            name, kernels = given[0]
            matrices[kernel] = kernels[kernel]
            titles[kernel] = f"candidate {name}"
        else:
            matrices[kernel] = empirical[widest][kernel].mean(axis=0)
            titles[kernel] = f"seed mean, n={widest}"
    return matrices, titles


def write_outputs(
    store, results, rows, references, empirical, config, command, writer, candidate_kernels=None
) -> None:
    """``results.json``, ``results.csv``, the figures and ``report.md`` (process 0 writes).

    ``candidate_kernels`` (name → ``(spec, {kernel: matrix})``) are drawn in the heatmaps
    when ``references`` has no analytic kernels (a custom model). The figures are skipped
    when ``HARNESS_PLOTS=off`` (:func:`harness.runs.figures_wanted`), and the report says so.
    """
    store.write_json("results.json", results)
    store.write_text("results.csv", csv_text(CSV_HEADER, rows))
    figures = {}
    if figures_wanted():
        figures = _draw_figures(
            store, results, references, empirical, config, writer, candidate_kernels
        )
    store.write_text("report.md", render_report(results, figures=figures, command=command))


def _draw_figures(
    store, results, references, empirical, config, writer, candidate_kernels
) -> dict[str, str]:
    """Draw every figure into ``store.out``; return ``{title: PNG name}`` for the report."""
    # Matplotlib is imported only when a report is drawn, not with ``import harness``.
    from harness.converge._plots import plot_convergence
    from harness.converge._plots import plot_correction
    from harness.converge._plots import plot_entry_deviations
    from harness.converge._plots import plot_error_distributions
    from harness.converge._plots import plot_heatmaps
    from harness.converge._plots import plot_power

    figures = {}
    plot_convergence(results, store.out, writer=writer)
    figures["Convergence of the relative error with width"] = "convergence.png"
    widths = list(config.widths)
    smallest = {k: empirical[widths[0]]["raw"][k][0] for k in _TITLES}
    largest = {k: empirical[widths[-1]]["raw"][k][0] for k in _TITLES}
    if "analytic" in references:
        plot_heatmaps(references["analytic"], smallest, largest, widths, store.out, writer=writer)
        figures["Kernels: analytic against one network (seed 0)"] = "heatmaps.png"
    else:
        reference, titles = _heatmap_references(candidate_kernels or {}, empirical, widths[-1])
        plot_heatmaps(reference, smallest, largest, widths, store.out, writer=writer, titles=titles)
        figures["Kernels: a candidate against one network (seed 0)"] = "heatmaps.png"
    plot_error_distributions(results, store.out, writer=writer)
    figures["Distribution of per-network errors"] = "error_distributions.png"
    judged = [
        (f"{name}, {_TITLES[kernel]}", entry["formula_test"])
        for name, kernel, entry in judged_formulas(results)
    ]
    if plot_entry_deviations(judged, store.out, writer=writer):
        figures["Standardized deviation of every entry (the entry-wise test)"] = (
            "entry_deviations.png"
        )
    plot_power(results, store.out, writer=writer)
    figures["Detectable formula error against largest width × seeds (95% power)"] = "power.png"
    judged_kernels = {w: {k: kernels[k] for k in _TITLES} for w, kernels in empirical.items()}
    if plot_correction(results, judged_kernels, store.out, writer=writer):
        figures["The finite-width correction: the fitted 1/n coefficient A"] = "correction.png"
    return figures
