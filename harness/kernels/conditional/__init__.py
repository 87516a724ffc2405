r"""Finite-width NNGP and NTK of the residual MLP by exact Gaussian conditioning.

The per-network kernels of :mod:`models._residual_mlp` (width ``n``, depth
``L``, ``N`` inputs) depend on each ``n × n`` weight matrix only through its
products with ``N``-column matrices. Those products can be *sampled* exactly
in distribution, without ever forming a weight matrix, in ``O(L n N²)`` time
(matrix products of ``N × n`` by ``n × N`` or ``N × N`` by ``N × n``
matrices, plus ``O(L N³)``) and ``O(L n N)`` memory (an instantiated network
needs ``O(L n² N)`` time and ``O(L n²)`` memory), which reaches widths of
``2^20`` on a CPU (``tests/kernels/test_conditional.py::test_width_2_to_the_20_runs_on_a_cpu``).
The technique is the Gaussian conditioning of approximate message passing
(Bolthausen 2014; Bayati & Montanari 2011) as used for wide networks by
Tensor Programs (Yang 2019, arXiv:1902.04760; Yang 2020, arXiv:2006.14548):
given the products already taken with an iid Gaussian matrix, its
conditional law is an explicit mean plus an independent Gaussian on the
orthogonal complement.

One concept per module:

* :mod:`~harness.kernels.conditional._basis`: one matrix, ``W = Q Z₁ + P⊥ G``;
  the partial isometry ``Q`` from Gram matrices (checked, with a Householder
  fallback) and the cotangent square root ``R_D``;
* :mod:`~harness.kernels.conditional._sampler`: one network, the forward and
  backward passes and the proof that the sampled kernels have exactly the law
  of an instantiated network's (:func:`conditional_network_kernels`);
* :mod:`~harness.kernels.conditional._batching`: many networks, keys from
  seeds, chunks under a memory budget, two threads on a CPU
  (:func:`conditional_kernels`, :func:`conditional_keys`,
  :func:`conditional_network_bytes`; :func:`chunk_workers`, how many chunks run at once;
  :func:`compile_conditional_kernels`, a call's program compiled ahead);
* :mod:`~harness.kernels.conditional._normals`: the normal generator
  (Box–Muller of threefry bits);
* :mod:`~harness.kernels.conditional._linalg`: matmuls at ``HIGHEST`` precision.
"""

from harness.kernels.conditional._batching import ConditionalKernels
from harness.kernels.conditional._batching import chunk_workers
from harness.kernels.conditional._batching import compile_conditional_kernels
from harness.kernels.conditional._batching import conditional_kernels
from harness.kernels.conditional._batching import conditional_keys
from harness.kernels.conditional._batching import conditional_network_bytes
from harness.kernels.conditional._sampler import conditional_network_kernels

__all__ = [
    "ConditionalKernels",
    "chunk_workers",
    "compile_conditional_kernels",
    "conditional_kernels",
    "conditional_keys",
    "conditional_network_bytes",
    "conditional_network_kernels",
]
