"""``python -m harness.converge``: do finite-width networks converge to the analytic kernels?

The networks are residual MLPs, or any Flax model given as ``--model pkg.module:factory``
(``judge(..., model=factory)``), whose candidate formulas are judged alone.

Public API: :class:`ConvergeConfig` (what determines a run), :func:`run_convergence`
(run or resume one into a folder, return its results), :func:`judge` (the same run in
memory, for a notebook: a :class:`Judgement` of :class:`Verdict` values),
:func:`main` (the command line),
and the errors a run raises besides :class:`harness.runs.UsageError`:
:class:`NonFiniteKernelError` (a network's kernel holds NaN/Inf) and
:class:`NonFiniteReferenceError` (a reference kernel does). The modules behind them
are private.
"""

from harness.converge._cli import main
from harness.converge._config import ConvergeConfig
from harness.converge._judge import Judgement
from harness.converge._judge import Verdict
from harness.converge._judge import judge
from harness.converge._measure import NonFiniteKernelError
from harness.converge._references import NonFiniteReferenceError
from harness.converge._run import run_convergence

__all__ = [
    "ConvergeConfig",
    "Judgement",
    "NonFiniteKernelError",
    "NonFiniteReferenceError",
    "Verdict",
    "judge",
    "main",
    "run_convergence",
]
