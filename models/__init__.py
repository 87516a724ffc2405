"""Flax residual MLPs in the NTK parameterization, and their neural-tangents twins.

Public API (one name per line; the modules behind them are private):
"""

from models._draw import draw_parameters, parameter_shapes
from models._forward import ForwardTrace, residual_mlp_trace
from models._residual_mlp import NTKDense, ResidualMLP, ntk_dense
from models._stax import flax_to_stax_params, stax_residual_mlp, stax_to_flax_params

__all__ = [
    "ForwardTrace",
    "NTKDense",
    "ResidualMLP",
    "draw_parameters",
    "flax_to_stax_params",
    "ntk_dense",
    "parameter_shapes",
    "residual_mlp_trace",
    "stax_residual_mlp",
    "stax_to_flax_params",
]
