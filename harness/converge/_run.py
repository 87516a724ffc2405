"""The convergence run: ``run_convergence(config, out)``, the library behind ``harness.converge``.

The plan of a run:

1. Resolve candidates and inputs, and compute every reference kernel (ours,
   neural-tangents' when it is installed, candidates'); any error here is
   reported before a single network is built. A custom model
   (:mod:`harness.converge._model`) has no reference of ours: it is checked
   instead (:func:`~harness.converge._model.probe_model`), and only the
   candidates, called as ``f(xs)``, are judged.
2. Open the output folder as a :class:`~harness.runs.RunStore`: a rerun of the
   same config resumes, another config is refused unless ``force``.
3. Draw the networks of every width (:class:`Measured`): instantiated Flax
   networks in device-sharded seed batches, or conditional samples of their
   kernels, each stored atomically; a partial ``results.json`` after each width.
   With ``sampler="auto"`` the widest Flax width is also sampled conditionally,
   and the two samples are compared (:func:`harness.stats.sample_agreement`).
4. Judge every formula, and add networks in rounds until each is decided, the
   target detectable error is met, or the time budget is spent
   (:mod:`harness.converge._rounds`).
5. Summarise (:mod:`harness.converge._summary`) and write ``results.json``,
   ``results.csv``, the figures and ``report.md`` (:mod:`harness.converge._report`).

``timing`` in ``results.json`` holds the wall time, the seconds per width,
``first_network_s`` (from the process's start, imports included, to the first
network stored; None when every network was on disk), ``compilation`` (seconds
spent tracing, lowering and compiling, per program, and the persistent cache's
hits: :class:`harness.runs.CompileLog`) and ``compilation_cache`` (its folder, or
None when it is off).

Everything in ``results.json`` except ``timing`` (and, when the time budget
stopped the run, how many rounds it reached) is a function of the stored
kernels alone, so a resumed run ends with the numbers of an uninterrupted one.
In a multi-process run every process computes its share of the Flax networks
and process 0 alone writes (the output folder must be on a shared file system);
conditional samples are computed by every process, which is cheap, and written
by process 0.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import NamedTuple

import numpy as np

from harness.converge._ahead import CompileAhead
from harness.converge._candidates import evaluate_candidate
from harness.converge._candidates import parse_candidates
from harness.converge._measure import CONDITIONAL_BATCH
from harness.converge._measure import UNIT_ARRAYS
from harness.converge._measure import WidthMeasurement
from harness.converge._measure import compile_conditional
from harness.converge._measure import measure_batch
from harness.converge._measure import measure_conditional
from harness.converge._measure import networks_per_device
from harness.converge._measure import seed_batches
from harness.converge._model import load_model
from harness.converge._model import probe_model
from harness.converge._references import analytic_references
from harness.converge._references import neural_tangents_references
from harness.converge._report import write_outputs
from harness.converge._rounds import next_round
from harness.converge._summary import csv_rows
from harness.converge._summary import error_curves
from harness.converge._summary import summarize_curve
from harness.kernels import controls_apply
from harness.runs import CompileLog
from harness.runs import Progress
from harness.runs import RunStore
from harness.runs import UsageError
from harness.runs import environment_stamp
from harness.runs import initialize_distributed
from harness.runs import is_writer
from harness.runs import run_inputs
from harness.runs import seed_mesh
from harness.runs import strict_json
from harness.runs import unit_key
from harness.stats import finite_width_correction
from harness.stats import formula_test
from harness.stats import max_relative_difference
from harness.stats import sample_agreement
from models import NOT_INSTALLED_HINT
from models import NeuralTangentsUnavailableError
from models import ResidualMLP
from models import neural_tangents_available

__all__ = [
    "DEFAULT_OUT",
    "NO_REFERENCE",
    "Judged",
    "Prepared",
    "measure_and_judge",
    "prepare",
    "run_convergence",
]

#: Output folder when ``--out`` is not given (overwritten by a rerun of the same config).
DEFAULT_OUT = "reports/converge-latest"
KERNELS = ("nngp", "ntk")
#: What ``kernels.<k>.verdict`` says when there is nothing of ours to judge.
NO_REFERENCE = "no analytic reference for a custom model"


def _unit_cost(width: int, sampler: str) -> float:
    """Relative cost of one network, for the ETA: ~n² instantiated, ~n·N² conditional."""
    if sampler == "conditional":
        return float(max(width, 64)) * 32.0
    return float(max(width, 64)) ** 2


def _load(store: RunStore, sampler: str, width: int, seeds: int, *, controls: bool) -> dict | None:
    """Per-seed stacks ``{nngp, ntk}`` of one width, minus their control variates if
    ``controls``; ``"raw"`` holds the networks' own kernels."""
    units = [store.load(unit_key(width, seed, sampler)) for seed in range(seeds)]
    if any(unit is None for unit in units):
        return None
    raw = {kernel: np.stack([unit[kernel] for unit in units]) for kernel in KERNELS}
    if not controls:
        return {**raw, "raw": raw}
    control = {k: np.stack([unit[f"{k}_control"] for unit in units]) for k in KERNELS}
    return {**{k: raw[k] - control[k] for k in KERNELS}, "raw": raw}


