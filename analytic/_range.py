r"""How large the kernels get: the diagonal recursion in closed form, and float64 range checks.

On the diagonal (``x = x'``, angle 0) the ReLU moments are exact,
``V(Σ) = Σ/2`` and ``V̇ = 1/2``, so the recursion of :mod:`analytic._rmlp`
(``w = W_std²``, ``β = b_std²``) becomes linear in ``(K, Θ)``:

.. math::

   K_0 = Θ_0 = \frac{w}{d}\lVert x\rVert^2 + β, \qquad
   \begin{pmatrix} K_l \\ Θ_l \\ 1 \end{pmatrix} =
   \begin{pmatrix} a & 0 & β(1 + w/2) \\ w^2 & a & (w + 1)β \\ 0 & 0 & 1 \end{pmatrix}
   \begin{pmatrix} K_{l-1} \\ Θ_{l-1} \\ 1 \end{pmatrix}, \qquad a = 1 + \frac{w^2}{2},

with readout ``NNGP = w K_L / 2`` and ``NTK = w Θ_L / 2 + w K_L / 2``. Every
entry is non-negative, so the diagonal grows with ``‖x‖`` and with depth, and
by Cauchy–Schwarz it bounds every off-diagonal entry. The matrix power is
taken by repeated squaring in :mod:`decimal` arithmetic, whose exponent range
(about ``10^±10^18``) holds any depth below ``2^31`` and any finite float
argument, so the magnitude of a kernel is known before it is computed.

Limits of the float64 computation (:mod:`analytic._pairs`):

* the input layer squares the entries of ``x``: the largest row norm must stay
  within ``1e-150 … 1e150`` (else its square leaves the normal float64 range;
  smaller rows only lose what is below ``1e-300`` of the largest entries);
* a kernel whose largest entries fall below ``1e-300`` loses its digits to
  subnormal numbers;
* the residual step squares products of roots (a ``K²``-sized numerator), so
  an input set whose kernels pass about ``1e154`` can overflow into NaN; it
  stays finite when the numerator cancels, so the result decides;
* every diagonal value past ``1e300`` overflows outright.

:func:`check_float64_range` refuses the last two cases before any work, and
:func:`overflow_error` explains a non-finite result after it.
"""

from __future__ import annotations

import decimal
import math
from typing import NamedTuple

import numpy as np

from analytic.activations import Activation
from analytic.activations import get_activation

__all__ = [
    "FLOAT64_LIMIT",
    "RMLPDiagonal",
    "check_float64_range",
    "overflow_error",
    "rmlp_diagonal_log10",
]

#: Largest diagonal value the float64 recursion is asked to carry.
FLOAT64_LIMIT = 1e300
#: Diagonal value past which the residual step's squared numerator may overflow.
SQUARED_LIMIT = 1e154
#: Squared row norms outside ``[1e-300, 1e300]`` leave the normal float64 range.
_SQUARED_NORM_RANGE = (1e-300, 1e300)


class _Scales(NamedTuple):
    """The activation's diagonal bounds and the squared branch scale."""

    activation: Activation
    gain: float
    offset: float
    derivative_gain: float
    branch_var: float
    exact: bool

    @classmethod
    def of(cls, activation, branch_scale: float) -> _Scales:
        act = get_activation(activation)
        return cls(
            act,
            act.gain,
            act.offset,
            act.derivative_gain,
            float(branch_scale) ** 2,
            act.exact,
        )


class RMLPDiagonal(NamedTuple):
    """``log10`` of the kernels on the diagonal (``-inf`` for an exact zero).

    Attributes:
      nngp: ``log10 NNGP(x, x)``.
      ntk: ``log10 NTK(x, x)``.
      hidden: ``log10`` of the largest hidden-layer variance (``K_L`` or the
        pre-activation ``w K_{L-1} + β``), the scale of the activations.
      input: ``log10 K_0(x, x)``, the embedding's variance.
    """

    nngp: float
    ntk: float
    hidden: float
    input: float


