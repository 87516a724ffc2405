"""The inputs ``X`` (rows are inputs) at which kernels are compared, and their checks.

Either Gaussian, :math:`x_i \\sim N(0, I_d)` drawn with NumPy from a fixed seed
(so the first layer's kernel :math:`W_{std}^2 x\\cdot x'/d + b_{std}^2` has
diagonal about :math:`W_{std}^2 + b_{std}^2`), or the user's own ``.npy`` file
(``--inputs FILE.npy``), which must be a finite 2-D real array with at least two
rows. Inputs are float64 on the host; networks see them in float32.

Before any network is built, :func:`check_float32_range` asks the closed-form
diagonal of the analytic kernels (:func:`analytic.rmlp_diagonal_log10`) whether a
float32 network can represent them: a kernel below about ``1e-30`` underflows to
exactly zero in float32 (``W_std = 1e-30``, or inputs scaled by ``1e-25`` without
biases), and one past ``1e30`` overflows, and either would be reported as a wrong
formula rather than as the arithmetic failure it is.
"""

from __future__ import annotations

import decimal
import hashlib
import math
import os
import stat

import numpy as np

from analytic import rmlp_diagonal_log10
from analytic.activations import get_activation
from harness.runs._cli import UsageError
from harness.runs._memory import check_run_memory

__all__ = [
    "FLOAT32_INPUT_LIMIT",
    "FLOAT32_KERNEL_RANGE",
    "check_float32_range",
    "file_sha256",
    "gaussian_inputs",
    "inputs_sha256",
    "load_inputs_file",
    "run_inputs",
]

