"""Flax residual MLPs in the NTK parameterization, their neural-tangents twins, and the
import shim that loads neural-tangents on current JAX.

Public API (the modules behind it are private):

* :class:`ResidualMLP`, the Flax network (any activation, a branch scale applied by
  :func:`scale_branch`); :func:`parameter_shapes` (its variables'
  shapes, nothing drawn) and :func:`draw_parameters` (all of them in one draw);
  :func:`residual_mlp_trace`, the forward pass that keeps every layer's input
  (a :class:`ForwardTrace`, from which :mod:`harness.kernels` builds the empirical
  kernels), and :func:`model_trace`, the same for a model with its own architecture;
* :func:`stax_residual_mlp`, its neural-tangents twin, and
  :func:`flax_to_stax_params` / :func:`stax_to_flax_params`;
* :func:`load_neural_tangents`, :func:`neural_tangents_available`,
  :class:`NeuralTangentsUnavailableError` and :data:`NOT_INSTALLED_HINT`.
"""

from models._draw import draw_parameters
from models._draw import parameter_shapes
from models._forward import ForwardTrace
from models._forward import model_trace
from models._forward import residual_mlp_trace
from models._neural_tangents import NOT_INSTALLED_HINT
from models._neural_tangents import NeuralTangentsUnavailableError
from models._neural_tangents import load_neural_tangents
from models._neural_tangents import neural_tangents_available
from models._residual_mlp import ResidualMLP
from models._residual_mlp import scale_branch
from models._stax import flax_to_stax_params
from models._stax import stax_activation
from models._stax import stax_residual_mlp
from models._stax import stax_to_flax_params

__all__ = [
    "NOT_INSTALLED_HINT",
    "ForwardTrace",
    "NeuralTangentsUnavailableError",
    "ResidualMLP",
    "draw_parameters",
    "flax_to_stax_params",
    "load_neural_tangents",
    "model_trace",
    "neural_tangents_available",
    "parameter_shapes",
    "residual_mlp_trace",
    "scale_branch",
    "stax_activation",
    "stax_residual_mlp",
    "stax_to_flax_params",
]