def _correction(empirical: dict, kernel: str) -> dict | None:
    """The fitted 1/n coefficient of the seed-mean kernel (:mod:`harness.stats._correction`)."""
    per_width = {width: kernels[kernel] for width, kernels in empirical.items()}
    if sum(stack.shape[0] >= 2 for stack in per_width.values()) < 2:
        return None
    return finite_width_correction(per_width).to_json()


def summarize_run(
    references: dict, candidate_kernels: dict, empirical: dict, *, tolerance: float
) -> tuple:
    """``(results_without_metadata, csv_rows, judged, tests)`` from per-width stacked kernels.

    ``references`` maps ``"analytic"`` (and ``"neural_tangents"``, when installed)
    to ``{nngp, ntk}``, or is empty for a custom model, whose ``kernels.<k>`` then
    say :data:`NO_REFERENCE` and hold only the fitted correction;
    ``candidate_kernels`` maps a candidate name to
    ``(spec, {ntk} or {nngp, ntk})``. ``judged`` lists ``(label, kernel,
    FormulaTest)`` for every judged formula; ``tests`` maps ``(source, kernel)`` to
    the same tests, ``source`` being ``"analytic"``, ``"neural_tangents"`` or
    ``"candidate:<name>"``.
    """
    curves = {}
    judged = []
    tests = {}

    def judge(name, kernel, matrix, label):
        curves[(name, kernel)] = error_curves(empirical, matrix, kernel)
        per_width = {width: kernels[kernel] for width, kernels in empirical.items()}
        test = formula_test(per_width, matrix, tolerance=tolerance)
        judged.append((label, kernel, test))
        tests[(name, kernel)] = test
        return summarize_curve(curves[(name, kernel)], test, label=label)

    kernels = {}
    for kernel in KERNELS:
        title = kernel.upper()
        if "analytic" not in references:  # a custom model: only candidates are judged
            kernels[kernel] = {"outcome": None, "verdict": NO_REFERENCE}
            kernels[kernel]["correction"] = _correction(empirical, kernel)
            continue
        kernels[kernel] = judge("analytic", kernel, references["analytic"][kernel], title)
        kernels[kernel]["correction"] = _correction(empirical, kernel)
        nt = references.get("neural_tangents")
        kernels[kernel]["references"] = {
            "neural_tangents": (
                judge("neural_tangents", kernel, nt[kernel], f"{title}, neural-tangents")
                if nt is not None
                else {"outcome": None, "verdict": "not installed", "installed": False}
            )
        }
    candidates = {}
    for name, (spec, provided) in candidate_kernels.items():
        entry = {"spec": spec, "kernels_provided": sorted(provided)}
        for kernel, matrix in provided.items():
            label = f"{kernel.upper()}, candidate `{name}`"
            entry[kernel] = judge(f"candidate:{name}", kernel, matrix, label)
        candidates[name] = entry
    return {"kernels": kernels, "candidates": candidates}, csv_rows(curves), judged, tests


