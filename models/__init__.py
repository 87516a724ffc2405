"""Flax residual MLPs in the NTK parameterization."""

__all__: list[str] = []
