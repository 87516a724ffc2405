"""What the configs of ``python -m harness.converge`` and ``harness.train`` share.

Both describe a ladder of residual MLPs of hidden widths ``n`` in the NTK
parameterization ``z = W_std/√fan_in · W x + b_std · b`` (Jacot et al. 2018), drawn
``seeds`` times per width, with an empirical-NTK estimator and a matmul precision.
:class:`JobConfig` is the mixin of their frozen dataclasses: the checks of those
shared fields, the JAX ``precision=`` argument, and the JSON form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from analytic import Architecture
from harness.kernels import NTK_METHODS
from harness.runs._options import PRECISIONS
from harness.runs._options import check_choice
from harness.runs._options import check_minimums
from harness.runs._options import check_scales
from harness.runs._options import check_shape
from harness.runs._options import check_widths
from harness.runs._options import jax_precision_of

__all__ = ["JobConfig"]


class JobConfig:
    """Mixin of a frozen dataclass with the fields ``widths``, ``num_res_blocks``,
    ``W_std``, ``b_std``, ``input_dim``, ``seeds``, ``ntk_method`` and ``precision``."""

    def check_shared(self, minimums: Iterable[tuple[str, int, int]] = ()) -> None:
        """Raise :class:`~harness.runs.UsageError` for an impossible shared field.

        ``minimums`` adds the subclass's own ``(option, value, low)`` bounds.
        """
        check_widths(self.widths)
        check_minimums(
            (
                ("--blocks", self.num_res_blocks, 0),
                ("--input-dim", self.input_dim, 1),
                ("--seeds", self.seeds, 1),
                *minimums,
            )
        )
        check_scales(self.W_std, self.b_std)
        if hasattr(self, "activation"):
            canonical = check_shape(self.activation, self.branch_scale)
            object.__setattr__(self, "activation", canonical)
        check_choice("--ntk-method", self.ntk_method, NTK_METHODS)
        check_choice("--precision", self.precision, PRECISIONS)

    @property
    def architecture(self) -> Architecture:
        """The network as one value (ReLU and branch scale 1 for configs without those fields)."""
        return Architecture(
            self.num_res_blocks,
            self.W_std,
            self.b_std,
            getattr(self, "activation", "relu"),
            getattr(self, "branch_scale", 1.0),
        )

    @property
    def jax_precision(self) -> str | None:
        """The ``precision=`` argument for JAX matmuls (``None`` for the default)."""
        return jax_precision_of(self.precision)

    def identity(self) -> dict[str, Any]:
        """:meth:`to_dict` without ``activation``/``branch_scale`` at the seed's ReLU and 1.

        So a folder written before those fields existed still matches its config.
        """
        data = self.to_dict()
        for name, seed_value in (("activation", "relu"), ("branch_scale", 1.0)):
            if data.get(name, seed_value) == seed_value:
                data.pop(name, None)
        return data

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