def _references(xs, arch, *, quiet: bool) -> tuple[dict, dict | None]:
    """Our analytic kernels, and neural-tangents' when it is installed (else a notice)."""
    references = {"analytic": analytic_references(xs, arch)}
    if not neural_tangents_available():
        if not quiet:
            print(f"converge: neural-tangents reference skipped: {NOT_INSTALLED_HINT}")
        return references, None
    try:
        references["neural_tangents"] = neural_tangents_references(xs, arch)
    except NeuralTangentsUnavailableError as error:
        if not quiet:
            print(f"converge: neural-tangents reference skipped: {error}")
        return references, None
    agreement = {
        kernel: max_relative_difference(
            references["analytic"][kernel], references["neural_tangents"][kernel]
        )
        for kernel in KERNELS
    }
    return references, agreement


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
      out: output folder (made absolute before any candidate code runs).
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
    with CompileLog() as compile_log:
        return _run(config, out, force, quiet, progress_stream, command, kernels_fn, compile_log)


def _run(config, out, force, quiet, progress_stream, command, kernels_fn, compile_log) -> dict:
    """:func:`run_convergence`, with its compilations logged in ``compile_log``."""
    out = os.path.abspath(out)
    initialize_distributed()
    start = time.perf_counter()
    writer = is_writer()
    candidates = parse_candidates(config.candidates)
    xs = run_inputs(config)
    prepared = prepare(config, xs, candidates, quiet=quiet)
    store = RunStore(
        out,
        config.fingerprint(),
        kind="converge",
        force=force,
        writer=writer,
        unit_schema={name: xs.shape[:1] * 2 for name in UNIT_ARRAYS},
    )
    judged = measure_and_judge(
        prepared,
        store,
        start=start,
        quiet=quiet,
        progress_stream=progress_stream,
        kernels_fn=kernels_fn,
        compile_log=compile_log,
    )
    write_outputs(
        store,
        judged.results,
        judged.rows,
        prepared.references,
        judged.empirical,
        config,
        command,
        writer,
        prepared.candidate_kernels,
    )
    return judged.results


class Prepared(NamedTuple):
    """What a run knows before its first network: config, checked inputs, every reference.

    ``references`` maps ``"analytic"`` (and ``"neural_tangents"``) to ``{nngp, ntk}``
    (empty for a custom model); ``agreement`` is their largest relative difference per
    kernel (None without neural-tangents); ``candidate_kernels`` maps a candidate's
    name to ``(spec, kernels)``; ``model`` is a custom model's
    :class:`~harness.converge._model.ModelProbe` (None for the residual MLP).
    """

    config: object
    xs: np.ndarray
    references: dict
    agreement: dict | None
    candidate_kernels: dict
    model: object = None


class Judged(NamedTuple):
    """What :func:`measure_and_judge` returns.

    ``results`` is the content of ``results.json``; ``rows`` the per-seed CSV rows;
    ``empirical`` the per-width kernel stacks; ``tests`` maps ``(label, kernel)`` to
    ``(source, kernel)`` to the :class:`~harness.stats.FormulaTest` of every judged
    formula (``source``: ``"analytic"``, ``"neural_tangents"``, ``"candidate:<name>"``).
    """

    results: dict
    rows: list
    empirical: dict
    tests: dict


def prepare(config, xs: np.ndarray, candidates, *, quiet: bool, model=None) -> Prepared:
    """Compute every reference kernel, and call every candidate, before any network.

    ``xs`` are checked inputs (:func:`harness.runs.run_inputs`); ``candidates`` are
    :class:`~harness.converge._candidates.Candidate` values. Errors here (a candidate
    that breaks its contract, a limit that leaves float64) are usage errors.

    With ``config.model`` set, the custom model (``model``, a loaded
    :class:`~harness.converge._model.CustomModel`, else loaded from the spec) is
    checked by :func:`~harness.converge._model.probe_model`, there are no references,
    and each candidate is called as ``f(xs)``; at least one is needed.
    """
    xs.setflags(write=False)
    if config.model is not None:
        if not candidates:
            raise UsageError(
                "a custom --model has no analytic reference, so only candidates are judged: "
                "give at least one --candidate pkg.module:function (called as f(xs))"
            )
        candidate_kernels = {
            c.name: (c.spec, evaluate_candidate(c, _read_only_copy(xs), None)) for c in candidates
        }
        model = load_model(model if model is not None else config.model, config.readout)
        probe = probe_model(model, xs, config)
        return Prepared(config, xs, {}, None, candidate_kernels, probe)
    arch = config.architecture
    references, agreement = _references(xs, arch, quiet=quiet)
    candidate_kernels = {
        c.name: (c.spec, evaluate_candidate(c, _read_only_copy(xs), arch)) for c in candidates
    }
    return Prepared(config, xs, references, agreement, candidate_kernels)


