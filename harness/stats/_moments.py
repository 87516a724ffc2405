r"""Per-width sufficient statistics of many symmetric per-network kernels.

A run that draws hundreds of thousands of networks per width (the finite-width
correction, :mod:`harness.converge._correction_mode`) cannot keep every network's
kernel. Everything the statistics of this package use from one width's per-seed
kernels :math:`\hat K_s` (:math:`s = 1 \dots S`) is a function of

* the count :math:`S` and the mean :math:`\bar K`;
* the scatter :math:`\sum_s (e_s - \bar e)(e_s - \bar e)^\top` of the distinct
  (upper-triangular) entries :math:`e_s` of :math:`\hat K_s`,

because the tests are quadratic in the per-seed deviations: per-entry variances
are the scatter's diagonal, and the top eigenvalue of the estimate's covariance is
that of a weighted sum of scatters (:mod:`harness.stats._extrapolation`). Chunks
combine exactly with the pairwise update of Chan, Golub & LeVeque (1979,
*Updating formulae and a pairwise algorithm for computing sample variances*).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["WidthMoments"]


@dataclasses.dataclass(frozen=True, eq=False)
class WidthMoments:
    r"""Count, mean and scatter of one width's symmetric per-seed kernels.

    Attributes:
      count: :math:`S`, the number of networks.
      mean: :math:`\bar K`, shape ``(N, N)``.
      scatter: :math:`\sum_s (e_s - \bar e)(e_s - \bar e)^\top` over the distinct
        entries :math:`e` in ``numpy.triu_indices(N)`` order, shape ``(m, m)``,
        :math:`m = N(N+1)/2`.
    """

    count: int
    mean: np.ndarray
    scatter: np.ndarray

    @classmethod
    def of(cls, stack) -> WidthMoments:
        """The moments of per-seed kernels ``(S, N, N)`` (symmetric: the upper triangle is used)."""
        stack = np.asarray(stack, dtype=np.float64)
        if stack.ndim != 3 or stack.shape[1] != stack.shape[2] or stack.shape[0] < 1:
            raise ValueError(f"expected per-seed square kernels (S, N, N), got {stack.shape}")
        rows, cols = np.triu_indices(stack.shape[1])
        entries = stack[:, rows, cols]
        deviations = entries - entries.mean(axis=0)
        mean = stack.mean(axis=0)
        return cls(int(stack.shape[0]), 0.5 * (mean + mean.T), deviations.T @ deviations)

    def merged(self, other: WidthMoments) -> WidthMoments:
        """The moments of both chunks together (Chan, Golub & LeVeque 1979)."""
        if other.mean.shape != self.mean.shape:
            raise ValueError(f"kernel shapes differ: {self.mean.shape} and {other.mean.shape}")
        total = self.count + other.count
        rows, cols = np.triu_indices(self.mean.shape[0])
        delta = other.mean[rows, cols] - self.mean[rows, cols]
        mean = self.mean + (other.count / total) * (other.mean - self.mean)
        scatter = (
            self.scatter + other.scatter + np.outer(delta, delta) * self.count * other.count / total
        )
        return WidthMoments(total, mean, scatter)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.mean.shape

    def to_json(self) -> dict:
        return {"count": self.count, "mean": self.mean.tolist(), "scatter": self.scatter.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> WidthMoments:
        return cls(
            int(data["count"]),
            np.asarray(data["mean"], np.float64),
            np.asarray(data["scatter"], np.float64),
        )
