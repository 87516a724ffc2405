r"""The calibration study's design: which networks, how many, and which seeds.

A :class:`StudyConfig` is one architecture and input set, sampled at several
widths with ``seeds`` networks per width, ``replicates`` times over with
fresh networks. Every network of a config is independent of every other one:

* conditional sampler (:func:`harness.kernels.conditional_kernels`): network
  ``(width index i, replicate r, seed s)`` is the key
  ``fold_in(PRNGKey(base_seed), (i·R + r)·S + s)``;
* Flax networks (:func:`harness.kernels.monte_carlo_kernels`): it is
  ``PRNGKey(base_seed + (i·R + r)·S + s)``.

Disjoint indices across widths matter: JAX's threefry fills an array of
shape ``(k, n)`` so that the one of shape ``(k, n')``, ``n' > n``, from the same
key holds it in its first ``n`` columns, so *one* key at two widths draws
partly the same weights and makes the two networks' kernels correlated,
whereas :func:`harness.stats.formula_test` treats widths as independent.

The inputs of a config are :func:`study_inputs`: Gaussian rows from ``input_seed``,
or with norms spanning 10⁴, or with near-duplicate, antipodal and zero rows.

Each config is one network shape :math:`h \mapsto h + \alpha\,{\rm Dense}(\phi({\rm
Dense}(h)))` (:class:`analytic.Architecture`): an activation :math:`\phi` with a closed-form
kernel (:mod:`analytic.activations`) and a branch scale :math:`\alpha`, ReLU and 1 unless
the row says otherwise. :func:`with_shape` gives a grid's configs another activation or
branch scale (``python -m harness.calibrate --activation NAME --branch-scale α``); a
branch scale may be the rule :data:`INVERSE_SQRT_DEPTH`, :math:`\alpha = 1/\sqrt L`
(Stable ResNet; Hayou et al. 2021), resolved per config.

The default grid (:func:`default_grid`, one row per config in ``grid.txt`` beside
this module) spans depth 0–50, ``W_std`` 0.3–3,
``b_std`` 0–2, 4 to 8192 seeds per width, widths 8 to 4096 and 2 to 48 inputs,
and includes the deep small-width case of issue 10 (10 blocks, ``W_std = 2``,
``b_std = 0.5``, widths 16..128, 8192 seeds, 8 inputs); its last rows take the
other activations (erf, GELU, leaky ReLU, ABReLU, sine) and branch scales
:math:`1/\sqrt L`. A grid's configs are numbered in file order, ``index``, and
use conditional base seeds ``1000 + index``, Flax seeds from ``10⁹ + 10⁷·index``
and input seeds ``1000 + index`` (a Flax config takes its conditional twin's
inputs); rows added at the end leave every earlier config's seeds as they were.
The tests hold out other seeds (``tests/calibrate/test_calibration.py``). Few
distinct ``(depth, width, inputs)`` triples keep the compilations few:
``W_std`` and ``b_std`` are traced, not compiled in (the activation and the
branch scale are compiled in).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from importlib import resources
from typing import Literal

import numpy as np

import analytic
from analytic.activations import get_activation

__all__ = [
    "DEEP_SMALL_WIDTH",
    "INVERSE_SQRT_DEPTH",
    "StudyConfig",
    "branch_scale_at",
    "default_grid",
    "parse_branch_scale",
    "quick_grid",
    "study_inputs",
    "with_shape",
]

Sampler = Literal["conditional", "flax"]
#: How a config's inputs are made (:func:`study_inputs`).
INPUT_KINDS = ("gaussian", "norms", "special")

#: Conditional base seed and input seed of the default grid's config ``index``: ``1000 + index``.
DESIGN_SEED = 1000
#: Flax seed region of the default grid's config ``index``: ``10⁹ + 10⁷·index``.
DESIGN_FLAX_SEED = 10**9
DESIGN_FLAX_STRIDE = 10**7
#: The branch-scale rule ``α = 1/√L`` (``L`` the config's depth; 1 at depth 0).
INVERSE_SQRT_DEPTH = "1/sqrt(L)"


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """One configuration of the study.

    Attributes:
      name: a short label, unique within a study.
      num_res_blocks, W_std, b_std: the architecture (NTK parameterization).
      n_inputs, input_dim: the input set's shape ``(N, d)``.
      input_kind: ``"gaussian"``; ``"norms"`` (Gaussian directions with norms
        log-spaced over 10⁴, 0.03 to 316); ``"special"`` (Gaussian, with a
        near-duplicate, an antipodal and a zero row) (:func:`study_inputs`).
      widths: widths sampled, ascending.
      seeds: networks per width and replicate, ``S``.
      replicates: independent repetitions, ``R``.
      sampler: ``"conditional"`` or ``"flax"``.
      base_seed: root of the network keys (module docstring).
      input_seed: NumPy seed of the inputs.
      twin: for Flax configs, the conditional config with the same
        architecture and inputs (the report compares the two), or None.
      activation: the activation's canonical spelling
        (:func:`analytic.activations.get_activation`; any accepted spelling is
        normalised to it).
      branch_scale: ``α >= 0``, each block is ``h + α·Dense(φ(Dense(h)))``.
    """

    name: str
    num_res_blocks: int
    W_std: float
    b_std: float
    n_inputs: int
    widths: tuple[int, ...]
    seeds: int
    replicates: int
    sampler: Sampler = "conditional"
    input_dim: int = 8
    input_kind: str = "gaussian"
    base_seed: int = 0
    input_seed: int = 0
    twin: str | None = None
    activation: str = "relu"
    branch_scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "activation", get_activation(self.activation).name)
        alpha = analytic.check_real("branch_scale", self.branch_scale, positive=False)
        object.__setattr__(self, "branch_scale", alpha)
        if self.sampler not in ("conditional", "flax"):
            raise ValueError(f"sampler must be 'conditional' or 'flax', got {self.sampler!r}")
        if len(self.widths) < 2 or list(self.widths) != sorted(set(self.widths)):
            raise ValueError(f"widths must be at least two, distinct and ascending: {self.widths}")
        if self.seeds < 2 or self.replicates < 1:
            raise ValueError("a config needs at least 2 seeds per width and 1 replicate")
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")
        if self.input_kind == "special" and self.n_inputs < 5:
            raise ValueError("input_kind 'special' needs at least 5 inputs")

    @property
    def architecture(self) -> analytic.Architecture:
        """The network shape: depth, scales, activation and branch scale."""
        return analytic.Architecture(
            self.num_res_blocks, self.W_std, self.b_std, self.activation, self.branch_scale
        )

    def network_index(self, width_index: int, replicate: int, seed: int) -> int:
        """Index of a network within the config: ``(i·R + r)·S + s``."""
        return (width_index * self.replicates + replicate) * self.seeds + seed

    def networks(self) -> int:
        """Networks drawn for this config, all widths and replicates."""
        return len(self.widths) * self.replicates * self.seeds

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "widths": list(self.widths)}


DEEP_SMALL_WIDTH = dict(
    num_res_blocks=10,
    W_std=2.0,
    b_std=0.5,
    n_inputs=8,
    widths=(16, 32, 64, 128),
    activation="relu",
    branch_scale=1.0,
)
"""Issue 10's deep small-width case, which the old rule judged "does not converge"."""