def measure_and_judge(
    prepared: Prepared,
    store,
    *,
    start: float,
    quiet: bool = True,
    progress_stream=None,
    kernels_fn=None,
    compile_log=None,
) -> Judged:
    """Draw the networks of every width into ``store`` and judge every formula, in rounds.

    ``store`` is a :class:`~harness.runs.RunStore` (a folder) or an
    :class:`~harness.runs.InMemoryStore` (:func:`harness.judge`): the numbers do not
    depend on which. ``start`` is the ``time.perf_counter()`` the budget counts from.
    """
    config, xs = prepared.config, prepared.xs
    references, candidate_kernels = prepared.references, prepared.candidate_kernels
    mesh = seed_mesh()
    environment = environment_stamp(precision=config.jax_precision, dtype="float32")
    base = {
        "config": config.to_dict(),
        "environment": environment,
        "analytic_vs_neural_tangents": prepared.agreement,
        "samplers": {str(w): config.sampler_of(w) for w in config.widths},
    }
    if prepared.model is not None:
        base["model"] = prepared.model.to_json()
    timing = {
        "networks_computed": 0,
        "networks_per_device": {},
        "devices": mesh.size,
        "seconds_per_width": {},
    }
    plan = [(w, config.sampler_of(w)) for w in config.widths]
    if config.overlap_width is not None:
        plan.append((config.overlap_width, "conditional"))
    seeds = {entry: config.seeds for entry in plan}
    measured = Measured(config, xs, store, mesh, timing, kernels_fn, prepared.model)
    # Every width's program compiles in the background from the start (._ahead).
    with CompileAhead(measured.compile_tasks(plan, seeds)) as measured.ahead:
        empirical = {}
        rounds = []
        while True:
            total = sum(_unit_cost(*entry) * seeds[entry] for entry in plan)
            with Progress(
                total,
                label="converge",
                quiet=quiet,
                stream=progress_stream,
                units=sum(seeds.values()),
                done_earlier=timing["networks_computed"],
            ) as progress:
                for width, kind in plan:
                    loaded = measured.width(width, kind, seeds[(width, kind)], progress)
                    if kind == config.sampler_of(width):
                        empirical[width] = loaded
                        partial, _, judged, _ = summarize_run(
                            references, candidate_kernels, empirical, tolerance=config.tolerance
                        )
                        store.write_json(
                            "results.json", strict_json({**base, "status": "partial", **partial})
                        )
            decision = next_round(
                config,
                judged,
                empirical,
                references,
                seeds,
                measured.seconds_per_network(plan),
                elapsed=time.perf_counter() - start,
            )
            rounds.append(
                {
                    "seeds": {f"{w}:{k}": s for (w, k), s in seeds.items()},
                    "undecided": list(decision.undecided),
                    "next": decision.message,
                }
            )
            if decision.seeds is None:
                break
            seeds = decision.seeds
        results, rows, _, tests = summarize_run(
            references, candidate_kernels, empirical, tolerance=config.tolerance
        )
        if config.overlap_width is not None:
            width = config.overlap_width
            conditional = measured.width(width, "conditional", seeds[(width, "conditional")])
            results["sampler_agreement"] = {
                "width": width,
                **{k: sample_agreement(empirical[width][k], conditional[k]) for k in KERNELS},
            }
    results["control_variates"] = _controls_summary(config, empirical, references)
    results["seeds_per_width"] = {str(w): seeds[(w, config.sampler_of(w))] for w in config.widths}
    results["rounds"] = rounds
    results["stopped"] = {"reason": decision.stop, "message": decision.message}
    if config.target_error is not None:
        results["target_error"] = _target_summary(config, results, decision)
    timing["wall_s"] = time.perf_counter() - start
    if compile_log is not None:
        timing |= compile_log.start_up(store.first_saved)
    results = strict_json({**base, "status": "complete", **results, "timing": timing})
    return Judged(results, rows, empirical, tests)


