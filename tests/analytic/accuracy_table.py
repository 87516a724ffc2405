"""The README's accuracy table: ours and neural-tangents' kernels against 50 digits, per activation.

Not part of the suite (its name does not start with ``test_``); run it explicitly::

    .venv/bin/python -m pytest tests/analytic/accuracy_table.py -s -q

It prints one Markdown row per activation and writes the table to
``reports/activation-accuracy.md``. Cases: the two hard input sets of
``test_reference.py`` (near-duplicate and near-antipodal rows; parallel rows, an exact
antipode and a zero row), depths 0, 3 and 20, ``W_std`` 0.5 and 2, ``b_std`` 0.7,
branch scale 1. ``tanh`` is not in it: its 30-digit reference takes minutes per case, so
its accuracy is measured on stored golden cases by ``test_numerical_activations.py``.
Error: ``max|ΔK|/max|K|`` over both kernels, the worst case.
Ours refuses a case it cannot compute to 1e-10 (smooth and numerical activations);
refusals are counted, not scored. neural-tangents is evaluated in float64
(``kernel_fn`` of ``models.stax_residual_mlp``); "not available" where it has no layer.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from analytic import rmlp_kernels
from analytic.activations import get_activation
from harness.stats import max_relative_difference
from models import stax_activation
from models import stax_residual_mlp
from tests.analytic._mp_closed_forms import mp_kernels
from tests.analytic.test_reference import INPUT_SETS

ACTIVATIONS = (
    "relu",
    "leaky_relu:0.2",
    "abrelu:-0.5,1.5",
    "identity",
    "erf",
    "gelu",
    "sin",
)
OUT = Path(__file__).resolve().parents[2] / "reports" / "activation-accuracy.md"


def _cases(activation):
    return list(itertools.product(sorted(INPUT_SETS), (0, 3, 20), (0.5, 2.0)))


def _error(kernels, reference) -> float:
    return max(max_relative_difference(k, r) for k, r in zip(kernels, reference, strict=True))


def _neural_tangents(xs, blocks, W_std, activation):
    with jax.enable_x64(True):
        _, _, kernel_fn = stax_residual_mlp(blocks, W_std, 0.7, activation=activation)
        kernels = kernel_fn(jnp.asarray(xs, jnp.float64), None, ("nngp", "ntk"))
        return np.asarray(kernels.nngp), np.asarray(kernels.ntk)


def test_accuracy_table():
    rows = [
        "| activation | kind | ours: worst error | ours: refused | neural-tangents: worst error |",
        "|---|---|---|---|---|",
    ]
    for activation in ACTIVATIONS:
        act = get_activation(activation)
        kind = "closed form" if act.refined is None else "numerical"
        ours_worst, nt_worst, refused = 0.0, 0.0, 0
        has_nt = stax_activation(activation) is not None
        cases = _cases(activation)
        for name, blocks, W_std in cases:
            xs = INPUT_SETS[name]
            reference = mp_kernels(xs, blocks, W_std, 0.7, activation)
            try:
                ours = rmlp_kernels(
                    xs, num_res_blocks=blocks, W_std=W_std, b_std=0.7, activation=activation
                )
                ours_worst = max(ours_worst, _error(ours, reference))
            except ValueError:
                refused += 1
            if has_nt:
                theirs = _neural_tangents(xs, blocks, W_std, activation)
                nt_worst = max(nt_worst, _error(theirs, reference))
        nt_text = f"{nt_worst:.1e}" if has_nt else "not available"
        rows.append(
            f"| `{activation}` | {kind} | {ours_worst:.1e} | {refused} of {len(cases)} "
            f"| {nt_text} |"
        )
        print(rows[-1], flush=True)
    OUT.write_text(
        "# Kernel accuracy against a 50-digit reference, per activation\n\n"
        "Written by `tests/analytic/accuracy_table.py` (its docstring gives the cases).\n\n"
        + "\n".join(rows)
        + "\n"
    )
