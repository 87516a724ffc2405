"""The training-dynamics run loop: widths × seeds, resumable, with progress and outputs.

:func:`run_training` is what ``python -m harness.train`` calls (tests and notebooks call it
directly). For each width and seed it runs :func:`harness.train._network.train_one_network`
and stores the unit atomically in ``out/units/w<width>_s<seed>.npz``
(:class:`harness.runs.RunStore`): outputs at the recorded steps of the network, its
linearisation and the NTK prediction, and the empirical NTK at the start and the end.
``results.json`` is rewritten after every finished width; at the end come ``results.csv``,
the figures and ``report.md``. Rerunning the same command resumes; a different config in the
same ``out`` is refused unless ``force``. The problem (inputs, analytic kernels, ``η``, ``T``)
is built and checked before the folder is opened, so a refused config leaves no trace there.
``results.json`` also says how long the first network took from the process's start
(``first_network_s``) and what was compiled (``compilation``, ``compilation_cache``; see
:class:`harness.runs.CompileLog`).
"""

from __future__ import annotations

import os
import time

from harness.runs import CompileLog
from harness.runs import Progress
from harness.runs import RunStore
from harness.runs import csv_text
from harness.runs import environment_stamp
from harness.runs import figures_wanted
from harness.runs import strict_json
from harness.runs import unit_key
from harness.train._network import train_one_network
from harness.train._problem import build_problem
from harness.train._report import render_train_report
from harness.train._summary import csv_rows
from harness.train._summary import summarize_training

__all__ = ["DEFAULT_TRAIN_OUT", "NonFiniteTrainingError", "run_training"]

DEFAULT_TRAIN_OUT = "reports/train-latest"


class NonFiniteTrainingError(RuntimeError):
    """NaN or Inf in a network's outputs or kernels (the message names width and seed)."""


def run_training(
    config,
    out=DEFAULT_TRAIN_OUT,
    *,
    force: bool = False,
    quiet: bool = False,
    progress_stream=None,
    command: str | None = None,
) -> dict:
    """Run (or resume) the training-dynamics measurement of ``config`` into ``out``.

    Args:
      config: a :class:`~harness.train._config.TrainConfig`.
      out: output folder (made absolute before anything else runs, so that code which
        changes the working folder cannot move it).
      force: replace a run of another config in ``out``.
      quiet: no progress bar (it is also off when the stream is not a terminal).
      progress_stream: where the progress bar goes (default stderr).
      command: the command line, quoted in the report.

    Returns:
      The ``results.json`` content as a dict.

    Raises:
      UsageError: bad inputs file or a config mismatch in ``out``.
      NonFiniteTrainingError: NaN/Inf, naming the width and seed (finished units are kept).
    """
    with CompileLog() as compile_log:
        return _run(config, out, force, quiet, progress_stream, command, compile_log)


def _run(config, out, force, quiet, progress_stream, command, compile_log) -> dict:
    """:func:`run_training`, with its compilations logged in ``compile_log``."""
    out = os.path.abspath(out)
    start = time.perf_counter()
    problem = build_problem(config)  # every check of the inputs, before the folder is touched
    store = RunStore(out, config.identity(), kind="train", force=force)
    environment = environment_stamp(precision=config.jax_precision, dtype="float32")
    units: dict = {}
    # A step costs about n² per input, plus a width-independent overhead (compilation).
    costs = {w: (w / config.widths[-1]) ** 2 + 0.05 for w in config.widths}
    total = sum(costs[w] * config.seeds for w in config.widths)
    computed = 0
    units_total = len(config.widths) * config.seeds
    with Progress(
        total, label="train", quiet=quiet, stream=progress_stream, units=units_total
    ) as progress:
        for width in config.widths:
            for seed in range(config.seeds):
                key = unit_key(width, seed)
                arrays = store.load(key)
                if arrays is not None:
                    progress.skip(costs[width], count=1)
                else:
                    try:
                        arrays = train_one_network(config, problem, width, seed)
                    except FloatingPointError as error:
                        raise NonFiniteTrainingError(str(error)) from None
                    store.save(key, **arrays)
                    computed += 1
                    progress.advance(costs[width], note=f"width {width}, seed {seed}")
                units[(width, seed)] = arrays
            partial = summarize_training(config, problem, units, environment=environment)
            store.write_json("results.json", strict_json({**partial, "status": "partial"}))
    results = summarize_training(config, problem, units, environment=environment)
    results["status"] = "complete"
    results["networks_computed_now"] = computed
    results["network_seconds_total"] = float(sum(float(a["seconds"]) for a in units.values()))
    results["wall_seconds"] = time.perf_counter() - start
    results |= compile_log.start_up(store.first_saved)
    store.write_json("results.json", strict_json(results))
    store.write_text("results.csv", csv_text(*csv_rows(problem, units)))
    if figures_wanted():
        _draw_figures(config, problem, units, results, store.out)
    store.write_text(
        "report.md", render_train_report(results, command=command, figures=figures_wanted())
    )
    return results


def _draw_figures(config, problem, units, results, folder) -> None:
    """The loss curves, the held-out predictions and (from two widths) the scaling plot."""
    # Matplotlib is imported only when a report is drawn, not with ``import harness``.
    from harness.train._plots import plot_loss_curves
    from harness.train._plots import plot_scaling
    from harness.train._plots import plot_test_predictions

    widths = list(config.widths)
    plot_loss_curves(config, problem, units, widths, folder)
    plot_test_predictions(config, problem, units, widths, folder)
    if len(widths) >= 2:
        plot_scaling(results, folder)
