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

The default grid (:func:`default_grid`, one row per config in ``grid.txt`` beside
this module) spans depth 1–10, ``W_std`` 0.5–2,
``b_std`` 0–1, 4 to 8192 seeds per width, widths 8 to 4096 and 4 to 16 inputs,
and includes the deep small-width case of issue 10 (10 blocks, ``W_std = 2``,
``b_std = 0.5``, widths 16..128, 8192 seeds, 8 inputs). It uses conditional
base seeds ``1000 + index``, Flax seeds from ``10⁹ + 10⁷·index`` and input
seeds ``1000 + index`` (a Flax config takes its conditional twin's inputs);
the tests hold out other seeds (``tests/calibrate/test_calibration.py``). Few distinct
``(depth, width, inputs)`` triples keep the compilations few: ``W_std`` and
``b_std`` are traced, not compiled in.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import Literal

import numpy as np

__all__ = [
    "DEEP_SMALL_WIDTH",
    "StudyConfig",
    "default_grid",
    "quick_grid",
    "study_inputs",
]

Sampler = Literal["conditional", "flax"]
#: How a config's inputs are made (:func:`study_inputs`).
INPUT_KINDS = ("gaussian", "norms", "special")

#: Conditional base seed and input seed of the default grid's config ``index``: ``1000 + index``.
DESIGN_SEED = 1000
#: Flax seed region of the default grid's config ``index``: ``10⁹ + 10⁷·index``.
DESIGN_FLAX_SEED = 10**9
DESIGN_FLAX_STRIDE = 10**7


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

    def __post_init__(self):
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

    def network_index(self, width_index: int, replicate: int, seed: int) -> int:
        """Index of a network within the config: ``(i·R + r)·S + s``."""
        return (width_index * self.replicates + replicate) * self.seeds + seed

    def networks(self) -> int:
        """Networks drawn for this config, all widths and replicates."""
        return len(self.widths) * self.replicates * self.seeds

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "widths": list(self.widths)}


DEEP_SMALL_WIDTH = dict(
    num_res_blocks=10, W_std=2.0, b_std=0.5, n_inputs=8, widths=(16, 32, 64, 128)
)
"""Issue 10's deep small-width case, which the old rule judged "does not converge"."""


def _grid_rows(grid: str, sampler: Sampler) -> list[tuple]:
    """The rows of ``grid.txt`` (this folder) for ``grid`` and ``sampler``: ``((depth,
    W_std, b_std, inputs, widths, seeds, replicates), {input_dim, input_kind}, twin)``,
    ``twin`` None for conditional rows."""
    text = resources.files(__package__).joinpath("grid.txt").read_text(encoding="utf-8")
    header, *lines = (line.split() for line in text.splitlines() if line and line[0] != "#")
    rows = []
    for line in lines:
        row = dict(zip(header, line, strict=True))
        if (row["grid"], row["sampler"]) != (grid, sampler):
            continue
        cells = (
            int(row["depth"]),
            float(row["W_std"]),
            float(row["b_std"]),
            int(row["inputs"]),
            tuple(int(w) for w in row["widths"].split(",")),
            int(row["seeds"]),
            int(row["replicates"]),
        )
        inputs = {"input_dim": int(row["dim"]), "input_kind": row["kind"]}
        rows.append((cells, inputs, int(row["twin"]) if sampler == "flax" else None))
    return rows


def _configs(conditional, flax) -> tuple[StudyConfig, ...]:
    """Conditional rows, then Flax rows ``(..., twin)`` on the inputs of row ``twin``."""
    configs = []
    for index, (row, inputs, _) in enumerate(conditional):
        seed = DESIGN_SEED + index
        configs.append(
            StudyConfig(f"c{index:02d}", *row, **inputs, base_seed=seed, input_seed=seed)
        )
    for row, inputs, twin in flax:
        index = len(configs)
        configs.append(
            StudyConfig(
                f"f{index:02d}",
                *row,
                **inputs,
                sampler="flax",
                base_seed=DESIGN_FLAX_SEED + DESIGN_FLAX_STRIDE * index,
                input_seed=DESIGN_SEED + twin,
                twin=f"c{twin:02d}",
            )
        )
    return tuple(configs)


def default_grid() -> tuple[StudyConfig, ...]:
    """34 conditional-sampler configs and 3 with Flax networks (``grid.txt``)."""
    return _configs(_grid_rows("default", "conditional"), _grid_rows("default", "flax"))


def quick_grid() -> tuple[StudyConfig, ...]:
    """A smaller grid for a smoke run: 5 conditional configs and 1 with Flax networks."""
    return _configs(_grid_rows("quick", "conditional"), _grid_rows("quick", "flax"))


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