def parse_branch_scale(text: str) -> float | str:
    """A branch scale as written in ``grid.txt`` or on the command line: a number ``>= 0``
    or :data:`INVERSE_SQRT_DEPTH` (``1/sqrt(L)``).

    Raises:
      ValueError: for anything else.
    """
    text = text.strip()
    if text.replace(" ", "").lower() in (INVERSE_SQRT_DEPTH.lower(), "1/sqrtl", "1/√l"):
        return INVERSE_SQRT_DEPTH
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(
            f"branch scale {text[:40]!r} is neither a finite number >= 0 nor {INVERSE_SQRT_DEPTH}"
        )
    return value


def branch_scale_at(branch_scale: float | str, num_res_blocks: int) -> float:
    """The number a branch scale stands for at a depth: :data:`INVERSE_SQRT_DEPTH` is
    ``1/√L`` (1 at depth 0, where there is no branch), a number is itself."""
    if branch_scale == INVERSE_SQRT_DEPTH:
        return 1.0 / math.sqrt(num_res_blocks) if num_res_blocks > 0 else 1.0
    return float(branch_scale)


#: Columns a row of ``grid.txt`` may leave out at its end, and their values then.
_OPTIONAL_COLUMNS = {"activation": "relu", "alpha": "1"}


def _grid_rows(grid: str) -> list[dict[str, str]]:
    """The rows of ``grid.txt`` (this folder) for ``grid``, in file order, as ``{column:
    cell}``; a row that ends before the optional columns takes their defaults."""
    text = resources.files(__package__).joinpath("grid.txt").read_text(encoding="utf-8")
    header, *lines = (line.split() for line in text.splitlines() if line and line[0] != "#")
    required = len(header) - len(_OPTIONAL_COLUMNS)
    if header[required:] != list(_OPTIONAL_COLUMNS):
        raise ValueError(f"grid.txt must end with the columns {list(_OPTIONAL_COLUMNS)}")
    rows = []
    for line in lines:
        if not required <= len(line) <= len(header):
            raise ValueError(f"grid.txt: a row of {len(line)} cells, not {required}..{len(header)}")
        row = dict(_OPTIONAL_COLUMNS) | dict(zip(header, line, strict=False))
        if row["grid"] == grid:
            rows.append(row)
    return rows


