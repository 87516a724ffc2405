"""The convergence run: ``run_convergence(config, out)``, the library behind ``harness.converge``.

Steps:

1. Resolve candidates and inputs, and compute every reference kernel (ours,
   neural-tangents', candidates'); any error here is reported before a single
   network is built.
2. Open the output folder as a :class:`~harness.runs._store.RunStore`: a rerun
   of the same config resumes, another config is refused unless ``force``.
3. For each width, compute the missing (width, seed) networks in fixed,
   device-sharded seed batches (:mod:`harness.converge._measure`), storing each
   network's kernels atomically as soon as its batch finishes, and rewrite a
   partial ``results.json`` after each width.
4. Summarise every (kernel, reference) pair (:mod:`harness.converge._summary`)
   and write ``results.json``, ``results.csv``, the figures and ``report.md``.

Everything in ``results.json`` except ``timing`` is a function of the stored
kernels alone, so a resumed run ends with exactly the numbers of an
uninterrupted one. In a multi-process run every process computes its share
and process 0 alone writes (the output folder must be on a shared file system).
"""

from __future__ import annotations

import time

import numpy as np

from harness.converge._candidates import evaluate_candidate
from harness.converge._candidates import parse_candidates
from harness.converge._measure import WidthMeasurement
from harness.converge._measure import measure_batch
from harness.converge._measure import networks_per_device
from harness.converge._measure import seed_batches
from harness.converge._references import analytic_references
from harness.converge._references import neural_tangents_references
from harness.converge._report import render_report
from harness.converge._summary import CSV_HEADER
from harness.converge._summary import csv_rows
from harness.converge._summary import error_curves
from harness.converge._summary import summarize_curve
from harness.runs import Progress
from harness.runs import RunStore
from harness.runs import csv_text
from harness.runs import environment_stamp
from harness.runs import initialize_distributed
from harness.runs import is_writer
from harness.runs import run_inputs
from harness.runs import seed_mesh
from harness.runs import strict_json
from harness.runs import unit_key
from harness.stats import max_relative_difference

__all__ = ["DEFAULT_OUT", "run_convergence"]

#: Output folder when ``--out`` is not given (overwritten by a rerun of the same config).
DEFAULT_OUT = "reports/converge-latest"
KERNELS = ("nngp", "ntk")


def _unit_cost(width: int) -> float:
    """Relative cost of one network (its parameter count, ~ n²), for the ETA."""
    return float(max(width, 64)) ** 2


def _load_width(store: RunStore, width: int, seeds: int) -> dict | None:
    units = [store.load(unit_key(width, seed)) for seed in range(seeds)]
    if any(unit is None for unit in units):
        return None
    return {kernel: np.stack([unit[kernel] for unit in units]) for kernel in KERNELS}


def summarize_run(references: dict, candidate_kernels: dict, empirical: dict) -> tuple:
    """``(results_without_metadata, csv_rows)`` from per-width stacked kernels.

    ``references`` maps ``"analytic"``/``"neural_tangents"`` to ``{nngp, ntk}``;
    ``candidate_kernels`` maps a candidate name to ``(spec, {ntk} or {nngp, ntk})``.
    """
    curves = {}
    kernels = {}
    for kernel in KERNELS:
        curves[("analytic", kernel)] = error_curves(
            empirical, references["analytic"][kernel], kernel
        )
        curves[("neural_tangents", kernel)] = error_curves(
            empirical, references["neural_tangents"][kernel], kernel
        )
        kernels[kernel] = summarize_curve(curves[("analytic", kernel)])
        kernels[kernel]["references"] = {
            "neural_tangents": summarize_curve(curves[("neural_tangents", kernel)])
        }
    candidates = {}
    for name, (spec, provided) in candidate_kernels.items():
        entry = {"spec": spec, "kernels_provided": sorted(provided)}
        for kernel, matrix in provided.items():
            curves[(f"candidate:{name}", kernel)] = error_curves(empirical, matrix, kernel)
            entry[kernel] = summarize_curve(curves[(f"candidate:{name}", kernel)])
        candidates[name] = entry
    return {"kernels": kernels, "candidates": candidates}, csv_rows(curves)


