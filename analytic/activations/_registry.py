"""Activations by name: ``"relu"``, ``"leaky_relu:0.1"``, ``"erf"``, ``"tanh"``, ``"pkg.mod:fn"``, …

The one place where a spelling (a command-line ``--activation``, a config
field, a run's fingerprint) becomes an :class:`Activation`, and back: an
activation's ``name`` is its canonical spelling.

``"module:function"`` (a dotted module path, a colon, an attribute path) names any
elementwise function, imported with :mod:`importlib` and given numerical kernels
(:func:`analytic.activations.numerical`); its name is the spelling itself. The module
must be importable (on ``sys.path``); importing it runs its code, as any import does.
"""

from __future__ import annotations

import functools
import importlib
import re

from analytic.activations._activation import Activation
from analytic.activations._erf import erf
from analytic.activations._gelu import gelu
from analytic.activations._identity import identity
from analytic.activations._numerical import numerical
from analytic.activations._numerical import tanh
from analytic.activations._relu import abrelu
from analytic.activations._relu import leaky_relu
from analytic.activations._relu import relu
from analytic.activations._sin import sin

__all__ = ["ACTIVATION_NAMES", "get_activation"]

_PLAIN = {
    "relu": relu,
    "erf": erf,
    "gelu": gelu,
    "sin": sin,
    "identity": identity,
    "tanh": tanh,
}
#: The spellings :func:`get_activation` accepts (parameters after a colon).
ACTIVATION_NAMES = (
    "relu",
    "leaky_relu[:slope]",
    "abrelu:a,b",
    "erf",
    "gelu",
    "sin",
    "identity",
    "tanh",
    "pkg.module:function",
)
_KNOWN = frozenset({*_PLAIN, "leaky_relu", "abrelu"})
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


def _numbers(spec: str, text: str, count: int) -> list[float]:
    parts = [p.strip() for p in text.split(",")] if text else []
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != count:
        raise ValueError(f"activation {spec!r}: expected {count} number(s) after ':'")
    return values


def get_activation(spec: str | Activation) -> Activation:
    """The activation a spelling names (an :class:`Activation` is returned as it is).

    Raises:
      ValueError: for an unknown name or malformed parameters, listing the spellings.
    """
    if isinstance(spec, Activation):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"activation must be a name such as 'relu', got {spec!r}")
    module, colon, attribute = spec.strip().partition(":")
    if colon and module.strip().lower() not in _KNOWN and _DOTTED.fullmatch(module.strip()):
        return _user_activation(module.strip(), attribute.strip())
    name, _, params = spec.strip().partition(":")
    name = name.strip().lower()
    if name in _PLAIN:
        if params:
            raise ValueError(f"activation {spec!r}: {name} takes no parameters")
        return _PLAIN[name]()
    if name == "leaky_relu":
        return leaky_relu(*_numbers(spec, params, 1)) if params else leaky_relu()
    if name == "abrelu":
        return abrelu(*_numbers(spec, params, 2))
    raise ValueError(f"unknown activation {spec!r}; choose from {', '.join(ACTIVATION_NAMES)}")


@functools.cache
def _user_activation(module: str, attribute: str) -> Activation:
    """``module:attribute`` imported and made numerical, once per spelling (it is probed)."""
    spelling = f"{module}:{attribute}"
    if not _DOTTED.fullmatch(attribute):
        raise ValueError(
            f"activation {spelling!r}: expected 'pkg.module:function' with a function name "
            "after ':'"
        )
    try:
        target = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and (module == error.name or module.startswith(error.name + ".")):
            raise ValueError(f"activation {spelling!r}: module {module!r} not found") from None
        raise ValueError(
            f"activation {spelling!r}: importing module {module!r} failed: {error}"
        ) from None
    except Exception as error:  # the module's own code may raise anything
        raise ValueError(
            f"activation {spelling!r}: importing module {module!r} failed: "
            f"{type(error).__name__}: {error}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(
                f"activation {spelling!r}: module {module!r} has no attribute {attribute!r}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"activation {spelling!r}: {attribute!r} is not callable")
    return numerical(target, spelling, source=f"numerical: the user function {spelling}")
