"""Golden values: the kernels printed in the seed notebook.

Source: the seed notebook (notebook 000_eb9df717aa1cff35), cells "In [4]", "In [6]"
and "In [54]", printed by NumPy to 8 decimals. The inputs are stored here as
literals; they were regenerated as the seed README describes
(``jax.random.split(jax.random.PRNGKey(1))[0]`` then ``jax.random.normal``,
with ``jax_threefry_partitionable = False`` and ``jax_enable_x64`` on).
"""

from __future__ import annotations

import numpy as np
import pytest

from analytic import notebook_rmlp_nngp
from analytic import notebook_rmlp_ntk
from analytic import rmlp_nngp
from analytic import rmlp_ntk

# jax.random.normal(key, (3, 10)), seed cell "In [4]".
XS_3x10 = np.array(
    [
        [-1.2215269479400135, -1.366813496401293, -0.08074083847238953, -0.17190087982667382,
         -0.5779459122370411, -1.2745240150038488, 0.06079955525553327, -0.04285321865248906,
         0.9740025275966085, 0.7265153390271688],
        [0.18334395115227226, -0.3080445310259684, 1.784941132495858, -0.3542859253067147,
         0.22139411788766092, -1.7513517654880582, 0.5515966855014495, -0.12622147869244263,
         -1.5409282276758396, -3.2090439082467968],
        [-0.27539021077683323, 0.311439980851273, -0.586392911206637, -1.331911536140884,
         -0.09789012185269852, 0.9634502786833624, -0.01988397727581781, -0.2555990075395831,
         1.0764137196017167, -0.5566092356443879],
    ]
)  # fmt: skip

# jax.random.normal(key, (3, 5)), seed cells "In [6]" and "In [54]".
XS_3x5 = np.array(
    [
        [0.5123245125761012, -0.7624815697455328, 0.47484656493042254, -1.4458072533948927,
         -0.0129307749405823],
        [-0.01876018504146483, 0.963162011116678, -1.3018215743440322, 0.9291445482415911,
         0.27818229182045096],
        [-0.417806723090425, 0.07287296980010109, 1.9294485828228787, -1.296869230151377,
         -0.40593064211502483],
    ]
)  # fmt: skip

# (kind, inputs, num_res_blocks, W_std, b_std, printed kernel)
GOLDEN = [
    (
        "nngp", XS_3x10, 3, 1.0, 1.0,
        [[6.40371803, 5.71130867, 5.42762025],
         [5.71130867, 8.54887713, 5.56358456],
         [5.42762025, 5.56358456, 6.05370648]],
    ),
    (
        "ntk", XS_3x10, 3, 1.0, 1.0,
        [[22.67737213, 13.64461843, 14.63093884],
         [13.64461843, 31.25800854, 13.28012561],
         [14.63093884, 13.28012561, 21.27732594]],
    ),
    (
        "nngp", XS_3x5, 3, 1.1, 0.9,
        [[9.45871832, 6.78979695, 9.30120483],
         [6.78979695, 9.76577003, 6.89616609],
         [9.30120483, 6.89616609, 11.42867631]],
    ),
    (
        "ntk", XS_3x5, 1, 1.0, 0.0,
        [[1.26394385, -0.05351018, 0.85058322],
         [-0.05351018, 1.42538696, -0.07560456],
         [0.85058322, -0.07560456, 2.2997177]],
    ),
]  # fmt: skip

# Printed to 8 decimals: the true value lies within half a unit of the last digit.
PRINTED_HALF_ULP = 0.5e-8


@pytest.mark.parametrize(("kind", "xs", "num_res_blocks", "W_std", "b_std", "printed"), GOLDEN)
def test_matches_seed_printout(kind, xs, num_res_blocks, W_std, b_std, printed):
    fn = {"nngp": rmlp_nngp, "ntk": rmlp_ntk}[kind]
    kernel = fn(xs, num_res_blocks, W_std, b_std)
    assert kernel.dtype == np.float64
    np.testing.assert_allclose(kernel, np.array(printed), rtol=0, atol=PRINTED_HALF_ULP * 1.0001)


@pytest.mark.parametrize(("kind", "xs", "num_res_blocks", "W_std", "b_std", "printed"), GOLDEN)
def test_notebook_reproduces_its_printout(kind, xs, num_res_blocks, W_std, b_std, printed):
    # The printed NNGP of cell "In [4]" came from neural-tangents, and the seed's
    # NTK was printed only at W_std = 1, b_std = 0 (cell "In [54]"); the seed's
    # own recursions reproduce the printed numbers in every case except the NTK
    # at W_std = 1, b_std = 1, where its recursion is wrong.
    fn = {"nngp": notebook_rmlp_nngp, "ntk": notebook_rmlp_ntk}[kind]
    kernel = fn(xs, num_res_blocks, W_std, b_std)
    error = np.max(np.abs(kernel - np.array(printed)))
    if kind == "ntk" and b_std != 0:
        assert error > 0.1
    else:
        assert error <= PRINTED_HALF_ULP * 1.0001
