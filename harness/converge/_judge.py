r"""``harness.judge``: a calibrated verdict on a kernel formula, in memory, from a notebook.

::

    import harness

    def my_ntk(xs, arch):            # arch.num_res_blocks, .W_std, .b_std, .activation, ...
        ...
        return nngp, ntk             # or {"nngp": ..., "ntk": ...}, or the NTK alone

    verdict = harness.judge(my_ntk, widths="128..8192", W_std=1.5, b_std=0.5)
    verdict.ntk                     # NTK, candidate `my_ntk`: consistent — formula error < …
    verdict.ntk.formula_error_ci95  # its 95% interval
    verdict.ntk.test                # the whole harness.stats.FormulaTest

It is the convergence run of ``python -m harness.converge`` with the formula as its
only candidate, drawn into an :class:`~harness.runs.InMemoryStore` instead of a
folder: the same config, the same width-keyed seeds (network ``s`` of width ``n``
from ``fold_in(PRNGKey(s), n)``), the same statistics and the same rounds, so for
the same settings it gives the same numbers as the command line
(:func:`harness.converge.run_convergence` is this core, plus a resumable folder and
the report). Nothing is written and nothing is printed (unless ``quiet=False``).

Options are :class:`~harness.converge.ConvergeConfig`'s fields, by the same names:
the architecture (``num_res_blocks``, ``W_std``, ``b_std``, ``activation``,
``branch_scale``) and the statistics and sampling (``tolerance``, ``target_error``,
``sampler``, ``flax_max_width``, ``max_seeds``, ``budget``, ``control_variates``,
``ntk_method``, ``precision``, ``n_inputs``, ``input_dim``, ``input_seed``). As on
the command line, ``seeds=None`` starts with 48 networks per width and adds rounds
until every formula is decided (or the budget is spent); a given ``seeds`` is used
as it is.

A custom Flax model (``--model`` on the command line, :mod:`harness.converge._model`)::

    def factory(width):            # a flax.linen.Module: (N, d) -> (N,) or (N, K)
        ...

    def my_kernels(xs):            # called with the inputs alone
        return nngp, ntk

    verdict = harness.judge(my_kernels, model=factory, readout="readout", widths="128..2048")

``model`` is a ``factory(width)`` or its ``"pkg.module:factory"`` spelling, ``readout``
the readout submodule whose parameters the NNGP estimate marginalises (None: the
outputs' second moment). There is no analytic reference then: ``Judgement.analytic``
is empty, and the formula is required.

A formula for the ``O(1/n)`` correction (``python -m harness.correction``)::

    def my_correction(xs, arch):   # A in E K̂_n = K_∞ + A/n + O(1/n²), for the NNGP
        ...

    verdict = harness.judge(correction=my_correction, seeds=2**17)
    verdict.nngp                   # NNGP correction, candidate `my_correction`: …
    verdict.analytic["nngp"]       # our formula (analytic.rmlp_nngp_correction) on the same run

It is the correction run in memory (:func:`harness.correction.run_correction`): options
are :class:`~harness.correction.CorrectionConfig`'s fields (widths default to 8..64,
``seeds=None`` to its ``2**18`` networks per width).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from harness.converge._candidates import callable_candidate
from harness.converge._config import ConvergeConfig
from harness.converge._model import load_model
from harness.converge._report import headlines
from harness.converge._run import KERNELS
from harness.converge._run import measure_and_judge
from harness.converge._run import prepare
from harness.correction import CorrectionConfig
from harness.runs import CompileLog
from harness.runs import InMemoryStore
from harness.runs import UsageError
from harness.runs import check_inputs_array
from harness.runs import inputs_sha256
from harness.runs import parse_widths
from harness.runs import run_inputs
from harness.stats import FormulaTest

__all__ = ["Judgement", "Verdict", "judge"]

#: Config fields ``judge`` sets itself (the rest are options by their own names).
_OWN = (
    "widths",
    "seeds",
    "adaptive",
    "candidates",
    "inputs_file",
    "inputs_sha256",
    "model",
    "readout",
)
_OPTIONS = tuple(f.name for f in dataclasses.fields(ConvergeConfig) if f.name not in _OWN)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The calibrated verdict on one kernel of a formula; its ``repr`` is the headline.

    Attributes:
      label: what was judged, e.g. ``"NTK, candidate `my_ntk`"``.
      test: the whole :class:`~harness.stats.FormulaTest`.
    """

    label: str
    test: FormulaTest

    @property
    def outcome(self) -> str:
        """``"consistent"``, ``"inconsistent"`` or ``"inconclusive"``."""
        return self.test.outcome

    @property
    def formula_error(self) -> float:
        """Point estimate of the formula's scale-free relative error."""
        return self.test.formula_error

    @property
    def formula_error_ci95(self) -> tuple[float, float]:
        """Its 95% interval."""
        return self.test.formula_error_ci95

    @property
    def detectable_error(self) -> float:
        """The error these networks would catch (power 0.8, worst direction)."""
        return self.test.detectable_error

    def __repr__(self) -> str:
        return self.test.headline(self.label)