def _configs(rows: Sequence[dict[str, str]]) -> tuple[StudyConfig, ...]:
    """One config per row, numbered in row order (module docstring); a Flax row runs on
    the inputs of the conditional row ``twin``."""
    configs = []
    for index, row in enumerate(rows):
        depth = int(row["depth"])
        common = dict(
            num_res_blocks=depth,
            W_std=float(row["W_std"]),
            b_std=float(row["b_std"]),
            n_inputs=int(row["inputs"]),
            widths=tuple(int(w) for w in row["widths"].split(",")),
            seeds=int(row["seeds"]),
            replicates=int(row["replicates"]),
            input_dim=int(row["dim"]),
            input_kind=row["kind"],
            activation=row["activation"],
            branch_scale=branch_scale_at(parse_branch_scale(row["alpha"]), depth),
        )
        if row["sampler"] == "conditional":
            seed = DESIGN_SEED + index
            configs.append(StudyConfig(f"c{index:02d}", **common, base_seed=seed, input_seed=seed))
        elif row["sampler"] == "flax":
            twin = int(row["twin"])
            configs.append(
                StudyConfig(
                    f"f{index:02d}",
                    **common,
                    sampler="flax",
                    base_seed=DESIGN_FLAX_SEED + DESIGN_FLAX_STRIDE * index,
                    input_seed=DESIGN_SEED + twin,
                    twin=f"c{twin:02d}",
                )
            )
        else:
            raise ValueError(f"grid.txt: unknown sampler {row['sampler']!r}")
    return tuple(configs)


def default_grid() -> tuple[StudyConfig, ...]:
    """The study's grid (``grid.txt``): conditional-sampler configs and a few with Flax
    networks, ReLU and branch scale 1 first, then other activations and branch scales."""
    return _configs(_grid_rows("default"))


def quick_grid() -> tuple[StudyConfig, ...]:
    """A smaller grid for a smoke run: 5 conditional configs and 1 with Flax networks."""
    return _configs(_grid_rows("quick"))


def with_shape(
    configs: Sequence[StudyConfig],
    *,
    activation: str | None = None,
    branch_scale: float | str | None = None,
) -> tuple[StudyConfig, ...]:
    """``configs`` with their activation and/or branch scale replaced (None keeps a config's).

    Names, seeds and inputs stay, so ``c05`` under ``--activation erf`` is the ReLU
    ``c05``'s design with erf networks. ``branch_scale`` may be
    :data:`INVERSE_SQRT_DEPTH`, resolved at each config's depth.
    """
    changed = []
    for config in configs:
        change = {}
        if activation is not None:
            change["activation"] = activation
        if branch_scale is not None:
            change["branch_scale"] = branch_scale_at(branch_scale, config.num_res_blocks)
        changed.append(dataclasses.replace(config, **change))
    return tuple(changed)


def study_inputs(config: StudyConfig) -> np.ndarray:
    """The inputs of ``config`` (:attr:`StudyConfig.input_kind`), from ``input_seed``."""
    rng = np.random.default_rng(config.input_seed)
    xs = rng.standard_normal((config.n_inputs, config.input_dim))
    if config.input_kind == "norms":
        norms = np.geomspace(0.03, 316.0, config.n_inputs)
        xs = xs / np.linalg.norm(xs, axis=1, keepdims=True) * norms[:, None]
    elif config.input_kind == "special":
        xs[1] = xs[0] + 1e-4 * rng.standard_normal(config.input_dim)
        xs[2] = -xs[0]
        xs[3] = 0.0
    return xs
