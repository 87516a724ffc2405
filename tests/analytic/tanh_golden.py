"""Recompute the stored ``tanh`` golden kernels of ``test_numerical_activations.py``.

Not part of the suite (its name does not start with ``test_``): the 30-digit reference
integrates ``tanh`` pair by pair and takes about an hour for all cases on 2 CPU cores
(2 to 25 minutes each). Run it explicitly::

    .venv/bin/python -m pytest tests/analytic/tanh_golden.py -s -q

It checks every stored value against :func:`mp_residual_kernels` and prints the
recomputed dictionary, to paste into ``GOLDEN`` when the cases change.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.analytic._mp_activations import mp_residual_kernels
from tests.analytic.test_numerical_activations import CASES
from tests.analytic.test_numerical_activations import GOLDEN
from tests.analytic.test_numerical_activations import SETS


@pytest.mark.parametrize("name", list(CASES))
def test_golden_values_are_the_30_digit_reference(name):
    inputs, scale, blocks, W_std, b_std = CASES[name]
    nngp, ntk = mp_residual_kernels(SETS[inputs] * scale, blocks, W_std, b_std, "tanh")
    print(f"\n{json.dumps(name)}: ({nngp.tolist()!r}, {ntk.tolist()!r}),")
    golden_nngp, golden_ntk = (np.array(k) for k in GOLDEN[name])
    np.testing.assert_allclose(nngp, golden_nngp, rtol=1e-14, atol=0)
    np.testing.assert_allclose(ntk, golden_ntk, rtol=1e-14, atol=0)
