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

The inputs of a config are ``gaussian_inputs(n_inputs, input_dim, seed=input_seed)``.

The default grid (:func:`default_grid`) spans depth 1–10, ``W_std`` 0.5–2,
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
from typing import Literal

__all__ = [
    "DEEP_SMALL_WIDTH",
    "StudyConfig",
    "default_grid",
    "quick_grid",
]

Sampler = Literal["conditional", "flax"]

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
      n_inputs, input_dim: the Gaussian input set ``(N, d)``.
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

# (depth, W_std, b_std, inputs, widths, seeds per width, replicates). Six shape groups,
# (depth, inputs, widths): (1, 8, 16..128), (1, 4, 1024..4096), (2, 4, 8..32),
# (3, 8, 64..1024), (5, 16, 16..64) and (10, 8, 16..128); every config draws
# R·S >= CONDITIONAL_CHUNK networks per width, so each (depth, width, inputs) compiles once.
# The (1, 4, 1024..4096) configs reach detectable errors below 1%: "consistent" outcomes.
_CONDITIONAL_GRID = (
    (1, 0.5, 0.0, 8, (16, 32, 64), 4, 64),
    (1, 1.0, 0.0, 8, (32, 64, 128), 16, 16),
    (1, 1.5, 0.5, 8, (16, 32, 64), 256, 8),
    (1, 2.0, 1.0, 8, (64, 128), 512, 4),
    (1, 0.8, 0.8, 8, (16, 32, 64, 128), 64, 8),
    (1, 1.2, 0.3, 8, (16, 128), 128, 4),
    (1, 1.0, 0.5, 4, (1024, 2048, 4096), 1024, 2),
    (1, 0.7, 0.0, 4, (1024, 4096), 512, 2),
    (2, 0.7, 0.2, 4, (8, 16, 32), 1024, 4),
    (2, 1.0, 1.0, 4, (8, 16), 4096, 2),
    (2, 1.8, 0.1, 4, (8, 16, 32), 32, 8),
    (2, 2.0, 0.5, 4, (16, 32), 256, 4),
    (2, 0.5, 0.0, 4, (8, 16, 32), 4, 64),
    (3, 1.5, 0.5, 8, (64, 128, 256), 64, 8),
    (3, 1.0, 0.5, 8, (256, 512, 1024), 16, 16),
    (3, 2.0, 0.0, 8, (64, 128, 256, 512), 128, 2),
    (3, 0.6, 0.4, 8, (64, 128), 8, 32),
    (3, 1.2, 0.0, 8, (128, 256, 512), 64, 4),
    (3, 0.5, 1.0, 8, (512, 1024), 32, 8),
    (3, 1.5, 0.5, 8, (64, 256, 1024), 256, 2),
    (5, 1.0, 0.3, 16, (16, 32, 64), 512, 2),
    (5, 1.6, 0.6, 16, (16, 32, 64), 64, 8),
    (5, 0.8, 0.0, 16, (32, 64), 16, 16),
    (5, 2.0, 1.0, 16, (16, 32, 64), 32, 8),
    (5, 0.5, 0.9, 16, (16, 32), 1024, 2),
    (5, 1.4, 0.2, 16, (16, 32, 64), 4, 64),
    (10, 2.0, 0.5, 8, (16, 32, 64, 128), 8192, 2),
    (10, 1.0, 0.0, 8, (16, 32, 64, 128), 64, 8),
    (10, 0.5, 0.5, 8, (16, 32, 64), 256, 8),
    (10, 1.5, 1.0, 8, (32, 64, 128), 32, 8),
    (10, 2.0, 0.5, 8, (64, 128), 4, 64),
    (10, 1.2, 0.2, 8, (16, 32, 64, 128), 16, 16),
    (10, 1.8, 0.8, 8, (16, 32, 64), 1024, 2),
    (10, 1.0, 1.0, 8, (32, 64, 128), 256, 2),
)

# Flax rows end with their conditional twin: same architecture and inputs.
_FLAX_GRID = (
    (1, 1.5, 0.5, 8, (16, 32, 64), 256, 8, 2),
    (3, 1.5, 0.5, 8, (64, 128, 256), 64, 8, 13),
    (10, 2.0, 0.5, 8, (16, 32, 64, 128), 1024, 2, 26),
)

_QUICK_CONDITIONAL = (
    (1, 1.5, 0.5, 8, (16, 32, 64), 64, 4),
    (1, 0.5, 0.0, 8, (16, 32, 64), 4, 64),
    (1, 2.0, 1.0, 8, (32, 64), 256, 4),
    (10, 2.0, 0.5, 8, (16, 32, 64), 512, 2),
    (10, 1.0, 0.0, 8, (16, 32, 64), 16, 16),
)

_QUICK_FLAX = ((1, 1.5, 0.5, 8, (16, 32, 64), 64, 4, 0),)


def _configs(conditional, flax) -> tuple[StudyConfig, ...]:
    """Conditional rows, then Flax rows ``(..., twin)`` on the inputs of row ``twin``."""
    configs = []
    for index, (L, W, b, N, widths, S, R) in enumerate(conditional):
        configs.append(
            StudyConfig(
                f"c{index:02d}",
                L,
                W,
                b,
                N,
                widths,
                S,
                R,
                base_seed=DESIGN_SEED + index,
                input_seed=DESIGN_SEED + index,
            )
        )
    for L, W, b, N, widths, S, R, twin in flax:
        index = len(configs)
        configs.append(
            StudyConfig(
                f"f{index:02d}",
                L,
                W,
                b,
                N,
                widths,
                S,
                R,
                sampler="flax",
                base_seed=DESIGN_FLAX_SEED + DESIGN_FLAX_STRIDE * index,
                input_seed=DESIGN_SEED + twin,
                twin=f"c{twin:02d}",
            )
        )
    return tuple(configs)


def default_grid() -> tuple[StudyConfig, ...]:
    """34 conditional-sampler configs and 3 with Flax networks (module docstring)."""
    return _configs(_CONDITIONAL_GRID, _FLAX_GRID)


def quick_grid() -> tuple[StudyConfig, ...]:
    """A smaller grid for a smoke run: 5 conditional configs and 1 with Flax networks."""
    return _configs(_QUICK_CONDITIONAL, _QUICK_FLAX)
