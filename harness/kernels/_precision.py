"""Matmul precision: how a kernel function picks it and how results record it."""

from __future__ import annotations

import jax

__all__ = ["precision_label", "resolve_precision"]


def resolve_precision(model, precision):
    """``precision`` if given, else the model's own (``None``: JAX's default)."""
    return model.precision if precision is None else precision


def precision_label(precision) -> str:
    """A JSON-ready name: ``"default"`` for ``None``, else e.g. ``"highest"``."""
    if precision is None:
        default = jax.config.jax_default_matmul_precision
        return f"default ({default})" if default else "default"
    if isinstance(precision, jax.lax.Precision):
        return precision.name.lower()
    return str(precision).lower()
