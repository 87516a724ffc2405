r"""The formula test's size and power on a custom model (``harness.calibrate --model``).

:func:`harness.stats.formula_test` judges a formula for a user's own Flax model
(``python -m harness.converge --model``) on that model's networks, whose kernels
(:func:`harness.kernels.per_seed_model_kernels`: the Jacobian NTK, and the NNGP
readout-marginalised with ``--readout``, else the outputs' second moment) are not
those of the residual MLP the main study (:mod:`harness.calibrate._study`) samples.
This study measures the rule's calibration on them, given a formula known to be
exact:

* **Truth.** The formula under ``--formula`` is taken as the exact infinite-width
  kernels of ``--model``'s networks. For the worked example,
  :func:`models.examples.two_layer.formula` is the two-layer ReLU network's NNGP and
  NTK in closed form (Neal 1996; Cho & Saul 2009's arc-cosine kernels; Jacot et
  al. 2018), derived in :mod:`models.examples.two_layer`; there the mean of either
  per-network kernel equals it at every width. A formula that is not exact would
  show here as false rejections, so the study calibrates the test only where the
  truth is known.
* **Design.** :data:`SETTINGS`: widths :data:`WIDTHS`, seeds per width :data:`SEEDS`
  and Gaussian inputs :data:`INPUTS` (:func:`harness.runs.gaussian_inputs`, seed
  :data:`INPUT_SEED`), every combination (``--quick``: :data:`QUICK_SETTINGS`). Each
  setting is measured :data:`REPLICATES` times (:data:`QUICK_REPLICATES`), each
  replicate on its own networks: network ``s`` of width ``n`` in replicate ``r`` is
  ``factory(n).init(fold_in(PRNGKey(r·100000 + s), n), xs)`` (replicate 0 holds the
  networks ``python -m harness.converge --model`` draws first), so replicates are
  disjoint. Settings that share inputs share the first networks of each replicate at
  their common widths, and a replicate's NNGP and NTK come from the same networks:
  tests are independent across replicates, not within one. Per replicate the
  per-network kernels are computed once and every formula is judged on them, by
  ``formula_test(per_width, reference, tolerance=0.01)`` for each kernel.
* **Correct formula** (size): the formula itself; each *inconsistent* is false.
* **Wrong formulas of known error** (power): each kernel times :math:`1 + \delta`,
  :math:`\delta \in` :data:`SCALES`. The test's error is
  :math:`\varepsilon = \lVert D\rVert / \lVert K_{\rm ref}\rVert` on the entries
  divided by :math:`s_i s_j` (:mod:`harness.stats._formula_test`), with
  :math:`D = K_\infty - K_{\rm ref}`. For :math:`K_{\rm ref} = (1+\delta) K_\infty`,
  :math:`D = -\delta K_\infty = -\frac{\delta}{1+\delta} K_{\rm ref}` entry by entry,
  so whatever the scales :math:`s_i` and the entries' weights,
  :math:`\varepsilon = |\delta|/(1+\delta)` exactly: the *true error*. Divided by the
  detectable error that run reported, it bins the power.

The report gives the false-inconsistent count with its Clopper–Pearson interval, the
coverage of the 95% interval on the true error, the flagged rate per bin of
true/detectable error (:func:`harness.calibrate._summary.record_summary`), and both
per setting and per wrong formula.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from harness.calibrate._summary import clopper_pearson
from harness.calibrate._summary import record_markdown
from harness.calibrate._summary import record_summary
from harness.calibrate._summary import write_study
from harness.converge import ConvergeConfig
from harness.converge._candidates import Candidate
from harness.converge._candidates import callable_spec
from harness.converge._candidates import evaluate_candidate
from harness.converge._candidates import import_spec
from harness.converge._model import load_model
from harness.converge._model import network_key
from harness.converge._model import probe_model
from harness.kernels import per_seed_model_kernels
from harness.runs import UsageError
from harness.runs import gaussian_inputs
from harness.stats import formula_test

__all__ = [
    "EXAMPLE_FORMULA",
    "EXAMPLE_MODEL",
    "EXAMPLE_READOUT",
    "QUICK_SETTINGS",
    "SCALES",
    "SETTINGS",
    "Setting",
    "run_model_calibration",
]

#: The worked example (:mod:`models.examples.two_layer`): the defaults.
EXAMPLE_MODEL = "models.examples.two_layer:factory"
EXAMPLE_FORMULA = "models.examples.two_layer:formula"
EXAMPLE_READOUT = "readout"
#: The correct formula's name in the records.
CORRECT = "exact"
#: The test's tolerance: consistent means error below 1% with 95% confidence.
TOLERANCE = 0.01
#: Width sets, seeds per width and input shapes ``(N, d)`` of the design.
WIDTHS = ((128, 512), (128, 256, 512, 1024))
SEEDS = (16, 64)
INPUTS = ((4, 3), (8, 5))
#: NumPy seed of the Gaussian inputs.
INPUT_SEED = 1
#: Replicate ``r``'s networks are seeds ``r·REPLICATE_STRIDE + s``.
REPLICATE_STRIDE = 100_000
REPLICATES = 32
QUICK_REPLICATES = 4
#: Relative scale errors δ of the wrong formulas ``K(1 + δ)``.
SCALES = (-0.5, -0.2, -0.1, -0.05, -0.02, 0.02, 0.05, 0.1, 0.2, 0.5)
#: Networks per compiled batch: one program per width and input shape serves every setting.
CHUNK = 16


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: its ``widths``, ``seeds`` per width, and ``n_inputs × input_dim`` inputs."""

    name: str
    widths: tuple[int, ...]
    seeds: int
    n_inputs: int
    input_dim: int

    def inputs(self) -> np.ndarray:
        """The Gaussian inputs, float64 ``(n_inputs, input_dim)``."""
        return gaussian_inputs(self.n_inputs, self.input_dim, seed=INPUT_SEED)


