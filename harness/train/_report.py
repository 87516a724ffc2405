"""``report.md`` of a training-dynamics run: setup, per-width table, rates, figures, verdicts."""

from __future__ import annotations

from harness.runs import PLOTS_ENV
from harness.train._summary import MEASURES

__all__ = ["render_train_report", "step_cap_warning"]


def _fmt(value, spec=".3g") -> str:
    return "—" if value is None else format(value, spec)


def _entry(results: dict, path: tuple) -> dict:
    node = results
    for key in path:
        node = node[key]
    return node


def step_cap_warning(results: dict) -> str | None:
    """The sentence saying that the automatic ``T`` hit its cap short of the loss target."""
    config, problem = results["config"], results["problem"]
    if not problem["steps_capped"]:
        return None
    reached = problem["expected_loss_ratio"]
    worse = " (no better than the zero function)" if reached >= 1 else ""
    return (
        f"loss target not reached: the automatic T stopped at its cap of {problem['steps']} "
        f"steps, where the expected NTK training loss is {reached:.3g} × ½‖y‖²{worse}, above "
        f"the --loss-ratio {config['loss_ratio']:g} asked; pass --steps to train longer"
    )


def _steps_line(results: dict) -> str:
    config, problem = results["config"], results["problem"]
    line = f"- steps T = {problem['steps']}"
    loss = f"expected NTK training loss {problem['expected_loss_ratio']:.3g} × ½‖y‖²"
    if config["steps"] is not None:
        return f"{line} (given; {loss})"
    if problem["steps_capped"]:
        return f"{line} (auto, stopped at its cap; {loss})\n- **{step_cap_warning(results)}**"
    return f"{line} (auto: {loss}, at most the {config['loss_ratio']:g} asked)"


def render_train_report(results: dict, *, command: str | None = None, figures: bool = True) -> str:
    """The Markdown report (figures are referenced by their PNG file names; with
    ``figures=False`` it says they were not drawn)."""
    config, env, problem = results["config"], results["environment"], results["problem"]
    lines = [
        "# Training dynamics against the NTK prediction",
        "",
        "Finite residual MLPs trained by full-batch gradient descent (`optax.sgd`) compared with",
        "the infinite-width prediction of the same discrete-time GD from the analytic NTK",
        "(started from each network's own initial outputs) and with the trained linearised",
        "network (Jacot et al. 2018; Lee et al. 2019). Theory: kernel drift and both gaps",
        "shrink like n^-1/2 or faster.",
        "",
    ]
    if command:
        lines += ["```", command, "```", ""]
    lines += [
        "## Setup",
        "",
        f"- architecture: {config['num_res_blocks']} residual blocks, W_std = {config['W_std']}, "
        f"b_std = {config['b_std']}, activation {config.get('activation', 'relu')}, branch "
        f"scale {config.get('branch_scale', 1.0)} (NTK parameterization)",
        f"- data: {config['n_train']} training and {config['n_test']} held-out inputs "
        + (
            f"from `{config['inputs_file']}`"
            if config["inputs_file"]
            else f"x ~ N(0, I_{config['input_dim']}) (seed {config['input_seed']})"
        )
        + f"; target `{problem['target']}`",
        f"- loss: {problem['loss']}",
        f"- learning rate η = {problem['learning_rate']:.6g} = {config['lr_fraction']} × "
        f"2/λ_max (λ_max = {problem['ntk_eigenvalue_max']:.6g}, "
        f"λ_min = {problem['ntk_eigenvalue_min']:.6g} of the analytic NTK on the training set)",
        _steps_line(results),
        f"- {config['seeds']} networks per width, empirical NTK by `{config['ntk_method']}`, "
        f"matmul precision `{env['matmul_precision']}`",
        f"- environment: JAX {env['jax']} on {env['device']} ({env['backend']}), "
        f"flax {env['flax']}, optax {env['optax']}",
    ]
    if results.get("wall_seconds") is not None:
        total = config["seeds"] * len(config["widths"])
        lines.append(
            f"- wall time of this invocation: {results['wall_seconds']:.1f} s "
            f"({results['networks_computed_now']} of {total} networks computed now; "
            f"all networks together took {results['network_seconds_total']:.1f} s when computed)"
        )
    lines += ["", "## Rates", "", "| measure | fitted slope | 95% CI |", "|---|---|---|"]
    for _, (path, label) in MEASURES.items():
        entry = _entry(results, path)
        if entry.get("slope") is not None:
            low, high = entry["slope_ci95"]
            lines.append(f"| {label} | {entry['slope']:.3f} | [{low:.3f}, {high:.3f}] |")
    lines += ["", "## Per width (mean ± std over seeds)", ""]
    names = list(MEASURES)
    lines.append("| width | " + " | ".join(MEASURES[n][1] for n in names) + " |")
    lines.append("|---" * (len(names) + 1) + "|")
    widths = results["widths_done"]
    for i, width in enumerate(widths):
        cells = []
        for name in names:
            entry = _entry(results, MEASURES[name][0])
            cells.append(f"{_fmt(entry['mean'][i])} ± {_fmt(entry['std'][i], '.2g')}")
        lines.append(f"| {width} | " + " | ".join(cells) + " |")
    loss = results["final_loss"]
    lines += [
        "",
        "Final training loss (mean over seeds):",
        "",
        "| width | network | linearised | NTK prediction | seconds per network |",
        "|---|---|---|---|---|",
    ]
    for i, width in enumerate(widths):
        lines.append(
            f"| {width} | {loss['network'][i]:.3g} | {loss['linearized'][i]:.3g} | "
            f"{loss['ntk'][i]:.3g} | {results['seconds_per_network']['mean'][i]:.2f} |"
        )
    lines += ["", "## Verdicts", ""] + [f"- {v}" for v in results["verdicts"]]
    if not figures:
        return "\n".join([*lines, "", "## Figures", "", f"Not drawn ({PLOTS_ENV}=off).", ""])
    lines += [
        "",
        "## Figures",
        "",
        "![drift and gaps against width](scaling.png)",
        "",
        "![training loss against the NTK prediction](loss_curves.png)",
        "",
        "![held-out predictions](test_predictions.png)",
        "",
    ]
    return "\n".join(lines)
