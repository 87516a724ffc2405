r"""A kernel as a vector of its distinct entries, on a scale that does not depend on input norms.

A kernel matrix :math:`K` on inputs :math:`x_1, \dots, x_N` changes as
:math:`K_{ij} \to a_i a_j K_{ij}` when each input's contribution is rescaled
(for positively homogeneous networks without biases, :math:`x_i \to a_i x_i`
does exactly that). An error measured on the raw entries is dominated by the
inputs of largest norm: a formula that is wrong only at small-norm inputs is
invisible in :math:`\lVert \cdot \rVert_F`. The harness therefore judges the
*scale-free* deviations

.. math:: D_{ij} = \frac{\hat K_{ij} - K^{\rm ref}_{ij}}{s_i s_j},
          \qquad s_i = \sqrt{\bar K_{ii}},

with :math:`\bar K` the seed mean of the networks' kernels at the largest
width (the data, not the formula, so a candidate cannot choose its own scale),
which is invariant under :math:`x_i \to a_i x_i`. For a correlation-like
kernel it is the error of the correlation :math:`K_{ij}/\sqrt{K_{ii}K_{jj}}`.
A diagonal entry that is zero in every network (a zero input without biases)
gets the floor :math:`s_i^2 = 10^{-12} \max_k \bar K_{kk}`.

The distinct entries of a symmetric :math:`N \times N` kernel are its upper
triangle, :math:`m = N(N+1)/2` of them; off-diagonal entries carry the weight
:math:`\sqrt 2`, so that the Euclidean norm of the weighted vector is the
Frobenius norm of :math:`D`. Anything else (a non-square array, or a formula
that is not symmetric) is judged entry by entry on its own scale, all entries
distinct, weight 1.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["KernelLayout", "scale_free_errors"]

#: Relative floor of a diagonal scale :math:`s_i^2` (an input whose kernel row is zero).
SCALE_FLOOR = 1e-12
#: A kernel is symmetric when ``max|K − Kᵀ| ≤ SYMMETRY_TOLERANCE · max|K|`` (float32 data).
SYMMETRY_TOLERANCE = 1e-5


@dataclasses.dataclass(frozen=True, eq=False)
class KernelLayout:
    r"""Which entries are distinct, their weights, and the scale :math:`s_i s_j` of each.

    Attributes:
      shape: the kernel's shape.
      rows, cols: indices of the distinct entries (upper triangle, or all).
      weight: :math:`\sqrt 2` for an off-diagonal entry of a symmetric kernel, else 1.
      scale: :math:`s_i s_j` per distinct entry (1 when not scale-free).
      scale_free: whether the entries are divided by :math:`s_i s_j`.
      symmetric: whether only the upper triangle is used.
    """

    shape: tuple[int, ...]
    rows: np.ndarray
    cols: np.ndarray
    weight: np.ndarray
    scale: np.ndarray
    scale_free: bool
    symmetric: bool

    @property
    def size(self) -> int:
        """Number of distinct entries, :math:`m`."""
        return int(self.weight.size)

    @classmethod
    def plain(cls, shape: tuple[int, ...]) -> KernelLayout:
        """Every entry, unscaled, weight 1: norms are plain Frobenius norms."""
        if len(shape) == 2 and shape[0] == shape[1]:
            rows, cols = (a.ravel() for a in np.indices(shape))
        else:
            rows = cols = np.arange(int(np.prod(shape)))
        ones = np.ones(rows.size)
        return cls(tuple(shape), rows, cols, ones, ones, False, False)

    @classmethod
    def of(cls, reference: np.ndarray, diagonal_source: np.ndarray, *, scale_free: bool = True):
        """The layout for judging ``reference`` against data whose seed mean is ``diagonal_source``.

        Args:
          reference: the formula, any shape.
          diagonal_source: the data's seed-mean kernel at the largest width, same shape.
          scale_free: divide by :math:`s_i s_j` (square kernels only).
        """
        ref = np.asarray(reference, dtype=np.float64)
        data = np.asarray(diagonal_source, dtype=np.float64)
        square = ref.ndim == 2 and ref.shape[0] == ref.shape[1]
        if not square:
            return cls.plain(ref.shape)
        n = ref.shape[0]
        symmetric = _is_symmetric(ref) and _is_symmetric(data)
        if symmetric:
            rows, cols = np.triu_indices(n)
            weight = np.where(rows == cols, 1.0, np.sqrt(2.0))
        else:
            rows, cols = (a.ravel() for a in np.indices((n, n)))
            weight = np.ones(rows.size)
        diag = np.diag(data)
        use_scale = scale_free and np.all(np.isfinite(diag)) and float(diag.max(initial=0.0)) > 0
        if use_scale:
            s2 = np.maximum(diag, SCALE_FLOOR * float(diag.max()))
            s = np.sqrt(s2)
            scale = s[rows] * s[cols]
        else:
            scale = np.ones(rows.size)
        return cls(ref.shape, rows, cols, weight, scale, bool(use_scale), symmetric)

    def entries(self, arrays: np.ndarray) -> np.ndarray:
        """Scale-free distinct entries :math:`K_{ij}/(s_i s_j)`, shape ``(..., m)`` (no weight)."""
        a = np.asarray(arrays, dtype=np.float64)
        if len(self.shape) == 2 and self.shape[0] == self.shape[1]:
            picked = a[..., self.rows, self.cols]
        else:
            picked = a.reshape(*a.shape[: a.ndim - len(self.shape)], -1)
        return picked / self.scale

    def vector(self, arrays: np.ndarray) -> np.ndarray:
        """Weighted scale-free entries: their Euclidean norm is the scale-free Frobenius norm."""
        return self.entries(arrays) * self.weight

    def matrix(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Per-entry values (length :math:`m`) back in the kernel's shape, mirrored if symmetric."""
        out = np.full(self.shape, fill, dtype=np.float64)
        if len(self.shape) == 2 and self.shape[0] == self.shape[1]:
            out[self.rows, self.cols] = values
            if self.symmetric:
                out[self.cols, self.rows] = values
        else:
            out.reshape(-1)[:] = values
        return out


def _is_symmetric(k: np.ndarray) -> bool:
    largest = float(np.max(np.abs(k), initial=0.0))
    return bool(np.max(np.abs(k - k.T), initial=0.0) <= SYMMETRY_TOLERANCE * largest)


def scale_free_errors(reference: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    r"""``(ε, ε_entry)`` of a formula against the true kernel, as the formula test measures them.

    :math:`\varepsilon = \lVert D\rVert_F / \lVert K_{\rm ref}/(s s^\top)\rVert_F` and
    :math:`\varepsilon_{\rm entry} = \max_{ij} |D_{ij}|`, with
    :math:`D = (K - K_{\rm ref})/(s s^\top)` and :math:`s_i^2` the *true* diagonal
    :math:`K_{ii}` (the test uses the networks' seed mean, which tends to it).
    """
    layout = KernelLayout.of(reference, truth)
    diff = layout.entries(np.asarray(truth, dtype=np.float64)) - layout.entries(reference)
    ref = layout.vector(reference)
    return float(np.linalg.norm(diff * layout.weight) / np.linalg.norm(ref)), float(
        np.max(np.abs(diff))
    )
