"""Empirical NNGP and NTK of finite residual MLPs: one network, and many initialisations.

Public API:

* one network: :func:`empirical_nngp`, :func:`output_nngp`, :func:`empirical_ntk`
  (methods :data:`NTK_METHODS`), :func:`nt_ntk` (neural-tangents' empirical NTK);
* many instantiated networks: :func:`per_seed_kernels`, :func:`monte_carlo_kernels`
  (:class:`PerSeedKernels`), :func:`init_network`, :func:`seed_keys`,
  :func:`estimate_network_bytes`;
* many networks by Gaussian conditioning (:mod:`harness.kernels.conditional`):
  :func:`conditional_kernels` (:class:`ConditionalKernels`),
  :func:`conditional_network_kernels`, :func:`conditional_keys`,
  :func:`conditional_network_bytes`, :func:`chunk_workers` (chunks run at once),
  :func:`compile_conditional_kernels` (a call's program, compiled ahead);
* exact mean-zero control variates of one network's kernels
  (:mod:`harness.kernels._control`): :func:`control_variates`, :func:`controls_apply`
  (for which networks they exist),
  :func:`network_controls` (an instantiated network), :func:`trace_grams`,
  :func:`readout_noise`; ``per_seed_kernels(..., control_variates=True)`` and
  :class:`ConditionalKernels` carry them for every network;
* any Flax module, a custom ``--model`` (:mod:`harness.kernels._custom_model`):
  :func:`model_kernels` (Jacobian NTK; readout-marginalised or second-moment NNGP),
  :func:`per_seed_model_kernels`, :func:`readout_leaves`, and the checks that the
  readout-marginalised NNGP applies, :func:`readout_linearity_problem` and
  :func:`readout_normality_problem`;
* :func:`default_memory_budget_bytes`, :func:`precision_label`.
"""

from harness.kernels._budget import default_memory_budget_bytes
from harness.kernels._control import control_variates
from harness.kernels._control import controls_apply
from harness.kernels._control import readout_noise
from harness.kernels._control import trace_grams
from harness.kernels._custom_model import model_kernels
from harness.kernels._custom_model import per_seed_model_kernels
from harness.kernels._custom_model import readout_leaves
from harness.kernels._custom_model import readout_linearity_problem
from harness.kernels._custom_model import readout_normality_problem
from harness.kernels._monte_carlo import PerSeedKernels
from harness.kernels._monte_carlo import estimate_network_bytes
from harness.kernels._monte_carlo import init_network
from harness.kernels._monte_carlo import monte_carlo_kernels
from harness.kernels._monte_carlo import network_controls
from harness.kernels._monte_carlo import per_seed_kernels
from harness.kernels._monte_carlo import seed_keys
from harness.kernels._nngp import empirical_nngp
from harness.kernels._nngp import output_nngp
from harness.kernels._nt import nt_ntk
from harness.kernels._ntk import NTK_METHODS
from harness.kernels._ntk import empirical_ntk
from harness.kernels._precision import precision_label
from harness.kernels.conditional import ConditionalKernels
from harness.kernels.conditional import chunk_workers
from harness.kernels.conditional import compile_conditional_kernels
from harness.kernels.conditional import conditional_kernels
from harness.kernels.conditional import conditional_keys
from harness.kernels.conditional import conditional_network_bytes
from harness.kernels.conditional import conditional_network_kernels

__all__ = [
    "NTK_METHODS",
    "ConditionalKernels",
    "PerSeedKernels",
    "chunk_workers",
    "compile_conditional_kernels",
    "conditional_kernels",
    "conditional_keys",
    "conditional_network_bytes",
    "conditional_network_kernels",
    "control_variates",
    "controls_apply",
    "default_memory_budget_bytes",
    "empirical_nngp",
    "empirical_ntk",
    "estimate_network_bytes",
    "init_network",
    "model_kernels",
    "monte_carlo_kernels",
    "network_controls",
    "nt_ntk",
    "output_nngp",
    "per_seed_kernels",
    "per_seed_model_kernels",
    "precision_label",
    "readout_leaves",
    "readout_linearity_problem",
    "readout_noise",
    "readout_normality_problem",
    "seed_keys",
    "trace_grams",
]