@dataclasses.dataclass(frozen=True)
class Judgement:
    """What :func:`judge` returns.

    Attributes:
      nngp, ntk: the formula's :class:`Verdict` per kernel (``nngp`` is None for a
        formula that gives the NTK alone). Without a formula, our analytic kernels'.
      analytic: our analytic kernels' verdicts, ``{"nngp": Verdict, "ntk": Verdict}``:
        the same networks judging the known limit, a control on the run (empty for a
        custom model, which has none).
      results: everything ``results.json`` would hold for the same settings.
    """

    nngp: Verdict | None
    ntk: Verdict | None
    analytic: dict
    results: dict

    def __repr__(self) -> str:
        if self.results.get("kind") == "correction":
            from harness.correction._report import headlines as correction_headlines

            return "\n".join(correction_headlines(self.results))
        return "\n".join(headlines(self.results))


def _config(widths, seeds, inputs, options: dict, model=None) -> ConvergeConfig:
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise UsageError(
            f"judge: unknown option(s) {', '.join(unknown)}; options are {', '.join(_OPTIONS)}"
        )
    if isinstance(widths, str):
        widths = parse_widths(widths)
    elif widths is not None:
        try:
            widths = tuple(int(w) for w in widths)
        except (TypeError, ValueError):
            raise UsageError(
                f"judge: widths must be integers or '128..8192', got {widths!r}"
            ) from None
    fields = dict(options)
    if widths is not None:
        fields["widths"] = widths
    defaults = ConvergeConfig()
    fields["seeds"] = defaults.seeds if seeds is None else seeds
    fields["adaptive"] = seeds is None and options.get("target_error") is None
    fields["candidates"] = ()
    if model is not None:
        fields |= {"model": model.spec, "readout": model.readout}
    if inputs is not None:
        fields |= {
            "n_inputs": inputs.shape[0],
            "input_dim": inputs.shape[1],
            "inputs_sha256": inputs_sha256(inputs),
        }
    try:
        return ConvergeConfig(**fields)
    except TypeError as error:  # a value of the wrong type deep in validation
        raise UsageError(f"judge: {error}") from None


