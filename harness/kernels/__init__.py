"""Empirical NNGP and NTK of finite residual MLPs: one network, and many initialisations."""

from harness.kernels._budget import DEFAULT_MEMORY_BUDGET_BYTES
from harness.kernels._budget import default_memory_budget_bytes
from harness.kernels._conditional import ConditionalKernels
from harness.kernels._conditional import conditional_kernels
from harness.kernels._conditional import conditional_keys
from harness.kernels._conditional import conditional_network_bytes
from harness.kernels._conditional import conditional_network_kernels
from harness.kernels._factored import factored_ntk
from harness.kernels._factored import factored_ntk_from_trace
from harness.kernels._jacobian import dense_jacobian_ntk
from harness.kernels._jacobian import jacobian_ntk
from harness.kernels._jacobian import per_input_jacobian
from harness.kernels._monte_carlo import NTK_METHODS_PER_SEED
from harness.kernels._monte_carlo import PerSeedKernels
from harness.kernels._monte_carlo import default_seed_loop
from harness.kernels._monte_carlo import estimate_network_bytes
from harness.kernels._monte_carlo import init_network
from harness.kernels._monte_carlo import monte_carlo_kernels
from harness.kernels._monte_carlo import per_seed_kernels
from harness.kernels._monte_carlo import seed_keys
from harness.kernels._nngp import empirical_nngp
from harness.kernels._nngp import output_nngp
from harness.kernels._nngp import readout_marginal_nngp
from harness.kernels._nt import NT_WORKING_IMPLEMENTATIONS
from harness.kernels._nt import nt_empirical_ntk_fn
from harness.kernels._nt import nt_ntk
from harness.kernels._ntk import NTK_METHODS
from harness.kernels._ntk import empirical_ntk
from harness.kernels._precision import precision_label
from harness.kernels._precision import resolve_precision

__all__ = [
    "DEFAULT_MEMORY_BUDGET_BYTES",
    "NTK_METHODS",
    "NTK_METHODS_PER_SEED",
    "NT_WORKING_IMPLEMENTATIONS",
    "ConditionalKernels",
    "PerSeedKernels",
    "conditional_kernels",
    "conditional_keys",
    "conditional_network_bytes",
    "conditional_network_kernels",
    "default_memory_budget_bytes",
    "default_seed_loop",
    "dense_jacobian_ntk",
    "empirical_nngp",
    "empirical_ntk",
    "estimate_network_bytes",
    "factored_ntk",
    "factored_ntk_from_trace",
    "init_network",
    "jacobian_ntk",
    "monte_carlo_kernels",
    "nt_empirical_ntk_fn",
    "nt_ntk",
    "output_nngp",
    "per_input_jacobian",
    "per_seed_kernels",
    "precision_label",
    "readout_marginal_nngp",
    "resolve_precision",
    "seed_keys",
]