def _controls_summary(config, empirical: dict, references: dict) -> dict:
    """Whether control variates were subtracted, and the variance they removed per kernel:
    the summed per-seed variance of the scale-free entries, raw over judged, pooled over widths.
    A custom model has none."""
    available = config.model is None and controls_apply(config.activation, config.branch_scale)
    summary = {
        "applied": bool(config.control_variates) and available,
        "available": available,
        "variance_ratio": {},
    }
    if not summary["applied"]:
        return summary
    for kernel in KERNELS:
        diagonal = np.abs(np.diagonal(references["analytic"][kernel]))
        scale = np.sqrt(np.outer(diagonal, diagonal))
        scale = np.where(scale > 0, scale, 1.0)
        raw = judged = 0.0
        for kernels in empirical.values():
            if kernels[kernel].shape[0] > 1:
                raw += float(np.sum(np.var(kernels["raw"][kernel] / scale, axis=0, ddof=1)))
                judged += float(np.sum(np.var(kernels[kernel] / scale, axis=0, ddof=1)))
        if judged > 0:
            summary["variance_ratio"][kernel] = raw / judged
    return summary


def _read_only_copy(xs: np.ndarray) -> np.ndarray:
    copy = np.array(xs, dtype=np.float64, copy=True)
    copy.setflags(write=False)
    return copy


