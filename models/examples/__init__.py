"""Example custom models for ``python -m harness.converge --model pkg.module:factory``.

Each module holds a ``factory(width)`` returning a ``flax.linen.Module`` and the exact
infinite-width kernels of that family (``formula(xs)``), so that the harness can be
seen to call a right formula *consistent* and a wrong one *inconsistent*. They are
written as a user would write them: they import nothing from this repository.

* :mod:`models.examples.two_layer`: one hidden ReLU layer in the NTK
  parameterization, with a readout submodule named ``readout``.
"""