def judge(
    formula=None,
    *,
    inputs=None,
    widths=None,
    seeds: int | None = None,
    model=None,
    readout: str | None = None,
    name: str | None = None,
    quiet: bool = True,
    correction=None,
    **options,
) -> Judgement:
    """Judge ``formula`` against finite networks, in memory; see the module docstring.

    Args:
      formula: ``f(xs, arch)`` (``f(xs)`` with ``model``) returning the NTK,
        ``(nngp, ntk)`` or a mapping or object with ``nngp`` and ``ntk`` (the
        ``--candidate`` contract, :mod:`harness.converge._candidates`); ``None`` judges
        our analytic kernels (refused with ``model``).
      inputs: ``(N, d)`` inputs, rows are inputs (default: the run's Gaussian inputs,
        ``n_inputs × input_dim`` from ``input_seed``).
      widths: increasing widths, or a spelling such as ``"128..8192"`` (default
        ``256..65536``, the command line's).
      seeds: networks per width; ``None``: 48, then rounds until decided.
      model: a custom Flax model: ``factory(width)`` returning a ``flax.linen.Module``,
        or ``"pkg.module:factory"`` (the ``--model`` contract,
        :mod:`harness.converge._model`); None: the residual MLP of the options.
      readout: with ``model``, its readout submodule (``--readout``).
      name: the formula's name in headlines (default: its ``__name__``).
      quiet: no progress bar and no notices.
      correction: a formula ``f(xs, arch)`` for the NNGP's ``1/n`` coefficient ``A``
        (module docstring); then ``formula`` and ``model`` are not taken, and the
        options are :class:`~harness.correction.CorrectionConfig`'s.
      **options: :class:`~harness.converge.ConvergeConfig` fields by name.

    Raises:
      UsageError: bad options, inputs or formula (one sentence, as the command line's
        exit-status-2 errors).
      NonFiniteKernelError: a network's kernel holds NaN/Inf.
    """
    start = time.perf_counter()
    if correction is not None:
        if formula is not None or model is not None:
            raise UsageError("judge: correction= is judged on its own; drop formula and model")
        return _judge_correction(correction, inputs, widths, seeds, name, quiet, options)
    if model is not None:
        if formula is None:
            raise UsageError(
                "judge: model= has no analytic reference, so a formula f(xs) is needed"
            )
        model = load_model(model, readout)
    elif readout is not None:
        raise UsageError("judge: readout= names a layer of a custom model; give model= too")
    if inputs is not None:
        try:
            inputs = np.asarray(inputs)
        except (TypeError, ValueError):
            raise UsageError("judge: inputs must be an (N, d) array of numbers") from None
        inputs = check_inputs_array(inputs, "judge: inputs")
    config = _config(widths, seeds, inputs, options, model)
    signature = "f(xs, arch)" if model is None else "f(xs)"
    candidates = (
        () if formula is None else (callable_candidate(formula, name, signature=signature),)
    )
    with CompileLog() as compile_log:
        xs = run_inputs(config, inputs)
        prepared = prepare(config, xs, candidates, quiet=quiet, model=model)
        judged = measure_and_judge(
            prepared, InMemoryStore(), start=start, quiet=quiet, compile_log=compile_log
        )
    tests = judged.tests
    analytic = {k: Verdict(k.upper(), tests[("analytic", k)]) for k in KERNELS if model is None}
    if formula is None:
        return Judgement(analytic["nngp"], analytic["ntk"], analytic, judged.results)
    label = candidates[0].name
    mine = {
        k: Verdict(f"{k.upper()}, candidate `{label}`", tests[(f"candidate:{label}", k)])
        if (f"candidate:{label}", k) in tests
        else None
        for k in KERNELS
    }
    return Judgement(mine["nngp"], mine["ntk"], analytic, judged.results)


_CORRECTION_OPTIONS = tuple(
    f.name
    for f in dataclasses.fields(CorrectionConfig)
    if f.name not in ("widths", "seeds", "candidates", "inputs_file", "inputs_sha256")
)


def _judge_correction(formula, inputs, widths, seeds, name, quiet, options) -> Judgement:
    """:func:`judge` of a correction formula (module docstring)."""
    from harness.correction._run import measure_correction

    unknown = sorted(set(options) - set(_CORRECTION_OPTIONS))
    if unknown:
        raise UsageError(
            f"judge: unknown option(s) {', '.join(unknown)} for correction=; options are "
            f"{', '.join(_CORRECTION_OPTIONS)}"
        )
    fields = dict(options)
    if widths is not None:
        fields["widths"] = parse_widths(widths) if isinstance(widths, str) else tuple(widths)
    if seeds is not None:
        fields["seeds"] = seeds
    if inputs is not None:
        try:
            inputs = check_inputs_array(np.asarray(inputs), "judge: inputs")
        except (TypeError, ValueError):
            raise UsageError("judge: inputs must be an (N, d) array of numbers") from None
        fields |= {
            "n_inputs": inputs.shape[0],
            "input_dim": inputs.shape[1],
            "inputs_sha256": inputs_sha256(inputs),
        }
    try:
        config = CorrectionConfig(**fields)
    except TypeError as error:
        raise UsageError(f"judge: {error}") from None
    candidate = callable_candidate(formula, name)
    results, tests = measure_correction(
        config, xs=inputs, candidates=(candidate,), in_memory=True, quiet=quiet
    )
    label = f"NNGP correction, candidate `{candidate.name}`"
    mine = None if tests.get(candidate.name) is None else Verdict(label, tests[candidate.name])
    ours = {} if tests["ours"] is None else {"nngp": Verdict("NNGP correction", tests["ours"])}
    return Judgement(mine, None, ours, results)
