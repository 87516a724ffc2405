"""Two wrong formulas of the kinds researchers write, for ``--candidate`` (issue 16).

* ``pair_8_percent``: our kernels with one symmetric pair of entries, (2, 5) and
  (5, 2), 8% too large, in both the NNGP and the NTK. In the Frobenius norm of a
  16 × 16 kernel this is diluted to well under 1%.
* ``bias_variance_slip``: our kernels with ``b_std`` written where ``b_std²``
  belongs (the recursion run with ``sqrt(b_std)``), which matters most at inputs of
  small norm, where the bias dominates the pre-activation variance.
"""

import numpy as np

import analytic


def pair_8_percent(xs, num_res_blocks, W_std, b_std):
    k = analytic.rmlp_kernels(xs, num_res_blocks=num_res_blocks, W_std=W_std, b_std=b_std)
    out = {}
    for name in ("nngp", "ntk"):
        m = np.array(getattr(k, name))
        m[2, 5] *= 1.08
        m[5, 2] = m[2, 5]
        out[name] = m
    return out


def bias_variance_slip(xs, num_res_blocks, W_std, b_std):
    k = analytic.rmlp_kernels(
        xs, num_res_blocks=num_res_blocks, W_std=W_std, b_std=float(np.sqrt(b_std))
    )
    return {"nngp": k.nngp, "ntk": k.ntk}