def run_convergence(
    config,
    out=DEFAULT_OUT,
    *,
    force: bool = False,
    quiet: bool = False,
    progress_stream=None,
    command: str | None = None,
    kernels_fn=None,
) -> dict:
    """Run (or resume) the convergence measurement of ``config`` into ``out``; return results.

    Args:
      config: a :class:`~harness.converge._config.ConvergeConfig`.
      out: output folder.
      force: replace a run of another config in ``out``.
      quiet: no progress bar (it is also off when stderr is not a terminal).
      progress_stream: where the progress bar goes (default stderr).
      command: the command line, quoted in the report.
      kernels_fn: replaces ``per_seed_kernels`` (tests).

    Returns:
      The ``results.json`` content as a dict (undefined numbers, such as the
      spread of a single seed, are ``None``).

    Raises:
      UsageError: bad candidates, inputs, or a config mismatch in ``out``.
      NonFiniteKernelError, NonFiniteReferenceError: NaN/Inf, naming width and seed.
      MemoryError: one network per device does not fit; finished networks are kept.
    """
    from models import ResidualMLP

    initialize_distributed()
    start = time.perf_counter()
    writer = is_writer()
    arch = {"num_res_blocks": config.num_res_blocks, "W_std": config.W_std, "b_std": config.b_std}
    candidates = parse_candidates(config.candidates)
    xs = run_inputs(config)
    references = {
        "analytic": analytic_references(xs, **arch),
        "neural_tangents": neural_tangents_references(xs, **arch),
    }
    candidate_kernels = {c.name: (c.spec, evaluate_candidate(c, xs, **arch)) for c in candidates}
    agreement = {
        kernel: max_relative_difference(
            references["analytic"][kernel], references["neural_tangents"][kernel]
        )
        for kernel in KERNELS
    }
    store = RunStore(out, config.to_dict(), kind="converge", force=force, writer=writer)
    mesh = seed_mesh()
    environment = environment_stamp(precision=config.jax_precision, dtype="float32")
    base = {
        "config": config.to_dict(),
        "environment": environment,
        "analytic_vs_neural_tangents": agreement,
    }
    timing = {
        "networks_computed": 0,
        "networks_per_device": {},
        "devices": mesh.size,
        "seconds_per_width": {},
    }
    total = sum(_unit_cost(w) * config.seeds for w in config.widths)
    empirical = {}
    with Progress(total, label="converge", quiet=quiet, stream=progress_stream) as progress:
        for width in config.widths:
            cost = _unit_cost(width)
            width_start = time.perf_counter()
            missing = [s for s in range(config.seeds) if not store.has(unit_key(width, s))]
            progress.skip(cost * (config.seeds - len(missing)))
            if missing:
                per_device = networks_per_device(config, width, mesh.size)
                timing["networks_per_device"][str(width)] = per_device
                model = ResidualMLP(width, config.num_res_blocks, config.W_std, config.b_std)
                measure = WidthMeasurement(
                    model,
                    xs,
                    mesh,
                    ntk_method=config.ntk_method,
                    precision=config.jax_precision,
                    kernels_fn=kernels_fn,
                )

                def done(seed, width=width, cost=cost):
                    timing["networks_computed"] += 1
                    progress.advance(cost, note=f"width {width}, seed {seed}")

                for batch in seed_batches(config.seeds, per_device * mesh.size):
                    if any(seed in missing for seed in batch):
                        measure_batch(measure, store, width, batch, on_unit=done)
                timing["seconds_per_width"][str(width)] = time.perf_counter() - width_start
            loaded = _load_width(store, width, config.seeds)
            if loaded is None:  # a non-writer process cannot read what it did not store
                raise RuntimeError(f"kernels of width {width} are missing from {store.out}")
            empirical[width] = loaded
            partial, _ = summarize_run(references, candidate_kernels, empirical)
            store.write_json("results.json", strict_json({**base, "status": "partial", **partial}))
    results, rows = summarize_run(references, candidate_kernels, empirical)
    timing["wall_s"] = time.perf_counter() - start
    results = strict_json({**base, "status": "complete", **results, "timing": timing})
    _write_outputs(store, results, rows, references, empirical, config, command, writer)
    return results


def _write_outputs(store, results, rows, references, empirical, config, command, writer) -> None:
    # Matplotlib is imported only when a report is written, not with ``import harness``.
    from harness.converge._plots import plot_convergence
    from harness.converge._plots import plot_error_distributions
    from harness.converge._plots import plot_heatmaps

    store.write_json("results.json", results)
    store.write_text("results.csv", csv_text(CSV_HEADER, rows))
    figures = {}
    plot_convergence(results, store.out, writer=writer)
    figures["Convergence of the relative error with width"] = "convergence.png"
    widths = list(config.widths)
    smallest = {k: empirical[widths[0]][k][0] for k in KERNELS}
    largest = {k: empirical[widths[-1]][k][0] for k in KERNELS}
    plot_heatmaps(references["analytic"], smallest, largest, widths, store.out, writer=writer)
    figures["Kernels: analytic against one network (seed 0)"] = "heatmaps.png"
    plot_error_distributions(results, store.out, writer=writer)
    figures["Distribution of per-network errors"] = "error_distributions.png"
    store.write_text("report.md", render_report(results, figures=figures, command=command))
