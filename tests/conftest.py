"""Shared pytest configuration.

Tests do not turn on ``jax_enable_x64`` globally: the analytic kernels must be
float64 whatever the flag says, and some tests check exactly that. Tests that
need float64 networks use the ``jax.enable_x64`` context locally.
"""
