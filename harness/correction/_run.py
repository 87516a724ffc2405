r"""Measure the finite-width correction of the NNGP and judge formulas for it.

For widths :math:`n_1 < \dots < n_W` the job draws ``seeds`` instantiated residual
MLPs per width (:func:`harness.kernels.per_seed_kernels`, forward pass only; network
``s`` of width ``n`` from ``fold_in(PRNGKey(s), n)``, all parameters N(0, 1)), takes
each network's readout-marginalised NNGP minus its exact mean-zero control variate
(:mod:`harness.kernels._control`; the same mean, a smaller variance; zero for
networks it is not written for), and keeps per-width sufficient statistics
(:class:`harness.stats.WidthMoments`), stored in chunks so that a rerun resumes.

Then, with the analytic :math:`K_\infty` (:func:`analytic.rmlp_nngp`, exact to
rounding) as the known limit:

* the measured :math:`\hat A` with its 95% intervals, its relative Frobenius
  resolution, the :math:`B/n^2` check and the lack of fit
  (:func:`harness.stats.finite_width_correction`);
* our formula (:func:`analytic.rmlp_nngp_correction`) judged by
  :func:`harness.stats.correction_test`, and every ``--candidate``'s the same way;
* the diagonal of :math:`\hat A` against 0 (the ReLU family's exact diagonal), each
  entry's :math:`|z|` against the Bonferroni cut at 5%.

Networks run in float32 at ``precision`` (``highest``), in groups of
:data:`GROUP` vectorised networks, two chunks at a time on a CPU with two or more
cores (:func:`harness.kernels.chunk_workers`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import scipy

import analytic
from harness.converge._candidates import evaluate_candidate
from harness.converge._candidates import parse_candidates
from harness.correction._config import CorrectionConfig
from harness.kernels import chunk_workers
from harness.kernels import per_seed_kernels
from harness.runs import InMemoryStore
from harness.runs import Progress
from harness.runs import RunStore
from harness.runs import check_float32_range
from harness.runs import check_inputs_array
from harness.runs import environment_stamp
from harness.runs import gaussian_inputs
from harness.runs import load_inputs_file
from harness.stats import WidthMoments
from harness.stats import correction_test
from harness.stats import finite_width_correction
from models import ResidualMLP

__all__ = [
    "DEFAULT_OUT",
    "GROUP",
    "correction_inputs",
    "measure_correction",
    "run_correction",
    "summarize",
]

DEFAULT_OUT = "reports/correction"
#: Networks vectorised together (``jax.vmap``) in one step of the compiled loop.
GROUP = 64
#: Family-wise level of the check that the diagonal of ``A`` is zero.
DIAGONAL_LEVEL = 0.05


def correction_inputs(config: CorrectionConfig, xs=None) -> np.ndarray:
    """The run's inputs (given, from the inputs file, or Gaussian), checked, float64."""
    if xs is not None:
        xs = check_inputs_array(xs)
    elif config.inputs_file is not None:
        xs = load_inputs_file(config.inputs_file)
    else:
        xs = gaussian_inputs(config.n_inputs, config.input_dim, seed=config.input_seed)
    arch = config.architecture
    check_float32_range(xs, **arch.kwargs())
    return xs


def _chunks(config: CorrectionConfig, width: int) -> list[tuple[str, int, int]]:
    """``(unit key, first seed, stop)`` of each stored chunk of one width."""
    out = []
    first, end = config.first_seed, config.first_seed + config.seeds
    for start in range(first, end, config.chunk):
        stop = min(start + config.chunk, end)
        out.append((f"n{width}_s{start}_m{stop - start}", start, stop))
    return out


@functools.partial(jax.jit, static_argnames=("model",))
def _network_group(model: ResidualMLP, keys, xs):
    """``keys (G, GROUP, 2) -> (nngp, control)``, each ``(G, GROUP, N, N)``, for one width."""

    def group(chunk):
        return per_seed_kernels(
            model, chunk, xs, ntk_method=None, seed_loop="vmap", control_variates=True
        )

    return jax.lax.map(group, keys)


