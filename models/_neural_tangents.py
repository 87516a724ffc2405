"""Import neural-tangents 0.6.5 on current JAX, without TensorFlow.

neural-tangents 0.6.5 (December 2023) is the last release, and it no longer
imports on current JAX (checked on 0.10.2, 0.11.2 and 0.12.0.1) for three
reasons:

* ``jax.core.Jaxpr``, ``JaxprEqn``, ``Literal``, ``Var``, ``Primitive`` and
  ``ClosedJaxpr`` moved to ``jax.extend.core``. That is their public home, and
  the shim takes them from there.
* The module ``jax.util`` (``safe_map``, ``safe_zip``) was removed. These are
  strict ``map``/``zip`` (all arguments of one length, a list returned); JAX
  offers no public home for them, so the shim defines its own
  (:func:`_safe_map`, :func:`_safe_zip`) rather than reaching into JAX.
* ``jax.interpreters.ad.zeros_like_p`` and ``add_jaxvals_p`` live only in the
  private ``jax._src.ad_util``. neural-tangents uses these primitive *objects*
  as dictionary keys of its structured-derivative rules, so an equal copy will
  not do: the shim must import the very objects JAX uses. This is the one
  private import, and ``tests/models/test_imports.py`` fails the day a JAX
  release moves or removes them.

Its ``neural_tangents.experimental`` subpackage imports TensorFlow at import
time, although nothing else in neural-tangents uses it.

:func:`load_neural_tangents` restores exactly those names, each only where it
is missing, so existing JAX attributes are never overwritten, and registers an
empty placeholder for ``neural_tangents.experimental`` before the first import.
Nothing else about JAX changes. With it, the analytic ``stax`` kernels,
``empirical_ntk_fn`` implementations 1 (Jacobian contraction) and 2
(NTK-vector products) and ``monte_carlo_kernel_fn`` work. Implementation 3
(structured derivatives) still fails inside neural-tangents on current JAX
(``linearize() got multiple values for argument 'has_aux'``).

Every use of neural-tangents in this project goes through this module.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import jax
import jax.core
import jax.extend.core
import jax.interpreters.ad

__all__ = [
    "NOT_INSTALLED_HINT",
    "NeuralTangentsUnavailableError",
    "load_neural_tangents",
    "neural_tangents_available",
]

#: Names neural-tangents imports from ``jax.core`` that moved elsewhere.
_CORE_NAMES = ("Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive", "ClosedJaxpr")
#: Names neural-tangents imports from ``jax.interpreters.ad`` that moved.
_AD_NAMES = ("zeros_like_p", "add_jaxvals_p")


#: How to add the optional reference (its metadata would pull in TensorFlow otherwise).
NOT_INSTALLED_HINT = (
    "neural-tangents is not installed; add it with "
    "pip install --no-deps neural-tangents==0.6.5 frozendict==2.5.1"
)


class NeuralTangentsUnavailableError(ImportError):
    """neural-tangents is not installed, or cannot be imported even with the shims."""


def _set_if_missing(module: types.ModuleType, name: str, sources) -> None:
    if hasattr(module, name):
        return
    for source in sources:
        if hasattr(source, name):
            setattr(module, name, getattr(source, name))
            return


def _restore_jax_names() -> None:
    # Private, so imported only when neural-tangents is loaded: a JAX that moves it
    # breaks the optional reference, not ``import models``.
    from jax._src import ad_util  # no public home: see the module docstring

    for name in _CORE_NAMES:
        _set_if_missing(jax.core, name, (jax.extend.core,))
    for name in _AD_NAMES:
        _set_if_missing(jax.interpreters.ad, name, (ad_util,))

    if "jax.util" not in sys.modules and importlib.util.find_spec("jax.util") is None:
        util = types.ModuleType("jax.util")
        util.__doc__ = "Shim restored for neural-tangents 0.6.5 (safe_map, safe_zip)."
        util.safe_map = _safe_map
        util.safe_zip = _safe_zip
        sys.modules["jax.util"] = util
        if not hasattr(jax, "util"):
            jax.util = util


def _safe_map(f, *args):
    """``list(map(f, *args))`` with every argument of the same length."""
    return [f(*items) for items in zip(*args, strict=True)]


def _safe_zip(*args):
    """``list(zip(*args))`` with every argument of the same length."""
    return list(zip(*args, strict=True))


def _skip_tensorflow_subpackage() -> None:
    name = "neural_tangents.experimental"
    if name not in sys.modules:
        placeholder = types.ModuleType(name)
        placeholder.__doc__ = (
            "Placeholder: neural_tangents.experimental needs TensorFlow and is "
            "skipped by models._neural_tangents."
        )
        sys.modules[name] = placeholder


def neural_tangents_available() -> bool:
    """Whether the ``neural_tangents`` package is installed (it may still need shims)."""
    try:
        return importlib.util.find_spec("neural_tangents") is not None
    except (ImportError, ValueError):  # blocked, e.g. sys.modules["neural_tangents"] = None
        return False


def load_neural_tangents() -> types.ModuleType:
    """Return the ``neural_tangents`` module, importing it on current JAX.

    Raises:
      NeuralTangentsUnavailableError: if the package is not installed or its
        import fails even with the restored names.
    """
    if "neural_tangents" in sys.modules and hasattr(sys.modules["neural_tangents"], "stax"):
        return sys.modules["neural_tangents"]
    if not neural_tangents_available():
        raise NeuralTangentsUnavailableError(NOT_INSTALLED_HINT)
    _restore_jax_names()
    _skip_tensorflow_subpackage()
    try:
        return importlib.import_module("neural_tangents")
    except Exception as error:
        raise NeuralTangentsUnavailableError(
            f"neural-tangents failed to import on this JAX: {type(error).__name__}: {error}"
        ) from error
