r"""Do two independent samples of one width's kernels have the same mean?

For samples :math:`a_1..a_{S_a}` and :math:`b_1..b_{S_b}` of a kernel,
:math:`z = \lVert \bar a - \bar b \rVert_F / \sqrt{V_a/S_a + V_b/S_b}`, with
:math:`V` the per-seed mean squared Frobenius deviation (ddof 1). Under equal
means the numerator is a Gaussian vector whose squared norm has expectation
equal to the denominator squared, so by Székely & Bakirov (2003, *Extremal
probabilities for Gaussian quadratic forms*) :math:`P(z > 3) \le 0.27\%`
whatever its covariance. The harness uses it to show that instantiated
networks and the conditional sampler draw the same kernels.
"""

from __future__ import annotations

import math

import numpy as np

from harness.stats._errors import seed_variance

__all__ = ["AGREEMENT_CUT", "sample_agreement"]

#: Normal-equivalent cut of the agreement statistic (size at most 0.27%).
AGREEMENT_CUT = 3.0


def sample_agreement(a: np.ndarray, b: np.ndarray) -> dict:
    """``{"seeds", "relative_difference", "z", "agree"}`` for two stacks ``(S, ...)`` of kernels.

    ``relative_difference`` is ``‖ā − b̄‖_F / ‖b̄‖_F``; ``z`` is NaN when neither varies.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    var = seed_variance(a) / len(a) + seed_variance(b) / len(b)
    diff = float(np.linalg.norm(ma - mb))
    z = diff / math.sqrt(var) if var > 0 else math.nan
    return {
        "seeds": [len(a), len(b)],
        "relative_difference": diff / float(np.linalg.norm(mb)),
        "z": z,
        "agree": bool(var > 0 and z <= AGREEMENT_CUT),
    }