def _draw_chunk(model, xs, width: int, start: int, stop: int) -> WidthMoments:
    count = stop - start
    padded = -(-count // GROUP) * GROUP
    seeds = np.arange(start, start + padded, dtype=np.uint32)
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(s), width))(seeds)
    nngp, control = _network_group(model, keys.reshape(padded // GROUP, GROUP, 2), xs)
    kernels = np.asarray(nngp, np.float64) - np.asarray(control, np.float64)
    kernels = kernels.reshape(padded, *kernels.shape[-2:])[:count]
    if not np.all(np.isfinite(kernels)):
        raise FloatingPointError(
            f"width {width}: a network's NNGP is not finite (seeds {start}..{stop - 1})"
        )
    return WidthMoments.of(kernels)


def _measure(config, xs, store, quiet) -> tuple[dict[int, WidthMoments], dict]:
    """Per-width moments, drawing the chunks the store does not hold."""
    plan = {w: _chunks(config, w) for w in config.widths}
    cost = {w: w + 16.0 for w in config.widths}  # a network's time, roughly, in arbitrary units
    total = sum(cost[w] * config.seeds for w in config.widths)
    parts: dict[int, list[WidthMoments]] = {w: [] for w in config.widths}
    timing = {"compile_s": 0.0, "draw_s": 0.0}
    started = time.monotonic()
    with Progress(
        total, label="correction", quiet=quiet, units=config.seeds * len(config.widths)
    ) as progress:
        todo = []
        for width, chunks in plan.items():
            for key, start, stop in chunks:
                stored = store.load(key)
                if stored is not None:
                    parts[width].append(
                        WidthMoments(int(stored["count"]), stored["mean"], stored["scatter"])
                    )
                    progress.skip(cost[width] * (stop - start), count=stop - start)
                else:
                    todo.append((width, key, start, stop))
        inputs = jnp.asarray(xs, jnp.float32)
        programs = {}
        for width in sorted({w for w, *_ in todo}):
            programs[width] = ResidualMLP(
                width=width, precision=config.jax_precision, **config.architecture.kwargs()
            )

        def work(item):
            width, key, start, stop = item
            moments = _draw_chunk(programs[width], inputs, width, start, stop)
            store.save(
                key, count=np.asarray(moments.count), mean=moments.mean, scatter=moments.scatter
            )
            return width, moments, stop - start

        with concurrent.futures.ThreadPoolExecutor(chunk_workers()) as pool:
            for width, moments, count in pool.map(work, todo):
                parts[width].append(moments)
                progress.advance(cost[width] * count, note=f"width {width}", count=count)
    timing["draw_s"] = time.monotonic() - started
    merged = {}
    for width, chunks in parts.items():
        total_moments = chunks[0]
        for more in chunks[1:]:
            total_moments = total_moments.merged(more)
        merged[width] = total_moments
    return merged, timing


def _diagonal_check(correction, expected_zero: bool) -> dict:
    """The diagonal of ``Â`` against 0: the largest ``|z|`` and its Bonferroni cut.

    ``expected_zero``: whether theory says it is 0 (a positively homogeneous activation).
    """
    diag = np.diagonal(correction.coefficient)
    se = np.diagonal(correction.se)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, np.abs(diag) / se, 0.0)
    cut = float(scipy.stats.norm.isf(DIAGONAL_LEVEL / (2 * diag.size)))
    return {
        "max_z": float(z.max()),
        "cut": cut,
        "zero": bool(z.max() <= cut),
        "expected_zero": expected_zero,
    }


def _ours(xs, config) -> tuple[np.ndarray | None, str | None]:
    try:
        return analytic.rmlp_nngp_correction(xs, **config.architecture.kwargs()), None
    except ValueError as error:
        return None, str(error)


def run_correction(
    config: CorrectionConfig | None = None, out: str = DEFAULT_OUT, **kwargs
) -> dict:
    """Measure ``A``, judge our formula and the candidates; write ``out`` (unless in memory).

    Keyword arguments as :func:`measure_correction`, which also returns the tests.
    """
    return measure_correction(config, out, **kwargs)[0]


def measure_correction(
    config: CorrectionConfig | None = None,
    out: str = DEFAULT_OUT,
    *,
    force: bool = False,
    quiet: bool = False,
    command: str | None = None,
    xs=None,
    candidates=None,
    in_memory: bool = False,
) -> tuple[dict, dict]:
    """``(results, tests)``: the results dictionary and the :class:`~harness.stats.FormulaTest`
    of our formula (``"ours"``) and of each candidate (by name), None where not judged.

    Args:
      config: the run (default :class:`CorrectionConfig`).
      out: the output folder (``results.json``, ``report.md``, ``correction.png``,
        ``units/``); rerunning into it resumes.
      xs: inputs to use instead of the config's (an in-memory run).
      candidates: loaded candidates (:class:`harness.converge._candidates.Candidate`)
        instead of the config's specs.
      in_memory: keep nothing on disk (:func:`harness.judge`).

    """
    config = CorrectionConfig() if config is None else config
    begun = time.monotonic()
    xs = correction_inputs(config, xs)
    arch = config.architecture
    limit = analytic.rmlp_nngp(xs, **arch.kwargs())
    ours, ours_problem = _ours(xs, config)
    if candidates is None:
        candidates = parse_candidates(config.candidates)
    formulas = {}
    for candidate in candidates:
        kernels = evaluate_candidate(candidate, xs, arch, single="nngp")
        formulas[candidate.name] = kernels
    if in_memory:
        store = InMemoryStore()
    else:
        store = RunStore(out, config.fingerprint_fields(), kind="correction", force=force)
    try:
        moments, timing = _measure(config, xs, store, quiet)
        results, tests = summarize(config, xs, limit, ours, ours_problem, formulas, moments)
        results["command"] = command
        results["timing"] = timing | {"total_s": time.monotonic() - begun}
        results["environment"] = environment_stamp(precision=config.jax_precision, dtype="float32")
        if not in_memory:
            from harness.correction._report import write_report

            write_report(results, moments, store)
    finally:
        if not in_memory:
            store.close()
    return results, tests


def summarize(config, xs, limit, ours, ours_problem, formulas, moments) -> tuple[dict, dict]:
    """``(results, tests)`` from the per-width moments (no I/O; see :func:`measure_correction`)."""
    correction = finite_width_correction(moments, limit=limit)
    nngp = {"correction": correction.to_json()}
    nngp["correction"]["diagonal"] = _diagonal_check(correction, config.architecture.phi.exact)
    tests = {}
    if ours is not None:
        tests["ours"], text = _judge(moments, ours, limit, config.tolerance)
        nngp["correction"]["ours"] = {"coefficient": ours.tolist(), **text}
        nngp["correction"]["outcome"] = tests["ours"].outcome if tests["ours"] else None
    else:
        tests["ours"] = None
        nngp["correction"]["ours"] = {"coefficient": None, "problem": ours_problem, "test": None}
        nngp["correction"]["outcome"] = None
    candidates = {}
    for name, kernels in formulas.items():
        entry = {}
        for kind, reference in kernels.items():
            if kind == "nngp":
                tests[name], text = _judge(moments, reference, limit, config.tolerance)
                entry["nngp"] = text["test"]
            else:
                entry[kind] = None  # this job measures the NNGP's correction only
        candidates[name] = entry
    results = {
        "kind": "correction",
        "config": config.to_dict(),
        "architecture": config.architecture.kwargs(),
        "inputs": np.asarray(xs).tolist(),
        "limit": np.asarray(limit).tolist(),
        "kernels": {"nngp": nngp, "ntk": None},
        "correction_candidates": candidates,
    }
    return results, tests


def _judge(moments, reference, limit, tolerance):
    """``(test, JSON)`` of a correction formula; the test is None, with why, when it has none."""
    if not np.any(reference):
        return None, {"test": None, "problem": "the formula's correction is zero"}
    try:
        test = correction_test(moments, reference, limit=limit, tolerance=tolerance)
    except ValueError as error:
        return None, {"test": None, "problem": str(error)}
    return test, {"test": test.to_json(), "headline": test.headline("A")}
