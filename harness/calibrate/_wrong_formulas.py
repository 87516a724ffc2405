r"""Kernel formulas wrong by known amounts, for measuring the formula test's power.

Each :class:`WrongFormula` is a reference kernel :math:`K_{\rm ref}` for one
kernel (NNGP or NTK) whose distance from the truth :math:`K` (our analytic
kernel, :func:`analytic.rmlp_kernels`, which the networks converge to) is
known exactly. Its *true errors* are measured as the formula test measures
them (:func:`harness.stats.scale_free_errors`): the scale-free relative
Frobenius error :math:`\varepsilon` and the largest scale-free entry error
:math:`\varepsilon_{\rm entry} = \max_{ij} |K - K_{\rm ref}|_{ij}/\sqrt{K_{ii}K_{jj}}`.

Every function takes the network as the keyword arguments of
:func:`analytic.rmlp_kernels` (``num_res_blocks``, ``W_std``, ``b_std``,
``activation``, ``branch_scale``: ``**Architecture.kwargs()``).

Global families (all of them for any activation and branch scale, except where
said):

* ``scaled``: :math:`K_{\rm ref} = (1+\epsilon) K`, so
  :math:`\varepsilon = \epsilon/(1+\epsilon)` and the error is along the
  kernel itself.
* ``w_std``: our analytic kernels at :math:`W_{std}(1+\delta)`, a slip in a
  hyperparameter; the error grows with depth (every layer multiplies by
  :math:`W_{std}^2`). :func:`w_std_for_error` solves for the :math:`\delta`
  that gives a chosen :math:`\varepsilon`.
* ``dropped_bias``: the recursion of :mod:`harness.calibrate._recursion`
  without one block's bias (in its covariance and, consistently, its NTK
  term), a forgotten :math:`+b_{std}^2`; the error has a shape of its own,
  not a multiple of :math:`K`. **ReLU only** (any branch scale): that
  recursion is a second, independent implementation with the ReLU's
  arc-cosine moments, and :mod:`analytic` exposes no layer of its own
  recursion to leave a bias out of. :func:`dropped_bias_formulas` refuses
  other activations.
* ``notebook_ntk``: the seed notebook's NTK (:func:`analytic.notebook_rmlp_ntk`), which
  drops :math:`W_{std}^2` and :math:`+b_{std}^2` in both in-block layers: a large
  error unless ``W_std = 1`` and ``b_std = 0``. **The seed's network only** (ReLU,
  branch scale 1): it is a ReLU recursion without a branch scale, so against any
  other network it is not a slip but another network; :func:`notebook_ntk_formula`
  refuses them.
* ``bias_variance``: our analytic kernels with ``b_std`` in place of
  ``b_std²`` (i.e. at :math:`b'_{std} = \sqrt{b_{std}}`), the slip that matters
  most at inputs of small norm.

Local families work on the truth itself, so for any network:

(:func:`local_formulas`), :math:`K_{\rm ref} = K + \epsilon P`
with :math:`\epsilon` solved for a chosen error (both errors are linear in
:math:`\epsilon`):

* ``entry_pair``: one symmetric pair of off-diagonal entries;
* ``diagonal_entry``: one diagonal entry;
* ``diagonal``: every diagonal entry, the off-diagonal ones untouched;
* ``off_diagonal``: every off-diagonal entry, the diagonal untouched;
* ``small_norm``: the row and column of the input of smallest norm.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.optimize

import analytic
from analytic.activations import get_activation
from harness.calibrate._recursion import recursion_kernels
from harness.stats import scale_free_errors

__all__ = [
    "LOCAL_FAMILIES",
    "WrongFormula",
    "bias_variance_formulas",
    "dropped_bias_formulas",
    "local_formulas",
    "notebook_ntk_formula",
    "perturbed_w_std_formulas",
    "scaled_formulas",
    "w_std_for_error",
]

KERNELS = ("nngp", "ntk")


@dataclasses.dataclass(frozen=True, eq=False)
class WrongFormula:
    """A reference kernel for one kernel, with its exact distance from the truth.

    Attributes:
      family: one of the module docstring's, e.g. ``"scaled"``, ``"w_std"``,
        ``"dropped_bias"`` or ``"entry_pair"``.
      label: what was changed, e.g. ``"×1.0123"``, ``"W_std·(1+0.003)"``,
        ``"no bias in block 2, layer 1"``.
      kernel: ``"nngp"`` or ``"ntk"``.
      reference: the wrong formula's kernel, ``(N, N)`` float64.
      true_error: the scale-free relative Frobenius error :math:`\\varepsilon`.
      true_entry_error: the largest scale-free entry error.
      parameter: the size of the change (``ε``, ``δ``, the 0-based block), or None.
    """

    family: str
    label: str
    kernel: str
    reference: np.ndarray
    true_error: float
    true_entry_error: float
    parameter: float | None

    @classmethod
    def against(cls, family, label, kernel, reference, truth, parameter) -> WrongFormula:
        """The wrong formula ``reference``, its true errors measured against ``truth``."""
        error, entry = scale_free_errors(reference, truth)
        return cls(family, label, kernel, reference, error, entry, parameter)


def _truth(xs, **architecture) -> dict[str, np.ndarray]:
    """Our analytic kernels of ``architecture`` (keywords of :func:`analytic.rmlp_kernels`)."""
    kernels = analytic.rmlp_kernels(xs, **architecture)
    return {"nngp": kernels.nngp, "ntk": kernels.ntk}


def scaled_formulas(truth: dict[str, np.ndarray], epsilons: dict[str, float]) -> list[WrongFormula]:
    """``(1+ε)·K`` for each kernel ``k`` with ``ε = epsilons[k]``."""
    formulas = []
    for kernel, epsilon in epsilons.items():
        reference = (1.0 + epsilon) * truth[kernel]
        label = f"×(1+{epsilon:.3g})"
        formulas.append(
            WrongFormula.against("scaled", label, kernel, reference, truth[kernel], float(epsilon))
        )
    return formulas


def perturbed_w_std_formulas(
    xs,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation="relu",
    branch_scale: float = 1.0,
    delta: float,
    kernels=KERNELS,
) -> list[WrongFormula]:
    """Our analytic ``kernels`` evaluated at ``W_std·(1+delta)`` instead of ``W_std``."""
    shape = dict(num_res_blocks=num_res_blocks, activation=activation, branch_scale=branch_scale)
    truth = _truth(xs, **shape, W_std=W_std, b_std=b_std)
    wrong = _truth(xs, **shape, W_std=W_std * (1.0 + delta), b_std=b_std)
    label = f"W_std·(1+{delta:.3g})"
    return [
        WrongFormula.against("w_std", label, k, wrong[k], truth[k], float(delta)) for k in kernels
    ]


def w_std_for_error(
    xs,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation="relu",
    branch_scale: float = 1.0,
    kernel: str,
    target_error: float,
    max_delta: float = 0.5,
) -> float | None:
    """The ``δ > 0`` whose analytic ``kernel`` at ``W_std·(1+δ)`` is ``target_error`` off.

    The error grows from 0 with ``δ`` (every layer's variance grows with
    ``W_std``); the first root is bracketed by doubling from ``1e-6`` and refined
    by Brent's method to a relative tolerance of ``1e-6``. Returns None when even
    ``max_delta`` falls short, or when :func:`analytic.rmlp_kernels` refuses
    ``W_std·(1+δ)`` (it leaves what float64 can follow) before the target is reached.
    """
    shape = dict(num_res_blocks=num_res_blocks, activation=activation, branch_scale=branch_scale)
    truth = _truth(xs, **shape, W_std=W_std, b_std=b_std)[kernel]

    def excess(delta: float) -> float:
        wrong = _truth(xs, **shape, W_std=W_std * (1.0 + delta), b_std=b_std)[kernel]
        return scale_free_errors(wrong, truth)[0] - target_error

    lo, hi = 0.0, 1e-6
    try:
        while excess(hi) < 0.0:
            if hi >= max_delta:
                return None
            lo, hi = hi, min(2.0 * hi, max_delta)
        return float(scipy.optimize.brentq(excess, lo, hi, rtol=1e-6))
    except ValueError:  # the analytic kernels refuse this W_std (analytic._rmlp)
        return None


def dropped_bias_formulas(
    xs,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation="relu",
    branch_scale: float = 1.0,
    block: int,
    layer: int = 1,
    kernels=KERNELS,
) -> list[WrongFormula]:
    """Both kernels without the bias of ``block`` (0-based), ``layer`` 0 or 1: ReLU only.

    Computed with :func:`harness.calibrate._recursion.recursion_kernels`; the
    truth is our analytic kernels. With ``b_std = 0`` nothing is dropped and
    the true error is only rounding.

    Raises:
      ValueError: for an activation other than the ReLU (module docstring).
    """
    if get_activation(activation).name != "relu":
        raise ValueError(
            f"dropped_bias_formulas is written for the ReLU only, not {activation!s} "
            "(harness/calibrate/_recursion.py)"
        )
    truth = _truth(
        xs,
        num_res_blocks=num_res_blocks,
        W_std=W_std,
        b_std=b_std,
        activation=activation,
        branch_scale=branch_scale,
    )
    nngp, ntk = recursion_kernels(
        xs,
        num_res_blocks=num_res_blocks,
        W_std=W_std,
        b_std=b_std,
        branch_scale=branch_scale,
        drop_bias=(block, layer),
    )
    wrong = {"nngp": nngp, "ntk": ntk}
    label = f"no bias in block {block + 1}, layer {layer}"
    return [
        WrongFormula.against("dropped_bias", label, k, wrong[k], truth[k], float(block))
        for k in kernels
    ]


def notebook_ntk_formula(
    xs,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation="relu",
    branch_scale: float = 1.0,
) -> WrongFormula:
    """The seed notebook's NTK (:func:`analytic.notebook_rmlp_ntk`), family ``"notebook_ntk"``.

    Right only at ``W_std = 1, b_std = 0``.

    Raises:
      ValueError: for any network but the seed's (ReLU, branch scale 1).
    """
    arch = analytic.Architecture(num_res_blocks, W_std, b_std, activation, branch_scale)
    if not arch.is_seed:
        raise ValueError(
            "the seed notebook's NTK is a wrong formula for the ReLU network with branch "
            f"scale 1 only, not {arch.activation} with branch scale {arch.branch_scale:g}"
        )
    truth = _truth(xs, **arch.kwargs())["ntk"]
    reference = analytic.notebook_rmlp_ntk(xs, num_res_blocks, W_std, b_std)
    return WrongFormula.against("notebook_ntk", "seed notebook NTK", "ntk", reference, truth, None)


def bias_variance_formulas(
    xs,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation="relu",
    branch_scale: float = 1.0,
    kernels=KERNELS,
) -> list[WrongFormula]:
    """Our analytic kernels with ``b_std`` written where ``b_std²`` belongs (``b_std > 0``)."""
    shape = dict(num_res_blocks=num_res_blocks, activation=activation, branch_scale=branch_scale)
    truth = _truth(xs, **shape, W_std=W_std, b_std=b_std)
    wrong = _truth(xs, **shape, W_std=W_std, b_std=float(np.sqrt(b_std)))
    label = "b_std in place of b_std²"
    return [
        WrongFormula.against("bias_variance", label, k, wrong[k], truth[k], b_std) for k in kernels
    ]


#: Local families and the error each is tuned by: ``"entry"`` or ``"frobenius"``.
LOCAL_FAMILIES = {
    "entry_pair": "entry",
    "diagonal_entry": "entry",
    "diagonal": "frobenius",
    "off_diagonal": "frobenius",
    "small_norm": "entry",
}


def _direction(family: str, kernel: np.ndarray, xs: np.ndarray) -> np.ndarray:
    n = kernel.shape[0]
    mask = np.zeros((n, n))
    if family == "entry_pair":
        mask[0, 1] = mask[1, 0] = 1.0
    elif family == "diagonal_entry":
        mask[0, 0] = 1.0
    elif family == "diagonal":
        mask = np.eye(n)
    elif family == "off_diagonal":
        mask = 1.0 - np.eye(n)
    elif family == "small_norm":
        i = int(np.argmin(np.linalg.norm(xs, axis=1)))
        mask[i, :] = mask[:, i] = 1.0
    else:
        raise ValueError(f"unknown local family {family!r}")
    return mask * kernel


def local_formulas(
    truth: dict[str, np.ndarray], xs: np.ndarray, targets: dict[str, dict[str, float]]
) -> list[WrongFormula]:
    """``K + εP`` for each local family, ``ε`` set for ``targets[kernel][family]``.

    The target is the scale-free entry error or Frobenius error, per
    :data:`LOCAL_FAMILIES`; ``ε`` scales the error measured at ``ε = 1`` (exact
    for the entry error, nearly so for the Frobenius error, whose denominator
    moves a little), and the true errors are then measured exactly.
    """
    formulas = []
    for kernel, by_family in targets.items():
        k = truth[kernel]
        for family, target in by_family.items():
            direction = _direction(family, k, xs)
            if not np.any(direction):
                continue
            unit = scale_free_errors(k + direction, k)[
                0 if LOCAL_FAMILIES[family] == "frobenius" else 1
            ]
            if not unit > 0.0:
                continue
            epsilon = target / unit
            label = f"{family} ×(1+{epsilon:.3g})"
            formulas.append(
                WrongFormula.against(family, label, kernel, k + epsilon * direction, k, epsilon)
            )
    return formulas