SETTINGS = tuple(
    Setting(f"w{len(widths)}-s{seeds}-x{n}", widths, seeds, n, d)
    for (n, d), widths, seeds in itertools.product(INPUTS, WIDTHS, SEEDS)
)
QUICK_SETTINGS = (Setting("w2-s16-x4", WIDTHS[0], SEEDS[0], *INPUTS[0]),)


def wrong_scale(delta: float) -> str:
    """The wrong formula ``K(1 + δ)``'s name."""
    return f"scaled {delta:+g}"


def true_error(delta: float) -> float:
    """The scale-free relative error of ``K(1 + δ)`` against ``K`` (module docstring)."""
    return abs(delta) / (1.0 + delta)


def _load_formula(formula) -> Candidate:
    """``"pkg.module:function"`` or a callable ``f(xs)`` as a candidate."""
    if isinstance(formula, str):
        spec = formula.strip()
        function = import_spec(spec, "--formula", "'pkg.module:function'")
    elif callable(formula):
        function, spec = formula, callable_spec(formula)
    else:
        raise UsageError(f"--formula: {formula!r} is not 'pkg.module:function' or a function")
    return Candidate(spec.partition(":")[2].split(".")[-1], spec, function)


def _reference(candidate: Candidate, xs: np.ndarray) -> dict[str, np.ndarray]:
    """The formula's kernels at ``xs`` (``{"ntk"}`` or ``{"nngp", "ntk"}``), checked."""
    try:
        return evaluate_candidate(candidate, xs, None)
    except UsageError as error:
        message = str(error)
        if message.startswith("--candidate "):
            message = "--formula " + message.removeprefix("--candidate ")
        raise UsageError(message) from None


class _Networks:
    """Per-network kernels of one model: a compiled batch of :data:`CHUNK` per width."""

    def __init__(self, probe, readout: str | None):
        self.probe, self.readout = probe, readout
        self._programs = {}
        self._keys = jax.jit(jax.vmap(network_key, in_axes=(0, None)), static_argnums=1)

    def _program(self, width: int):
        if width not in self._programs:
            module = self.probe.module(width)
            self._programs[width] = jax.jit(
                functools.partial(per_seed_model_kernels, module, readout=self.readout)
            )
        return self._programs[width]

    def kernels(self, width: int, seeds: np.ndarray, xs) -> dict[str, np.ndarray]:
        """``{"nngp", "ntk"}``, float64 ``(len(seeds), N, N)``, of networks ``seeds``."""
        parts = {"nngp": [], "ntk": []}
        for start in range(0, len(seeds), CHUNK):
            chunk = np.asarray(seeds[start : start + CHUNK], np.int32)
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], CHUNK - len(chunk))])
            nngp, ntk, _, _ = self._program(width)(self._keys(jnp.asarray(padded), width), xs)
            parts["nngp"].append(np.asarray(nngp, np.float64)[: len(chunk)])
            parts["ntk"].append(np.asarray(ntk, np.float64)[: len(chunk)])
        return {kernel: np.concatenate(blocks) for kernel, blocks in parts.items()}


def _probe(model, xs: np.ndarray, settings):
    """:func:`~harness.converge._model.probe_model` over every width and seed count at ``xs``."""
    config = ConvergeConfig(
        widths=sorted({w for s in settings for w in s.widths}),
        seeds=max(s.seeds for s in settings),
        n_inputs=xs.shape[0],
        input_dim=xs.shape[1],
        candidates=(),
        sampler="flax",
        model=model.spec,
        readout=model.readout,
    )
    return probe_model(model, xs, config)


