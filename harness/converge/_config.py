r"""The configuration of a convergence run, its defaults, and why they are what they are.

:class:`ConvergeConfig` fully determines the numbers of a run (together with the
device count, which fixes how seeds are grouped into batches): it is what the
result folder's fingerprint is computed from (:mod:`harness.runs._store`).

Default run (``python -m harness.converge`` with no arguments, the README's
``make``). Its job is to say, with a calibrated test (:mod:`harness.stats`),
whether our formulas are the infinite-width kernels, and to be able to see a
formula that is 1% off:

* **Widths** ``256..65536``, in two families that are equal in distribution.
  Instantiated Flax networks (the ground truth) up to ``flax_max_width = 1024``;
  beyond it, exact Gaussian-conditioning samples of the same networks' kernels
  (:mod:`harness.kernels.conditional`), whose cost grows like ``n`` instead of
  ``n²``. At width 1024 both are drawn, and the report shows that they agree.
  Wide networks matter because one network's relative fluctuation is
  :math:`c/\sqrt n`: the formula test's noise falls like :math:`1/\sqrt{n S}`,
  and the :math:`1/n` finite-width bias is removed by extrapolating over the
  widths rather than ignored.
* ``seeds = 48`` networks per width in the first round; unless ``--seeds`` is
  given (``adaptive``), rounds of networks follow until every judged formula
  is decided or ``budget`` seconds have passed (:mod:`harness.converge._rounds`),
  placed where they lower the noise most per second. 48 keep the first
  round's noise estimate (and so the allocation) steady.
* ``n_inputs = 16``, ``input_dim = 10``: Gaussian inputs :math:`x \sim N(0, I_d)`
  from a fixed seed, 136 distinct kernel entries. The conditional sampler costs
  :math:`O(N^2)` per unit of width.
* ``W_std = 1.5``, ``b_std = 0.5``: away from ``W_std = 1, b_std = 0``, the
  only point at which the seed notebook's NTK was ever checked, so the
  built-in ``notebook`` candidate (run by default) shows what a wrong formula
  looks like next to the correct one.
* ``tolerance = 0.01``: a formula is *consistent* only when its error is below
  1% with 95% confidence (:mod:`harness.stats._formula_test`).
* ``budget = 170`` seconds: rounds stop before passing it, so that the
  mission's ``--widths 128..8192`` ends within 3 minutes on a 2-core CPU.
* ``target_error``: when set, rounds add networks until the detectable error of
  our analytic kernels is at most that, or ``max_seeds`` or the budget is reached.

A custom model (``model = "pkg.module:factory"``, :mod:`harness.converge._model`)
replaces the residual MLP: every network is instantiated (``sampler`` ``auto``
means ``flax``, ``conditional`` is refused), the NTK is the Jacobian contraction
(``ntk_method`` ``factored`` becomes ``jacobian``, ``nt`` is refused), and the
options that describe the residual MLP (``num_res_blocks``, ``W_std``, ``b_std``,
``activation``, ``branch_scale``) must keep their defaults: the model owns its
architecture. ``target_error`` is refused (it targets our analytic kernels, which
a custom model does not have), and control variates do not exist for it
(``control_variates`` is ignored; the report says so).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.runs import JobConfig
from harness.runs import UsageError
from harness.runs import check_choice
from harness.runs import inputs_sha256

__all__ = [
    "DEFAULT_WIDTHS",
    "RESIDUAL_FIELDS",
    "SAMPLERS",
    "ConvergeConfig",
]

DEFAULT_WIDTHS = tuple(2**k for k in range(8, 17))  # 256 … 65536
#: How the networks of a width are drawn: ``flax`` instantiates them; ``conditional``
#: samples their kernels exactly by Gaussian conditioning; ``auto`` uses Flax up to
#: ``flax_max_width`` and conditional samples beyond it (and at that width as a check).
SAMPLERS = ("auto", "flax", "conditional")

#: Seconds a run may spend adding rounds of networks (``--budget``).
DEFAULT_BUDGET = 170.0
#: Fields that describe the residual MLP, with their ``--options``: a custom model must
#: leave them at their defaults, and its fingerprint leaves them out.
RESIDUAL_FIELDS = {
    "num_res_blocks": "--blocks",
    "W_std": "--w-std",
    "b_std": "--b-std",
    "activation": "--activation",
    "branch_scale": "--branch-scale",
}
#: Fields that change the summary or how many seeds are drawn, never a stored network.
_NOT_IN_UNITS = (
    "tolerance",
    "target_error",
    "max_seeds",
    "adaptive",
    "budget",
    "control_variates",
)


@dataclasses.dataclass(frozen=True)
class ConvergeConfig(JobConfig):
    """Everything that determines a convergence run's numbers.

    Attributes:
      widths: hidden widths ``n``, increasing.
      num_res_blocks: residual blocks ``L``.
      W_std, b_std: NTK-parameterization scales, ``z = W_std/√fan_in · W x + b_std · b``.
      activation: the activation's spelling (:mod:`analytic.activations`), stored in
        its canonical form.
      branch_scale: ``α`` in ``h + α·Dense(φ(Dense(h)))``.
      n_inputs, input_dim: shape of the Gaussian inputs (ignored with ``inputs_file``).
      input_seed: NumPy seed of the Gaussian inputs.
      inputs_file: a ``.npy`` file of inputs (rows are inputs), or ``None``.
      inputs_sha256: SHA-256 of that file's values (:func:`harness.runs.inputs_sha256`:
        shape and C-ordered float64 values, not the file's bytes; part of the fingerprint).
      seeds: networks per width in the first round; network ``s`` of width ``n`` is
        drawn from ``fold_in(PRNGKey(s), n)``, so that widths are independent.
      ntk_method: ``"factored"``, ``"jacobian"`` or ``"nt"``.
      precision: ``"default"``, ``"high"`` or ``"highest"`` matmul precision.
      candidates: candidate specs: ``"notebook"`` (alias ``"seed"``) or ``"pkg.module:function"``
        (``"none"`` entries are dropped).
      sampler: ``"auto"``, ``"flax"`` or ``"conditional"`` (:data:`SAMPLERS`).
      flax_max_width: with ``sampler="auto"``, the widest instantiated network.
      tolerance: a formula is consistent only when its error is below this with
        95% confidence.
      target_error: if set, add seeds until the detectable error is at most this.
      max_seeds: the most seeds per width that added rounds may use.
      adaptive: add networks in rounds until every formula is decided
        (:mod:`harness.converge._rounds`); the command line sets it unless
        ``--seeds`` is given.
      budget: seconds since the start after which no new round begins (None: no limit).
      control_variates: judge ``K̂ − C`` (each network's kernels minus their exact
        mean-zero control variates, :mod:`harness.kernels._control`) rather than
        ``K̂``: the same mean at every width, a smaller variance. Units hold both.
      model: a custom model's ``"pkg.module:factory"`` (module docstring), or None
        for the residual MLP.
      readout: the custom model's readout submodule (``"readout"``, ``"a/b"``), whose
        parameters are marginalised out of the NNGP estimate; None: the outputs'
        second moment.
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    num_res_blocks: int = 3
    W_std: float = 1.5
    b_std: float = 0.5
    n_inputs: int = 16
    input_dim: int = 10
    input_seed: int = 0
    inputs_file: str | None = None
    inputs_sha256: str | None = None
    seeds: int = 48
    ntk_method: str = "factored"
    precision: str = "default"
    candidates: tuple[str, ...] = ("notebook",)
    sampler: str = "auto"
    flax_max_width: int = 1024
    tolerance: float = 0.01
    target_error: float | None = None
    max_seeds: int = 4096
    adaptive: bool = False
    budget: float | None = DEFAULT_BUDGET
    control_variates: bool = True
    activation: str = "relu"
    branch_scale: float = 1.0
    model: str | None = None
    readout: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        candidates = tuple(c.strip() for c in self.candidates if c.strip() != "none")
        object.__setattr__(self, "candidates", candidates)
        if self.model is not None and self.ntk_method == "factored":
            object.__setattr__(self, "ntk_method", "jacobian")  # the only one for any module
        self.validate()

    def validate(self) -> None:
        """Raise :class:`~harness.runs.UsageError` for impossible values."""
        self.check_shared(
            (
                ("--n-inputs", self.n_inputs, 2),
                ("--flax-max-width", self.flax_max_width, 1),
                ("--max-seeds", self.max_seeds, 2),
            )
        )
        check_choice("--sampler", self.sampler, SAMPLERS)
        for name, value in (("--tolerance", self.tolerance), ("--target-error", self.target_error)):
            if value is not None and not (1e-6 <= value < 1):
                raise UsageError(f"{name}: {value} is not a relative error in [1e-6, 1)")
        if (self.target_error is not None or self.adaptive) and self.seeds > self.max_seeds:
            raise UsageError(f"--seeds {self.seeds} exceeds --max-seeds {self.max_seeds}")
        if self.budget is not None and not (
            isinstance(self.budget, int | float) and 0 < self.budget <= 1e7
        ):
            raise UsageError(f"--budget: {self.budget} is not a number of seconds in (0, 1e7]")
        self._validate_model()

    def _validate_model(self) -> None:
        """A custom model's options (module docstring)."""
        if self.model is None:
            if self.readout is not None:
                raise UsageError("--readout names a layer of a custom --model; give --model too")
            return
        if not isinstance(self.model, str) or not self.model.strip():
            raise UsageError(f"--model: {self.model!r} is not 'pkg.module:factory'")
        if self.readout is not None and not (
            isinstance(self.readout, str) and self.readout.strip("/ ")
        ):
            raise UsageError(f"--readout: {self.readout!r} is not a submodule's name")
        defaults = ConvergeConfig()
        for field, option in RESIDUAL_FIELDS.items():
            if getattr(self, field) != getattr(defaults, field):
                raise UsageError(
                    f"{option} describes the residual MLP; a custom --model owns its architecture"
                )
        if self.sampler == "conditional":
            raise UsageError(
                "--sampler conditional samples residual MLPs only; a custom --model's networks "
                "are instantiated (--sampler flax)"
            )
        if self.ntk_method != "jacobian":
            raise UsageError(
                f"--ntk-method {self.ntk_method} is for the residual MLP; a custom --model's NTK "
                "is the Jacobian contraction (--ntk-method jacobian)"
            )
        if self.target_error is not None:
            raise UsageError(
                "--target-error targets our analytic kernels' detectable error, and a custom "
                "--model has none; use --seeds, or the default rounds until decided"
            )
        built_in = [c for c in self.candidates if c in ("notebook", "seed")]
        if built_in:
            raise UsageError(
                f"--candidate {built_in[0]} is the residual MLP's formula; with --model give "
                "your own --candidate pkg.module:function, called as f(xs)"
            )

    def sampler_of(self, width: int) -> str:
        """``"flax"`` or ``"conditional"``: how the networks of ``width`` are drawn."""
        if self.model is not None:
            return "flax"
        if self.sampler == "auto":
            return "flax" if width <= self.flax_max_width else "conditional"
        return self.sampler

    @property
    def overlap_width(self) -> int | None:
        """The width drawn both ways to show the samplers agree (``auto`` with both kinds)."""
        kinds = {self.sampler_of(w) for w in self.widths}
        if self.sampler != "auto" or kinds != {"flax", "conditional"}:
            return None
        return max(w for w in self.widths if self.sampler_of(w) == "flax")

    def fingerprint(self) -> dict[str, Any]:
        """What a result folder must match to be resumed: what determines its networks.

        A stored network is one unit, keyed by its width, seed and sampler
        (:func:`harness.runs.unit_key`), and is determined by the architecture, the
        inputs and the numerics alone. So the widths, the seed count, the candidates,
        the sampler choice (``sampler``, ``flax_max_width``: which units a width
        uses, not what they hold), the tolerance, the target error, the seed cap, the
        rounds and the budget may all change between runs on one folder: a run with
        more seeds, another width or another candidate reuses every network it
        shares with the runs before. An inputs file is identified by its values
        (``inputs_sha256``), so the same numbers under another path, or saved in
        Fortran order, another byte order or another real dtype, resume.
        Fields a stored config has and this method leaves out are ignored by the store.

        A custom model's fingerprint holds ``model`` and ``readout`` (which decides the
        stored NNGP) in place of the residual MLP's fields; a residual MLP's holds
        neither, so its folders written before custom models existed still resume.
        """
        data = self.identity()
        data["inputs_file"] = None
        not_in_units = ("widths", "seeds", "candidates", "sampler", "flax_max_width")
        for name in (*_NOT_IN_UNITS, *not_in_units):
            data.pop(name)
        if self.model is None:
            data.pop("model")
            data.pop("readout")
        else:
            for name in RESIDUAL_FIELDS:
                data.pop(name, None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConvergeConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    def with_inputs_file(self, path: str) -> ConvergeConfig:
        """The same config reading inputs from ``path``, the SHA-256 of their values recorded.

        The hash is :func:`harness.runs.inputs_sha256`: the shape, then the values as
        C-ordered little-endian float64, so it does not depend on how the file stores them.

        Raises:
          UsageError: ``path`` is not a readable ``.npy`` array of inputs.
        """
        return dataclasses.replace(self, inputs_file=str(path), inputs_sha256=inputs_sha256(path))
