r"""The configuration of a convergence run, its defaults, and why they are what they are.

:class:`ConvergeConfig` fully determines the numbers of a run (together with the
device count, which fixes how seeds are grouped into batches): it is what the
result folder's fingerprint is computed from (:mod:`harness.runs._store`).

Default run (``python -m harness.converge`` with no arguments, the README's
``make``):

* ``widths = 256..4096`` (five powers of two): one network's error falls by
  :math:`\sqrt{16} = 4` over the range, and from width 256 on the
  :math:`O(1/n)` bias is well below the :math:`O(n^{-1/2})` fluctuation.
  Width 8192 is left out on purpose: on the 2-core CPU one width-8192 network
  (drawing 403 M weights, peak memory ~9 GB, then its kernels) takes about
  25 s (measured on an idle machine, against 2.8 s at width 4096), so 16 of
  them alone would take about 7 minutes. Ask for it with ``--widths 256..8192``.
* ``seeds = 16``: 80 networks. The per-seed slope's 95% CI is then ±0.06–0.07
  (measured: NNGP −0.54 [−0.61, −0.47], NTK −0.53 [−0.58, −0.47]), and averaging
  16 networks shrinks fluctuation 4-fold, which the verdict rule of
  :mod:`harness.stats._convergence` (seed-mean z-score) uses to tell fluctuation from a
  plateau.
* ``n_inputs = 32``, ``input_dim = 10``: Gaussian inputs :math:`x \sim N(0, I_d)`
  from a fixed seed. 32 inputs give 528 distinct kernel entries, so the
  relative Frobenius error of one network is a well-averaged statistic.
* ``W_std = 1.5``, ``b_std = 0.5``: away from ``W_std = 1, b_std = 0``, the
  only point at which the seed notebook's NTK was ever checked, so the
  built-in ``seed`` candidate (run by default) shows what a wrong formula looks
  like (its NTK is 35–50% off here) next to the correct one.

Measured wall time of the default run on the 2-core CPU: 73 s on an idle
machine (process start and report included); about 3 minutes while three other
jobs shared the cores. The reference report under ``reports/`` records its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.kernels import NTK_METHODS
from harness.runs import PRECISIONS
from harness.runs import check_choice
from harness.runs import check_minimums
from harness.runs import check_scales
from harness.runs import check_widths
from harness.runs import file_sha256
from harness.runs import jax_precision_of

__all__ = [
    "DEFAULT_WIDTHS",
    "NTK_METHODS",
    "PRECISIONS",
    "ConvergeConfig",
]

DEFAULT_WIDTHS = (256, 512, 1024, 2048, 4096)


@dataclasses.dataclass(frozen=True)
class ConvergeConfig:
    """Everything that determines a convergence run's numbers.

    Attributes:
      widths: hidden widths ``n``, increasing.
      num_res_blocks: residual blocks ``L``.
      W_std, b_std: NTK-parameterization scales, ``z = W_std/√fan_in · W x + b_std · b``.
      n_inputs, input_dim: shape of the Gaussian inputs (ignored with ``inputs_file``).
      input_seed: NumPy seed of the Gaussian inputs.
      inputs_file: a ``.npy`` file of inputs (rows are inputs), or ``None``.
      inputs_sha256: SHA-256 of that file's bytes (part of the fingerprint).
      seeds: networks per width; network ``s`` is drawn from ``PRNGKey(s)``
        (:func:`models.draw_parameters`).
      ntk_method: ``"factored"``, ``"jacobian"`` or ``"nt"``.
      precision: ``"default"``, ``"high"`` or ``"highest"`` matmul precision.
      candidates: candidate specs: ``"seed"`` or ``"pkg.module:function"``
        (``"none"`` entries are dropped).
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    num_res_blocks: int = 3
    W_std: float = 1.5
    b_std: float = 0.5
    n_inputs: int = 32
    input_dim: int = 10
    input_seed: int = 0
    inputs_file: str | None = None
    inputs_sha256: str | None = None
    seeds: int = 16
    ntk_method: str = "factored"
    precision: str = "default"
    candidates: tuple[str, ...] = ("seed",)

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        candidates = tuple(c.strip() for c in self.candidates if c.strip() != "none")
        object.__setattr__(self, "candidates", candidates)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~harness.runs._cli.UsageError` for impossible values."""
        check_widths(self.widths)
        check_minimums(
            (
                ("--blocks", self.num_res_blocks, 0),
                ("--n-inputs", self.n_inputs, 2),
                ("--input-dim", self.input_dim, 1),
                ("--seeds", self.seeds, 1),
            )
        )
        check_scales(self.W_std, self.b_std)
        check_choice("--ntk-method", self.ntk_method, NTK_METHODS)
        check_choice("--precision", self.precision, PRECISIONS)

    @property
    def jax_precision(self) -> str | None:
        """The ``precision=`` argument for JAX matmuls (``None`` for the default)."""
        return jax_precision_of(self.precision)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = dataclasses.asdict(self)
        data["widths"] = list(self.widths)
        data["candidates"] = list(self.candidates)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConvergeConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    def with_inputs_file(self, path: str) -> ConvergeConfig:
        """The same config reading inputs from ``path``, its SHA-256 recorded."""
        return dataclasses.replace(self, inputs_file=str(path), inputs_sha256=file_sha256(path))
