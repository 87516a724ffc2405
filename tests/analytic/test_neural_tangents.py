"""Live comparison with neural-tangents' analytic ``kernel_fn`` in float64.

neural-tangents (Novak et al. 2020), imported through
``models._neural_tangents``, evaluates the same infinite-width recursion layer
by layer with ``arccos`` of the correlation. That is accurate to ~1e-15 for
ordinary pairs, but for pairs at an angle ``θ`` near 0 (the diagonal, or
near-duplicate rows), or near π, a rounding error ``δ ~ ε`` in the correlation moves
``θ = arccos(1 − θ²/2)`` by up to ``√(2δ) ≈ 3e-8``, and the ReLU derivative
kernel ``(π − θ)/2π`` by up to ``~5e-9`` per ReLU. So:

* NNGP: all entries agree to ``1e-10`` (relative to ``max|K|``);
* NTK, ordinary pairs: agree to ``1e-10``;
* NTK, the diagonal and pairs at an input angle near 0 or π (duplicates,
  near-duplicates, antipodes, and every pair when ``d = 1``): agree to neural-tangents' own
  accuracy, ``(L + 1)·5e-9 + 1e-10`` (``L + 1`` ReLUs). That ours is the
  exact one there is checked against the 50-digit reference in
  ``test_analytic_reference.py`` and against the closed-form diagonal in
  ``test_analytic_properties.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytic import notebook_rmlp_ntk
from analytic import rmlp_kernels
from tests.analytic._stax_rmlp import stax_kernels

ORDINARY_TOLERANCE = 1e-10
#: Per-ReLU error bound of neural-tangents' NTK on pairs at angle ~0 (see above).
NT_SMALL_ANGLE_ERROR_PER_RELU = 5e-9


def _inputs(dim: int, seed: int, *, zero_row: bool):
    """Six ordinary rows, then a duplicate, an antipode, a 1e-7 near-duplicate (and a zero row)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, dim)) * rng.uniform(0.3, 3.0, size=(6, 1))
    near = x[2] * (1.0 + 1e-7 * rng.normal(size=dim))
    rows = [x, x[:1], -x[1:2], near[None, :]]
    if zero_row:
        rows.append(np.zeros((1, dim)))
    return np.concatenate(rows)


def _degenerate_pairs(xs):
    """The diagonal and the pairs at an input angle within ~1e-3 of 0 or π."""
    norms = np.linalg.norm(xs, axis=1)
    cosine = xs @ xs.T / np.maximum(np.outer(norms, norms), 1e-300)
    return (np.abs(cosine) > 1.0 - 1e-6) | np.eye(len(xs), dtype=bool)


def _relative(a, b, mask):
    return np.max(np.abs(a - b)[mask]) / np.max(np.abs(b))


# (num_res_blocks, W_std, b_std, input dimension)
GRID = [
    (0, 1.0, 0.0, 1),
    (0, 0.6, 1.3, 7),
    (1, 1.0, 0.0, 5),
    (1, 1.5, 0.5, 3),
    (2, 0.8, 0.2, 12),
    (3, 1.0, 1.0, 10),
    (5, 1.3, 0.0, 4),
    (8, 0.7, 0.9, 6),
    pytest.param(15, 1.1, 0.3, 8, marks=pytest.mark.slow),
    pytest.param(30, 0.9, 0.1, 5, marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("num_res_blocks", "W_std", "b_std", "dim"), GRID)
def test_agrees_with_neural_tangents(num_res_blocks, W_std, b_std, dim):
    xs = _inputs(dim, seed=num_res_blocks * 100 + dim, zero_row=b_std == 0.0)
    nt_nngp, nt_ntk = stax_kernels(xs, num_res_blocks, W_std, b_std)
    ours = rmlp_kernels(xs, num_res_blocks=num_res_blocks, W_std=W_std, b_std=b_std)

    everything = np.ones(nt_nngp.shape, dtype=bool)
    small_angle = _degenerate_pairs(xs)
    assert _relative(ours.nngp, nt_nngp, everything) <= ORDINARY_TOLERANCE
    assert _relative(ours.ntk, nt_ntk, ~small_angle) <= ORDINARY_TOLERANCE
    nt_accuracy = (num_res_blocks + 1) * NT_SMALL_ANGLE_ERROR_PER_RELU + ORDINARY_TOLERANCE
    assert _relative(ours.ntk, nt_ntk, small_angle) <= nt_accuracy
    if b_std == 0.0:  # the zero row: exactly zero in ours, and in neural-tangents
        assert np.all(ours.nngp[-1] == 0)
        assert np.all(ours.ntk[-1] == 0)
        np.testing.assert_array_equal(nt_ntk[-1], 0.0)


@pytest.mark.parametrize(("W_std", "b_std", "is_right"), [(1.0, 0.0, True), (1.5, 0.5, False)])
def test_notebook_ntk_is_right_only_at_unit_weights_and_no_bias(W_std, b_std, is_right):
    # The seed notebook checked its NTK recursion only at W_std = 1, b_std = 0.
    xs = _inputs(4, seed=7, zero_row=False)[:6]
    _, nt_ntk = stax_kernels(xs, 2, W_std, b_std)
    error = np.max(np.abs(notebook_rmlp_ntk(xs, 2, W_std, b_std) - nt_ntk)) / np.max(nt_ntk)
    if is_right:
        assert error <= 1e-7  # the notebook's arccos has neural-tangents' own accuracy
    else:
        assert error > 0.05