#: ``log10`` bounds on the largest diagonal entries (NNGP, NTK, hidden variances) that
#: float32 networks compute faithfully: float32 is normal in 1e-38 … 3e38, and the
#: margin of 8 decades covers products of two activations and sums over a layer.
FLOAT32_KERNEL_RANGE = (-30.0, 30.0)
#: The largest input entry float32 networks take (float32 overflows at 3.4e38).
FLOAT32_INPUT_LIMIT = 1e30
#: dtype kinds read as inputs: signed and unsigned integers, floats (not bool, complex,
#: timedelta64 or datetime64, strings or objects).
_REAL_KINDS = "iuf"
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def gaussian_inputs(n_inputs: int, input_dim: int, *, seed: int = 0) -> np.ndarray:
    """``(n_inputs, input_dim)`` standard-normal float64 rows from ``default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal((n_inputs, input_dim))


def _check_npy_header(path) -> None:
    """Refuse, by its type and first bytes, a file that is not a ``.npy`` array."""
    try:
        mode = os.stat(path).st_mode if os.path.exists(path) else stat.S_IFREG
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a FIFO or device would block
            raise UsageError(f"--inputs: cannot read {path}: it is not a regular file")
        with open(path, "rb") as handle:
            head = handle.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise UsageError(f"--inputs: no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"--inputs: cannot read {path}: it is a folder") from None
    except OSError as error:
        raise UsageError(f"--inputs: cannot read {path} ({error.strerror})") from None
    if not head:
        raise UsageError(
            f"--inputs: cannot read {path}: it is empty (0 bytes); save an array with numpy.save"
        )
    if head.startswith(_ZIP_MAGIC):
        raise UsageError(
            f"--inputs: cannot read {path}: it is a .npz archive; save one (N, d) array with "
            "numpy.save"
        )
    if head != _NPY_MAGIC:
        raise UsageError(
            f"--inputs: cannot read {path}: it is not a .npy file (it does not start with the "
            "NumPy format's magic bytes); save an (N, d) array with numpy.save"
        )


def load_inputs_file(path) -> np.ndarray:
    """Read a ``.npy`` array of inputs, rows are inputs, as float64.

    Raises:
      UsageError: the file is missing, empty, a folder or not a regular file (a FIFO
        would block), not in the ``.npy`` format
        (text, ``.npz``, pickled objects), truncated, not real-numeric, not 2-D,
        has fewer than two rows or no columns, or holds NaN/Inf.
    """
    path = os.fspath(path)
    _check_npy_header(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        reason = " ".join(str(error).split())[:160]
        if "pickle" in reason.lower():
            reason = "it holds Python objects (pickled), not numbers"
        raise UsageError(f"--inputs: cannot read {path} as a .npy array ({reason})") from None
    return check_inputs_array(data, f"--inputs: {path}")


def check_inputs_array(data, where: str = "inputs") -> np.ndarray:
    """An ``(N, d)`` real array of inputs (rows are inputs), checked, as float64.

    ``where`` starts every message (e.g. ``"--inputs: x.npy"``).

    Raises:
      UsageError: not a real-numeric array, not 2-D, fewer than two rows or no
        columns, or NaN/Inf.
    """
    if not isinstance(data, np.ndarray):
        raise UsageError(f"{where} does not hold a numeric array")
    if np.iscomplexobj(data):
        raise UsageError(f"{where} holds complex numbers")
    if data.dtype.kind not in _REAL_KINDS:  # timedelta64 passes np.number, and must not
        raise UsageError(
            f"{where} does not hold a numeric array (its dtype is {data.dtype}); "
            "save integers or floats"
        )
    if data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 1:
        raise UsageError(
            f"{where} has shape {data.shape}; expected (N, d) with N >= 2 rows of inputs"
        )
    data = data.astype(np.float64)
    bad = ~np.isfinite(data)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise UsageError(f"{where} holds NaN or Inf (first in row {row})")
    return data


def inputs_sha256(inputs) -> str:
    """The identity of a run's inputs: SHA-256 (hex) of their values, not of a file's bytes.

    ``inputs`` is an ``(N, d)`` array, or the path of a ``.npy`` file (read with
    :func:`load_inputs_file`). Hashed: the shape, then the values as C-ordered
    little-endian float64 (``-0.0`` as ``0.0``). So the same numbers saved in Fortran
    order, as float32 or integers, big-endian or by another NumPy version have one
    identity, and a resumed run finds its folder; any changed value changes it.
    """
    if not isinstance(inputs, np.ndarray):
        inputs = load_inputs_file(inputs)
    values = np.ascontiguousarray(inputs, dtype="<f8") + 0.0  # + 0.0 turns -0.0 into 0.0
    digest = hashlib.sha256(f"inputs {values.shape}\n".encode())
    digest.update(values.astype("<f8", copy=False).tobytes(order="C"))
    return digest.hexdigest()


def _norm_text(squared) -> str:

    with decimal.localcontext(decimal.Context(prec=10, Emax=10**9, Emin=-(10**9))):
        return f"{decimal.Decimal(squared).sqrt():.3g}"


def check_float32_range(
    xs,
    *,
    num_res_blocks: int,
    W_std: float,
    b_std: float,
    activation: str = "relu",
    branch_scale: float = 1.0,
) -> None:
    """Refuse inputs and architectures whose kernels a float32 network cannot represent.

    Uses the largest input (the largest kernel entries, which dominate every
    relative Frobenius error). Inputs past :data:`FLOAT32_INPUT_LIMIT` are refused
    (float32 cannot hold them). All-zero inputs without biases have exactly zero
    kernels and are refused too: no relative error is defined.

    Raises:
      UsageError: naming the kernel, its magnitude and the options to change.
    """

    xs = np.asarray(xs, np.float64)
    scale = float(np.max(np.abs(xs))) if xs.size else 0.0
    if scale > FLOAT32_INPUT_LIMIT:
        raise UsageError(
            f"the inputs reach {scale:.3g}, beyond the {FLOAT32_INPUT_LIMIT:.0e} that float32 "
            "networks take without overflow; rescale the inputs"
        )
    if scale == 0:
        squared = decimal.Decimal(0)
    else:
        unit = float(np.max(np.sum(np.square(xs / scale), axis=1)))
        with decimal.localcontext(decimal.Context(prec=40, Emax=10**9, Emin=-(10**9))):
            squared = decimal.Decimal(unit) * decimal.Decimal(scale) ** 2
    diagonal = rmlp_diagonal_log10(
        squared,
        input_dim=xs.shape[1],
        num_res_blocks=num_res_blocks,
        W_std=W_std,
        b_std=b_std,
        activation=activation,
        branch_scale=branch_scale,
    )
    # Beyond the ReLU family and the identity the diagonal is an upper bound: it proves
    # underflow, not overflow (a float32 overflow is then caught as a non-finite kernel).
    exact = get_activation(activation).exact
    settings = f"--blocks {num_res_blocks}, --w-std {W_std:g}, --b-std {b_std:g}"
    if diagonal.nngp == -math.inf or diagonal.ntk == -math.inf:
        raise UsageError(
            f"every input is zero and --b-std is 0, so both kernels are exactly zero and no "
            f"relative error is defined ({settings})"
        )
    low, high = FLOAT32_KERNEL_RANGE
    for name, value in zip(
        ("NNGP", "NTK", "hidden-layer variance", "input-layer variance"), diagonal, strict=True
    ):
        if value < low or (exact and value > high):
            way = "underflow to zero" if value < low else "overflow to Inf"
            raise UsageError(
                f"the analytic {name} reaches 1e{value:+.0f} ({settings}, largest input norm "
                f"{_norm_text(squared)}), outside the 1e{low:+.0f}..1e{high:+.0f} that float32 "
                f"networks represent; "
                f"their kernels would {way}. Rescale the inputs, --w-std or --b-std, or use "
                "fewer --blocks"
            )


def run_inputs(config, xs=None) -> np.ndarray:
    """The checked inputs of a run config (``ConvergeConfig``-like), float64 ``(N, d)``.

    ``xs``, when given, are the inputs themselves (an in-memory run,
    :func:`harness.judge`), checked by :func:`check_inputs_array`; else they come
    from the config's inputs file or its Gaussian inputs.

    Also the run's preflight: the kernels must fit float32 networks
    (:func:`check_float32_range`), and the run must fit in memory
    (:func:`harness.runs._memory.check_run_memory`). For a custom model (a config
    whose ``model`` is set) neither the range nor one network's memory can be known
    from the config: the caller checks those on a drawn network.

    Raises:
      UsageError: a bad inputs file, kernels outside the float32 range, or a run
        that needs more memory than the machine allows.
    """

    if xs is not None:
        xs = check_inputs_array(xs)
        check_run_memory(config, n_inputs=xs.shape[0], input_dim=xs.shape[1])
    elif config.inputs_file is not None:
        xs = load_inputs_file(config.inputs_file)
        check_run_memory(config, n_inputs=xs.shape[0], input_dim=xs.shape[1])
    else:
        check_run_memory(config, n_inputs=config.n_inputs, input_dim=config.input_dim)
        xs = gaussian_inputs(config.n_inputs, config.input_dim, seed=config.input_seed)
    if getattr(config, "model", None) is not None:
        return xs  # a custom model: no closed form to check ranges with
    arch = config.architecture
    check_float32_range(
        xs,
        num_res_blocks=arch.num_res_blocks,
        W_std=arch.W_std,
        b_std=arch.b_std,
        activation=arch.activation,
        branch_scale=arch.branch_scale,
    )
    return xs


def file_sha256(path, *, option: str = "--inputs") -> str:
    """SHA-256 (hex) of a file's bytes; an unreadable file is a :class:`UsageError`."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError as error:
        raise UsageError(f"{option}: cannot read {path} ({error.strerror})") from None
