"""The architecture of a residual MLP as one value: depth, scales, activation, branch scale.

``Architecture(num_res_blocks, W_std, b_std, activation="relu", branch_scale=1.0)``
is what the configs, the analytic kernels, the models, the estimators and the
candidates share, and what a run's fingerprint records. It lives in the lowest
layer (:mod:`analytic`) so that every layer above can take it. The network it
describes is documented in :mod:`analytic._rmlp` and :mod:`models._residual_mlp`.
"""

from __future__ import annotations

import dataclasses

from analytic._validation import check_real
from analytic._validation import validate_architecture
from analytic.activations import Activation
from analytic.activations import get_activation

__all__ = ["Architecture"]


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A residual MLP ``h ↦ h + α·Dense(φ(Dense(h)))`` in the NTK parameterization.

    Attributes:
      num_res_blocks: the number ``L >= 0`` of residual blocks.
      W_std: the weight scale, ``> 0``.
      b_std: the bias scale of every layer but the readout, ``>= 0``.
      activation: the activation's canonical spelling (e.g. ``"relu"``,
        ``"leaky_relu:0.1"``); an :class:`~analytic.activations.Activation` or any
        accepted spelling is normalised to it.
      branch_scale: ``α >= 0``, the factor on each block's branch (its bias included).

    Raises:
      ValueError: on an invalid value, naming it.
    """

    num_res_blocks: int
    W_std: float
    b_std: float
    activation: str = "relu"
    branch_scale: float = 1.0

    def __post_init__(self) -> None:
        blocks, W_std, b_std = validate_architecture(self.num_res_blocks, self.W_std, self.b_std)
        object.__setattr__(self, "num_res_blocks", blocks)
        object.__setattr__(self, "W_std", W_std)
        object.__setattr__(self, "b_std", b_std)
        object.__setattr__(self, "activation", get_activation(self.activation).name)
        object.__setattr__(
            self, "branch_scale", check_real("branch_scale", self.branch_scale, positive=False)
        )

    @property
    def phi(self) -> Activation:
        """The :class:`~analytic.activations.Activation` itself."""
        return get_activation(self.activation)

    @property
    def is_seed(self) -> bool:
        """Whether this is the seed notebook's network shape: ReLU, branch scale 1."""
        return self.activation == "relu" and self.branch_scale == 1.0

    def kwargs(self) -> dict:
        """The keyword arguments of :func:`analytic.rmlp_kernels` and the model constructors."""
        return dataclasses.asdict(self)