def _record(setting, replicate, kernel, formula, error, test) -> dict:
    return {
        "setting": setting.name,
        "replicate": replicate,
        "kernel": kernel,
        "formula": formula,
        "true_error": error,
        "outcome": test.outcome,
        "formula_error": test.formula_error,
        "ci95": list(test.formula_error_ci95),
        "detectable_error": test.detectable_error,
    }


def judge_setting(networks, setting, reference, replicates, scales) -> list[dict]:
    """Every replicate of ``setting``: the correct and the wrong formulas on its networks."""
    xs = jnp.asarray(setting.inputs(), jnp.float32)
    records = []
    for replicate in range(replicates):
        seeds = replicate * REPLICATE_STRIDE + np.arange(setting.seeds)
        per_width = {w: networks.kernels(w, seeds, xs) for w in setting.widths}
        for kernel, truth in reference.items():
            data = {w: per_width[w][kernel] for w in setting.widths}
            test = formula_test(data, truth, tolerance=TOLERANCE)
            records.append(_record(setting, replicate, kernel, CORRECT, 0.0, test))
            for delta in scales:
                test = formula_test(data, truth * (1.0 + delta), tolerance=TOLERANCE)
                name = wrong_scale(delta)
                records.append(_record(setting, replicate, kernel, name, true_error(delta), test))
    return records


def run_model_calibration(
    out,
    *,
    model=EXAMPLE_MODEL,
    formula=EXAMPLE_FORMULA,
    readout: str | None = EXAMPLE_READOUT,
    quick: bool = False,
    settings=None,
    replicates: int | None = None,
    scales=SCALES,
    log=print,
) -> dict:
    """Run the study, write ``out/report.md`` and ``out/results.json``; return the summary.

    Args:
      out: the output folder.
      model: ``"pkg.module:factory"`` or a ``factory(width)``.
      formula: ``"pkg.module:function"`` or a function ``f(xs)`` returning the exact
        ``(nngp, ntk)`` (or the NTK alone) of ``model``'s networks.
      readout: the readout submodule (``--readout``); ``None``: second-moment NNGP.
      quick: :data:`QUICK_SETTINGS` and :data:`QUICK_REPLICATES` replicates.
      settings, replicates, scales: override the design (tests).
      log: a callable for one line per setting, or ``None``.

    Raises:
      UsageError: the model or the formula breaks its contract
        (:func:`harness.converge._model.probe_model`,
        :func:`harness.converge._candidates.evaluate_candidate`).
    """
    settings = tuple(settings or (QUICK_SETTINGS if quick else SETTINGS))
    replicates = replicates or (QUICK_REPLICATES if quick else REPLICATES)
    begun = time.monotonic()
    loaded = load_model(model, readout)
    candidate = _load_formula(formula)
    by_inputs = {}
    for setting in settings:
        by_inputs.setdefault((setting.n_inputs, setting.input_dim), []).append(setting)
    references = {
        shape: _reference(candidate, group[0].inputs()) for shape, group in by_inputs.items()
    }
    records = []
    for shape, group in by_inputs.items():
        networks = _Networks(_probe(loaded, group[0].inputs(), group), loaded.readout)
        for setting in group:
            started = time.monotonic()
            records += judge_setting(networks, setting, references[shape], replicates, scales)
            if log:
                log(
                    f"{setting.name}: {replicates} replicates of {setting.seeds} networks per "
                    f"width at widths {', '.join(map(str, setting.widths))} on "
                    f"{setting.n_inputs}×{setting.input_dim} inputs in "
                    f"{time.monotonic() - started:.0f} s"
                )
    summary = record_summary(records, correct=CORRECT)
    summary |= {
        "by_setting": _setting_table(records, settings),
        "by_formula": _formula_table(records, scales),
        "model": loaded.spec,
        "formula": candidate.spec,
        "readout": loaded.readout,
        "kernels": sorted({r["kernel"] for r in records}),
        "settings": [dataclasses.asdict(s) for s in settings],
        "replicates": replicates,
        "input_seed": INPUT_SEED,
        "tolerance": TOLERANCE,
        "minutes": (time.monotonic() - begun) / 60,
    }
    write_study(out, summary, records, _markdown(summary))
    return summary


def _ratio(record: dict) -> float:
    return record["true_error"] / record["detectable_error"]