class Measured:
    """Loads (computing what is missing) the per-seed kernels of one width and sampler.

    ``probe`` is a custom model's :class:`~harness.converge._model.ModelProbe` (None:
    the residual MLP of the config).
    """

    def __init__(self, config, xs, store, mesh, timing, kernels_fn, probe=None):
        self.config, self.xs, self.store, self.mesh = config, xs, store, mesh
        self.timing, self.kernels_fn, self.probe = timing, kernels_fn, probe
        #: A custom model's measurement per width (compiled once, reused by every round).
        self._custom: dict[int, WidthMeasurement] = {}
        #: Seconds per network measured in this process, the least over rounds (the
        #: first round's includes compilation).
        self.measured_seconds: dict[tuple[int, str], float] = {}
        #: The programs compiling in the background (:meth:`compile_tasks`), if any.
        self.ahead: CompileAhead | None = None

    def _missing(self, width: int, kind: str, seeds: int) -> list[int]:
        return [s for s in range(seeds) if not self.store.has(unit_key(width, s, kind))]

    def _flax_batches(self, width: int, seeds: int) -> tuple[int, list[list[int]]]:
        """Networks per device, and the seed batches, of ``seeds`` Flax networks at ``width``.

        Batches are cut from the config's seed count, so that the first round's batches
        (and numbers) do not depend on later top-ups.
        """
        config = self.config
        sizing = config if seeds == config.seeds else _with_seeds(config, seeds)
        network_bytes = None if self.probe is None else self.probe.network_bytes
        per_device = networks_per_device(sizing, width, self.mesh.size, network_bytes=network_bytes)
        return per_device, seed_batches(seeds, per_device * self.mesh.size)

    def compile_tasks(self, plan, seeds: dict) -> dict:
        """``{(width, kind): compile}`` for every plan entry with networks to compute: each
        compiles the program of the entry's first batch to compute (:mod:`._ahead`)."""
        tasks = {}
        for width, kind in plan:
            missing = set(self._missing(width, kind, seeds[(width, kind)]))
            if not missing:
                continue
            if kind == "conditional":
                batches = seed_batches(seeds[(width, kind)], CONDITIONAL_BATCH)
            else:
                batches = self._flax_batches(width, seeds[(width, kind)])[1]
            batch = next(b for b in batches if missing.intersection(b))
            if kind == "conditional":
                tasks[(width, kind)] = functools.partial(
                    compile_conditional, self.config, self.xs, width, batch
                )
            else:
                tasks[(width, kind)] = functools.partial(self._measurement(width).compile, batch)
        return tasks

    def seconds_per_network(self, plan) -> dict:
        """Seconds per network of every plan entry: measured where this process computed
        some, else the cost model scaled by the measured entries of the same sampler
        (or, with nothing measured, the cost model in arbitrary units, flagged by None)."""
        costs = {}
        for entry in plan:
            if entry in self.measured_seconds:
                costs[entry] = self.measured_seconds[entry]
                continue
            ratios = [
                seconds / _unit_cost(*known)
                for known, seconds in self.measured_seconds.items()
                if known[1] == entry[1]
            ] or [seconds / _unit_cost(*known) for known, seconds in self.measured_seconds.items()]
            costs[entry] = _unit_cost(*entry) * (float(np.median(ratios)) if ratios else math.nan)
        return costs

    def _measurement(self, width: int) -> WidthMeasurement:
        """The batch computation of ``width``: the config's residual MLP, or the custom model."""
        config = self.config
        if self.probe is not None:
            if width not in self._custom:
                self._custom[width] = WidthMeasurement.custom(
                    self.probe.module(width),
                    width,
                    self.xs,
                    self.mesh,
                    readout=self.probe.model.readout,
                    precision=config.jax_precision,
                )
            return self._custom[width]
        model = ResidualMLP(
            width,
            config.num_res_blocks,
            config.W_std,
            config.b_std,
            activation=config.activation,
            branch_scale=config.branch_scale,
        )
        return WidthMeasurement.residual(
            model,
            self.xs,
            self.mesh,
            ntk_method=config.ntk_method,
            precision=config.jax_precision,
            kernels_fn=self.kernels_fn,
        )

    def width(self, width: int, kind: str, seeds: int, progress=None) -> dict:
        """``{"nngp": (S, N, N), "ntk": (S, N, N)}`` of ``seeds`` networks at ``width``."""
        store, config = self.store, self.config
        cost = _unit_cost(width, kind)
        missing = self._missing(width, kind, seeds)
        if missing and self.ahead is not None:
            self.ahead.wait((width, kind))
        if progress is not None:
            done_before = seeds - len(missing)
            progress.skip(cost * done_before, count=done_before)
        width_start = time.perf_counter()

        def done(seed):
            self.timing["networks_computed"] += 1
            if progress is not None:
                progress.advance(cost, note=f"width {width} ({kind}), seed {seed}")

        if missing and kind == "conditional":
            for batch in seed_batches(seeds, CONDITIONAL_BATCH):
                if any(seed in missing for seed in batch):
                    measure_conditional(config, self.xs, store, width, batch, on_unit=done)
        elif missing:
            per_device, batches = self._flax_batches(width, seeds)
            self.timing["networks_per_device"][str(width)] = per_device
            measure = self._measurement(width)
            for batch in batches:
                if any(seed in missing for seed in batch):
                    measure_batch(measure, store, width, batch, on_unit=done)
        if missing:
            key = f"{width}" if kind == config.sampler_of(width) else f"{width}:{kind}"
            seconds = time.perf_counter() - width_start
            self.timing["seconds_per_width"][key] = seconds
            per_network = seconds / len(missing)
            known = self.measured_seconds.get((width, kind), math.inf)
            self.measured_seconds[(width, kind)] = min(known, per_network)
        loaded = _load(store, kind, width, seeds, controls=config.control_variates)
        if loaded is None:  # a non-writer process cannot read what it did not store
            raise RuntimeError(f"kernels of width {width} are missing from {store.out}")
        return loaded


def _with_seeds(config, seeds: int):
    return dataclasses.replace(config, seeds=seeds, target_error=None, max_seeds=max(seeds, 2))


def _target_summary(config, results, decision) -> dict:
    achieved = max(results["kernels"][k]["detectable_error"] or np.inf for k in KERNELS)
    return {
        "target": config.target_error,
        "achieved": achieved,
        "met": bool(achieved <= config.target_error),
        "stopped": decision.message,
        "max_seeds": config.max_seeds,
    }