def _context() -> decimal.Context:
    return decimal.Context(prec=40, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def _matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _power(matrix, exponent: int):
    result = [[decimal.Decimal(int(i == j)) for j in range(3)] for i in range(3)]
    while exponent:
        if exponent & 1:
            result = _matmul(result, matrix)
        matrix = _matmul(matrix, matrix)
        exponent >>= 1
    return result


def _log10(value: decimal.Decimal) -> float:
    return -math.inf if value == 0 else float(value.log10())


def _state(squared_norm, dim: int, blocks: int, W_std: float, b_std: float, arch: _Scales):
    r"""``(K_L, Θ_L, w, β, K_0)`` as decimals (inside an extended-range context).

    With :math:`V(a) \le g a + c`, :math:`\dot V \le \dot g` on the diagonal and the
    branch scale :math:`\alpha` (``s = α²``), a block maps
    :math:`K \mapsto (1 + s w^2 g) K + s(β(1 + wg) + wc)` and
    :math:`Θ \mapsto (1 + s w^2 \dot g)Θ + s w^2(\dot g + g) K + s(wβ(\dot g + g) + wc + β)`,
    equalities for a positively homogeneous activation (ReLU: ``g = ġ = 1/2``, ``c = 0``,
    the matrix of the module docstring) and upper bounds otherwise.
    """
    D = decimal.Decimal
    w = D(W_std) * D(W_std)
    beta = D(b_std) * D(b_std)
    g, c, gd, s = D(arch.gain), D(arch.offset), D(arch.derivative_gain), D(arch.branch_var)
    step = [
        [1 + s * w * w * g, D(0), s * (beta * (1 + w * g) + w * c)],
        [s * w * w * (gd + g), 1 + s * w * w * gd, s * (w * beta * (gd + g) + w * c + beta)],
        [D(0), D(0), D(1)],
    ]
    k0 = w / D(dim) * D(squared_norm) + beta  # squared_norm: a float or a Decimal
    power = _power(step, blocks)
    K = power[0][0] * k0 + power[0][1] * k0 + power[0][2]
    theta = power[1][0] * k0 + power[1][1] * k0 + power[1][2]
    return K, theta, w, beta, k0


def _readout(K, theta, w, arch: _Scales):
    """``(NNGP, NTK)`` on the diagonal from ``(K_L, Θ_L)`` (bounds unless exact)."""
    D = decimal.Decimal
    nngp = w * (D(arch.gain) * K + D(arch.offset))
    return nngp, w * D(arch.derivative_gain) * theta + nngp


def rmlp_diagonal_log10(
    squared_norm: float,
    *,
    input_dim: int,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation: str | Activation = "relu",
    branch_scale: float = 1.0,
) -> RMLPDiagonal:
    """``log10`` of the NNGP, NTK and hidden variances at an input of squared norm ``‖x‖²``.

    Exact (40 significant digits) whatever the magnitude for a positively homogeneous
    activation (the ReLU family, the identity): values beyond float64 are reported, not
    overflowed. For other activations, upper bounds (``activation.exact`` is False).
    Arguments are not validated here.
    """
    arch = _Scales.of(activation, branch_scale)
    with decimal.localcontext(_context()):
        K, theta, w, beta, k0 = _state(squared_norm, input_dim, num_res_blocks, W_std, b_std, arch)
        pre = w * K + beta if num_res_blocks else K
        nngp, ntk = _readout(K, theta, w, arch)
        return RMLPDiagonal(
            nngp=_log10(nngp),
            ntk=_log10(ntk),
            hidden=max(_log10(K), _log10(pre)),
            input=_log10(k0),
        )


def _peak_log10(squared_norm, dim, blocks, W_std, b_std, arch: _Scales) -> float:
    """``log10`` of the largest value the recursion handles up to block ``blocks``."""
    with decimal.localcontext(_context()):
        K, theta, w, beta, _ = _state(squared_norm, dim, blocks, W_std, b_std, arch)
        sigma = w * K + beta
        values = (K, theta, sigma, w * theta + sigma, *_readout(K, theta, w, arch))
        return max(_log10(v) for v in values)


def _first_block_above(log10_limit, squared_norm, dim, blocks, W_std, b_std, arch) -> int | None:
    """The first block ``l <= blocks`` whose peak passes ``10^log10_limit`` (0: the input)."""
    if _peak_log10(squared_norm, dim, blocks, W_std, b_std, arch) <= log10_limit:
        return None
    if _peak_log10(squared_norm, dim, 0, W_std, b_std, arch) > log10_limit:
        return 0
    low, high = 0, blocks  # peak(low) <= limit < peak(high)
    while high - low > 1:
        middle = (low + high) // 2
        if _peak_log10(squared_norm, dim, middle, W_std, b_std, arch) > log10_limit:
            high = middle
        else:
            low = middle
    return high


def _largest_squared_norm(xs: np.ndarray) -> decimal.Decimal:
    """The largest squared row norm, from rows rescaled by the largest entry (no overflow)."""
    scale = float(np.max(np.abs(xs)))
    if scale == 0:
        return decimal.Decimal(0)
    squared = float(np.max(np.sum(np.square(xs / scale), axis=1)))
    with decimal.localcontext(_context()):
        return decimal.Decimal(squared) * decimal.Decimal(scale) * decimal.Decimal(scale)


def _norm(squared: decimal.Decimal) -> str:
    with decimal.localcontext(_context()):
        return f"{squared.sqrt():.3g}"


def _describe(blocks, W_std, b_std, squared, arch: _Scales) -> str:
    extra = "" if arch.activation.name == "relu" else f", activation={arch.activation.name}"
    if arch.branch_var != 1.0:
        extra += f", branch_scale={math.sqrt(arch.branch_var):g}"
    return (
        f"num_res_blocks={blocks}, W_std={W_std:g}, b_std={b_std:g}{extra}, "
        f"largest input norm {_norm(squared)}"
    )


def _where(block: int) -> str:
    return "in the input layer" if block == 0 else f"at block {block}"


def _inputs_matter(squared: decimal.Decimal, dim: int, W_std: float, b_std: float) -> bool:
    """Whether ``w/d · ‖x‖²`` is above float64 rounding of the bias term ``β`` in ``K_0``."""
    with decimal.localcontext(_context()):
        D = decimal.Decimal
        return D(W_std) ** 2 / D(dim) * squared > D(b_std) ** 2 * D("1e-17")


def check_float64_range(
    xs: np.ndarray,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    *,
    activation: str | Activation = "relu",
    branch_scale: float = 1.0,
) -> None:
    """Refuse inputs and architectures whose kernels cannot be computed in float64.

    ``xs`` is a validated float64 ``(N, d)`` array and the hyper-parameters are
    validated too (:mod:`analytic._validation`).

    Raises:
      ValueError: the largest squared row norm leaves ``[1e-300, 1e300]`` (all-zero
        inputs are fine, and so are tiny ones beside which the bias term
        dominates), the largest diagonal NNGP or NTK entry is below ``1e-300`` but
        not 0, or the largest diagonal value of the recursion passes
        :data:`FLOAT64_LIMIT`; the message names the block and the scales. For an
        activation that is not positively homogeneous the diagonal is an upper bound
        (:class:`~analytic.activations.Activation`), and the message says so.
    """
    arch = _Scales.of(activation, branch_scale)
    largest = _largest_squared_norm(xs)
    low, high = (decimal.Decimal(bound) for bound in _SQUARED_NORM_RANGE)
    if largest > high:
        raise ValueError(
            f"the kernel overflows float64 in the input layer: the largest input norm is "
            f"{_norm(largest)}, and squared norms must stay below {high:.0e}; rescale the inputs"
        )
    if 0 < largest < low and _inputs_matter(largest, xs.shape[1], W_std, b_std):
        raise ValueError(
            f"the kernel underflows float64 in the input layer: the largest input norm is "
            f"{_norm(largest)}, and its square must stay above {low:.0e}; rescale the inputs"
        )
    diagonal = rmlp_diagonal_log10(
        largest,
        input_dim=xs.shape[1],
        num_res_blocks=num_res_blocks,
        W_std=W_std,
        b_std=b_std,
        activation=arch.activation,
        branch_scale=branch_scale,
    )
    for name, value in zip(("NNGP", "NTK"), diagonal[:2], strict=True):
        if -math.inf < value < math.log10(_SQUARED_NORM_RANGE[0]):
            raise ValueError(
                f"the {name} underflows float64: its largest diagonal entry is 1e{value:+.0f} "
                f"with {_describe(num_res_blocks, W_std, b_std, largest, arch)}; "
                "use a larger W_std or larger inputs"
            )
    dim = xs.shape[1]
    limit = math.log10(FLOAT64_LIMIT)
    peak = _peak_log10(largest, dim, num_res_blocks, W_std, b_std, arch)
    if peak > limit:
        block = _first_block_above(limit, largest, dim, num_res_blocks, W_std, b_std, arch)
        reaches = "reaches" if arch.exact else "may reach (an upper bound)"
        raise ValueError(
            f"the kernel overflows float64: its diagonal {reaches} 1e{peak:+.0f} "
            f"(past {FLOAT64_LIMIT:.0e} {_where(block)}) with "
            f"{_describe(num_res_blocks, W_std, b_std, largest, arch)}; "
            "use fewer blocks, a smaller W_std or smaller inputs"
        )


def overflow_error(
    xs: np.ndarray,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    what: str,
    *,
    activation: str | Activation = "relu",
    branch_scale: float = 1.0,
) -> ValueError:
    """The error for a non-finite ``what`` (e.g. ``"NTK"``) computed from finite arguments."""
    arch = _Scales.of(activation, branch_scale)
    largest = _largest_squared_norm(xs)
    dim = xs.shape[1]
    block = _first_block_above(
        math.log10(SQUARED_LIMIT), largest, dim, num_res_blocks, W_std, b_std, arch
    )
    where = (
        f"its diagonal passes {SQUARED_LIMIT:.0e} {_where(block)}, and the residual step squares it"
        if block is not None
        else "an intermediate value left the float64 range"
    )
    return ValueError(
        f"the {what} overflows float64 ({where}) with "
        f"{_describe(num_res_blocks, W_std, b_std, largest, arch)}; "
        "use fewer blocks, a smaller W_std or smaller inputs"
    )