def _setting_table(records: list[dict], settings) -> list[dict]:
    """Per setting and kernel: false inconsistent, consistent, median detectable error,
    power from true/detectable ratio 1 on."""
    rows = []
    for setting in settings:
        for kernel in sorted({r["kernel"] for r in records}):
            mine = [r for r in records if (r["setting"], r["kernel"]) == (setting.name, kernel)]
            correct = [r for r in mine if r["formula"] == CORRECT]
            above = [r for r in mine if r["formula"] != CORRECT and _ratio(r) >= 1.0]
            rows.append(
                {
                    "setting": setting.name,
                    "kernel": kernel,
                    "tests": len(correct),
                    "false_inconsistent": sum(r["outcome"] == "inconsistent" for r in correct),
                    "consistent": sum(r["outcome"] == "consistent" for r in correct),
                    "median_detectable_error": float(
                        np.median([r["detectable_error"] for r in correct])
                    ),
                    "tests_ratio_at_least_1": len(above),
                    "flagged_ratio_at_least_1": sum(r["outcome"] == "inconsistent" for r in above),
                }
            )
    return rows


def _formula_table(records: list[dict], scales) -> list[dict]:
    """Per wrong formula: its true error, the flagged rate with its Clopper–Pearson
    interval, the interval's coverage and the median true/detectable ratio."""
    rows = []
    for delta in scales:
        mine = [r for r in records if r["formula"] == wrong_scale(delta)]
        flagged = sum(r["outcome"] == "inconsistent" for r in mine)
        rows.append(
            {
                "formula": wrong_scale(delta),
                "true_error": true_error(delta),
                "tests": len(mine),
                "flagged": flagged,
                "flagged_ci95": list(clopper_pearson(flagged, len(mine))),
                "covered": sum(
                    r["ci95"][0] <= r["true_error"] <= (r["ci95"][1] or math.inf) for r in mine
                ),
                "median_ratio": float(np.median([_ratio(r) for r in mine])),
            }
        )
    return rows


def _markdown(summary: dict) -> str:
    settings = summary["settings"]
    readout = summary["readout"]
    nngp = f"readout-marginalised NNGP, `--readout {readout}`" if readout else "second-moment NNGP"
    command = f"--model {summary['model']} --formula {summary['formula']}"
    command += f" --readout {readout}" if readout else ""
    lines = [
        "# Calibration of the formula test on a custom model",
        "",
        f"`python -m harness.calibrate {command}`: `harness.stats.formula_test` (tolerance "
        f"{summary['tolerance']:.0%}) on the networks of `{summary['model']}` ({nngp}), "
        f"with `{summary['formula']}` as their exact kernels ({', '.join(summary['kernels'])}); "
        f"{len(settings)} settings × {summary['replicates']} independent replicates, each on "
        "its own networks (method: `harness/calibrate/_custom_model.py`).",
        "",
        *record_markdown(
            summary,
            correct=f"the exact formula (`{summary['formula']}`)",
            tolerance=summary["tolerance"],
        ),
        "",
        "## Wrong formulas: each kernel times 1 + δ (true error |δ|/(1+δ))",
        "",
        "| formula | true error | tests | flagged inconsistent (95% CI) | interval covered "
        "| median true/detectable |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["by_formula"]:
        lo, hi = row["flagged_ci95"]
        lines.append(
            f"| {row['formula']} | {row['true_error']:.4f} | {row['tests']} | "
            f"{row['flagged']}/{row['tests']} [{lo:.2f}, {hi:.2f}] | "
            f"{row['covered']}/{row['tests']} | {row['median_ratio']:.2f} |"
        )
    lines += [
        "",
        "## Settings",
        "",
        f"Gaussian inputs (`gaussian_inputs(N, d, seed={summary['input_seed']})`); network s of "
        f"width n in replicate r is `fold_in(PRNGKey(r·{REPLICATE_STRIDE} + s), n)`.",
        "",
        "| setting | widths | seeds per width | inputs | kernel | false inconsistent | "
        "consistent | median detectable error | flagged at true/detectable ≥ 1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    by_name = {s["name"]: s for s in settings}
    for row in summary["by_setting"]:
        s = by_name[row["setting"]]
        lines.append(
            f"| {s['name']} | {', '.join(map(str, s['widths']))} | {s['seeds']} | "
            f"{s['n_inputs']}×{s['input_dim']} | {row['kernel']} | "
            f"{row['false_inconsistent']}/{row['tests']} | {row['consistent']}/{row['tests']} | "
            f"{row['median_detectable_error']:.3f} | "
            f"{row['flagged_ratio_at_least_1']}/{row['tests_ratio_at_least_1']} |"
        )
    lines += ["", f"Ran in {summary['minutes']:.1f} min.", ""]
    return "\n".join(lines)
