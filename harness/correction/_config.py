r"""What ``python -m harness.correction`` measures, and why the defaults are what they are.

The job resolves the :math:`1/n` coefficient :math:`A` of the mean NNGP,
:math:`\mathbb E\hat K_n = K_\infty + A/n + B/n^2 + \dots`, by many networks at small
widths (:mod:`harness.correction._run`).

* ``widths = (8, 16, 32, 64)``: the error of :math:`\hat A` grows like
  :math:`\sqrt n` (a per-network variance :math:`\propto 1/n` times fit
  coefficients :math:`\propto n`), so small widths resolve it best, while
  :math:`n \ge 8` keeps the neglected :math:`1/n^3` terms small next to the
  fitted :math:`B/n^2` at depths up to ten (the fit's lack-of-fit test watches
  for them). Four widths give the :math:`B` check and two degrees of freedom
  for the lack of fit.
* ``seeds = 2**18`` networks per width: about ±5% (95%, relative Frobenius) on
  :math:`A` for the default 3-block network and 16 inputs, so that a correction
  10% off is seen. Networks are kept as per-width sufficient statistics
  (:class:`harness.stats.WidthMoments`), in stored chunks of ``chunk`` networks.
* the architecture and inputs are ``converge``'s defaults (3 blocks,
  ``W_std = 1.5``, ``b_std = 0.5``, 16 Gaussian inputs in dimension 10).
* ``tolerance = 0.1``: a correction formula is called consistent when its
  relative error is below 10% with 95% confidence.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from analytic import Architecture
from harness.runs import PRECISIONS
from harness.runs import UsageError
from harness.runs import check_choice
from harness.runs import check_shape
from harness.runs import inputs_sha256
from harness.runs import jax_precision_of
from harness.runs._options import check_minimums
from harness.runs._options import check_scales
from harness.runs._options import check_widths
from harness.stats import DEFAULT_CORRECTION_TOLERANCE

__all__ = ["CorrectionConfig"]

#: Networks per stored unit: one chunk's moments are a few hundred kB.
DEFAULT_CHUNK = 8192


@dataclasses.dataclass(frozen=True)
class CorrectionConfig:
    """One run of ``python -m harness.correction`` (module docstring for the defaults).

    Attributes:
      widths: hidden widths, ascending after normalisation.
      num_res_blocks, W_std, b_std, activation, branch_scale: the residual MLP.
      seeds: networks per width; network ``s`` of width ``n`` uses the key
        ``fold_in(PRNGKey(s), n)``, for ``s`` from ``first_seed`` on.
      first_seed: the first network (independent repetitions of a run start apart).
      n_inputs, input_dim, input_seed, inputs_file, inputs_sha256: the inputs, as for
        ``converge``.
      candidates: correction formulas to judge, ``pkg.module:function`` specs.
      tolerance: a formula is consistent when its relative error is below this (95%).
      chunk: networks per stored unit.
      precision: the matmul precision of the networks (``highest``: no TF32 on GPUs).
    """

    widths: tuple[int, ...] = (8, 16, 32, 64)
    num_res_blocks: int = 3
    W_std: float = 1.5
    b_std: float = 0.5
    activation: str = "relu"
    branch_scale: float = 1.0
    seeds: int = 2**18
    first_seed: int = 0
    n_inputs: int = 16
    input_dim: int = 10
    input_seed: int = 0
    inputs_file: str | None = None
    inputs_sha256: str | None = None
    candidates: tuple[str, ...] = ()
    tolerance: float = DEFAULT_CORRECTION_TOLERANCE
    chunk: int = DEFAULT_CHUNK
    precision: str = "highest"

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(sorted(int(w) for w in self.widths)))
        candidates = tuple(c.strip() for c in self.candidates if c.strip() != "none")
        object.__setattr__(self, "candidates", candidates)
        check_widths(self.widths)
        if len(set(self.widths)) < 2:
            raise UsageError("--widths: the 1/n coefficient needs two or more distinct widths")
        check_minimums(
            (
                ("--blocks", self.num_res_blocks, 0),
                ("--input-dim", self.input_dim, 1),
                ("--n-inputs", self.n_inputs, 2),
                ("--seeds", self.seeds, 2),
                ("--first-seed", self.first_seed, 0),
                ("--chunk", self.chunk, 64),
            )
        )
        check_scales(self.W_std, self.b_std)
        object.__setattr__(self, "activation", check_shape(self.activation, self.branch_scale))
        check_choice("--precision", self.precision, PRECISIONS)
        if self.first_seed + self.seeds > 2**31:
            raise UsageError("--first-seed + --seeds must stay below 2**31")
        if not (1e-6 <= self.tolerance < 10):
            raise UsageError(f"--tolerance: {self.tolerance} is not a relative error in [1e-6, 10)")

    @property
    def architecture(self) -> Architecture:
        return Architecture(
            self.num_res_blocks, self.W_std, self.b_std, self.activation, self.branch_scale
        )

    @property
    def jax_precision(self) -> str | None:
        return jax_precision_of(self.precision)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    def fingerprint_fields(self) -> dict[str, Any]:
        """What stored chunks depend on: the network, the inputs, the chunking, the numerics.

        Widths, seed counts, candidates and the tolerance may change between runs on one
        folder; every chunk the runs share is reused.
        """
        data = self.to_dict()
        data["inputs_file"] = None
        for name in ("widths", "seeds", "first_seed", "candidates", "tolerance"):
            data.pop(name)
        return data

    def with_inputs_file(self, path: str) -> CorrectionConfig:
        """This config reading its inputs from ``path`` (identified by their values)."""
        return dataclasses.replace(self, inputs_file=str(path), inputs_sha256=inputs_sha256(path))
