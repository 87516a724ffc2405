"""Closed-form infinite-width NNGP and NTK kernels of residual MLPs (float64).

Public API:

* :class:`Architecture`: depth, ``W_std``, ``b_std``, activation and branch scale as
  one value, shared by every layer of the harness;
* :func:`rmlp_nngp`, :func:`rmlp_ntk`: ``(N, N)`` kernels of one input set, for any
  activation of :mod:`analytic.activations` (ReLU by default) and a branch scale;
* :func:`rmlp_kernels`: both kernels between two input sets (``RMLPKernels``);
* :func:`notebook_rmlp_nngp`, :func:`notebook_rmlp_ntk`, :func:`notebook_rmlp_kernels`:
  the original (seed) notebook's recursions (its NTK is wrong unless ``W_std = 1``
  and ``b_std = 0``), kept as a reference candidate;
* :func:`rmlp_nngp_correction`: the ``O(1/n)`` correction ``A`` of the mean NNGP at
  width ``n`` (``E K̂_n = K_∞ + A/n + O(1/n²)``), from the layer-wise expansion
  (:mod:`analytic._correction`);
* :func:`relu_moments`: the arc-cosine kernels ``(V, V̇)`` of a ReLU
  (Cho & Saul 2009) for plain covariance entries;
* :func:`rmlp_diagonal_log10`: how large the kernels get (``log10`` of the
  diagonal, exact beyond the float64 range), which every kernel function uses
  to refuse what would overflow (``ValueError`` naming the block);
* :func:`validate_architecture`: the checks every kernel function applies to
  ``(num_res_blocks, W_std, b_std)``, for code that takes the same arguments;
  :func:`check_whole`, :func:`check_real` and :func:`check_input_array`: the number
  and input-array checks that :mod:`harness.kernels` shares
  (:mod:`analytic._validation`).

The architecture, the parameterization and the recursion are documented in
:mod:`analytic._rmlp`; the numerics that keep near-duplicate and antipodal
inputs exact in :mod:`analytic._pairs` and :mod:`analytic._arccos`.
"""

from analytic._arccos import relu_moments
from analytic._architecture import Architecture
from analytic._correction import rmlp_nngp_correction
from analytic._notebook import NotebookKernels
from analytic._notebook import notebook_rmlp_kernels
from analytic._notebook import notebook_rmlp_nngp
from analytic._notebook import notebook_rmlp_ntk
from analytic._range import RMLPDiagonal
from analytic._range import rmlp_diagonal_log10
from analytic._rmlp import RMLPKernels
from analytic._rmlp import rmlp_kernels
from analytic._rmlp import rmlp_nngp
from analytic._rmlp import rmlp_ntk
from analytic._validation import check_input_array
from analytic._validation import check_real
from analytic._validation import check_whole
from analytic._validation import validate_architecture

__all__ = [
    "Architecture",
    "NotebookKernels",
    "RMLPDiagonal",
    "RMLPKernels",
    "check_input_array",
    "check_real",
    "check_whole",
    "notebook_rmlp_kernels",
    "notebook_rmlp_nngp",
    "notebook_rmlp_ntk",
    "relu_moments",
    "rmlp_diagonal_log10",
    "rmlp_kernels",
    "rmlp_nngp",
    "rmlp_nngp_correction",
    "rmlp_ntk",
    "validate_architecture",
]
