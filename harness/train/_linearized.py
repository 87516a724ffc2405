"""The linearised network: the first-order Taylor expansion of ``f_θ`` in its parameters.

Lee et al. (2019), "Wide neural networks of any depth evolve as linear models under gradient
descent", eq. (5):

.. math::  f^{lin}_θ(x) = f_{θ_0}(x) + J_{θ_0}(x)\\,(θ - θ_0),
   \\qquad J_{θ_0}(x) = ∂f_θ(x)/∂θ \\big|_{θ_0},

evaluated with one forward-mode product, ``jax.jvp(f(·, x), (θ_0,), (θ - θ_0,))``, so the
Jacobian is never formed. Trained by GD on the ½-squared loss, its outputs follow kernel GD
with the *empirical* tangent kernel at initialisation ``Θ̂_0 = J_{θ_0} J_{θ_0}ᵀ`` exactly (in
exact arithmetic): ``f_{t+1} = f_t - η Θ̂_0 (f_t(X) - y)``. A finite network differs from its
linearisation by how far its kernel moves (``O(n^{-1/2})`` or less, Lee et al. 2019, Thm 2.1);
the linearisation differs from the infinite-width prediction by ``Θ̂_0 - Θ`` (``O(n^{-1/2})``).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

__all__ = ["linearize_apply", "linearized_apply_fn"]


def linearized_apply_fn(apply_fn: Callable) -> Callable:
    """``apply_lin(params, x, params0) = f(params0, x) + J(params0, x)·(params - params0)``.

    The expansion point ``params0`` is an argument, so one compiled training loop
    (:class:`harness.train._gradient_descent.FullBatchGD`, which passes it as ``extra``)
    serves every initialisation. Reverse mode through the JVP transposes it, giving ``Jᵀ r``.
    """

    def apply_lin(params, x, params0):
        delta = jax.tree_util.tree_map(lambda p, p0: p - p0, params, params0)
        primal, tangent = jax.jvp(lambda p: apply_fn(p, x), (params0,), (delta,))
        return primal + tangent

    return apply_lin


def linearize_apply(apply_fn: Callable, params0) -> Callable:
    """``apply_lin(params, x)``: :func:`linearized_apply_fn` with ``params0`` fixed."""
    apply_lin = linearized_apply_fn(apply_fn)
    return lambda params, x: apply_lin(params, x, params0)
