"""Activations by name: ``"relu"``, ``"leaky_relu:0.1"``, ``"abrelu:-0.5,1"``, ``"erf"``, …

The one place where a spelling (a command-line ``--activation``, a config
field, a run's fingerprint) becomes an :class:`Activation`, and back: an
activation's ``name`` is its canonical spelling.
"""

from __future__ import annotations

from analytic.activations._activation import Activation
from analytic.activations._erf import erf
from analytic.activations._gelu import gelu
from analytic.activations._identity import identity
from analytic.activations._relu import abrelu
from analytic.activations._relu import leaky_relu
from analytic.activations._relu import relu
from analytic.activations._sin import sin

__all__ = ["ACTIVATION_NAMES", "get_activation"]

_PLAIN = {"relu": relu, "erf": erf, "gelu": gelu, "sin": sin, "identity": identity}
#: The spellings :func:`get_activation` accepts (parameters after a colon).
ACTIVATION_NAMES = (
    "relu",
    "leaky_relu[:slope]",
    "abrelu:a,b",
    "erf",
    "gelu",
    "sin",
    "identity",
)


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
    if name == "tanh":
        raise ValueError(
            "activation 'tanh' has no closed-form kernel; numerical activations are not "
            f"available yet (closed forms: {', '.join(ACTIVATION_NAMES)})"
        )
    raise ValueError(f"unknown activation {spec!r}; choose from {', '.join(ACTIVATION_NAMES)}")
