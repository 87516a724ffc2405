"""50-digit mpmath evaluation of the residual-MLP NNGP/NTK recursion (test-only reference).

An independent, deliberately plain implementation of the recursion documented
in :mod:`analytic._rmlp`: covariances are stored as mpmath numbers with
``mp.dps = 50`` and the angle comes straight from ``acos`` of the correlation,
which at 50 digits is accurate far beyond float64 even for near-duplicate or
antipodal inputs. Inputs are taken as the exact binary values of the float64
array.

Recursion (``w = W_std²``, ``β = b_std²``, ``V``/``V̇`` the arc-cosine kernels
of degree 1 and 0, Cho & Saul 2009):

* ``K_0 = w/d · x xᵀ + β``, ``Θ_0 = K_0``;
* per block, ``Σ = w K + β``: ``K ← K + w V(Σ) + β``,
  ``Θ ← Θ + w V̇(Σ)(w Θ + Σ) + w V(Σ) + β``;
* readout: ``NNGP = w V(K)``, ``NTK = w V̇(K) Θ + w V(K)``.
"""

from __future__ import annotations

from tests.analytic._mp_closed_forms import DIGITS
from tests.analytic._mp_closed_forms import mp_kernels

__all__ = ["DIGITS", "mp_rmlp_kernels"]


def mp_rmlp_kernels(xs, num_res_blocks: int, W_std: float, b_std: float):
    """Return ``(nngp, ntk)`` of the ReLU network as float64 arrays rounded from 50-digit values.

    The recursion is written once, in :mod:`tests.analytic._mp_closed_forms`.
    """
    return mp_kernels(xs, num_res_blocks, W_std, b_std, "relu", 1.0)
